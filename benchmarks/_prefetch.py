"""(4) Prefetch: from the start of a handler module's import to the end of its first invocation.

Every run is a fresh interpreter importing a generated handler module, with 100 ms of latency
added to every STS request by the delaying proxy in front of moto.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from _common import PYTHON, roles, rotated, summary
from _proxy import STSProxy

DRIVER = """
import importlib, json, sys, time
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

# The same, but sts(...) is called at the top of the module and other INIT work (an S3 client, as a
# handler module builds at import) runs before the handler is decorated: what a prefetch can overlap.
EARLY_MODULE = """import boto3
from powertools_sts import get_credentials, sts

ROLES = {roles!r}
with_roles = sts(fetch_data=ROLES, disable_prefetch={disable})
s3 = boto3.client("s3")


@with_roles
def handler(event, context):
    return [get_credentials(name).access_key_id for name in ROLES]
"""

MODES = (
    ("prefetch", "sts, prefetching (the default)"),
    ("no_prefetch", "sts, disable_prefetch=True"),
    ("sequential", "boto3 assume_role per entry, one after another"),
)
EXTRA = (
    ("prefetch_early", "sts(...) first, then an S3 client built at import; prefetching"),
    ("no_prefetch_early", "sts(...) first, then an S3 client built at import; disable_prefetch=True"),
)
EXTRA_SIZE = 10


def write_modules(directory: Path, sizes: tuple[int, ...]) -> dict[str, str]:
    """Generate one handler module per (mode, entries); return variant name to module name."""
    modules = {}
    for size in sizes:
        arns = roles(size)
        for mode, _ in MODES:
            name = f"handler_{mode}_{size}"
            if mode == "sequential":
                source = SEQUENTIAL_MODULE.format(roles=arns)
            else:
                source = STS_MODULE.format(roles=arns, disable=mode == "no_prefetch")
            (directory / f"{name}.py").write_text(source)
            modules[f"{mode}_{size}"] = name
    for mode, _ in EXTRA:
        name = f"handler_{mode}_{EXTRA_SIZE}"
        source = EARLY_MODULE.format(roles=roles(EXTRA_SIZE), disable=mode.startswith("no_"))
        (directory / f"{name}.py").write_text(source)
        modules[f"{mode}_{EXTRA_SIZE}"] = name
    return modules


def _run(module: str, directory: Path, env: dict[str, str]) -> dict[str, float]:
    out = subprocess.run(
        [PYTHON, "-c", DRIVER, module], cwd=directory, env=env, capture_output=True, text=True, check=True, timeout=120
    )
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def measure_prefetch(
    moto_url: str, directory: Path, env: dict[str, str], warm_env: dict[str, str], *, rounds: int, delay: float
) -> dict[str, Any]:
    sizes = (1, 10)
    modules = write_modules(directory, sizes)
    runs: dict[str, list[dict[str, float]]] = {variant: [] for variant in modules}
    calls: dict[str, list[int]] = {variant: [] for variant in modules}
    with STSProxy(moto_url, delay=delay) as proxy:
        env = dict(env, AWS_ENDPOINT_URL_STS=proxy.url, PYTHONPATH=str(directory))
        warm_env = dict(warm_env, AWS_ENDPOINT_URL_STS=proxy.url, PYTHONPATH=str(directory))
        # The generated modules join the shared bytecode cache (the rest of it is warm already).
        subprocess.run([PYTHON, "-m", "compileall", "-q", str(directory)], env=warm_env, check=True, timeout=120)
        for index in range(rounds):
            for variant in rotated(list(modules), index):
                proxy.reset()
                result = _run(modules[variant], directory, env)
                if result["entries"] != int(variant.rsplit("_", 1)[1]):
                    raise RuntimeError(f"{variant}: the handler returned {result['entries']} credentials")
                runs[variant].append(result)
                calls[variant].append(proxy.total_calls)

    def series(variant: str, field: str) -> list[float]:
        return [run[field] for run in runs[variant]]

    def ratio(top: str, bottom: str, field: str = "total_ms") -> list[float]:
        return [a / b for a, b in zip(series(top, field), series(bottom, field), strict=True)]

    return {
        "rounds": rounds,
        "delay_ms": delay * 1000.0,
        "modes": dict(MODES),
        "extra_modes": dict(EXTRA),
        "extra_size": EXTRA_SIZE,
        "total_ms": {variant: summary(series(variant, "total_ms")) for variant in runs},
        "import_ms": {variant: summary(series(variant, "import_ms")) for variant in runs},
        "invocation_ms": {variant: summary(series(variant, "invocation_ms")) for variant in runs},
        "assume_role_calls_per_run": {variant: summary(values) for variant, values in calls.items()},
        "ratios": {
            "prefetch_10_over_1": summary(ratio("prefetch_10", "prefetch_1")),
            "prefetch_10_over_no_prefetch_10": summary(ratio("prefetch_10", "no_prefetch_10")),
            "prefetch_1_over_no_prefetch_1": summary(ratio("prefetch_1", "no_prefetch_1")),
            "prefetch_10_over_sequential_10": summary(ratio("prefetch_10", "sequential_10")),
            "invocation_prefetch_10_over_1": summary(ratio("prefetch_10", "prefetch_1", "invocation_ms")),
            "early_prefetch_10_over_no_prefetch_10": summary(ratio("prefetch_early_10", "no_prefetch_early_10")),
        },
        "raw": runs,
    }
