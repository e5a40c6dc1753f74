"""The benchmark of docs/benchmarks.md: ``make bench`` (a few minutes), ``make bench-quick`` (CI).

    python benchmarks/run.py [--quick] [--output DIR] [--from-results JSON]

Writes DIR/benchmarks.md, DIR/benchmarks.png and DIR/benchmarks.json (DIR defaults to docs/).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import ROOT, Context, configure_env, machine_info, moto_server, run_env

configure_env()  # before anything imports boto3

import _chart  # noqa: E402
import _coldstart  # noqa: E402
import _fleet  # noqa: E402
import _longrun  # noqa: E402
import _models  # noqa: E402
import _report  # noqa: E402
import _warm  # noqa: E402

FULL = {
    "warm": {"rounds": 31, "calls": 20_000, "sts_calls": 20},
    "clients": {"rounds": 11, "calls": 20_000, "reused": 5, "new": 3},
    "inline_config": {"rounds": 11, "calls": 20_000, "budget_s": 2.0},
    "coldstart": {"rounds": 15, "importtime_runs": 5},
    "prefetch": {"rounds": 7, "delay": 0.1},
    "sts_calls": {"rate": 10.0, "entries": 10, "containers": 1000},
    "memory": {"invocations": 100_000, "warmup": 1_000, "budget_s": 30.0},
    # A tenant's first get_client builds a boto3 session and an S3 client (about 0.1 s of botocore): the budget stops
    # the run long before 10,000 tenants; the page says how many ran.
    "tenant_memory": {"tenants": 10_000, "max_tenants": 100, "budget_s": 120.0},
    # Section 7's refresh run: credentials living 75 s are fresh for 15 s (nothing is served within 60 s of
    # Expiration), two ends of freshness in about 35 s of steady invocations.
    "models": {"delay": 0.1, "freeze": 0.5, "pc_rounds": 7, "mi_rounds": 3, "workers": 8, "cold_rounds": 15}
    | {"refresh": {"workers": 8, "lifetime": 75.0, "cycles": 2, "rate": 40.0, "work_ms": 50.0}},
    # Section 8: (environments, tenants, DurationSeconds) per run, each tenant invoked every minute for a fake day.
    "fleet": {"rows": [[4, 25, 900], [4, 25, 3600]], "hours": 24.0, "interval": 60.0},
}
QUICK = {
    "warm": {"rounds": 5, "calls": 5_000, "sts_calls": 5},
    "clients": {"rounds": 3, "calls": 5_000, "reused": 2, "new": 1},
    "inline_config": {"rounds": 3, "calls": 5_000, "budget_s": 1.0},
    "coldstart": {"rounds": 3, "importtime_runs": 1},
    "prefetch": {"rounds": 1, "delay": 0.1},
    "sts_calls": {"rate": 1.0, "entries": 10, "containers": 200},
    # The same 1 MiB goal on 10x fewer invocations; the time budget still stops a pattern of ms per call.
    "memory": {"invocations": 10_000, "warmup": 1_000, "budget_s": 20.0},
    # 10 tenants resident, not 100: filling 100 and a round of evictions takes 40 s of botocore.
    "tenant_memory": {"tenants": 10_000, "max_tenants": 10, "budget_s": 10.0},
    # One run of each side; the refresh run with credentials fresh for 6 s and one end of freshness.
    "models": FULL["models"]
    | {"pc_rounds": 1, "mi_rounds": 1, "cold_rounds": 3}
    | {"refresh": {"workers": 8, "lifetime": 66.0, "cycles": 1, "rate": 40.0, "work_ms": 50.0}},
    "fleet": {"rows": [[2, 10, 900]], "hours": 6.0, "interval": 60.0},
}


STEPS = [
    ("warm", "warm overhead per invocation", _warm.measure_warm),
    ("clients", "get_client against building clients", _warm.measure_clients),
    ("inline_config", "get_client with a Config written inline", _warm.measure_inline_config),
    ("coldstart", "cold start (warming the bytecode cache first)", _coldstart.measure_coldstart),
    ("prefetch", "prefetch, fresh processes, 100 ms of STS latency", _coldstart.measure_prefetch),
    ("sts_calls", "STS calls over a simulated day; the refresh spread of containers", _longrun.measure_sts_calls),
    ("memory", "memory growth over many invocations of each documented pattern (tracemalloc)", _longrun.measure_memory),
    ("tenant_memory", "resident memory of tenants in turn through max_tenants (RSS)", _longrun.measure_tenant_memory),
    (
        "models",
        "execution models under the runtime client; a hand-written cold start",
        _models.measure_models,
    ),
    ("fleet", "the fleet model: STS calls/s of tenants, checked on a fake clock", _fleet.measure_fleet),
]


def run(quick: bool) -> dict[str, Any]:
    plan = QUICK if quick else FULL
    results: dict[str, Any] = {"mode": "quick" if quick else "full", "plan": plan, "machine": machine_info()}
    results.update(started=time.strftime("%Y-%m-%d %H:%M:%S %Z"), load_average_at_start=os.getloadavg())
    with tempfile.TemporaryDirectory(prefix="powertools-sts-bench-") as tmp, moto_server() as moto:
        prefix = Path(tmp) / "pycache"  # one bytecode cache for every fresh process
        ctx = Context(moto, Path(tmp), run_env(str(prefix)), run_env(str(prefix), warmup=True))
        for key, title, measure in STEPS:
            print(f"-- {title}", flush=True)
            started = time.perf_counter()
            results[key] = measure(ctx, **plan[key])
            print(f"   {time.perf_counter() - started:.1f} s", flush=True)
        results["load_average_at_end"] = os.getloadavg()
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a short run of every measurement (CI)")
    parser.add_argument("--output", type=Path, default=ROOT / "docs", help="directory for benchmarks.md/.png/.json")
    parser.add_argument("--from-results", type=Path, metavar="JSON", help="measure nothing: render a benchmarks.json")
    args = parser.parse_args(argv)
    if args.from_results is not None:
        results = json.loads(args.from_results.read_text())
    else:
        started = time.perf_counter()
        results = run(args.quick)
        results["duration_s"] = time.perf_counter() - started
    results["targets"] = _report.evaluate(results)  # recorded results too: the targets as this code states them
    output: Path = args.output
    output.mkdir(parents=True, exist_ok=True)
    (output / "benchmarks.json").write_text(json.dumps(results, indent=1, default=str) + "\n")
    _chart.chart(results, output / "benchmarks.png")
    (output / "benchmarks.md").write_text(_report.page(results))
    print(_report.console(results))
    source = f"from {args.from_results}" if args.from_results is not None else f"in {results['duration_s']:.0f} s"
    print(f"wrote {output / 'benchmarks.md'}, benchmarks.png, benchmarks.json {source}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
