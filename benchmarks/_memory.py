"""(6) Memory growth over many invocations of each documented usage pattern, traced with tracemalloc.

Per pattern: ``warmup`` invocations (first fetches, first clients, botocore's lazy caches), a
``gc.collect()``, the traced memory; then ``invocations`` more, a ``gc.collect()``, the traced memory
again. What a pattern keeps alive per invocation shows as growth; a bounded cache does not grow
once warm. Tracing starts after the first invocation but before the rest of the warm-up, so that what
the run frees of the warm-up's allocations (an entry evicted, a client replaced) counts too.

STS is the moto server, reached through ``AWS_ENDPOINT_URL_STS`` as the documented examples leave
the endpoint to the environment. A pattern that is slow (a client built per call costs
milliseconds) is stopped at a wall-time budget: the invocations actually made are reported, and the
growth is projected linearly to the planned count.
"""

from __future__ import annotations

import collections
import gc
import os
import time
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import boto3
from _common import roles
from _proxy import STSProxy
from _stscalls import FakeClock
from _warm import EVENT, make_context
from botocore.config import Config

from powertools_sts import (
    STSProvider,
    _clock,
    assume_role,
    clear_caches,
    get_client,
    get_credentials,
    get_session,
    sts,
)

MIB = 1024 * 1024
TENANTS = 1_000  # distinct RoleSessionNames over the run: 1,000 fetches at ~4 ms each, whatever the mode
TENANT_SECONDS = 3.0  # fake seconds per invocation: a tenant's 900 s credentials expire 300 invocations later
FRAMES = 30  # deep enough to reach a powertools_sts frame from an allocation inside botocore
# Traced one frame deep: a deep traceback at every allocation makes botocore's fetches 5x slower, and this
# pattern makes 1,000 of them. Its growth sites are then the allocating lines themselves.
SHALLOW = {"provider_tenants"}

PATTERNS = (
    ("get_credentials", "`get_credentials(name)` in an sts handler"),
    ("get_client", "`get_client(name, 's3')` in an sts handler"),
    (
        "get_client_config_inline",
        "`get_client(name, 's3', config=Config(retries={'max_attempts': 2}))`, the Config built in the handler",
    ),
    ("get_session", "`get_session(name)` in an sts handler"),
    ("get_session_region", "`get_session(name, region_name='eu-west-1')` in an sts handler"),
    ("chained", "`get_client(name, 'sts')` in a chained layer (`aws_client_assume_role`)"),
    ("provider_get", "`provider.get(role)` on one reused `STSProvider()`"),
    ("assume_role", "`assume_role(role)` (the default provider)"),
    (
        "provider_tenants",
        f"`provider.get(role, RoleSessionName=f'tenant-{{n}}', DurationSeconds=900)`, {TENANTS:,} tenants in turn, "
        f"fake clock +{TENANT_SECONDS:g} s per call",
    ),
)


def _decorated(name: str, body: Callable[[], Any]) -> Callable[[int], None]:
    """An sts handler with one entry ``name`` whose body is ``body()``, as a step of the run."""

    @sts(fetch_data={name: roles(1, name)[f"{name}0"]}, cache_key=f"bench-memory-{name}")
    def handler(event: Any, context: Any) -> Any:
        return body()

    context = make_context()
    return lambda index: handler(EVENT, context)


def _chained() -> Callable[[int], None]:
    """The role-chaining example's shape: a hub layer outside, a chained layer next to the handler."""

    @sts(fetch_data={"memory_hub": roles(1, "hub")["hub0"]}, cache_key="bench-memory-hub")
    @sts(
        fetch_data={"memory_workload": {"RoleArn": roles(2, "wl")["wl1"], "DurationSeconds": 3600}},
        aws_client_assume_role="memory_hub",
        cache_key="bench-memory-workload",
    )
    def handler(event: Any, context: Any) -> Any:
        return get_client("memory_workload", "sts")

    context = make_context()
    return lambda index: handler(EVENT, context)


def _tenants(sts_client: Any, clock: FakeClock, per_tenant: int) -> Callable[[int], None]:
    """Each tenant's requests in a row, then the next tenant's: old tenants' entries expire, never asked again."""
    provider = STSProvider(boto3_client=sts_client)
    arn = roles(1, "tenants")["tenants0"]

    def step(index: int) -> None:
        clock.time += TENANT_SECONDS
        provider.get(arn, RoleSessionName=f"tenant-{index // per_tenant}", DurationSeconds=900)

    return step


def _reused_provider() -> Callable[[int], None]:
    provider = STSProvider()
    arn = roles(1, "provider")["provider0"]
    return lambda index: provider.get(arn)


def _inline_config() -> Any:
    # Written as a user writes it: a new Config object at every invocation.
    return get_client("memory_inline", "s3", config=Config(retries={"max_attempts": 2}))


def _default_provider() -> Callable[[int], None]:
    arn = roles(1, "default")["default0"]
    return lambda index: assume_role(arn)


# Builders, called just before their pattern is measured: a layer's prefetch (a worker thread) then
# runs while its own pattern warms up, never while another pattern is traced.
BUILDERS: dict[str, Callable[[], Callable[[int], None]]] = {
    "get_credentials": lambda: _decorated("memory_creds", lambda: get_credentials("memory_creds")),
    "get_client": lambda: _decorated("memory_client", lambda: get_client("memory_client", "s3")),
    "get_client_config_inline": lambda: _decorated("memory_inline", _inline_config),
    "get_session": lambda: _decorated("memory_session", lambda: get_session("memory_session")),
    "get_session_region": lambda: _decorated(
        "memory_region", lambda: get_session("memory_region", region_name="eu-west-1")
    ),
    "chained": _chained,
    "provider_get": _reused_provider,
    "assume_role": _default_provider,
}


