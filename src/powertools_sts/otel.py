"""The optional OpenTelemetry capture: a span per botocore call, and one per refresh that reaches STS.

Both spans are parented to the context where the invocation asked for credentials. OpenTelemetry
(about 55 ms of cold start) is imported only when ``aws_client_capture="opentelemetry"`` is set, and
spans carry only the safe values of :class:`~powertools_sts.events.Refresh`, never a key or a token.
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
    "ATTR_TENANT",
    "REFRESH_SPAN",
    "RETRIED_EVENT",
    "SpanObserver",
    "capture_botocore_opentelemetry",
    "refresh_attributes",
]

#: The span of one AssumeRole attempt, beside botocore's own ``STS.AssumeRole`` span.
REFRESH_SPAN = "powertools_sts.refresh"
#: The event on a call's span when the call was retried after its credentials were refused.
RETRIED_EVENT = "powertools_sts.retried"
ATTR_ENTRY = "powertools_sts.entry"
ATTR_ROLE_ARN = "powertools_sts.role_arn"
ATTR_OUTCOME = "powertools_sts.outcome"
ATTR_SECONDS_LEFT = "powertools_sts.seconds_left"
ATTR_ERROR_CODE = "powertools_sts.error_code"
ATTR_TENANT = "powertools_sts.tenant"

_INSTRUMENTATION = "powertools_sts"


def capture_botocore_opentelemetry() -> None:
    """Instrument botocore so that every AWS call is a span: process-wide, idempotent, older clients included.

    Raises
    ------
    ConfigurationError
        When the ``otel`` extra is not installed, or the instrumentor declines the installed botocore.

    Example
    -------
    >>> capture_botocore_opentelemetry()  # doctest: +SKIP
    """
    try:
        from opentelemetry.instrumentation.botocore import BotocoreInstrumentor
    except ImportError as exc:
        raise ConfigurationError(
            "aws_client_capture='opentelemetry' needs opentelemetry-api and opentelemetry-instrumentation-botocore: "
            'pip install "powertools-sts[otel]"'
        ) from exc
    instrumentor = BotocoreInstrumentor()  # type: ignore[no-untyped-call]  # the instrumentation has no annotations
    # Locked: two layers applied at once would both pass the check and wrap botocore twice.
    with _state.lock:
        if not instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.instrument()
    if not instrumentor.is_instrumented_by_opentelemetry:
        # instrument() logs a dependency conflict instead of raising: spans would silently be missing.
        raise ConfigurationError(
            "aws_client_capture='opentelemetry': opentelemetry-instrumentation-botocore declined to instrument "
            "botocore (see the error logged by opentelemetry.instrumentation.instrumentor)"
        )


def refresh_attributes(event: Refresh) -> dict[str, str | float]:
    """Return the attributes of an event's span: its safe values, without those it does not know.

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
    if event.tenant is not None:
        attributes[ATTR_TENANT] = event.tenant
    return attributes


class SpanObserver:
    """A refresh observer (:mod:`powertools_sts.events`) that makes each AssumeRole attempt a span.

    The span covers the STS call, under the invocation's span; only a failed attempt (not one served
    stale: the invocation was served) has an error status.

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
