"""Shared pieces of the benchmark: the environment, the moto server process, statistics, machine facts."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import statistics
import subprocess
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PYTHON = sys.executable

ROLE_TEMPLATE = "arn:aws:iam::111122223333:role/bench-{}"

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
    for name in _DROP:
        os.environ.pop(name, None)
    os.environ.update(AWS_ENV)
    os.environ.pop("POWERTOOLS_TRACE_MIDDLEWARES", None)


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


class MotoProcess:
    """moto's STS server (``ThreadedMotoServer`` on 127.0.0.1) in a child process.

    A child, not a thread of the measuring process: the server's own CPU time then stays out of
    the timings, as a real STS endpoint's would. It exits when this process closes its stdin.
    """

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [PYTHON, str(HERE / "_moto_server.py")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        self.url = self.process.stdout.readline().strip()
        if not self.url.startswith("http://127.0.0.1:"):
            self.stop()
            raise RuntimeError(f"moto server did not start: {self.url!r}")

    def stop(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> MotoProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "src"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return out.stdout.strip() + (" (src modified)" if dirty.stdout.strip() else "")


def machine_info() -> dict[str, Any]:
    """What the figures were measured on."""
    return {
        "cpu_model": _cpu_model(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "commit": _git_commit(),
        "packages": {
            name: _version(name)
            for name in ("powertools-sts", "aws-lambda-powertools", "boto3", "botocore", "moto", "matplotlib")
        },
    }
