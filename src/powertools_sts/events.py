"""What a refresh that reached STS reports, and how it reaches the user's Metrics and tracer safely.

The provider reports one :class:`Refresh` per AssumeRole attempt, on whatever thread made it (a
prefetch, a refresh ahead, a worker of the invocation). The user's Powertools ``Metrics`` are not
thread-safe (their values live in dicts that every instance shares, flushed by ``log_metrics`` on the
invocation's thread without a lock), so an ``sts`` layer never hands them an event from another
thread: :class:`Deferred` keeps each event, with the ``contextvars`` context it happened in, until
the layer's next invocation delivers it on its own thread. Each observer is isolated from the
others: one that raises is logged and the rest still hear the event.

Events carry safe values only: the entry's name, the role ARN, the outcome, the latency, the seconds
left and the STS error code; never a key, a token or a session name.

Example
-------
>>> event = Refresh("reports", "arn:aws:iam::111122223333:role/reports", FETCHED, 0.012, 3540.0, None)
>>> event.outcome, round(event.latency * 1000)
('fetched', 12)
"""

from __future__ import annotations

import contextvars
import logging
import threading
from collections.abc import Callable
from typing import Any, NamedTuple, Protocol

__all__ = ["FAILED", "FETCHED", "SERVED_STALE", "Deferred", "Refresh", "RefreshObserver"]

logger = logging.getLogger("powertools_sts")

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
    #: When the attempt ended (``time.time_ns()``): observers hear of it later, on the invocation's thread.
    ended_ns: int | None = None
    #: The tenant of a per-tenant entry: a span attribute, never a metric dimension (cardinality).
    tenant: str | None = None


class RefreshObserver(Protocol):
    """Receives the refreshes of the entries it observes; ``AT_ONCE`` names the methods called where the event happens."""

    def refreshed(self, event: Refresh) -> None:
        """Record one AssumeRole attempt."""

    def retried(self, entry: str | None, role_arn: str) -> None:
        """Record a call retried once after its credentials were refused (the healing clients)."""


class Deferred:
    """An observer that keeps events until :meth:`deliver`, then hands them to each observer in turn.

    ``pending`` is the list of events not yet delivered; ``kept`` is called after each one is kept
    (the layer pulls its deadline in, so its next invocation delivers).

    Example
    -------
    >>> class Printer:
    ...     def refreshed(self, event): print(event.outcome)
    ...     def retried(self, entry, role_arn): raise RuntimeError("a buggy observer")
    >>> deferred = Deferred([Printer()])
    >>> deferred.refreshed(Refresh("reports", "arn:aws:iam::1:role/r", FETCHED, 0.01, 3540.0, None))
    >>> deferred.retried("reports", "arn:aws:iam::1:role/r")
    >>> deferred.deliver()  # on the invocation's thread; the failure is logged, not raised
    fetched
    """

    __slots__ = ("_lock", "kept", "observers", "pending")

    def __init__(self, observers: list[RefreshObserver]) -> None:
        self.observers = tuple(observers)
        self.pending: list[tuple[contextvars.Context, str, tuple[Any, ...]]] = []
        self._lock = threading.Lock()
        #: Called after an event is kept (the layer then delivers at its next invocation).
        self.kept: Callable[[], None] | None = None

    def refreshed(self, event: Refresh) -> None:
        """Keep ``event`` for the next delivery."""
        self._keep("refreshed", (event,))

    def retried(self, entry: str | None, role_arn: str) -> None:
        """Keep the retry for the next delivery."""
        self._keep("retried", (entry, role_arn))

    def _keep(self, method: str, args: tuple[Any, ...]) -> None:
        for observer in self.observers:
            if method in getattr(observer, "AT_ONCE", ()):
                self._call(observer, method, args)  # it must run where the event happens
        # The context of the fetch: a span is then parented as if it had been started there and then.
        context = contextvars.copy_context()
        with self._lock:
            self.pending.append((context, method, args))
        if self.kept is not None:
            self.kept()

    def deliver(self) -> None:
        """Hand every kept event to every observer, on this thread; an observer's failure is logged."""
        with self._lock:
            events = self.pending[:]
            self.pending.clear()  # in place: the layer's warm path holds this very list
        for context, method, args in events:
            for observer in self.observers:
                if method not in getattr(observer, "AT_ONCE", ()):
                    context.run(self._call, observer, method, args)

    @staticmethod
    def _call(observer: RefreshObserver, method: str, args: tuple[Any, ...]) -> None:
        call: Callable[..., None] = getattr(observer, method)
        try:
            call(*args)
        except Exception:  # one observer's bug must silence neither the others nor the handler
            logger.exception("Observer %s of powertools_sts failed", type(observer).__name__)

    def _after_fork(self) -> None:
        self._lock = threading.Lock()
