"""The alarm example: cfn-lint finds nothing, and the alarm watches the metric the package publishes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aws_lambda_powertools.metrics import EphemeralMetrics
from cfnlint.api import lint_file
from cfnlint.decode import decode

from powertools_sts.events import FAILED, Refresh
from powertools_sts.metrics import ASSUME_ROLE_FAILURES, MetricsObserver

SAM = Path(__file__).resolve().parents[2] / "examples" / "sam"
ALARM = SAM / "alarm.yaml"


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    decoded, problems = decode(str(ALARM))
    assert not problems
    assert decoded is not None
    return dict(decoded)


def test_cfn_lint_finds_nothing():
    assert [str(match) for match in lint_file(ALARM)] == []


def test_the_alarm_finds_what_a_failed_assume_role_publishes(template, capsys):
    (alarm,) = [r["Properties"] for r in template["Resources"].values() if r["Type"] == "AWS::CloudWatch::Alarm"]
    parameters = {name: spec["Default"] for name, spec in template["Parameters"].items()}
    assert alarm["Namespace"] == {"Ref": "MetricsNamespace"}
    assert alarm["MetricName"] == ASSUME_ROLE_FAILURES
    assert alarm["Dimensions"] == [{"Name": "service", "Value": {"Ref": "ServiceName"}}]

    # What one failed AssumeRole puts in the EMF of a function with those namespace and service.
    metrics = EphemeralMetrics(namespace=parameters["MetricsNamespace"], service=parameters["ServiceName"])
    MetricsObserver(metrics).refreshed(
        Refresh("reports", "arn:aws:iam::111122223333:role/reports", FAILED, 1.0, None, "AccessDenied")
    )
    metrics.flush_metrics()
    (blob,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    (directive,) = blob["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == parameters["MetricsNamespace"]
    assert {"Name": ASSUME_ROLE_FAILURES, "Unit": "Count"} in directive["Metrics"]
    assert directive["Dimensions"] == [["service"]]
    assert blob["service"] == parameters["ServiceName"]
    assert blob[ASSUME_ROLE_FAILURES] == [1.0]


def test_the_service_is_the_sam_examples(template):
    sam, problems = decode(str(SAM / "template.yaml"))
    assert not problems
    assert sam is not None
    service = sam["Globals"]["Function"]["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"]
    assert template["Parameters"]["ServiceName"]["Default"] == service
