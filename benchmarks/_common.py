"""Shared pieces of the benchmark: the environment, moto's STS server, the run's context, statistics, the machine."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import statistics
import subprocess
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PYTHON = sys.executable
ROLE_TEMPLATE = "arn:aws:iam::111122223333:role/bench-{}"
PACKAGES = ("powertools-sts", "aws-lambda-powertools", "boto3", "botocore", "moto", "awslambdaric", "matplotlib")

# Dummy credentials and a region, as the test suite uses: nothing here may reach real AWS.
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "AWS_EC2_METADATA_DISABLED": "true",
}
_DROP = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE")


def configure_env() -> None:
    """Point this process (and the children it starts) at dummy credentials; call before importing boto3."""
    for name in (*_DROP, "POWERTOOLS_TRACE_MIDDLEWARES"):
        os.environ.pop(name, None)
    os.environ.update(AWS_ENV)


def pythonpath(directory: Path | str) -> str:
    """``directory`` first, then the caller's own PYTHONPATH (a worktree's ``src``, say), for a child process."""
    return os.pathsep.join(filter(None, [str(directory), os.environ.get("PYTHONPATH", "")]))


def run_env(prefix: str, *, warmup: bool = False) -> dict[str, str]:
    """A fresh process's environment: one bytecode cache (``prefix``) for every run, written by warm-up runs only
    (these machines set PYTHONDONTWRITEBYTECODE: each run would compile the editable powertools_sts otherwise)."""
    env = dict(os.environ, PYTHONPYCACHEPREFIX=prefix)
    if warmup:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
    else:
        env.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    return env


@dataclass
class Context:
    """What every measurement is given: moto's URL, a scratch directory, the fresh processes' environments."""

    moto: str
    base: Path
    env: dict[str, str]
    warm_env: dict[str, str]


def roles(count: int, prefix: str = "entry") -> dict[str, str]:
    """Entry name to RoleArn, ``count`` distinct roles; entry names ``<prefix><i>``."""
    return {f"{prefix}{i}": ROLE_TEMPLATE.format(i) for i in range(count)}


def summary(values: Iterable[float]) -> dict[str, Any]:
    """Median, min and max (and the count) of repeated measurements."""
    data = list(values)
    return {"median": statistics.median(data), "min": min(data), "max": max(data), "n": len(data)}


def rotated(items: Sequence[Any], round_index: int) -> list[Any]:
    """The variants in a different order each round, so drift on the machine hits them all alike."""
    shift = round_index % len(items)
    order = list(items[shift:]) + list(items[:shift])
    return order if round_index % 2 == 0 else order[::-1]


def interleaved(rounds: int, variants: Iterable[Any], run: Callable[[Any], dict[str, Any]]) -> dict[Any, list[Any]]:
    """``run(variant)`` for every variant in every round, the order rotated from round to round."""
    runs: dict[Any, list[dict[str, Any]]] = {variant: [] for variant in variants}
    for index in range(rounds):
        for variant in rotated(list(runs), index):
            runs[variant].append(run(variant))
    return runs


def summaries(runs: dict[Any, list[dict[str, Any]]], *fields: str) -> dict[str, dict[Any, dict[str, Any]]]:
    """``{field: {variant: summary}}`` of the runs' fields."""
    return {field: {variant: summary(run[field] for run in of) for variant, of in runs.items()} for field in fields}


# A child process, not a thread of the measuring one: the server's own CPU time stays out of the timings, as a
# real STS endpoint's would. It prints its URL and serves until its stdin closes.
_MOTO = """import logging, sys
from moto.server import ThreadedMotoServer
logging.getLogger("werkzeug").setLevel(logging.ERROR)
server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
server.start()
print("http://%s:%d" % server.get_host_and_port(), flush=True)
sys.stdin.read()
server.stop()
"""


@contextmanager
def moto_server() -> Iterator[str]:
    """moto's STS server on 127.0.0.1 in a child process; yields its URL."""
    process = subprocess.Popen([PYTHON, "-c", _MOTO], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        url = process.stdout.readline().strip()
        if not url.startswith("http://127.0.0.1:"):
            raise RuntimeError(f"moto server did not start: {url!r}")
        yield url
    finally:
        process.stdin.close()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False).stdout.strip()


def machine_info() -> dict[str, Any]:
    """What the figures were measured on."""
    info = Path("/proc/cpuinfo")
    lines = info.read_text().splitlines() if info.exists() else []
    cpu = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), platform.processor())
    commit = (_git("rev-parse", "--short", "HEAD") or "unknown") + (
        " (src modified)" if _git("status", "--porcelain", "src") else ""
    )
    return {
        "cpu_model": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "commit": commit,
        "packages": {name: _version(name) for name in PACKAGES},
    }
