"""The "Testing your code" page (docs/testing.md): its app, and its three test files run as a user would.

Each test file runs in a pytest subprocess of its own, from a copy of the example folder (a user's
project: no conftest, no ini file of ours), with a socket guard loaded before anything else
(``-p _socket_guard``): it refuses, and records, every name lookup and every connection; the moto
files may reach loopback only. The stub file runs with no moto server and no credentials at all.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
APP = Path("examples/testing/app.py")
STUB_TESTS = Path("examples/testing/test_app.py")
MOCK_AWS_TESTS = Path("examples/testing/test_app_mock_aws.py")
REFRESH_TESTS = Path("examples/testing/test_refresh.py")
MOTO_SERVER_TESTS = Path("examples/testing/test_app_moto_server.py")

SOCKET_GUARD = '''
"""Refuse and record every name lookup and connection (loopback too, unless GUARD_LOOPBACK is set)."""
import json
import os
import socket
import threading

LOG = os.environ["GUARD_LOG"]
LOOPBACK = ("127.0.0.1", "::1", "localhost")
_phase = ["collect"]


def _record(kind, target):
    with open(LOG, "a") as log:
        log.write(json.dumps({"kind": kind, "target": str(target), "thread": threading.current_thread().name,
                              "phase": _phase[0]}) + "\\n")


def _allowed(host):
    return bool(os.environ.get("GUARD_LOOPBACK")) and host in LOOPBACK


_connect, _connect_ex, _getaddrinfo = socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo


def connect(self, address):
    if isinstance(address, tuple) and _allowed(address[0]):
        return _connect(self, address)
    _record("connect", address)
    raise OSError(f"socket guard: no connection to {address}")


def connect_ex(self, address):
    if isinstance(address, tuple) and _allowed(address[0]):
        return _connect_ex(self, address)
    _record("connect", address)
    return 111  # ECONNREFUSED


def getaddrinfo(host, *args, **kwargs):
    if _allowed(host if isinstance(host, str) else (host or b"").decode()):
        return _getaddrinfo(host, *args, **kwargs)
    _record("lookup", host)
    raise socket.gaierror(f"socket guard: no name lookup of {host}")


socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo = connect, connect_ex, getaddrinfo


def pytest_runtest_setup(item):
    _phase[0] = item.nodeid


def pytest_runtest_teardown(item):
    _phase[0] = "between tests"
'''

# Runs after the stub file's tests, without the fixture: what they patched is back, and nothing they cached is left.
AFTER_THE_STUB = """
import os
import sys

import botocore.client
import pytest

from powertools_sts import AssumeRoleError


def test_nothing_of_the_stub_is_left(lambda_context):
    from app import handler

    assert not [name for name in sys.modules if name == "moto" or name.startswith("moto.")]  # no moto in this run

    assert "powertools_sts" not in botocore.client.BaseClient._make_api_call.__code__.co_filename
    assert "AWS_ACCESS_KEY_ID" not in os.environ  # the subprocess has none; the fixture's dummy key went
    # No credentials were cached by the tests before: this invocation calls STS, and offline it fails.
    with pytest.raises(AssumeRoleError):
        handler({"report": "2026-11"}, lambda_context)
"""

# The wrong order for mock_aws: the handler imported first, at collection, with credentials in the
# environment and no clear_caches(): its STS client was built before moto and calls the real endpoint.
WRONG_ORDER = """
from app import handler  # before moto: the prefetch builds an STS client moto does not know

import pytest
from moto import mock_aws


@pytest.fixture
def aws():
    with mock_aws():
        yield


def test_handler_imported_before_moto(aws, lambda_context):
    handler({"report": "2026-11"}, lambda_context)
