"""STSProvider: AssumeRole behind an expiry-aware cache.

Why not Powertools' own cache: ``BaseProvider.get`` keys entries by name only (two RoleSessionNames
or ExternalIds would share credentials), expires them on a naive local clock with a fixed ``max_age``
that knows nothing of ``Expiration``, and throws away still-valid credentials when a refresh fails.
So this provider keeps the Powertools shape (``get``, ``_get``, ``clear_cache``, ``boto3_session`` /
``boto3_client`` / ``boto_config``) and owns the cache.

An entry's life, for credentials expiring at ``E`` with an effective margin ``m``::

    fetched ---- fresh ---- E-m ---- refresh window ---- E-60 ---- floor ---- E
                 served from cache   one caller refreshes;        never served;
                                     on failure the old ones      a caller waits for
                                     serve, with a back-off       a fetch or gets an error
"""

from __future__ import annotations

import itertools
import logging
import os
import random
import re
import secrets
import threading
import weakref
from collections.abc import Callable
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.parameters.base import BaseProvider

from . import _clock, redaction
from .credentials import Credentials
from .exceptions import AssumeRoleError, ConfigurationError
from .validation import cache_key_of, validate_assume_role_params, validate_max_age, validate_refresh_margin

if TYPE_CHECKING:
    import boto3
    from botocore.config import Config
    from mypy_boto3_sts import STSClient

__all__ = [
    "BACKOFF_SECONDS",
    "FLOOR_SECONDS",
    "JITTER_FRACTION",
    "STSProvider",
    "assume_role",
    "clear_caches",
    "default_role_session_name",
    "new_boto3_session",
]

logger = logging.getLogger("powertools_sts")
# Before any STS call can be logged: botocore logs response bodies, secrets included, at DEBUG.
redaction.install()

#: Credentials with less than this many seconds left are never handed out.
FLOOR_SECONDS = 60.0
#: After a failed refresh inside the refresh window, no new attempt for this many seconds.
BACKOFF_SECONDS = 5.0
#: Each entry's margin is raised by a random 0..25% of ``refresh_margin``, so that containers
#: started together do not refresh in the same second (300 s spreads refreshes over 75 s).
JITTER_FRACTION = 0.25

# Key of an entry: (namespace, identity, canonical parameters). The namespace is the decorator's
# cache_key (None for direct use); the identity says who signs the call (None: this provider's client).
Key = tuple[Any, ...]


class _Entry:
    """Credentials in the cache, with the times that decide how they may be served."""

    __slots__ = ("credentials", "expires_at", "fetched_at", "floor_at", "refresh_at", "retry_at", "sequence")

    def __init__(self, credentials: Credentials, fetched_at: float, margin: float, sequence: int = 0) -> None:
        self.credentials = credentials
        self.sequence = sequence
        self.fetched_at = fetched_at
        self.expires_at = credentials.expiration.timestamp()
        lifetime = self.expires_at - fetched_at
        # Never more than half the lifetime (botocore's 15-minute window makes 900 s credentials
        # expire on arrival), never less than the floor (fresh must end before the floor).
        self.refresh_at = self.expires_at - max(min(margin, lifetime / 2), FLOOR_SECONDS)
        self.floor_at = self.expires_at - FLOOR_SECONDS
        self.retry_at = 0.0

    def fresh_until(self, max_age: float | None) -> float:
        if max_age is None:
            return self.refresh_at
        return min(self.refresh_at, self.fetched_at + max_age)


class _Flight:
    """One AssumeRole in flight for an entry; callers who need its outcome wait on it."""

    __slots__ = ("backed_off", "background", "credentials", "done", "error", "sequence")

    def __init__(self, background: bool = False) -> None:
        self.background = background
        self.sequence = 0
        self.backed_off = False
        self.done = threading.Event()
        self.credentials: Credentials | None = None
        self.error: AssumeRoleError | None = None


_PROVIDERS: weakref.WeakSet[STSProvider] = weakref.WeakSet()
_CLEARERS: list[Callable[[], None]] = []
_SESSION_SUFFIX: list[str] = []


def default_role_session_name() -> str:
    """Return this process's default RoleSessionName.

    CloudTrail records the session name, so it says which function assumed the role: the sanitised
    ``AWS_LAMBDA_FUNCTION_NAME`` plus a random suffix drawn once per process (stable across
    refreshes), or ``powertools-sts-<suffix>`` outside Lambda. Always 2-64 characters.

    Example
    -------
    >>> import os
    >>> os.environ["AWS_LAMBDA_FUNCTION_NAME"] = "orders"
    >>> default_role_session_name().startswith("orders-")
    True
    >>> del os.environ["AWS_LAMBDA_FUNCTION_NAME"]
    """
    if not _SESSION_SUFFIX:
        _SESSION_SUFFIX.append(secrets.token_hex(4))
    function = re.sub(r"[^\w+=,.@-]", "-", os.environ.get("AWS_LAMBDA_FUNCTION_NAME", ""), flags=re.ASCII)
    return f"{function[:55] or 'powertools-sts'}-{_SESSION_SUFFIX[0]}"


