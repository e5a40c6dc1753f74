"""The messages of the troubleshooting page (docs/troubleshooting.md), provoked for real and compared with its snippets.

Each test makes one situation happen through the real HTTP path: the package's own STS client ->
loopback -> moto's STS server, or the reliability suite's fault proxy answering as STS does where moto
cannot (moto enforces no IAM by default and has no MaxSessionDuration, throttling or clock). What the
user sees (the last line of the traceback of the exception the handler raises, or a log line in
Python's default format) is compared with the snippet the page includes, after replacing only what
varies between runs (loopback ports). ``UPDATE_SNIPPETS=1`` rewrites the snippets from the current
code instead of comparing.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import pytest
from botocore.config import Config
from cfnlint.api import lint_file

from powertools_sts import AssumeRoleError, ConfigurationError, get_credentials, sts
from powertools_sts.provider import FLOOR_SECONDS

from ..conftest import OTHER_ROLE, ROLE
from ..reliability.proxy import FaultProxy, dead_port
from .helpers import LambdaContext, client_as, import_file, process_wiring_restored

ROOT = Path(__file__).resolve().parents[2]
UPDATE = os.environ.get("UPDATE_SNIPPETS") == "1"
#: The function's own role, as STS names the caller in its AccessDenied message.
FUNCTION_ROLE = "arn:aws:iam::123456789012:role/orders-function-role"
CALLER = "arn:aws:sts::123456789012:assumed-role/orders-function-role/orders"
#: The handler that the X-Ray section runs locally.
XRAY_EXAMPLE = ROOT / "examples/xray_capture.py"


# -- capturing what the user sees ---------------------------------------------------------------


def traceback_line(exc: BaseException) -> str:
    """The last line of the traceback Python prints for ``exc``: its qualified type and message."""
    kind = type(exc)
    return f"{kind.__module__}.{kind.__qualname__}: {exc}"


def log_line(record: logging.LogRecord) -> str:
    """``record`` in Python's default log format (what ``logging.basicConfig()`` prints)."""
    return logging.Formatter(logging.BASIC_FORMAT).format(record)


def normalise(text: str) -> str:
    # Loopback ports and the floor message's two times are new at each run; nothing else varies.
    text = re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:<port>", text)
    text = re.sub(
        r"Expiration \S+, this host's clock \S+ ", "Expiration <time + 30 s>, this host's clock <time> ", text
    )
    return text


def check(snippet: str, text: str, secrets: tuple[str, ...] | list[str] = ()) -> None:
    """Compare ``text`` with the snippet file (or rewrite it, with UPDATE_SNIPPETS=1); no secret in it."""
    for secret in [*secrets, os.environ["AWS_SECRET_ACCESS_KEY"]]:
        assert not re.search(rf"(?<![\w+/=]){re.escape(secret)}(?![\w+/=])", text), f"a secret in {snippet}"
    path = ROOT / snippet
    expected = normalise(text).rstrip("\n") + "\n"
    if UPDATE:
        path.write_text(expected)
    assert path.read_text() == expected, f"{snippet} is not what the package says now; UPDATE_SNIPPETS=1 rewrites it"


def invoke(handler: Callable[..., Any], error: type[Exception] = AssumeRoleError) -> Any:
    with pytest.raises(error) as raised:
        handler({}, None)
    return raised.value


def reports_handler(**options: Any) -> Callable[..., Any]:
    """A handler with one entry, "reports", that reads its credentials."""

    @sts(fetch_data=options.pop("fetch_data", {"reports": ROLE}), **{"disable_prefetch": True, **options})
    def handler(event: dict[str, Any], context: Any) -> str:
        return get_credentials("reports").access_key_id

    return handler


# -- STS as the page's situations need it ------------------------------------------------------

_REASONS = {400: "Bad Request", 403: "Forbidden"}


class STSErrorProxy(FaultProxy):
    """The reliability suite's fault proxy, answering every request with one STS error while ``error`` is set.

    The error is the XML document STS sends (``ErrorResponse``, a ``Sender`` error), with AWS's own
    wording of the message; with ``error`` None the proxy's modes apply.
    """

    error: tuple[int, str, str] | None = None

    def _answer(self, conn: socket.socket, mode: str, params: dict[str, Any], release: Any, request: Any) -> None:
        if self.error is None:
            super()._answer(conn, mode, params, release, request)
            return
        status, code, message = self.error
        body = (
            '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type>'
            f"<Code>{code}</Code><Message>{escape(message)}</Message></Error>"
            "<RequestId>c6104cbe-af31-11e0-8154-cbc7ccf896c7</RequestId></ErrorResponse>"
        )
        self._send(conn, status, _REASONS[status], [("Content-Type", "text/xml")], body.encode())


