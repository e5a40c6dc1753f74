"""Long runs: (5) STS calls over a simulated day and the spread of the refreshes of containers started together, on
a fake clock that replaces ``powertools_sts._clock.now`` (the proxy in front of moto stamps ``Expiration`` from it and
counts the AssumeRole calls: botocore's Stubber would need every response queued in advance, in the very number
measured); (6) memory growth over many invocations of each documented pattern, traced with tracemalloc, and the
resident memory of tenants in turn through ``max_tenants``, in a process of its own.
"""

from __future__ import annotations

import collections
import contextlib
import gc
import json
import os
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any
from unittest import mock

import boto3
from _common import Context, roles, summary
from _loopback import STSProxy
from _warm import BENCHMARKS, EVENT, make_context
from botocore.config import Config

from powertools_sts import (
    STSProvider,
    _clock,
    _state,
    assume_role,
    clear_caches,
    get_client,
    get_credentials,
    get_session,
    sts,
)
from powertools_sts.provider import JITTER_FRACTION

DAY = 86_400.0


class FakeClock:
    def __init__(self, start: float) -> None:
        self.time = start

    def __call__(self) -> float:
        return self.time


def simulate_day(sts_client: Any, clock: FakeClock, proxy: STSProxy, *, rate: float, entries: int) -> dict[str, Any]:
    """``rate`` invocations per second for 24 fake hours of one handler with ``entries`` entries."""
    fetch_data = {name: {"RoleArn": arn, "DurationSeconds": 3600} for name, arn in roles(entries, "day").items()}
    start, names = clock.time, tuple(fetch_data)
    last: dict[str, tuple[Any, float]] = {}  # per entry: the credentials last handed out, and when (fake time)
    min_left = [float("inf")]

    @sts(fetch_data=fetch_data, boto3_client=sts_client, cache_key="bench-day")
    def handler(event: Any, context: Any) -> None:
        now = clock.time
        for name in names:
            creds = get_credentials(name)
            previous = last.get(name)
            if previous is not None and previous[0] is not creds:
                min_left[0] = min(min_left[0], previous[0].expiration.timestamp() - previous[1])
            last[name] = (creds, now)

    proxy.reset()
    context, invocations, step = SimpleNamespace(function_name="bench"), int(DAY * rate), 1.0 / rate
    wall = time.perf_counter()
    for index in range(invocations):
        clock.time = start + index * step
        handler({}, context)
    wall = time.perf_counter() - wall
    for creds, at in last.values():
        min_left[0] = min(min_left[0], creds.expiration.timestamp() - at)
    per_entry = [proxy.calls[fetch_data[name]["RoleArn"]] for name in names]
    return {
        "invocations": invocations,
        "rate_per_second": rate,
        "entries": entries,
        "credential_seconds": 3600,
        "calls_per_entry": summary(per_entry),
        "calls_per_entry_raw": per_entry,
        "calls_per_invocation": sum(per_entry) / invocations,
        "min_seconds_left_when_handed_out": min_left[0],
        "simulation_wall_s": wall,
    }


def container_spread(sts_client: Any, clock: FakeClock, *, containers: int) -> dict[str, Any]:
    """``containers`` fresh providers, each fetching at the same fake instant; their refresh times."""
    t0, arn, offsets = clock.time, roles(1)["entry0"], []
    for _ in range(containers):
        fresh = STSProvider(boto3_client=sts_client)
        fresh.get(arn, DurationSeconds=3600)
        offsets.extend(entry.refresh_at - t0 for entry in fresh.cache.entries.values())
    ordered = sorted(offsets)
    n = len(ordered)
    return {
        "containers": containers,
        "refresh_margin": 300.0,
        "jitter_fraction": JITTER_FRACTION,
        "spread_s": ordered[-1] - ordered[0],
        "p05_p95_spread_s": ordered[int(0.95 * (n - 1))] - ordered[int(0.05 * (n - 1))],
        "stdev_s": statistics.pstdev(ordered),
        "refresh_after_s": summary(ordered),
        "raw_refresh_after_s": ordered,
    }


def measure_sts_calls(ctx: Context, *, rate: float, entries: int, containers: int) -> dict[str, Any]:
    clock, real_now = FakeClock(time.time()), _clock.now
    _clock.now = clock
    try:
        with STSProxy(ctx.moto, clock=clock) as proxy:
            sts_client = boto3.client("sts", endpoint_url=proxy.url)
            day = simulate_day(sts_client, clock, proxy, rate=rate, entries=entries)
            clock.time += 3600.0  # a new, later instant for the containers
            spread = container_spread(sts_client, clock, containers=containers)
    finally:
        _clock.now = real_now
    return {"day": day, "containers": spread}


# -- (6) memory -----------------------------------------------------------------------------------------------

