"""Refreshing boto3 sessions and the per-entry cache of sessions and clients behind ``get_session``/``get_client``.

A boto3 client is bound to credentials when it is created, and creating one costs milliseconds (a
session and a client about 50 ms, a client on a reused session about 3 ms). So each entry keeps its
sessions and clients, and their credentials refresh themselves through botocore's refreshable
credentials, which take over the entry's credentials whenever they change.

The sessions of an entry also heal: a call whose credentials AWS refuses (revoked, expired early) is
retried once with new ones, through two handlers on the session's botocore event emitter, which every
client made from the session copies (see :class:`_Healer`).
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from botocore import UNSIGNED
from botocore.config import Config
from botocore.credentials import DeferredRefreshableCredentials, ReadOnlyCredentials

from . import _clock, _state
from .exceptions import AssumeRoleError, ConfigurationError

if TYPE_CHECKING:
    import boto3

    from .credentials import Credentials

__all__ = [
    "REFUSED_CODES",
    "SessionCache",
    "new_boto3_session",
    "new_botocore_session",
    "refreshing_session",
    "value_key",
]

logger = logging.getLogger("powertools_sts")

#: The error codes with which AWS refuses the credentials a request was signed with (an expired or
#: revoked session, a key it no longer knows), as opposed to what those credentials may do: a call
#: refused with one of these is retried once with new credentials. So is one whose message says
#: "Signature expired". AccessDenied and throttling never are.
REFUSED_CODES = frozenset({"ExpiredToken", "ExpiredTokenException", "InvalidClientTokenId", "RequestExpired"})
# Not credential refusals, whatever their message says: new credentials would be refused alike.
_NEVER_HEALED = frozenset({"AccessDenied", "AccessDeniedException"})
# Keys of botocore's per-call request context, which every attempt of one call shares.
_SIGNED_WITH = "powertools_sts_signed_with"
_HEALED = "powertools_sts_healed"
# The access key id in a SigV4 or SigV4a Authorization header: "... Credential=ASIA.../20300101/...".
_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/")


def new_boto3_session(region_name: str | None = None) -> boto3.session.Session:
    """Return a new boto3 session that shares botocore's data loader with the others this package made.

    See :func:`powertools_sts._state.botocore_loader` for why the loader is shared.

    Example
    -------
    >>> new_boto3_session("eu-west-1").region_name
    'eu-west-1'
    """
    import boto3

    return boto3.session.Session(botocore_session=new_botocore_session(), region_name=region_name)


def new_botocore_session() -> Any:
    """Return a new botocore session on the shared data loader: what the STS client is built from.

    No boto3 session around it: boto3's adds resource handlers and data paths an STS client never
    uses, about 6 ms of cold start.

    Example
    -------
    >>> new_botocore_session().create_client("sts", region_name="eu-west-1").meta.region_name
    'eu-west-1'
    """
    import botocore.session

    core = botocore.session.get_session()
    core.register_component("data_loader", _state.botocore_loader())
    return core


def _now() -> datetime:
    return datetime.fromtimestamp(_clock.now(), timezone.utc)


def refreshing_session(source: Callable[[], Credentials], *, region_name: str | None = None) -> boto3.session.Session:
    """Return a boto3 session whose credentials are always the current ones of ``source``.

    ``source`` (an entry's ``credentials``, or any function returning :class:`Credentials`) is asked
    before each request is signed; while it hands out the same credentials nothing else happens, and
    when it hands out new ones (a refresh, a ``max_age``, a restore that emptied the caches) botocore's
    refreshable credentials take them over. So a session or client kept for the life of the process
    signs with what the cache says now, never with what it said when the session was built.

    Example
    -------
    >>> from powertools_sts import assume_role
    >>> session = refreshing_session(lambda: assume_role("arn:aws:iam::111122223333:role/r"))  # doctest: +SKIP
    >>> session.client("s3").list_buckets()  # doctest: +SKIP
    """
    session = new_boto3_session(region_name)
    # How botocore's own assume-role providers hand credentials to a session.
    session._session._credentials = _FollowingCredentials(source)  # type: ignore[attr-defined]
    return session


class _FollowingCredentials(DeferredRefreshableCredentials):
    """botocore refreshable credentials that sign with their source's current credentials, and only those.

    botocore's own rule, refresh within 15 (advisory) or 10 (mandatory) minutes of expiry, knows
    nothing of the entry's margin, ``max_age`` or a cleared cache; the source does, so it decides.

    Nor is botocore's refresh policy what keeps a request from being signed with credentials at or
    past the entry's 60 s floor: today a failed mandatory refresh raises, but botocore's coming
    "static stability" keeps the cached credentials after a failed refresh and backs off for minutes
    instead. So what the signer reads (:meth:`get_frozen_credentials`, and the ``access_key``,
    ``secret_key`` and ``token`` properties, which read it) asks the source first: the source raises
    ``AssumeRoleError`` when it has no usable credentials, and whatever botocore kept, only the
    source's current credentials are handed out.

    Example
    -------
    >>> from powertools_sts import Credentials
    >>> from datetime import datetime, timedelta, timezone
    >>> creds = Credentials("ASIAEXAMPLE", "secret", "token", datetime.now(timezone.utc) + timedelta(hours=1))
    >>> _FollowingCredentials(lambda: creds).get_frozen_credentials().access_key
    'ASIAEXAMPLE'
    """

    def __init__(self, source: Callable[[], Credentials]) -> None:
        self._source = source
        super().__init__(self._metadata, "powertools-sts", time_fetcher=_now)

    def _metadata(self) -> dict[str, Any]:
        creds = self._source()
        return {
            "access_key": creds.access_key_id,
            "secret_key": creds.secret_access_key,
            "token": creds.session_token,
            "expiry_time": creds.expiration.isoformat(),
        }

    def refresh_needed(self, refresh_in: int | None = None) -> bool:
        # Compared with the frozen credentials, which botocore publishes in one assignment at the end
        # of a refresh: anything set earlier would tell a concurrent reader "no refresh needed" while
        # the frozen ones are still the old (or, on first use, no) credentials.
        frozen = self._frozen_credentials  # type: ignore[attr-defined]  # botocore keeps it there
        return frozen is None or frozen.access_key != self._source().access_key_id

    def get_frozen_credentials(self) -> ReadOnlyCredentials:
        """Return the source's current credentials, as botocore's signer reads them before each request.

        Raises
        ------
        AssumeRoleError
            When the source has no usable credentials (past the floor, STS failing), whatever
            credentials botocore still holds.
        """
        # The source first, and its answer decides; while fresh, it is a clock read (the entry's own
        # cache), and the frozen credentials it matches are what botocore's refresh would return too.
        current = self._source()
        frozen: ReadOnlyCredentials | None = self._frozen_credentials  # type: ignore[attr-defined]
        if frozen is not None and frozen.access_key == current.access_key_id:
            return frozen
        # New credentials: botocore takes them over (its lock, its published frozen credentials).
        frozen = super().get_frozen_credentials()
        if frozen is not None and frozen.access_key == current.access_key_id:
            return frozen
        # botocore kept others (a failed refresh it swallowed, a back-off): not those, the source's.
        return ReadOnlyCredentials(current.access_key_id, current.secret_access_key, current.session_token)

    # botocore's properties refresh by botocore's rules and then read its attributes: read the frozen
    # credentials above instead. The setters are how botocore stores a refresh. The stubs type the
    # frozen fields str | None; these, the source's, are always str.
    @property
    def access_key(self) -> str:
        """The access key id of :meth:`get_frozen_credentials`."""
        return self.get_frozen_credentials().access_key  # type: ignore[return-value]

    @access_key.setter
    def access_key(self, value: str | None) -> None:
        self._access_key = value

    @property
    def secret_key(self) -> str:
        """The secret access key of :meth:`get_frozen_credentials`."""
        return self.get_frozen_credentials().secret_key  # type: ignore[return-value]

    @secret_key.setter
    def secret_key(self, value: str | None) -> None:
        self._secret_key = value

    @property
    def token(self) -> str:
        """The session token of :meth:`get_frozen_credentials`."""
        return self.get_frozen_credentials().token  # type: ignore[return-value]

    @token.setter
    def token(self, value: str | None) -> None:
        self._token = value


_PLAIN = frozenset({str, bool, int, float, bytes, type(None)})


def value_key(value: Any, what: str) -> Any:
    """Return a hashable key that stands for ``value`` by what it holds, not by which object it is.

    Keys of cached clients and shared providers: ``Config(retries={"max_attempts": 2})`` written
    inline in a handler is a new object at every invocation, and caching by identity would build and
    keep a client per invocation. Plain values, lists, tuples and mappings of them, and botocore
    ``Config`` objects (by the options they were given) have a value; anything else is refused
    rather than cached by identity.

    Raises
    ------
    ConfigurationError
        For a value that has no stable value, naming ``what``.

    Example
    -------
    >>> value_key(Config(retries={"max_attempts": 2}), "config") == value_key(Config(retries={"max_attempts": 2}), "config")
    True
    """
    # Exact types first: this runs at every get_client call with keyword arguments, and an isinstance
    # check against an ABC (Mapping) costs more than the rest of the lookup.
    kind = type(value)
    if kind in _PLAIN or value is UNSIGNED:  # UNSIGNED: a singleton, Config(signature_version=UNSIGNED)
        return value
    if kind is Config or isinstance(value, Config):
        # The options the caller gave (botocore keeps them there); the defaults are every Config's.
        given = getattr(value, "_user_provided_options", None)
        if type(given) is dict:
            return (kind, _mapping_key(given, what))
    elif kind is dict or isinstance(value, Mapping):
        return _mapping_key(value, what)
    elif kind is list or kind is tuple:
        return (kind, *[value_key(item, what) for item in value])
    raise ConfigurationError(
        f"{what}: a {kind.__name__} has no stable value to cache a client by; pass plain values "
        "(strings, numbers, lists, dicts) or a botocore Config"
    )


def _mapping_key(value: Mapping[Any, Any], what: str) -> Any:
    items = [
        (key if type(key) is str else str(key), item if type(item) in _PLAIN else value_key(item, what))
        for key, item in value.items()
    ]
    items.sort()  # keys are distinct, so the sort never compares the values
    return (dict, *items)


class _Healer:
    """Retries a call once when AWS refuses the entry's credentials it was signed with.

    Two botocore handlers, registered on a session's event emitter (every client made from the
    session copies them). :meth:`signed` runs after the signer and records, in the call's request
    context, the access key id the attempt was signed with. :meth:`needs_retry` runs when an attempt
    is answered: for a refusal (:data:`REFUSED_CODES`, "Signature expired") it has the entry drop those
    credentials unless a refresh already replaced them, asks the entry for its current ones (one
    AssumeRole for any number of refused callers: the entry's single-flight fetch), and answers 0
    seconds, which has botocore send the call again, signed anew. The context marks the call healed,
    so a second refusal is raised as botocore raised it. botocore's own retry handler is registered for
    the service and so runs first; its decisions on other errors stand, since this one answers None
    for everything else.

    Example
    -------
    >>> from datetime import datetime, timedelta, timezone
    >>> from powertools_sts import Credentials
    >>> creds = Credentials("ASIANEW", "secret", "token", datetime.now(timezone.utc) + timedelta(hours=1))
    >>> healer = _Healer(lambda: creds, lambda access_key_id: None, lambda: None)
    >>> refused = ({}, {"Error": {"Code": "ExpiredToken", "Message": "The token has expired"}})
    >>> healer.needs_retry(response=refused, request_dict={"context": {_SIGNED_WITH: "ASIAOLD"}})
    0
    """

    __slots__ = ("invalidate", "retried", "source")

    def __init__(
        self,
        source: Callable[[], Credentials],
        invalidate: Callable[[str], None],
        retried: Callable[[], None] | None,
    ) -> None:
        self.source = source
        self.invalidate = invalidate
        self.retried = retried

    def signed(self, request: Any = None, **kwargs: Any) -> None:
        """Record the access key id the attempt was signed with (``request-created``, after the signer)."""
        context = getattr(request, "context", None)
        if context is None:
            return
        # What went over the wire, not what the credentials hold now: a refresh on another thread may
        # change them between the signature and this line.
        header = request.headers.get("Authorization")
        if isinstance(header, bytes):
            header = header.decode("ascii", "replace")
        match = _CREDENTIAL.search(header) if isinstance(header, str) else None
        # Every attempt signs anew and overwrites: the refusal of the last attempt is what is judged.
        context[_SIGNED_WITH] = match.group(1) if match else None

    def needs_retry(self, response: Any = None, request_dict: Any = None, **kwargs: Any) -> int | None:
        """Return 0 (retry now) for a call refused for its credentials and healed; None (no opinion) else."""
        context = request_dict.get("context") if isinstance(request_dict, dict) else None
        if response is None or context is None or context.get(_HEALED):
            return None  # no answer (botocore's business), or healed once already
        error = response[1].get("Error") if isinstance(response[1], dict) else None
        if not isinstance(error, dict):
            return None
        code, message = error.get("Code"), error.get("Message") or ""
        if code not in REFUSED_CODES and (code in _NEVER_HEALED or "Signature expired" not in str(message)):
            return None
        refused = context.get(_SIGNED_WITH)
        if refused is None:
            return None  # unsigned, or a signature this package cannot read: not the entry's credentials
        context[_HEALED] = True
        try:
            # Only the refused credentials are dropped: if a concurrent refresh already replaced them,
            # the replacement serves, and no second AssumeRole is made.
            self.invalidate(refused)
            current = self.source()
        except AssumeRoleError as exc:
            # No new credentials to retry with: the caller gets the refusal, the next call the error.
            logger.warning("AWS refused a call's credentials (%s) and new ones could not be had: %s", code, exc)
            return None
        if current.access_key_id == refused:
            return None  # the entry hands out the refused credentials still: a retry would be refused too
        logger.info("AWS refused a call's credentials (%s); retrying it once with new ones", code)
        if self.retried is not None:
            try:
                self.retried()
            except Exception:  # an observer's bug must not fail the call
                logger.exception("An observer of a retried call failed")
        return 0


def _heal(session: boto3.session.Session, healer: _Healer) -> None:
    """Register ``healer``'s handlers on ``session``'s event emitter, which its clients copy when built."""
    events = session.events
    # On the generic event, and last: botocore emits a service's own handlers (the signer's
    # "request-created.<service>") before the generic ones, so the signature is there to read.
    events.register_last("request-created", healer.signed, unique_id="powertools-sts-signed-with")
    # The stubs type handlers as returning None; botocore reads a needs-retry handler's answer.
    events.register("needs-retry", healer.needs_retry, unique_id="powertools-sts-heal")  # type: ignore[arg-type]


class SessionCache:
    """The sessions and clients of one entry, built on first use and kept until a reset or a fork.

    Clients are keyed by the value of their arguments (see :func:`value_key`), so an inline
    ``Config`` reuses the client its equal built before. Given ``invalidate``, the sessions, and every
    client made from them, heal: a call whose credentials AWS refuses is retried once with new ones
    (see :class:`_Healer`).

    Parameters
    ----------
    source:
        Returns the entry's current credentials.
    invalidate:
        Given the access key id of refused credentials, makes the entry drop them, unless it already
        replaced them; the next ``source()`` then fetches. None: calls do not heal.
    retried:
        Called once per healing retry (the entry's observers count them).

    Example
    -------
    >>> cache = SessionCache(lambda: assume_role("arn:aws:iam::111122223333:role/r"))  # doctest: +SKIP
    >>> cache.client("s3") is cache.client("s3", config=None)  # doctest: +SKIP
    True
    """

    __slots__ = ("__weakref__", "_clients", "_healer", "_lock", "_sessions", "source")

    def __init__(
        self,
        source: Callable[[], Credentials],
        *,
        invalidate: Callable[[str], None] | None = None,
        retried: Callable[[], None] | None = None,
    ) -> None:
        self.source = source
        self._healer = _Healer(source, invalidate, retried) if invalidate is not None else None
        self._sessions: dict[str | None, boto3.session.Session] = {}
        self._clients: dict[Any, Any] = {}
        # boto3 sessions are not thread-safe; clients are. Building is serialised, reading is not.
        self._lock = threading.Lock()
        _state.register(self)

    def session(self, region_name: str | None = None) -> boto3.session.Session:
        """Return the entry's refreshing session for ``region_name``, the same object every time."""
        session = self._sessions.get(region_name)
        if session is None:
            with self._lock:
                session = self._sessions.get(region_name)
                if session is None:
                    session = refreshing_session(self.source, region_name=region_name)
                    if self._healer is not None:
                        _heal(session, self._healer)
                    self._sessions[region_name] = session
        return session

    def client(self, service_name: str, **client_kwargs: Any) -> Any:
        """Return a client of ``service_name`` on the entry's session, the same object for equal arguments.

        Raises
        ------
        ConfigurationError
            For an argument with no stable value (see :func:`value_key`).
        """
        key: Any = service_name
        if client_kwargs:
            key = (service_name, *[(name, value_key(client_kwargs[name], name)) for name in sorted(client_kwargs)])
        client = self._clients.get(key)
        if client is None:
            session = self.session()
            with self._lock:
                client = self._clients.get(key)
                if client is None:
                    client = session.client(service_name, **client_kwargs)  # type: ignore[call-overload]
                    self._clients[key] = client
        return client

    def _reset(self) -> None:
        """Drop every session and client; the next call builds them anew."""
        with self._lock:
            self._sessions = {}
            self._clients = {}

    def _after_fork(self) -> None:
        """In a forked child: a new lock, and no session or client whose sockets belong to the parent."""
        self._lock = threading.Lock()
        self._sessions = {}
        self._clients = {}
