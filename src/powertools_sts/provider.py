"""STSProvider: AssumeRole behind an expiry-aware cache.

Why not Powertools' own cache: ``BaseProvider.get`` keys entries by name only (two RoleSessionNames
or ExternalIds would share credentials), expires them on a naive local clock with a fixed ``max_age``
that knows nothing of ``Expiration``, and throws away still-valid credentials when a refresh fails.
So this provider keeps the Powertools shape (``get``, ``_get``, ``clear_cache``, ``boto3_session`` /
``boto3_client`` / ``boto_config``) and owns the cache. Its state lives on the instance; the process
reaches it through :mod:`powertools_sts._state` (a reset, a fork).

An entry's life, for credentials expiring at ``E`` with an effective margin ``m``::

    fetched ---- fresh ---- E-m ---- refresh window ---- E-60 ---- floor ---- E
                 served from cache   one caller refreshes;        never served;
                                     on failure the old ones      a caller waits for
                                     serve, with a back-off       a fetch or gets an error;
                                                                  the entry is evicted
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import random
import re
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

# Imported at run time, not only for type checkers, so that typing.get_type_hints works on the public
# names: boto3 and botocore are loaded already (Powertools' provider base imports boto3).
import boto3
from aws_lambda_powertools.utilities.parameters.base import BaseProvider
from aws_lambda_powertools.utilities.parameters.constants import DEFAULT_PROVIDERS
from botocore.config import Config

from . import _clock, _state, redaction
from .answers import credentials_from, error_from, where
from .credentials import Credentials
from .events import FAILED, FETCHED, SERVED_STALE, Refresh, RefreshObserver
from .exceptions import AssumeRoleError, ConfigurationError, copy_error
from .execution import on_managed_instances, shared_cache_from_env
from .freshness import BACKOFF_SECONDS, FLOOR_SECONDS, JITTER_FRACTION, CachedEntry, Flight
from .sessions import new_botocore_session
from .validation import cache_key_of, validate_assume_role_params, validate_max_age, validate_refresh_margin

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
# Before any STS call can be logged: botocore logs response bodies, secrets included, at DEBUG.
redaction.install()

# Entries past the floor are swept out at most this often (on the fetch path, never on a cache hit).
_SWEEP_SECONDS = 60.0

# Key of an entry: (namespace, signer, canonical parameters). The namespace is the decorator's
# cache_key (None for direct use); the signer says who signs the call (None: this provider's client).
_Key = tuple[Any, ...]


def default_role_session_name() -> str:
    """Return this process's default RoleSessionName.

    CloudTrail records the session name, so it says which function assumed the role: the sanitised
    ``AWS_LAMBDA_FUNCTION_NAME`` plus a random suffix drawn once per process (stable across
    refreshes, drawn anew in a forked child), or ``powertools-sts-<suffix>`` outside Lambda.
    Always 2-64 characters.

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
    """Reading ``STSProvider.store``: a ConfigurationError that says why.

    Also an AttributeError, so that ``hasattr``, ``inspect.getmembers`` and debuggers see a missing
    attribute rather than a crash.
    """


