"""(7) Execution models under the real runtime client, ``python -m awslambdaric`` against the Runtime API of
``_loopback.py``, each run beside "today" (the behaviour before issue 11), and the cold start against a
hand-written handler. STS is moto behind the proxy of ``_loopback.py`` (100 ms per AssumeRole), or moto itself for the
cold start, so that its comparison is the CPU each side spends."""

from __future__ import annotations

import signal
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from _common import PYTHON, ROLE_TEMPLATE, Context, interleaved, pythonpath, summaries, summary
from _loopback import Runtime, RuntimeAPI, STSProxy

ROLES = {name: ROLE_TEMPLATE.format(f"models-{name}") for name in ("orders", "reports", "audit")}
COLD_ROLE = ROLE_TEMPLATE.format("models-cold")

# The runs' handler: three entries, an optional sleep standing for the handler's own work (a downstream call), and
# its duration, process id and RoleSessionName (which worker made an AssumeRole the proxy saw) in the response.
HANDLER_MODULE = """import os, time
{prelude}from powertools_sts import get_credentials, sts
try:
    from powertools_sts.provider import default_role_session_name
except ImportError:
    default_role_session_name = None
ROLES = {roles!r}
@sts(fetch_data=ROLES{options})
def _handler(event, context):
    keys = [get_credentials(name).access_key_id for name in ROLES]
    if event.get("work_ms"):
        time.sleep(event["work_ms"] / 1000.0)
    return keys
def handler(event, context):
    start = time.perf_counter()
    keys = _handler(event, context)
    session = default_role_session_name() if default_role_session_name else None
    return {{"pid": os.getpid(), "handler_ms": (time.perf_counter() - start) * 1e3, "keys": keys, "session": session}}
"""
# Today's refresh side: sts(...) has no switch for refresh ahead, so the providers it builds get refresh_ahead=False
# (unsetting AWS_LAMBDA_MAX_CONCURRENCY instead would also make the runtime client run one process).
TODAY_PRELUDE = """import powertools_sts
_init = powertools_sts.STSProvider.__init__
powertools_sts.STSProvider.__init__ = lambda self, **options: _init(self, **{**options, "refresh_ahead": False})
"""
MODULES = {
    "package": ("", ""),
    "no_wait": ("", ", prefetch_timeout=0"),
    "today": (TODAY_PRELUDE, ", prefetch_timeout=0"),
}
# The cold-start modules are files that docs/benchmarks.md includes. The runtime client runs each through this
# wrapper, which stamps the time before importing it, counts and times the full (generation 2) garbage collections,
# and returns the phases; with BENCH_COLLECTOR=off it switches the collector off before the import.
COLD_MODULES = {name: Path(__file__).parent / "cold_start" / f"{name}.py" for name in ("cold_sts", "cold_boto3")}
COLD_WRAPPER = """import gc, os, time
if os.environ.get("BENCH_COLLECTOR") == "off":
    gc.disable()
_collections, _full_ms, _began = gc.get_stats()[2]["collections"], [0.0], [0.0]
def _time_full_collections(phase, info):
    if info["generation"] == 2:
        if phase == "start":
            _began[0] = time.perf_counter()
        else:
            _full_ms[0] += (time.perf_counter() - _began[0]) * 1e3
gc.callbacks.append(_time_full_collections)
_start = time.perf_counter()
import {module} as _module  # noqa: E402
_imported = time.perf_counter()
def handler(event, context):
    began = time.perf_counter()
    key = _module.handler(event, context)
    done = time.perf_counter()
    return {{"import_ms": (_imported - _start) * 1e3, "runtime_ms": (began - _imported) * 1e3,
            "invocation_ms": (done - began) * 1e3, "total_ms": (done - _start) * 1e3,
            "full_collections": gc.get_stats()[2]["collections"] - _collections, "full_collection_ms": _full_ms[0],
            "key": key, **_module.PHASES}}
"""
WARM_IMPORTS = (
    "import awslambdaric.__main__, awslambdaric.bootstrap, awslambdaric.lambda_multi_concurrent_utils, "
    "aws_lambda_powertools, powertools_sts, boto3"
)