@pytest.fixture
def proxy(moto_sts: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[STSErrorProxy]:
    with STSErrorProxy(moto_sts.url) as sts_proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL_STS", sts_proxy.url)
        yield sts_proxy


@pytest.fixture
def unreachable(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A loopback endpoint that drops connection attempts, as a VPC with no route to STS does.

    A listener that never accepts, with its accept queue full: the kernel drops further SYNs, so a
    connect times out instead of being refused.
    """
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(3):
        filler = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        filler.setblocking(False)
        filler.connect_ex(("127.0.0.1", port))
        fillers.append(filler)
    url = f"http://127.0.0.1:{port}"
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", url)
    yield url
    for sock in [*fillers, listener]:
        sock.close()


# -- AccessDenied --------------------------------------------------------------------------------


def test_access_denied(proxy):
    proxy.error = (
        403,
        "AccessDenied",
        f"User: {CALLER} is not authorized to perform: sts:AssumeRole on resource: {ROLE}",
    )

    exc = invoke(reports_handler())

    assert exc.code == "AccessDenied"
    assert proxy.requests == 1  # not retried: a policy does not change between attempts
    check("docs/snippets/troubleshooting/access_denied.txt", traceback_line(exc))


def test_access_denied_fix_policies_name_each_other():
    # The page's fix: the role's trust policy names the function's role, whose policy allows the role.
    trust = json.loads((ROOT / "examples/iam/target-role-trust-policy.json").read_text())
    allow = json.loads((ROOT / "examples/iam/function-role-policy.json").read_text())

    [statement] = trust["Statement"]
    assert (statement["Effect"], statement["Action"]) == ("Allow", "sts:AssumeRole")
    assert statement["Principal"] == {"AWS": FUNCTION_ROLE}
    assert CALLER.startswith(FUNCTION_ROLE.replace(":iam:", ":sts:").replace(":role/", ":assumed-role/"))
    [grant] = allow["Statement"]
    assert (grant["Effect"], grant["Action"]) == ("Allow", "sts:AssumeRole")
    assert ROLE in grant["Resource"]


# -- InvalidClientTokenId -----------------------------------------------------------------------


def test_invalid_client_token_id(moto_sts):
    # moto with its IAM checks on knows no access key: the function's own ones are refused, as AWS
    # refuses keys it does not know (deleted, from another partition, or a token a region cannot read).
    moto_sts.enable_iam()

    exc = invoke(reports_handler())

    assert exc.code == "InvalidClientTokenId"
    check("docs/snippets/troubleshooting/invalid_client_token_id.txt", traceback_line(exc))


def test_region_disabled(proxy):
    # The account has deactivated STS in the region of the endpoint the client calls.
    proxy.error = (
        403,
        "RegionDisabledException",
        "STS is not activated in this region for account:123456789012. Your account administrator can activate "
        "STS in this region using the IAM Console.",
    )

    exc = invoke(reports_handler())

    assert exc.code == "RegionDisabledException"
    assert proxy.requests == 1
    check("docs/snippets/troubleshooting/region_disabled.txt", traceback_line(exc))


# -- STS out of reach ------------------------------------------------------------------------------


def test_connect_timeout_with_no_route_to_sts(unreachable, caplog):
    handler = reports_handler(
        disable_prefetch=False,  # applied as in Lambda: the prefetch meets the timeout first, at INIT
        boto_config=Config(connect_timeout=0.5, retries={"mode": "standard", "total_max_attempts": 1}),
    )

    exc = invoke(handler)

    assert type(exc.__cause__).__name__ == "ConnectTimeoutError"
    init = _wait_for_record(caplog, "Prefetching entry")
    check("docs/snippets/troubleshooting/connect_timeout.txt", traceback_line(exc))
    check("docs/snippets/troubleshooting/connect_timeout_init.txt", log_line(init))


def test_endpoint_connection_error(monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", f"http://127.0.0.1:{dead_port()}")

    exc = invoke(reports_handler(boto_config=Config(retries={"mode": "standard", "total_max_attempts": 1})))

    assert type(exc.__cause__).__name__ == "EndpointConnectionError"
    check("docs/snippets/troubleshooting/endpoint_connection_error.txt", traceback_line(exc))


def test_vpc_endpoint_template_lints_clean():
    template = ROOT / "examples/troubleshooting/sts-vpc-endpoint.yaml"
    assert [str(match) for match in lint_file(template)] == []
    text = template.read_text()
    assert "com.amazonaws.${AWS::Region}.sts" in text
    assert "PrivateDnsEnabled: true" in text


def _wait_for_record(caplog: pytest.LogCaptureFixture, start: str) -> logging.LogRecord:
    # The prefetch logs on its own thread once its fetch failed; the invocation that joined the same
    # fetch may raise first. Waiting for the record is not a measure of time: it only bounds the wait.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = [record for record in caplog.records if record.getMessage().startswith(start)]
        if found:
            return found[0]
        time.sleep(0.01)
    raise AssertionError(f"no log record starting {start!r}")


# -- the 60 s floor --------------------------------------------------------------------------------


def test_floor_clock_ahead(proxy, clock):
    # This host's clock runs 3570 s ahead of STS's: credentials valid for an hour look 30 s from expiry.
    proxy.clock = lambda: clock.time - 3570
    proxy.set_mode("expired", offset=3600)

    exc = invoke(reports_handler())

    assert exc.code is None
    assert f"{FLOOR_SECONDS:.0f} s floor" in str(exc)
    assert proxy.requests == 1  # refused by the package, not retried
    check("docs/snippets/troubleshooting/floor.txt", traceback_line(exc), _secrets(proxy))


def _secrets(proxy: FaultProxy) -> list[str]:
    issued = [value for pair in proxy.issued.values() for value in pair]
    assert issued  # the credentials were issued, and refused by the package
    return issued


# -- DurationSeconds -------------------------------------------------------------------------------


def test_duration_above_the_role_maximum(proxy):
    proxy.error = (
        400,
        "ValidationError",
        "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.",
    )

    exc = invoke(reports_handler(fetch_data={"reports": {"RoleArn": ROLE, "DurationSeconds": 43200}}))

    assert exc.code == "ValidationError"
    assert proxy.requests == 1
    check("docs/snippets/troubleshooting/duration_validation_error.txt", traceback_line(exc))


def test_duration_refused_at_import(proxy):
    with pytest.raises(ConfigurationError) as above:
        sts(fetch_data={"reports": {"RoleArn": ROLE, "DurationSeconds": 86400}})
    with pytest.raises(ConfigurationError) as chained:
        sts(fetch_data={"audit": {"RoleArn": OTHER_ROLE, "DurationSeconds": 7200}}, aws_client_assume_role="reports")

    assert proxy.requests == 0  # refused when sts(...) is applied, before any STS call
    check("docs/snippets/troubleshooting/duration_import.txt", traceback_line(above.value))
    check("docs/snippets/troubleshooting/duration_chained.txt", traceback_line(chained.value))


# -- an unknown entry name -------------------------------------------------------------------------


def test_unknown_entry_name(moto_sts, monkeypatch):
    monkeypatch.setenv("REPORTS_ROLE_ARN", ROLE)
    monkeypatch.setenv("REPORTS_BUCKET", "reports-bucket")
    path = ROOT / "examples/troubleshooting/unknown_entry.py"
    # Imported as Lambda imports a handler file "app.py" (Handler: app.handler).
    spec = importlib.util.spec_from_file_location("app", path)
    assert spec is not None
    assert spec.loader is not None
    app = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(app)

    exc = invoke(app.handler, ConfigurationError)

    assert "did you mean 'reports'?" in str(exc)
    check("docs/snippets/troubleshooting/unknown_entry.txt", traceback_line(exc))


# -- throttling, a malformed response, ExpiredToken ------------------------------------------------


def test_throttling(proxy):
    proxy.set_mode("throttle")

    exc = invoke(reports_handler())

    assert exc.code == "Throttling"
    assert proxy.counts["throttle"] == 3  # the package's default: botocore's standard mode, 3 attempts in all
    check("docs/snippets/troubleshooting/throttling.txt", traceback_line(exc))


def test_malformed_response(proxy):
    proxy.set_mode("malformed")

    exc = invoke(reports_handler())

    assert exc.code is None
    assert proxy.counts["malformed"] == 1  # botocore does not retry a body it cannot parse
    check("docs/snippets/troubleshooting/malformed.txt", traceback_line(exc))


def test_expired_token(proxy):
    proxy.error = (400, "ExpiredToken", "The security token included in the request is expired")

    exc = invoke(reports_handler())

    assert exc.code == "ExpiredToken"
    assert proxy.requests == 1
    check("docs/snippets/troubleshooting/expired_token.txt", traceback_line(exc))


# -- a refresh that failed, served from the cache --------------------------------------------------


def test_refresh_failed_served_stale(proxy, clock, caplog):
    proxy.clock = clock
    handler = reports_handler()
    first = handler({}, None)
    # 120 s before expiry: past the refresh window's start (300 s plus up to 25% jitter), above the floor.
    clock.advance(3600 - 120)
    proxy.set_mode("throttle")

    with caplog.at_level(logging.WARNING, logger="powertools_sts"):
        assert handler({}, None) == first

    [warning] = [record for record in caplog.records if record.name == "powertools_sts"]
    check("docs/snippets/troubleshooting/served_stale.txt", log_line(warning), _secrets(proxy))


# -- X-Ray noise on a local run --------------------------------------------------------------------


def test_xray_noise_outside_lambda(moto_sts):
    # A process of its own: aws_client_capture=True patches botocore for the whole process.
    env = {
        **os.environ,
        "AWS_ENDPOINT_URL_STS": moto_sts.url,
        "AWS_ENDPOINT_URL_S3": moto_sts.url,
        "PYTHONPATH": str(XRAY_EXAMPLE.parent),  # run_locally.py imports the X-Ray example's handler
    }
    env.pop("POWERTOOLS_TRACE_DISABLED", None)
    script = [sys.executable, str(ROOT / "examples/troubleshooting/run_locally.py")]

    noisy = subprocess.run(script, env=env, capture_output=True, text=True, timeout=60, check=True)
    quiet = subprocess.run(
        script, env={**env, "POWERTOOLS_TRACE_DISABLED": "true"}, capture_output=True, text=True, timeout=60, check=True
    )

    assert noisy.stdout == quiet.stdout == "{'buckets': []}\n"
    assert quiet.stderr == ""
    # Three lines per AWS call made outside a segment: the S3 call always, and AssumeRole too when the
    # first invocation, not the prefetch (which runs under a dummy segment), happened to fetch.
    lines = noisy.stderr.splitlines()
    s3_call = lines[-3:]
    assert lines[:-3] in ([], [line.replace("subsegment s3.", "subsegment sts.") for line in s3_call])
    check("docs/snippets/troubleshooting/xray_noise.txt", "\n".join(s3_call))


# -- the package's warnings in Logger's JSON ---------------------------------------------------------


def test_warnings_in_loggers_json():
    # A process of its own: copy_config_to_registered_loggers rewires the package's logger for the process.
    # Provisioned concurrency: INIT waits for the prefetch, so its warning is out before the import returns.
    example = ROOT / "examples/troubleshooting/json_logs.py"
    env = {
        **os.environ,
        "AWS_ENDPOINT_URL_STS": f"http://127.0.0.1:{dead_port()}",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "provisioned-concurrency",
        "REPORTS_ROLE_ARN": ROLE,
        "REPORTS_BUCKET": "example-reports-bucket",
    }
    run = subprocess.run(
        [sys.executable, str(example)], env=env, capture_output=True, text=True, timeout=60, check=True
    )

    assert "Prefetching" not in run.stderr  # nothing left for the root logger's plain text
    (line,) = run.stdout.splitlines()
    record = json.loads(line)
    assert record["level"] == "WARNING"
    assert record["name"] == "powertools_sts"
    assert record["service"] == "reports"
    assert record["message"].startswith("Prefetching entry 'reports' failed; the first invocation fetches it again")
    assert re.fullmatch(r"prefetch:\d+", record["location"])
    # The time and the line of the log call change; the page shows placeholders for them.
    shown = {**record, "location": "prefetch:<line>", "timestamp": "<time>"}
    check("docs/snippets/troubleshooting/prefetch_warning.json", json.dumps(shown, indent=2))


def test_the_json_logs_example_serves_its_handler(moto_sts, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", moto_sts.url)
    monkeypatch.setenv("REPORTS_ROLE_ARN", ROLE)
    monkeypatch.setenv("REPORTS_BUCKET", "example-reports-bucket")
    client_as(moto_sts, ROLE, "s3").create_bucket(Bucket="example-reports-bucket")

    with process_wiring_restored():  # the example rewires the package's logger
        example = import_file(Path("examples/troubleshooting/json_logs.py"))
        assert example.handler({}, LambdaContext()) == {"key": "daily.json"}
