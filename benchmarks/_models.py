"""(7) Execution models under the real runtime client, and the cold start against a hand-written handler.

Every run below starts ``python -m awslambdaric <module>.handler`` (awslambdaric, as the
managed runtimes run it) against the loopback Runtime API of ``_runtime_api.py``, with STS behind
the proxy of ``_proxy.py`` (100 ms per AssumeRole; the cold start's STS is moto itself). Each of the
first three measurements runs the package as it is beside "today", the behaviour before issue 11, in
the same run:

1. Provisioned concurrency: the runtime is frozen (SIGSTOP) when it first asks for an invocation and
   thawed (SIGCONT) a moment later; the first invocation's latency and the STS calls in flight
   during it. Today: ``prefetch_timeout=0`` (INIT does not wait for the prefetch).
2. Managed Instances, N worker processes: AssumeRole calls per role once every worker asks for an
   invocation (INIT over). Today: ``POWERTOOLS_STS_SHARED_CACHE=false`` (one cache per process).
3. Managed Instances across a refresh: credentials living ``lifetime`` seconds (the proxy rewrites
   ``Expiration``), steady invocations through one or more ends of freshness; the slowest against
   the median. Today: refresh ahead off, the shared cache off and ``prefetch_timeout=0``, with the
   same runtime and the same N workers (see ``TODAY_PRELUDE``).
4. Cold start: import + first invocation of a one-entry sts handler module beside the same function
   written by hand with boto3, both importing Powertools' ``Logger``, each in a fresh runtime client
   (on-demand: the first event is queued before the runtime starts).
"""

from __future__ import annotations

import inspect
import signal
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from _common import PYTHON, ROLE_TEMPLATE, rotated, summary
from _proxy import STSProxy
from _runtime_api import Runtime, RuntimeAPI

import powertools_sts

ROLES = {name: ROLE_TEMPLATE.format(f"models-{name}") for name in ("orders", "reports", "audit")}
COLD_ROLE = ROLE_TEMPLATE.format("models-cold")

# The handler of the runtime runs: three entries, an optional sleep standing for the handler's own work
# (a downstream call), and its own duration and process id in the response.
HANDLER_MODULE = """import os
import time

{prelude}from powertools_sts import get_credentials, sts

try:  # this process's RoleSessionName: which worker made an AssumeRole the proxy saw
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

# "Today" for the refresh run: sts(...) offers no switch for refresh ahead (STSProvider(refresh_ahead=...)
# does), so the providers sts(...) builds are given refresh_ahead=False through the public keyword, before
# the decorator runs. Unsetting AWS_LAMBDA_MAX_CONCURRENCY instead would also switch the runtime client to
# one process: the two sides would no longer run the same environment.
TODAY_PRELUDE = """import powertools_sts

_init = powertools_sts.STSProvider.__init__


def _refresh_ahead_off(self, **options):
    options["refresh_ahead"] = False
    _init(self, **options)


powertools_sts.STSProvider.__init__ = _refresh_ahead_off

"""

MODULES = {
    "models_package": ("", ""),
    "models_no_wait": ("", ", prefetch_timeout=0"),
    "models_today": (TODAY_PRELUDE, ", prefetch_timeout=0"),
}

# Cold start (4): what a real Powertools handler imports, in both modules: ``from aws_lambda_powertools
# import Logger`` (the package's own __init__: Logger, Metrics and Tracer) and a Logger built at import.
# Each module stamps its phases (imports; module-level set-up; the driver times the first invocation).
# They are files of their own, which docs/benchmarks.md includes as they are.
COLD_START = Path(__file__).parent / "cold_start"
COLD_MODULES = {"cold_sts": COLD_START / "cold_sts.py", "cold_boto3": COLD_START / "cold_boto3.py"}

# Each cold module runs under the runtime client, as Lambda runs a handler: a wrapper module, the one
# awslambdaric is pointed at, stamps the time and the collector's full (generation 2) collections, imports
# the cold module, and its handler returns the phases: the import (the cold module's own imports and
# module-level set-up), the runtime's work up to the first invocation (its ``next`` request, answered at
# once as on-demand Lambda answers after INIT), and the first invocation. The collector's first full
# collection, one pass over every object of the process, falls after a fixed count of younger ones, so a
# few thousand objects more or less decide in which phase, or in which process, it lands; the runtime
# client's own imports come before the module's, as on Lambda. With ``BENCH_COLLECTOR=off`` the wrapper
# switches the collector off before the import, which measures the CPU each side spends without it.
COLD_WRAPPER = """import gc
import os
import time

