"""The Quick start runs with the install line shown beside it, and nothing more.

In the fresh virtual environment of conftest.py, where the README's install line installed the wheel
built from this checkout, a user's project runs with pytest (the only package added):

* the README's Python blocks and examples/quick_start.py (the home page's Quick start), each imported
  in a test that takes the package's ``sts_stub`` fixture, its handler invoked, with an S3 endpoint on
  loopback that checks who signed the handler's ``put_object``;
* the testing page's example test, examples/testing/test_app.py with its app.py, as the page shows it.

A Quick start that imports what the install line does not install (``Tracer`` without the ``tracer``
extra, say) fails here with the ``ModuleNotFoundError`` a user would meet.
"""

from __future__ import annotations

import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.packaging.helpers import README, ROOT, clean_env, fenced_blocks

QUICK_START = Path("examples/quick_start.py")
TESTING_APP = Path("examples/testing/app.py")
TESTING_TEST = Path("examples/testing/test_app.py")

#: The test a user's project would hold for the Quick start: every module of MODULES, imported and invoked.
SNIPPET_TESTS = '''
import importlib
import http.server
import re
import threading

import pytest

from modules import MODULES


@pytest.fixture
def s3(monkeypatch):
    """An S3 endpoint on loopback that takes every PUT, and records the path and the access key that signed it."""
    received = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_PUT(self):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            signer = re.search(r"Credential=(\\w+)/", self.headers.get("Authorization", ""))
            received.append((self.path, signer.group(1) if signer else None))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", f"http://127.0.0.1:{server.server_port}")
    yield received
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("module", MODULES)
def test_the_snippet_runs(module, sts_stub, lambda_context, s3, monkeypatch):
    # What examples/quick_start.py reads from the function's environment.
    monkeypatch.setenv("REPORTS_ROLE_ARN", "arn:aws:iam::111122223333:role/reports")
    monkeypatch.setenv("REPORTS_BUCKET", "reports-111122223333")

    app = importlib.import_module(module)
    if hasattr(app, "handler"):
        app.handler({"report": "daily"}, lambda_context)
        assert s3, "the handler stored nothing"

    served = {call.access_key_id for call in sts_stub.calls}
    assert served, "no role was assumed"
    # Every object was stored by a client signed with credentials the stub served, never with the dummy keys.
    assert [path for path, signer in s3 if signer not in served] == []
'''


@pytest.fixture(scope="module")
def python(installed: Path) -> Path:
    """The fresh environment of the README's install line, plus pytest, as a user's project has it."""
    run = subprocess.run(
        [str(installed), "-m", "pip", "install", f"pytest=={pytest.__version__}"],
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    return installed


def user_env() -> dict[str, str]:
    """No credentials, profile or pytest settings of this machine: the project's own tests only."""
    env = {
        key: value
        for key, value in clean_env().items()
        if not key.startswith(("AWS_", "PYTEST_", "POWERTOOLS_")) and key != "_X_AMZN_TRACE_ID"
    }
    # The example test imports its app at collection, before the fixture: its prefetch then finds no
    # credentials at once, rather than asking an instance metadata service that is not there.
    env["AWS_EC2_METADATA_DISABLED"] = "true"
    return env


def run_pytest(python: Path, project: Path) -> dict[str, str]:
    """Runs pytest in ``project`` with ``python``: the outcome of each test, by its name."""
    report = project / "report.xml"
    run = subprocess.run(
        [str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={report}"],
        cwd=project,
        env=user_env(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    outcomes = {}
    if report.exists():
        for case in ET.parse(report).getroot().iter("testcase"):
            failed = [child.tag for child in case if child.tag in ("failure", "error", "skipped")]
            outcomes[case.get("name", "")] = failed[0] if failed else "passed"
    assert run.returncode == 0, run.stdout + run.stderr
    return outcomes


def readme_python_blocks() -> list[str]:
    blocks = fenced_blocks(README.read_text(), "python")
    assert blocks, "the README has no Python block"
    return blocks


# The first test to ask for the environment pays for pip's downloads, within the subprocesses' own timeouts.
@pytest.mark.timeout(900)
def test_the_quick_starts_run_with_the_install_line(python: Path, tmp_path: Path):
    modules = []
    for number, block in enumerate(readme_python_blocks(), 1):
        (tmp_path / f"readme_block_{number}.py").write_text(block)
        modules.append(f"readme_block_{number}")
    shutil.copy(ROOT / QUICK_START, tmp_path / "quick_start.py")
    modules.append("quick_start")
    (tmp_path / "modules.py").write_text(f"MODULES = {modules!r}\n")
    (tmp_path / "test_snippets.py").write_text(SNIPPET_TESTS)

    outcomes = run_pytest(python, tmp_path)

    assert outcomes == {f"test_the_snippet_runs[{module}]": "passed" for module in modules}


@pytest.mark.timeout(900)
def test_the_testing_page_example_runs_with_the_install_line(python: Path, tmp_path: Path):
    shutil.copy(ROOT / TESTING_APP, tmp_path / "app.py")
    shutil.copy(ROOT / TESTING_TEST, tmp_path / "test_app.py")

    outcomes = run_pytest(python, tmp_path)

    assert outcomes, "pytest ran no test"
    assert set(outcomes.values()) == {"passed"}, outcomes
