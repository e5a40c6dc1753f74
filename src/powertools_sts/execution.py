"""Which execution model this process runs in, read from the environment the Lambda runtime sets.

- on-demand: INIT, then invocations; the sandbox may be frozen between them.
- provisioned concurrency (``AWS_LAMBDA_INITIALIZATION_TYPE=provisioned-concurrency``): INIT runs
  ahead of traffic and the sandbox is frozen until the first invocation, which may come hours later.
- SnapStart (``snap-start``): INIT runs once, a snapshot is restored into many sandboxes.
- Lambda Managed Instances (``AWS_LAMBDA_MAX_CONCURRENCY`` set on Lambda, see :func:`on_managed_instances`):
  N worker processes per execution environment, each with its own INIT, sharing ``/tmp``; never frozen.

Example
-------
>>> import os
>>> worker = {"AWS_LAMBDA_MAX_CONCURRENCY": "8", "AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9001", "AWS_LAMBDA_FUNCTION_NAME": "f"}
>>> os.environ.update(worker)
>>> on_managed_instances(), init_waits_for_prefetch()
(True, True)
>>> del os.environ["AWS_LAMBDA_RUNTIME_API"]  # the worker count alone, as in a container: not Lambda
>>> on_managed_instances(), init_waits_for_prefetch()
(False, False)
>>> for name in worker: _ = os.environ.pop(name, None)
"""

from __future__ import annotations

import os

from .exceptions import ConfigurationError

__all__ = [
    "PREFETCH_TIMEOUT_ENV",
    "SHARED_CACHE_ENV",
    "init_waits_for_prefetch",
    "initialization_type",
    "on_managed_instances",
    "prefetch_timeout_from_env",
    "shared_cache_from_env",
]

#: Seconds ``sts(...)`` waits for its prefetch at INIT where INIT should end with credentials cached.
PREFETCH_TIMEOUT_ENV = "POWERTOOLS_STS_PREFETCH_TIMEOUT"
#: "true" or "false": share credentials between the worker processes of an environment through /tmp.
SHARED_CACHE_ENV = "POWERTOOLS_STS_SHARED_CACHE"
# Set by Lambda in every execution environment: the Runtime API the runtime client polls (awslambdaric
# cannot start without it), and the function's name. AWS_LAMBDA_MAX_CONCURRENCY counts only beside them.
_ON_LAMBDA = ("AWS_LAMBDA_RUNTIME_API", "AWS_LAMBDA_FUNCTION_NAME")


def initialization_type() -> str:
    """Return ``AWS_LAMBDA_INITIALIZATION_TYPE`` (``on-demand`` when unset, as outside Lambda)."""
    return os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE") or "on-demand"


def on_managed_instances() -> bool:
    """Whether this is a worker process of Lambda Managed Instances.

    The runtime client forks its workers on ``AWS_LAMBDA_MAX_CONCURRENCY`` alone, but a container or a
    laptop may carry that variable too, and there a cache in ``/tmp`` and threads refreshing ahead are
    not wanted: it counts only beside ``AWS_LAMBDA_RUNTIME_API`` and ``AWS_LAMBDA_FUNCTION_NAME``, which
    Lambda sets in every execution environment (on Managed Instances beside
    ``AWS_LAMBDA_INITIALIZATION_TYPE=lambda-managed-instances``, which is not required here).
    """
    return os.environ.get("AWS_LAMBDA_MAX_CONCURRENCY") is not None and all(map(os.environ.get, _ON_LAMBDA))


def init_waits_for_prefetch() -> bool:
    """Whether INIT should end with the credentials cached.

    Under provisioned concurrency the sandbox is frozen right after INIT, so a prefetch still running
    would be finished (or abandoned) by the first invocation, the one the user pays to keep fast; on
    Managed Instances a worker's INIT is off the request path too. On-demand INIT stays non-blocking:
    there the prefetch overlaps the rest of INIT and the first invocation's own work.
    """
    return initialization_type() == "provisioned-concurrency" or on_managed_instances()


def prefetch_timeout_from_env() -> float | None:
    """Return ``POWERTOOLS_STS_PREFETCH_TIMEOUT`` in seconds, or None when it is unset.

    Raises
    ------
    ConfigurationError
        For a value that is not a number of seconds in 0..900.
    """
    raw = os.environ.get(PREFETCH_TIMEOUT_ENV)
    if raw is None or raw.strip() == "":
        return None
    try:
        seconds = float(raw)
    except ValueError:
        seconds = float("nan")
    if not 0 <= seconds <= 900:
        raise ConfigurationError(f"{PREFETCH_TIMEOUT_ENV} must be a number of seconds in 0..900, got {raw!r}")
    return seconds


def shared_cache_from_env() -> bool:
    """Return whether the cross-process cache is on: ``POWERTOOLS_STS_SHARED_CACHE``, else Managed Instances.

    Raises
    ------
    ConfigurationError
        For a value other than true/false (any case), 1/0, yes/no, on/off.
    """
    raw = os.environ.get(SHARED_CACHE_ENV)
    if raw is None or raw.strip() == "":
        return on_managed_instances()
    value = raw.strip().lower()
    if value in ("true", "1", "yes", "on"):
        return True
    if value in ("false", "0", "no", "off"):
        return False
    raise ConfigurationError(f"{SHARED_CACHE_ENV} must be true or false, got {raw!r}")
