"""(5) STS calls over a simulated day, and the spread of the refreshes of containers started together.

A fake clock replaces ``powertools_sts._clock.now``. STS is moto behind the proxy, which rewrites
``Expiration`` to fake-now + DurationSeconds, so the whole exchange stays real (botocore signs,
sends and parses; moto answers) and the proxy counts exactly the AssumeRole requests that reached
"STS". botocore's Stubber was the other choice: it needs every response queued in advance, in a
known number, and that number is the very thing measured; a call past the queue would raise
instead of being counted.
"""

from __future__ import annotations

import statistics
import time
from types import SimpleNamespace
from typing import Any

import boto3
from _common import roles, summary
from _proxy import STSProxy

from powertools_sts import STSProvider, _clock, get_credentials, provider, sts

DAY = 86_400.0


class FakeClock:
    def __init__(self, start: float) -> None:
        self.time = start

    def __call__(self) -> float:
        return self.time


def simulate_day(sts_client: Any, clock: FakeClock, proxy: STSProxy, *, rate: float, entries: int) -> dict[str, Any]:
    """``rate`` invocations per second for 24 fake hours of one handler with ``entries`` entries."""
    fetch_data = {name: {"RoleArn": arn, "DurationSeconds": 3600} for name, arn in roles(entries, "day").items()}
    names = tuple(fetch_data)
    start = clock.time
    # Per entry: the credentials last handed out, and the fake time they were last handed out at.
    last: dict[str, tuple[Any, float]] = {}
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
    context = SimpleNamespace(function_name="bench")
    invocations = int(DAY * rate)
    step = 1.0 / rate
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
    t0 = clock.time
    arn = roles(1)["entry0"]
    offsets = []
    for _ in range(containers):
        fresh = STSProvider(boto3_client=sts_client)
        fresh.get(arn, DurationSeconds=3600)
        offsets.extend(entry.refresh_at - t0 for entry in fresh._entries.values())
    ordered = sorted(offsets)
    n = len(ordered)
    return {
        "containers": containers,
        "refresh_margin": 300.0,
        "jitter_fraction": provider.JITTER_FRACTION,
        "spread_s": ordered[-1] - ordered[0],
        "p05_p95_spread_s": ordered[int(0.95 * (n - 1))] - ordered[int(0.05 * (n - 1))],
        "stdev_s": statistics.pstdev(ordered),
        "refresh_after_s": summary(ordered),
        "raw_refresh_after_s": ordered,
    }


def measure_sts_calls(moto_url: str, *, rate: float, entries: int, containers: int) -> dict[str, Any]:
    clock = FakeClock(time.time())
    real_now = _clock.now
    _clock.now = clock
    try:
        with STSProxy(moto_url, clock=clock) as proxy:
            sts_client = boto3.client("sts", endpoint_url=proxy.url)
            day = simulate_day(sts_client, clock, proxy, rate=rate, entries=entries)
            clock.time += 3600.0  # a new, later instant for the containers
            spread = container_spread(sts_client, clock, containers=containers)
    finally:
        _clock.now = real_now
    return {"day": day, "containers": spread}
