"""What a refresh that reached STS reports: one event per AssumeRole attempt, to whoever observes it.

The provider reports; an ``sts`` layer passes its observers (metrics, tracing) along with its
fetches, so each event reaches the layer whose entry it is. Events carry safe values only: the
entry's name, the role ARN, the outcome, how long STS took, how long the credentials have left and
the STS error code; never a key, a token or a session name.

Example
-------
>>> event = Refresh("reports", "arn:aws:iam::111122223333:role/reports", FETCHED, 0.012, 3540.0, None)
>>> event.outcome, round(event.latency * 1000)
('fetched', 12)
"""

from __future__ import annotations

from typing import NamedTuple, Protocol

__all__ = ["FAILED", "FETCHED", "SERVED_STALE", "Observers", "Refresh", "RefreshObserver"]

#: STS answered with usable credentials; they replace the entry.
FETCHED = "fetched"
#: STS failed, and the entry's still-valid credentials keep serving (stale on error).
SERVED_STALE = "served_stale"
#: STS failed, and no credentials can serve.
FAILED = "failed"


class Refresh(NamedTuple):
    """One AssumeRole attempt of an entry, as its observers see it."""

    entry: str | None
    role_arn: str
    outcome: str
    latency: float
    left: float | None
    code: str | None


class RefreshObserver(Protocol):
    """Receives the refreshes of the entries it observes (called on the thread that made the call)."""

    def refreshed(self, event: Refresh) -> None:
        """Record one AssumeRole attempt."""

    def retried(self, entry: str | None, role_arn: str) -> None:
        """Record a call retried once after its credentials were refused (see the healing clients)."""


class Observers:
    """Several observers seen as one: an ``sts`` layer's metrics and tracing, say.

    Example
    -------
    >>> class Printer:
    ...     def refreshed(self, event): print(event.outcome)
    ...     def retried(self, entry, role_arn): print("retried", entry)
    >>> Observers([Printer(), Printer()]).retried("reports", "arn:aws:iam::111122223333:role/reports")
    retried reports
    retried reports
    """

    __slots__ = ("observers",)

    def __init__(self, observers: list[RefreshObserver]) -> None:
        self.observers = tuple(observers)

    def refreshed(self, event: Refresh) -> None:
        """Pass ``event`` to every observer."""
        for observer in self.observers:
            observer.refreshed(event)

    def retried(self, entry: str | None, role_arn: str) -> None:
        """Pass the retry to every observer."""
        for observer in self.observers:
            observer.retried(entry, role_arn)