if os.environ.get("BENCH_COLLECTOR") == "off":
    gc.disable()
_collections = gc.get_stats()[2]["collections"]
_full_ms = [0.0]


def _time_full_collections(phase, info, _began=[0.0]):
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
    return {{
        "import_ms": (_imported - _start) * 1e3,
        "runtime_ms": (began - _imported) * 1e3,
        "invocation_ms": (done - began) * 1e3,
        "total_ms": (done - _start) * 1e3,
        "full_collections": gc.get_stats()[2]["collections"] - _collections,
        "full_collection_ms": _full_ms[0],
        "key": key,
        **_module.PHASES,
    }}
"""

WARM_IMPORTS = (
    "import awslambdaric.__main__, awslambdaric.bootstrap, awslambdaric.lambda_multi_concurrent_utils, "
    "aws_lambda_powertools, powertools_sts, boto3"
)


def write_modules(directory: Path) -> None:
    for name, (prelude, options) in MODULES.items():
        (directory / f"{name}.py").write_text(HANDLER_MODULE.format(prelude=prelude, roles=ROLES, options=options))
    for name, path in COLD_MODULES.items():
        source = path.read_text()
        if repr(COLD_ROLE)[1:-1] not in source:
            raise RuntimeError(f"{path} must assume {COLD_ROLE}, the role the benchmark's STS knows")
        (directory / f"{name}.py").write_text(source)
        (directory / f"runtime_{name}.py").write_text(COLD_WRAPPER.format(module=name))


def warm(directory: Path, warm_env: dict[str, str]) -> None:
    """Add the runtime client and the generated modules to the shared bytecode cache."""
    env = dict(warm_env, PYTHONPATH=str(directory))
    subprocess.run([PYTHON, "-m", "compileall", "-q", str(directory)], env=env, check=True, timeout=120)
    subprocess.run([PYTHON, "-c", WARM_IMPORTS], env=env, check=True, timeout=120)


def _overlapping(log: list[tuple[float, float, str, str]], start: float, end: float, session: str | None = None) -> int:
    """AssumeRole calls in flight at any moment of [start, end] (only those of one RoleSessionName when given)."""
    return sum(
        1
        for arrived, answered, _, name in log
        if arrived <= end and answered >= start and (session is None or name == session)
    )


def _response(api: RuntimeAPI, request: str, runtime: Runtime) -> dict[str, Any]:
    if request in api.errors:
        raise RuntimeError(f"the handler failed: {api.errors[request]}\n{runtime.output()}")
    return api.responses[request]  # type: ignore[no-any-return]


# -- 1. provisioned concurrency: the first invocation after a freeze ---------------------------------------


PROVISIONED = (
    ("package", "the package: INIT waits for the prefetch (default prefetch_timeout)", "models_package"),
    ("today", "today: sts(..., prefetch_timeout=0), INIT does not wait", "models_no_wait"),
)


def _provisioned_run(
    proxy: STSProxy, directory: Path, env: dict[str, str], module: str, freeze: float
) -> dict[str, Any]:
    proxy.reset()
    frozen = threading.Event()
    at_freeze: dict[str, float] = {}
    started: list[Runtime] = []

    def freeze_runtime() -> None:  # in the Runtime API's thread, before anything is served
        started[0].signal(signal.SIGSTOP)
        at_freeze["at"] = time.perf_counter()
        at_freeze["calls"] = proxy.total_calls
        frozen.set()

    with RuntimeAPI() as api:
        api.on_first_poll = freeze_runtime
        settings = {"AWS_LAMBDA_INITIALIZATION_TYPE": "provisioned-concurrency"}
        with Runtime(api, f"{module}.handler", directory, env, settings) as runtime:
            started.append(runtime)
            deadline = time.perf_counter() + 60
            while not frozen.wait(0.1):
                if runtime.process.poll() is not None or api.init_errors or time.perf_counter() > deadline:
                    raise RuntimeError(f"{module}: the runtime never asked for an invocation\n{runtime.output()}")
            time.sleep(max(0.0, at_freeze["at"] + freeze - time.perf_counter()))
            runtime.signal(signal.SIGCONT)
            request = api.invoke({})
            try:
                api.wait_for(lambda: request in api.responded, f"{module}: the first response")
            except RuntimeError as exc:
                raise RuntimeError(f"{exc}\n{runtime.output()}") from exc
            body = _response(api, request, runtime)
        served, done = api.served[request], api.responded[request]
        log = list(proxy.log)
    return {
        "latency_ms": (done - served) * 1e3,
        "handler_ms": body["handler_ms"],
        "init_s": at_freeze["at"] - runtime.started,
        "calls_at_init": int(at_freeze["calls"]),
        "calls_during": _overlapping(log, served, done),
        "calls_total": len(log),
    }


def measure_provisioned(
    moto_url: str, directory: Path, env: dict[str, str], *, rounds: int, delay: float, freeze: float
) -> dict[str, Any]:
    runs: dict[str, list[dict[str, Any]]] = {variant: [] for variant, _, _ in PROVISIONED}
    modules = {variant: module for variant, _, module in PROVISIONED}
    with STSProxy(moto_url, delay=delay) as proxy:
        env = dict(env, AWS_ENDPOINT_URL_STS=proxy.url)
        for index in range(rounds):
            for variant in rotated(list(runs), index):
                runs[variant].append(_provisioned_run(proxy, directory, env, modules[variant], freeze))

    def series(variant: str, field: str) -> list[float]:
        return [run[field] for run in runs[variant]]

    return {
        "rounds": rounds,
        "delay_ms": delay * 1e3,
        "freeze_s": freeze,
        "entries": len(ROLES),
        "labels": {variant: label for variant, label, _ in PROVISIONED},
        "latency_ms": {variant: summary(series(variant, "latency_ms")) for variant in runs},
        "handler_ms": {variant: summary(series(variant, "handler_ms")) for variant in runs},
        "init_s": {variant: summary(series(variant, "init_s")) for variant in runs},
        "calls_at_init": {variant: summary(series(variant, "calls_at_init")) for variant in runs},
        "calls_during": {variant: summary(series(variant, "calls_during")) for variant in runs},
        "raw": runs,
    }


# -- 2. Managed Instances: AssumeRole calls per role at INIT ----------------------------------------------


WORKERS = (
    ("package", "the package (shared cache on by default on Managed Instances)", {}),
    (
        "today",
        "today: POWERTOOLS_STS_SHARED_CACHE=false (one cache per process)",
        {"POWERTOOLS_STS_SHARED_CACHE": "false"},
    ),
)


def _workers_run(
    proxy: STSProxy, directory: Path, env: dict[str, str], base: Path, switches: dict[str, str], workers: int
) -> dict[str, Any]:
    tmp = tempfile.mkdtemp(prefix="tmpdir-", dir=base)  # a fresh /tmp per environment
    settings = {"AWS_LAMBDA_MAX_CONCURRENCY": str(workers), "TMPDIR": tmp, **switches}
    proxy.reset()
    with RuntimeAPI() as api, Runtime(api, "models_package.handler", directory, env, settings) as runtime:
        try:
            api.wait_for(lambda: api.held >= workers, f"{workers} workers asking for an invocation", 120)
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}\n{runtime.output()}") from exc
        polled = time.perf_counter()
        per_role = {name: proxy.calls[arn] for name, arn in ROLES.items()}
        log = [entry for entry in proxy.log if entry[0] <= polled]
    # Of the calls past the first per role: how many started only after the role's previous call was answered
    # (one worker after another) and how many overlapped an earlier one (fetched at the same time).
    after, overlapping = 0, 0
    for arn in ROLES.values():
        calls = sorted((arrived, answered) for arrived, answered, role, _ in log if role == arn)
        last_answer = calls[0][1] if calls else 0.0
        for arrived, answered in calls[1:]:
            if arrived >= last_answer:
                after += 1
            else:
                overlapping += 1
            last_answer = max(last_answer, answered)
    return {
        "per_role": per_role,
        "init_s": polled - runtime.started,
        "extra_after": after,
        "extra_overlapping": overlapping,
    }


def measure_workers(
    moto_url: str, directory: Path, env: dict[str, str], base: Path, *, rounds: int, workers: int, delay: float
) -> dict[str, Any]:
    runs: dict[str, list[dict[str, Any]]] = {variant: [] for variant, _, _ in WORKERS}
    switches = {variant: extra for variant, _, extra in WORKERS}
    with STSProxy(moto_url, delay=delay) as proxy:
        env = dict(env, AWS_ENDPOINT_URL_STS=proxy.url)
        for index in range(rounds):
            for variant in rotated(list(runs), index):
                runs[variant].append(_workers_run(proxy, directory, env, base, switches[variant], workers))
    per_role = {
        variant: {name: summary(run["per_role"][name] for run in runs[variant]) for name in ROLES} for variant in runs
    }
    return {
        "rounds": rounds,
        "workers": workers,
        # Whether this tree's sts(...) takes shared_cache=: what a miss of 8 calls per role means.
        "shared_cache_option": "shared_cache" in inspect.signature(powertools_sts.sts).parameters,
        "delay_ms": delay * 1e3,
        "roles": list(ROLES),
        "labels": {variant: label for variant, label, _ in WORKERS},
        "per_role": per_role,
        "max_per_role": {variant: max(max(run["per_role"].values()) for run in runs[variant]) for variant in runs},
        "min_per_role": {variant: min(min(run["per_role"].values()) for run in runs[variant]) for variant in runs},
        "init_s": {variant: summary(run["init_s"] for run in runs[variant]) for variant in runs},
        "extra_after": {variant: sum(run["extra_after"] for run in runs[variant]) for variant in runs},
        "extra_overlapping": {variant: sum(run["extra_overlapping"] for run in runs[variant]) for variant in runs},
        "raw": runs,
    }


# -- 3. Managed Instances: the slowest invocation across a refresh ------------------------------------------


REFRESH = (
    ("package", "the package (refresh ahead, shared cache and the INIT wait: the defaults)", "models_package", {}),
    (
        "today",
        "today: refresh_ahead=False, POWERTOOLS_STS_SHARED_CACHE=false, prefetch_timeout=0",
        "models_today",
        {"POWERTOOLS_STS_SHARED_CACHE": "false"},
    ),
)


def _refresh_run(
    proxy: STSProxy,
    directory: Path,
    env: dict[str, str],
    base: Path,
    module: str,
    switches: dict[str, str],
    *,
    workers: int,
    fresh: float,
    cycles: int,
    rate: float,
    work_ms: float,
) -> dict[str, Any]:
    tmp = tempfile.mkdtemp(prefix="tmpdir-", dir=base)
    settings = {"AWS_LAMBDA_MAX_CONCURRENCY": str(workers), "TMPDIR": tmp, **switches}
    event = {"work_ms": work_ms}
    interval = 1.0 / rate
    proxy.reset()
    with RuntimeAPI() as api, Runtime(api, f"{module}.handler", directory, env, settings) as runtime:
        try:
            api.wait_for(lambda: api.held >= workers, f"{workers} workers asking for an invocation", 120)
            # Warm-up, not measured: every worker's first invocations (a prefetch still in flight today).
            warmup: list[str] = []
            seen: dict[int, int] = {}
            deadline = time.perf_counter() + 60
            while min(seen.values(), default=0) < 2 or len(seen) < workers:
                if time.perf_counter() > deadline:
                    raise RuntimeError(f"warm-up: invocations reached {len(seen)} of {workers} workers")
                warmup.append(api.invoke(event))
                time.sleep(interval)
                with api.changed:
                    seen = {}
                    for request in warmup:
                        if request in api.responses:
                            pid = api.responses[request]["pid"]
                            seen[pid] = seen.get(pid, 0) + 1
            api.wait_for(lambda: all(r in api.responded for r in warmup), "the warm-up's responses")
            # Steady invocations until every worker is well past `cycles` ends of freshness of the INIT fetch.
            start = time.perf_counter()
            fetched = max(entry[1] for entry in proxy.log)
            stop = fetched + cycles * fresh + 3.0
            measured: list[str] = []
            next_at = start
            while next_at < stop:
                time.sleep(max(0.0, next_at - time.perf_counter()))
                measured.append(api.invoke(event))
                next_at += interval
            api.wait_for(lambda: all(r in api.responded for r in measured), "the measured responses")
            bodies = [_response(api, request, runtime) for request in measured]
        except RuntimeError as exc:
            raise RuntimeError(f"{module}: {exc}\n{runtime.output()}") from exc
        log = list(proxy.log)
    points = []
    for request, body in zip(measured, bodies, strict=True):
        served, done = api.served[request], api.responded[request]
        points.append(
            {
                "t": served - start,
                "latency_ms": (done - served) * 1e3,
                "handler_ms": body["handler_ms"],
                "pid": body["pid"],
                "sts_in_flight": _overlapping(log, served, done),
                # The worker's own calls: a refresh of its own (in the background, or the invocation's).
                "own_sts_in_flight": _overlapping(log, served, done, body["session"]) if body["session"] else 0,
            }
        )
    latencies = [p["latency_ms"] for p in points]
    median = statistics.median(latencies)
    slowest = max(points, key=lambda p: p["latency_ms"])
    ordered = sorted(latencies)
    quiet = [p["latency_ms"] for p in points if p["sts_in_flight"] == 0]
    return {
        "invocations": len(points),
        "workers_seen": len({p["pid"] for p in points}),
        "window_s": stop - start,
        "median_ms": median,
        "p99_ms": ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))],
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


def measure_refresh(
    moto_url: str,
    directory: Path,
    env: dict[str, str],
    base: Path,
    *,
    workers: int,
    lifetime: float,
    cycles: int,
    rate: float,
    work_ms: float,
    delay: float,
) -> dict[str, Any]:
    fresh = lifetime - 60.0  # the package serves nothing within 60 s of Expiration: fresh until then
    runs = {}
    with STSProxy(moto_url, delay=delay, lifetime=lifetime) as proxy:
        env = dict(env, AWS_ENDPOINT_URL_STS=proxy.url)
        for variant, _, module, switches in REFRESH:
            runs[variant] = _refresh_run(
                proxy,
                directory,
                env,
                base,
                module,
                switches,
                workers=workers,
                fresh=fresh,
                cycles=cycles,
                rate=rate,
                work_ms=work_ms,
            )
    return {
        "workers": workers,
        "lifetime_s": lifetime,
        "fresh_s": fresh,
        "cycles": cycles,
        "rate": rate,
        "work_ms": work_ms,
        "delay_ms": delay * 1e3,
        "entries": len(ROLES),
        # Whether this tree's sts(...) offers refresh_ahead= itself (the page says how today's side turns it off).
        "refresh_ahead_option": "refresh_ahead" in inspect.signature(powertools_sts.sts).parameters,
        "labels": {variant: label for variant, label, _, _ in REFRESH},
        "runs": runs,
    }


# -- 4. cold start against a hand-written handler ---------------------------------------------------------


def _cold_run(api_env: dict[str, str], directory: Path, name: str, collector: str) -> dict[str, Any]:
    with RuntimeAPI() as api:
        request = api.invoke({})  # queued before the runtime starts: answered at its first ``next``
        with Runtime(api, f"runtime_{name}.handler", directory, api_env, {"BENCH_COLLECTOR": collector}) as runtime:
            try:
                api.wait_for(lambda: request in api.responded, f"{name}: the first response")
            except RuntimeError as exc:
                raise RuntimeError(f"{exc}\n{runtime.output()}") from exc
            result = _response(api, request, runtime)
    if not str(result["key"]).startswith(("ASIA", "FSIA")):
        raise RuntimeError(f"{name}: the handler returned {result['key']!r}")
    return result


def measure_handwritten(moto_url: str, directory: Path, env: dict[str, str], *, rounds: int) -> dict[str, Any]:
    env = dict(env, AWS_ENDPOINT_URL_STS=moto_url)  # on-demand: Runtime drops every execution-model variable
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in COLD_MODULES}
    collector_off: dict[str, list[dict[str, Any]]] = {name: [] for name in COLD_MODULES}
    for index in range(rounds):
        for name, collector in rotated([(name, mode) for name in COLD_MODULES for mode in ("on", "off")], index):
            (runs if collector == "on" else collector_off)[name].append(_cold_run(env, directory, name, collector))

    def series(name: str, field: str, of: dict[str, list[dict[str, Any]]] = runs) -> list[float]:
        return [run[field] for run in of[name]]

    ratio = [a / b for a, b in zip(series("cold_sts", "total_ms"), series("cold_boto3", "total_ms"), strict=True)]
    off = [
        a / b
        for a, b in zip(
            series("cold_sts", "total_ms", collector_off), series("cold_boto3", "total_ms", collector_off), strict=True
        )
    ]
    return {
        "rounds": rounds,
        "modules": {name: path.relative_to(COLD_START.parent.parent).as_posix() for name, path in COLD_MODULES.items()},
        "total_ms": {name: summary(series(name, "total_ms")) for name in runs},
        "import_ms": {name: summary(series(name, "import_ms")) for name in runs},
        "imports_ms": {name: summary(series(name, "imports_ms")) for name in runs},
        "setup_ms": {name: summary(series(name, "setup_ms")) for name in runs},
        "runtime_ms": {name: summary(series(name, "runtime_ms")) for name in runs},
        "invocation_ms": {name: summary(series(name, "invocation_ms")) for name in runs},
        "ratio": summary(ratio),
        "full_collections": {name: summary(series(name, "full_collections")) for name in runs},
        "full_collection_ms": {name: summary(series(name, "full_collection_ms")) for name in runs},
        "collector_off": {
            "total_ms": {name: summary(series(name, "total_ms", collector_off)) for name in runs},
            "imports_ms": {name: summary(series(name, "imports_ms", collector_off)) for name in runs},
            "setup_ms": {name: summary(series(name, "setup_ms", collector_off)) for name in runs},
            "runtime_ms": {name: summary(series(name, "runtime_ms", collector_off)) for name in runs},
            "invocation_ms": {name: summary(series(name, "invocation_ms", collector_off)) for name in runs},
            "ratio": summary(off),
        },
        "raw": runs,
    }


def measure_models(
    moto_url: str, base: Path, env: dict[str, str], warm_env: dict[str, str], plan: dict[str, Any]
) -> dict[str, Any]:
    directory = base / "models"
    directory.mkdir()
    write_modules(directory)
    warm(directory, warm_env)
    delay = plan["delay"]
    results: dict[str, Any] = {}
    started = time.perf_counter()
    results["provisioned"] = measure_provisioned(
        moto_url, directory, env, rounds=plan["pc_rounds"], delay=delay, freeze=plan["freeze"]
    )
    results["provisioned"]["wall_s"] = time.perf_counter() - started
    started = time.perf_counter()
    results["workers"] = measure_workers(
        moto_url, directory, env, base, rounds=plan["mi_rounds"], workers=plan["workers"], delay=delay
    )
    results["workers"]["wall_s"] = time.perf_counter() - started
    if plan.get("refresh"):
        started = time.perf_counter()
        results["refresh"] = measure_refresh(moto_url, directory, env, base, delay=delay, **plan["refresh"])
        results["refresh"]["wall_s"] = time.perf_counter() - started
    else:
        results["refresh"] = {"skipped": plan.get("refresh_skipped", "not in this mode's plan")}
    started = time.perf_counter()
    results["handwritten"] = measure_handwritten(moto_url, directory, env, rounds=plan["cold_rounds"])
    results["handwritten"]["wall_s"] = time.perf_counter() - started
    return results