def _prepare(ctx: Context) -> Path:
    """Write the handler modules, and add them and the runtime client to the shared bytecode cache."""
    directory = ctx.base / "models"
    directory.mkdir()
    for name, (prelude, options) in MODULES.items():
        source = HANDLER_MODULE.format(prelude=prelude, roles=ROLES, options=options)
        (directory / f"models_{name}.py").write_text(source)
    for name, path in COLD_MODULES.items():
        if repr(COLD_ROLE)[1:-1] not in path.read_text():
            raise RuntimeError(f"{path} must assume {COLD_ROLE}, the role the benchmark's STS knows")
        (directory / f"{name}.py").write_text(path.read_text())
        (directory / f"runtime_{name}.py").write_text(COLD_WRAPPER.format(module=name))
    env = dict(ctx.warm_env, PYTHONPATH=pythonpath(directory))
    subprocess.run([PYTHON, "-m", "compileall", "-q", str(directory)], env=env, check=True, timeout=120)
    subprocess.run([PYTHON, "-c", WARM_IMPORTS], env=env, check=True, timeout=120)
    return directory


def _overlapping(log: list[tuple[float, float, str, str]], start: float, end: float, session: str | None = None) -> int:
    """AssumeRole calls in flight at any moment of [start, end] (only those of one RoleSessionName when given)."""
    return sum(1 for a, b, _, name in log if a <= end and b >= start and session in (None, name))


def _labels(variants: dict[str, tuple[Any, ...]]) -> dict[str, str]:
    return {variant: spec[0] for variant, spec in variants.items()}


# 1. Provisioned concurrency: the runtime is frozen (SIGSTOP) when it first asks for an invocation, as Lambda freezes
# a provisioned environment, and thawed (SIGCONT) a moment later; the first invocation's latency and the AssumeRole
# calls in flight during it. Today: prefetch_timeout=0 (INIT does not wait for the prefetch).
PROVISIONED = {
    "package": ("the package: INIT waits for the prefetch (default prefetch_timeout)", "models_package"),
    "today": ("today: sts(..., prefetch_timeout=0), INIT does not wait", "models_no_wait"),
}


def measure_provisioned(ctx: Context, directory: Path, *, rounds: int, delay: float, freeze: float) -> dict[str, Any]:
    def run(variant: str) -> dict[str, Any]:
        module, at_freeze, frozen, started = PROVISIONED[variant][1], {}, threading.Event(), []

        def freeze_runtime() -> None:  # in the Runtime API's thread, when the first ``next`` arrives
            started[0].signal(signal.SIGSTOP)
            at_freeze.update(at=time.perf_counter(), calls=proxy.total_calls)
            api.record(frozen.set)

        proxy.reset()
        with RuntimeAPI() as api:
            api.gate = freeze_runtime
            settings = {"AWS_LAMBDA_INITIALIZATION_TYPE": "provisioned-concurrency"}
            with Runtime(api, f"{module}.handler", directory, env, settings) as runtime:
                started.append(runtime)
                runtime.wait(frozen.is_set, f"{module}: the runtime asking for an invocation")
                time.sleep(max(0.0, at_freeze["at"] + freeze - time.perf_counter()))
                runtime.signal(signal.SIGCONT)
                request = api.invoke({})
                runtime.wait(lambda: request in api.responded_at, f"{module}: the first response")
                body = runtime.response(request)
            served, done, log = api.served_at[request], api.responded_at[request], list(proxy.log)
        return {
            "latency_ms": (done - served) * 1e3,
            "handler_ms": body["handler_ms"],
            "init_s": at_freeze["at"] - runtime.started,
            "calls_at_init": int(at_freeze["calls"]),
            "calls_during": _overlapping(log, served, done),
            "calls_total": len(log),
        }

    with STSProxy(ctx.moto, delay=delay) as proxy:
        env = dict(ctx.env, AWS_ENDPOINT_URL_STS=proxy.url)
        runs = interleaved(rounds, PROVISIONED, run)
    fields = summaries(runs, "latency_ms", "handler_ms", "init_s", "calls_at_init", "calls_during")
    info = {"rounds": rounds, "delay_ms": delay * 1e3, "freeze_s": freeze, "entries": len(ROLES)}
    return {**info, "labels": _labels(PROVISIONED), **fields, "raw": runs}


