"""Refreshing boto3 sessions and the per-entry cache of sessions and clients behind ``get_session``/``get_client``.

A client is bound to credentials when it is created, and creating one costs milliseconds: each entry
keeps sessions and clients, built as ``boto3.Session()`` builds them, that sign every request with
the entry's current credentials, and that heal (see :class:`_Healer`).
"""

from __future__ import annotations

import logging
import re
import threading
from collections import deque
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from botocore import UNSIGNED
from botocore.config import Config

from . import _botocore, _clock, _state
from .exceptions import AssumeRoleError, ConfigurationError

if TYPE_CHECKING:
    import boto3

    from .credentials import Credentials

__all__ = ["HEAL_BACKOFF_SECONDS", "REFUSED_CODES", "SessionCache", "value_key"]

logger = logging.getLogger("powertools_sts")

#: The codes with which AWS refuses the credentials a request was signed with (expired, revoked,
#: unknown), not what they may do: such a call is retried once with new credentials, and so is one
#: whose message says "Signature expired". AccessDenied and throttling never are.
REFUSED_CODES = frozenset({"ExpiredToken", "ExpiredTokenException", "InvalidClientTokenId", "RequestExpired"})
#: After new credentials were refused alike (a Region not enabled, a skewed clock), that refusal is
#: not healed again in that Region for this many seconds: new credentials cannot cure it.
HEAL_BACKOFF_SECONDS = 300.0
# Not credential refusals, whatever their message says: new credentials would be refused alike.
_NEVER_HEALED = frozenset({"AccessDenied", "AccessDeniedException"})
# Keys of botocore's per-call request context, which every attempt of one call shares.
_SIGNED_WITH, _HEALED = "powertools_sts_signed_with", "powertools_sts_healed"
# The access key id in a SigV4 or SigV4a Authorization header: "... Credential=ASIA.../20300101/...".
_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/")
_PLAIN = frozenset({str, bool, int, float, bytes, type(None)})


def value_key(value: Any, what: str) -> Any:
    """Return a hashable key that stands for ``value`` by what it holds, not by which object it is.

    ``Config(retries=...)`` written inline in a handler is a new object at every invocation: keyed
    by identity, it would build and keep a client per invocation. Plain values, lists, tuples and
    mappings of them, and ``Config`` objects (by the options they were given) have a value.

    Raises
    ------
    ConfigurationError
        For a value that has no stable value, naming ``what``.

    Example
    -------
    >>> value_key(Config(retries={"max_attempts": 2}), "config") == value_key(Config(retries={"max_attempts": 2}), "config")
    True
    """
    # Exact types first: an isinstance check against an ABC costs more than the rest of the lookup.
    kind = type(value)
    if kind in _PLAIN or value is UNSIGNED:  # UNSIGNED: a singleton, Config(signature_version=UNSIGNED)
        return value
    if kind is Config or isinstance(value, Config):
        return (kind, _mapping_key(_botocore.given_options(value), what))
    if kind is dict or isinstance(value, Mapping):
        return _mapping_key(value, what)
    if kind is list or kind is tuple:
        return (kind, *[value_key(item, what) for item in value])
    article = "an" if kind.__name__[:1].lower() in "aeiou" else "a"
    raise ConfigurationError(
        f"{what}: {article} {kind.__name__} has no stable value to cache a client by; pass plain values "
        "(strings, numbers, lists, dicts) or a botocore Config"
    )


def _mapping_key(value: Mapping[Any, Any], what: str) -> Any:
    items = [
        (key if type(key) is str else str(key), item if type(item) in _PLAIN else value_key(item, what))
        for key, item in value.items()
    ]
    items.sort()  # keys are distinct, so the sort never compares the values
    return (dict, *items)


def _refusal(response: Any) -> str | None:
    """Return the code of an answer that refuses the credentials it was signed with, else None."""
    error = response[1].get("Error") if response is not None and isinstance(response[1], dict) else None
    if not isinstance(error, dict):
        return None
    code = error.get("Code")
    expired = code not in _NEVER_HEALED and "Signature expired" in str(error.get("Message"))
    return str(code) if code in REFUSED_CODES or expired else None


