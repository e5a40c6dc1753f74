"""(3) Cold start: fresh interpreters, wall time and ``-X importtime``, all from one warmed bytecode cache.

These machines set PYTHONDONTWRITEBYTECODE, and the package is an editable install: without a
shared cache every fresh process would compile powertools_sts from source while boto3 and
Powertools come precompiled, and the figure would measure the compiler. So every run gets the same
PYTHONPYCACHEPREFIX, filled first by warm-up runs with PYTHONDONTWRITEBYTECODE unset.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

from _common import PYTHON, ROLE_TEMPLATE, rotated, summary

BASELINE_IMPORT = "import boto3, aws_lambda_powertools.middleware_factory"
# What a handler module imports. The package's __init__ imports its names lazily (PEP 562), so a bare
# ``import powertools_sts`` would measure almost nothing: the names are what pulls the modules in.
PACKAGE_IMPORT = "from powertools_sts import get_credentials, sts"
COMMANDS = {
    "python": "pass",
    "powertools_sts": PACKAGE_IMPORT,
    "boto3_middleware_factory": BASELINE_IMPORT,
}
DELTA = (
    f"import time; {BASELINE_IMPORT}; start, cpu = time.perf_counter(), time.process_time(); {PACKAGE_IMPORT}; "
    "print(time.perf_counter() - start, time.process_time() - cpu)"
)
IMPORTTIME = f"{BASELINE_IMPORT}; {PACKAGE_IMPORT}"
# The first boto3 client of a process pays for botocore's lazy set-up (service model, endpoint rules,
# retry handlers, the HTTP pool): what a prefetch, or the first invocation, spends before any STS call.
FIRST_CLIENT = (
    f"import time, boto3; {PACKAGE_IMPORT}; start, cpu = time.perf_counter(), time.process_time(); "
    "boto3.session.Session().client('sts'); print(time.perf_counter() - start, time.process_time() - cpu)"
)

XRAY_CHECK = """
import json, sys
checks = {}
import powertools_sts
from powertools_sts import get_credentials, sts
checks["after_import"] = "aws_xray_sdk" in sys.modules

@powertools_sts.sts(fetch_data={"x": ROLE})
def handler(event, context):
    return powertools_sts.get_credentials("x").access_key_id

checks["after_applying_sts"] = "aws_xray_sdk" in sys.modules
handler({}, None)
checks["after_first_invocation"] = "aws_xray_sdk" in sys.modules

@powertools_sts.sts(fetch_data={"y": ROLE}, aws_client_capture=True, disable_prefetch=True)
def captured(event, context):
    return None

