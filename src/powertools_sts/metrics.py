"""Powertools Metrics of an ``sts`` layer's AssumeRole attempts: what ``sts(..., metrics=...)`` adds.

Each attempt that reaches STS is added to the layer's ``Metrics``, which ``log_metrics`` flushes with
the invocation's own; an invocation served from the cache adds nothing. The role ARN is never a dimension.

Example
-------
>>> from aws_lambda_powertools.metrics import EphemeralMetrics
>>> metrics = EphemeralMetrics(namespace="Example")
>>> observer = MetricsObserver(check_metrics(metrics))
>>> observer.refreshed(Refresh("reports", "arn:aws:iam::111122223333:role/reports", FETCHED, 0.012, 3540.0, None))
>>> sorted(metrics.metric_set)
['AssumeRoleCalls', 'AssumeRoleLatency']
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import EphemeralMetrics, Metrics, MetricUnit

from .events import FETCHED, SERVED_STALE, Refresh
from .exceptions import ConfigurationError

__all__ = [
    "ASSUME_ROLE_CALLS",
    "ASSUME_ROLE_FAILURES",
    "ASSUME_ROLE_LATENCY",
    "CREDENTIALS_RETRIED_AFTER_REFUSAL",
    "CREDENTIALS_SERVED_STALE",
    "ENTRY_DIMENSION",
    "MetricsObserver",
    "check_metrics",
]

ASSUME_ROLE_CALLS = "AssumeRoleCalls"  # every attempt, whatever its outcome
ASSUME_ROLE_FAILURES = "AssumeRoleFailures"  # an attempt that gave no credentials, after botocore's retries
CREDENTIALS_SERVED_STALE = "CredentialsServedStale"  # a failed attempt after which the still-valid ones served
CREDENTIALS_RETRIED_AFTER_REFUSAL = "CredentialsRetriedAfterRefusal"  # a call retried once after a refusal
ASSUME_ROLE_LATENCY = "AssumeRoleLatency"  # milliseconds of an attempt that got credentials, retries included
#: The dimension of the per-entry blobs (``metrics_entry_dimension=True``).
ENTRY_DIMENSION = "entry"

_Point = tuple[str, MetricUnit, float]


def check_metrics(value: Any) -> Metrics | EphemeralMetrics:
    """Return ``value`` if it is a Powertools ``Metrics`` or ``EphemeralMetrics`` that can publish.

    Checked when ``sts(...)`` is applied, not by ``log_metrics`` at the end of the first invocation that fetched.

    Raises
    ------
    ConfigurationError
        For anything else, and for an instance without a namespace while Powertools' metrics are enabled.

    Example
    -------
    >>> from aws_lambda_powertools.metrics import EphemeralMetrics
    >>> metrics = EphemeralMetrics(namespace="Example")
    >>> check_metrics(metrics) is metrics
    True
    >>> check_metrics("Example")
    Traceback (most recent call last):
    ...
    powertools_sts.exceptions.ConfigurationError: metrics must be an instance of Powertools' Metrics or EphemeralMetrics (aws_lambda_powertools.metrics), got str
    """
    if isinstance(value, type) and issubclass(value, (Metrics, EphemeralMetrics)):
        raise ConfigurationError(
            f"metrics must be an instance, got the class {value.__name__}: pass {value.__name__}(namespace=...)"
        )
    if not isinstance(value, (Metrics, EphemeralMetrics)):
        raise ConfigurationError(
            "metrics must be an instance of Powertools' Metrics or EphemeralMetrics (aws_lambda_powertools.metrics), "
            f"got {type(value).__name__}"
        )
    if value.namespace is None and not _metrics_disabled():
        raise ConfigurationError(
            "metrics has no namespace: pass namespace= to it, or set POWERTOOLS_METRICS_NAMESPACE "
            "(log_metrics would otherwise fail the first invocation that calls STS)"
        )
    return value


def _metrics_disabled() -> bool:
    try:
        # Not exported by Powertools, and absent from its early 3.x releases (which cannot disable metrics).
        from aws_lambda_powertools.metrics.functions import is_metrics_disabled
    except ImportError:  # pragma: no cover - the installed Powertools has it
        return False
    return bool(is_metrics_disabled())


class MetricsObserver:
    """Adds an ``sts`` layer's AssumeRole attempts to a Powertools metrics instance (an events.py observer).

    Parameters
    ----------
    metrics:
        Where the metrics go; flushed by its ``log_metrics`` (or ``flush_metrics``).
    entry_dimension:
        Also print each attempt at once as a blob of its own with an ``entry`` dimension: Powertools'
        dimensions apply to a whole blob, and one invocation may refresh several entries.

    Example
    -------
    >>> from aws_lambda_powertools.metrics import EphemeralMetrics
    >>> metrics = EphemeralMetrics(namespace="Example")
    >>> MetricsObserver(metrics).retried("reports", "arn:aws:iam::111122223333:role/reports")
    >>> metrics.metric_set["CredentialsRetriedAfterRefusal"]["Value"]
    [1.0]
    """

    __slots__ = ("entry_dimension", "metrics")

    def __init__(self, metrics: Metrics | EphemeralMetrics, *, entry_dimension: bool = False) -> None:
        self.metrics = metrics
        self.entry_dimension = entry_dimension

    def refreshed(self, event: Refresh) -> None:
        """Add one AssumeRole attempt."""
        points: list[_Point] = [(ASSUME_ROLE_CALLS, MetricUnit.Count, 1.0)]
        if event.outcome == FETCHED:
            # Successful attempts only: a fast AccessDenied or a spent retry budget would blur the latency.
            points.append((ASSUME_ROLE_LATENCY, MetricUnit.Milliseconds, event.latency * 1000.0))
        else:  # SERVED_STALE or FAILED
            points.append((ASSUME_ROLE_FAILURES, MetricUnit.Count, 1.0))
            if event.outcome == SERVED_STALE:
                points.append((CREDENTIALS_SERVED_STALE, MetricUnit.Count, 1.0))
        self._add(event.entry, points)

    def retried(self, entry: str | None, role_arn: str) -> None:
        """Add one call retried after its credentials were refused (the role ARN is not recorded)."""
        self._add(entry, [(CREDENTIALS_RETRIED_AFTER_REFUSAL, MetricUnit.Count, 1.0)])

    def _add(self, entry: str | None, points: list[_Point]) -> None:
        # Called on the thread of an invocation of the layer (events.Deferred): Metrics are not thread-safe.
        for name, unit, value in points:
            self.metrics.add_metric(name=name, unit=unit, value=value)
        if self.entry_dimension and entry is not None:
            self._print_for_entry(entry, points)

    def _print_for_entry(self, entry: str, points: list[_Point]) -> None:
        """Print ``points`` now as one EMF blob: the instance's namespace and dimensions, plus ``entry``."""
        blob = EphemeralMetrics(
            namespace=self.metrics.namespace,
            service=self.metrics.service,
            default_dimensions=dict(self.metrics.default_dimensions),
        )
        # Powertools adds the service dimension when it serializes the blob.
        blob.add_dimension(name=ENTRY_DIMENSION, value=entry)
        for name, unit, value in points:
            blob.add_metric(name=name, unit=unit, value=value)
        blob.flush_metrics()