class _Healer:
    """Retries a call once when AWS refuses the entry's credentials it was signed with.

    Two handlers on a session's event emitter, which its clients copy. :meth:`signed` records in the
    call's context the access key id each attempt was signed with. :meth:`needs_retry`, for a refusal
    of credentials the entry handed out (not a client's own keys), has the entry drop them unless a
    refresh replaced them already, fetches (one AssumeRole for any number of refused callers) and
    answers 0: botocore sends the call again, signed anew. A second refusal is raised as botocore
    raised it, and not healed again in that Region for :data:`HEAL_BACKOFF_SECONDS`.

    Example
    -------
    >>> from datetime import datetime, timezone
    >>> from powertools_sts import Credentials
    >>> creds = Credentials("ASIANEW", "secret", "token", datetime(2030, 1, 1, tzinfo=timezone.utc))
    >>> healer = _Healer(lambda: creds, lambda access_key_id: None, None); healer.handed_out.append("ASIAOLD")
    >>> refused = ({}, {"Error": {"Code": "ExpiredToken", "Message": "The token has expired"}})
    >>> healer.needs_retry(response=refused, request_dict={"context": {_SIGNED_WITH: "ASIAOLD"}})
    0
    """

    __slots__ = ("futile", "handed_out", "healed_to", "invalidate", "retried", "source")

    def __init__(
        self,
        source: Callable[[], Credentials],
        invalidate: Callable[[str], None],
        retried: Callable[[], None] | None,
    ) -> None:
        self.source, self.invalidate, self.retried = source, invalidate, retried
        # The access key ids the entry's sessions signed with lately: only their refusals are healed.
        self.handed_out: deque[str] = deque(maxlen=16)
        # (Region, code) of refusals that new credentials did not cure, to when they may be healed again.
        self.futile: dict[tuple[Any, str], float] = {}
        # (Region, code) to the key id its last heal got, until the healed call goes through: a call
        # refused with it meanwhile, on any thread, is a heal that did not help.
        self.healed_to: dict[tuple[Any, str], str] = {}

    def signed(self, request: Any = None, **kwargs: Any) -> None:
        """Record the access key id the attempt was signed with (``request-created``, after the signer)."""
        # What went over the wire, not what the credentials hold now (a refresh on another thread).
        header = request.headers.get("Authorization")
        header = header.decode("ascii", "replace") if isinstance(header, bytes) else header
        match = _CREDENTIAL.search(header) if isinstance(header, str) else None
        request.context[_SIGNED_WITH] = match.group(1) if match else None

    def needs_retry(self, response: Any = None, request_dict: Any = None, **kwargs: Any) -> int | None:
        """Return 0 (retry now) for a call refused for the entry's credentials and healed; None (no opinion) else."""
        context: dict[str, Any] = (request_dict or {}).get("context") or {}
        code, refused = _refusal(response), context.get(_SIGNED_WITH)
        region, first = context.get("client_region"), context.get(_HEALED)
        if code is None:
            if first is not None and response is not None:
                self.healed_to.pop((region, first), None)  # the healed call went through: its credentials work
            return None
        if refused is None or refused not in self.handed_out:
            return None  # unsigned, or signed with keys that are not the entry's
        now = _clock.now()
        if first is not None or self.healed_to.get((region, code)) == refused:
            # Refused again with the credentials a heal got (this call's, or another's still on trial):
            # new credentials do not cure this refusal.
            for refusal in {first or code, code}:
                self.futile[(region, refusal)] = now + HEAL_BACKOFF_SECONDS
                self.healed_to.pop((region, refusal), None)  # the trial is over: after the back-off, heal anew
            return None
        if self.futile.get((region, code), 0.0) > now:
            return None
        context[_HEALED] = code
        return self._heal(refused, code, region)

    def _heal(self, refused: str, code: str, region: Any) -> int | None:
        try:
            # Only the refused credentials: a replacement a concurrent refresh made serves, no AssumeRole.
            self.invalidate(refused)
            current = self.source()
        except AssumeRoleError as exc:
            # No new credentials to retry with: the caller gets the refusal, the next call the error.
            logger.warning("AWS refused a call's credentials (%s) and new ones could not be had: %s", code, exc)
            return None
        if current.access_key_id == refused:
            return None  # the entry hands out the refused credentials still: a retry would be refused too
        self.healed_to[(region, code)] = current.access_key_id
        logger.info("AWS refused a call's credentials (%s); retrying it once with new ones", code)
        if self.retried is not None:
            try:
                self.retried()
            except Exception:  # an observer's bug must not fail the call
                logger.exception("An observer of a retried call failed")
        return 0


