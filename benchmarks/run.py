"""The benchmark of docs/benchmarks.md: ``make bench`` (a few minutes), ``make bench-quick`` (CI).

    python benchmarks/run.py [--quick] [--output DIR]

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

from _common import ROOT, MotoProcess, configure_env, machine_info

configure_env()  # before anything imports boto3

import _coldstart  # noqa: E402
import _memory  # noqa: E402
import _models  # noqa: E402
import _prefetch  # noqa: E402
import _profile  # noqa: E402
import _report  # noqa: E402
import _stscalls  # noqa: E402
import _warm  # noqa: E402

FULL = {
    "warm": {"rounds": 31, "calls": 20_000, "sts_calls": 20},
    "clients": {"rounds": 11, "calls": 20_000, "reused": 5, "new": 3},
    "inline_config": {"rounds": 11, "calls": 20_000, "budget_s": 2.0},
    "coldstart": {"rounds": 15, "importtime_runs": 5},
    "prefetch": {"rounds": 7, "delay": 0.1},
    "sts_calls": {"rate": 10.0, "entries": 10, "containers": 1000},
    "memory": {"invocations": 100_000, "warmup": 1_000, "budget_s": 30.0},
    "models": {
        "delay": 0.1,
        "freeze": 0.5,
        "pc_rounds": 7,
        "mi_rounds": 3,
        "workers": 8,
        # Credentials living 75 s are fresh for 15 s (nothing is served within 60 s of Expiration): two ends of
        # freshness in about 35 s of steady invocations.
        "refresh": {"workers": 8, "lifetime": 75.0, "cycles": 2, "rate": 40.0, "work_ms": 50.0},
        "cold_rounds": 15,
    },
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
    # One run of each side; the refresh run with credentials fresh for 6 s (66 s lifetime) and one end of
    # freshness: about 10 s of invocations per side instead of 35.
    "models": {
        "delay": 0.1,
        "freeze": 0.5,
        "pc_rounds": 1,
        "mi_rounds": 1,
        "workers": 8,
        "refresh": {"workers": 8, "lifetime": 66.0, "cycles": 1, "rate": 40.0, "work_ms": 50.0},
        "cold_rounds": 3,
    },
}


def _step(title: str) -> float:
    print(f"-- {title}", flush=True)
    return time.perf_counter()


def _done(started: float) -> None:
    print(f"   {time.perf_counter() - started:.1f} s", flush=True)


def run(quick: bool) -> dict[str, Any]:
    plan = QUICK if quick else FULL
    results: dict[str, Any] = {
        "mode": "quick" if quick else "full",
        "plan": plan,
        "machine": machine_info(),
        "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "load_average_at_start": os.getloadavg(),
    }
    with tempfile.TemporaryDirectory(prefix="powertools-sts-bench-") as tmp, MotoProcess() as moto:
        base = Path(tmp)
        prefix = _coldstart.pycache_prefix(base)

        started = _step("warm overhead per invocation")
        results["warm"] = _warm.measure_warm(moto.url, **plan["warm"])
        _done(started)

        started = _step("get_client against building clients")
        results["clients"] = _warm.measure_clients(moto.url, **plan["clients"])
        _done(started)

        started = _step("get_client with a Config written inline")
        results["inline_config"] = _warm.measure_inline_config(moto.url, **plan["inline_config"])
        _done(started)

        started = _step("cold start (warming the bytecode cache first)")
        _coldstart.warm_prefix(prefix)
        results["coldstart"] = _coldstart.measure_coldstart(prefix, moto.url, **plan["coldstart"])
        _done(started)

        started = _step("prefetch, fresh processes, 100 ms of STS latency")
        modules = base / "handlers"
        modules.mkdir()
        results["prefetch"] = _prefetch.measure_prefetch(
            moto.url,
            modules,
            _coldstart.run_env(prefix),
            _coldstart.run_env(prefix, warmup=True),
            **plan["prefetch"],
        )
        _done(started)

        started = _step("STS calls over a simulated day; refresh spread of containers started together")
        results["sts_calls"] = _stscalls.measure_sts_calls(moto.url, **plan["sts_calls"])
        _done(started)

        started = _step("memory growth over many invocations of each documented pattern (tracemalloc)")
        results["memory"] = _memory.measure_memory(moto.url, **plan["memory"])
        _done(started)

        started = _step(
            "execution models under the real runtime client (provisioned concurrency frozen and thawed; Managed "
            "Instances, 8 workers, at INIT and across a refresh); cold start against a hand-written handler"
        )
        results["models"] = _models.measure_models(
            moto.url, base, _coldstart.run_env(prefix), _coldstart.run_env(prefix, warmup=True), plan["models"]
        )
        for name, part in results["models"].items():
            if "skipped" in part:
                print(f"   skipped {name}: {part['skipped']}", flush=True)
        _done(started)

        results["load_average_at_end"] = os.getloadavg()
        results["targets"] = _report.evaluate(results)
        missed = any(not target["pass"] for target in results["targets"] if target["id"].startswith("warm_"))
        if missed and not quick:
            started = _step("profiling the warm path (a target was missed)")
            results["profile"] = _profile.profile_warm(moto.url, quick=quick)
            _done(started)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a short run of every measurement (CI)")
    parser.add_argument(
        "--output", type=Path, default=ROOT / "docs", help="directory for benchmarks.md/.png/.json (default docs/)"
    )
    parser.add_argument(
        "--from-results",
        type=Path,
        metavar="JSON",
        help="measure nothing: write the page and the chart again from a benchmarks.json (after a change of wording)",
    )
    args = parser.parse_args(argv)
    if args.from_results is not None:
        results = json.loads(args.from_results.read_text())
    else:
        started = time.perf_counter()
        results = run(args.quick)
        results["duration_s"] = time.perf_counter() - started
    output: Path = args.output
    output.mkdir(parents=True, exist_ok=True)
    (output / "benchmarks.json").write_text(json.dumps(results, indent=1, default=str) + "\n")
    _report.chart(results, output / "benchmarks.png")
    (output / "benchmarks.md").write_text(_report.page(results))
    print(_report.console(results))
    source = f"from {args.from_results}" if args.from_results is not None else f"in {results['duration_s']:.0f} s"
    print(f"wrote {output / 'benchmarks.md'}, benchmarks.png, benchmarks.json {source}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
