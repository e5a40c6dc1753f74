"""The cache decisions of one provider: serve, join a fetch, fetch, store, evict, refresh ahead.

Why not Powertools' own cache: ``BaseProvider`` keys entries by name only (two ExternalIds would share
credentials), expires them on a naive local clock with a fixed ``max_age`` that knows nothing of
``Expiration``, and throws away still-valid credentials when a refresh fails. This cache keys by every
parameter, serves until the refresh window (:mod:`powertools_sts.freshness`), never hands out
credentials past the floor, lets one caller fetch while the others wait for it (single flight), and
keeps serving still-valid credentials when a refresh fails (stale on error). The STS call itself is
the provider's: this class is given it as ``fetch``.

Example
-------
>>> from datetime import datetime, timedelta, timezone
>>> from powertools_sts import Credentials
>>> creds = Credentials("ASIAEXAMPLE", "secret", "token", datetime.now(timezone.utc) + timedelta(hours=1))
>>> cache = CredentialCache(lambda key, params, entry, **options: (creds, 0.0, True), budget=lambda: 35.0)
>>> cache.get("key", {"RoleArn": "arn:aws:iam::111122223333:role/r"}, None)[0] is creds
True
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import random
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from . import _clock, background
from .answers import SCOPED, call_of
from .credentials import Credentials
from .exceptions import AssumeRoleError, SharedBackoffError, copy_error
from .freshness import BACKOFF_SECONDS, JITTER_FRACTION, CachedEntry, Flight

if TYPE_CHECKING:
    from .events import RefreshObserver

__all__ = ["CredentialCache"]

logger = logging.getLogger("powertools_sts")

_INF = float("inf")
# Entries past the floor are swept out at most this often (on the fetch path, never on a cache hit).
_SWEEP_SECONDS = 60.0
#: What the provider's fetch returns: the credentials, when they were fetched, whether STS was called.
Fetched = tuple[Credentials, float, bool]


class CredentialCache:
    """The expiry-aware cache of one provider.

    Parameters
    ----------
    fetch:
        ``fetch(key, params, entry, *, max_age, force_fetch, newer_than)``: the STS call (or another
        process's answer); raises ``AssumeRoleError``.
    budget:
        The longest one fetch can take, in seconds: how long a waiter waits for the owner's fetch.
    refresh_margin, max_entries, refresh_ahead:
        As in ``STSProvider``.

    Example
    -------
    >>> CredentialCache(lambda *args, **kwargs: None, budget=lambda: 35.0)
    CredentialCache(entries=0)
    """

    def __init__(
        self,
        fetch: Callable[..., Fetched],
        *,
        budget: Callable[[], float],
        refresh_margin: float = 300,
        max_entries: int | None = None,
        refresh_ahead: bool = False,
    ) -> None:
        self.fetch = fetch
        self.budget = budget
        self.refresh_margin = refresh_margin
        self.max_entries = max_entries
        self.refresh_ahead = refresh_ahead
        self.entries: OrderedDict[Any, CachedEntry] = OrderedDict()
        self.flights: dict[Any, Flight] = {}
        self.guard = threading.Lock()
        self._sequence = itertools.count(1)
        # A reset starts a new generation: a flight of an older one lands without storing.
        self.generation = 0
        self._sweep_at = 0.0

    def __repr__(self) -> str:
        return f"{type(self).__name__}(entries={len(self.entries)})"

    def margin(self) -> float:
        """Return this entry's refresh margin: ``refresh_margin`` raised by a random jitter."""
        return self.refresh_margin * (1 + JITTER_FRACTION * random.random())  # noqa: S311

    # -- reading ---------------------------------------------------------------------------------------

    def get(
        self,
        key: Any,
        params: dict[str, Any],
        max_age: float | None,
        force_fetch: bool = False,
        entry: str | None = None,
        background: bool = False,
        observer: RefreshObserver | None = None,
    ) -> tuple[Credentials, float]:
        """Return credentials for validated parameters, and the epoch time until which they may be reused.

        ``background`` marks a fetch nobody waits for (a prefetch): a caller who joins it and sees it
        fail asks once more for itself instead of inheriting the failure.
        """
        if not force_fetch and max_age != 0:
            cached = self.entries.get(key)
            if cached is not None:
                until = cached.fresh_until(max_age)
                now = _clock.now()
                if now < until:
                    if self.max_entries is not None:
                        with contextlib.suppress(KeyError):  # evicted meanwhile by another thread
                            self.entries.move_to_end(key)
                    if self.refresh_ahead:
                        return cached.credentials, self._ahead(key, params, max_age, entry, observer, cached, until)
                    return cached.credentials, until
        request = (key, params, max_age, force_fetch, entry, background, observer)
        served = self._serve_or_fetch(*request, may_ask_again=True)
        while served is None:
            # A failed prefetch is no caller's failure: ask once more, as the owner of a fetch or its waiter.
            served = self._serve_or_fetch(*request, may_ask_again=False)
        return served

    def fresh(self, key: Any, max_age: float | None) -> bool:
        """Whether ``get`` would serve ``key`` from the cache now (a refresh ahead may start, never a wait)."""
        cached = self.entries.get(key)
        return cached is not None and _clock.now() < cached.fresh_until(max_age)

    def _reuse_until(self, cached: CachedEntry, max_age: float | None) -> float:
        """Return until when a reader may reuse ``cached`` without asking the cache again.

        Its freshness; with refresh ahead, the start of its last stretch (the STS client's retry budget,
        at most half the freshness), where a read refreshes it in the background in time.
        """
        until = cached.fresh_until(max_age)
        if self.refresh_ahead:
            start = until - min(self.budget(), (until - cached.fetched_at) / 2)
            if _clock.now() < start:
                return start
        return until

    def _ahead(
        self,
        key: Any,
        params: dict[str, Any],
        max_age: float | None,
        entry: str | None,
        observer: RefreshObserver | None,
        cached: CachedEntry,
        until: float,
    ) -> float:
        """Refresh ahead: a read in the last stretch of freshness starts a background refresh."""
        start = self._reuse_until(cached, max_age)
        if start < until:
            return start
        if _clock.now() >= cached.retry_at:
            with self.guard:
                if key in self.flights or self.entries.get(key) is not cached:
                    return until
                flight = Flight(True, self.generation, next(self._sequence), observer)
                self.flights[key] = flight  # no second refresh while this one runs

            def refresh(cache: CredentialCache) -> None:
                cache._assume_into(key, params, max_age, False, flight, entry, newer_than=cached.fetched_at)
                if flight.error is not None:
                    logger.warning(
                        "Refreshing credentials of %s ahead of time failed (%s); trying again in %.0f s",
                        params.get("RoleArn") or SCOPED,
                        flight.error.code or type(flight.error.__cause__).__name__,
                        BACKOFF_SECONDS,
                    )

            background.run_weakly(self, refresh, "refresh-ahead")
        return until

    def _serve_or_fetch(
        self,
        key: Any,
        params: dict[str, Any],
        max_age: float | None,
        force_fetch: bool,
        entry: str | None,
        background: bool,
        observer: RefreshObserver | None,
        may_ask_again: bool,
    ) -> tuple[Credentials, float] | None:
        """Serve from the cache, join the fetch in flight, or fetch; None when a joined prefetch failed."""
        caching = max_age != 0
        with self.guard:
            now = _clock.now()
            cached = self.entries.get(key)
            usable = cached is not None and now < cached.floor_at and caching and not force_fetch
            if cached is not None and usable and now < cached.fresh_until(max_age):
                return cached.credentials, self._reuse_until(cached, max_age)  # refreshed while we waited
            flight = self.flights.get(key) if caching and not force_fetch else None
            if cached is not None and usable and (flight is not None or now < cached.retry_at):
                # Another caller is refreshing, or the last refresh failed moments ago: the still-valid
                # credentials serve, without waiting on STS.
                return cached.credentials, (now if flight is not None else min(cached.retry_at, cached.floor_at))
            owner = flight is None
            if flight is None:
                flight = Flight(background, self.generation, next(self._sequence), observer)
                if caching:
                    self.flights[key] = flight
        if owner:
            self._assume_into(key, params, max_age, force_fetch, flight, entry)
        elif not flight.done.wait(self.budget()):
            # Never a second AssumeRole beside one in flight: the owner's own timeouts end it within the
            # budget, so a flight still running past it was lost (its thread frozen or killed).
            raise AssumeRoleError(
                f"{call_of(params.get('RoleArn'), entry)} did not finish within {self.budget():.0f} s "
                "(the STS client's retry budget) while this caller waited for it",
                role_arn=params.get("RoleArn"),
                entry=entry,
            )
        elif flight.error is not None and flight.background and not background and may_ask_again:
            return None
        return self._outcome(key, params, max_age, force_fetch, flight, owner)

    def _outcome(
        self, key: Any, params: dict[str, Any], max_age: float | None, force_fetch: bool, flight: Flight, owner: bool
    ) -> tuple[Credentials, float]:
        """Give one caller of a landed flight its credentials, still-valid ones, or an error."""
        if flight.credentials is not None:
            if max_age == 0:
                return flight.credentials, -_INF
            stored = self.entries.get(key)
            # The stored entry is this fetch's, or a newer one that a concurrent fetch stored.
            if stored is not None and stored.sequence >= flight.sequence:
                return stored.credentials, self._reuse_until(stored, max_age)
            return flight.credentials, _clock.now()
        error = flight.error
        assert error is not None  # noqa: S101  # _assume_into always sets one of the two
        with self.guard:
            now = _clock.now()
            stale = self.entries.get(key)
            if stale is not None and max_age != 0 and not force_fetch and now < stale.floor_at:
                # Stale on error: a failed refresh never throws away credentials that still work.
                if flight.warn_stale:
                    flight.warn_stale = False  # one warning per failed attempt
                    logger.warning(
                        "Refreshing credentials of %s failed (%s); serving the cached ones, which expire in %.0f s",
                        params.get("RoleArn") or SCOPED,
                        error.code or type(error.__cause__).__name__,
                        stale.expires_at - now,
                    )
                return stale.credentials, min(stale.retry_at, stale.floor_at)
        # The owner raises the error; each waiter its own copy, so no traceback grows across threads.
        raise error if owner else copy_error(error)

    # -- fetching and storing ------------------------------------------------------------------------

    def _assume_into(
        self,
        key: Any,
        params: dict[str, Any],
        max_age: float | None,
        force_fetch: bool,
        flight: Flight,
        entry: str | None,
        newer_than: float = -_INF,
    ) -> None:
        """Run the flight's fetch and land it: store the credentials, or start the back-off."""
        clock = time.perf_counter()
        try:
            creds, started, flight.reached_sts = self.fetch(
                key, params, entry, max_age=max_age, force_fetch=force_fetch, newer_than=newer_than
            )
            if max_age != 0:
                self.store(key, creds, started, flight.generation, flight.sequence)
                if self.refresh_ahead:
                    # The thread that starts refresh-ahead threads, begun by a fetch (which waits on STS
                    # anyway) rather than by the first read in a last stretch, in the middle of an invocation.
                    background.ready()
            flight.credentials = creds
        except AssumeRoleError as exc:
            flight.error = exc
            # The shared cache's back-off: another process failed moments ago, and no call was made.
            flight.reached_sts = not isinstance(exc, SharedBackoffError)
        except BaseException as exc:
            # Whatever the owner met (a bug, an interrupt), its waiters get an AssumeRoleError, not a hang.
            flight.error = AssumeRoleError(
                f"{call_of(params.get('RoleArn'), entry)} failed: {type(exc).__name__}",
                role_arn=params.get("RoleArn"),
                entry=entry,
            )
            flight.error.__cause__ = exc
            if not isinstance(exc, Exception):
                raise
        finally:
            with self.guard:
                if self.flights.get(key) is flight:
                    del self.flights[key]
                stale = self.entries.get(key) if flight.error is not None else None
                if stale is not None and _clock.now() < stale.floor_at:
                    # The back-off starts in the same critical section that lands the flight: a caller
                    # in between would otherwise see neither and start another AssumeRole.
                    stale.retry_at = _clock.now() + BACKOFF_SECONDS
                    flight.warn_stale = True
            if flight.observer is not None and flight.reached_sts:
                _report(flight, params.get("RoleArn", SCOPED), entry, time.perf_counter() - clock, stale)
            flight.done.set()

    def store(self, key: Any, creds: Credentials, fetched_at: float, generation: int, sequence: int) -> bool:
        """Store credentials unless a reset or a newer fetch came first; evict what cannot serve."""
        with self.guard:
            if generation != self.generation:
                return False  # fetched before a reset: handed to its callers, never kept
            stored = self.entries.get(key)
            kept = stored is None or stored.sequence < sequence
            if kept:
                self.entries[key] = CachedEntry(creds, fetched_at, self.margin(), sequence)
                self.entries.move_to_end(key)
            now = _clock.now()
            if now >= self._sweep_at:
                self._sweep_at = now + _SWEEP_SECONDS
                for gone in [k for k, e in self.entries.items() if e.floor_at <= now]:
                    del self.entries[gone]
            while self.max_entries is not None and len(self.entries) > self.max_entries:
                self.entries.popitem(last=False)
        return kept

    def put(self, key: Any, creds: Credentials, max_age: float | None) -> None:
        """Store credentials obtained elsewhere as just fetched; newer than any fetch in flight."""
        sequence = next(self._sequence)
        self.store(key, creds, _clock.now(), self.generation, sequence)
        if max_age is not None:
            with self.guard:
                stored = self.entries.get(key)
                if stored is not None and stored.sequence == sequence:
                    stored.refresh_at = min(stored.refresh_at, stored.fetched_at + max_age)

    def invalidate(self, key: Any, access_key_id: str | None) -> str | None:
        """Drop the entry of ``key`` if it holds ``access_key_id`` (any, for None); return the refused id."""
        with self.guard:
            cached = self.entries.get(key)
            held = cached.credentials.access_key_id if cached is not None else None
            if access_key_id is not None and held is not None and held != access_key_id:
                return None  # a refresh already replaced the refused credentials: they serve
            if cached is not None:
                del self.entries[key]
            return access_key_id or held

    def clear(self) -> None:
        """Forget every entry; a fetch in flight lands without storing."""
        with self.guard:
            self.generation += 1
            self.entries.clear()
            self.flights.clear()

    def after_fork(self) -> None:
        """In a forked child: a new lock, and no flight (their owners are threads of the parent)."""
        self.guard = threading.Lock()
        self.flights = {}


def _report(flight: Flight, role_arn: str, entry: str | None, latency: float, stale: CachedEntry | None) -> None:
    """Tell the flight's observer how its fetch went (never fails the flight)."""
    from .events import FAILED, FETCHED, SERVED_STALE, Refresh  # only where a layer observes its fetches

    now = _clock.now()
    if flight.credentials is not None:
        outcome, left = FETCHED, flight.credentials.expiration.timestamp() - now
    elif stale is not None and flight.warn_stale:
        outcome, left = SERVED_STALE, stale.expires_at - now
    else:
        outcome, left = FAILED, None
    code = flight.error.code if flight.error is not None else None
    try:
        flight.observer.refreshed(Refresh(entry, role_arn, outcome, latency, left, code, time.time_ns()))  # type: ignore[union-attr]
    except Exception:  # an observer's bug must not fail a fetch
        logger.exception("An observer of %s failed", role_arn)
