"""A Lambda-like process for test_xray.py: ``python xray_app.py MODE TRACE_HEADER``.

aws-xray-sdk picks its Lambda context when ``aws_xray_sdk.core`` is imported, from the environment,
so each scenario runs in a fresh interpreter. The test sets ``LAMBDA_TASK_ROOT`` and
``AWS_LAMBDA_FUNCTION_NAME`` (the SDK's Lambda context, Powertools' Tracer on), ``AWS_XRAY_DAEMON_ADDRESS``
(a UDP socket of the test) and ``AWS_ENDPOINT_URL_STS`` (moto). As the Lambda runtime does, this script
sets ``_X_AMZN_TRACE_ID`` only for the invocation, after the module-level code (INIT) has run.

Modes:
    one         capture on, one entry fetched during the invocation (on the invoking thread)
    two         capture on, two entries fetched during the invocation (on worker threads)
    trace       trace_execution=True, capture off
    trace-env   trace_execution left to POWERTOOLS_TRACE_MIDDLEWARES, capture off
    tenant      capture on, one per-tenant entry, the invocation of tenant "acme"
    prefetch    capture on, two entries prefetched at INIT with no segment open; then, after a marker
                line on stderr, a plain STS call at INIT as a control that the SDK does complain
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sys
import threading
import time

logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
logging.getLogger("aws_xray_sdk").setLevel(logging.DEBUG)  # whatever the SDK has to say about context

MODE, TRACE_HEADER = sys.argv[1], sys.argv[2]
ROLE = "arn:aws:iam::111122223333:role/reports"
OTHER_ROLE = "arn:aws:iam::444455556666:role/audit"
MARKER = "---- prefetch done ----"
os.environ.pop("_X_AMZN_TRACE_ID", None)  # INIT: no invocation, no trace

import boto3  # noqa: E402
from aws_xray_sdk.core import xray_recorder  # noqa: E402

xray_recorder.configure(sampling=False)

from awslambdaric.lambda_context import LambdaContext  # noqa: E402

from powertools_sts import get_credentials, sts  # noqa: E402


def drain_prefetches() -> None:
    """Wait until every worker thread of the package has finished (see test_middleware.py)."""
    for thread in threading.enumerate():
        # Refresh-ahead timers sleep until their entry's refresh is due: they are not fetches.
        if thread.name.startswith("powertools-sts") and not thread.name.endswith("refresh-ahead"):
            thread.join(15)


def body(event, context):
    return {name: get_credentials(name).access_key_id for name in event["entries"]}


entries = {"reports": ROLE} if MODE in ("one", "tenant") else {"reports": ROLE, "audit": OTHER_ROLE}
if MODE == "tenant":
    tagged = {"reports": lambda tenant: {"RoleArn": ROLE, "Tags": [{"Key": "TenantID", "Value": tenant}]}}
    layer = sts(fetch_data=tagged, aws_client_capture=True)
elif MODE in ("one", "two"):
    layer = sts(fetch_data=entries, aws_client_capture=True, disable_prefetch=True)
elif MODE == "trace":
    layer = sts(fetch_data=entries, trace_execution=True, disable_prefetch=True)
elif MODE == "trace-env":
    layer = sts(fetch_data=entries, disable_prefetch=True)
elif MODE == "prefetch":
    layer = sts(fetch_data=entries, aws_client_capture=True)
else:
    raise SystemExit(f"unknown mode {MODE}")

if MODE == "prefetch":
    # A user with aws_client_capture=True and no Tracer: the SDK alone.
    handler = layer(body)
    drain_prefetches()
    print(MARKER, file=sys.stderr, flush=True)
    boto3.client("sts").get_caller_identity()  # the control: an STS call at INIT with no segment open
else:
    from aws_lambda_powertools import Tracer

    tracer = Tracer(service="xray-app", auto_patch=False)  # botocore is patched by aws_client_capture only

    @tracer.capture_lambda_handler
    @layer
    def handler(event, context):
        return body(event, context)


# The invocation, as awslambdaric runs it.
os.environ["_X_AMZN_TRACE_ID"] = TRACE_HEADER
deadline = int((time.time() + 300) * 1000)
context = LambdaContext("req-1", None, None, deadline, "arn:aws:lambda:::function:orders", tenant_id="acme")
result = handler({"entries": sorted(entries)}, context)
print(json.dumps(result))

# A last datagram after every document: the test reads up to it.
host, port = os.environ["AWS_XRAY_DAEMON_ADDRESS"].rsplit(":", 1)
with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as end:
    end.sendto(b"END", (host, int(port)))
