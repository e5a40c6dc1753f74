"""The files docs/security.md includes: the IAM policy documents, and botocore's DEBUG log regenerated.

The log excerpt on the page is the output of ``examples/security/botocore_debug.py`` run against moto's
STS server, its records selected and its run-specific values (ports, dates, key ids, signatures, version
strings) replaced by placeholders. This test runs the example again and compares.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = "examples/security/botocore_debug.py"
EXCERPT = Path("docs/snippets/security/botocore_debug.txt")
EXTERNAL_ID = "audit-7f3a9c"

IAM_DOCUMENTS = [
    "examples/iam/function-role-policy.json",
    "examples/iam/function-role-policy-tags.json",
    "examples/iam/target-role-trust-policy.json",
    "examples/iam/target-role-trust-policy-tags.json",
    "examples/iam/hub-role-policy.json",
    "examples/iam/workload-role-trust-policy.json",
    "examples/iam/target-role-trust-policy-external-id.json",
]


@pytest.mark.parametrize("path", IAM_DOCUMENTS)
def test_iam_policy_document(path: str) -> None:
    """Each policy on the page is an IAM document that grants only the STS actions the page names."""
    document = json.loads((ROOT / path).read_text())
    assert document["Version"] == "2012-10-17"
    for statement in document["Statement"]:
        assert statement["Effect"] == "Allow"
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        assert "sts:AssumeRole" in actions
        assert set(actions) <= {"sts:AssumeRole", "sts:TagSession", "sts:SetSourceIdentity"}
        # A trust policy names a principal; an identity policy names the roles, never "*".
        assert ("Principal" in statement) != ("Resource" in statement)
        if "Resource" in statement:
            resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            assert all(resource.startswith("arn:aws:iam::") for resource in resources)
    if path.endswith("-external-id.json"):
        assert document["Statement"][0]["Condition"]["StringEquals"]["sts:ExternalId"] == EXTERNAL_ID
    if "-tags" in path:
        assert {"sts:TagSession", "sts:SetSourceIdentity"} <= {
            action for statement in document["Statement"] for action in statement["Action"]
        }


# -- botocore's DEBUG log ---------------------------------------------------------------------------

_RECORD = re.compile(r"^(botocore|urllib3|powertools_sts)[\w.]* (DEBUG|INFO|WARNING|ERROR) ")

#: What differs from run to run, and the placeholder the excerpt shows instead.
_PLACEHOLDERS = [
    (re.compile(r"('User-Agent': b?')[^']*'"), r"\1...'"),
    (re.compile(r"127\.0\.0\.1:\d+"), "127.0.0.1:PORT"),
    (re.compile(r"ASIA[A-Z0-9]{16}"), "ASIAXXXXXXXXXXXXXXXX"),
    (re.compile(r"AROA[A-Z0-9]{17}"), "AROAXXXXXXXXXXXXXXXXX"),
    (re.compile(r"powertools-sts-[0-9a-f]{8}"), "powertools-sts-xxxxxxxx"),
    (re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z"), "YYYY-MM-DDTHH:MM:SSZ"),
    (re.compile(r"\d{8}T\d{6}Z"), "YYYYMMDDTHHMMSSZ"),
    (re.compile(r"/\d{8}/us-east-1/"), "/YYYYMMDD/us-east-1/"),
    (re.compile(r"Signature=[0-9a-f]{64}"), "Signature=..."),
    (re.compile(r"^[0-9a-f]{64}$", re.MULTILINE), "<SHA-256 of the request body>"),
    (re.compile(r"<RequestId>[^<]+</RequestId>"), "<RequestId>...</RequestId>"),
    (re.compile(r"'amz-sdk-invocation-id': b'[^']+'"), "'amz-sdk-invocation-id': b'...'"),
    (re.compile(r" at 0x[0-9a-f]+>"), " at 0x...>"),
]


def _records(stderr: str) -> list[str]:
    records: list[str] = []
    for line in stderr.splitlines():
        if _RECORD.match(line) or not records:
            records.append(line)
        else:
            records[-1] += "\n" + line
    return records


def excerpt(stderr: str) -> str:
    """The records the page shows, with placeholders for what changes from run to run."""
    records = _records(stderr)
    chosen = [
        next(r for r in records if "Making request for OperationModel(name=AssumeRole)" in r),
        next(r for r in records if "Response body" in r and "<AssumeRoleResponse" in r),
        next(r for r in records if "CanonicalRequest" in r and "x-amz-security-token" in r),
        next(r for r in records if "Sending http request" in r and "X-Amz-Security-Token" in r),
    ]
    text = "\n".join(chosen)
    for pattern, placeholder in _PLACEHOLDERS:
        text = pattern.sub(placeholder, text)
    return text + "\n"


def run_example(moto_sts: Any) -> str:
    env = {**os.environ, "AWS_ENDPOINT_URL_STS": moto_sts.url, "PYTHONPATH": str(ROOT / "src")}
    result = subprocess.run(
        [sys.executable, EXAMPLE], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stderr


def test_the_debug_log_excerpt_is_what_botocore_logs(moto_sts: Any) -> None:
    stderr = run_example(moto_sts)
    # What the page says is masked is masked in the raw output, before any placeholder.
    assert EXTERNAL_ID not in stderr
    assert "'ExternalId': '***'" in stderr
    assert "<SecretAccessKey>***</SecretAccessKey>" in stderr
    assert "<SessionToken>***</SessionToken>" in stderr
    assert "x-amz-security-token:***" in stderr
    assert "'X-Amz-Security-Token': b'***'" in stderr
    # ... and what it says is not masked is there.
    assert "'RoleArn': 'arn:aws:iam::444455556666:role/audit'" in stderr
    assert re.search(r"<AccessKeyId>ASIA[A-Z0-9]{16}</AccessKeyId>", stderr)
    assert re.search(r"Credential=ASIA[A-Z0-9]{16}/", stderr)
    assert moto_sts.assume_role_calls == 1
    fresh = excerpt(stderr)
    assert (ROOT / EXCERPT).read_text() == fresh, f"{EXCERPT} differs from a fresh run; it is now:\n{fresh}"


@pytest.mark.parametrize(
    ("value", "accepted"),
    [
        ("Q", False),
        ("ab", True),
        ("x" * 1224, True),
        ("x" * 1225, False),
        ("AZaz09_+=,.@:/-", True),
        ("audit 7f3a9c", False),
        ("audit#7f3a9c", False),
    ],
)
def test_the_external_id_rule_the_page_states(value: str, accepted: bool) -> None:
    """2-1224 characters of ``[A-Za-z0-9_+=,.@:/-]``, and a refusal never echoes the value."""
    from powertools_sts import ConfigurationError
    from powertools_sts.validation import validate_assume_role_params

    params = {"RoleArn": "arn:aws:iam::444455556666:role/audit", "ExternalId": value}
    if accepted:
        assert validate_assume_role_params(params)["ExternalId"] == value
        return
    with pytest.raises(ConfigurationError) as caught:
        validate_assume_role_params(params)
    assert "ExternalId" in str(caught.value)
    assert value not in str(caught.value)
