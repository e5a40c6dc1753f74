"""docs/execution-models.md: every file its code blocks include, run on the Durable Execution SDK's local runner."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("aws_durable_execution_sdk_python_testing", reason="the Durable Execution SDK needs Python 3.11+")

from aws_durable_execution_sdk_python.lambda_service import InvocationStatus
from aws_durable_execution_sdk_python_testing.runner import DurableFunctionTestRunner

from .helpers import client_as, import_file, package_calls

REPORTS_ROLE = "arn:aws:iam::111122223333:role/reports"
DURABLE_FUNCTIONS = Path("examples/execution_models/durable_functions.py")


@pytest.fixture(autouse=True)
def page_env(moto_sts: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", moto_sts.url)
    monkeypatch.setenv("REPORTS_ROLE_ARN", REPORTS_ROLE)
    monkeypatch.setenv("REPORTS_BUCKET", "reports-bucket")


def test_durable_functions_exports_in_branches_waits_and_reads_back_after_the_replay(moto_sts):
    s3 = client_as(moto_sts, REPORTS_ROLE, "s3")
    s3.create_bucket(Bucket="reports-bucket")
    app = import_file(DURABLE_FUNCTIONS)  # the import prefetches the "reports" entry

    with DurableFunctionTestRunner(handler=app.handler) as runner:
        result = runner.run(input=json.dumps({"days": ["2026-12-01", "2026-12-02"]}), execution_timeout=60)

    assert result.status is InvocationStatus.SUCCEEDED, result.error
    output = json.loads(result.result)
    assert output["keys"] == ["exports/2026-12-01.json", "exports/2026-12-02.json"]
    stored = [s3.get_object(Bucket="reports-bucket", Key=key)["Body"].read() for key in output["keys"]]
    assert [json.loads(body) for body in stored] == [{"day": "2026-12-01"}, {"day": "2026-12-02"}]
    assert output["bytes"] == sum(len(body) for body in stored)
    assert result.get_wait("settle").status.value == "SUCCEEDED"  # replayed after the wait
    assert package_calls(moto_sts) == 1  # one AssumeRole for the branches, the wait and the replay
