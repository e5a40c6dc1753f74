"""Refreshing boto3 sessions and the client cache behind ``get_session`` and ``get_client``.

A boto3 client is bound to credentials when it is created, and creating one costs milliseconds (a
session and a client about 50 ms, a client on a reused session about 3 ms). So each entry keeps its
sessions and clients for the life of the process, and their credentials refresh themselves through
botocore's ``RefreshableCredentials``, which asks the entry for credentials whenever the ones it holds
come near their end.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from . import _clock
from .provider import FLOOR_SECONDS, new_boto3_session, register_cache

if TYPE_CHECKING:
    import boto3

    from .credentials import Credentials

__all__ = ["Handles", "refreshing_session"]


def _now() -> datetime:
    return datetime.fromtimestamp(_clock.now(), timezone.utc)


def refreshing_session(
    source: Callable[[], Credentials], *, region_name: str | None = None, refresh_margin: float = 300
) -> boto3.session.Session:
    """Return a boto3 session whose credentials come from ``source`` and refresh themselves.

    ``source`` is called on first use and again once the credentials held have less than
    ``refresh_margin`` seconds left (botocore's advisory refresh: a failure keeps the old ones) or
    less than the floor (the mandatory refresh: a failure raises).

    Example
    -------
    >>> from powertools_sts import assume_role
    >>> session = refreshing_session(lambda: assume_role("arn:aws:iam::111122223333:role/r"))  # doctest: +SKIP
    >>> session.client("s3").list_buckets()  # doctest: +SKIP
    """
    from botocore.credentials import DeferredRefreshableCredentials

    def metadata() -> dict[str, Any]:
        creds = source()
        return {
            "access_key": creds.access_key_id,
            "secret_key": creds.secret_access_key,
            "token": creds.session_token,
            "expiry_time": creds.expiration.isoformat(),
        }

    credentials = DeferredRefreshableCredentials(metadata, "powertools-sts", time_fetcher=_now)
    # botocore's windows (15 and 10 minutes) would ask for new credentials long before the provider
    # has any, and with 15-minute credentials on every call; these instance attributes are the knobs
    # botocore's own create_from_metadata sets.
    credentials._advisory_refresh_timeout = int(refresh_margin)  # type: ignore[attr-defined]
    credentials._mandatory_refresh_timeout = int(FLOOR_SECONDS)  # type: ignore[attr-defined]
    session = new_boto3_session(region_name)
    # How botocore's own assume-role providers hand credentials to a session.
    session._session._credentials = credentials  # type: ignore[attr-defined]
    return session


_ALL: weakref.WeakSet[Handles] = weakref.WeakSet()


class Handles:
    """The sessions and clients of one entry, built on first use and kept.

    Parameters
    ----------
    source:
        Returns the entry's current credentials.
    refresh_margin:
        Passed to :func:`refreshing_session`.

    Example
    -------
    >>> handles = Handles(lambda: assume_role("arn:aws:iam::111122223333:role/r"))  # doctest: +SKIP
    >>> handles.client("s3") is handles.client("s3")  # doctest: +SKIP
    True
    """

    __slots__ = ("__weakref__", "_clients", "_lock", "_sessions", "refresh_margin", "source")

    def __init__(self, source: Callable[[], Credentials], refresh_margin: float = 300) -> None:
        self.source = source
        self.refresh_margin = refresh_margin
        self._sessions: dict[str | None, boto3.session.Session] = {}
        self._clients: dict[Any, Any] = {}
        # boto3 sessions are not thread-safe; clients are. Building is serialised, reading is not.
        self._lock = threading.Lock()
        _ALL.add(self)

    def session(self, region_name: str | None = None) -> boto3.session.Session:
        """Return the entry's refreshing session for ``region_name``, the same object every time."""
        session = self._sessions.get(region_name)
        if session is None:
            with self._lock:
                session = self._sessions.get(region_name)
                if session is None:
                    session = refreshing_session(
                        self.source, region_name=region_name, refresh_margin=self.refresh_margin
                    )
                    self._sessions[region_name] = session
        return session

    def client(self, service_name: str, **client_kwargs: Any) -> Any:
        """Return a client of ``service_name`` on the entry's session, the same object every time."""
        key: Any = (service_name, tuple(sorted(client_kwargs.items()))) if client_kwargs else service_name
        client = self._clients.get(key)
        if client is None:
            with self._lock:
                client = self._clients.get(key)
            if client is None:
                session = self.session()
                with self._lock:
                    client = self._clients.get(key)
                    if client is None:
                        client = session.client(service_name, **client_kwargs)  # type: ignore[call-overload]
                        self._clients[key] = client
        return client

    def clear(self) -> None:
        """Drop every session and client; the next call builds them anew."""
        with self._lock:
            self._sessions.clear()
            self._clients.clear()


def _clear_all() -> None:
    for handles in list(_ALL):
        handles.clear()


register_cache(_clear_all)