# 2. Managed Instances, N worker processes: AssumeRole calls per role once every worker asks for an invocation (INIT
# over), each environment with a fresh /tmp. Today: POWERTOOLS_STS_SHARED_CACHE=false (one cache per process).
WORKERS = {
    "package": ("the package (shared cache on by default on Managed Instances)", {}),
    "today": (
        "today: POWERTOOLS_STS_SHARED_CACHE=false (one cache per process)",
        {"POWERTOOLS_STS_SHARED_CACHE": "false"},
    ),
}


def measure_workers(ctx: Context, directory: Path, *, rounds: int, workers: int, delay: float) -> dict[str, Any]:
    def run(variant: str) -> dict[str, Any]:
        tmp = tempfile.mkdtemp(prefix="tmpdir-", dir=ctx.base)
        settings = {"AWS_LAMBDA_MAX_CONCURRENCY": str(workers), "TMPDIR": tmp, **WORKERS[variant][1]}
        proxy.reset()
        with RuntimeAPI() as api, Runtime(api, "models_package.handler", directory, env, settings) as runtime:
            runtime.wait(lambda: api.waiting() >= workers, f"{workers} workers asking for an invocation", 120)
            polled = time.perf_counter()
            per_role = {name: proxy.calls[arn] for name, arn in ROLES.items()}
            log = [entry for entry in proxy.log if entry[0] <= polled]
        # The calls past each role's first: started after the role's previous call was answered (one worker after
        # another, its credentials there to share), or while one was in flight (fetched at the same time).
        after = overlapping = 0
        for arn in ROLES.values():
            calls = sorted((arrived, answered) for arrived, answered, role, _ in log if role == arn)
            last_answer = calls[0][1] if calls else 0.0
            for arrived, answered in calls[1:]:
                after, overlapping = after + (arrived >= last_answer), overlapping + (arrived < last_answer)
                last_answer = max(last_answer, answered)
        return {"per_role": per_role, "init_s": polled - runtime.started, "after": after, "overlapping": overlapping}

    with STSProxy(ctx.moto, delay=delay) as proxy:
        env = dict(ctx.env, AWS_ENDPOINT_URL_STS=proxy.url)
        runs = interleaved(rounds, WORKERS, run)
    per_role = {v: {name: summary(run["per_role"][name] for run in of) for name in ROLES} for v, of in runs.items()}
    return {
        "rounds": rounds,
        "workers": workers,
        "delay_ms": delay * 1e3,
        "roles": list(ROLES),
        "labels": _labels(WORKERS),
        "per_role": per_role,
        "max_per_role": {v: max(max(run["per_role"].values()) for run in of) for v, of in runs.items()},
        "min_per_role": {v: min(min(run["per_role"].values()) for run in of) for v, of in runs.items()},
        "init_s": {v: summary(run["init_s"] for run in of) for v, of in runs.items()},
        "extra_after": {v: sum(run["after"] for run in of) for v, of in runs.items()},
        "extra_overlapping": {v: sum(run["overlapping"] for run in of) for v, of in runs.items()},
        "raw": runs,
    }