class SessionCache:
    """The sessions and clients of one entry, built on first use and kept until a reset or a fork.

    Clients are keyed by the value of their arguments (:func:`value_key`). Given ``invalidate``, the
    sessions and their clients heal (:class:`_Healer`).

    Parameters
    ----------
    source:
        Returns the entry's current credentials.
    invalidate:
        Given a refused access key id, has the entry drop it unless replaced already. None: no healing.
    retried:
        Called once per healing retry (the entry's observers count them).
    default_region:
        The Region when none is asked for (``sts``'s ``boto3_session``'s); None: botocore's resolution.
    guard:
        A ``before-sign`` handler on every session (a tenant's refuses another tenant's invocation).

    Example
    -------
    >>> cache = SessionCache(lambda: assume_role("arn:aws:iam::111122223333:role/r"))  # doctest: +SKIP
    >>> cache.client("s3") is cache.client("s3", config=None)  # doctest: +SKIP
    True
    """

    __slots__ = ("__weakref__", "_clients", "_guard", "_healer", "_lock", "_sessions", "default_region", "source")

    def __init__(
        self,
        source: Callable[[], Credentials],
        *,
        invalidate: Callable[[str], None] | None = None,
        retried: Callable[[], None] | None = None,
        default_region: str | None = None,
        guard: Callable[..., None] | None = None,
    ) -> None:
        self.source = source
        self.default_region = default_region
        self._guard = guard
        self._healer = _Healer(source, invalidate, retried) if invalidate is not None else None
        self._sessions: dict[str | None, boto3.session.Session] = {}
        self._clients: dict[Any, Any] = {}
        # boto3 sessions are not thread-safe; clients are. Building is serialised, reading is not.
        self._lock = threading.Lock()
        _state.register(self)

    def session(self, region_name: str | None = None) -> boto3.session.Session:
        """Return the entry's refreshing session for ``region_name``, the same object every time."""
        region_name = region_name or self.default_region
        session = self._sessions.get(region_name)
        if session is None:
            with self._lock:
                session = self._sessions.get(region_name)
                if session is None:
                    session = self._sessions[region_name] = self._build(region_name)
        return session

    def _build(self, region_name: str | None) -> boto3.session.Session:
        import boto3
        import botocore.session

        healer, core = self._healer, botocore.session.get_session()  # the core boto3.Session() would create
        _botocore.use_credentials(core, self.source, None if healer is None else healer.handed_out.append)
        session = boto3.session.Session(botocore_session=core, region_name=region_name)
        if self._guard is not None:  # a tenant's: refuses to sign inside another tenant's invocation
            session.events.register("before-sign", self._guard, unique_id="powertools-sts-tenant")
        if healer is not None:
            # Generic and last: the signer's own "request-created.<service>" has run, the signature is there.
            session.events.register_last("request-created", healer.signed, unique_id="powertools-sts-signed-with")
            # The stubs type handlers as returning None; botocore reads a needs-retry handler's answer.
            session.events.register("needs-retry", healer.needs_retry, unique_id="powertools-sts-heal")  # type: ignore[arg-type]
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
                    client = self._clients[key] = session.client(service_name, **client_kwargs)  # type: ignore[call-overload]
        return client

    def _reset(self) -> None:
        """Drop every session and client; the next call builds them anew."""
        with self._lock:
            self._sessions, self._clients = {}, {}

    def _after_fork(self) -> None:
        """In a forked child: a new lock, and no session or client whose sockets belong to the parent."""
        self._lock = threading.Lock()
        self._reset()
