"""docs/decorator.md: every file its code blocks include, run against the local moto server or checked."""

from __future__ import annotations

import json
import logging
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from cfnlint.decode import decode

from powertools_sts import ConfigurationError, get_credentials

from .helpers import LambdaContext, client_as, import_file, package_calls, process_wiring_restored

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


@pytest.fixture(autouse=True)
def page_env(moto_sts: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for service in ("S3", "SSM", "DYNAMODB"):
        monkeypatch.setenv(f"AWS_ENDPOINT_URL_{service}", moto_sts.url)
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "orders")
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    with process_wiring_restored():
        yield


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

    result = import_file(QUICK_START).handler({"n": 1}, LambdaContext())

    assert result["bucket"] == environment["REPORTS_BUCKET"]
    assert environment["REPORTS_ROLE_ARN"] == REPORTS_ROLE
    assert package_calls(moto_sts) == 1


def test_an_unknown_name_raises_the_message_of_the_page(moto_sts):
    app = import_file(UNKNOWN_NAME, "app")
    with pytest.raises(ConfigurationError) as raised:
        app.handler({}, LambdaContext())

    message = f"{type(raised.value).__name__}: {raised.value}\n"
    assert message == (ROOT / UNKNOWN_NAME_MESSAGE).read_text()


def test_invalidate_example_lists_buckets_and_invalidate_makes_the_next_read_fetch(moto_sts):
    client_as(moto_sts, REPORTS_ROLE, "s3").create_bucket(Bucket="reports-bucket")
    example = import_file(INVALIDATE)

    assert example.handler({}, LambdaContext()) == {"buckets": ["reports-bucket"]}
    assert package_calls(moto_sts) == 1

    seen = []

    @example.sts(fetch_data={"reports": REPORTS_ROLE})
    def invalidating(event: Any, context: Any) -> None:
        creds = get_credentials("reports")
        example.invalidate("reports", access_key_id=creds.access_key_id)
        seen.extend([creds.access_key_id, get_credentials("reports").access_key_id])

    invalidating({}, LambdaContext())
    assert seen[0] != seen[1]  # the read after invalidate fetched new credentials


def test_metrics_example_flushes_the_assume_role_metrics(moto_sts, monkeypatch, capsys):
    monkeypatch.setenv("REPORTS_ROLE_ARN", REPORTS_ROLE)
    monkeypatch.setenv("REPORTS_BUCKET", "reports-bucket")
    client_as(moto_sts, REPORTS_ROLE, "s3").create_bucket(Bucket="reports-bucket")
    example = import_file(METRICS)
    capsys.readouterr()

    assert example.handler({}, LambdaContext()) == {"stored": "k"}

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


def combining_resources(moto_sts: Any, monkeypatch: pytest.MonkeyPatch, table: str) -> Any:
    """What examples/decorator/combining.py reads and writes: its idempotency table, parameter and bucket."""
    monkeypatch.setenv("IDEMPOTENCY_TABLE", table)
    boto3.client("dynamodb").create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    client_as(moto_sts, CONFIG_ROLE, "ssm").put_parameter(
        Name="/shared/reports/bucket", Value="reports-bucket", Type="String"
    )
    s3 = client_as(moto_sts, REPORTS_ROLE, "s3")
    s3.create_bucket(Bucket="reports-bucket")
    return s3


def test_combining_powertools_utilities(moto_sts, monkeypatch, capsys):
    fresh_logger(monkeypatch, "reports")
    s3 = combining_resources(moto_sts, monkeypatch, "idempotency")
    example = import_file(COMBINING)
    capsys.readouterr()

    first = example.handler({"order_id": "o-1"}, LambdaContext())
    out = capsys.readouterr().out
    again = example.handler({"order_id": "o-1"}, LambdaContext())  # the same event: answered by Idempotency
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

    combining_resources(moto_sts, monkeypatch, "idempotency-unreachable")
    example = import_file(COMBINING)
    first = example.handler({"order_id": "o-2"}, LambdaContext())

    # Every credential dropped, and STS out of reach (nothing listens on port 9 of loopback).
    powertools_sts.clear_caches()
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:9")

    assert example.handler({"order_id": "o-2"}, LambdaContext()) == first  # from the idempotency store
    with pytest.raises(AssumeRoleError):
        example.handler({"order_id": "o-3"}, LambdaContext())  # a new event needs the sts step, and STS


def test_two_accounts_example(moto_sts):
    example = import_file(Path("examples/two_accounts.py"))

    result = example.handler({}, LambdaContext())

    assert (result["reports_account"], result["audit_account"]) == ("111122223333", "444455556666")
    assert package_calls(moto_sts) == 2  # one per entry


def test_role_chaining_example(moto_sts):
    example = import_file(Path("examples/role_chaining.py"))

    result = example.handler({}, LambdaContext())
    example.handler({}, LambdaContext())

    assert result["account"] == "444455556666"
    assert package_calls(moto_sts) == 2  # the hub, then the workload role signed by the hub


def test_logger_tracer_example(moto_sts):
    # Its log records are checked by tests/examples/test_examples.py: Logger(service="reports") here
    # would reuse the handler another test of this module bound to its own captured stdout.
    s3 = client_as(moto_sts, REPORTS_ROLE, "s3")
    s3.create_bucket(Bucket="example-reports-bucket")
    s3.put_object(Bucket="example-reports-bucket", Key="reports/a.json", Body=b"{}")
    example = import_file(Path("examples/logger_tracer.py"))

    assert example.handler({"prefix": "reports/"}, LambdaContext()) == {"keys": ["reports/a.json"]}
    assert package_calls(moto_sts) == 1