# 3. Managed Instances across a refresh: credentials living ``lifetime`` s (the proxy rewrites Expiration), steady
# invocations through ``cycles`` ends of freshness; the slowest against the median. Today: refresh ahead off, the
# shared cache off and prefetch_timeout=0, with the same runtime and workers.
REFRESH = {
    "package": ("the package (refresh ahead, shared cache and the INIT wait: the defaults)", "models_package", {}),
    "today": (
        "today: refresh_ahead=False, POWERTOOLS_STS_SHARED_CACHE=false, prefetch_timeout=0",
        "models_today",
        {"POWERTOOLS_STS_SHARED_CACHE": "false"},
    ),
}


def _refresh_run(
    proxy: STSProxy, runtime: Runtime, workers: int, fresh: float, cycles: int, rate: float, work_ms: float
) -> dict[str, Any]:
    api, event, interval = runtime.api, {"work_ms": work_ms}, 1.0 / rate
    runtime.wait(lambda: api.waiting() >= workers, f"{workers} workers asking for an invocation", 120)
    # Warm-up, not measured: until every worker has answered two invocations (a prefetch still in flight today).
    warmup: list[str] = []
    seen: dict[int, int] = {}
    deadline = time.perf_counter() + 60
    while min(seen.values(), default=0) < 2 or len(seen) < workers:
        if time.perf_counter() > deadline:
            raise RuntimeError(f"warm-up invocations reached {len(seen)} of {workers} workers\n{runtime.output()}")
        warmup.append(api.invoke(event))
        time.sleep(interval)
        with api.changed:
            pids = [api.responses[r]["pid"] for r in warmup if r in api.responses]
            seen = {pid: pids.count(pid) for pid in pids}
    runtime.wait(lambda: all(r in api.responded_at for r in warmup), "the warm-up's responses")
    # Steady invocations until every worker is well past `cycles` ends of freshness of the INIT fetch.
    start = next_at = time.perf_counter()
    stop = max(entry[1] for entry in proxy.log) + cycles * fresh + 3.0
    measured: list[str] = []
    while next_at < stop:
        time.sleep(max(0.0, next_at - time.perf_counter()))
        measured.append(api.invoke(event))
        next_at += interval
    runtime.wait(lambda: all(r in api.responded_at for r in measured), "the measured responses")
    log, points = list(proxy.log), []
    for request in measured:
        body, served, done = runtime.response(request), api.served_at[request], api.responded_at[request]
        own = _overlapping(log, served, done, body["session"]) if body["session"] else 0  # a refresh of its worker
        points.append({"t": served - start, "latency_ms": (done - served) * 1e3, "handler_ms": body["handler_ms"]})
        points[-1].update(pid=body["pid"], sts_in_flight=_overlapping(log, served, done), own_sts_in_flight=own)
    latencies = sorted(p["latency_ms"] for p in points)
    median, slowest = statistics.median(latencies), max(points, key=lambda p: p["latency_ms"])
    quiet = [p["latency_ms"] for p in points if p["sts_in_flight"] == 0]
    return {
        "invocations": len(points),
        "workers_seen": len({p["pid"] for p in points}),
        "window_s": stop - start,
        "median_ms": median,
        "p99_ms": latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))],
        "max_ms": slowest["latency_ms"],
        "max_over_median": slowest["latency_ms"] / median,
        "slowest": slowest,
        "max_without_sts_ms": max(quiet) if quiet else 0.0,
        "over_10pct": sum(1 for value in latencies if value > 1.1 * median),
        "with_sts_in_flight": sum(1 for p in points if p["sts_in_flight"]),
        "with_own_sts_in_flight": sum(1 for p in points if p["own_sts_in_flight"]),
        "handler_median_ms": statistics.median(p["handler_ms"] for p in points),
        "handler_max_ms": max(p["handler_ms"] for p in points),
        "calls_in_window": sum(1 for entry in log if entry[0] >= start),
        "calls_before_window": sum(1 for entry in log if entry[0] < start),
        "points": [(round(p["t"], 3), round(p["latency_ms"], 2)) for p in points],
    }


