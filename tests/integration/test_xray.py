"""X-Ray: the sts subsegments as a UDP listener on 127.0.0.1 (the daemon's place) receives them.

Each scenario runs xray_app.py in a fresh interpreter (aws-xray-sdk chooses its Lambda context when
it is imported), with a Lambda-like environment, the real Powertools Tracer and moto's STS.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, NamedTuple

import pytest

APP = Path(__file__).with_name("xray_app.py")
ROOT = "1-6745a1b2-0123456789abcdef01234567"
PARENT = "53995c3f42cd8ad8"
TRACE_HEADER = f"Root={ROOT};Parent={PARENT};Sampled=1"
MARKER = "---- prefetch done ----"
COMPLAINTS = ("context missing", "cannot find the current segment", "discarded")


class Entity(NamedTuple):
    """A segment or subsegment received, with the trace and parent it belongs to."""

    name: str
    id: str
    trace_id: str
    parent_id: str | None
    document: dict[str, Any]


def flatten(documents: list[dict[str, Any]]) -> list[Entity]:
    """Every entity of the documents, nested subsegments included, with their trace and parent ids."""
    found: list[Entity] = []

    def walk(entity: dict[str, Any], trace_id: str, parent_id: str | None) -> None:
        found.append(Entity(entity["name"], entity["id"], trace_id, parent_id, entity))
        for child in entity.get("subsegments", []):
            walk(child, trace_id, entity["id"])

    for document in documents:
        walk(document, document["trace_id"], document.get("parent_id"))
    return found


def run_app(mode: str, daemon: Any, *, in_lambda: bool = True, **env: str) -> tuple[Any, list[Entity]]:
    environment = dict(os.environ)
    for name in (
        "_X_AMZN_TRACE_ID",
        "LAMBDA_TASK_ROOT",
        "AWS_LAMBDA_FUNCTION_NAME",
        "AWS_LAMBDA_INITIALIZATION_TYPE",
        "AWS_XRAY_CONTEXT_MISSING",
        "POWERTOOLS_TRACE_DISABLED",
        "POWERTOOLS_TRACE_MIDDLEWARES",
    ):
        environment.pop(name, None)
    environment["AWS_XRAY_DAEMON_ADDRESS"] = daemon.address
    if in_lambda:
        environment.update(LAMBDA_TASK_ROOT=str(APP.parent), AWS_LAMBDA_FUNCTION_NAME="orders")
    environment.update(env)
    result = subprocess.run(
        [sys.executable, str(APP), mode, TRACE_HEADER],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result, flatten(daemon.documents())


def named(entities: list[Entity], name: str) -> list[Entity]:
    return [entity for entity in entities if entity.name == name]


def assert_assume_role_subsegment(entity: Entity, handler: Entity) -> None:
    assert entity.document["namespace"] == "aws"
    assert entity.document["aws"]["operation"] == "AssumeRole"
    assert entity.document["aws"]["region"] == "us-east-1"
    assert entity.document["aws"].get("request_id")
    assert entity.trace_id == ROOT
    assert entity.parent_id == handler.id  # under the invocation's handler subsegment
    text = json.dumps(entity.document)
    for secret_or_parameter in ("SecretAccessKey", "SessionToken", "RoleArn", "role/reports", "role/audit"):
        assert secret_or_parameter not in text


def test_capture_emits_an_sts_assume_role_subsegment_under_the_invocation(moto_sts, xray_daemon):
    result, entities = run_app("one", xray_daemon)

    (handler,) = named(entities, "## handler")
    assert handler.trace_id == ROOT
    assert handler.parent_id == PARENT  # the Lambda facade segment of the invocation
    (subsegment,) = named(entities, "sts")
    assert_assume_role_subsegment(subsegment, handler)
    assert json.loads(result.stdout)["reports"].startswith("ASIA")
    assert moto_sts.assume_role_calls == 1


def test_the_sts_subsegment_of_a_tenants_fetch_is_annotated_with_the_tenant(moto_sts, xray_daemon):
    result, entities = run_app("tenant", xray_daemon)

    (handler,) = named(entities, "## handler")
    (subsegment,) = named(entities, "sts")
    assert_assume_role_subsegment(subsegment, handler)
    assert subsegment.document["annotations"] == {"powertools_sts_tenant": "acme"}
    assert json.loads(result.stdout)["reports"].startswith("ASIA")
    assert moto_sts.assume_role_calls == 1  # per-tenant entries are never prefetched at INIT


def test_fetches_on_worker_threads_follow_the_invocations_trace(moto_sts, xray_daemon):
    _, entities = run_app("two", xray_daemon)

    (handler,) = named(entities, "## handler")
    subsegments = named(entities, "sts")
    assert len(subsegments) == 2
    for subsegment in subsegments:
        assert_assume_role_subsegment(subsegment, handler)
    assert moto_sts.assume_role_calls == 2


@pytest.mark.parametrize(("mode", "env"), [("trace", {}), ("trace-env", {"POWERTOOLS_TRACE_MIDDLEWARES": "true"})])
def test_trace_execution_opens_a_sts_middleware_subsegment(moto_sts, xray_daemon, mode, env):
    _, entities = run_app(mode, xray_daemon, **env)

    (handler,) = named(entities, "## handler")
    (middleware,) = named(entities, "## sts")
    assert middleware.trace_id == ROOT
    assert middleware.parent_id == handler.id
    # Without aws_client_capture (and a Tracer that patches nothing) the STS call itself is not traced.
    assert named(entities, "sts") == []
    assert moto_sts.assume_role_calls == 2


@pytest.mark.parametrize("in_lambda", [True, False], ids=["lambda-context", "default-context"])
def test_the_prefetch_at_init_makes_the_sdk_complain_about_nothing(moto_sts, xray_daemon, in_lambda):
    result, entities = run_app("prefetch", xray_daemon, in_lambda=in_lambda)

    before, marker, after = result.stderr.partition(MARKER)
    assert marker, result.stderr
    assert moto_sts.assume_role_calls == 2  # both entries were prefetched, at INIT
    for complaint in COMPLAINTS:
        assert complaint not in before.lower(), before
    # The control: a plain STS call at INIT does make the SDK complain, so the silence above is real.
    assert any(complaint in after.lower() for complaint in COMPLAINTS), after
    # The invocation found both entries fresh: nothing fetched, nothing emitted for STS.
    assert set(json.loads(result.stdout)) == {"audit", "reports"}
    assert named(entities, "sts") == []
