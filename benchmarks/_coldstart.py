"""(3) Cold start: fresh interpreters, wall time and ``-X importtime``; (4) prefetch: from the start of a generated
handler module's import to the end of its first invocation, with 100 ms of latency on every STS request. Every fresh
process runs from the bytecode cache of ``run_env``, warmed first."""

from __future__ import annotations

import json
import re
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

from _common import PYTHON, ROLE_TEMPLATE, Context, interleaved, pythonpath, roles, summaries, summary
from _loopback import STSProxy

BASELINE_IMPORT = "import boto3, aws_lambda_powertools.middleware_factory"
# What a handler module imports. The package's __init__ imports its names lazily (PEP 562), so a bare
# ``import powertools_sts`` would measure almost nothing: the names are what pulls the modules in.
PACKAGE_IMPORT = "from powertools_sts import get_credentials, sts"
COMMANDS = {"python": "pass", "powertools_sts": PACKAGE_IMPORT, "boto3_middleware_factory": BASELINE_IMPORT}
TIMED = (
    "t, cpu = time.perf_counter(), time.process_time(); {}; print(time.perf_counter() - t, time.process_time() - cpu)"
)
INSIDE = {
    # The package's import after the baseline's, timed inside the process.
    "delta": f"import time; {BASELINE_IMPORT}; " + TIMED.format(PACKAGE_IMPORT),
    # The first boto3 client of a process pays for botocore's lazy set-up (service model, endpoint rules, retry
    # handlers, the HTTP pool): what a prefetch, or the first invocation, spends before any STS call.
    "first_client": f"import time, boto3; {PACKAGE_IMPORT}; " + TIMED.format("boto3.session.Session().client('sts')"),
}
IMPORTTIME = f"{BASELINE_IMPORT}; {PACKAGE_IMPORT}"

XRAY_CHECK = """import json, sys
from powertools_sts import get_credentials, sts
loaded = lambda: "aws_xray_sdk" in sys.modules
checks = {"after_import": loaded()}
handler = sts(fetch_data={"x": ROLE})(lambda event, context: get_credentials("x").access_key_id)
checks["after_applying_sts"] = loaded()
handler({}, None)
checks["after_first_invocation"] = loaded()
sts(fetch_data={"y": ROLE}, aws_client_capture=True, disable_prefetch=True)(lambda event, context: None)
checks["control_with_capture"] = loaded()
print(json.dumps(checks))
"""


def _python(*args: str, env: dict[str, str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PYTHON, *args], env=env, cwd=cwd, capture_output=True, text=True, check=True, timeout=120)


_LINE = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \| (\s*)(\S+)\s*$")


