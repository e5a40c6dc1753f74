"""STSProvider: a Powertools parameter provider whose values are AssumeRole credentials.

It keeps Powertools' shape (``get``, ``_get``, the cache methods, ``boto3_session``/``boto3_client``/
``boto_config``, ``DEFAULT_PROVIDERS``) and the STS call; the cache decisions are
:class:`~powertools_sts.cache.CredentialCache`'s. An entry's life, for credentials expiring at ``E``::

    fetched ---- fresh ---- E-margin ---- refresh window ---- E-60 ---- floor ---- E
                 served from cache         one caller refreshes;         never served
                                           a failure serves the old ones

Example
-------
>>> provider = STSProvider(refresh_margin=600)
>>> provider.get("arn:aws:iam::111122223333:role/reports")  # doctest: +SKIP
Credentials(access_key_id='ASIA...', expiration='...', assumed_role_arn='...')
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import threading
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

# Imported at run time, not only for type checkers, so that typing.get_type_hints works on the public
# names: boto3 and botocore are loaded already (Powertools' provider base imports boto3).
import boto3
from aws_lambda_powertools.utilities.parameters.base import BaseProvider
from aws_lambda_powertools.utilities.parameters.constants import DEFAULT_PROVIDERS
from botocore.config import Config

from . import _botocore, _clock, _state
from .answers import call_of, credentials_from, error_from
from .cache import CredentialCache, Fetched
from .credentials import Credentials
from .exceptions import AssumeRoleError, ConfigurationError
from .execution import on_managed_instances, shared_cache_from_env
from .freshness import BACKOFF_SECONDS, FLOOR_SECONDS, JITTER_FRACTION, CachedEntry
from .validation import (
    cache_key_of,
    validate_clients,
    validate_entry_params,
    validate_max_age,
    validate_refresh_margin,
)

if TYPE_CHECKING:
    from mypy_boto3_sts import STSClient

else:  # the stubs are a development dependency; at run time the annotation resolves to botocore's client
    from botocore.client import BaseClient as STSClient

__all__ = [
    "BACKOFF_SECONDS",
    "FLOOR_SECONDS",
    "JITTER_FRACTION",
    "STSProvider",
    "assume_role",
    "clear_caches",
    "default_role_session_name",
]

logger = logging.getLogger("powertools_sts")
_STORE = "STSProvider keeps its credentials in its own cache, not in Powertools' store"


def default_role_session_name() -> str:
    """Return this process's default RoleSessionName: the function's name and a per-process suffix.

    CloudTrail records it, so it says which function (and process) assumed the role. Always 2-64
    characters; ``powertools-sts-<suffix>`` outside Lambda.

    Example
    -------
    >>> import os
    >>> os.environ["AWS_LAMBDA_FUNCTION_NAME"] = "orders"
    >>> default_role_session_name().startswith("orders-")
    True
    >>> del os.environ["AWS_LAMBDA_FUNCTION_NAME"]
    """
    if not _state.session_suffix:
        _state.session_suffix = secrets.token_hex(4)
    function = re.sub(r"[^\w+=,.@-]", "-", os.environ.get("AWS_LAMBDA_FUNCTION_NAME", ""), flags=re.ASCII)
    return f"{function[:55] or 'powertools-sts'}-{_state.session_suffix}"


class _NoStoreError(ConfigurationError, AttributeError):
    """Reading ``STSProvider.store``; also an AttributeError, so ``hasattr`` and debuggers see no attribute."""


def _flag(value: Any, name: str) -> bool | None:
    if value is not None and not isinstance(value, bool):
        raise ConfigurationError(f"{name} must be True, False or None, got {value!r}")
    return value


class STSProvider(BaseProvider):
    """Temporary credentials of IAM roles through STS AssumeRole, behind an expiry-aware cache.

    ``get`` returns cached credentials while they are fresh, never credentials with less than
    ``FLOOR_SECONDS`` left, and still-valid ones when a refresh fails. The STS client is built on the
    first fetch.

    Parameters
    ----------
    boto3_session:
        Session to build the STS client from; a new session when None.
    boto3_client:
        A ready STS client; wins over ``boto3_session`` and ``boto_config``, as in Powertools.
    boto_config:
        Merged over the package's defaults: ``standard`` retries, 3 attempts, timeouts 2 s (connect)
        and 5 s (read), so that an unreachable STS fails in seconds, not at the function's timeout.
    refresh_margin:
        Seconds before ``Expiration`` at which credentials are refreshed (default 300), capped at half
        their lifetime and raised by a random jitter of up to ``JITTER_FRACTION``.
    max_entries:
        Keep at most this many entries, least recently used first out; None: no bound.
    refresh_ahead:
        A read in the last stretch of freshness refreshes in the background, so no caller waits on
        STS. None: on Lambda Managed Instances only (elsewhere a frozen sandbox would freeze the call).
    shared_cache:
        Share credentials with the other processes of this environment through ``/tmp``
        (:mod:`powertools_sts.shared_cache`). None: ``POWERTOOLS_STS_SHARED_CACHE``, else on Managed
        Instances only.

    Raises
    ------
    ConfigurationError
        For an invalid option.

    Example
    -------
    >>> provider = STSProvider(refresh_margin=600, max_entries=1000)
    >>> provider.get("arn:aws:iam::111122223333:role/reports", ExternalId="x-1234")  # doctest: +SKIP
    Credentials(access_key_id='ASIA...', expiration='...', assumed_role_arn='...')
    """

    def __init__(
        self,
        *,
        boto3_session: boto3.session.Session | None = None,
        boto3_client: STSClient | None = None,
        boto_config: Config | None = None,
        refresh_margin: float = 300,
        max_entries: int | None = None,
        refresh_ahead: bool | None = None,
        shared_cache: bool | None = None,
    ) -> None:
        margin = validate_refresh_margin(refresh_margin)
        if max_entries is not None and (type(max_entries) is not int or max_entries < 1):
            raise ConfigurationError(f"max_entries must be a whole number >= 1 or None, got {max_entries!r}")
        validate_clients(boto3_session, boto3_client, boto_config)
        ahead = _flag(refresh_ahead, "refresh_ahead")
        sharing = _flag(shared_cache, "shared_cache")
        self.shared_cache = shared_cache_from_env() if sharing is None else sharing
        self._boto3_session = boto3_session
        self._boto3_client = boto3_client
        self._boto_config = boto_config
        defaults = Config(retries={"mode": "standard", "total_max_attempts": 3}, connect_timeout=2, read_timeout=5)
        self._config = defaults.merge(boto_config) if boto_config is not None else defaults
        self._client: STSClient | None = boto3_client if boto3_client is None else _botocore.protect(boto3_client)
        self._client_lock = threading.Lock()
        self._budget: float | None = None
        self._signer: tuple[str, float] = ("", -float("inf"))  # (who signs, until when that is trusted)
        # Credentials or failures that other processes recorded before this provider's last reset are not taken.
        self._reset_at = -float("inf")
        # Entry key to the access key id of credentials refused while they may still be in the shared file.
        self._refused: dict[Any, str] = {}
        # Validating and keying the same parameters on every get would cost more than the cache hit.
        self._validated: dict[Any, tuple[dict[str, Any], Any]] = {}
        self.cache = CredentialCache(
            self._fetch,
            budget=self.retry_budget,
            refresh_margin=margin,
            max_entries=max_entries,
            refresh_ahead=on_managed_instances() if ahead is None else ahead,
        )
        super().__init__()  # type: ignore[no-untyped-call]
        _state.register(self)
        _hook_snap_start()

    @property
    def refresh_margin(self) -> float:
        """Seconds before ``Expiration`` at which credentials are refreshed (before the jitter)."""
        return self.cache.refresh_margin

    @property
    def max_entries(self) -> int | None:
        """The bound on the number of entries, or None."""
        return self.cache.max_entries

    @property
    def refresh_ahead(self) -> bool:
        """Whether a read in the last stretch of freshness refreshes in the background."""
        return self.cache.refresh_ahead

    def __repr__(self) -> str:
        return f"{type(self).__name__}(refresh_margin={self.refresh_margin:g}, entries={len(self.cache.entries)})"

    # -- Powertools' contract ------------------------------------------------------------------------

    def get(  # type: ignore[override]  # credentials, not parameter values: no transform
        self,
        role_arn: str,
        *,
        max_age: float | None = None,
        force_fetch: bool = False,
        transform: None = None,
        **assume_role_params: Any,
    ) -> Credentials:
        """Return credentials of ``role_arn``, from the cache while they are fresh.

        Parameters
        ----------
        role_arn:
            The role to assume (AssumeRole's ``RoleArn``).
        max_age:
            Seconds an entry stays fresh at most. None or -1: until the refresh window; 0: every call
            calls STS and nothing is stored (nor read from or written to the shared cache).
        force_fetch:
            Always call STS and replace the entry (the shared cache's file too).
        transform:
            Not supported: credentials are returned as a ``Credentials`` value.
        **assume_role_params:
            AssumeRole's other parameters in boto3's spelling; RoleSessionName defaults to
            :func:`default_role_session_name`.

        Raises
        ------
        ConfigurationError
            For an invalid parameter, before any STS call.
        AssumeRoleError
            When STS fails and no still-valid credentials can serve.

        Example
        -------
        >>> STSProvider().get("arn:aws:iam::111122223333:role/reports", RoleSessionName="nightly")  # doctest: +SKIP
        Credentials(access_key_id='ASIA...', expiration='...', assumed_role_arn='...')
        """
        if transform is not None:
            raise ConfigurationError(
                "STSProvider.get does not support transform: credentials are returned as a Credentials value"
            )
        if "RoleArn" in assume_role_params:
            raise ConfigurationError("RoleArn is given twice: pass it as role_arn only")
        return self._get_validated({"RoleArn": role_arn, **assume_role_params}, max_age, force_fetch)

    def get_scoped_credentials(
        self, *, max_age: float | None = None, force_fetch: bool = False, **scoped_params: Any
    ) -> Credentials:
        """Return this provider's own credentials scoped down by STS GetScopedCredentials, cached as ``get``'s.

        No role is assumed: STS narrows the credentials that sign the call (the function's own, or
        ``boto3_session``/``boto3_client``'s, which must be temporary) with a scope-down ``Policy``, a
        shorter ``DurationSeconds``, or both, and keeps their identity. For code without a handler; an
        ``sts`` entry without ``RoleArn`` asks the same. Needs botocore 1.44.7 or later.

        Parameters
        ----------
        max_age, force_fetch:
            As in :meth:`get`.
        **scoped_params:
            GetScopedCredentials' parameters in boto3's spelling: ``Policy`` (a dict or a JSON string),
            ``DurationSeconds`` (more than 60; without it, the caller's own expiry), at least one of the
            two, and ``ScopedSessionDescription`` (logged by CloudTrail).

        Raises
        ------
        ConfigurationError
            For an invalid parameter (or neither ``Policy`` nor ``DurationSeconds``), before any STS call.
        AssumeRoleError
            When STS fails and no still-valid credentials can serve; its ``role_arn`` is None.

        Example
        -------
        >>> policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject",
        ...     "Resource": "arn:aws:s3:::reports/tenant-a/*"}]}
        >>> STSProvider().get_scoped_credentials(Policy=policy, DurationSeconds=900)  # doctest: +SKIP
        Credentials(access_key_id='ASIA...', expiration='...', assumed_role_arn='...')
        """
        if "RoleArn" in scoped_params:
            raise ConfigurationError("get_scoped_credentials assumes no role: call get(role_arn, ...) to assume one")
        return self._get_validated(scoped_params, max_age, force_fetch)

    def _get_validated(self, request: dict[str, Any], max_age: Any, force_fetch: Any) -> Credentials:
        """``get`` and ``get_scoped_credentials``: check the options, validate (memoised), serve or fetch."""
        if not isinstance(force_fetch, bool):
            raise ConfigurationError(f"force_fetch must be True or False, got {force_fetch!r}")
        seconds = validate_max_age(max_age)
        try:
            # Types are part of the memo: 900.0 == 900 and True == 1 hash alike but validate differently.
            memo: Any = tuple(sorted((k, type(v), v) for k, v in request.items()))
            known = self._validated.get(memo)
        except TypeError:  # unhashable values (lists of tags, a dict policy): validate every time
            memo, known = None, None
        if known is None:
            params = validate_entry_params(request)
            known = (params, (None, None, cache_key_of(params)))
            if memo is not None:
                if len(self._validated) >= 256:
                    self._validated.clear()
                self._validated[memo] = known
        return self.cache.get(known[1], known[0], seconds, force_fetch)[0]

    def invalidate(self, role_arn: str, *, access_key_id: str | None = None, **assume_role_params: Any) -> None:
        """Mark the cached credentials of ``get(role_arn, **assume_role_params)`` unusable: the next ``get`` fetches.

        For credentials AWS refused: unlike ``force_fetch``, they are gone for every caller, never
        served stale, and never taken back from the shared cache. ``access_key_id``: drop them only if
        they are still these (a concurrent refresh's are kept).

        Example
        -------
        >>> STSProvider().invalidate("arn:aws:iam::111122223333:role/reports", ExternalId="x-1234")  # not cached: no-op
        """
        if "RoleArn" in assume_role_params:
            raise ConfigurationError("RoleArn is given twice: pass it as role_arn only")
        self._invalidate_key(self._cache_key_for({"RoleArn": role_arn, **assume_role_params}), access_key_id)

    def clear_cache(self) -> None:
        """Forget every cached credential; a fetch in flight lands without storing. The STS client is kept.

        Example
        -------
        >>> STSProvider().clear_cache()
        """
        self.cache.clear()

    @property
    def store(self) -> dict[tuple[Any, ...], Any]:
        """Not available: Powertools' ``store`` cannot say who signs, with which parameters, until when.

        Reading it raises; assigning an empty dict empties the cache (what ``BaseProvider.__init__`` does).

        Example
        -------
        >>> STSProvider().store  # doctest: +SKIP
        Traceback (most recent call last):
        ConfigurationError: STSProvider keeps its credentials in its own cache, not in Powertools' store: ...
        """
        raise _NoStoreError(f"{_STORE}: use has_not_expired_in_cache, fetch_from_cache, add_to_cache and clear_cache")

    @store.setter
    def store(self, value: dict[tuple[Any, ...], Any]) -> None:
        if value:
            raise ConfigurationError(f"{_STORE}: seed credentials with add_to_cache instead")
        if hasattr(self, "cache"):
            self.clear_cache()

    def has_not_expired_in_cache(self, key: Any) -> bool:
        """Return whether ``get`` would serve the entry of ``key`` without calling STS (keys as in ``fetch_from_cache``).

        Example
        -------
        >>> STSProvider().has_not_expired_in_cache("arn:aws:iam::111122223333:role/reports")
        False
        """
        entry = self.cache.entries.get(self._cache_key_for(key))
        return entry is not None and _clock.now() < entry.fresh_until(None)

    def fetch_from_cache(self, key: Any) -> Credentials | None:
        """Return the cached credentials of ``key`` while they may be served (above the floor), else None.

        ``key`` is a role ARN, Powertools' ``(role_arn, None, False)`` (``_build_cache_key``), or a
        mapping of AssumeRole parameters (GetScopedCredentials' without ``RoleArn``), since every
        parameter is part of an entry's key.

        Example
        -------
        >>> STSProvider().fetch_from_cache("arn:aws:iam::111122223333:role/reports") is None
        True
        """
        entry = self.cache.entries.get(self._cache_key_for(key))
        return None if entry is None or _clock.now() >= entry.floor_at else entry.credentials

    def add_to_cache(self, key: Any, value: Any, max_age: float | None = None) -> None:
        """Store credentials obtained elsewhere as the entry of ``key``: ``get`` serves them (keys as in ``fetch_from_cache``).

        ``max_age`` as in ``get`` (0 stores nothing). Refused: anything but ``Credentials`` with an
        aware ``expiration`` more than ``FLOOR_SECONDS`` away.

        Example
        -------
        >>> from datetime import datetime, timedelta, timezone
        >>> creds = Credentials("ASIAEXAMPLE", "secret", "token", datetime.now(timezone.utc) + timedelta(hours=1))
        >>> provider = STSProvider()
        >>> provider.add_to_cache("arn:aws:iam::111122223333:role/reports", creds)
        >>> provider.get("arn:aws:iam::111122223333:role/reports") is creds  # no STS call
        True
        """
        entry_key = self._cache_key_for(key)
        if not isinstance(value, Credentials):
            raise ConfigurationError(f"STSProvider caches Credentials values only, got {type(value).__name__}")
        if not isinstance(value.expiration, datetime) or value.expiration.tzinfo is None:
            # The cache compares aware UTC times: a naive one would be read in the host's timezone.
            raise ConfigurationError("The expiration of cached Credentials must be a timezone-aware datetime")
        seconds = validate_max_age(max_age)
        if seconds == 0:
            return
        left = value.expiration.timestamp() - _clock.now()
        if left <= FLOOR_SECONDS:
            raise ConfigurationError(
                f"Credentials that expire in {left:.0f} s are never served (the floor is {FLOOR_SECONDS:.0f} s): "
                "not cached"
            )
        self.cache.put(entry_key, value, seconds)

    def _cache_key_for(self, key: Any) -> Any:
        if isinstance(key, str):
            params: Mapping[str, Any] = {"RoleArn": key}
        elif isinstance(key, tuple) and len(key) == 3 and isinstance(key[2], bool):
            if key[1] is not None or key[2]:
                # get takes no transform and get_multiple is refused: no entry can have such a key.
                raise ConfigurationError(
                    f"STSProvider has no entry for a transform or get_multiple key, got {key[1:]!r} as (transform, "
                    "is_nested)"
                )
            params = {"RoleArn": key[0]}
        elif isinstance(key, Mapping):
            params = key
        else:
            raise ConfigurationError(
                "A cache key of STSProvider is a role ARN, Powertools' (role_arn, None, False) key, or a mapping "
                f"of AssumeRole parameters (GetScopedCredentials' without RoleArn), got {type(key).__name__}"
            )
        return (None, None, cache_key_of(validate_entry_params(dict(params))))

    def get_multiple(self, path: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """Not supported: roles have no hierarchy to read by path; call ``get`` once per role.

        Example
        -------
        >>> STSProvider().get_multiple("/roles")  # doctest: +SKIP
        Traceback (most recent call last):
        ConfigurationError: STSProvider does not support get_multiple: call get once per role
        """
        raise ConfigurationError("STSProvider does not support get_multiple: call get once per role")

    def _get_multiple(self, path: str, **sdk_options: Any) -> dict[str, str]:
        raise ConfigurationError("STSProvider does not support get_multiple: call get once per role")

    def _get(self, name: str, **sdk_options: Any) -> dict[str, Any]:
        """Call STS AssumeRole for the role ``name``: Powertools' raw-fetch hook.

        Example
        -------
        >>> STSProvider()._get("arn:aws:iam::111122223333:role/r", RoleSessionName="s")  # doctest: +SKIP
        """
        return dict(self._sts_client().assume_role(RoleArn=name, **sdk_options))

    # -- the process's events -------------------------------------------------------------------------

    def _reset(self) -> None:
        """Forget entries and our STS client, as ``clear_caches()`` does; a fetch in flight is not stored."""
        self.cache.clear()
        self._reset_at = _clock.now()
        self._client = self._boto3_client
        self._budget = None
        self._signer = ("", -float("inf"))

    def _after_fork(self) -> None:
        """In a forked child: new locks, no flights, an STS client of its own; fresh credentials are kept."""
        self.cache.after_fork()
        self._client_lock = threading.Lock()
        # The client's connection pool holds the parent's sockets. A client the user gave is theirs.
        self._client = self._boto3_client
        self._signer = ("", -float("inf"))

    # -- the STS call ---------------------------------------------------------------------------------

    def retry_budget(self) -> float:
        """Return the longest time, in seconds, one AssumeRole of this provider's STS client can take.

        Every attempt's connect and read timeouts, botocore's longest back-offs (``standard``: up to
        2**i s, at most 20 s, plus 5 s of a retry-after header), and one second. A caller that waits
        for another caller's fetch waits this long at most.

        Example
        -------
        >>> STSProvider().retry_budget()  # 3 attempts of 2 s + 5 s, back-offs of 1 + 5 and 2 + 5 s, 1 s
        35.0
        """
        if self._budget is not None:
            return self._budget
        client = self._client
        config: Any = client.meta.config if client is not None else self._config
        retries = getattr(config, "retries", None) or {}
        attempts = retries.get("total_max_attempts")
        if attempts is None and retries.get("max_attempts") is not None:
            attempts = retries["max_attempts"] + 1
        if attempts is None:
            attempts = 5 if retries.get("mode") == "legacy" else 3
        connect = config.connect_timeout if isinstance(config.connect_timeout, (int, float)) else 60
        read = config.read_timeout if isinstance(config.read_timeout, (int, float)) else 60
        backoff = sum(min(2.0**retry, 20.0) + 5.0 for retry in range(attempts - 1))
        budget = float(attempts * (connect + read) + backoff + 1.0)
        if client is not None:
            self._budget = budget  # the client's config does not change; the default one may be replaced
        return budget

    def _invalidate_key(self, key: Any, access_key_id: str | None) -> None:
        refused = self.cache.invalidate(key, access_key_id)
        if refused is not None and self.shared_cache:
            self._refused[key] = refused

    def _fetch(
        self, key: Any, params: dict[str, Any], entry: str | None, *, max_age: float | None, force_fetch: bool,
        newer_than: float,
    ) -> Fetched:  # fmt: skip
        """AssumeRole, or take what another process of this environment fetched (the shared cache)."""
        shared = self._shared_cache() if max_age != 0 and not _state.stubbed else None
        if shared is None:
            started = _clock.now()
            return self._assume(params, entry), started, True
        margin = self.cache.margin()
        newer_than = max(newer_than, self._reset_at)
        refused = self._refused.get(key)

        def usable(creds: Credentials, fetched_at: float) -> bool:
            # This process's own freshness rules (its max_age included), applied to what another process
            # stored; never the credentials AWS refused, which the others may not know of yet.
            fresh_until = CachedEntry(creds, fetched_at, margin, 0).fresh_until(max_age)
            return creds.access_key_id != refused and fetched_at > newer_than and _clock.now() < fresh_until

        creds, fetched_at, here = shared.fetch(
            shared.key_name([self._signer_identity(), *key]),
            usable=usable,
            assume=lambda: self._assume(params, entry),
            now=_clock.now,
            deadline=self.retry_budget(),
            backoff=BACKOFF_SECONDS,
            read=not force_fetch,
            failures_after=self._reset_at,
            role_arn=params.get("RoleArn"),  # None for GetScopedCredentials: the caller's own identity
        )
        if refused is not None and creds.access_key_id != refused:
            self._refused.pop(key, None)  # the file holds other credentials now: nothing left to skip
        return creds, fetched_at, here

    def _shared_cache(self) -> Any:
        """Return this process's SharedCache, or None; imported only where it is on (cold start)."""
        if not self.shared_cache:
            return None
        if _state.shared_cache is False:
            with _state.lock:
                if _state.shared_cache is False:
                    from .shared_cache import SharedCache

                    _state.shared_cache = SharedCache.open()
        return _state.shared_cache

    def _signer_identity(self) -> str:
        """Who signs this provider's AssumeRole, stable across processes: the access key id and the endpoint.

        Read from a presigned URL (about a millisecond of signing), so kept for a minute: a key rotated
        meanwhile only names another file, which costs one AssumeRole, never another signer's credentials.
        """
        identity, until = self._signer
        if _clock.now() >= until:
            client = self._sts_client()
            identity = f"{_botocore.client_access_key(client) or 'unsigned'}@{client.meta.endpoint_url}"
            self._signer = (identity, _clock.now() + 60.0)
        return identity

    def _sts_client(self) -> STSClient:
        client = self._client
        if client is None:
            with self._client_lock:
                client = self._client
                if client is None:
                    client = self._client = self._build_client()
        return client

    def _build_client(self) -> STSClient:
        if self._boto3_session is not None:
            client: STSClient = _botocore.protect(self._boto3_session.client("sts", config=self._config))
        else:
            client = _botocore.new_sts_client(self._config)
        return client

    def _assume(self, params: dict[str, Any], entry: str | None) -> Credentials:
        """Call AssumeRole, or GetScopedCredentials without RoleArn; one AssumeRoleError for any failure.

        Never credentials at the floor.
        """
        role_arn = params.get("RoleArn")
        call = {k: v for k, v in params.items() if k != "RoleArn"}
        try:
            if role_arn is None:
                client: Any = self._sts_client()  # the stubs (mypy-boto3-sts 1.43.94) predate GetScopedCredentials
                response = dict(client.get_scoped_credentials(**call))
            else:
                call.setdefault("RoleSessionName", default_role_session_name())
                response = self._get(role_arn, **call)
        except AssumeRoleError:
            raise
        except Exception as exc:
            raise error_from(exc, role_arn, entry) from exc
        creds = credentials_from(response, role_arn, entry)
        now = _clock.now()
        left = creds.expiration.timestamp() - now
        if left <= FLOOR_SECONDS:
            host = datetime.fromtimestamp(now, timezone.utc).isoformat(timespec="seconds")
            raise AssumeRoleError(
                f"{call_of(role_arn, entry)} returned credentials that expire in {left:.0f} s, not "
                f"more than the {FLOOR_SECONDS:.0f} s floor: Expiration {creds.expiration.isoformat()}, this "
                f"host's clock {host} (is the clock of this host wrong?)",
                role_arn=role_arn,
                entry=entry,
            )
        logger.debug("%s: %s, expiring at %s", call_of(role_arn, entry), creds.access_key_id, creds.expiration)
        return creds


def assume_role(
    role_arn: str, *, max_age: float | None = None, force_fetch: bool = False, **assume_role_params: Any
) -> Credentials:
    """Return credentials of ``role_arn`` through the default ``STSProvider``, as ``get_parameter()`` does.

    The default provider lives in Powertools' ``DEFAULT_PROVIDERS["sts"]``: ``parameters.clear_caches()``
    drops it, and an ``STSProvider`` of your own set there is used instead.

    Raises
    ------
    ConfigurationError
        When ``DEFAULT_PROVIDERS["sts"]`` is not an ``STSProvider``, and as ``STSProvider.get``.
    AssumeRoleError
        As ``STSProvider.get``.

    Example
    -------
    >>> from aws_lambda_powertools.utilities.parameters.base import DEFAULT_PROVIDERS
    >>> DEFAULT_PROVIDERS["sts"] = STSProvider(refresh_margin=600)
    >>> assume_role("arn:aws:iam::111122223333:role/reports", DurationSeconds=900)  # doctest: +SKIP
    Credentials(access_key_id='ASIA...', expiration='...', assumed_role_arn='...')
    """
    key = _state.DEFAULT_PROVIDER_KEY
    provider = DEFAULT_PROVIDERS.get(key)
    if provider is None:
        with _state.lock:
            # setdefault: a provider injected meanwhile by code that does not take this lock wins.
            provider = DEFAULT_PROVIDERS.setdefault(key, DEFAULT_PROVIDERS.get(key) or STSProvider())
    if not isinstance(provider, STSProvider):
        # Checked on every call: the dict is Powertools', anyone may set the key after the first call.
        raise ConfigurationError(
            f'DEFAULT_PROVIDERS["{key}"] must be an STSProvider for assume_role, got {type(provider).__name__}'
        )
    return provider.get(role_arn, max_age=max_age, force_fetch=force_fetch, **assume_role_params)


def _hook_snap_start() -> None:
    """Under SnapStart, empty every cache after a restore: credentials from before a snapshot never serve."""
    if _state.snap_start_hooked or os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE") != "snap-start":
        return
    _state.snap_start_hooked = True
    try:
        from snapshot_restore_py import register_after_restore
    except ImportError:
        logger.warning("SnapStart without snapshot_restore_py: cached credentials cannot be cleared after a restore")
        return
    register_after_restore(clear_caches)


def clear_caches() -> None:
    """Empty every cache of the package: credentials, sessions, clients and STS clients.

    A fetch in flight is not stored when it lands; STS clients are built anew from the environment of
    that moment. Clients and sessions you passed in (``boto3_client``, ``boto3_session``) are kept.

    Example
    -------
    >>> from powertools_sts import clear_caches
    >>> clear_caches()
    """
    _state.reset()
