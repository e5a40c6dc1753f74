"""The options of ``sts(...)`` as one validated, frozen value.

Every option is checked when ``sts(...)`` is applied (at import), before any STS call, and a mistake
is a ``ConfigurationError`` that names it. An explicit argument wins over its environment variable;
both are read here, once.

Example
-------
>>> options = Options.of(fetch_data={"reports": "arn:aws:iam::111122223333:role/reports"})
>>> options.entries["reports"], options.max_age, options.cache_key
({'RoleArn': 'arn:aws:iam::111122223333:role/reports'}, None, 'powertools_sts')
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

from aws_lambda_powertools.shared.functions import resolve_truthy_env_var_choice
from botocore.config import Config

from .exceptions import ConfigurationError
from .execution import prefetch_timeout_from_env, shared_cache_from_env
from .tracing import capture_backend, require_xray_sdk
from .validation import (
    MAX_CHAINED_DURATION,
    validate_clients,
    validate_entry_params,
    validate_max_age,
    validate_refresh_margin,
)

__all__ = ["Options"]


def _flag(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigurationError(f"{name} must be True or False, got {type(value).__name__}")
    return value


def _entries(fetch_data: Any, chained: bool) -> tuple[dict[str, dict[str, Any]], dict[str, Callable[[str], Any]]]:
    """Split ``fetch_data`` into validated static entries and per-tenant ones (callables)."""
    if not isinstance(fetch_data, Mapping) or not fetch_data:
        raise ConfigurationError(
            "fetch_data must be a non-empty mapping of entry name to AssumeRole parameters (or a RoleArn string)"
        )
    entries, tenant_entries = {}, {}
    for name, spec in fetch_data.items():
        if not isinstance(name, str) or not name:
            raise ConfigurationError(f"fetch_data: entry names must be non-empty strings, got {name!r}")
        if callable(spec):
            tenant_entries[name] = spec
            continue
        entries[name] = entry_params({"RoleArn": spec} if isinstance(spec, str) else spec, name, chained)
    return entries, tenant_entries


def entry_params(spec: Any, entry: str, chained: bool) -> dict[str, Any]:
    """Validate one entry's parameters (a tenant's, once per tenant); ``entry`` names it in errors.

    Example
    -------
    >>> entry_params({"RoleArn": "arn:aws:iam::111122223333:role/r"}, "r", chained=False)
    {'RoleArn': 'arn:aws:iam::111122223333:role/r'}
    """
    params = validate_entry_params(spec, entry=entry)
    if chained and params.get("DurationSeconds", 0) > MAX_CHAINED_DURATION:
        raise ConfigurationError(
            f"entry {entry!r}: DurationSeconds {params['DurationSeconds']} is over {MAX_CHAINED_DURATION}: AWS caps "
            "a session assumed with assumed-role credentials (role chaining) at one hour"
        )
    return params


def _takes(function: Any, count: int) -> bool:
    """Whether ``function`` accepts ``count`` positional arguments (True when its signature is unknown)."""
    import inspect  # only for per-tenant layers: import time is cold start

    try:
        inspect.signature(function).bind(*[None] * count)
    except TypeError:
        return False
    except ValueError:  # a builtin without a signature
        return True
    return True


def _tenancy(tenant: Any, max_tenants: Any, tenant_entries: dict[str, Any], set_to_context: Any) -> None:
    if tenant is not None and (not callable(tenant) or not _takes(tenant, 2)):
        raise ConfigurationError(f"tenant must be a callable (event, context) -> tenant id, or None, got {tenant!r}")
    for name, make in tenant_entries.items():
        if not _takes(make, 1):
            raise ConfigurationError(f"fetch_data: per-tenant entry {name!r} must take one argument, the tenant id")
    if tenant is not None and not tenant_entries:
        raise ConfigurationError(
            "tenant= names the tenant of per-tenant entries, and fetch_data has none: make an entry a callable "
            "(tenant_id) -> parameters, or drop tenant="
        )
    if isinstance(max_tenants, bool) or not isinstance(max_tenants, int) or not 1 <= max_tenants <= 1_000_000:
        raise ConfigurationError(f"max_tenants must be a whole number of tenants in 1..1000000, got {max_tenants!r}")
    if tenant_entries and set_to_context is True:
        raise ConfigurationError(
            f"set_to_context=True cannot set per-tenant entries {sorted(tenant_entries)} on the Lambda context: read "
            "them with get_credentials(name), which answers for the invocation's tenant"
        )


class Options:
    """The validated options of one ``sts(...)``, frozen; see :func:`powertools_sts.sts` for their meaning.

    A plain class with slots: a frozen dataclass costs about 1.5 ms of cold start to build.

    Example
    -------
    >>> Options.of(fetch_data={"r": "arn:aws:iam::111122223333:role/r"}, max_age=-1).max_age is None
    True
    """

    entries: dict[str, dict[str, Any]]
    tenant_entries: dict[str, Callable[[str], Any]]
    tenant: Callable[[Any, Any], Any] | None
    max_tenants: int
    boto3_session: Any
    boto3_client: Any
    boto_config: Config | None
    capture: str | None
    hub: str | None
    prefetch: bool
    cache_key: str
    max_age: float | None
    set_to_context: bool
    refresh_margin: float
    traced: bool
    prefetch_timeout: float | None
    shared_cache: bool
    metrics: Any
    metrics_entry_dimension: bool
    __slots__ = tuple(__annotations__)

    def __init__(self, **values: Any) -> None:
        for name, value in values.items():
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"Options are frozen: {name} cannot be set")

    @classmethod
    def of(
        cls,
        *,
        fetch_data: Any,
        boto3_session: Any = None,
        boto3_client: Any = None,
        boto_config: Any = None,
        aws_client_capture: Any = False,
        aws_client_assume_role: Any = None,
        disable_prefetch: Any = False,
        cache_key: Any = "powertools_sts",
        max_age: Any = None,
        set_to_context: Any = False,
        refresh_margin: Any = 300,
        trace_execution: Any = None,
        prefetch_timeout: Any = None,
        shared_cache: Any = None,
        metrics: Any = None,
        metrics_entry_dimension: Any = False,
        tenant: Any = None,
        max_tenants: Any = 10,
    ) -> Options:
        """Check every option; raise ``ConfigurationError`` naming the first that is wrong."""
        hub = aws_client_assume_role
        if hub is not None and (not isinstance(hub, str) or not hub):
            raise ConfigurationError(f"aws_client_assume_role must be an entry name, got {hub!r}")
        entries, tenant_entries = _entries(fetch_data, chained=hub is not None)
        _tenancy(tenant, max_tenants, tenant_entries, set_to_context)
        if hub in entries or hub in tenant_entries:
            raise ConfigurationError(
                f"aws_client_assume_role={hub!r} names an entry of this same layer: the entry that signs must come "
                "from an outer sts layer"
            )
        _check_plain(cache_key, disable_prefetch, set_to_context, trace_execution, metrics, metrics_entry_dimension)
        capture = capture_backend(aws_client_capture)
        _check_clients(boto3_session, boto3_client, boto_config, hub)
        return cls(
            entries=entries,
            tenant_entries=tenant_entries,
            tenant=tenant,
            max_tenants=max_tenants,
            boto3_session=boto3_session,
            boto3_client=boto3_client,
            boto_config=boto_config,
            capture=capture,
            hub=hub,
            prefetch=not disable_prefetch,
            cache_key=cache_key,
            max_age=validate_max_age(max_age),
            set_to_context=set_to_context,
            refresh_margin=validate_refresh_margin(refresh_margin),
            traced=_traced(trace_execution),
            prefetch_timeout=_prefetch_wait(prefetch_timeout),
            shared_cache=shared_cache_from_env() if shared_cache is None else _flag(shared_cache, "shared_cache"),
            metrics=metrics,
            metrics_entry_dimension=metrics_entry_dimension,
        )


def _check_plain(
    cache_key: Any, disable_prefetch: Any, set_to_context: Any, trace_execution: Any, metrics: Any, dimension: Any
) -> None:
    if not isinstance(cache_key, str) or not cache_key:
        raise ConfigurationError(f"cache_key must be a non-empty string, got {cache_key!r}")
    for value, name in ((disable_prefetch, "disable_prefetch"), (set_to_context, "set_to_context")):
        _flag(value, name)
    if trace_execution is not None:
        _flag(trace_execution, "trace_execution")
    if _flag(dimension, "metrics_entry_dimension") and metrics is None:
        raise ConfigurationError("metrics_entry_dimension=True needs metrics= (a Powertools Metrics instance)")
    if metrics is not None:
        from .metrics import check_metrics

        check_metrics(metrics)


def _check_clients(boto3_session: Any, boto3_client: Any, boto_config: Any, hub: str | None) -> None:
    validate_clients(boto3_session, boto3_client, boto_config)
    if hub is not None and (boto3_session is not None or boto3_client is not None):
        raise ConfigurationError(
            "boto3_session and boto3_client cannot be combined with aws_client_assume_role: a chained layer's "
            "STS client is signed with the hub entry's credentials (boto_config still applies)"
        )


def _traced(trace_execution: bool | None) -> bool:
    traced = resolve_truthy_env_var_choice(
        env=os.getenv("POWERTOOLS_TRACE_MIDDLEWARES", "false"), choice=trace_execution
    )
    if traced:
        # The factory builds a Tracer at every invocation, which imports aws-xray-sdk there: refuse now.
        require_xray_sdk(
            "trace_execution=True" if trace_execution else "POWERTOOLS_TRACE_MIDDLEWARES=true (trace_execution=None)",
            'set trace_execution=False (the STS calls can still be traced with aws_client_capture="opentelemetry")',
        )
    return bool(traced)


def _prefetch_wait(prefetch_timeout: Any) -> float | None:
    if prefetch_timeout is None:
        return prefetch_timeout_from_env()
    number = not isinstance(prefetch_timeout, bool) and isinstance(prefetch_timeout, (int, float))
    if not number or not 0 <= prefetch_timeout <= 900:
        raise ConfigurationError(f"prefetch_timeout must be a number of seconds in 0..900, got {prefetch_timeout!r}")
    return float(prefetch_timeout)
