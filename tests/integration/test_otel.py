"""OpenTelemetry: the spans of ``aws_client_capture="opentelemetry"``, as the real SDK records them.

The SDK's ``TracerProvider`` is set once for the session (OpenTelemetry allows setting the global
provider once) with an ``InMemorySpanExporter`` behind a ``SimpleSpanProcessor``; STS is moto, behind
the fault proxy where a test needs failures or the fake clock. botocore is instrumented for real
(process-wide), and uninstrumented again when this module is done, so later tests make no spans.
"""

from __future__ import annotations

import http.server
import json
import logging
import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.metrics import EphemeralMetrics
from opentelemetry import trace
from opentelemetry.instrumentation.botocore import BotocoreInstrumentor
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from powertools_sts import AssumeRoleError, ConfigurationError, get_client, get_credentials, sts
from powertools_sts.otel import (
    ATTR_ENTRY,
    ATTR_ERROR_CODE,
    ATTR_OUTCOME,
    ATTR_ROLE_ARN,
    ATTR_SECONDS_LEFT,
    ATTR_TENANT,
    REFRESH_SPAN,
    RETRIED_EVENT,
)
from powertools_sts.tracing import capture_backend

from ..conftest import OTHER_ROLE, ROLE
from ..reliability.helpers import lambda_context
from ..reliability.proxy import FaultProxy

STS_SPAN = "STS.AssumeRole"
OTEL = "opentelemetry"
# 299 s left of 3600 s credentials: in the refresh window whatever the jitter (300-375 s), above the floor.
IN_REFRESH_WINDOW = 3600 - 299


@pytest.fixture(scope="session")
def exporter() -> InMemorySpanExporter:
    memory = InMemorySpanExporter()
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    assert trace.get_tracer_provider() is provider, "another global tracer provider was set first"
    provider.add_span_processor(SimpleSpanProcessor(memory))
    return memory


@pytest.fixture(scope="module", autouse=True)
def _botocore_uninstrumented_afterwards() -> Iterator[None]:
    yield
    instrumentor = BotocoreInstrumentor()
    if instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.uninstrument()


@pytest.fixture(autouse=True)
def _no_spans_yet(exporter: InMemorySpanExporter) -> None:
    exporter.clear()