def _run(step: Callable[[int], None], first: int, count: int, deadline: float) -> int:
    """Invoke ``step`` for indices ``first``.. until ``count`` are done or the deadline passes; return how many."""
    for done in range(count):
        # The clock is read at every invocation: under a deep trace a client built per call takes 1/4 s.
        if time.perf_counter() > deadline:
            return done
        step(first + done)
    return count


def _short(path: str) -> str:
    for marker in ("/site-packages/", "/src/", "/benchmarks/"):
        if marker in path:
            return path.rsplit(marker, 1)[1]
    return "/".join(path.rsplit("/", 2)[-2:])


def _site(frames: Any) -> str:
    """The innermost powertools_sts frame of an allocation's traceback, else its innermost frame."""
    own = [frame for frame in frames if "/powertools_sts/" in frame.filename]
    frame = own[-1] if own else frames[-1]
    return f"{_short(frame.filename)}:{frame.lineno}"


def _growth_sites(before: tracemalloc.Snapshot, after: tracemalloc.Snapshot, top: int = 3) -> list[dict[str, Any]]:
    """Where the growth was allocated: net bytes by the package line on the stack (see ``_site``), 1 KiB or more."""
    sizes: collections.Counter[str] = collections.Counter()
    for stat in after.compare_to(before, "traceback"):
        if stat.size_diff:
            sizes[_site(stat.traceback)] += stat.size_diff
    # Under 1 KiB is the benchmark's own loop and the interpreter's caches, not what a pattern keeps.
    return [{"site": site, "bytes": size} for site, size in sizes.most_common(top) if size >= 1024]


def _snapshot() -> tracemalloc.Snapshot:
    return tracemalloc.take_snapshot().filter_traces([tracemalloc.Filter(False, tracemalloc.__file__)])


def measure_pattern(
    step: Callable[[int], None], *, invocations: int, warmup: int, budget_s: float, frames: int = FRAMES
) -> dict[str, Any]:
    """Traced memory after the warm-up and after ``invocations`` more (each after ``gc.collect()``)."""
    # The first invocation runs untraced: it builds the first clients, whose service models botocore
    # parses (seconds under a deep trace), and which the run never frees anyway.
    step(0)
    gc.collect()
    tracemalloc.start(frames)
    try:
        warmed = 1 + _run(step, 1, warmup - 1, time.perf_counter() + budget_s / 4)
        gc.collect()
        # The first snapshot is taken before the reading, so that the memory it holds is not counted as growth.
        snap_before = _snapshot()
        before = tracemalloc.get_traced_memory()[0]
        started = time.perf_counter()
        done = _run(step, warmed, invocations, started + budget_s)
        wall = time.perf_counter() - started
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
        snap_after = _snapshot()
    finally:
        tracemalloc.stop()
    growth = after - before
    return {
        "warmup": warmed,
        "invocations": done,
        "planned": invocations,
        "capped": done < invocations,
        "wall_s": wall,
        "growth_bytes": growth,
        # What the planned run would have added at the rate measured (the measured figure when not capped).
        "projected_bytes": growth * invocations / done if done else float("inf"),
        "bytes_per_invocation": growth / done if done else float("inf"),
        "frames": frames,
        "sites": _growth_sites(snap_before, snap_after),
    }


@contextmanager
def _environment(moto_url: str, clock: FakeClock) -> Iterator[None]:
    """STS at moto for the clients the package builds; the fake clock installed; all restored after."""
    saved_endpoint, real_now = os.environ.get("AWS_ENDPOINT_URL_STS"), _clock.now
    os.environ["AWS_ENDPOINT_URL_STS"] = moto_url
    try:
        yield
    finally:
        _clock.now = real_now
        if saved_endpoint is None:
            os.environ.pop("AWS_ENDPOINT_URL_STS", None)
        else:
            os.environ["AWS_ENDPOINT_URL_STS"] = saved_endpoint
        clear_caches()  # nothing built against this moto (or leaked by a pattern) outlives the measurement


def measure_memory(moto_url: str, *, invocations: int, warmup: int, budget_s: float) -> dict[str, Any]:
    clock = FakeClock(time.time())
    results: dict[str, Any] = {}
    per_tenant = max(1, (warmup + invocations) // TENANTS)
    # The tenants' fetches go through the proxy, which stamps Expiration from the fake clock (moto's
    # are real times), so that their credentials expire as the fake clock runs.
    with _environment(moto_url, clock), STSProxy(moto_url, clock=clock) as proxy:
        builders = {
            **BUILDERS,
            "provider_tenants": lambda: _tenants(boto3.client("sts", endpoint_url=proxy.url), clock, per_tenant),
        }
        for name, _ in PATTERNS:
            step = builders[name]()
            if name == "provider_tenants":
                _clock.now = clock  # only this pattern runs on the fake clock
            frames = 1 if name in SHALLOW else FRAMES
            results[name] = measure_pattern(
                step, invocations=invocations, warmup=warmup, budget_s=budget_s, frames=frames
            )
        tenant_fetches = proxy.total_calls
    return {
        "labels": dict(PATTERNS),
        "invocations": invocations,
        "warmup": warmup,
        "budget_s": budget_s,
        "limit_bytes": MIB,
        "tenants": TENANTS,
        "per_tenant": per_tenant,
        "tenant_seconds": TENANT_SECONDS,
        "tenant_fetches": tenant_fetches,
        "patterns": results,
    }
