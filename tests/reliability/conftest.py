"""Fixtures of the reliability suite: the fault proxy, and the hypothesis profiles.

Profiles: "ci" (loaded by default, part of ``make test``) keeps every property test well under a
minute; "soak" (``HYPOTHESIS_PROFILE=soak``, which ``make soak`` sets) runs many more examples.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from .proxy import FaultProxy

_QUIET = [HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large]
settings.register_profile("ci", max_examples=80, stateful_step_count=50, deadline=None, suppress_health_check=_QUIET)
settings.register_profile(
    "soak", max_examples=1000, stateful_step_count=60, deadline=None, suppress_health_check=_QUIET
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

#: True under ``make soak``: the soak-marked tests run only then.
SOAK = os.environ.get("HYPOTHESIS_PROFILE") == "soak"


@pytest.fixture
def proxy(moto_sts, monkeypatch) -> Iterator[FaultProxy]:
    """The fault proxy in front of moto; STS clients built during the test send their calls through it."""
    with FaultProxy(moto_sts.url) as fault_proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL_STS", fault_proxy.url)
        yield fault_proxy


# -- the secret scan of the whole reliability run ---------------------------------------------------

_TRIPLE = re.compile(
    rb"<AccessKeyId>([^<]+)</AccessKeyId>\s*<SecretAccessKey>([^<]+)</SecretAccessKey>\s*<SessionToken>([^<]+)"
)
#: Every secret access key and session token moto issued during the run, whichever path asked for it.
ISSUED: set[str] = set()
SCAN = {"tests": 0, "records": 0, "leaks": 0}
_WRAPPED: list[bool] = []


def _record_moto_answers(moto_sts: Any) -> None:
    """Wrap moto's WSGI app (once) to keep the secrets of every AssumeRole answer it sends."""
    if _WRAPPED:
        return
    wsgi = moto_sts.server._server
    app = wsgi.app

    def recording(environ: dict[str, Any], start_response: Any) -> Any:
        chunks = list(app(environ, start_response))
        for found in _TRIPLE.finditer(b"".join(chunks)):
            ISSUED.update(part.decode() for part in found.groups()[1:])
        return chunks

    wsgi.app = recording
    _WRAPPED.append(True)


_RUN = re.compile(r"[A-Za-z0-9+/=]{20,}")


def find_secrets(texts: list[str], secrets: set[str]) -> list[str]:
    """Return the texts holding any of ``secrets`` (base64 alphabet), in time linear in the texts.

    A secret can only sit inside a run of its own alphabet at least as long as itself, so only such
    runs are looked at, window by window, against the set.
    """
    lengths = sorted({len(secret) for secret in secrets})
    found = []
    for text in texts:
        for run in _RUN.findall(text):
            if any(
                run[i : i + size] in secrets for size in lengths if size <= len(run) for i in range(len(run) - size + 1)
            ):
                found.append(text[:200])
                break
    return found


class _Scan(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.texts: list[str] = []
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.texts.append(self.format(record))


_SCANNED = ("powertools_sts", "botocore", "aws_lambda_powertools")


def pytest_configure(config: Any) -> None:
    config.addinivalue_line("markers", "leaks_on_purpose: a control test that shows the secret scan sees leaks")


@pytest.fixture(autouse=True)
def _no_secret_in_any_log_record(moto_sts, request) -> Iterator[None]:
    """Every reliability test runs with these loggers at DEBUG; no record may hold an issued secret."""
    _record_moto_answers(moto_sts)
    if request.node.get_closest_marker("leaks_on_purpose"):
        yield
        return
    scan = _Scan()
    root = logging.getLogger()
    saved = {name: logging.getLogger(name).level for name in _SCANNED}
    root.addHandler(scan)
    logging.getLogger("aws_lambda_powertools").addHandler(scan)  # it does not propagate
    for name in _SCANNED:
        logging.getLogger(name).setLevel(logging.DEBUG)
    try:
        yield
    finally:
        root.removeHandler(scan)
        logging.getLogger("aws_lambda_powertools").removeHandler(scan)
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)
    leaks = find_secrets(scan.texts, ISSUED)
    SCAN["tests"] += 1
    SCAN["records"] += len(scan.texts)
    SCAN["leaks"] += len(leaks)
    assert leaks == [], "a secret in a log record"


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if SCAN["tests"]:
        terminalreporter.write_line(
            f"secret scan: {SCAN['tests']} reliability tests, {len(ISSUED) // 2} credentials issued by moto, "
            f"{SCAN['records']} log records at DEBUG, {SCAN['leaks']} secrets found"
        )