MIB = 1024 * 1024
TENANTS = 1_000  # distinct RoleSessionNames over the run: 1,000 fetches at ~4 ms each, whatever the mode
TENANT_SECONDS = 3.0  # fake seconds per invocation: a tenant's 900 s credentials expire 300 invocations later
FRAMES = 30  # deep enough to reach a powertools_sts frame from an allocation inside botocore
# The tenants' pattern is traced one frame deep: a deep traceback at every allocation makes botocore's fetches 5x
# slower, and it makes 1,000 of them. Its growth sites are then the allocating lines themselves.
SHALLOW = {"provider_tenants"}

PATTERNS = {
    "get_credentials": "`get_credentials(name)` in an sts handler",
    "get_client": "`get_client(name, 's3')` in an sts handler",
    "get_client_config_inline": "`get_client(name, 's3', config=Config(retries={'max_attempts': 2}))`, "
    "the Config built in the handler",
    "get_session": "`get_session(name)` in an sts handler",
    "get_session_region": "`get_session(name, region_name='eu-west-1')` in an sts handler",
    "chained": "`get_client(name, 'sts')` in a chained layer (`aws_client_assume_role`)",
    "provider_get": "`provider.get(role)` on one reused `STSProvider()`",
    "assume_role": "`assume_role(role)` (the default provider)",
    "provider_tenants": f"`provider.get(role, RoleSessionName=f'tenant-{{n}}', DurationSeconds=900)`, {TENANTS:,} "
    f"tenants in turn, fake clock +{TENANT_SECONDS:g} s per call",
}


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
    provider, arn = STSProvider(boto3_client=sts_client), roles(1, "tenants")["tenants0"]

    def step(index: int) -> None:
        clock.time += TENANT_SECONDS
        provider.get(arn, RoleSessionName=f"tenant-{index // per_tenant}", DurationSeconds=900)

    return step


def _reused_provider() -> Callable[[int], None]:
    provider, arn = STSProvider(), roles(1, "provider")["provider0"]
    return lambda index: provider.get(arn)


def _default_provider() -> Callable[[int], None]:
    arn = roles(1, "default")["default0"]
    return lambda index: assume_role(arn)


# Builders, called just before their pattern is measured: a layer's prefetch (a worker thread) then runs while its
# own pattern warms up, never while another pattern is traced. The inline Config is written as a user writes it: a
# new Config object at every invocation.
BUILDERS: dict[str, Callable[[], Callable[[int], None]]] = {
    "get_credentials": lambda: _decorated("memory_creds", lambda: get_credentials("memory_creds")),
    "get_client": lambda: _decorated("memory_client", lambda: get_client("memory_client", "s3")),
    "get_client_config_inline": lambda: _decorated(
        "memory_inline", lambda: get_client("memory_inline", "s3", config=Config(retries={"max_attempts": 2}))
    ),
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


def _site(frames: Any) -> str:
    """The innermost powertools_sts frame of an allocation's traceback, else its innermost frame, shortened."""
    own = [frame for frame in frames if "/powertools_sts/" in frame.filename]
    frame = own[-1] if own else frames[-1]
    marker = next((m for m in ("/site-packages/", "/src/", "/benchmarks/") if m in frame.filename), None)
    path = frame.filename.rsplit(marker, 1)[1] if marker else "/".join(frame.filename.rsplit("/", 2)[-2:])
    return f"{path}:{frame.lineno}"


def _snapshot() -> tracemalloc.Snapshot:
    return tracemalloc.take_snapshot().filter_traces([tracemalloc.Filter(False, tracemalloc.__file__)])


def measure_pattern(
    step: Callable[[int], None], *, invocations: int, warmup: int, budget_s: float, frames: int = FRAMES
) -> dict[str, Any]:
    """Traced memory after the warm-up and after ``invocations`` more (each after ``gc.collect()``)."""
    # The first invocation runs untraced: it builds the first clients, whose service models botocore parses
    # (seconds under a deep trace), and which the run never frees anyway.
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
    # Where the growth was allocated, by the package line on the stack (see ``_site``); under 1 KiB is the
    # benchmark's own loop and the interpreter's caches, not what a pattern keeps.
    sizes: collections.Counter[str] = collections.Counter()
    for stat in snap_after.compare_to(snap_before, "traceback"):
        if stat.size_diff:
            sizes[_site(stat.traceback)] += stat.size_diff
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
        "sites": [{"site": site, "bytes": size} for site, size in sizes.most_common(3) if size >= 1024],
    }


