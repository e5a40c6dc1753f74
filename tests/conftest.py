"""Shared fixtures: a real STS emulator (moto's server on 127.0.0.1), a fake STS in front of it for what moto
does not answer (GetScopedCredentials), and a fake clock."""

from __future__ import annotations

import io
import logging
import os
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from moto.server import ThreadedMotoServer

import powertools_sts
from powertools_sts import _clock

from .fake_sts import FakeSTS

ROLE = "arn:aws:iam::111122223333:role/reports"
OTHER_ROLE = "arn:aws:iam::444455556666:role/audit"

# No test may reach real AWS or need real credentials.
for _name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE"):
    os.environ.pop(_name, None)
os.environ.update(
    AWS_ACCESS_KEY_ID="testing",
    AWS_SECRET_ACCESS_KEY="testing",
    AWS_DEFAULT_REGION="us-east-1",
    AWS_REGION="us-east-1",
    AWS_CONFIG_FILE=os.devnull,
    AWS_SHARED_CREDENTIALS_FILE=os.devnull,
    AWS_EC2_METADATA_DISABLED="true",
)
logging.getLogger("werkzeug").setLevel(logging.ERROR)


class MotoSTS:
    """moto's STS server, with counters read from its own request log."""

    def __init__(self) -> None:
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.server.start()
        host, port = self.server.get_host_and_port()
        self.url = f"http://{host}:{port}"
        self.calls: list[bytes] = []
        wsgi = self.server._server
        assert wsgi is not None
        wsgi.app = self._counting(wsgi.app)

    def _counting(self, app: Any) -> Any:
        """Wrap moto's WSGI app to record every AssumeRole request that reaches the server."""

        def counted(environ: dict[str, Any], start_response: Any) -> Any:
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length) if length else b""
            environ["wsgi.input"] = io.BytesIO(body)
            if b"Action=AssumeRole" in body:
                self.calls.append(body)
            return app(environ, start_response)

        return counted

    @property
    def assume_role_calls(self) -> int:
        """AssumeRole requests received since the last reset."""
        return len(self.calls)

    def post(self, path: str, body: bytes = b"") -> None:
        request = urllib.request.Request(
            self.url + path, data=body, method="POST", headers={"Content-Type": "text/plain"}
        )
        with urllib.request.urlopen(request, timeout=5):  # loopback only
            pass

    def reset(self) -> None:
        self.post("/moto-api/reset")
        self.post("/moto-api/reset-auth", b"inf")
        self.calls.clear()

    def enable_iam(self) -> None:
        """Switch moto's IAM checks on, so an unknown caller gets real AccessDenied errors."""
        self.post("/moto-api/reset-auth", b"0")


@pytest.fixture(scope="session")
def moto_sts() -> Iterator[MotoSTS]:
    server = MotoSTS()
    os.environ["AWS_ENDPOINT_URL_STS"] = server.url
    yield server
    server.server.stop()


@pytest.fixture(scope="session")
def _fake_sts_server(moto_sts: MotoSTS) -> Iterator[FakeSTS]:
    server = FakeSTS(moto_sts.url)
    yield server
    server.close()


@pytest.fixture
def fake_sts(_fake_sts_server: FakeSTS, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSTS]:
    """STS for this test is tests/fake_sts.py: GetScopedCredentials answered, the rest forwarded to moto.

    ``fake_sts.issued[access_key_id]`` says what each credential was issued for (``Issued``: the action,
    the request's parameters, the signer); ``fake_sts.count("GetScopedCredentials")`` counts requests;
    ``fake_sts.fail(code)`` answers the next GetScopedCredentials with an error; ``fake_sts.lifetime``
    is the calling session's remaining lifetime (DurationSeconds' default and maximum).
    """
    _fake_sts_server.reset()
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", _fake_sts_server.url)
    powertools_sts.clear_caches()  # no STS client of this process still points at moto directly
    yield _fake_sts_server
    powertools_sts.clear_caches()


class FakeClock:
    """A clock the tests move by hand; starts at the real time, since moto's expirations are real."""

    def __init__(self) -> None:
        self.time = time.time()

    def __call__(self) -> float:
        return self.time

    def advance(self, seconds: float) -> None:
        self.time += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(_clock, "now", fake)
    return fake


@pytest.fixture(autouse=True)
def _isolated(moto_sts: MotoSTS) -> Iterator[None]:
    moto_sts.reset()
    powertools_sts.clear_caches()
    yield
    powertools_sts.clear_caches()