checks["control_with_capture"] = "aws_xray_sdk" in sys.modules
print(json.dumps(checks))
"""


def run_env(prefix: str, extra: dict[str, str] | None = None, *, warmup: bool = False) -> dict[str, str]:
    env = dict(os.environ, PYTHONPYCACHEPREFIX=prefix, **(extra or {}))
    if warmup:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
    else:
        env.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    return env


def _run(code: str, env: dict[str, str], *args: str, cwd: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PYTHON, *args, "-c", code], env=env, cwd=cwd, capture_output=True, text=True, check=True, timeout=120
    )


def warm_prefix(prefix: str) -> None:
    """Fill the bytecode cache with everything the measured commands import."""
    env = run_env(prefix, warmup=True)
    for code in (*COMMANDS.values(), DELTA, FIRST_CLIENT, "import powertools_sts, aws_xray_sdk.core, moto"):
        _run(code, env)


def _wall(code: str, env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run([PYTHON, "-c", code], env=env, check=True, timeout=120)
    return (time.perf_counter() - start) * 1000.0


_LINE = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \| (\s*)(\S+)\s*$")


def _importtime_tree(stderr: str) -> list[tuple[str, int, int, int]]:
    """(module, self us, cumulative us, depth) of what the package's import adds after the baseline's.

    The rows after the baseline's last top-level module: ``powertools_sts`` itself, then the modules
    its names pull in, which ``-X importtime`` prints as top-level imports of their own (the package's
    ``__getattr__`` imports them after ``powertools_sts`` has finished importing).
    """
    rows = []
    for line in stderr.splitlines():
        match = _LINE.match(line)
        if match:
            rows.append((match[4], int(match[1]), int(match[2]), len(match[3]) // 2))
    baseline_end = max(i for i, row in enumerate(rows) if row[0] == "aws_lambda_powertools.middleware_factory")
    return rows[baseline_end + 1 :]


def measure_coldstart(prefix: str, moto_url: str, *, rounds: int, importtime_runs: int) -> dict[str, Any]:
    env = run_env(prefix)
    walls: dict[str, list[float]] = {name: [] for name in COMMANDS}
    delta_ms: list[float] = []
    delta_cpu_ms: list[float] = []
    first_client_ms: list[float] = []
    first_client_cpu_ms: list[float] = []
    jobs = [*COMMANDS, "delta", "first_client"]
    for index in range(rounds):
        for job in rotated(jobs, index):
            if job == "delta":
                wall, cpu = (float(value) * 1000.0 for value in _run(DELTA, env).stdout.split())
                delta_ms.append(wall)
                delta_cpu_ms.append(cpu)
            elif job == "first_client":
                wall, cpu = (float(value) * 1000.0 for value in _run(FIRST_CLIENT, env).stdout.split())
                first_client_ms.append(wall)
                first_client_cpu_ms.append(cpu)
            else:
                walls[job].append(_wall(COMMANDS[job], env))
    wall_difference = [
        pkg - base for pkg, base in zip(walls["powertools_sts"], walls["boto3_middleware_factory"], strict=True)
    ]

    per_module: dict[str, dict[str, list[int]]] = {}
    total_us: list[int] = []
    for _ in range(importtime_runs):
        tree = _importtime_tree(_run(IMPORTTIME, env, "-X", "importtime").stderr)
        total_us.append(sum(cumulative_us for _, _, cumulative_us, depth in tree if depth == 0))
        for module, self_us, cumulative_us, _depth in tree:
            entry = per_module.setdefault(module, {"self": [], "cumulative": []})
            entry["self"].append(self_us)
            entry["cumulative"].append(cumulative_us)
    attribution = sorted(
        (
            {
                "module": module,
                "own": module == "powertools_sts" or module.startswith("powertools_sts."),
                "self_us": statistics.median(values["self"]),
                "cumulative_us": statistics.median(values["cumulative"]),
            }
            for module, values in per_module.items()
        ),
        key=lambda row: -row["self_us"],
    )

    xray_env = run_env(prefix, {"AWS_ENDPOINT_URL_STS": moto_url})
    xray = json.loads(_run(XRAY_CHECK.replace("ROLE", repr(ROLE_TEMPLATE.format("xray"))), xray_env).stdout)
    return {
        "rounds": rounds,
        "commands": {name: f'python -c "{code}"' for name, code in COMMANDS.items()},
        "wall_ms": {name: summary(values) for name, values in walls.items()},
        "wall_difference_ms": summary(wall_difference),
        "import_adds_ms": summary(delta_ms),
        "import_adds_cpu_ms": summary(delta_cpu_ms),
        "first_sts_client_ms": summary(first_client_ms),
        "first_sts_client_cpu_ms": summary(first_client_cpu_ms),
        "importtime_runs": importtime_runs,
        "importtime_total_us": summary(total_us),
        "importtime": attribution,
        "xray": xray,
        "raw": {"wall_ms": walls, "import_adds_ms": delta_ms, "import_adds_cpu_ms": delta_cpu_ms},
    }


def pycache_prefix(base: Path) -> str:
    path = base / "pycache"
    path.mkdir(parents=True, exist_ok=True)
    return str(path)
