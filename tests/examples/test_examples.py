"""Every example under examples/ imported from its file and invoked against the local moto server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest

from .helpers import LambdaContext, client_as, import_file, process_wiring_restored

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
REPORTS_ROLE = "arn:aws:iam::111122223333:role/reports"
AUDIT_ROLE = "arn:aws:iam::444455556666:role/audit"
CONFIG_ROLE = "arn:aws:iam::444455556666:role/config-reader"


def load(name: str) -> ModuleType:
    """Import examples/<name>.py from its path, afresh: its sts layers are applied (and prefetch) now."""
    return import_file(EXAMPLES / f"{name}.py")


@pytest.fixture(autouse=True)
def example_env(moto_sts: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # Every service the examples call goes to the moto server, as STS already does (tests/conftest.py).
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", moto_sts.url)
    monkeypatch.setenv("AWS_ENDPOINT_URL_SSM", moto_sts.url)
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "orders")
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "examples")
    with process_wiring_restored():
        yield


def test_quick_start(moto_sts, monkeypatch):
    monkeypatch.setenv("REPORTS_ROLE_ARN", REPORTS_ROLE)
    monkeypatch.setenv("REPORTS_BUCKET", "reports-bucket")
    s3 = client_as(moto_sts, REPORTS_ROLE, "s3")
    s3.create_bucket(Bucket="reports-bucket")
    before = moto_sts.assume_role_calls

    quick_start = load("quick_start")  # the import prefetches the "reports" entry
    first = quick_start.handler({"n": 1}, LambdaContext())
    second = quick_start.handler({"n": 2}, LambdaContext())

    assert moto_sts.assume_role_calls - before == 1  # the prefetch served both invocations
    body = s3.get_object(Bucket="reports-bucket", Key=second["key"])["Body"].read()
    assert json.loads(body) == {"n": 2}
    assert first["key"] != second["key"]


def test_sam_app_is_the_quick_start():
    assert (EXAMPLES / "sam" / "src" / "app.py").read_bytes() == (EXAMPLES / "quick_start.py").read_bytes()


def test_two_accounts(moto_sts):
    two_accounts = load("two_accounts")
    result = two_accounts.handler({}, LambdaContext())
    again = two_accounts.handler({}, LambdaContext())

    assert result["reports_account"] == "111122223333"
    assert result["audit_account"] == "444455556666"
    assert datetime.fromisoformat(result["audit_expires"]) == datetime.fromisoformat(again["audit_expires"])
    assert moto_sts.assume_role_calls == 2  # one per entry, none for the warm invocation
    sessions = [body for body in moto_sts.calls if b"RoleSessionName=orders-audit" in body]
    assert len(sessions) == 1
    assert b"ExternalId=audit-7f3a9c" in sessions[0]


def test_role_chaining(moto_sts):
    role_chaining = load("role_chaining")
    result = role_chaining.handler({}, LambdaContext())
    role_chaining.handler({}, LambdaContext())

    assert result["account"] == "444455556666"
    assert ":assumed-role/workload/" in result["arn"]
    assert moto_sts.assume_role_calls == 2  # hub and workload, once each
    assert [b"role%2Fhub" in body for body in moto_sts.calls] == [True, False]


def test_logger_and_tracer(moto_sts, capsys):
    s3 = client_as(moto_sts, REPORTS_ROLE, "s3")
    s3.create_bucket(Bucket="example-reports-bucket")
    s3.put_object(Bucket="example-reports-bucket", Key="reports/a.json", Body=b"{}")
    before = moto_sts.assume_role_calls

    logger_tracer = load("logger_tracer")
    result = logger_tracer.handler({"prefix": "reports/"}, LambdaContext())

    assert result == {"keys": ["reports/a.json"]}
    assert moto_sts.assume_role_calls - before == 1
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    listed = next(record for record in records if record["message"] == "Listed reports")
    assert listed["function_name"] == "orders"
    assert listed["count"] == 1


def test_provider_without_the_decorator(moto_sts):
    provider_direct = load("provider_direct")

    assert provider_direct.main()["cache_hit"] is True
    assert moto_sts.assume_role_calls == 3  # first, force_fetch, and assume_role's default provider

    assert provider_direct.handler({}, None) == {"audit_account": "444455556666"}
    client = provider_direct.audit_client()
    assert provider_direct.handler({}, None) == {"audit_account": "444455556666"}
    assert provider_direct.audit_client() is client  # same credentials, same client
    assert moto_sts.assume_role_calls == 4


def test_ssm_parameter_of_another_account(moto_sts):
    ssm = client_as(moto_sts, CONFIG_ROLE, "ssm")
    ssm.put_parameter(Name="/shared/orders/table-name", Value="orders-prod", Type="String")
    before = moto_sts.assume_role_calls

    ssm_cross_account = load("ssm_cross_account")
    assert ssm_cross_account.handler({}, LambdaContext()) == {"table": "orders-prod", "version": 1}
    assert ssm_cross_account.handler_with_parameters({}, LambdaContext()) == {"table": "orders-prod"}
    assert ssm_cross_account.handler_with_parameters({}, LambdaContext()) == {"table": "orders-prod"}
    # Two layers, one cache_key and the same parameters: one entry, one STS call.
    assert moto_sts.assume_role_calls - before == 1


def test_ssm_parameter_is_not_in_the_functions_own_account(moto_sts):
    client_as(moto_sts, CONFIG_ROLE, "ssm").put_parameter(Name="/shared/orders/table-name", Value="x", Type="String")
    own = boto3.client("ssm", endpoint_url=moto_sts.url)
    with pytest.raises(own.exceptions.ParameterNotFound):
        own.get_parameter(Name="/shared/orders/table-name")


def test_xray_capture(moto_sts):
    from aws_xray_sdk import global_sdk_config

    # The patch is process-wide: with the SDK switched off (the fixture switches it back) it is skipped,
    # so no other test's boto3 calls start reporting a missing X-Ray context.
    global_sdk_config.set_sdk_enabled(False)
    xray_capture = load("xray_capture")
    assert xray_capture.handler({}, LambdaContext()) == {"buckets": []}
    assert moto_sts.assume_role_calls == 1


@pytest.mark.parametrize("path", sorted((EXAMPLES / "iam").glob("*.json")), ids=lambda path: path.name)
def test_iam_policy_documents(path):
    document = json.loads(path.read_text())
    assert document["Version"] == "2012-10-17"
    for statement in document["Statement"]:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        assert "sts:AssumeRole" in actions
        assert all(action in ("sts:AssumeRole", "sts:TagSession", "sts:SetSourceIdentity") for action in actions)
        assert ("Principal" in statement) != ("Resource" in statement)  # a trust policy or an identity policy
