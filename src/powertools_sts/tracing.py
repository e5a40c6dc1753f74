"""The optional X-Ray capture of STS calls (the OpenTelemetry one is in :mod:`.otel`).

aws-xray-sdk costs about 350 ms of cold start: it is imported only for ``aws_client_capture=True`` or
once a Powertools ``Tracer`` has loaded it, and whether it is installed is checked without importing it.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Callable
from typing import Any, TypeVar

from .exceptions import ConfigurationError

__all__ = [
    "OPENTELEMETRY",
    "XRAY",
    "capture_backend",
    "capture_botocore",
    "current_entity",
    "require_xray_sdk",
    "run_traced",
    "tracing_disabled",
]

T = TypeVar("T")

#: The values of ``aws_client_capture`` that name a backend (``True`` means ``XRAY``).
XRAY = "xray"
OPENTELEMETRY = "opentelemetry"


def capture_backend(value: Any) -> str | None:
    """Return the backend ``aws_client_capture=value`` names: ``"xray"`` (or True), ``"opentelemetry"`` or None.

    Raises
    ------
    ConfigurationError
        For any other value.

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


def require_xray_sdk(option: str, instead: str) -> None:
    """Refuse ``option`` when aws-xray-sdk is not installed; ``find_spec`` checks without importing it.

    Parameters
    ----------
    option:
        The option as the user set it, named in the message (``"trace_execution=True"``).
    instead:
        What to set instead when the function should not trace with X-Ray.

    Raises
    ------
    ConfigurationError
        When ``aws_xray_sdk`` cannot be found; the message gives the ``pip install`` command.

    Example
    -------
    >>> require_xray_sdk("trace_execution=True", "trace_execution=False")  # installed here: no error
    """
    try:
        found = importlib.util.find_spec("aws_xray_sdk") is not None
    except (ImportError, ValueError):  # a parent that fails to import; a module loaded without a spec
        found = "aws_xray_sdk" in sys.modules and sys.modules["aws_xray_sdk"] is not None
    if not found:
        raise ConfigurationError(
            f'{option} needs aws-xray-sdk, which is not installed: pip install "powertools-sts[tracer]", or {instead}'
        )


def tracing_disabled() -> bool:
    """Return whether ``POWERTOOLS_TRACE_DISABLED`` is true, as Powertools' ``Tracer`` reads it.

    Example
    -------
    >>> tracing_disabled() in (True, False)
    True
    """
    from aws_lambda_powertools.shared.functions import resolve_truthy_env_var_choice

    return resolve_truthy_env_var_choice(env=os.getenv("POWERTOOLS_TRACE_DISABLED", "false"))


def capture_botocore() -> None:
    """Patch botocore (process-wide, idempotent) so that every AWS call is an X-Ray subsegment.

    Not with ``POWERTOOLS_TRACE_DISABLED`` true: local runs then log no "cannot find the current segment".

    Raises
    ------
    ConfigurationError
        When aws-xray-sdk is not installed, even with tracing disabled: the deployed function needs it.

    Example
    -------
    >>> capture_botocore()  # doctest: +SKIP
    """
    require_xray_sdk(
        "aws_client_capture=True (X-Ray)",
        'trace with OpenTelemetry (aws_client_capture="opentelemetry", the otel extra), '
        "or set aws_client_capture=False",
    )
    if tracing_disabled():
        return
    from aws_xray_sdk.core import patch

    patch(("botocore",))


def current_entity() -> Any:
    """Return the X-Ray entity open on this thread, or None, without logging "context missing".

    Outside Lambda ``get_trace_entity`` would log it: the SDK's thread-local entities (internal) are read.

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

    With no entity (a prefetch at INIT), a dummy subsegment stands in, so the SDK logs no "context missing".

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