def measure_refresh(ctx: Context, directory: Path, *, lifetime: float, delay: float, **plan: Any) -> dict[str, Any]:
    fresh, runs = lifetime - 60.0, {}  # the package serves nothing within 60 s of Expiration: fresh until then
    with STSProxy(ctx.moto, delay=delay, lifetime=lifetime) as proxy:
        env = dict(ctx.env, AWS_ENDPOINT_URL_STS=proxy.url)
        for variant, (_, module, switches) in REFRESH.items():
            tmp = tempfile.mkdtemp(prefix="tmpdir-", dir=ctx.base)
            settings = {"AWS_LAMBDA_MAX_CONCURRENCY": str(plan["workers"]), "TMPDIR": tmp, **switches}
            proxy.reset()
            with RuntimeAPI() as api, Runtime(api, f"{module}.handler", directory, env, settings) as runtime:
                runs[variant] = _refresh_run(proxy, runtime, fresh=fresh, **plan)
    return {
        **plan,
        "lifetime_s": lifetime,
        "fresh_s": fresh,
        "delay_ms": delay * 1e3,
        "entries": len(ROLES),
        "labels": _labels(REFRESH),
        "runs": runs,
    }


# 4. Cold start: import + first invocation of a one-entry sts handler module beside the same function written by
# hand with boto3, both importing Powertools' Logger, each in a fresh runtime client, on-demand (the first event is
# queued before the runtime starts), with the garbage collector on and off.
PHASES = ("total_ms", "imports_ms", "setup_ms", "runtime_ms", "invocation_ms")


def measure_handwritten(ctx: Context, directory: Path, *, rounds: int) -> dict[str, Any]:
    env = dict(ctx.env, AWS_ENDPOINT_URL_STS=ctx.moto)  # on-demand: Runtime drops every execution-model variable

    def run(variant: tuple[str, str]) -> dict[str, Any]:
        name, collector = variant
        with RuntimeAPI() as api:
            request = api.invoke({})  # answered at the runtime's first ``next``
            with Runtime(api, f"runtime_{name}.handler", directory, env, {"BENCH_COLLECTOR": collector}) as runtime:
                runtime.wait(lambda: request in api.responded_at, f"{name}: the first response")
                result: dict[str, Any] = runtime.response(request)
        if not str(result["key"]).startswith(("ASIA", "FSIA")):
            raise RuntimeError(f"{name}: the handler returned {result['key']!r}")
        return result

    both = interleaved(rounds, {(name, mode): None for name in COLD_MODULES for mode in ("on", "off")}, run)
    on, off = ({name: both[(name, mode)] for name in COLD_MODULES} for mode in ("on", "off"))

    def ratio(runs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
        return summary(a["total_ms"] / b["total_ms"] for a, b in zip(runs["cold_sts"], runs["cold_boto3"], strict=True))

    return {
        "rounds": rounds,
        "modules": {name: f"benchmarks/cold_start/{name}.py" for name in COLD_MODULES},
        **summaries(on, *PHASES, "import_ms", "full_collections", "full_collection_ms"),
        "ratio": ratio(on),
        "collector_off": {**summaries(off, *PHASES), "ratio": ratio(off)},
        "raw": on,
    }


def measure_models(ctx: Context, *, delay: float, freeze: float, workers: int, **plan: Any) -> dict[str, Any]:
    directory = _prepare(ctx)
    provisioned = measure_provisioned(ctx, directory, rounds=plan["pc_rounds"], delay=delay, freeze=freeze)
    at_init = measure_workers(ctx, directory, rounds=plan["mi_rounds"], workers=workers, delay=delay)
    if plan.get("refresh"):
        refresh = measure_refresh(ctx, directory, delay=delay, **plan["refresh"])
    else:
        refresh = {"skipped": plan.get("refresh_skipped", "not in this mode's plan")}
    handwritten = measure_handwritten(ctx, directory, rounds=plan["cold_rounds"])
    return {"provisioned": provisioned, "workers": at_init, "refresh": refresh, "handwritten": handwritten}