class STSProvider(BaseProvider):
    """Temporary credentials of IAM roles through STS AssumeRole, with an expiry-aware cache.

    A Powertools parameter provider: ``get`` returns cached credentials while they are fresh, and
    never credentials with less than ``FLOOR_SECONDS`` left. The STS client is built on the first
    fetch, not before.

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

    Raises
    ------
    ConfigurationError
        For a negative or non-numeric ``refresh_margin`` or a ``boto_config`` that is not a Config.

    Example
    -------
    >>> from powertools_sts import STSProvider
    >>> provider = STSProvider(refresh_margin=600)
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
    ) -> None:
        self.refresh_margin = validate_refresh_margin(refresh_margin)
        from botocore.config import Config as BotoConfig  # loaded already: Powertools' provider base imports boto3

        if boto_config is not None and not isinstance(boto_config, BotoConfig):
            raise ConfigurationError(f"boto_config must be a botocore.config.Config, got {type(boto_config).__name__}")
        self._boto3_session = boto3_session
        self._boto3_client = boto3_client
        self._boto_config = boto_config
        self._client: STSClient | None = boto3_client
        self._client_lock = threading.Lock()
        self._guard = threading.Lock()
        self._entries: dict[Key, _Entry] = {}
        self._flights: dict[Key, _Flight] = {}
        self._sequence = itertools.count(1)
        # Validating and keying the same parameters again on every get would cost more than the cache hit.
        self._validated: dict[Any, tuple[dict[str, Any], Key]] = {}
        # The client is built lazily, so Powertools' user-agent registration has nothing to tag yet.
        super().__init__()  # type: ignore[no-untyped-call]
        _PROVIDERS.add(self)
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
        return self.credentials_for(known[1], known[0], seconds, force_fetch)[0]

    def clear_cache(self) -> None:
        """Forget every cached credential of this provider (the STS client is kept).

        Example
        -------
        >>> STSProvider().clear_cache()
        """
        with self._guard:
            self._entries.clear()
        super().clear_cache()  # type: ignore[no-untyped-call]

    # -- the cache -----------------------------------------------------------------------------------

    def credentials_for(
        self,
        key: Key,
        params: dict[str, Any],
        max_age: float | None,
        force_fetch: bool = False,
        entry: str | None = None,
        background: bool = False,
    ) -> tuple[Credentials, float]:
        """Return credentials for already validated parameters, and the time until which they may be reused.

        The building block of ``get`` and of the ``sts`` decorator, which validates once when it is
        applied and keys entries by its own ``cache_key``. The second value is an epoch time: a caller
        may hand out the same credentials without asking again until then (``-inf`` with
        ``max_age=0``). ``background`` marks a fetch nobody waits for (a prefetch): a caller who joins
        it and sees it fail fetches once more for itself instead of inheriting the failure.

        Example
        -------
        >>> params = {"RoleArn": "arn:aws:iam::111122223333:role/r"}
        >>> creds, until = STSProvider().credentials_for((None, None, cache_key_of(params)), params, None)  # doctest: +SKIP
        """
        if not force_fetch and max_age != 0:
            cached = self._entries.get(key)
            if cached is not None:
                until = cached.fresh_until(max_age)
                if _clock.now() < until:
                    return cached.credentials, until
        return self._refresh(key, params, max_age, force_fetch, entry, background)

    def _refresh(
        self,
        key: Key,
        params: dict[str, Any],
        max_age: float | None,
        force_fetch: bool,
        entry: str | None,
        background: bool,
    ) -> tuple[Credentials, float]:
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
                flight = _Flight(background)
                if caching:
                    self._flights[key] = flight
        if owner:
            self._fly(key, params, max_age, flight, entry)
        elif not flight.done.wait(self._wait_timeout()) or (flight.error is not None and flight.background):
            # A fetch left in flight (a prefetch when the sandbox froze, say) is not waited on longer
            # than the client's own read timeout, and a failed prefetch is no caller's failure: this
            # caller fetches for itself.
            flight = _Flight()
            self._fly(key, params, max_age, flight, entry)
        if flight.credentials is not None:
            if not caching:
                return flight.credentials, float("-inf")
            stored = self._entries.get(key)
            # The stored entry is this fetch's, or a newer one that a concurrent fetch stored.
            if stored is not None and stored.sequence >= flight.sequence:
                return stored.credentials, stored.fresh_until(max_age)
            return flight.credentials, _clock.now()
        error = flight.error
        assert error is not None  # noqa: S101  # a finished flight holds credentials or an error
        with self._guard:
            now = _clock.now()
            stale = self._entries.get(key)
            if stale is not None and caching and not force_fetch and now < stale.floor_at:
                # Stale on error: a failed refresh never throws away credentials that still work.
                if flight.backed_off:
                    flight.backed_off = False  # one warning per failed attempt
                    logger.warning(
                        "Refreshing credentials of %s failed (%s); serving the cached ones, which expire in %.0f s",
                        params["RoleArn"],
                        error.code or type(error.__cause__).__name__,
                        stale.expires_at - now,
                    )
                return stale.credentials, min(stale.retry_at, stale.floor_at)
        raise error

    def _wait_timeout(self) -> float:
        config = getattr(self._client, "meta", None)
        read = getattr(getattr(config, "config", None), "read_timeout", None)
        return float(read) + 1.0 if isinstance(read, (int, float)) else 6.0

    def _fly(self, key: Key, params: dict[str, Any], max_age: float | None, flight: _Flight, entry: str | None) -> None:
        try:
            # Fetches are ordered by when they started, not by clock or expiry: a slower, older fetch
            # never replaces a newer one, and a clock stepped back does not keep a stale entry alive.
            flight.sequence = next(self._sequence)
            started = _clock.now()
            creds = self._fetch(params, entry)
            if max_age != 0:
                with self._guard:
                    stored = self._entries.get(key)
                    if stored is None or stored.sequence < flight.sequence:
                        margin = self.refresh_margin * (1 + JITTER_FRACTION * random.random())  # noqa: S311
                        self._entries[key] = _Entry(creds, started, margin, flight.sequence)
            flight.credentials = creds
        except AssumeRoleError as exc:
            flight.error = exc
        finally:
            with self._guard:
                if self._flights.get(key) is flight:
                    del self._flights[key]
                stale = self._entries.get(key) if flight.error is not None else None
                if stale is not None and _clock.now() < stale.floor_at:
                    # The back-off starts in the same critical section that lands the flight: a caller
                    # in between would otherwise see neither and start another AssumeRole.
                    stale.retry_at = _clock.now() + BACKOFF_SECONDS
                    flight.backed_off = True
            flight.done.set()

    # -- STS -----------------------------------------------------------------------------------------

    def _sts_client(self) -> STSClient:
        """Return the client that signs AssumeRole; built once, on first use."""
        if self._client is None:
            with self._client_lock:
                if self._client is None:
                    self._client = self._build_client(self._boto3_session)
        return self._client

    def _build_client(self, session: boto3.session.Session | None) -> STSClient:
        from botocore.config import Config

        # Fail in seconds, not at the function's timeout, when STS is out of reach (a VPC with no
        # route to the endpoint); Throttling and 5xx are retried by botocore's standard mode.
        config = Config(retries={"mode": "standard", "total_max_attempts": 3}, connect_timeout=2, read_timeout=5)
        if self._boto_config is not None:
            config = config.merge(self._boto_config)
        session = session or new_boto3_session()
        client: STSClient = session.client("sts", config=config)
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
        where = f"entry {entry!r} (role {role_arn})" if entry is not None else f"role {role_arn}"
        call = dict(params)
        call.setdefault("RoleSessionName", default_role_session_name())
        del call["RoleArn"]
        try:
            response = self._get(role_arn, **call)
        except AssumeRoleError:
            raise
        except Exception as exc:
            # botocore puts a body it cannot parse into the exception's message: a truncated AssumeRole
            # answer would carry the secret into this message, the chained cause and the traceback.
            redaction.mask_exception(exc)
            code = _error_code(exc)
            detail = f"{code}: {_error_message(exc)}" if code else f"{type(exc).__name__}: {exc}"
            raise AssumeRoleError(
                f"AssumeRole failed for {where}: {detail}", role_arn=role_arn, code=code, entry=entry
            ) from exc
        try:
            creds = _parse(response)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise AssumeRoleError(
                f"AssumeRole for {where} returned a response without usable Credentials ({type(exc).__name__})",
                role_arn=role_arn,
                entry=entry,
            ) from exc
        left = creds.expiration.timestamp() - _clock.now()
        if left <= FLOOR_SECONDS:
            raise AssumeRoleError(
                f"AssumeRole for {where} returned credentials that expire in {left:.0f} s, not more than the "
                f"{FLOOR_SECONDS:.0f} s floor (is the clock of this host wrong?)",
                role_arn=role_arn,
                entry=entry,
            )
        logger.debug("Assumed %s as %s, expiring at %s", where, creds.access_key_id, creds.expiration.isoformat())
        return creds


def _error_code(exc: BaseException) -> str | None:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        return str(code) if code else None
    return None


def _error_message(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    message = response.get("Error", {}).get("Message") if isinstance(response, dict) else None
    return str(message or exc)


def _parse(response: dict[str, Any]) -> Credentials:
    raw = response["Credentials"]
    expiration = raw["Expiration"]
    if not isinstance(expiration, datetime):
        raise TypeError("Expiration is not a datetime")
    # botocore answers with the host's local timezone; the cache compares aware UTC only.
    expiration = expiration.astimezone(timezone.utc) if expiration.tzinfo else expiration.replace(tzinfo=timezone.utc)
    for field in ("AccessKeyId", "SecretAccessKey", "SessionToken"):
        if not isinstance(raw[field], str) or not raw[field]:
            raise ValueError(f"{field} is empty")
    user = response.get("AssumedRoleUser")
    return Credentials(
        access_key_id=raw["AccessKeyId"],
        secret_access_key=raw["SecretAccessKey"],
        session_token=raw["SessionToken"],
        expiration=expiration,
        assumed_role_arn=user.get("Arn") if isinstance(user, dict) else None,
    )


_LOADER: list[Any] = []
_LOADER_LOCK = threading.Lock()


def new_boto3_session(region_name: str | None = None) -> boto3.session.Session:
    """Return a new boto3 session that shares botocore's data loader with the others this package made.

    A new botocore session re-reads and re-parses the service models and endpoint rules (about 100 ms
    for the first client); sharing the loader, which only reads packaged JSON and caches it, makes
    each further session's first client about four times cheaper at cold start.

    Example
    -------
    >>> new_boto3_session("eu-west-1").region_name  # doctest: +SKIP
    'eu-west-1'
    """
    import boto3
    import botocore.session

    core = botocore.session.get_session()
    with _LOADER_LOCK:
        if _LOADER:
            core.register_component("data_loader", _LOADER[0])
        else:
            _LOADER.append(core.get_component("data_loader"))
    return boto3.session.Session(botocore_session=core, region_name=region_name)


_DEFAULT: list[STSProvider] = []
_DEFAULT_LOCK = threading.Lock()


def assume_role(
    role_arn: str, *, max_age: float | None = None, force_fetch: bool = False, **assume_role_params: Any
) -> Credentials:
    """Return credentials of ``role_arn`` through a default ``STSProvider``, built on first use.

    The counterpart of Powertools' ``get_parameter()``: the same options as ``STSProvider.get``.

    Example
    -------
    >>> from powertools_sts import assume_role
    >>> creds = assume_role("arn:aws:iam::111122223333:role/reports", DurationSeconds=900)  # doctest: +SKIP
    """
    if not _DEFAULT:
        with _DEFAULT_LOCK:
            if not _DEFAULT:
                _DEFAULT.append(STSProvider())
    return _DEFAULT[0].get(role_arn, max_age=max_age, force_fetch=force_fetch, **assume_role_params)


def _hook_snap_start() -> None:
    """Under SnapStart, have the runtime empty every cache after a restore, once per process.

    A snapshot may be restored hours after it was taken and into many sandboxes at once: credentials
    fetched before it must never be served after. The managed Python runtimes ship
    ``snapshot_restore_py`` and call its after-restore hooks.
    """
    if _SNAP_HOOKED or os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE") != "snap-start":
        return
    _SNAP_HOOKED.append(True)
    try:
        from snapshot_restore_py import register_after_restore
    except ImportError:
        logger.warning("SnapStart without snapshot_restore_py: cached credentials cannot be cleared after a restore")
        return
    register_after_restore(clear_caches)


_SNAP_HOOKED: list[bool] = []


def register_cache(clear: Callable[[], None]) -> None:
    """Have :func:`clear_caches` call ``clear`` too (used by the modules above this one)."""
    _CLEARERS.append(clear)


def clear_caches() -> None:
    """Empty every cache this package keeps: every provider's entries, sessions and clients.

    Example
    -------
    >>> from powertools_sts import clear_caches
    >>> clear_caches()
    """
    for provider in list(_PROVIDERS):
        provider.clear_cache()
    _DEFAULT.clear()
    for clear in _CLEARERS:
        clear()