class STSProvider(BaseProvider):
    """Temporary credentials of IAM roles through STS AssumeRole, with an expiry-aware cache.

    A Powertools parameter provider: ``get`` returns cached credentials while they are fresh, and
    never credentials with less than ``FLOOR_SECONDS`` left. The STS client is built on the first
    fetch, not before. Entries that can no longer be served (past the floor) are evicted.

    Parameters
    ----------
    boto3_session:
        Session to build the STS client from; a new ``boto3.session.Session()`` when None.
    boto3_client:
        A ready STS client; wins over ``boto3_session`` and ``boto_config``, as in Powertools.
    boto_config:
        ``botocore.config.Config`` merged over this package's defaults: ``standard`` retries with 3
        attempts in total, connect timeout 2 s, read timeout 5 s.
    refresh_margin:
        Seconds before ``Expiration`` at which credentials stop being fresh and are refreshed
        (default 300). Capped at half the credentials' lifetime and raised by a random jitter of up
        to ``JITTER_FRACTION`` of itself, per entry.
    max_entries:
        At most this many entries are kept; the least recently used one goes first. None (the
        default): no bound but the one eviction gives (entries in use).
    refresh_ahead:
        Refresh each entry in the background before it stops being fresh, so that no caller waits on
        STS. None (the default): on Lambda Managed Instances only, where nothing freezes the process;
        on classic Lambda a background request could be frozen mid-flight with the sandbox.
    shared_cache:
        Share credentials with the other processes of this execution environment through files in
        ``/tmp`` (see :mod:`powertools_sts.shared_cache`): one AssumeRole per entry per environment.
        None (the default): ``POWERTOOLS_STS_SHARED_CACHE``, else on Lambda Managed Instances only.

    Raises
    ------
    ConfigurationError
        For a negative or non-numeric ``refresh_margin``, a ``max_entries`` that is not a whole
        number >= 1, or a ``boto_config`` that is not a Config.

    Example
    -------
    >>> from powertools_sts import STSProvider
    >>> provider = STSProvider(refresh_margin=600, max_entries=1000)
    >>> creds = provider.get("arn:aws:iam::111122223333:role/reports", ExternalId="x-1234")  # doctest: +SKIP
    >>> creds.expiration  # doctest: +SKIP
    datetime.datetime(2030, 1, 1, 1, 0, tzinfo=datetime.timezone.utc)
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
        self.refresh_margin = validate_refresh_margin(refresh_margin)
        if max_entries is not None and (type(max_entries) is not int or max_entries < 1):
            raise ConfigurationError(f"max_entries must be a whole number >= 1 or None, got {max_entries!r}")
        from botocore.config import Config as BotoConfig  # loaded already: Powertools' provider base imports boto3

        if boto_config is not None and not isinstance(boto_config, BotoConfig):
            raise ConfigurationError(f"boto_config must be a botocore.config.Config, got {type(boto_config).__name__}")
        self.max_entries = max_entries
        if refresh_ahead is not None and not isinstance(refresh_ahead, bool):
            raise ConfigurationError(f"refresh_ahead must be True, False or None, got {refresh_ahead!r}")
        self.refresh_ahead = on_managed_instances() if refresh_ahead is None else refresh_ahead
        if shared_cache is not None and not isinstance(shared_cache, bool):
            raise ConfigurationError(f"shared_cache must be True, False or None, got {shared_cache!r}")
        self.shared_cache = shared_cache_from_env() if shared_cache is None else shared_cache
        # A SharedCache, opened on the first fetch: False until then, None when off or refused.
        self._shared: Any = False
        # Credentials other processes stored before this provider's last reset are not taken.
        self._reset_at = float("-inf")
        self._boto_config = boto_config
        self._boto3_session = boto3_session
        self._boto3_client = boto3_client
        # Fail in seconds, not at the function's timeout, when STS is out of reach (a VPC with no
        # route to the endpoint); Throttling and 5xx are retried by botocore's standard mode.
        config = BotoConfig(retries={"mode": "standard", "total_max_attempts": 3}, connect_timeout=2, read_timeout=5)
        self._config = config.merge(boto_config) if boto_config is not None else config
        self._client: STSClient | None = boto3_client
        self._client_lock = threading.Lock()
        self._guard = threading.Lock()
        self._entries: OrderedDict[_Key, CachedEntry] = OrderedDict()
        self._flights: dict[_Key, Flight] = {}
        self._sequence = itertools.count(1)
        # A reset starts a new generation: a flight of an older one lands without storing.
        self._generation = 0
        self._sweep_at = 0.0
        # Validating and keying the same parameters again on every get would cost more than the cache hit.
        self._validated: dict[Any, tuple[dict[str, Any], _Key]] = {}
        # Entry key to the access key id of credentials invalidated as refused, while they may still be
        # in the shared cache's file: no fetch takes them from there (see ``invalidate``).
        self._refused: dict[_Key, str] = {}
        # The client is built lazily, so Powertools' user-agent registration has nothing to tag yet.
        super().__init__()  # type: ignore[no-untyped-call]
        _state.register(self)
        _hook_snap_start()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(refresh_margin={self.refresh_margin:g}, entries={len(self._entries)})"

    # -- the public API ------------------------------------------------------------------------------

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
            Seconds an entry stays fresh at most. None or -1: until the refresh window (the default);
            0: no caching, every call calls STS. Credentials older than ``max_age`` but still above
            the floor are in the refresh window: a failed refresh serves them with a warning.
        force_fetch:
            Always call STS and replace the entry.
        transform:
            Not supported: credentials are returned as a ``Credentials`` value.
        **assume_role_params:
            AssumeRole's own parameters in boto3's spelling (RoleSessionName, DurationSeconds,
            ExternalId, Policy, PolicyArns, Tags, TransitiveTagKeys, SourceIdentity, ProvidedContexts).
            RoleSessionName defaults to :func:`default_role_session_name`.

        Returns
        -------
        Credentials
            With at least ``FLOOR_SECONDS`` left before ``expiration``.

        Raises
        ------
        ConfigurationError
            For an invalid parameter, before any STS call.
        AssumeRoleError
            When STS fails and no still-valid credentials can serve.

        Example
        -------
        >>> provider = STSProvider()
        >>> provider.get("arn:aws:iam::111122223333:role/reports", RoleSessionName="nightly")  # doctest: +SKIP
        Credentials(access_key_id='ASIA...', expiration='...', assumed_role_arn='...')
        """
        if transform is not None:
            raise ConfigurationError(
                "STSProvider.get does not support transform: credentials are returned as a Credentials value"
            )
        if "RoleArn" in assume_role_params:
            raise ConfigurationError("RoleArn is given twice: pass it as role_arn only")
        seconds = validate_max_age(max_age)
        try:
            # Types are part of the memo: 900.0 == 900 and True == 1 hash alike but validate differently.
            memo: Any = (role_arn, type(role_arn), *sorted((k, type(v), v) for k, v in assume_role_params.items()))
            known = self._validated.get(memo)
        except TypeError:  # unhashable values (lists of tags, a dict policy): validate every time
            memo, known = None, None
        if known is None:
            params = validate_assume_role_params({"RoleArn": role_arn, **assume_role_params})
            known = (params, (None, None, cache_key_of(params)))
            if memo is not None:
                if len(self._validated) >= 256:
                    self._validated.clear()
                self._validated[memo] = known
        return self._credentials_for(known[1], known[0], seconds, force_fetch)[0]

    def invalidate(self, role_arn: str, *, access_key_id: str | None = None, **assume_role_params: Any) -> None:
        """Mark the cached credentials of ``get(role_arn, **assume_role_params)`` unusable: the next ``get`` fetches.

        For credentials AWS refused (revoked, or their session expired early): unlike ``force_fetch``, the
        refused credentials are gone for every caller, never served stale when the next fetch fails, and
        never taken back from the shared cache of other processes. An entry that is not cached is left
        alone.

        Parameters
        ----------
        role_arn, **assume_role_params:
            As in ``get``: they name the entry.
        access_key_id:
            Drop the credentials only if they are still these (the ones that were refused): credentials
            a concurrent refresh stored meanwhile are kept. None: whatever is cached.

        Raises
        ------
        ConfigurationError
            For parameters that ``get`` would refuse.

        Example
        -------
        >>> provider = STSProvider()
        >>> provider.invalidate("arn:aws:iam::111122223333:role/reports", ExternalId="x-1234")  # not cached: no-op
        >>> creds = provider.get("arn:aws:iam::111122223333:role/reports")  # doctest: +SKIP
        >>> provider.invalidate("arn:aws:iam::111122223333:role/reports", access_key_id=creds.access_key_id)  # doctest: +SKIP
        """
        if "RoleArn" in assume_role_params:
            raise ConfigurationError("RoleArn is given twice: pass it as role_arn only")
        self._invalidate_key(self._cache_key_for({"RoleArn": role_arn, **assume_role_params}), access_key_id)

    def _invalidate_key(self, key: _Key, access_key_id: str | None) -> None:
        """Drop the entry of ``key`` if it holds the credentials of ``access_key_id`` (any, for None)."""
        with self._guard:
            cached = self._entries.get(key)
            held = cached.credentials.access_key_id if cached is not None else None
            if access_key_id is not None and held is not None and held != access_key_id:
                return  # a refresh already replaced the refused credentials: they serve
            if cached is not None:
                del self._entries[key]
            refused = access_key_id or held
            if refused is not None and self.shared_cache:
                self._refused[key] = refused

    def clear_cache(self) -> None:
        """Forget every cached credential of this provider; the STS client is kept.

        A fetch in flight is handed to the callers who were waiting for it, and never stored: the
        cache is empty afterwards, whenever that fetch lands. Powertools' ``parameters.clear_caches()``
        does not call this (it drops the providers of ``DEFAULT_PROVIDERS`` whole); a test that holds a
        provider of its own calls it.

        Example
        -------
        >>> STSProvider().clear_cache()
        """
        with self._guard:
            # A new generation: a fetch that started before the clear lands without storing.
            self._generation += 1
            self._entries.clear()
            self._flights.clear()
        # No super().clear_cache(): Powertools' ``store`` is not this provider's cache (see ``store``).

    # -- Powertools' cache methods, on this provider's cache -----------------------------------------
    #
    # BaseProvider.get reaches its cache through these; STSProvider.get does not, so inherited as they
    # are they would read and write a ``store`` nobody consults. Each works on the real cache instead.

    @property
    def store(self) -> dict[tuple[Any, ...], Any]:
        """Not available: the credentials are in this provider's own cache, not in Powertools' ``store``.

        Powertools' ``store`` maps ``(name, transform, is_nested)`` to a value and a naive expiry,
        which cannot say who signs, which AssumeRole parameters were used or when the credentials
        expire; a dict handed out here would be a copy, and writes to it would be lost silently.
        Reading it raises; assigning an empty dict empties the cache (what ``BaseProvider.__init__`` does).

        Raises
        ------
        ConfigurationError
            On every read, and on assigning anything but an empty dict.

        Example
        -------
        >>> STSProvider().store  # doctest: +SKIP
        Traceback (most recent call last):
        ConfigurationError: STSProvider keeps its credentials in its own cache, not in Powertools' store: ...
        """
        raise _NoStoreError(
            "STSProvider keeps its credentials in its own cache, not in Powertools' store: use "
            "has_not_expired_in_cache, fetch_from_cache, add_to_cache and clear_cache"
        )

    @store.setter
    def store(self, value: dict[tuple[Any, ...], Any]) -> None:
        if value:
            raise ConfigurationError(
                "STSProvider does not read Powertools' store: seed credentials with add_to_cache instead"
            )
        self.clear_cache()

    def _cache_key_for(self, key: Any) -> _Key:
        """Return the entry key that ``key`` of a Powertools cache method means; see ``fetch_from_cache``."""
        if isinstance(key, str):
            params: Mapping[str, Any] = {"RoleArn": key}
        elif isinstance(key, tuple) and len(key) == 3 and isinstance(key[2], bool):
            name, transform, is_nested = key
            if transform is not None or is_nested:
                # get takes no transform and get_multiple is refused: no entry can have such a key.
                raise ConfigurationError(
                    f"STSProvider has no entry for a transform or get_multiple key, got {(transform, is_nested)!r} "
                    "as (transform, is_nested)"
                )
            params = {"RoleArn": name}
        elif isinstance(key, Mapping):
            params = key
        else:
            raise ConfigurationError(
                "A cache key of STSProvider is a role ARN, Powertools' (role_arn, None, False) key, or a mapping "
                f"of AssumeRole parameters with RoleArn, got {type(key).__name__}"
            )
        return (None, None, cache_key_of(validate_assume_role_params(dict(params))))

    def has_not_expired_in_cache(self, key: Any) -> bool:
        """Return whether ``get`` would serve the entry of ``key`` from the cache, without calling STS.

        True while the entry is fresh (before its refresh window, or the ``max_age`` it was seeded
        with). The keys are those of :meth:`fetch_from_cache`.

        Raises
        ------
        ConfigurationError
            For a key that names no possible entry (see :meth:`fetch_from_cache`).

        Example
        -------
        >>> STSProvider().has_not_expired_in_cache("arn:aws:iam::111122223333:role/reports")
        False
        """
        entry = self._entries.get(self._cache_key_for(key))
        return entry is not None and _clock.now() < entry.fresh_until(None)

    def fetch_from_cache(self, key: Any) -> Credentials | None:
        """Return the cached credentials of ``key`` while they may still be served, else None.

        ``key`` means the entry of one ``get`` call:

        - a role ARN: ``get(role_arn)``, with no other AssumeRole parameter;
        - Powertools' key ``(role_arn, None, False)``, what ``BaseProvider._build_cache_key(role_arn)``
          returns, so code written against ``BaseProvider`` keeps working: the same entry;
        - a mapping of AssumeRole parameters, ``{"RoleArn": ..., "ExternalId": ...}``:
          ``get(**params)``, since every parameter is part of the key.

        Like Powertools' own, it serves what is there without asking whether it is fresh; unlike it,
        never credentials past the floor (less than ``FLOOR_SECONDS`` left), and None rather than
        ``{}`` when there is nothing: the value is a ``Credentials``, not a parameter.

        Raises
        ------
        ConfigurationError
            For a key of any other type, a transform or ``is_nested`` in Powertools' key (no entry
            has them), or AssumeRole parameters that ``get`` would refuse.

        Example
        -------
        >>> STSProvider().fetch_from_cache("arn:aws:iam::111122223333:role/reports") is None
        True
        """
        entry = self._entries.get(self._cache_key_for(key))
        if entry is None or _clock.now() >= entry.floor_at:
            return None
        return entry.credentials

    def add_to_cache(self, key: Any, value: Any, max_age: float | None = None) -> None:
        """Store ``value``, credentials obtained elsewhere, as the entry of ``key``: ``get`` serves them.

        The entry is the one ``get`` reads for the same role and parameters (keys as in
        :meth:`fetch_from_cache`); it follows the cache rules as if it had just been fetched, and
        replaces what was there. A test seeds credentials this way instead of calling STS; a caller
        may hand over credentials it assumed itself.

        Parameters
        ----------
        key:
            A role ARN, Powertools' ``(role_arn, None, False)`` key, or a mapping of AssumeRole parameters.
        value:
            A ``Credentials`` with a timezone-aware ``expiration`` more than ``FLOOR_SECONDS`` away.
        max_age:
            Seconds the entry stays fresh at most, as in ``get``. None or -1: until the refresh window;
            0: nothing is stored, as Powertools does for a ``max_age`` of 0.

        Raises
        ------
        ConfigurationError
            For a key as in :meth:`fetch_from_cache`, a value that is not ``Credentials``, a naive
            ``expiration``, credentials too close to expiry ever to be served, or an invalid ``max_age``.

        Example
        -------
        >>> from datetime import datetime, timedelta, timezone
        >>> from powertools_sts import Credentials
        >>> provider = STSProvider()
        >>> creds = Credentials("ASIAEXAMPLE", "secret", "token", datetime.now(timezone.utc) + timedelta(hours=1))
        >>> provider.add_to_cache("arn:aws:iam::111122223333:role/reports", creds)
        >>> provider.get("arn:aws:iam::111122223333:role/reports") is creds  # no STS call
        True
        """
        entry_key = self._cache_key_for(key)
        if not isinstance(value, Credentials):
            raise ConfigurationError(f"STSProvider caches Credentials values only, got {type(value).__name__}")
        expiration = value.expiration
        if not isinstance(expiration, datetime) or expiration.tzinfo is None:
            # The cache compares aware UTC times: a naive one would be read in the host's timezone.
            raise ConfigurationError("The expiration of cached Credentials must be a timezone-aware datetime")
        seconds = validate_max_age(max_age)
        if seconds == 0:
            return
        now = _clock.now()
        left = expiration.timestamp() - now
        if left <= FLOOR_SECONDS:
            raise ConfigurationError(
                f"Credentials that expire in {left:.0f} s are never served (the floor is {FLOOR_SECONDS:.0f} s): "
                "not cached"
            )
        margin = self.refresh_margin * (1 + JITTER_FRACTION * random.random())  # noqa: S311
        with self._guard:
            # A newer sequence than any fetch in flight: such a fetch, landing later, does not replace them.
            entry = CachedEntry(value, now, margin, next(self._sequence))
            if seconds is not None:
                entry.refresh_at = min(entry.refresh_at, now + seconds)
            self._entries[entry_key] = entry
            self._entries.move_to_end(entry_key)
            while self.max_entries is not None and len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def _reset(self) -> None:
        """Forget every credential and the STS client this provider built; discard fetches in flight.

        What ``clear_caches()`` does to every provider. A fetch that lands afterwards is handed to the
        callers who were waiting for it, and never stored.

        Example
        -------
        >>> STSProvider()._reset()
        """
        with self._guard:
            self._generation += 1
            self._entries.clear()
            self._flights.clear()
            self._reset_at = _clock.now()
        with self._client_lock:
            self._client = self._boto3_client

    def _after_fork(self) -> None:
        """In a forked child: new locks, no flight, an STS client of its own; fresh credentials are kept.

        Example
        -------
        >>> STSProvider()._after_fork()  # what a fork runs in the child
        """
        # Another thread of the parent may have held these at the fork; in the child it never releases them.
        self._guard = threading.Lock()
        self._client_lock = threading.Lock()
        # The owners of these flights are threads of the parent: nobody in the child would land them.
        self._flights = {}
        # The client's connection pool holds the parent's sockets. A client the user gave is theirs to manage.
        self._client = self._boto3_client
        if self._shared:
            self._shared._after_fork()

    def retry_budget(self) -> float:
        """Return the longest time, in seconds, one AssumeRole of this provider's STS client can take.

        Every attempt's connect and read timeouts, plus botocore's longest back-off between attempts
        (``standard`` mode: up to 2**i s, at most 20 s, plus up to 5 s of a retry-after header), plus
        one second. A caller that joins another caller's fetch waits this long at most.

        Example
        -------
        >>> STSProvider().retry_budget()  # 3 attempts of 2 s + 5 s, back-offs of 1 + 5 and 2 + 5 s, 1 s
        35.0
        """
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
        return float(attempts * (connect + read) + backoff + 1.0)

    # -- the cache -----------------------------------------------------------------------------------

    def _credentials_for(
        self,
        key: _Key,
        params: dict[str, Any],
        max_age: float | None,
        force_fetch: bool = False,
        entry: str | None = None,
        background: bool = False,
        observer: RefreshObserver | None = None,
    ) -> tuple[Credentials, float]:
        """Return credentials for already validated parameters, and the time until which they may be reused.

        The building block of ``get`` and of the ``sts`` decorator, which validates once when it is
        applied and keys entries by its own ``cache_key``. The second value is an epoch time: a caller
        may hand out the same credentials without asking again until then (``-inf`` with
        ``max_age=0``). ``background`` marks a fetch nobody waits for (a prefetch): a caller who joins
        it and sees it fail asks once more for itself instead of inheriting the failure.
        """
        if not force_fetch and max_age != 0:
            cached = self._entries.get(key)
            if cached is not None:
                until = cached.fresh_until(max_age)
                if _clock.now() < until:
                    if self.max_entries is not None:
                        self._mark_used(key)
                    return cached.credentials, until
        served = self._serve_or_fetch(key, params, max_age, force_fetch, entry, background, True, observer)
        while served is None:
            # A failed prefetch is no caller's failure: ask once more, as the owner of a fetch or its waiter.
            served = self._serve_or_fetch(key, params, max_age, force_fetch, entry, background, False, observer)
        return served

    def _mark_used(self, key: _Key) -> None:
        with contextlib.suppress(KeyError):  # evicted meanwhile by another thread
            self._entries.move_to_end(key)

    def _serve_or_fetch(
        self,
        key: _Key,
        params: dict[str, Any],
        max_age: float | None,
        force_fetch: bool,
        entry: str | None,
        background: bool,
        may_ask_again: bool,
        observer: RefreshObserver | None = None,
    ) -> tuple[Credentials, float] | None:
        """Serve from the cache, join the fetch in flight, or fetch.

        None when a joined prefetch failed and the caller ``may_ask_again``.
        """
        caching = max_age != 0
        with self._guard:
            now = _clock.now()
            cached = self._entries.get(key)
            usable = cached is not None and now < cached.floor_at and caching and not force_fetch
            if cached is not None and usable and now < cached.fresh_until(max_age):
                return cached.credentials, cached.fresh_until(max_age)  # refreshed while we waited
            flight = self._flights.get(key) if caching and not force_fetch else None
            if cached is not None and usable and (flight is not None or now < cached.retry_at):
                # Another caller is refreshing, or the last refresh failed moments ago: the
                # still-valid credentials serve, without waiting on STS.
                return cached.credentials, (now if flight is not None else min(cached.retry_at, cached.floor_at))
            owner = flight is None
            if flight is None:
                flight = Flight(background, self._generation, next(self._sequence), observer)
                if caching:
                    self._flights[key] = flight
        if owner:
            self._assume_into(key, params, max_age, flight, entry)
        elif not flight.done.wait(self.retry_budget()):
            # Never a second AssumeRole beside one in flight: the owner's own timeouts end it within
            # the budget, so a flight still running past it was lost (its thread frozen or killed).
            raise AssumeRoleError(
                f"AssumeRole for {where(params['RoleArn'], entry)} did not finish within {self.retry_budget():.0f} s (the STS client's "
                "retry budget) while this caller waited for it",
                role_arn=params["RoleArn"],
                entry=entry,
            )
        elif flight.error is not None and flight.background and not background and may_ask_again:
            return None
        return self._outcome(key, params, max_age, force_fetch, flight, owner)

    def _outcome(
        self,
        key: _Key,
        params: dict[str, Any],
        max_age: float | None,
        force_fetch: bool,
        flight: Flight,
        owner: bool,
    ) -> tuple[Credentials, float]:
        """Give one caller of a landed flight its credentials, still-valid ones, or an error."""
        if flight.credentials is not None:
            if max_age == 0:
                return flight.credentials, float("-inf")
            stored = self._entries.get(key)
            # The stored entry is this fetch's, or a newer one that a concurrent fetch stored.
            if stored is not None and stored.sequence >= flight.sequence:
                return stored.credentials, stored.fresh_until(max_age)
            return flight.credentials, _clock.now()
        error = flight.error
        assert error is not None  # noqa: S101  # _assume_into always sets one of the two
        with self._guard:
            now = _clock.now()
            stale = self._entries.get(key)
            if stale is not None and max_age != 0 and not force_fetch and now < stale.floor_at:
                # Stale on error: a failed refresh never throws away credentials that still work.
                if flight.warn_stale:
                    flight.warn_stale = False  # one warning per failed attempt
                    logger.warning(
                        "Refreshing credentials of %s failed (%s); serving the cached ones, which expire in %.0f s",
                        params["RoleArn"],
                        error.code or type(error.__cause__).__name__,
                        stale.expires_at - now,
                    )
                return stale.credentials, min(stale.retry_at, stale.floor_at)
        # The owner raises the error; each waiter its own copy, so no traceback grows across threads.
        raise error if owner else copy_error(error)

    def _assume_into(
        self,
        key: _Key,
        params: dict[str, Any],
        max_age: float | None,
        flight: Flight,
        entry: str | None,
        newer_than: float = float("-inf"),
    ) -> None:
        """Run the flight's AssumeRole and land it: store the credentials, or start the back-off."""
        clock = time.perf_counter()
        try:
            creds, started, flight.reached_sts = self._assume(key, params, entry, newer_than)
            stored = self._store(key, creds, started, flight) if max_age != 0 else None
            if stored is not None and self.refresh_ahead:
                self._schedule_refresh(key, params, entry, stored, observer=flight.observer)
            flight.credentials = creds
        except AssumeRoleError as exc:
            flight.error = exc
        except BaseException as exc:
            # Whatever the owner met (a bug, an interrupt), its waiters get an AssumeRoleError, not a hang.
            flight.error = AssumeRoleError(
                f"AssumeRole for {where(params['RoleArn'], entry)} failed: {type(exc).__name__}",
                role_arn=params["RoleArn"],
                entry=entry,
            )
            flight.error.__cause__ = exc
            if not isinstance(exc, Exception):
                raise
        finally:
            with self._guard:
                if self._flights.get(key) is flight:
                    del self._flights[key]
                stale = self._entries.get(key) if flight.error is not None else None
                if stale is not None and _clock.now() < stale.floor_at:
                    # The back-off starts in the same critical section that lands the flight: a caller
                    # in between would otherwise see neither and start another AssumeRole.
                    stale.retry_at = _clock.now() + BACKOFF_SECONDS
                    flight.warn_stale = True
            if flight.observer is not None and flight.reached_sts and not _shared_backoff(flight.error):
                self._report(flight, params["RoleArn"], entry, time.perf_counter() - clock, stale)
            flight.done.set()

    @staticmethod
    def _report(flight: Flight, role_arn: str, entry: str | None, latency: float, stale: CachedEntry | None) -> None:
        """Tell the flight's observer how its AssumeRole went (never fails the flight)."""
        now = _clock.now()
        if flight.credentials is not None:
            outcome, left = FETCHED, flight.credentials.expiration.timestamp() - now
        elif stale is not None and flight.warn_stale:
            outcome, left = SERVED_STALE, stale.expires_at - now
        else:
            outcome, left = FAILED, None
        code = flight.error.code if flight.error is not None else None
        try:
            flight.observer.refreshed(Refresh(entry, role_arn, outcome, latency, left, code))  # type: ignore[union-attr]
        except Exception:  # an observer's bug must not fail a fetch
            logger.exception("An observer of %s failed", role_arn)

    def _store(self, key: _Key, creds: Credentials, started: float, flight: Flight) -> CachedEntry | None:
        """Store a fetch's credentials unless a reset or a newer fetch came first; return the new entry."""
        margin = self.refresh_margin * (1 + JITTER_FRACTION * random.random())  # noqa: S311
        new: CachedEntry | None = CachedEntry(creds, started, margin, flight.sequence)
        with self._guard:
            if flight.generation != self._generation:
                return None  # fetched before a reset: handed to its callers, never kept
            stored = self._entries.get(key)
            if stored is None or stored.sequence < flight.sequence:
                self._entries[key] = new  # type: ignore[assignment]  # not None here
                self._entries.move_to_end(key)
            else:
                new = None
            now = _clock.now()
            if now >= self._sweep_at:
                self._sweep_at = now + _SWEEP_SECONDS
                for gone in [k for k, e in self._entries.items() if e.floor_at <= now]:
                    del self._entries[gone]
            while self.max_entries is not None and len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
        return new

    # -- refresh ahead (Managed Instances) ------------------------------------------------------------

    def _schedule_refresh(
        self,
        key: _Key,
        params: dict[str, Any],
        entry: str | None,
        stored: CachedEntry,
        delay: float | None = None,
        observer: RefreshObserver | None = None,
    ) -> None:
        """Refresh ``stored`` in the background before it stops being fresh, so that no caller waits on STS.

        Only where nothing freezes the process (Managed Instances): on classic Lambda a background
        request can be frozen mid-flight with the sandbox. It starts a retry budget before the end of
        freshness (at most half way through it), so even the slowest AssumeRole lands in time.
        """
        if delay is None:
            lead = min(self.retry_budget(), (stored.refresh_at - stored.fetched_at) / 2)
            delay = max(0.0, stored.refresh_at - lead - _clock.now())
        timer = threading.Timer(delay, self._refresh_early, args=(key, params, entry, stored.sequence, observer))
        timer.name = "powertools-sts-refresh-ahead"
        timer.daemon = True
        timer.start()

    def _refresh_early(
        self, key: _Key, params: dict[str, Any], entry: str | None, sequence: int, observer: RefreshObserver | None
    ) -> None:
        with self._guard:
            cached = self._entries.get(key)
            if cached is None or cached.sequence != sequence or key in self._flights:
                return  # refreshed, reset or evicted meanwhile, or a caller is refreshing it now
            flight = Flight(True, self._generation, next(self._sequence), observer)
            self._flights[key] = flight
        # Callers keep the still-fresh credentials meanwhile; a success stores and schedules the next one.
        # Credentials that another process stored after ours are taken; ours, still fresh, are not.
        self._assume_into(key, params, None, flight, entry, newer_than=cached.fetched_at)
        if flight.error is None:
            return
        again = _clock.now() + BACKOFF_SECONDS < cached.floor_at
        logger.warning(
            "Refreshing credentials of %s ahead of time failed (%s); %s",
            params["RoleArn"],
            flight.error.code or type(flight.error.__cause__).__name__,
            f"trying again in {BACKOFF_SECONDS:.0f} s" if again else "the next caller refreshes them",
        )
        if again:
            self._schedule_refresh(key, params, entry, cached, delay=BACKOFF_SECONDS, observer=observer)

    # -- STS -----------------------------------------------------------------------------------------

    def _assume(
        self, key: _Key, params: dict[str, Any], entry: str | None, newer_than: float
    ) -> tuple[Credentials, float, bool]:
        """AssumeRole, or take what another process of this environment fetched.

        Returns the credentials, when they were fetched, and whether this process called STS for them.
        """
        shared = self._shared_cache()
        if shared is None:
            started = _clock.now()
            return self._fetch(params, entry), started, True
        margin = self.refresh_margin * (1 + JITTER_FRACTION * random.random())  # noqa: S311

        newer_than = max(newer_than, self._reset_at)
        refused = self._refused.get(key)

        def usable(creds: Credentials, fetched_at: float) -> bool:
            # This process's own freshness rules, applied to what another process stored; and never the
            # credentials AWS refused, which other processes may not have found out about yet.
            return (
                creds.access_key_id != refused
                and fetched_at > newer_than
                and _clock.now() < CachedEntry(creds, fetched_at, margin, 0).refresh_at
            )

        creds, fetched_at, here = shared.fetch(
            shared.key_name([self._signer_identity(), *key]),
            usable=usable,
            assume=lambda: self._fetch(params, entry),
            now=_clock.now,
            deadline=self.retry_budget(),
            backoff=BACKOFF_SECONDS,
            role_arn=params["RoleArn"],
        )
        if refused is not None and creds.access_key_id != refused:
            with self._guard:
                if self._refused.get(key) == refused:
                    del self._refused[key]  # the file holds other credentials now: nothing left to skip
        return creds, fetched_at, here

    def _shared_cache(self) -> Any:
        """Return the SharedCache of this environment, or None; imported only where it is on (cold start)."""
        if self._shared is False:
            with self._client_lock:
                if self._shared is False:
                    opened = None
                    if self.shared_cache:
                        from .shared_cache import SharedCache

                        opened = SharedCache.open()
                    # One assignment, once opened: a thread reading without the lock sees False or the result.
                    self._shared = opened
        return self._shared

    def _signer_identity(self) -> str:
        """Who signs this provider's AssumeRole, stable across processes: the access key id, and the endpoint.

        botocore keeps a client's signing credentials on its request signer and has no public
        accessor for them; a chained provider's are the hub entry's current credentials.
        """
        client = self._sts_client()
        credentials = getattr(getattr(client, "_request_signer", None), "_credentials", None)
        frozen = credentials.get_frozen_credentials() if credentials is not None else None
        return f"{getattr(frozen, 'access_key', None) or 'unsigned'}@{client.meta.endpoint_url}"

    def _sts_client(self) -> STSClient:
        """Return the client that signs AssumeRole; built once, on first use."""
        client = self._client
        if client is None:
            with self._client_lock:
                client = self._client
                if client is None:
                    client = self._client = self._build_client()
        return client

    def _build_client(self) -> STSClient:
        if self._boto3_session is not None:
            client: STSClient = self._boto3_session.client("sts", config=self._config)
        else:
            client = new_botocore_session().create_client("sts", config=self._config)
        return client

    def _get(self, name: str, **sdk_options: Any) -> dict[str, Any]:
        """Call STS AssumeRole for the role ``name``; Powertools' raw-fetch hook.

        Example
        -------
        >>> STSProvider()._get("arn:aws:iam::111122223333:role/r", RoleSessionName="s")  # doctest: +SKIP
        """
        return dict(self._sts_client().assume_role(RoleArn=name, **sdk_options))

    def get_multiple(self, path: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """Not supported: roles have no hierarchy to read by path; call ``get`` once per role.

        Raises
        ------
        ConfigurationError
            Always, before any STS call.

        Example
        -------
        >>> STSProvider().get_multiple("/roles")  # doctest: +SKIP
        Traceback (most recent call last):
        ConfigurationError: STSProvider does not support get_multiple: call get once per role
        """
        raise ConfigurationError("STSProvider does not support get_multiple: call get once per role")

    def _get_multiple(self, path: str, **sdk_options: Any) -> dict[str, str]:
        raise ConfigurationError("STSProvider does not support get_multiple: call get once per role")

    def _fetch(self, params: dict[str, Any], entry: str | None) -> Credentials:
        role_arn = params["RoleArn"]
        call = dict(params)
        call.setdefault("RoleSessionName", default_role_session_name())
        del call["RoleArn"]
        try:
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
                f"AssumeRole for {where(role_arn, entry)} returned credentials that expire in {left:.0f} s, not "
                f"more than the {FLOOR_SECONDS:.0f} s floor: Expiration {creds.expiration.isoformat()}, this "
                f"host's clock {host} (is the clock of this host wrong?)",
                role_arn=role_arn,
                entry=entry,
            )
        logger.debug(
            "Assumed %s as %s, expiring at %s",
            where(role_arn, entry),
            creds.access_key_id,
            creds.expiration.isoformat(),
        )
        return creds