def measure_memory(ctx: Context, *, invocations: int, warmup: int, budget_s: float) -> dict[str, Any]:
    clock, results = FakeClock(time.time()), {}
    per_tenant = max(1, (warmup + invocations) // TENANTS)
    # The tenants' fetches go through the proxy, which stamps Expiration from the fake clock (moto's are real times),
    # so that their credentials expire as the fake clock runs; only their pattern runs on it.
    with mock.patch.dict(os.environ, AWS_ENDPOINT_URL_STS=ctx.moto), STSProxy(ctx.moto, clock=clock) as proxy:
        tenants = {"provider_tenants": lambda: _tenants(boto3.client("sts", endpoint_url=proxy.url), clock, per_tenant)}
        for name in PATTERNS:
            step, frames = {**BUILDERS, **tenants}[name](), 1 if name in SHALLOW else FRAMES
            with mock.patch.object(_clock, "now", clock) if name in tenants else contextlib.nullcontext():
                results[name] = measure_pattern(
                    step, invocations=invocations, warmup=warmup, budget_s=budget_s, frames=frames
                )
        tenant_fetches = proxy.total_calls
    clear_caches()  # nothing built against this moto (or leaked by a pattern) outlives the measurement
    return {
        "labels": PATTERNS,
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


# -- (6) the resident memory of tenants in turn through max_tenants ------------------------------------------

MEMORY_PER_TENANT_NAME = "tenant_data"


def _rss() -> int | None:
    """This process's resident set size in bytes (Linux: /proc/self/statm), or None elsewhere."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return None


def tenants_child(arguments: str) -> None:
    """In a process of its own: tenants in turn through one per-tenant entry, each calling get_client; print JSON.

    RSS with no tenant, with ``max_tenants`` resident, after a second round (every tenant then admitted evicts one:
    the warm-up), and after the tenants that follow until ``tenants`` in all or ``budget_s`` spent.
    """
    plan = json.loads(arguments)
    if _rss() is None:
        print(json.dumps({"skipped": "no /proc/self/statm on this platform: RSS is read from it"}))
        return
    max_tenants, arn = plan["max_tenants"], roles(1, "tenants")["tenants0"]

    def params(tenant_id: str) -> dict[str, Any]:
        return {"RoleArn": arn, "DurationSeconds": 3600, "Tags": [{"Key": "tenant", "Value": tenant_id}]}

    @sts(
        fetch_data={MEMORY_PER_TENANT_NAME: params},
        boto3_client=boto3.client("sts", endpoint_url=plan["moto"]),
        max_tenants=max_tenants,
        cache_key="bench-tenants",
    )
    def handler(event: Any, context: Any) -> Any:
        return get_client(MEMORY_PER_TENANT_NAME, "s3")

    boto3.session.Session().client("s3")  # what any first S3 client of a process loads is no tenant's
    done = [0]

    def tenant_in_turn() -> None:
        handler(EVENT, SimpleNamespace(function_name="bench", tenant_id=f"tenant-{done[0]}"))
        done[0] += 1

    def settled() -> int:
        gc.collect()
        rss = _rss()
        assert rss is not None
        return rss

    empty = settled()
    started = time.perf_counter()
    for _ in range(max_tenants):
        tenant_in_turn()
    resident = settled()
    fill_s = time.perf_counter() - started
    for _ in range(max_tenants):
        tenant_in_turn()
    warmed, warmup = settled(), done[0]
    started = time.perf_counter()
    deadline = started + plan["budget_s"]
    while done[0] < plan["tenants"] and time.perf_counter() < deadline:
        tenant_in_turn()
    wall = time.perf_counter() - started
    end = settled()
    layer = next(iter(_state.names[MEMORY_PER_TENANT_NAME])).layer
    [provider] = {slot.provider for tenant in layer.tenants.lru.values() for slot in tenant.slots.values()}
    print(
        json.dumps(
            {
                "rss_empty_bytes": empty,
                "rss_resident_bytes": resident,
                "rss_warmed_bytes": warmed,
                "rss_end_bytes": end,
                "per_tenant_bytes": (resident - empty) / max_tenants,
                "growth_bytes": end - warmed,
                "warmup_tenants": warmup,
                "tenants_done": done[0],
                "measured_tenants": done[0] - warmup,
                "ms_per_new_tenant": (fill_s * 1000.0) / max_tenants,
                "wall_s": wall,
                "tenants_resident_at_end": len(layer.tenants.lru),
                "provider_entries_at_end": len(provider.cache.entries),
            }
        )
    )


def measure_tenant_memory(ctx: Context, *, tenants: int, max_tenants: int, budget_s: float) -> dict[str, Any]:
    """``tenants`` tenants in turn through ``max_tenants``, each invocation calling ``get_client(name, 's3')``."""
    plan = {"moto": ctx.moto, "tenants": tenants, "max_tenants": max_tenants, "budget_s": budget_s}
    env = dict(ctx.env, PYTHONPATH=os.pathsep.join(filter(None, (BENCHMARKS, ctx.env.get("PYTHONPATH")))))
    code = "import sys, _longrun; _longrun.tenants_child(sys.argv[1])"
    done = subprocess.run(
        [sys.executable, "-c", code, json.dumps(plan)], env=env, capture_output=True, text=True, check=True
    )
    run = json.loads(done.stdout.splitlines()[-1])
    return {
        "planned_tenants": tenants,
        "max_tenants": max_tenants,
        "budget_s": budget_s,
        "limit_bytes": 20 * MIB,
        **run,
    }
