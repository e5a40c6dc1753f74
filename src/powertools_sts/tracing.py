"""The optional X-Ray capture of STS calls; imported only when asked for.

aws-xray-sdk costs about 350 ms of cold start to import, so nothing in this module is imported
unless ``aws_client_capture=True`` (or ``"xray"``) or the SDK is already loaded (by a Powertools
``Tracer``). Whether it is installed is checked without importing it (``require_xray_sdk``), so an
option that needs it is refused when ``sts(...)`` is applied, not at every invocation. The
OpenTelemetry capture (``aws_client_capture="opentelemetry"``) is in :mod:`.otel`.
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


def require_xray_sdk(option: str, instead: str) -> None:
    """Refuse ``option`` when aws-xray-sdk is not installed, without importing the SDK.

    ``importlib.util.find_spec`` looks the package up on ``sys.path`` and executes none of it, so the
    check costs no cold start; the SDK is imported later, only where it is used.

    Parameters
    ----------
    option:
        The option as the user set it, named in the message (``"trace_execution=True"``).
    instead:
        What to set instead when the function should not trace with X-Ray.

    Raises
    ------
    ConfigurationError
        When ``aws_xray_sdk`` cannot be found, with the ``pip install`` command of the ``tracer`` extra.

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
    """Patch botocore so that every AWS call, AssumeRole included, is an X-Ray subsegment.

    Process-wide and idempotent, as aws-xray-sdk's ``patch`` is. With ``POWERTOOLS_TRACE_DISABLED``
    true, nothing is imported nor patched: the variable disables tracing as it disables Powertools'
    ``Tracer``, and a patched botocore would log "cannot find the current segment" at every call made
    outside a segment (local runs, tests).

    Raises
    ------
    ConfigurationError
        When aws-xray-sdk is not installed (also with tracing disabled: the deployed function would
        need it).

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
