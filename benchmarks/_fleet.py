"""(8) The fleet model: the STS calls per second of E environments x T tenants, against the account's 600/s quota.

The model. Each (environment, tenant) pair keeps one cache entry. Its credentials live ``lifetime`` seconds and are
fresh until their refresh window: ``refresh_margin`` raised by a jitter drawn uniformly in [0, JITTER_FRACTION) at
every store, capped at half the lifetime, never under the floor (``powertools_sts.freshness``). A tenant invoked every
``interval`` seconds refreshes at its first invocation past that instant (``interval=0``: a busy tenant, at once). So
each pair calls STS once per mean cycle, and the fleet ``E x T / mean cycle`` times per second; a new environment adds
one call per tenant it serves, and a tenant evicted by ``max_tenants`` one per return: neither is counted here.

The simulation. One real ``STSProvider`` per environment, each asked ``get(role, Tags=[TenantID], DurationSeconds=...)``
for each of its tenants at every invocation, on a fake clock (``powertools_sts._clock.now``); STS is a botocore client
whose ``before-call`` hook counts the AssumeRole calls and answers with credentials of the requested lifetime from the
fake clock. Each pair's first invocation falls at a random point of its mean cycle, as tenants' first requests do, so
the count over the run is the steady rate's; the package's jitter draws from ``random``, seeded for the run.

    python benchmarks/_fleet.py [--write]    the docs table (docs/snippets/multi_tenant/fleet.txt)
"""

from __future__ import annotations

import argparse
import collections
import itertools
import math
import random
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from unittest import mock

import boto3
from botocore.awsrequest import AWSResponse, HTTPHeaders

from powertools_sts import STSProvider, _clock, cache
from powertools_sts.freshness import FLOOR_SECONDS, JITTER_FRACTION

ROOT = Path(__file__).resolve().parents[1]
SNIPPET = ROOT / "docs" / "snippets" / "multi_tenant" / "fleet.txt"
QUOTA = 600.0  # STS requests per second per account per Region, every operation and every caller together
REFRESH_MARGIN = 300.0  # the default of sts and STSProvider
TOLERANCE = 0.02  # simulated calls/s against the model's
ROLE = "arn:aws:iam::111122223333:role/tenant"
START = 1_800_000_000.0  # whole seconds: every fake instant and Expiration is exact
# (environments per tenant, tenants, DurationSeconds) of the docs table: tenant isolation mode keeps a few
# environments per tenant; in the pool model every environment serves every tenant (up to max_tenants).
ROWS = [
    (2, 100, 3600),
    (5, 1_000, 3600),
    (5, 1_000, 900),
    (20, 10_000, 3600),
    (20, 10_000, 900),
    (1_000, 1_000, 3600),
    (1_000, 1_000, 900),
    (1_000, 1_000, 43_200),
]


# -- the model ------------------------------------------------------------------------------------------------


def margin(u: float, lifetime: float, refresh_margin: float = REFRESH_MARGIN) -> float:
    """The margin of an entry whose jitter drew ``u`` in [0, 1), as ``CachedEntry`` applies it."""
    raised = refresh_margin * (1 + JITTER_FRACTION * u)
    return max(min(raised, lifetime / 2), FLOOR_SECONDS)


def cycle(u: float, lifetime: float, refresh_margin: float = REFRESH_MARGIN, interval: float = 0.0) -> float:
    """Seconds from one fetch to the next: the freshness, rounded up to the tenant's next invocation."""
    fresh = lifetime - margin(u, lifetime, refresh_margin)
    return math.ceil(fresh / interval) * interval if interval else fresh


def mean_cycle(lifetime: float, refresh_margin: float = REFRESH_MARGIN, interval: float = 0.0) -> float:
    """The cycle averaged over the jitter (the midpoint rule: exact where the cycle is linear in the jitter)."""
    steps = 10_000
    return sum(cycle((i + 0.5) / steps, lifetime, refresh_margin, interval) for i in range(steps)) / steps


def calls_per_second(
    environments: int, tenants: int, lifetime: float, refresh_margin: float = REFRESH_MARGIN, interval: float = 0.0
) -> float:
    """The fleet's steady STS calls per second."""
    return environments * tenants / mean_cycle(lifetime, refresh_margin, interval)


def _rate(value: float) -> str:
    """Three significant digits, thousands separated."""
    return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"


def _duration(seconds: float) -> str:
    return f"{seconds / 3600:g} h" if seconds >= 3600 else f"{seconds / 60:g} min"


def render_table(rows: list[tuple[int, int, int]] = ROWS, refresh_margin: float = REFRESH_MARGIN) -> str:
    """The docs table: each row's mean cycle, calls per second and share of the quota (busy tenants)."""
    lines = [
        "| Environments per tenant | Tenants | (environment, tenant) pairs | DurationSeconds | Refreshed every (mean) "
        "| STS calls/s | Share of 600/s |",
        "|---:|---:|---:|---|---:|---:|---:|",
    ]
    for environments, tenants, lifetime in rows:
        every, rate = mean_cycle(lifetime, refresh_margin), calls_per_second(environments, tenants, lifetime)
        share = rate / QUOTA
        shown = f"**{share:.0%}**" if share >= 1 else f"{share:.1%}" if share >= 0.001 else f"{share:.2%}"
        lines.append(
            f"| {environments:,} | {tenants:,} | {environments * tenants:,} | {lifetime:,} ({_duration(lifetime)}) "
            f"| {every:,.1f} s | {_rate(rate)} | {shown} |"
        )
    return "\n".join(lines) + "\n"


# -- the simulation -------------------------------------------------------------------------------------------


class _Clock:
    def __init__(self) -> None:
        self.time = START

    def __call__(self) -> float:
        return self.time