"""


def run_pytest(
    tmp_path: Path, examples: list[Path], *, loopback: bool, env: dict[str, str], extra: dict[str, str] | None = None
) -> tuple[Any, list[Any]]:
    """Copy the app, ``examples`` and ``extra`` (name to source) into a project folder; run pytest there, guarded.

    Returns the finished run and the guard's record of refused lookups and connections.
    """
    project = tmp_path / "project"
    project.mkdir()
    for path in [APP, *examples]:
        shutil.copy(ROOT / path, project / path.name)
    for name, source in (extra or {}).items():
        (project / name).write_text(textwrap.dedent(source))
    guard = tmp_path / "guard"
    guard.mkdir()
    (guard / "_socket_guard.py").write_text(SOCKET_GUARD)
    log = tmp_path / "guard.jsonl"
    # A machine with no AWS configuration: no AWS_* variable, no ~/.aws.
    clean = {name: value for name, value in os.environ.items() if not name.startswith(("AWS_", "POWERTOOLS_"))}
    clean.update(
        HOME=str(tmp_path),
        PYTHONPATH=str(guard),
        PYTHONDONTWRITEBYTECODE="1",
        GUARD_LOG=str(log),
        POWERTOOLS_TRACE_DISABLED="true",
        **env,
    )
    if loopback:
        clean["GUARD_LOOPBACK"] = "1"
    files = [path.name for path in examples] + sorted(extra or {})
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "_socket_guard",
            "-p",
            "no:cacheprovider",
            "-q",
            "--rootdir",
            ".",
            *files,
        ],
        cwd=project,
        env=clean,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    attempts = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return run, attempts


def test_the_app_imports_and_its_handler_runs_on_the_stub(monkeypatch, tmp_path):
    from powertools_sts.testing import FakeLambdaContext, STSStub

    spec = importlib.util.spec_from_file_location("testing_page_app", ROOT / APP)
    assert spec is not None
    assert spec.loader is not None
    app = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(app)
    stub = STSStub()
    stub.start(monkeypatch)
    try:
        response = app.handler({"report": "2026-11"}, FakeLambdaContext())
    finally:
        stub.stop()

    assert response["statusCode"] == 200
    assert stub.access_key_id_for(app.REPORTS_ROLE_ARN) in response["url"]
    assert [call.external_id for call in stub.calls] == ["orders-7f3a9c"]


def test_the_stub_file_passes_with_no_moto_no_credentials_and_no_network(tmp_path):
    run, attempts = run_pytest(
        tmp_path,
        [STUB_TESTS],
        loopback=False,
        env={"AWS_EC2_METADATA_DISABLED": "true"},
        extra={"test_zz_after_the_stub.py": AFTER_THE_STUB},
    )

    assert run.returncode == 0, run.stdout + run.stderr
    assert "4 passed" in run.stdout
    assert attempts == []  # not one name lookup or connection, loopback included


def test_the_refresh_test_moves_the_stubs_clock_with_no_network(tmp_path):
    run, attempts = run_pytest(tmp_path, [REFRESH_TESTS], loopback=False, env={"AWS_EC2_METADATA_DISABLED": "true"})

    assert run.returncode == 0, run.stdout + run.stderr
    assert "1 passed" in run.stdout
    assert attempts == []


def test_with_credentials_in_the_environment_no_test_tries_the_network(tmp_path):
    run, attempts = run_pytest(
        tmp_path,
        [STUB_TESTS],
        loopback=False,
        env={"AWS_ACCESS_KEY_ID": "AKIAEXAMPLE", "AWS_SECRET_ACCESS_KEY": "example", "AWS_DEFAULT_REGION": "eu-west-1"},
    )

    assert run.returncode == 0, run.stdout + run.stderr
    assert "3 passed" in run.stdout
    # The handler module is imported at collection, and its sts layer prefetches then, before any fixture;
    # refused, it is thrown away by the fixture. Nothing a test runs looks up or connects to anything.
    # Whether it got as far as a name lookup depends on how far it went before the fixture started.
    assert {attempt["thread"] for attempt in attempts} <= {"powertools-sts-prefetch"}
    assert {attempt["target"] for attempt in attempts} <= {"sts.eu-west-1.amazonaws.com"}


@pytest.mark.parametrize("tests", [MOCK_AWS_TESTS, MOTO_SERVER_TESTS], ids=["mock_aws", "moto_server"])
def test_the_moto_files_pass_on_loopback_only(tmp_path, tests):
    run, attempts = run_pytest(tmp_path, [tests], loopback=True, env={})

    assert run.returncode == 0, run.stdout + run.stderr
    assert ("2 passed" if tests == MOTO_SERVER_TESTS else "1 passed") in run.stdout
    assert attempts == []  # nothing but loopback


def test_the_handler_imported_before_moto_calls_the_real_endpoint(tmp_path):
    run, attempts = run_pytest(
        tmp_path,
        [],
        loopback=True,
        env={"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"},
        extra={"test_wrong_order.py": WRONG_ORDER},
    )

    assert run.returncode == 1
    assert (
        'EndpointConnectionError: Could not connect to the endpoint URL: "https://sts.us-east-1.amazonaws.com/"'
        in run.stdout
    )
    assert {attempt["target"] for attempt in attempts} == {"sts.us-east-1.amazonaws.com"}