@pytest.fixture
def proxy(moto_sts: Any, clock: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[FaultProxy]:
    """The fault proxy in front of moto, its credentials expiring on the fake clock (set to whole seconds)."""
    clock.time = float(int(clock.time))
    with FaultProxy(moto_sts.url, clock=clock) as fault_proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL_STS", fault_proxy.url)
        yield fault_proxy


def unique(prefix: str = "otel") -> str:
    """An entry name no other test uses: layers of earlier tests may still be alive."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def returns_keys(*names: str, **options: Any) -> Callable[..., Any]:
    """A handler whose sts layer (capture on, no prefetch unless asked) defines ``names``; it returns their keys."""
    roles = [ROLE, OTHER_ROLE]
    options.setdefault("disable_prefetch", True)

    @sts(
        fetch_data={name: roles[i % 2] for i, name in enumerate(names)},
        aws_client_capture=OTEL,
        **options,
    )
    def handler(event: Any, context: Any) -> Any:
        return {name: get_credentials(name).access_key_id for name in names}

    return handler


def invoke_in_span(handler: Callable[..., Any], name: str = "invocation") -> tuple[Any, ReadableSpan | Any]:
    """Invoke ``handler`` inside a span of its own, as an instrumented Lambda runtime would; return both."""
    with trace.get_tracer("test").start_as_current_span(name) as parent:
        return handler({}, lambda_context()), parent


def named(exporter: InMemorySpanExporter, name: str) -> list[ReadableSpan]:
    return [span for span in exporter.get_finished_spans() if span.name == name]


def assert_child_of(span: ReadableSpan, parent: Any) -> None:
    assert span.parent is not None, f"{span.name} is a root span"
    assert span.context.trace_id == parent.get_span_context().trace_id
    assert span.parent.span_id == parent.get_span_context().span_id


def assert_sts_span(span: ReadableSpan) -> None:
    assert span.kind is trace.SpanKind.CLIENT
    assert span.attributes is not None
    assert span.attributes["rpc.service"] == "STS"
    assert span.attributes["rpc.method"] == "AssumeRole"
    assert span.attributes["cloud.region"] == "us-east-1"


def every_value(spans: list[ReadableSpan]) -> list[str]:
    """Every attribute value of every span and span event, with names and status descriptions, as text."""
    found: list[str] = []
    for span in spans:
        found += [span.name, str(span.status.description)]
        found += [f"{key}={value}" for key, value in (span.attributes or {}).items()]
        for event in span.events:
            found += [event.name, *(f"{key}={value}" for key, value in (event.attributes or {}).items())]
    return found


# -- one span per STS call and one per refresh, under the invocation's span -----------------------------


def test_one_entry_fetched_on_the_invoking_thread(moto_sts, exporter):
    name = unique()
    keys, parent = invoke_in_span(returns_keys(name))

    (call,) = named(exporter, STS_SPAN)
    (refresh,) = named(exporter, REFRESH_SPAN)
    assert_sts_span(call)
    assert_child_of(call, parent)
    assert_child_of(refresh, parent)
    attributes = dict(refresh.attributes or {})
    assert attributes.pop(ATTR_SECONDS_LEFT) == pytest.approx(3600, abs=30)
    assert attributes == {ATTR_ENTRY: name, ATTR_ROLE_ARN: ROLE, ATTR_OUTCOME: "fetched"}
    assert refresh.status.status_code is StatusCode.UNSET
    # The refresh span covers the STS call: started before it, ended after it.
    assert (refresh.start_time or 0) <= (call.start_time or -1)
    assert (call.end_time or 1) <= (refresh.end_time or 0)
    assert keys[name].startswith("ASIA")
    assert moto_sts.assume_role_calls == 1


def test_the_refresh_span_of_a_tenants_fetch_carries_the_tenant_and_the_metrics_do_not(moto_sts, exporter):
    name = unique()
    metrics = EphemeralMetrics(namespace="PowertoolsSTSTest", service="otel")

    @sts(
        fetch_data={name: lambda tenant: {"RoleArn": ROLE, "Tags": [{"Key": "TenantID", "Value": tenant}]}},
        aws_client_capture=OTEL,
        metrics=metrics,
    )
    def handler(event: Any, context: Any) -> Any:
        return get_credentials(name).access_key_id

    context = lambda_context()
    context.tenant_id = "acme"
    with trace.get_tracer("test").start_as_current_span("invocation"):
        assert handler({}, context).startswith("ASIA")

    (refresh,) = named(exporter, REFRESH_SPAN)
    assert (refresh.attributes or {})[ATTR_TENANT] == "acme"
    assert "AssumeRoleCalls" in metrics.metric_set
    assert "acme" not in json.dumps(metrics.serialize_metric_set())  # never a metric dimension (cardinality)
    assert moto_sts.assume_role_calls == 1


def test_two_due_entries_fetched_on_worker_threads_are_parented_to_the_invocation(moto_sts, exporter):
    first, second = unique(), unique()
    handler = returns_keys(first, second)
    _, parent = invoke_in_span(handler)

    calls, refreshes = named(exporter, STS_SPAN), named(exporter, REFRESH_SPAN)
    assert len(calls) == 2
    assert len(refreshes) == 2
    for span in calls + refreshes:
        assert_child_of(span, parent)
    for call in calls:
        assert_sts_span(call)
    assert {(span.attributes or {})[ATTR_ENTRY]: (span.attributes or {})[ATTR_ROLE_ARN] for span in refreshes} == {
        first: ROLE,
        second: OTHER_ROLE,
    }
    assert moto_sts.assume_role_calls == 2

    # A warm invocation, served from the cache: no refresh, so no span but the invocation's own.
    exporter.clear()
    _, parent = invoke_in_span(handler, "warm")
    assert [span.name for span in exporter.get_finished_spans()] == ["warm"]


def test_the_prefetch_is_parented_to_the_span_open_where_sts_is_applied(moto_sts, exporter):
    first, second = unique(), unique()
    with trace.get_tracer("test").start_as_current_span("init") as init:
        handler = returns_keys(first, second, disable_prefetch=False)
    for thread in threading.enumerate():
        if thread.name == "powertools-sts-prefetch":
            thread.join(15)

    calls = named(exporter, STS_SPAN)
    assert len(calls) == 2
    # The refresh spans are started on the first invocation's thread (the tracer provider is the
    # user's: never touched from the package's threads), parented as where the prefetch ran.
    assert named(exporter, REFRESH_SPAN) == []
    exporter.clear()
    invoke_in_span(handler)  # it finds both entries fresh
    assert named(exporter, STS_SPAN) == []
    refreshes = named(exporter, REFRESH_SPAN)
    assert len(refreshes) == 2
    for span in calls + refreshes:
        assert_child_of(span, init)
    assert moto_sts.assume_role_calls == 2


def test_a_failed_refresh_and_one_served_stale(proxy, clock, exporter):
    name = unique()
    handler = returns_keys(name)

    proxy.set_mode("denied")
    with pytest.raises(AssumeRoleError):
        invoke_in_span(handler)
    (call,) = named(exporter, STS_SPAN)
    (refresh,) = named(exporter, REFRESH_SPAN)
    assert call.status.status_code is StatusCode.ERROR
    assert refresh.status.status_code is StatusCode.ERROR
    assert refresh.attributes == {
        ATTR_ENTRY: name,
        ATTR_ROLE_ARN: ROLE,
        ATTR_OUTCOME: "failed",
        ATTR_ERROR_CODE: "AccessDenied",
    }

    proxy.set_mode("pass")
    first, _ = invoke_in_span(handler)
    clock.advance(IN_REFRESH_WINDOW)
    proxy.set_mode("denied")
    exporter.clear()
    served, parent = invoke_in_span(handler)

    assert served == first  # the still-valid credentials served
    (refresh,) = named(exporter, REFRESH_SPAN)
    assert_child_of(refresh, parent)
    attributes = dict(refresh.attributes or {})
    assert attributes.pop(ATTR_SECONDS_LEFT) == pytest.approx(299, abs=2)
    assert attributes == {
        ATTR_ENTRY: name,
        ATTR_ROLE_ARN: ROLE,
        ATTR_OUTCOME: "served_stale",
        ATTR_ERROR_CODE: "AccessDenied",
    }
    assert refresh.status.status_code is StatusCode.UNSET  # the invocation was served


# -- never a secret ----------------------------------------------------------------------------------


def test_no_span_carries_a_key_a_token_or_the_session_name(proxy, clock, exporter):
    session_name = f"otel-scan-{uuid.uuid4().hex[:12]}"
    first, second = unique(), unique()

    @sts(
        fetch_data={
            first: {"RoleArn": ROLE, "RoleSessionName": session_name},
            second: {"RoleArn": OTHER_ROLE, "RoleSessionName": session_name},
        },
        aws_client_capture=OTEL,
        disable_prefetch=True,
    )
    def handler(event: Any, context: Any) -> Any:
        return get_credentials(first).access_key_id

    invoke_in_span(handler)  # fetched, on worker threads
    clock.advance(IN_REFRESH_WINDOW)
    proxy.set_mode("denied")
    invoke_in_span(handler)  # served stale
    clock.advance(600)
    with pytest.raises(AssumeRoleError):
        invoke_in_span(handler)  # failed

    spans = exporter.get_finished_spans()
    outcomes = sorted(str((span.attributes or {})[ATTR_OUTCOME]) for span in spans if span.name == REFRESH_SPAN)
    assert outcomes == ["failed"] * 2 + ["fetched"] * 2 + ["served_stale"] * 2
    secrets = [session_name]
    for access_key_id, (secret, token) in proxy.issued.items():
        secrets += [access_key_id, secret, token]
    assert len(secrets) == 7
    text = "\n".join(every_value(list(spans)))
    for secret in secrets:
        assert secret not in text


# -- a call retried after its credentials were refused ------------------------------------------------


class RefusingOnce:
    """An S3 stand-in on 127.0.0.1: the first request is refused as expired, every later one answered."""

    LISTING = b'<?xml version="1.0" encoding="UTF-8"?><ListAllMyBucketsResult><Buckets/></ListAllMyBucketsResult>'
    EXPIRED = (
        b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>ExpiredToken</Code>'
        b"<Message>The provided token has expired.</Message><RequestId>1</RequestId></Error>"
    )

    def __init__(self) -> None:
        self.requests = 0
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                server.requests += 1
                status, body = (400, server.EXPIRED) if server.requests == 1 else (200, server.LISTING)
                self.send_response(status)
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_a_call_retried_after_a_refusal_gets_an_event_and_its_refetch_a_span(moto_sts, exporter, monkeypatch):
    s3 = RefusingOnce()
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", s3.url)
    name = unique()

    @sts(fetch_data={name: ROLE}, aws_client_capture=OTEL, disable_prefetch=True)
    def handler(event: Any, context: Any) -> Any:
        return get_client(name, "s3").list_buckets()["Buckets"]

    try:
        buckets, parent = invoke_in_span(handler)
    finally:
        s3.close()
    assert buckets == []

    assert s3.requests == 2
    (listing,) = named(exporter, "S3.ListBuckets")
    assert [(event.name, dict(event.attributes or {})) for event in listing.events] == [
        (RETRIED_EVENT, {ATTR_ROLE_ARN: ROLE, ATTR_ENTRY: name})
    ]
    # The credentials are fetched twice: for the call, and again, inside it, for its retry.
    first, again = sorted(named(exporter, REFRESH_SPAN), key=lambda span: span.start_time or 0)
    assert_child_of(first, parent)
    assert_child_of(listing, parent)
    assert (again.parent and again.parent.span_id) == listing.context.span_id
    assert moto_sts.assume_role_calls == 2


# -- beside the metrics observer -----------------------------------------------------------------------


def test_spans_and_metrics_both_observe_the_layer(moto_sts, exporter):
    metrics = EphemeralMetrics(namespace="PowertoolsSTSTest", service="otel")
    name = unique()
    invoke_in_span(returns_keys(name, metrics=metrics))

    assert len(named(exporter, REFRESH_SPAN)) == 1
    assert "AssumeRoleCalls" in metrics.metric_set


def test_a_tenants_refresh_span_names_the_tenant_and_its_metrics_do_not(moto_sts, exporter, capsys):
    metrics = EphemeralMetrics(namespace="PowertoolsSTSTest", service="otel")
    name = unique()

    @sts(
        fetch_data={name: lambda tenant_id: {"RoleArn": ROLE, "Tags": [{"Key": "TenantID", "Value": tenant_id}]}},
        aws_client_capture=OTEL,
        metrics=metrics,
        metrics_entry_dimension=True,
    )
    def handler(event: Any, context: Any) -> Any:
        return get_credentials(name).access_key_id

    with trace.get_tracer("test").start_as_current_span("invocation") as parent:
        context = lambda_context()
        context.tenant_id = "tenant-acme"
        handler({}, context)

    (refresh,) = named(exporter, REFRESH_SPAN)
    assert_child_of(refresh, parent)
    assert (refresh.attributes or {})[ATTR_TENANT] == "tenant-acme"
    assert (refresh.attributes or {})[ATTR_ENTRY] == name
    # A span attribute, never a metric dimension: one metric series per tenant would have no bound.
    assert "AssumeRoleCalls" in metrics.metric_set
    printed = capsys.readouterr().out
    assert name in printed  # the entry dimension's blob was printed
    assert "tenant-acme" not in printed
    assert "tenant-acme" not in str(metrics.metric_set)


class FailingRefreshSpans(SpanProcessor):
    """A span processor whose on_start raises for refresh spans while ``failing`` is set: a broken pipeline."""

    failing = False

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        if self.failing and span.name == REFRESH_SPAN:
            raise RuntimeError("the span pipeline is broken")


@pytest.fixture(scope="session")
def failing_spans(exporter: InMemorySpanExporter) -> FailingRefreshSpans:
    processor = FailingRefreshSpans()
    trace.get_tracer_provider().add_span_processor(processor)  # type: ignore[attr-defined]
    return processor


def test_a_failing_span_pipeline_does_not_silence_the_metrics(moto_sts, failing_spans, caplog):
    # Issue 18, item 8: observers stopped at the first one that raised, so an OpenTelemetry failure
    # silently dropped the metrics.
    metrics = EphemeralMetrics(namespace="PowertoolsSTSTest", service="otel")
    failing_spans.failing = True
    try:
        keys, _ = invoke_in_span(returns_keys(unique(), metrics=metrics))
    finally:
        failing_spans.failing = False
    assert len(keys) == 1  # the invocation went on
    assert "AssumeRoleCalls" in metrics.metric_set
    assert "Observer SpanObserver of powertools_sts failed" in caplog.text


# -- choosing the backend, and paying nothing without it ------------------------------------------------


def test_true_and_xray_keep_meaning_xray_and_false_is_off():
    assert capture_backend(True) == "xray"
    assert capture_backend("xray") == "xray"
    assert capture_backend(OTEL) == OTEL
    assert capture_backend(False) is None


@pytest.mark.parametrize("value", ["otel", "OpenTelemetry", "x-ray", 1, None, "true"])
def test_any_other_capture_value_is_a_configuration_error_naming_the_option(value):
    with pytest.raises(ConfigurationError, match="aws_client_capture"):
        sts(fetch_data={unique(): ROLE}, aws_client_capture=value, disable_prefetch=True)


def run_python(code: str, *options: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, *options, "-c", code],
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result


def test_without_the_otel_extra_the_option_is_refused_when_sts_is_applied():
    result = run_python(
        "import sys\n"
        "sys.modules['opentelemetry'] = None  # as if the otel extra were not installed\n"
        "from powertools_sts import ConfigurationError, sts\n"
        "try:\n"
        f"    sts(fetch_data={{'reports': {ROLE!r}}}, aws_client_capture='opentelemetry', disable_prefetch=True)\n"
        "except ConfigurationError as exc:\n"
        "    print(exc)\n"
        "else:\n"
        "    raise SystemExit('not refused')\n"
    )
    assert "aws_client_capture='opentelemetry'" in result.stdout
    assert 'pip install "powertools-sts[otel]"' in result.stdout


def test_a_missing_instrumentation_is_refused_in_process_too(monkeypatch):
    monkeypatch.setitem(sys.modules, "opentelemetry.instrumentation.botocore", None)
    with pytest.raises(ConfigurationError, match=r'pip install "powertools-sts\[otel\]"'):
        sts(fetch_data={unique(): ROLE}, aws_client_capture=OTEL, disable_prefetch=True)


def test_an_instrumentor_that_declines_is_refused_not_silently_spanless(monkeypatch, caplog):
    # As with a botocore the instrumentation does not support: its dependency check finds a conflict,
    # logs it, and instruments nothing.
    instrumentor = BotocoreInstrumentor()
    if instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.uninstrument()
    monkeypatch.setattr(BotocoreInstrumentor, "instrumentation_dependencies", lambda self: ("botocore < 0.0.1",))
    try:
        with pytest.raises(ConfigurationError, match="declined to instrument botocore"):
            sts(fetch_data={unique(): ROLE}, aws_client_capture=OTEL, disable_prefetch=True)
        assert "botocore" in caplog.text
    finally:
        monkeypatch.undo()
        instrumentor.instrument()
    assert instrumentor.is_instrumented_by_opentelemetry


def test_opentelemetry_is_imported_only_when_asked_for():
    result = run_python("from powertools_sts import get_credentials, sts", "-X", "importtime")
    assert "powertools_sts" in result.stderr
    assert "opentelemetry" not in result.stderr
    # Nor by applying sts without the OpenTelemetry capture, with or without X-Ray's.
    result = run_python(
        "import sys\n"
        "from powertools_sts import sts\n"
        f"sts(fetch_data={{'reports': {ROLE!r}}}, disable_prefetch=True)\n"
        "print(sorted(name for name in sys.modules if name.startswith('opentelemetry')))\n"
    )
    assert result.stdout.strip() == "[]"


# -- whatever STS answers, no secret in a span or a log record -------------------------------------------


def every_text(spans: list[ReadableSpan]) -> str:
    """Every value of every span: attributes, status, and events with their attributes (stack traces included)."""
    return "\n".join(every_value(spans))


@pytest.mark.parametrize(
    ("mode", "params"),
    [
        ("pass", {}),
        ("truncated", {}),  # cut 12 bytes into <SessionToken>: the SecretAccessKey is whole in the body
        ("truncated", {"at": "SecretAccessKey", "cut": 20}),
        ("malformed", {}),
        ("denied", {}),
    ],
    ids=["well-formed", "cut-in-session-token", "cut-in-secret-key", "malformed", "error-response"],
)
def test_no_span_or_log_record_holds_a_secret_whatever_sts_answers(proxy, exporter, caplog, mode, params):
    external_id = f"otel-external-{uuid.uuid4().hex[:12]}"
    name = unique()

    @sts(
        fetch_data={name: {"RoleArn": ROLE, "ExternalId": external_id}},
        aws_client_capture=OTEL,
        disable_prefetch=True,
    )
    def handler(event: Any, context: Any) -> Any:
        return get_credentials(name).access_key_id

    proxy.set_mode(mode, **params)
    caplog.set_level(logging.DEBUG)
    try:
        invoke_in_span(handler)
    except AssumeRoleError:
        assert mode != "pass"

    (call,) = named(exporter, STS_SPAN)
    if mode != "pass":
        assert call.status.status_code is StatusCode.ERROR
    secrets = [external_id]
    for secret, token in proxy.issued.values():
        secrets += [secret[:16], token[:12]]  # prefixes: a cut body holds only the start of one
    assert len(secrets) == (1 if mode in ("malformed", "denied") else 3)
    text = every_text(list(exporter.get_finished_spans()))
    logged = "\n".join(record.getMessage() for record in caplog.records)
    for secret in secrets:
        assert secret not in text
        assert secret not in logged


@pytest.mark.parametrize("given", ["boto3_client", "boto3_session"])
def test_a_cut_answer_to_the_user_s_own_sts_client_reaches_no_span(proxy, exporter, given):
    session = boto3.session.Session()
    option = {"boto3_client": session.client("sts")} if given == "boto3_client" else {"boto3_session": session}
    name = unique()

    @sts(fetch_data={name: ROLE}, aws_client_capture=OTEL, disable_prefetch=True, **option)
    def handler(event: Any, context: Any) -> Any:
        return get_credentials(name).access_key_id

    proxy.set_mode("truncated")
    with pytest.raises(AssumeRoleError):
        invoke_in_span(handler)

    ((secret, token),) = proxy.issued.values()
    text = every_text(list(exporter.get_finished_spans()))
    assert named(exporter, STS_SPAN)
    assert secret[:16] not in text
    assert token[:12] not in text
