"""End to end under the real Lambda runtime client: awslambdaric runs lambda_app/handler.py, INIT included.

The runtime talks to the Runtime API fixture on 127.0.0.1 and the function to moto's STS. The runtime
process loops forever: each test kills it at the end, and every wait is bounded.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

APP_DIR = Path(__file__).with_name("lambda_app")


class Runtime:
    """``python -m awslambdaric <handler>`` in a session of its own, its output kept in a file.

    On Managed Instances the process forks its workers (multiprocessing, fork context), which a kill
    of the parent alone would orphan: ``stop`` kills the whole process group.
    """

    _DROPPED = (
        "_X_AMZN_TRACE_ID",
        "AWS_LAMBDA_INITIALIZATION_TYPE",
        "AWS_LAMBDA_MAX_CONCURRENCY",
        "POWERTOOLS_TRACE_MIDDLEWARES",
        "POWERTOOLS_STS_PREFETCH_TIMEOUT",
        "POWERTOOLS_STS_SHARED_CACHE",
        "_LAMBDA_TELEMETRY_LOG_FD",
        "_LAMBDA_TELEMETRY_LOG_FD_PROVIDER_SOCKET",
    )

    def __init__(self, api: Any, handler: str, env: dict[str, str]) -> None:
        environment = {k: v for k, v in os.environ.items() if k not in self._DROPPED}
        environment.update(
            AWS_LAMBDA_RUNTIME_API=api.address,
            AWS_LAMBDA_FUNCTION_NAME="orders",
            AWS_LAMBDA_FUNCTION_MEMORY_SIZE="128",
            AWS_LAMBDA_FUNCTION_VERSION="$LATEST",
            LAMBDA_TASK_ROOT=str(APP_DIR),
            POWERTOOLS_TRACE_DISABLED="true",
        )
        environment.update(env)
        self.log = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115  # closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "awslambdaric", handler],
            cwd=APP_DIR,
            env=environment,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: the workers it forks are in it
        )

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read()

    def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)  # the group of the process this test started
        self.process.wait(10)
        self.log.close()


@pytest.fixture
def start_runtime(runtime_api: Any) -> Iterator[Callable[..., Runtime]]:
    started: list[Runtime] = []

    def start(handler: str = "handler.handler", **env: str) -> Runtime:
        runtime = Runtime(runtime_api, handler, env)
        started.append(runtime)
        return runtime

    yield start
    for runtime in started:
        runtime.stop()


def calls_reach(moto_sts: Any, count: int, timeout: float = 15.0) -> bool:
    """Whether moto receives ``count`` AssumeRole requests within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while moto_sts.assume_role_calls < count:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_the_import_prefetches_and_two_invocations_make_one_sts_call(moto_sts, runtime_api, start_runtime):
    # The first event is served only once the prefetch has reached STS: the import made that call.
    runtime_api.gate = lambda: calls_reach(moto_sts, 1)
    first, second = runtime_api.invoke({"n": 1}), runtime_api.invoke({"n": 2})

    runtime = start_runtime()
    runtime_api.wait_for(
        lambda: {first, second} <= set(runtime_api.responses) or runtime_api.errors or runtime_api.init_errors,
        "two responses",
    )

    assert not runtime_api.errors, runtime_api.errors
    assert not runtime_api.init_errors, runtime_api.init_errors
    assert runtime_api.gate_result is True, runtime.output()
    one, two = runtime_api.responses[first], runtime_api.responses[second]
    assert (one["request_id"], two["request_id"]) == (first, second)
    assert moto_sts.assume_role_calls == 1
    assert one["client_id"] == two["client_id"]  # get_client: the same client on both invocations
    assert one["access_key_id"] == two["access_key_id"]
    assert one["caller"].startswith("arn:aws:sts::111122223333:assumed-role/reports/")


def test_an_assume_role_failure_is_reported_through_the_error_endpoint(moto_sts, runtime_api, start_runtime):
    moto_sts.enable_iam()  # the function's dummy credentials are refused: InvalidClientTokenId
    runtime_api.gate = lambda: calls_reach(moto_sts, 1)
    failing = runtime_api.invoke({"n": 1})

    runtime = start_runtime()
    runtime_api.wait_for(lambda: failing in runtime_api.errors or runtime_api.init_errors, "the error")

    assert not runtime_api.init_errors, runtime_api.init_errors  # the import never fails on STS
    assert runtime_api.gate_result is True
    error = runtime_api.errors[failing]["body"]
    assert error["errorType"] == "AssumeRoleError"
    assert "'reports'" in error["errorMessage"]
    assert "InvalidClientTokenId" in error["errorMessage"]

    # The sandbox lives on, and nothing of the failure is remembered.
    moto_sts.post("/moto-api/reset-auth", b"inf")
    succeeding = runtime_api.invoke({"n": 2})
    runtime_api.wait_for(lambda: succeeding in runtime_api.responses, "the response after the failure")
    assert runtime_api.responses[succeeding]["caller"].startswith("arn:aws:sts::111122223333:assumed-role/reports/")
    # The failed prefetch was logged as a warning, through the runtime's own log handler.
    assert "[WARNING]" in runtime.output()
    assert "Prefetching entry 'reports' failed" in runtime.output()


def test_invalid_options_fail_the_init_phase_with_a_configuration_error(moto_sts, runtime_api, start_runtime):
    runtime = start_runtime("handler_invalid.handler")
    runtime_api.wait_for(lambda: bool(runtime_api.init_errors), "the init error")

    assert runtime.process.wait(30) != 0
    (error,) = runtime_api.init_errors
    assert error["errorType"] == "ConfigurationError"
    assert "'reports'" in error["errorMessage"]
    assert "DurationSeconds" in error["errorMessage"]
    assert moto_sts.assume_role_calls == 0


def test_snap_start_fetches_after_the_restore_only(moto_sts, runtime_api, start_runtime):
    calls_at_restore: list[int] = []
    runtime_api.gate = lambda: calls_at_restore.append(moto_sts.assume_role_calls)
    first, second = runtime_api.invoke({"n": 1}), runtime_api.invoke({"n": 2})

    start_runtime(AWS_LAMBDA_INITIALIZATION_TYPE="snap-start")
    runtime_api.wait_for(
        lambda: {first, second} <= set(runtime_api.responses) or runtime_api.errors or runtime_api.init_errors,
        "two responses",
    )

    assert not runtime_api.errors, runtime_api.errors
    assert not runtime_api.init_errors, runtime_api.init_errors
    assert runtime_api.restores == 1  # the runtime went through its snapshot and restore steps
    assert calls_at_restore == [0]  # nothing fetched before the snapshot
    assert moto_sts.assume_role_calls == 1
    assert runtime_api.responses[first]["client_id"] == runtime_api.responses[second]["client_id"]