def _importtime_tree(stderr: str) -> list[tuple[str, int, int, int]]:
    """(module, self us, cumulative us, depth) of what the package's import adds after the baseline's.

    The rows after the baseline's last top-level module: ``powertools_sts`` itself, then the modules its names pull
    in, which ``-X importtime`` prints as top-level imports of their own (the package's ``__getattr__`` imports them
    after ``powertools_sts`` has finished importing).
    """
    rows = [(m[4], int(m[1]), int(m[2]), len(m[3]) // 2) for m in map(_LINE.match, stderr.splitlines()) if m]
    baseline_end = max(i for i, row in enumerate(rows) if row[0] == "aws_lambda_powertools.middleware_factory")
    return rows[baseline_end + 1 :]


def measure_coldstart(ctx: Context, *, rounds: int, importtime_runs: int) -> dict[str, Any]:
    env = ctx.env
    for code in (*COMMANDS.values(), *INSIDE.values(), "import powertools_sts, aws_xray_sdk.core, moto"):
        _python("-c", code, env=ctx.warm_env)  # fill the bytecode cache with everything the commands import

    def run(job: str) -> dict[str, float]:
        if job in INSIDE:  # timed inside the process: wall and CPU ms
            wall, cpu = (float(value) * 1e3 for value in _python("-c", INSIDE[job], env=env).stdout.split())
            return {"wall": wall, "cpu": cpu}
        start = time.perf_counter()
        subprocess.run([PYTHON, "-c", COMMANDS[job]], env=env, check=True, timeout=120)
        return {"wall": (time.perf_counter() - start) * 1000.0}

    runs = interleaved(rounds, [*COMMANDS, *INSIDE], run)
    walls = {name: [run["wall"] for run in runs[name]] for name in runs}
    stat = {f"{name}_{key}": summary(run[key] for run in runs[name]) for name in INSIDE for key in ("wall", "cpu")}
    per_module: dict[str, dict[str, list[int]]] = {}
    total_us: list[int] = []
    for _ in range(importtime_runs):
        tree = _importtime_tree(_python("-X", "importtime", "-c", IMPORTTIME, env=env).stderr)
        total_us.append(sum(cumulative for _, _, cumulative, depth in tree if depth == 0))
        for module, self_us, cumulative, _depth in tree:
            entry = per_module.setdefault(module, {"self": [], "cumulative": []})
            entry["self"].append(self_us)
            entry["cumulative"].append(cumulative)
    attribution = [
        {
            "module": module,
            "own": module == "powertools_sts" or module.startswith("powertools_sts."),
            "self_us": statistics.median(values["self"]),
            "cumulative_us": statistics.median(values["cumulative"]),
        }
        for module, values in per_module.items()
    ]
    code = XRAY_CHECK.replace("ROLE", repr(ROLE_TEMPLATE.format("xray")))
    xray = json.loads(_python("-c", code, env=dict(env, AWS_ENDPOINT_URL_STS=ctx.moto)).stdout)
    return {
        "rounds": rounds,
        "wall_ms": {name: summary(walls[name]) for name in COMMANDS},
        "wall_difference_ms": summary(
            p - b for p, b in zip(walls["powertools_sts"], walls["boto3_middleware_factory"], strict=True)
        ),
        "import_adds_ms": stat["delta_wall"],
        "import_adds_cpu_ms": stat["delta_cpu"],
        "first_sts_client_ms": stat["first_client_wall"],
        "first_sts_client_cpu_ms": stat["first_client_cpu"],
        "importtime_runs": importtime_runs,
        "importtime_total_us": summary(total_us),
        "importtime": sorted(attribution, key=lambda row: -row["self_us"]),
        "xray": xray,
        "raw": runs,
    }


# -- (4) prefetch ----------------------------------------------------------------------------------------

DRIVER = """import importlib, json, sys, time
start = time.perf_counter()
module = importlib.import_module(sys.argv[1])
imported = time.perf_counter()
result = module.handler({}, None)
done = time.perf_counter()
print(json.dumps({"import_ms": (imported - start) * 1e3, "invocation_ms": (done - imported) * 1e3,
                  "total_ms": (done - start) * 1e3, "entries": len(result)}))
"""
STS_MODULE = """from powertools_sts import get_credentials, sts
ROLES = {roles!r}
@sts(fetch_data=ROLES, disable_prefetch={disable})
def handler(event, context):
    return [get_credentials(name).access_key_id for name in ROLES]
"""
SEQUENTIAL_MODULE = """import boto3
ROLES = {roles!r}
sts_client = boto3.client("sts")
def handler(event, context):
    return [
        sts_client.assume_role(RoleArn=arn, RoleSessionName="bench")["Credentials"]["AccessKeyId"]
        for arn in ROLES.values()
    ]
"""
# The same, but sts(...) is called at the top of the module and other INIT work (an S3 client, as a handler module
# builds at import) runs before the handler is decorated: what a prefetch can overlap.
EARLY_MODULE = """import boto3
from powertools_sts import get_credentials, sts
ROLES = {roles!r}
with_roles = sts(fetch_data=ROLES, disable_prefetch={disable})
s3 = boto3.client("s3")
@with_roles
def handler(event, context):
    return [get_credentials(name).access_key_id for name in ROLES]
"""
MODES = {
    "prefetch": ("sts, prefetching (the default)", STS_MODULE),
    "no_prefetch": ("sts, disable_prefetch=True", STS_MODULE),
    "sequential": ("boto3 assume_role per entry, one after another", SEQUENTIAL_MODULE),
}
EXTRA = {
    "prefetch_early": ("sts(...) first, then an S3 client built at import; prefetching", EARLY_MODULE),
    "no_prefetch_early": ("sts(...) first, then an S3 client built at import; disable_prefetch=True", EARLY_MODULE),
}
EXTRA_SIZE = 10


def measure_prefetch(ctx: Context, *, rounds: int, delay: float) -> dict[str, Any]:
    directory = ctx.base / "handlers"
    directory.mkdir()
    variants = [(mode, size) for size in (1, 10) for mode in MODES] + [(mode, EXTRA_SIZE) for mode in EXTRA]
    for mode, size in variants:  # one generated handler module per (mode, entries)
        source = {**MODES, **EXTRA}[mode][1].format(roles=roles(size), disable=mode.startswith("no_"))
        (directory / f"handler_{mode}_{size}.py").write_text(source)
    env, warm_env = ({**e, "PYTHONPATH": pythonpath(directory)} for e in (ctx.env, ctx.warm_env))
    # The generated modules join the shared bytecode cache (the rest of it is warm already).
    subprocess.run([PYTHON, "-m", "compileall", "-q", str(directory)], env=warm_env, check=True, timeout=120)

    def run(name: str) -> dict[str, Any]:
        proxy.reset()
        result = json.loads(_python("-c", DRIVER, f"handler_{name}", env=env, cwd=directory).stdout)
        if result["entries"] != int(name.rsplit("_", 1)[1]):
            raise RuntimeError(f"{name}: the handler returned {result['entries']} credentials")
        return {**result, "calls": proxy.total_calls}

    with STSProxy(ctx.moto, delay=delay) as proxy:
        env["AWS_ENDPOINT_URL_STS"] = proxy.url
        runs = interleaved(rounds, [f"{mode}_{size}" for mode, size in variants], run)

    def ratio(top: str, bottom: str, key: str = "total_ms") -> dict[str, Any]:
        return summary(a[key] / b[key] for a, b in zip(runs[top], runs[bottom], strict=True))

    return {
        "rounds": rounds,
        "delay_ms": delay * 1000.0,
        "modes": {mode: label for mode, (label, _) in MODES.items()},
        "extra_modes": {mode: label for mode, (label, _) in EXTRA.items()},
        "extra_size": EXTRA_SIZE,
        **summaries(runs, "total_ms", "import_ms", "invocation_ms"),
        "assume_role_calls_per_run": summaries(runs, "calls")["calls"],
        "ratios": {
            "prefetch_10_over_1": ratio("prefetch_10", "prefetch_1"),
            "prefetch_10_over_no_prefetch_10": ratio("prefetch_10", "no_prefetch_10"),
            "prefetch_1_over_no_prefetch_1": ratio("prefetch_1", "no_prefetch_1"),
            "prefetch_10_over_sequential_10": ratio("prefetch_10", "sequential_10"),
            "invocation_prefetch_10_over_1": ratio("prefetch_10", "prefetch_1", "invocation_ms"),
            "early_prefetch_10_over_no_prefetch_10": ratio("prefetch_early_10", "no_prefetch_early_10"),
        },
        "raw": runs,
    }
