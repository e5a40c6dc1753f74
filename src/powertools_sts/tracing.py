"""The optional X-Ray capture of STS calls; imported only when asked for.

aws-xray-sdk costs about 350 ms of cold start to import, so nothing in this module is imported
unless ``aws_client_capture=True`` (or ``"xray"``) or the SDK is already loaded (by a Powertools
``Tracer``). The OpenTelemetry capture (``aws_client_capture="opentelemetry"``) is in :mod:`.otel`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, TypeVar

from .exceptions import ConfigurationError

__all__ = ["OPENTELEMETRY", "XRAY", "capture_backend", "capture_botocore", "current_entity", "run_traced"]

T = TypeVar("T")

#: The values of ``aws_client_capture`` that name a backend (``True`` means ``XRAY``).
XRAY = "xray"
OPENTELEMETRY = "opentelemetry"


def capture_backend(value: Any) -> str | None:
    """Return the backend that ``aws_client_capture=value`` asks for: ``"xray"``, ``"opentelemetry"`` or None.

    ``True`` keeps meaning X-Ray, as before the OpenTelemetry capture existed; ``False`` is off.

    Raises
    ------
    ConfigurationError
        For any other value, naming the option.

    Example
    -------
    >>> capture_backend(True), capture_backend("opentelemetry"), capture_backend(False)
    ('xray', 'opentelemetry', None)
    """
    if value is True or value == XRAY:
        return XRAY
    if value is False:
        return None
    if value == OPENTELEMETRY:
        return OPENTELEMETRY
    raise ConfigurationError(
        f"aws_client_capture must be True or 'xray' (X-Ray), 'opentelemetry', or False, got {value!r}"
    )


def capture_botocore() -> None:
    """Patch botocore so that every AWS call, AssumeRole included, is an X-Ray subsegment.

    Process-wide and idempotent, as aws-xray-sdk's ``patch`` is.

    Raises
    ------
    ConfigurationError
        When aws-xray-sdk is not installed.

    Example
    -------
    >>> capture_botocore()  # doctest: +SKIP
    """
    try:
        from aws_xray_sdk.core import patch
    except ImportError as exc:
        raise ConfigurationError(
            "aws_client_capture=True needs aws-xray-sdk: pip install 'powertools-sts[tracer]'"
        ) from exc
    patch(("botocore",))


def current_entity() -> Any:
    """Return the X-Ray entity open on this thread, or None, without logging "context missing".

    In Lambda the SDK's context builds the invocation's facade segment from ``_X_AMZN_TRACE_ID`` and
    never reports a missing context, so it is asked; elsewhere its ``get_trace_entity`` logs an error
    when nothing is open, so the thread-local entities (an aws-xray-sdk internal) are read instead.

    Example
    -------
    >>> current_entity() is None
    True
    """
    if "aws_xray_sdk.core" not in sys.modules:
        return None
    from aws_xray_sdk.core import xray_recorder
    from aws_xray_sdk.core.lambda_launcher import LambdaContext

    context = xray_recorder.context
    if isinstance(context, LambdaContext):
        return context.get_trace_entity()
    entities = getattr(getattr(context, "_local", None), "entities", None)
    return entities[-1] if entities else None


def run_traced(entity: Any, function: Callable[[], T]) -> T:
    """Run ``function`` on this (worker) thread with ``entity`` as its X-Ray parent.

    With ``entity`` None and the SDK loaded (a prefetch at INIT, where no segment exists and nothing
    would be emitted), a dummy subsegment stands in, so the STS call is not reported as "context
    missing" nor as "discarded while initializing".

    Example
    -------
    >>> run_traced(None, lambda: 42)
    42
    """
    if "aws_xray_sdk.core" not in sys.modules:
        return function()
    from aws_xray_sdk.core import xray_recorder
    from aws_xray_sdk.core.models.dummy_entities import DummySegment, DummySubsegment

    xray_recorder.context.set_trace_entity(entity if entity is not None else DummySubsegment(DummySegment()))
    try:
        return function()
    finally:
        xray_recorder.context.clear_trace_entities()
