"""Entries without a RoleArn: the caller's own credentials, scoped down with STS GetScopedCredentials.

moto does not answer GetScopedCredentials: the provider's tests talk to the ``fake_sts`` fixture
(tests/fake_sts.py), a loopback server that answers it and forwards the rest to moto.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from powertools_sts import ConfigurationError, validation
from powertools_sts.validation import (
    SCOPED_PARAMETERS,
    cache_key_of,
    validate_assume_role_params,
    validate_entry_params,
    validate_scoped_params,
)

from ..conftest import ROLE

POLICY = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}
POLICY_TEXT = json.dumps(POLICY, separators=(",", ":"), sort_keys=True)


def refused(params: Any, says: str, entry: str | None = "scoped") -> str:
    with pytest.raises(ConfigurationError) as raised:
        validate_scoped_params(params, entry=entry)
    message = str(raised.value)
    assert says in message
    return message


# -- validation ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "params",
    [
        {"Policy": POLICY},
        {"Policy": POLICY_TEXT},
        {"DurationSeconds": 61},
        {"DurationSeconds": 129600},
        {"Policy": POLICY, "DurationSeconds": 900, "ScopedSessionDescription": "nightly report \u00e9"},
        {"DurationSeconds": 900, "ScopedSessionDescription": "ab"},
        {"DurationSeconds": 900, "ScopedSessionDescription": "d" * 256},
        {"Policy": "{" + " " * 2046 + "}"},  # 2,048 characters
    ],
)
def test_accepted(params):
    out = validate_scoped_params(params)
    assert set(out) == set(params)
    if isinstance(params.get("Policy"), dict):
        assert out["Policy"] == POLICY_TEXT  # compact, sorted: one cache key for equal policies


@pytest.mark.parametrize(
    ("params", "says"),
    [
        ({"DurationSeconds": 0}, "entry 'scoped': DurationSeconds must be in 1..129600, got 0"),
        ({"DurationSeconds": 129601}, "entry 'scoped': DurationSeconds must be in 1..129600, got 129601"),
        ({"DurationSeconds": 900.0}, "entry 'scoped': DurationSeconds must be an int, got float"),
        ({"DurationSeconds": True}, "entry 'scoped': DurationSeconds must be an int, got bool"),
        ({"DurationSeconds": 60}, "entry 'scoped': DurationSeconds must be more than 60 s"),
        ({"DurationSeconds": 1}, "credentials that expire sooner are never served, got 1"),
        ({"Policy": POLICY, "ScopedSessionDescription": "a"}, "ScopedSessionDescription must be 2-256 characters"),
        ({"Policy": POLICY, "ScopedSessionDescription": "d" * 257}, "must be 2-256 characters long, got 257"),
        ({"Policy": POLICY, "ScopedSessionDescription": "ab\x7f"}, "'\\x7f' at position 2 is not allowed"),
        ({"Policy": POLICY, "ScopedSessionDescription": 12}, "ScopedSessionDescription must be a string, got int"),
        ({"Policy": ""}, "entry 'scoped': Policy must be 1-2048 characters long, got 0"),
        ({"Policy": "{" + " " * 2047 + "}"}, "Policy must be 1-2048 characters long, got 2049"),
        ({"Policy": "42"}, "Policy must be a JSON object (a policy document), got a number"),
        ({"Policy": '["s3:*"]'}, "Policy must be a JSON object (a policy document), got an array"),
        ({"Policy": "{'Version': 1}"}, "entry 'scoped': Policy is not valid JSON"),
        ({"Policy": '{"a": NaN}'}, "holds NaN, which JSON does not allow"),
        ({"Policy": {"a": float("inf")}}, "Policy is not serialisable to JSON"),
        ({"Policy": 42}, "Policy must be a JSON string or a dict, got int"),
        ({"Policy": '{"Sid": "\u0100"}'}, "Policy has a character outside STS's pattern"),
        ({"Policy": POLICY, "MinimumSessionTokenSize": 1024}, "GetScopedCredentials parameter that powertools_sts"),
        ({"Policy": POLICY, "Bogus": 1}, "'Bogus' is not a GetScopedCredentials parameter; accepted: Policy,"),
        ({"Policy": POLICY, "TokenCode": "123456"}, "TokenCode is not supported: an MFA token code"),
    ],
)
def test_each_constraint_is_refused_with_the_entry_and_the_field(params, says):
    refused(params, says)


@pytest.mark.parametrize("params", [{}, {"ScopedSessionDescription": "nightly"}])
def test_neither_policy_nor_duration_is_refused_as_sts_would(params):
    message = refused(params, "entry 'scoped': GetScopedCredentials needs Policy, DurationSeconds or both")
    assert "STS refuses a request with neither" in message
    assert "add a scope-down Policy, a DurationSeconds to shorten the session, or a RoleArn" in message


def test_assume_role_parameters_without_a_role_arn_say_what_is_missing():
    message = refused({"ExternalId": "partner-secret-1", "Tags": []}, "entry 'scoped': ExternalId, Tags are AssumeRole")
    assert "but there is no RoleArn" in message
    assert "add RoleArn to assume a role" in message
    assert "partner-secret-1" not in message


def test_policy_messages_never_quote_the_policy():
    secret = '{"Statement": "\u0101-internal-bucket-name"}'
    message = refused({"Policy": secret}, "Policy has a character outside STS's pattern")
    assert "internal-bucket-name" not in message


@pytest.mark.parametrize("params", [None, "arn:aws:iam::111122223333:role/r", [("Policy", "{}")]])
def test_not_a_mapping_is_refused(params):
    with pytest.raises(ConfigurationError, match="must be a mapping of GetScopedCredentials parameters"):
        validate_scoped_params(params, entry="scoped")
    with pytest.raises(ConfigurationError, match=r"^GetScopedCredentials parameters must be a mapping"):
        validate_scoped_params(params)


def test_entry_params_dispatch_on_role_arn():
    assert validate_entry_params({"RoleArn": ROLE, "Policy": POLICY}) == {"RoleArn": ROLE, "Policy": POLICY_TEXT}
    assert validate_entry_params({"Policy": POLICY}) == {"Policy": POLICY_TEXT}
    assert validate_entry_params(ROLE) == {"RoleArn": ROLE}  # a string is a RoleArn, as in fetch_data
    with pytest.raises(ConfigurationError, match=r"^entry 'e': GetScopedCredentials needs Policy"):
        validate_entry_params({}, entry="e")
    with pytest.raises(ConfigurationError, match=r"^entry 'e': DurationSeconds must be in 900\.\.43200"):
        validate_entry_params({"RoleArn": ROLE, "DurationSeconds": 120}, entry="e")  # AssumeRole's rules
    with pytest.raises(ConfigurationError, match="must be a mapping of AssumeRole parameters"):
        validate_entry_params(42, entry="e")


def test_scoped_keys_never_meet_assume_role_keys():
    scoped = validate_scoped_params({"Policy": POLICY, "DurationSeconds": 900})
    assumed = validate_assume_role_params({"RoleArn": ROLE, "Policy": POLICY, "DurationSeconds": 900})
    assert cache_key_of(scoped) != cache_key_of(assumed)
    assert "RoleArn" not in json.loads(cache_key_of(scoped))
    with pytest.raises(ConfigurationError):
        validate_scoped_params({"RoleArn": ROLE, "Policy": POLICY})  # never a scoped key with a RoleArn


def test_the_accepted_parameters_are_members_of_the_model():
    model = validation._model()
    request = model["shapes"][model["operations"]["GetScopedCredentials"]["input"]["shape"]]
    assert set(SCOPED_PARAMETERS) <= set(request["members"])
    assert set(request["members"]) - set(SCOPED_PARAMETERS) == {"MinimumSessionTokenSize"}
    assert not request.get("required")  # "at least one of" is the package's rule, not the model's


def test_an_older_botocore_without_the_operation_is_refused_naming_the_version(monkeypatch):
    # No installable component gives an old botocore here: the model lookup is faked, as botocore < 1.44.7 reads.
    model = validation._model()
    operations = {name: op for name, op in model["operations"].items() if name != "GetScopedCredentials"}
    monkeypatch.setattr(validation, "_model", lambda: {**model, "operations": operations})
    import botocore

    with pytest.raises(ConfigurationError) as raised:
        validate_scoped_params({"DurationSeconds": 900}, entry="scoped")
    assert str(raised.value) == (
        f"entry 'scoped': GetScopedCredentials is not in the STS model of the installed botocore "
        f"{botocore.__version__}: it needs botocore 1.44.7 or later (pip install --upgrade boto3 botocore)"
    )
    assert validate_assume_role_params({"RoleArn": ROLE}) == {"RoleArn": ROLE}  # AssumeRole entries still work
    assert re.fullmatch(r"\d+\.\d+\.\d+", validation._SINCE["GetScopedCredentials"])