def _shared_backoff(error: AssumeRoleError | None) -> bool:
    # The shared cache's back-off: another process of the environment failed moments ago, and this one
    # made no call. Checked by name: the shared cache module is imported only where it is on.
    return type(error).__name__ == "SharedBackoffError"


def assume_role(
    role_arn: str, *, max_age: float | None = None, force_fetch: bool = False, **assume_role_params: Any
) -> Credentials:
    """Return credentials of ``role_arn`` through a default ``STSProvider``, built on first use.

    The counterpart of Powertools' ``get_parameter()``: the same options as ``STSProvider.get``, and
    the default provider lives where Powertools keeps its helpers' ones, in
    ``aws_lambda_powertools.utilities.parameters.base.DEFAULT_PROVIDERS["sts"]``. So Powertools'
    ``parameters.clear_caches()`` drops it (the next call builds a new one and calls STS), as does
    ``powertools_sts.clear_caches()``; and setting ``DEFAULT_PROVIDERS["sts"]`` to an ``STSProvider``
    of your own makes ``assume_role`` use it.

    Raises
    ------
    ConfigurationError
        When ``DEFAULT_PROVIDERS["sts"]`` holds something other than an ``STSProvider``, and as ``get``.
    AssumeRoleError
        As ``get``.

    Example
    -------
    >>> from aws_lambda_powertools.utilities.parameters.base import DEFAULT_PROVIDERS
    >>> from powertools_sts import STSProvider, assume_role
    >>> DEFAULT_PROVIDERS["sts"] = STSProvider(refresh_margin=600)
    >>> creds = assume_role("arn:aws:iam::111122223333:role/reports", DurationSeconds=900)  # doctest: +SKIP
    """
    provider = DEFAULT_PROVIDERS.get(_state.DEFAULT_PROVIDER_KEY)
    if provider is None:
        with _state.lock:
            provider = DEFAULT_PROVIDERS.get(_state.DEFAULT_PROVIDER_KEY)
            if provider is None:
                # setdefault: a provider injected meanwhile by code that does not take this lock wins.
                provider = DEFAULT_PROVIDERS.setdefault(_state.DEFAULT_PROVIDER_KEY, STSProvider())
    if not isinstance(provider, STSProvider):
        # Checked on every call: the dict is Powertools', anyone may set the key after the first call.
        raise ConfigurationError(
            f'DEFAULT_PROVIDERS["{_state.DEFAULT_PROVIDER_KEY}"] must be an STSProvider for assume_role, '
            f"got {type(provider).__name__}"
        )
    result: Credentials = provider.get(role_arn, max_age=max_age, force_fetch=force_fetch, **assume_role_params)
    return result


def _hook_snap_start() -> None:
    """Under SnapStart, have the runtime empty every cache after a restore, once per process.

    A snapshot may be restored hours after it was taken and into many sandboxes at once: credentials
    fetched before it must never be served after. The managed Python runtimes ship
    ``snapshot_restore_py`` and call its after-restore hooks.
    """
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
    """Empty every cache this package keeps: credentials, sessions, clients and STS clients.

    Every provider, ``sts`` layer and session cache of the process forgets what it holds; a fetch still
    in flight is not stored when it lands; the next use builds STS clients anew (from the environment
    of that moment, an ``AWS_ENDPOINT_URL_STS`` included). Clients and sessions the caller passed in
    (``boto3_client``, ``boto3_session``) are the caller's, and kept.

    Example
    -------
    >>> from powertools_sts import clear_caches
    >>> clear_caches()
    """
    _state.reset()
