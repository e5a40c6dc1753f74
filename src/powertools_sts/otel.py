"""The optional OpenTelemetry capture of STS calls and refreshes; imported only when asked for.

``aws_client_capture="opentelemetry"`` makes every botocore call a span (``STS.AssumeRole`` among
them) through ``opentelemetry-instrumentation-botocore``, and each refresh that reaches STS a
``powertools_sts.refresh`` span, both under the OpenTelemetry context current when the invocation
asked for the credentials: background threads run in a copy of that context (:mod:`.background`),
and the refresh span is started on the invocation's thread in the context of the fetch
(:class:`~powertools_sts.events.Deferred`). Nothing here imports OpenTelemetry at module level: the
API and the instrumentation (about 55 ms of cold start together) are imported when the option is set.

Spans carry safe values only (those of :class:`~powertools_sts.events.Refresh`): the entry's name,
the role ARN, the outcome, the seconds the credentials have left and the STS error code; never a
key, a token or a session name.

Example
-------
>>> sorted(refresh_attributes(Refresh("reports", "arn:aws:iam::1:role/r", "fetched", 0.01, 3540.0, None)))[:2]
['powertools_sts.entry', 'powertools_sts.outcome']
"""

from __future__ import annotations

import time
from typing import Any

from . import _state
from .events import FAILED, Refresh
from .exceptions import ConfigurationError

__all__ = [
    "ATTR_ENTRY",
    "ATTR_ERROR_CODE",
    "ATTR_OUTCOME",
    "ATTR_ROLE_ARN",
    "ATTR_SECONDS_LEFT",
    "REFRESH_SPAN",
    "RETRIED_EVENT",
    "SpanObserver",
    "capture_botocore_opentelemetry",
    "refresh_attributes",
]

#: The span of one AssumeRole attempt of an entry, beside botocore's own ``STS.AssumeRole`` span.
REFRESH_SPAN = "powertools_sts.refresh"
#: The span event added to a call's span when the call was retried after its credentials were refused.
RETRIED_EVENT = "powertools_sts.retried"
ATTR_ENTRY = "powertools_sts.entry"
ATTR_ROLE_ARN = "powertools_sts.role_arn"
ATTR_OUTCOME = "powertools_sts.outcome"
ATTR_SECONDS_LEFT = "powertools_sts.seconds_left"
ATTR_ERROR_CODE = "powertools_sts.error_code"

_INSTRUMENTATION = "powertools_sts"


def capture_botocore_opentelemetry() -> None:
    """Instrument botocore so that every AWS call, AssumeRole included, is an OpenTelemetry span.

    Process-wide and idempotent: ``BotocoreInstrumentor`` wraps ``BaseClient._make_api_call`` on the
    class, so clients created before the call are instrumented too, and a second call (another
    layer, or ``opentelemetry-instrument`` having done it already) changes nothing. Spans go to the
    global tracer provider, the one set before or after this call.

    Raises
    ------
    ConfigurationError
        When opentelemetry-api or opentelemetry-instrumentation-botocore is not installed, or when the
        instrumentor declines (its dependency check found a botocore it does not support).

    Example
    -------
    >>> capture_botocore_opentelemetry()  # doctest: +SKIP
    """
    try:
        from opentelemetry.instrumentation.botocore import BotocoreInstrumentor
    except ImportError as exc:
        raise ConfigurationError(
            "aws_client_capture='opentelemetry' needs opentelemetry-api and opentelemetry-instrumentation-botocore: "
            "pip install 'powertools-sts[otel]'"
        ) from exc
    instrumentor = BotocoreInstrumentor()  # type: ignore[no-untyped-call]  # the instrumentation has no annotations
    # Under the lock: two layers applied at once on two threads would otherwise both pass the
    # instrumentor's own check and wrap botocore twice (two spans per call).
    with _state.lock:
        if not instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.instrument()
    if not instrumentor.is_instrumented_by_opentelemetry:
        # instrument() logs a dependency conflict and returns instead of raising: spans would silently be missing.
        raise ConfigurationError(
            "aws_client_capture='opentelemetry': opentelemetry-instrumentation-botocore declined to instrument "
            "botocore (see the error logged by opentelemetry.instrumentation.instrumentor)"
        )


def refresh_attributes(event: Refresh) -> dict[str, str | float]:
    """Return the attributes of an event's span: its safe values, leaving out those it does not know.

    Example
    -------
    >>> attributes = refresh_attributes(Refresh("reports", "arn:aws:iam::1:role/reports", "fetched", 0.01, 3540.0, None))
    >>> sorted(attributes)
    ['powertools_sts.entry', 'powertools_sts.outcome', 'powertools_sts.role_arn', 'powertools_sts.seconds_left']
    """
    attributes: dict[str, str | float] = {ATTR_ROLE_ARN: event.role_arn, ATTR_OUTCOME: event.outcome}
    if event.entry is not None:
        attributes[ATTR_ENTRY] = event.entry
    if event.left is not None:
        attributes[ATTR_SECONDS_LEFT] = round(event.left, 3)
    if event.code is not None:
        attributes[ATTR_ERROR_CODE] = event.code
    return attributes


class SpanObserver:
    """A refresh observer (:mod:`powertools_sts.events`) that makes each AssumeRole attempt a span.

    The span covers the STS call (from the event's end back by its latency), and its parent is the
    span current where the fetch ran (the invocation's). botocore's ``STS.AssumeRole`` span is its
    sibling. A failed attempt has an error status; one served stale does not: the invocation was served.

    Example
    -------
    >>> observer = SpanObserver()  # spans go nowhere until a tracer provider is set
    >>> observer.refreshed(Refresh("reports", "arn:aws:iam::111122223333:role/reports", "fetched", 0.012, 3540.0, None))
    """

    __slots__ = ("_tracer",)
    #: The event goes on the span of the call that was retried: on its thread, while that span is open.
    AT_ONCE = ("retried",)

    def __init__(self, tracer_provider: Any = None) -> None:
        from opentelemetry import trace

        # A proxy until the application sets its provider: spans go to whichever is set by then.
        self._tracer = trace.get_tracer(_INSTRUMENTATION, tracer_provider=tracer_provider)

    def refreshed(self, event: Refresh) -> None:
        """Record one AssumeRole attempt as a ``powertools_sts.refresh`` span."""
        from opentelemetry.trace import SpanKind, Status, StatusCode

        end = event.ended_ns or time.time_ns()
        span = self._tracer.start_span(
            REFRESH_SPAN,
            kind=SpanKind.INTERNAL,
            attributes=refresh_attributes(event),
            start_time=end - int(event.latency * 1e9),
        )
        if event.outcome == FAILED:
            span.set_status(Status(StatusCode.ERROR, event.code or "AssumeRole failed"))
        span.end(end_time=end)

    def retried(self, entry: str | None, role_arn: str) -> None:
        """Add a ``powertools_sts.retried`` event to the span of the call that was retried (botocore's)."""
        from opentelemetry import trace

        attributes = {ATTR_ROLE_ARN: role_arn} if entry is None else {ATTR_ROLE_ARN: role_arn, ATTR_ENTRY: entry}
        trace.get_current_span().add_event(RETRIED_EVENT, attributes)
