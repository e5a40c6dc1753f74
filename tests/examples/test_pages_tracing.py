"""docs/tracing.md: its JSON examples regenerated from real runs, its example run, and its note on local noise.

X-Ray: the documents aws-xray-sdk sends to a UDP socket on 127.0.0.1 (the daemon's place), as
tests/integration/test_xray.py receives them. OpenTelemetry: the spans of the SDK's in-memory
exporter, in a fresh interpreter (the global tracer provider can be set once per process). STS is
moto. Ids, times, request ids and the emulator's port change at every run: they are checked for their
shape, then given the snippet's values, and everything else must be equal.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from ..integration.conftest import XRayDaemon
from ..integration.test_xray import ROOT as TRACE_ROOT
from ..integration.test_xray import named, run_app
from .helpers import client_as

ROOT = Path(__file__).resolve().parents[2]
REPORTS_ROLE = "arn:aws:iam::111122223333:role/reports"
XRAY_SUBSEGMENT = Path("docs/snippets/tracing/xray_subsegment.json")
OTEL_SPANS = Path("docs/snippets/tracing/otel_spans.json")
OTEL_CAPTURE = Path("examples/tracing/otel_capture.py")
CONTEXT_MISSING = Path("docs/snippets/tracing/context_missing.txt")
XRAY_CAPTURE = Path("examples/xray_capture.py")

HEX16 = re.compile(r"^[0-9a-f]{16}$")
SPAN_ID = re.compile(r"^0x[0-9a-f]{16}$")
OTEL_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")

# A fresh interpreter: an SDK tracer provider with an in-memory exporter, the example applied, then one
# invocation inside a span of its own, with the caches emptied first so that it fetches (the prefetch's
# spans, a trace of their own, are dropped). Prints each span of the invocation as JSON.
OTEL_RUN = """
import importlib.util, json, sys, threading
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import powertools_sts

memory = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(memory))
trace.set_tracer_provider(provider)
spec = importlib.util.spec_from_file_location("app", sys.argv[1])
app = importlib.util.module_from_spec(spec)
spec.loader.exec_module(app)
for thread in threading.enumerate():
    if thread.name == "powertools-sts-prefetch":
        thread.join(15)
powertools_sts.clear_caches()
memory.clear()
with trace.get_tracer("lambda").start_as_current_span("invocation") as invocation:
    result = app.handler({}, None)
print(json.dumps({"result": result, "invocation": f"0x{invocation.get_span_context().span_id:016x}"}))
for span in memory.get_finished_spans():
    print(span.to_json(indent=None))
"""


def test_the_xray_subsegment_is_what_the_sdk_sends(moto_sts):
    daemon = XRayDaemon()
    try:
        _, entities = run_app("one", daemon)
    finally:
        daemon.close()
    (handler,) = named(entities, "## handler")
    (subsegment,) = named(entities, "sts")
    received = dict(subsegment.document)
    expected = json.loads((ROOT / XRAY_SUBSEGMENT).read_text())

    assert HEX16.match(received["id"])
    assert received["parent_id"] == handler.id  # sent on its own, under the handler's subsegment
    assert received["trace_id"] == TRACE_ROOT  # the invocation's trace (_X_AMZN_TRACE_ID)
    assert received["end_time"] > received["start_time"]
    assert re.match(r"^\w{52}$", received["aws"]["request_id"])
    for volatile in ("id", "parent_id", "trace_id", "start_time", "end_time"):
        received[volatile] = expected[volatile]
    received["aws"] = dict(received["aws"], request_id=expected["aws"]["request_id"])
    assert received == expected


def test_the_opentelemetry_spans_are_what_the_sdk_records(moto_sts):
    client_as(moto_sts, REPORTS_ROLE, "s3").create_bucket(Bucket="reports")
    result = subprocess.run(
        [sys.executable, "-c", OTEL_RUN, str(ROOT / OTEL_CAPTURE)],
        env=dict(os.environ, AWS_ENDPOINT_URL_S3=moto_sts.url),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    header, *lines = result.stdout.splitlines()
    run = json.loads(header)
    assert run["result"] == {"stored": "daily.csv"}
    spans = {span["name"]: span for span in map(json.loads, lines)}
    expected = json.loads((ROOT / OTEL_SPANS).read_text())

    assert [span["name"] for span in expected] == ["STS.AssumeRole", "powertools_sts.refresh"]
    for want in expected:
        span = {key: spans[want["name"]][key] for key in want}
        assert span["parent_id"] == run["invocation"]  # both under the invocation's span
        assert SPAN_ID.match(span["parent_id"])
        assert OTEL_TIME.match(span["start_time"])
        assert OTEL_TIME.match(span["end_time"])
        assert span["end_time"] >= span["start_time"]
        attributes = dict(span["attributes"])
        for volatile in ("parent_id", "start_time", "end_time"):
            span[volatile] = want[volatile]
        if want["name"] == "STS.AssumeRole":
            assert attributes["server.port"] == int(moto_sts.url.rsplit(":", 1)[1])
            assert re.match(r"^\w{52}$", attributes["aws.request_id"])
            for volatile in ("server.port", "aws.request_id"):
                attributes[volatile] = want["attributes"][volatile]
        else:
            assert 3590 < attributes["powertools_sts.seconds_left"] <= 3600
            attributes["powertools_sts.seconds_left"] = want["attributes"]["powertools_sts.seconds_left"]
        span["attributes"] = attributes
        assert span == want


def run_outside_lambda(moto_sts: Any, **env: str) -> subprocess.CompletedProcess[str]:
    """Run examples/xray_capture.py's handler as a local script does: no Lambda variables, no segment."""
    code = (
        "import importlib.util, sys\n"
        "spec = importlib.util.spec_from_file_location('app', sys.argv[1])\n"
        "app = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(app)\n"
        "print(app.handler({}, None))\n"
    )
    environment = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("POWERTOOLS_", "LAMBDA_TASK_ROOT", "AWS_LAMBDA_", "AWS_XRAY_", "_X_AMZN"))
    }
    environment.update(AWS_ENDPOINT_URL_S3=moto_sts.url, **env)
    return subprocess.run(
        [sys.executable, "-c", code, str(ROOT / XRAY_CAPTURE)],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_outside_lambda_the_sdk_complains_and_powertools_trace_disabled_silences_it(moto_sts):
    message = (ROOT / CONTEXT_MISSING).read_text().strip()

    noisy = run_outside_lambda(moto_sts)
    quiet = run_outside_lambda(moto_sts, POWERTOOLS_TRACE_DISABLED="true")

    assert noisy.returncode == 0, noisy.stderr
    assert quiet.returncode == 0, quiet.stderr
    assert noisy.stdout == quiet.stdout == "{'buckets': []}\n"
    assert message in noisy.stderr.splitlines()  # one line per AWS call made outside a segment
    assert noisy.stderr.count(message) >= 2  # the prefetch's AssumeRole, then ListBuckets
    assert "segment" not in quiet.stderr
