"""docs/decorator.md: every file its code blocks include, run against the local moto server or checked."""

from __future__ import annotations

import importlib.util
import itertools
import json
import logging
import shlex
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest
import yaml
from cfnlint.decode import decode

from powertools_sts import ConfigurationError, get_credentials

from .test_examples import client_as

ROOT = Path(__file__).resolve().parents[2]
REPORTS_ROLE = "arn:aws:iam::111122223333:role/reports"
CONFIG_ROLE = "arn:aws:iam::444455556666:role/config-reader"
ENVIRONMENT = Path("examples/decorator/environment.yaml")
UNKNOWN_NAME = Path("examples/decorator/unknown_name.py")
UNKNOWN_NAME_MESSAGE = Path("docs/snippets/decorator/unknown_name.txt")
INVALIDATE = Path("examples/decorator/invalidate.py")
METRICS = Path("examples/decorator/metrics.py")
COMBINING = Path("examples/decorator/combining.py")
DEPLOY_ALARM = Path("docs/snippets/decorator/deploy_alarm.sh")
QUICK_START = Path("examples/quick_start.py")
_loaded = itertools.count()


def load(path: Path, name: str | None = None) -> ModuleType:
    """Import the example at ``path`` afresh (its sts layers are applied now), as module ``name``."""
    spec = importlib.util.spec_from_file_location(name or f"page_example_{next(_loaded)}", ROOT / path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Context:
    """What Logger and Idempotency read of the Lambda context."""

    function_name = "orders"
    memory_limit_in_mb = 128
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:orders"

    def __init__(self) -> None:
        self.aws_request_id = str(uuid.uuid4())

    def get_remaining_time_in_millis(self) -> int:
        return 300_000


@pytest.fixture(autouse=True)
def page_env(moto_sts: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for service in ("S3", "SSM", "DYNAMODB"):
        monkeypatch.setenv(f"AWS_ENDPOINT_URL_{service}", moto_sts.url)
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "orders")
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    from aws_lambda_powertools import Tracer
    from aws_xray_sdk import global_sdk_config

    enabled = global_sdk_config.sdk_enabled()
    package_logger = logging.getLogger("powertools_sts")
    wiring = (package_logger.level, package_logger.propagate, list(package_logger.handlers))
    yield
    global_sdk_config.set_sdk_enabled(enabled)
    Tracer._reset_config()
    package_logger.setLevel(wiring[0])
    package_logger.propagate = wiring[1]
    package_logger.handlers = wiring[2]


def package_calls(moto_sts: Any) -> int:
    """AssumeRole requests the package made (the tests' own setup calls are left out)."""
    return sum(b"RoleSessionName=test-setup" not in body for body in moto_sts.calls)


def fresh_logger(monkeypatch: pytest.MonkeyPatch, service: str) -> None:
    """Make the next Logger(service=...) configure itself anew, writing to this test's captured stdout.

    Powertools' Logger reuses the standard logger of its service, handler included, once configured:
    another test's Logger(service="reports") would leave it writing to that test's stream.
    """
    from aws_lambda_powertools.logging.constants import (
        LOGGER_ATTRIBUTE_POWERTOOLS_HANDLER,
        LOGGER_ATTRIBUTE_PRECONFIGURED,
    )

    standard = logging.getLogger(service)
    monkeypatch.setattr(standard, "handlers", [])
    # Set to None rather than deleted: monkeypatch then deletes at teardown what the test's Logger set, so
    # that the next Logger never finds the marker of a handler that the teardown took away.
    for attribute in (LOGGER_ATTRIBUTE_PRECONFIGURED, LOGGER_ATTRIBUTE_POWERTOOLS_HANDLER):
        monkeypatch.setattr(standard, attribute, None, raising=False)


def emf_blobs(out: str) -> list[dict[str, Any]]:
    return [blob for blob in map(json.loads, filter(None, out.splitlines())) if "_aws" in blob]


def test_the_environment_block_is_what_the_quick_start_and_the_sam_template_use(moto_sts, monkeypatch):
    environment = yaml.safe_load((ROOT / ENVIRONMENT).read_text())
    template, problems = decode(str(ROOT / "examples" / "sam" / "template.yaml"))
    assert not problems
    assert template is not None
    assert set(environment) == set(template["Resources"]["ReportsFunction"]["Properties"]["Environment"]["Variables"])
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    client_as(moto_sts, REPORTS_ROLE, "s3").create_bucket(Bucket=environment["REPORTS_BUCKET"])

    result = load(QUICK_START).handler({"n": 1}, Context())

    assert result["bucket"] == environment["REPORTS_BUCKET"]
    assert environment["REPORTS_ROLE_ARN"] == REPORTS_ROLE
    assert package_calls(moto_sts) == 1


def test_an_unknown_name_raises_the_message_of_the_page(moto_sts):
    app = load(UNKNOWN_NAME, "app")
    with pytest.raises(ConfigurationError) as raised:
        app.handler({}, Context())

    message = f"{type(raised.value).__name__}: {raised.value}\n"
    assert message == (ROOT / UNKNOWN_NAME_MESSAGE).read_text()


def test_invalidate_example_lists_buckets_and_invalidate_makes_the_next_read_fetch(moto_sts):
    client_as(moto_sts, REPORTS_ROLE, "s3").create_bucket(Bucket="reports-bucket")
    example = load(INVALIDATE)

    assert example.handler({}, Context()) == {"buckets": ["reports-bucket"]}
    assert package_calls(moto_sts) == 1

    seen = []

    @example.sts(fetch_data={"reports": REPORTS_ROLE})
    def invalidating(event: Any, context: Any) -> None:
        creds = get_credentials("reports")
        example.invalidate("reports", access_key_id=creds.access_key_id)
        seen.extend([creds.access_key_id, get_credentials("reports").access_key_id])

    invalidating({}, Context())
    assert seen[0] != seen[1]  # the read after invalidate fetched new credentials


def test_metrics_example_flushes_the_assume_role_metrics(moto_sts, monkeypatch, capsys):
    monkeypatch.setenv("REPORTS_ROLE_ARN", REPORTS_ROLE)
    monkeypatch.setenv("REPORTS_BUCKET", "reports-bucket")
    client_as(moto_sts, REPORTS_ROLE, "s3").create_bucket(Bucket="reports-bucket")
    example = load(METRICS)
    capsys.readouterr()

    assert example.handler({}, Context()) == {"stored": "k"}

    (blob,) = emf_blobs(capsys.readouterr().out)
    assert blob["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "Reports"
    assert blob["AssumeRoleCalls"] == [1.0]  # the prefetch's attempt, flushed by the first invocation
    assert package_calls(moto_sts) == 1


def test_the_deploy_command_names_the_alarm_template_and_its_parameters():
    words = shlex.split((ROOT / DEPLOY_ALARM).read_text().replace("\\\n", " "))
    assert words[:3] == ["aws", "cloudformation", "deploy"]
    template = words[words.index("--template-file") + 1]
    assert template == "examples/sam/alarm.yaml"
    decoded, problems = decode(str(ROOT / template))
    assert not problems
    assert decoded is not None
    overrides = dict(word.split("=", 1) for word in words[words.index("--parameter-overrides") + 1 :])
    assert overrides == {name: spec["Default"] for name, spec in decoded["Parameters"].items()}


def test_combining_powertools_utilities(moto_sts, monkeypatch, capsys):
    fresh_logger(monkeypatch, "reports")
    monkeypatch.setenv("IDEMPOTENCY_TABLE", "idempotency")
    boto3.client("dynamodb").create_table(
        TableName="idempotency",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    client_as(moto_sts, CONFIG_ROLE, "ssm").put_parameter(
        Name="/shared/reports/bucket", Value="reports-bucket", Type="String"
    )
    s3 = client_as(moto_sts, REPORTS_ROLE, "s3")
    s3.create_bucket(Bucket="reports-bucket")
    example = load(COMBINING)
    capsys.readouterr()

    first = example.handler({"order_id": "o-1"}, Context())
    out = capsys.readouterr().out
    again = example.handler({"order_id": "o-1"}, Context())  # the same event: answered by Idempotency
    assert "Report stored" not in capsys.readouterr().out  # the handler did not run again

    assert first == again == {"bucket": "reports-bucket", "key": "reports/o-1.json"}
    assert package_calls(moto_sts) == 2  # one per entry (the prefetch); the repeated event made none
    assert s3.get_object(Bucket="reports-bucket", Key="reports/o-1.json")["Body"].read() == b"{}"
    records = [json.loads(line) for line in out.splitlines() if line.startswith("{") and '"level"' in line]
    stored = next(record for record in records if record["message"] == "Report stored")
    assert stored["function_name"] == "orders"
    (blob,) = emf_blobs(out)
    assert sum(blob["AssumeRoleCalls"]) == 2


def test_combining_a_repeated_event_is_answered_while_sts_is_unreachable(moto_sts, monkeypatch):
    import powertools_sts
    from powertools_sts import AssumeRoleError

    monkeypatch.setenv("IDEMPOTENCY_TABLE", "idempotency-unreachable")
    boto3.client("dynamodb").create_table(
        TableName="idempotency-unreachable",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    client_as(moto_sts, CONFIG_ROLE, "ssm").put_parameter(
        Name="/shared/reports/bucket", Value="reports-bucket", Type="String"
    )
    client_as(moto_sts, REPORTS_ROLE, "s3").create_bucket(Bucket="reports-bucket")
    example = load(COMBINING)
    first = example.handler({"order_id": "o-2"}, Context())

    # Every credential dropped, and STS out of reach (nothing listens on port 9 of loopback).
    powertools_sts.clear_caches()
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:9")

    assert example.handler({"order_id": "o-2"}, Context()) == first  # from the idempotency store
    with pytest.raises(AssumeRoleError):
        example.handler({"order_id": "o-3"}, Context())  # a new event needs the sts step, and STS


def test_two_accounts_example(moto_sts):
    example = load(Path("examples/two_accounts.py"))

    result = example.handler({}, Context())

    assert (result["reports_account"], result["audit_account"]) == ("111122223333", "444455556666")
    assert package_calls(moto_sts) == 2  # one per entry


def test_role_chaining_example(moto_sts):
    example = load(Path("examples/role_chaining.py"))

    result = example.handler({}, Context())
    example.handler({}, Context())

    assert result["account"] == "444455556666"
    assert package_calls(moto_sts) == 2  # the hub, then the workload role signed by the hub


def test_logger_tracer_example(moto_sts):
    # Its log records are checked by tests/examples/test_examples.py: Logger(service="reports") here
    # would reuse the handler another test of this module bound to its own captured stdout.
    s3 = client_as(moto_sts, REPORTS_ROLE, "s3")
    s3.create_bucket(Bucket="example-reports-bucket")
    s3.put_object(Bucket="example-reports-bucket", Key="reports/a.json", Body=b"{}")
    example = load(Path("examples/logger_tracer.py"))

    assert example.handler({"prefix": "reports/"}, Context()) == {"keys": ["reports/a.json"]}
    assert package_calls(moto_sts) == 1
