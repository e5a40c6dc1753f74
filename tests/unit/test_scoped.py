"""Entries without a RoleArn: the caller's own credentials, scoped down with STS GetScopedCredentials.

moto does not answer GetScopedCredentials: the provider's tests talk to the ``fake_sts`` fixture
(tests/fake_sts.py), a loopback server that answers it and forwards the rest to moto.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
import uuid
from types import SimpleNamespace
from typing import Any

import boto3
import pytest

import powertools_sts.testing as plugin
from powertools_sts import AssumeRoleError, ConfigurationError, STSProvider, answers, get_credentials, sts, validation
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


# -- STSProvider.get_scoped_credentials over the fake STS ----------------------------------------------


def test_round_trip_then_cache_hit_force_fetch_and_max_age_zero(fake_sts):
    provider = STSProvider()
    creds = provider.get_scoped_credentials(Policy=POLICY, DurationSeconds=900, ScopedSessionDescription="nightly")
    issued = fake_sts.issued[creds.access_key_id]
    assert (issued.action, issued.policy, issued.duration_seconds) == ("GetScopedCredentials", POLICY_TEXT, 900)
    assert issued.scoped_session_description == "nightly"
    assert creds.assumed_role_arn == fake_sts.caller_arn  # SessionInfo.Arn: the caller's own identity
    assert 840 < creds.expiration.timestamp() - time.time() <= 900

    again = provider.get_scoped_credentials(Policy=POLICY_TEXT, DurationSeconds=900, ScopedSessionDescription="nightly")
    assert again is creds  # the same entry: a dict policy is keyed by its compact JSON
    assert fake_sts.count("GetScopedCredentials") == 1

    forced = provider.get_scoped_credentials(
        Policy=POLICY, DurationSeconds=900, ScopedSessionDescription="nightly", force_fetch=True
    )
    assert forced.access_key_id != creds.access_key_id
    assert fake_sts.count("GetScopedCredentials") == 2
    assert (
        provider.get_scoped_credentials(Policy=POLICY, DurationSeconds=900, ScopedSessionDescription="nightly")
        is forced
    )

    uncached = [provider.get_scoped_credentials(DurationSeconds=600, max_age=0) for _ in range(2)]
    assert len({c.access_key_id for c in uncached}) == 2
    assert fake_sts.count("GetScopedCredentials") == 4
    assert provider.fetch_from_cache({"DurationSeconds": 600}) is None  # max_age=0 stores nothing
    assert (
        provider.fetch_from_cache({"Policy": POLICY, "DurationSeconds": 900, "ScopedSessionDescription": "nightly"})
        is forced
    )


def test_without_duration_the_credentials_inherit_the_callers_expiry(fake_sts):
    fake_sts.lifetime = 1800
    creds = STSProvider().get_scoped_credentials(Policy=POLICY)
    assert fake_sts.issued[creds.access_key_id].duration_seconds is None  # not sent: STS's default applies
    assert 1740 < creds.expiration.timestamp() - time.time() <= 1800


def test_scoped_and_assumed_entries_of_one_provider_never_share_credentials(fake_sts):
    provider = STSProvider()
    scoped = provider.get_scoped_credentials(Policy=POLICY, DurationSeconds=900)
    assumed = provider.get(ROLE, Policy=POLICY, DurationSeconds=900)
    assert scoped.access_key_id != assumed.access_key_id
    assert (fake_sts.count("GetScopedCredentials"), fake_sts.count("AssumeRole")) == (1, 1)
    assert fake_sts.issued[assumed.access_key_id].role_arn == ROLE
    assert "RoleSessionName" not in fake_sts.issued[scoped.access_key_id].params  # no default for GetScopedCredentials


def test_invalid_parameters_are_refused_before_any_call(fake_sts):
    provider = STSProvider()
    with pytest.raises(ConfigurationError, match=r"^GetScopedCredentials needs Policy, DurationSeconds or both"):
        provider.get_scoped_credentials(ScopedSessionDescription="nightly")
    with pytest.raises(ConfigurationError, match=r"assumes no role: call get\(role_arn, \.\.\.\)"):
        provider.get_scoped_credentials(RoleArn=ROLE, DurationSeconds=900)
    with pytest.raises(ConfigurationError, match=r"^force_fetch must be True or False"):
        provider.get_scoped_credentials(DurationSeconds=900, force_fetch="yes")
    with pytest.raises(ConfigurationError, match="max_age must be None, -1 or >= 0 seconds"):
        provider.get_scoped_credentials(DurationSeconds=900, max_age=-5)
    assert fake_sts.actions == []


def test_a_scope_down_of_assumed_credentials_keeps_their_identity(fake_sts):
    # The fake STS answers as STS does: SessionInfo.Arn is the signer's session, here one it issued through moto.
    assumed = STSProvider().get(ROLE, RoleSessionName="tenant-a", Tags=[{"Key": "TenantID", "Value": "a"}])
    assert fake_sts.issued[assumed.access_key_id].tags == {"TenantID": "a"}
    assert fake_sts.issued[assumed.access_key_id].role_session_name == "tenant-a"
    session = boto3.Session(**assumed.as_boto3_kwargs(), region_name="us-east-1")
    scoped = STSProvider(boto3_session=session).get_scoped_credentials(Policy=POLICY)
    issued = fake_sts.issued[scoped.access_key_id]
    assert issued.signed_with == assumed.access_key_id
    assert scoped.assumed_role_arn == assumed.assumed_role_arn


# -- errors ----------------------------------------------------------------------------------------------


def test_malformed_policy_document_becomes_an_assume_role_error_with_the_fix_and_no_secret(fake_sts, caplog):
    marker = "arn:aws:s3:::internal-bucket-7f3a/*"
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": marker}]}
    fake_sts.fail("MalformedPolicyDocument", "Syntax errors in policy.")
    provider = STSProvider()
    with caplog.at_level(logging.DEBUG), pytest.raises(AssumeRoleError) as raised:
        provider.get_scoped_credentials(Policy=policy, DurationSeconds=900)
    error = raised.value
    assert (error.code, error.role_arn, error.entry) == ("MalformedPolicyDocument", None, None)
    assert str(error) == (
        "GetScopedCredentials failed: MalformedPolicyDocument: Syntax errors in policy. (fix: the Policy must be an "
        "IAM policy document STS accepts: Version 2012-10-17 and Statements with Effect, Action and Resource)"
    )
    assert marker not in str(error)
    assert fake_sts.count("GetScopedCredentials") == 1  # not retried

    with caplog.at_level(logging.DEBUG):  # botocore logs the answer's body at DEBUG: masked
        creds = provider.get_scoped_credentials(Policy=policy, DurationSeconds=900)
    assert creds.access_key_id in fake_sts.issued
    assert "<SecretAccessKey>***</SecretAccessKey>" in caplog.text
    assert creds.secret_access_key not in caplog.text
    assert creds.session_token not in caplog.text


@pytest.mark.parametrize(
    ("code", "fix"),
    [
        ("InsufficientSessionLifetime", "DurationSeconds is longer than the calling session has left"),
        ("InvalidSubjectCredentials", "GetScopedCredentials needs valid temporary credentials"),
        ("PackedPolicyTooLarge", "shorten the Policy"),
        ("AccessDenied", "the function's own policy must allow sts:GetScopedCredentials"),
    ],
)
def test_each_error_of_the_operation_ends_with_its_fix(fake_sts, code, fix):
    fake_sts.fail(code)
    with pytest.raises(AssumeRoleError, match=rf"^GetScopedCredentials failed: {code}: ") as raised:
        STSProvider().get_scoped_credentials(DurationSeconds=900)
    assert f"(fix: {fix}" in str(raised.value)


def test_a_duration_beyond_the_calling_session_is_sts_s_insufficient_session_lifetime(fake_sts):
    fake_sts.lifetime = 600
    with pytest.raises(AssumeRoleError) as raised:
        STSProvider().get_scoped_credentials(DurationSeconds=900)
    assert raised.value.code == "InsufficientSessionLifetime"


def test_an_entry_is_named_in_the_messages():
    error = answers.error_from(TimeoutError("timed out"), None, "tenant-a")
    assert str(error) == "GetScopedCredentials failed for entry 'tenant-a': TimeoutError: timed out"
    assert answers.where(None, "tenant-a") == "entry 'tenant-a' (GetScopedCredentials)"
    with pytest.raises(
        AssumeRoleError, match=r"^GetScopedCredentials for entry 'tenant-a' returned a response without"
    ):
        answers.credentials_from({"SessionInfo": {"Arn": "x"}}, None, "tenant-a")


def test_credentials_at_the_floor_are_refused(fake_sts, clock):
    clock.advance(900 - 30)  # this host's clock runs 14.5 minutes ahead of STS's
    with pytest.raises(AssumeRoleError) as raised:
        STSProvider().get_scoped_credentials(DurationSeconds=900)
    message = str(raised.value)
    assert re.match(
        r"^GetScopedCredentials returned credentials that expire in [23]\d s, not more than the 60 s floor", message
    )
    assert raised.value.role_arn is None


def test_a_failed_refresh_serves_the_still_valid_credentials(fake_sts, clock):
    provider = STSProvider()
    creds = provider.get_scoped_credentials(DurationSeconds=900)
    clock.advance(700)  # in the refresh window, 200 s left: above the floor
    fake_sts.fail("PackedPolicyTooLarge")
    assert provider.get_scoped_credentials(DurationSeconds=900) is creds
    assert fake_sts.count("GetScopedCredentials") == 2


# -- the shared /tmp cache of Managed Instances -----------------------------------------------------------


@pytest.fixture
def private_tmp(tmp_path, monkeypatch):
    import tempfile

    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr(tempfile, "tempdir", None)  # tempfile caches gettempdir(): read TMPDIR again
    yield tmp_path
    tempfile.tempdir = None


def test_providers_sharing_the_cache_scope_down_once(fake_sts, private_tmp):
    # Two providers stand for two worker processes (each with its own memory cache): one GetScopedCredentials.
    first, second = STSProvider(shared_cache=True), STSProvider(shared_cache=True)
    creds = first.get_scoped_credentials(Policy=POLICY, DurationSeconds=900)
    assert second.get_scoped_credentials(Policy=POLICY, DurationSeconds=900).access_key_id == creds.access_key_id
    assert fake_sts.count("GetScopedCredentials") == 1
    files = list((private_tmp / f"powertools-sts-{os.getuid()}").glob("*.json"))
    assert len(files) == 1
    assert creds.secret_access_key not in files[0].read_text() or files[0].stat().st_mode & 0o077 == 0

    second.get_scoped_credentials(Policy=POLICY, DurationSeconds=1200)  # other parameters: another file
    second.get(ROLE, Policy=POLICY, DurationSeconds=900)  # AssumeRole of the same policy: another file
    assert (fake_sts.count("GetScopedCredentials"), fake_sts.count("AssumeRole")) == (2, 1)
    assert len(list(files[0].parent.glob("*.json"))) == 3


# -- sts_stub, the package's pytest plugin ---------------------------------------------------------------

sts_stub = (
    plugin.sts_stub
)  # the plugin's fixture as a module fixture (the suite runs with -p no:powertools_sts.testing)


def test_sts_stub_answers_and_records_get_scoped_credentials(sts_stub, clock):
    provider = STSProvider()
    creds = provider.get_scoped_credentials(Policy=POLICY, DurationSeconds=900, ScopedSessionDescription="nightly")
    assert (
        provider.get_scoped_credentials(Policy=POLICY, DurationSeconds=900, ScopedSessionDescription="nightly") is creds
    )
    assumed = provider.get(ROLE, DurationSeconds=900)

    [call] = sts_stub.scoped_calls
    assert (call.operation, call.role_arn, call.access_key_id) == ("GetScopedCredentials", "", creds.access_key_id)
    assert (call.policy, call.duration_seconds, call.scoped_session_description) == (POLICY_TEXT, 900, "nightly")
    assert "RoleSessionName" not in call.params
    assert [c.operation for c in sts_stub.calls] == ["GetScopedCredentials", "AssumeRole"]
    assert sts_stub.role_arns == [ROLE]  # AssumeRole's only
    assert creds.access_key_id.startswith("ASIA")
    assert len(creds.access_key_id) == 20
    assert creds.access_key_id != assumed.access_key_id
    assert creds.expiration.timestamp() == int(clock.time) + 900
    assert creds.assumed_role_arn == "arn:aws:sts::123456789012:assumed-role/test/sts-stub"  # the caller's own

    again = STSProvider().get_scoped_credentials(Policy=POLICY, DurationSeconds=900, ScopedSessionDescription="nightly")
    assert again.access_key_id == creds.access_key_id  # equal parameters, equal fake credentials
    other = STSProvider().get_scoped_credentials(Policy=POLICY, DurationSeconds=1200)
    assert other.access_key_id != creds.access_key_id


def test_sts_stub_fails_get_scoped_credentials_on_demand(sts_stub):
    sts_stub.fail("GetScopedCredentials", code="MalformedPolicyDocument", times=1)
    provider = STSProvider()
    assert provider.get(ROLE).access_key_id == sts_stub.access_key_id_for(ROLE)  # a rule for scope-downs only
    with pytest.raises(AssumeRoleError, match=r"^GetScopedCredentials failed: MalformedPolicyDocument: ") as raised:
        provider.get_scoped_credentials(Policy=POLICY)
    assert raised.value.role_arn is None
    assert provider.get_scoped_credentials(Policy=POLICY).access_key_id == sts_stub.scoped_calls[-1].access_key_id
    assert [(c.error_code, c.access_key_id is None) for c in sts_stub.scoped_calls] == [
        ("MalformedPolicyDocument", True),
        (None, False),
    ]

    sts_stub.only(ROLE)  # GetScopedCredentials is not in the list: refused as STS would refuse it
    with pytest.raises(AssumeRoleError, match="is not authorized to perform: sts:GetScopedCredentials") as denied:
        provider.get_scoped_credentials(Policy=POLICY, force_fetch=True)
    assert denied.value.code == "AccessDenied"
    assert "sts:GetScopedCredentials" in str(denied.value)


# -- entries of the sts layer without a role: static, per tenant, chained ---------------------------------


def test_an_sts_entry_without_a_role_scopes_the_functions_own_credentials_down(fake_sts):
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}
    name = f"narrow-{uuid.uuid4().hex[:8]}"

    @sts(fetch_data={name: {"Policy": json.dumps(policy), "ScopedSessionDescription": "reports"}})
    def handler(event: Any, context: Any) -> Any:
        return get_credentials(name)

    first, second = handler({}, None), handler({}, None)
    assert first is second
    issued = fake_sts.issued[first.access_key_id]
    assert issued.action == "GetScopedCredentials"
    assert json.loads(issued.policy) == policy
    assert fake_sts.count("GetScopedCredentials") == 1  # prefetched when applied, then served from the cache
    assert fake_sts.count("AssumeRole") == 0


def test_a_per_tenant_entry_without_a_role_scopes_down_per_tenant(fake_sts):
    name = f"mine-{uuid.uuid4().hex[:8]}"

    def narrowed(tenant: str) -> dict[str, Any]:
        statement = {"Effect": "Allow", "Action": "s3:*", "Resource": f"arn:aws:s3:::data/{tenant}/*"}
        return {"Policy": json.dumps({"Version": "2012-10-17", "Statement": [statement]})}

    @sts(fetch_data={name: narrowed})
    def handler(event: Any, context: Any) -> Any:
        return get_credentials(name)

    for tenant in ("acme", "beta", "acme"):
        creds = handler({}, SimpleNamespace(tenant_id=tenant))
        assert f"data/{tenant}/" in fake_sts.issued[creds.access_key_id].policy
    assert fake_sts.count("GetScopedCredentials") == 2  # once per tenant, never at INIT
