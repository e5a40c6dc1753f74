"""When cached credentials may be handed out: the floor, the refresh window, the back-off.

For credentials expiring at ``E``, with the provider's ``refresh_margin`` ``m`` raised by its jitter::

    fetched ---- fresh ---- E-m ---- refresh window ---- E-60 ---- floor ---- E

:class:`CachedEntry` holds those times; :class:`Flight` is one AssumeRole in flight, which callers wait on.

Example
-------
>>> FLOOR_SECONDS, BACKOFF_SECONDS, JITTER_FRACTION
(60.0, 5.0, 0.25)
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .credentials import Credentials
    from .events import RefreshObserver
    from .exceptions import AssumeRoleError

__all__ = ["BACKOFF_SECONDS", "FLOOR_SECONDS", "JITTER_FRACTION", "CachedEntry", "Flight"]

#: Credentials with less than this many seconds left are never handed out.
FLOOR_SECONDS = 60.0
#: After a failed refresh inside the refresh window, no new attempt for this many seconds.
BACKOFF_SECONDS = 5.0
#: Each entry's margin is raised by a random 0..25% of ``refresh_margin``: containers started together
#: do not refresh in the same second.
JITTER_FRACTION = 0.25


class CachedEntry:
    """Credentials in the cache, with the times that decide how they may be served.

    Example
    -------
    >>> from datetime import datetime, timezone
    >>> from powertools_sts import Credentials
    >>> creds = Credentials("ASIAEXAMPLE", "secret", "token", datetime(2030, 1, 1, tzinfo=timezone.utc))
    >>> short = CachedEntry(creds, fetched_at=creds.expiration.timestamp() - 900, margin=600, sequence=0)
    >>> short.expires_at - short.refresh_at  # never more than half the lifetime
    450.0
    >>> short.fresh_until(60) - short.fetched_at
    60.0
    """

    __slots__ = ("credentials", "expires_at", "fetched_at", "floor_at", "refresh_at", "retry_at", "sequence")

    def __init__(self, credentials: Credentials, fetched_at: float, margin: float, sequence: int) -> None:
        self.credentials = credentials
        self.sequence = sequence
        self.fetched_at = fetched_at
        self.expires_at = credentials.expiration.timestamp()
        lifetime = self.expires_at - fetched_at
        # At most half the lifetime (botocore's 15-minute window expires 900 s credentials on arrival).
        self.refresh_at = self.expires_at - max(min(margin, lifetime / 2), FLOOR_SECONDS)
        self.floor_at = self.expires_at - FLOOR_SECONDS
        self.retry_at = 0.0

    def fresh_until(self, max_age: float | None) -> float:
        """Return when these credentials stop being fresh: the refresh window, or ``max_age`` after the fetch."""
        if max_age is None:
            return self.refresh_at
        return min(self.refresh_at, self.fetched_at + max_age)


class Flight:
    """One AssumeRole in flight for an entry: it always ends with ``credentials`` or ``error`` set, then ``done``.

    Example
    -------
    >>> flight = Flight(background=False, generation=0, sequence=1)
    >>> flight.done.is_set(), flight.credentials, flight.error
    (False, None, None)
    """

    __slots__ = (
        "background",
        "credentials",
        "done",
        "error",
        "generation",
        "observer",
        "reached_sts",
        "sequence",
        "warn_stale",
    )

    def __init__(
        self, background: bool, generation: int, sequence: int, observer: RefreshObserver | None = None
    ) -> None:
        self.background = background
        self.observer = observer
        # False when another process's credentials or shared back-off answered: no STS call to report.
        self.reached_sts = True
        self.generation = generation
        # Ordered by start, not clock or expiry: an older fetch never replaces a newer one.
        self.sequence = sequence
        self.warn_stale = False
        self.done = threading.Event()
        self.credentials: Credentials | None = None
        self.error: AssumeRoleError | None = None