def counting_client(clock: _Clock) -> tuple[Any, collections.Counter[str]]:
    """A botocore STS client that never sends: it counts AssumeRole calls per TenantID tag and answers them."""
    calls: collections.Counter[str] = collections.Counter()
    keys = (f"ASIAFLEET{n:011d}" for n in itertools.count())

    def answer(params: dict[str, Any], **_: Any) -> tuple[Any, dict[str, Any]]:
        body = params["body"]
        calls[body.get("Tags.member.1.Value", "")] += 1
        expiration = datetime.fromtimestamp(clock.time + int(body.get("DurationSeconds", 3600)), timezone.utc)
        credentials = {"AccessKeyId": next(keys), "SecretAccessKey": "fleet", "SessionToken": "fleet"}
        parsed = {"Credentials": {**credentials, "Expiration": expiration}, "ResponseMetadata": {"HTTPStatusCode": 200}}
        return AWSResponse("https://sts.us-east-1.amazonaws.com/", 200, HTTPHeaders(), None), parsed

    client = boto3.client(
        "sts", region_name="us-east-1", aws_access_key_id="fleet", aws_secret_access_key="fleet"
    )  # never signs: the hook answers first
    client.meta.events.register("before-call.sts.AssumeRole", answer)
    return client, calls


def first_ticks(pairs: int, lifetime: float, interval: float, refresh_margin: float, seed: int) -> list[int]:
    """Each pair's first invocation, a tick drawn uniformly within its mean cycle."""
    period = max(1, math.ceil(mean_cycle(lifetime, refresh_margin, interval) / interval))
    draw = random.Random(seed)
    return [draw.randrange(period) for _ in range(pairs)]


@contextmanager
def _jitter(seed: int, pinned: float | None) -> Iterator[None]:
    """The package's jitter seeded (or pinned to one draw) for the run; ``random``'s own state restored after."""
    state = random.getstate()
    random.seed(seed)
    try:
        if pinned is None:
            yield
        else:
            with mock.patch.object(cache, "random", SimpleNamespace(random=lambda: pinned)):
                yield
    finally:
        random.setstate(state)


def simulate(
    *,
    environments: int,
    tenants: int,
    lifetime: int,
    hours: float,
    interval: float,
    seed: int = 0,
    jitter: float | None = None,
    refresh_margin: float = REFRESH_MARGIN,
) -> dict[str, Any]:
    """Every tenant of every environment invoked every ``interval`` fake seconds for ``hours``; the calls counted.

    ``jitter``: pin the package's jitter draw to this value in [0, 1), so that the count is exactly
    ``predicted_calls``; None draws it as the package does, from ``random`` seeded with ``seed``.
    """
    clock = _Clock()
    clients = [counting_client(clock) for _ in range(environments)]  # an environment is a process: a client each
    providers = [
        STSProvider(boto3_client=client, refresh_margin=refresh_margin, refresh_ahead=False, shared_cache=False)
        for client, _ in clients
    ]
    pairs = [(provider, f"tenant-{t}") for provider in providers for t in range(tenants)]
    first = first_ticks(len(pairs), lifetime, interval, refresh_margin, seed)
    ticks = int(hours * 3600 / interval)
    with mock.patch.object(_clock, "now", clock), _jitter(seed, jitter):
        for tick in range(ticks):
            clock.time = START + tick * interval
            for (provider, tenant), start in zip(pairs, first, strict=True):
                if tick >= start:
                    provider.get(ROLE, Tags=[{"Key": "TenantID", "Value": tenant}], DurationSeconds=lifetime)
    seconds = ticks * interval
    per_pair = [count for _, calls in clients for count in calls.values()]
    total = sum(per_pair)
    model = calls_per_second(environments, tenants, lifetime, refresh_margin, interval)
    return {
        "environments": environments,
        "tenants": tenants,
        "lifetime": lifetime,
        "hours": hours,
        "interval": interval,
        "seed": seed,
        "invocations": sum(max(0, ticks - start) for start in first),
        "calls": total,
        "calls_per_pair": {"min": min(per_pair), "max": max(per_pair)},
        "simulated_per_second": total / seconds,
        "model_per_second": model,
        "busy_model_per_second": calls_per_second(environments, tenants, lifetime, refresh_margin),
        "deviation": total / seconds / model - 1,
    }


def predicted_calls(
    *,
    environments: int,
    tenants: int,
    lifetime: int,
    hours: float,
    interval: float,
    seed: int,
    jitter: float,
    refresh_margin: float = REFRESH_MARGIN,
) -> int:
    """The exact count of ``simulate`` with the jitter pinned: one fetch at each pair's first tick, then every cycle."""
    every = round(cycle(jitter, lifetime, refresh_margin, interval) / interval)
    ticks = int(hours * 3600 / interval)
    first = first_ticks(environments * tenants, lifetime, interval, refresh_margin, seed)
    return sum(1 + (ticks - 1 - start) // every for start in first if start < ticks)


def measure_fleet(ctx: Any, *, rows: list[list[int]], hours: float, interval: float) -> dict[str, Any]:
    runs = [
        simulate(environments=e, tenants=t, lifetime=lifetime, hours=hours, interval=interval, seed=index)
        for index, (e, t, lifetime) in enumerate(rows)
    ]
    return {
        "runs": runs,
        "tolerance": TOLERANCE,
        "quota": QUOTA,
        "refresh_margin": REFRESH_MARGIN,
        "jitter_fraction": JITTER_FRACTION,
        "model_table": render_table(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--write", action="store_true", help=f"write the table to {SNIPPET.relative_to(ROOT)}")
    args = parser.parse_args(argv)
    table = render_table()
    if args.write:
        SNIPPET.parent.mkdir(parents=True, exist_ok=True)
        SNIPPET.write_text(table)
    print(table, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
