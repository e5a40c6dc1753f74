"""Every rule of the issue's Validation section, table-driven, plus the provider refusing before any STS call."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from collections.abc import Iterator
from types import MappingProxyType
from typing import Any

import pytest

from powertools_sts import ConfigurationError, STSProvider, _state, validation
from powertools_sts.validation import (
    ASSUME_ROLE_PARAMETERS,
    cache_key_of,
    validate_assume_role_params,
    validate_max_age,
    validate_refresh_margin,
)

from ..conftest import ROLE

POLICY_ARN = "arn:aws:iam::aws:policy/ReadOnlyAccess"
PROVIDER_ARN = "arn:aws:iam::aws:contextProvider/IdentityCenter"
LONG_ROLE = "arn:aws:iam::111122223333:role/" + "p" * 2202 + "/r"  # 2,235 characters, a well-formed IAM role ARN
LONG_POLICY_ARN = "arn:aws:iam::aws:policy/" + "p" * 2030  # 2,054 characters
POLICY = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}


def tags(count: int) -> list[dict[str, str]]:
    return [{"Key": f"k{i}", "Value": f"v{i}"} for i in range(count)]


def check(**params):
    return validate_assume_role_params({"RoleArn": ROLE, **params})


# -- accepted values ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "role_arn",
    [
        ROLE,
        "arn:aws-cn:iam::111122223333:role/reports",
        "arn:aws-us-gov:iam::111122223333:role/reports",
        "arn:aws-iso-b:iam::111122223333:role/reports",
        "arn:aws:iam::111122223333:role/service-role/reports",
        "arn:aws:iam::111122223333:role/team/a/b/c/reports",
        "arn:aws:iam::111122223333:role/r",
        "arn:aws:iam::111122223333:role/" + "r" * 64,
        "arn:aws:iam::111122223333:role/Name_with+=,.@-",
    ],
)
def test_role_arn_accepted(role_arn):
    assert validate_assume_role_params({"RoleArn": role_arn}) == {"RoleArn": role_arn}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("RoleSessionName", "ab"),
        ("RoleSessionName", "s" * 64),
        ("RoleSessionName", "aZ09_+=,.@-"),
        ("SourceIdentity", "ab"),
        ("SourceIdentity", "i" * 64),
        ("SourceIdentity", "alice@example.com"),
        ("DurationSeconds", 900),
        ("DurationSeconds", 3600),
        ("DurationSeconds", 43200),
        ("ExternalId", "ab"),
        ("ExternalId", "e" * 1224),
        ("ExternalId", "urn:partner/Id_+=,.@-1"),
        ("Tags", []),
        ("Tags", tags(50)),
        ("Tags", [{"Key": "k" * 128, "Value": "v" * 256}]),
        ("Tags", [{"Key": "k", "Value": ""}]),
        ("PolicyArns", []),
        ("PolicyArns", [{"arn": POLICY_ARN}]),
        ("PolicyArns", [{"arn": f"arn:aws:iam::111122223333:policy/p{i}"} for i in range(10)]),
        ("PolicyArns", [{"arn": "arn:aws-cn:iam::111122223333:policy/path/to/p"}]),
        ("Policy", '{"Version": "2012-10-17", "Statement": []}'),
        ("Policy", json.dumps({"Sid": "s" * 2030})),
        ("ProvidedContexts", [{"ProviderArn": PROVIDER_ARN, "ContextAssertion": "abcd"}]),
        ("ProvidedContexts", [{"ProviderArn": PROVIDER_ARN, "ContextAssertion": "a" * 2048}] * 5),
    ],
)
def test_accepted_values_pass_unchanged(field, value):
    assert check(**{field: value}) == {"RoleArn": ROLE, field: value}


def test_every_parameter_together():
    params = {
        "RoleArn": ROLE,
        "RoleSessionName": "nightly",
        "DurationSeconds": 1800,
        "ExternalId": "partner-1234",
        "Policy": POLICY,
        "PolicyArns": [{"arn": POLICY_ARN}],
        "Tags": [{"Key": "team", "Value": "data"}],
        "TransitiveTagKeys": ["team"],
        "SourceIdentity": "alice",
        "ProvidedContexts": [{"ProviderArn": PROVIDER_ARN, "ContextAssertion": "assertion"}],
    }
    out = validate_assume_role_params(params)
    assert set(out) == set(ASSUME_ROLE_PARAMETERS)
    assert out["Policy"] == json.dumps(POLICY, separators=(",", ":"), sort_keys=True)
    assert params["Policy"] is POLICY  # the input is not modified
    assert out is not params


def test_policy_dict_is_serialised_compactly():
    out = check(Policy=POLICY)
    assert out["Policy"] == (
        '{"Statement":[{"Action":"s3:GetObject","Effect":"Allow","Resource":"*"}],"Version":"2012-10-17"}'
    )
    assert json.loads(out["Policy"]) == POLICY


def test_policy_dict_is_measured_after_compact_serialisation():
    # Pretty-printed this policy is over 2048 characters; compact it is under.
    policy = {"Version": "2012-10-17", "Statement": [{"Sid": f"s{i}", "Effect": "Allow"} for i in range(50)]}
    assert len(json.dumps(policy, indent=4)) > 2048
    assert len(check(Policy=policy)["Policy"]) <= 2048


def test_policy_string_is_kept_as_given():
    text = '{ "Version" : "2012-10-17" }'
    assert check(Policy=text)["Policy"] == text


def test_lists_are_normalised_to_lists_of_plain_dicts():
    out = check(
        Tags=({"Key": "team", "Value": "data"},),
        PolicyArns=({"arn": POLICY_ARN},),
        TransitiveTagKeys=("team",),
    )
    assert out["Tags"] == [{"Key": "team", "Value": "data"}]
    assert out["PolicyArns"] == [{"arn": POLICY_ARN}]
    assert out["TransitiveTagKeys"] == ["team"]


def test_transitive_tag_keys_in_tags_are_accepted():
    out = check(Tags=[{"Key": "team", "Value": "a"}, {"Key": "env", "Value": "b"}], TransitiveTagKeys=["team", "env"])
    assert out["TransitiveTagKeys"] == ["team", "env"]


# -- refused values: every message names the field ------------------------------------------------

REFUSED = [
    # RoleArn
    ({"RoleArn": "reports"}, "RoleArn"),
    ({"RoleArn": "arn:aws:iam::11112222333:role/reports"}, "RoleArn"),  # 11 digits
    ({"RoleArn": "arn:aws:iam::1111222233334:role/reports"}, "RoleArn"),  # 13 digits
    ({"RoleArn": "arn:aws:iam::111122223333:user/reports"}, "RoleArn"),
    ({"RoleArn": "arn:aws:sts::111122223333:assumed-role/reports/s"}, "RoleArn"),
    ({"RoleArn": "arn:aws:iam::111122223333:role/"}, "RoleArn"),
    ({"RoleArn": "arn:aws:iam::111122223333:role/" + "r" * 65}, "RoleArn"),
    ({"RoleArn": "arn:aws:iam::111122223333:role/has space"}, "RoleArn"),
    ({"RoleArn": "arn:azure:iam::111122223333:role/reports"}, "RoleArn"),
    ({"RoleArn": " " + ROLE}, "RoleArn"),
    ({"RoleArn": ROLE + "\n"}, "RoleArn"),
    ({"RoleArn": 111122223333}, "RoleArn"),
    ({"RoleArn": None}, "RoleArn"),
    # RoleSessionName and SourceIdentity
    ({"RoleSessionName": "a"}, "RoleSessionName"),
    ({"RoleSessionName": ""}, "RoleSessionName"),
    ({"RoleSessionName": "s" * 65}, "RoleSessionName"),
    ({"RoleSessionName": "has space"}, "RoleSessionName"),
    ({"RoleSessionName": "colon:x"}, "RoleSessionName"),
    ({"RoleSessionName": "slash/x"}, "RoleSessionName"),
    ({"RoleSessionName": "caf\u00e9"}, "RoleSessionName"),
    ({"RoleSessionName": 12}, "RoleSessionName"),
    ({"SourceIdentity": "a"}, "SourceIdentity"),
    ({"SourceIdentity": "i" * 257}, "SourceIdentity"),  # the model's maximum: 64 in older botocore, 256 now
    ({"SourceIdentity": "al ice"}, "SourceIdentity"),
    ({"SourceIdentity": None}, "SourceIdentity"),
    # DurationSeconds
    ({"DurationSeconds": 899}, "DurationSeconds"),
    ({"DurationSeconds": 43201}, "DurationSeconds"),
    ({"DurationSeconds": 0}, "DurationSeconds"),
    ({"DurationSeconds": -3600}, "DurationSeconds"),
    ({"DurationSeconds": True}, "DurationSeconds"),
    ({"DurationSeconds": False}, "DurationSeconds"),
    ({"DurationSeconds": 900.0}, "DurationSeconds"),
    ({"DurationSeconds": "900"}, "DurationSeconds"),
    ({"DurationSeconds": None}, "DurationSeconds"),
    # ExternalId
    ({"ExternalId": "a"}, "ExternalId"),
    ({"ExternalId": "e" * 1225}, "ExternalId"),
    ({"ExternalId": "has space"}, "ExternalId"),
    ({"ExternalId": "semi;colon"}, "ExternalId"),
    ({"ExternalId": 123456}, "ExternalId"),
    # Tags
    ({"Tags": tags(51)}, "Tags"),
    ({"Tags": {"Key": "k", "Value": "v"}}, "Tags"),
    ({"Tags": "team=data"}, "Tags"),
    ({"Tags": ["team"]}, "Tags"),
    ({"Tags": [{"Key": "k"}]}, "Tags"),
    ({"Tags": [{"Value": "v"}]}, "Tags"),
    ({"Tags": [{"Key": "k", "Value": "v", "Extra": "x"}]}, "Tags"),
    ({"Tags": [{"Key": "", "Value": "v"}]}, "Tags Key"),
    ({"Tags": [{"Key": "k" * 129, "Value": "v"}]}, "Tags Key"),
    ({"Tags": [{"Key": 1, "Value": "v"}]}, "Tags Key"),
    ({"Tags": [{"Key": "k", "Value": "v" * 257}]}, "Tags Value"),
    ({"Tags": [{"Key": "k", "Value": None}]}, "Tags Value"),
    ({"Tags": [{"Key": "team", "Value": "a"}, {"Key": "team", "Value": "b"}]}, "Tags"),
    ({"Tags": [{"Key": "Team", "Value": "a"}, {"Key": "team", "Value": "b"}]}, "Tags"),
    # PolicyArns
    ({"PolicyArns": [{"arn": f"arn:aws:iam::111122223333:policy/p{i}"} for i in range(11)]}, "PolicyArns"),
    ({"PolicyArns": POLICY_ARN}, "PolicyArns"),
    ({"PolicyArns": [POLICY_ARN]}, "PolicyArns"),
    ({"PolicyArns": [{"Arn": POLICY_ARN}]}, "PolicyArns"),
    ({"PolicyArns": [{}]}, "PolicyArns"),
    ({"PolicyArns": [{"arn": ROLE}]}, "PolicyArns arn"),
    ({"PolicyArns": [{"arn": 7}]}, "PolicyArns arn"),
    # Policy
    ({"Policy": "{not json"}, "Policy"),
    ({"Policy": ""}, "Policy"),
    ({"Policy": json.dumps({"Sid": "s" * 2048})}, "Policy"),
    ({"Policy": {"Sid": "s" * 2048}}, "Policy"),
    ({"Policy": {"Resource": {"a", "set"}}}, "Policy"),
    ({"Policy": ["Statement"]}, "Policy"),
    ({"Policy": 42}, "Policy"),
    ({"Policy": b"{}"}, "Policy"),
    ({"Policy": {"n": 10**5000}}, "Policy"),
    # TransitiveTagKeys
    ({"TransitiveTagKeys": ["team"]}, "TransitiveTagKeys"),
    ({"Tags": [{"Key": "env", "Value": "x"}], "TransitiveTagKeys": ["team"]}, "TransitiveTagKeys"),
    ({"TransitiveTagKeys": "team"}, "TransitiveTagKeys"),
    ({"TransitiveTagKeys": [""]}, "TransitiveTagKeys"),
    ({"TransitiveTagKeys": ["k" * 129]}, "TransitiveTagKeys"),
    ({"Tags": tags(50), "TransitiveTagKeys": [f"k{i}" for i in range(50)] + ["k0"]}, "TransitiveTagKeys"),
    # ProvidedContexts
    ({"ProvidedContexts": {"ProviderArn": PROVIDER_ARN, "ContextAssertion": "abcd"}}, "ProvidedContexts"),
    ({"ProvidedContexts": [{"ProviderArn": PROVIDER_ARN, "ContextAssertion": "abcd"}] * 6}, "ProvidedContexts"),
    ({"ProvidedContexts": [{"ProviderArn": PROVIDER_ARN}]}, "ProvidedContexts"),
    ({"ProvidedContexts": [{"ContextAssertion": "abcd"}]}, "ProvidedContexts"),
    ({"ProvidedContexts": ["x"]}, "ProvidedContexts"),
    (
        {"ProvidedContexts": [{"ProviderArn": PROVIDER_ARN, "ContextAssertion": "abcd", "Other": 1}]},
        "ProvidedContexts",
    ),
    ({"ProvidedContexts": [{"ProviderArn": "arn:short", "ContextAssertion": "abcd"}]}, "ProvidedContexts ProviderArn"),
    (
        {"ProvidedContexts": [{"ProviderArn": PROVIDER_ARN, "ContextAssertion": "abc"}]},
        "ProvidedContexts ContextAssertion",
    ),
    (
        {"ProvidedContexts": [{"ProviderArn": PROVIDER_ARN, "ContextAssertion": "a" * 3073}]},  # 2048, now 3072
        "ProvidedContexts ContextAssertion",
    ),
]


@pytest.mark.parametrize(("params", "field"), REFUSED)
def test_refused_values_name_the_field(params, field):
    with pytest.raises(ConfigurationError) as raised:
        validate_assume_role_params({"RoleArn": ROLE, **params})
    assert str(raised.value).startswith(field + " ")


@pytest.mark.parametrize(("params", "field"), REFUSED)
def test_refused_values_name_the_entry_and_the_field(params, field):
    with pytest.raises(ConfigurationError) as raised:
        validate_assume_role_params({"RoleArn": ROLE, **params}, entry="orders")
    assert str(raised.value).startswith(f"entry 'orders': {field} ")


def test_configuration_error_is_a_value_error():
    with pytest.raises(ValueError):
        check(DurationSeconds=1)


@pytest.mark.parametrize(
    "external_id", ["TOP SECRET shared id", "Q", "partner;12345678", "Z" * 1225, 987654321, ["partner-1234"]]
)
@pytest.mark.parametrize("entry", [None, "orders"])
def test_external_id_message_never_echoes_the_value(external_id, entry):
    with pytest.raises(ConfigurationError) as raised:
        validate_assume_role_params({"RoleArn": ROLE, "ExternalId": external_id}, entry=entry)
    message = str(raised.value)
    assert "ExternalId" in message
    assert "2-1224" in message
    assert str(external_id) not in message
    assert "SECRET" not in message
    assert "partner" not in message


@pytest.mark.parametrize("name", ["RoleARN", "roleArn", "role_arn", "Duration", "durationSeconds", "Region", "tags"])
def test_unknown_parameter_names_are_refused_with_the_accepted_list(name):
    with pytest.raises(ConfigurationError) as raised:
        check(**{name: "x"})
    message = str(raised.value)
    assert repr(name) in message
    assert "not an AssumeRole parameter" in message
    for accepted in ASSUME_ROLE_PARAMETERS:
        assert accepted in message


def test_unknown_parameter_name_names_the_entry():
    with pytest.raises(ConfigurationError, match=r"^entry 'orders': 'RoleARN' is not an AssumeRole parameter"):
        validate_assume_role_params({"RoleArn": ROLE, "RoleARN": ROLE}, entry="orders")


@pytest.mark.parametrize("name", ["SerialNumber", "TokenCode"])
@pytest.mark.parametrize("entry", [None, "orders"])
def test_mfa_parameters_are_refused_with_an_explanation(name, entry):
    value = "arn:aws:iam::111122223333:mfa/alice" if name == "SerialNumber" else "123456"
    with pytest.raises(ConfigurationError) as raised:
        validate_assume_role_params({"RoleArn": ROLE, name: value}, entry=entry)
    message = str(raised.value)
    assert name in message
    assert "MFA" in message
    assert "refreshed" in message
    if entry is not None:
        assert message.startswith("entry 'orders': ")


def test_role_arn_is_required():
    with pytest.raises(ConfigurationError, match=r"^RoleArn is required"):
        validate_assume_role_params({"RoleSessionName": "nightly"})
    with pytest.raises(ConfigurationError, match=r"^entry 'orders': RoleArn is required"):
        validate_assume_role_params({}, entry="orders")


@pytest.mark.parametrize("params", [ROLE, [("RoleArn", ROLE)], None, 42, b"RoleArn"])
def test_non_mapping_params_are_refused(params):
    with pytest.raises(ConfigurationError, match=r"^AssumeRole parameters must be a mapping"):
        validate_assume_role_params(params)
    with pytest.raises(ConfigurationError, match=r"^entry 'orders' must be a mapping"):
        validate_assume_role_params(params, entry="orders")


# -- max_age and refresh_margin --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("max_age", "seconds"),
    [
        (None, None),
        (-1, None),
        (-1.0, None),
        (0, 0.0),
        (0.0, 0.0),
        (1, 1.0),
        (0.5, 0.5),
        (300, 300.0),
        (86400, 86400.0),
    ],
)
def test_max_age_accepted(max_age, seconds):
    assert validate_max_age(max_age) == seconds


@pytest.mark.parametrize(
    "max_age", [-2, -0.5, -1.5, -3600, "60", "forever", True, False, math.nan, math.inf, -math.inf, [60], object()]
)
@pytest.mark.parametrize("entry", [None, "orders"])
def test_max_age_refused(max_age, entry):
    with pytest.raises(ConfigurationError) as raised:
        validate_max_age(max_age, entry=entry)
    assert str(raised.value).startswith("max_age " if entry is None else "entry 'orders': max_age ")


@pytest.mark.parametrize(("margin", "seconds"), [(0, 0.0), (60, 60.0), (300, 300.0), (450.5, 450.5), (43200, 43200.0)])
def test_refresh_margin_accepted(margin, seconds):
    assert validate_refresh_margin(margin) == seconds
    assert STSProvider(refresh_margin=margin).refresh_margin == seconds


@pytest.mark.parametrize("margin", [-1, -0.1, 43201, "300", None, True, math.nan, math.inf])
def test_refresh_margin_refused(margin):
    with pytest.raises(ConfigurationError, match=r"^refresh_margin "):
        validate_refresh_margin(margin)
    with pytest.raises(ConfigurationError, match=r"^refresh_margin "):
        STSProvider(refresh_margin=margin)


# -- the cache key ---------------------------------------------------------------------------------


def test_cache_key_is_canonical_and_covers_every_parameter():
    one = check(RoleSessionName="nightly", Policy=POLICY)
    other = validate_assume_role_params(
        {
            "Policy": json.dumps(POLICY, sort_keys=True, separators=(",", ":")),
            "RoleSessionName": "nightly",
            "RoleArn": ROLE,
        }
    )
    assert cache_key_of(one) == cache_key_of(other)
    assert cache_key_of(one) != cache_key_of(check(RoleSessionName="nightly2", Policy=POLICY))
    assert cache_key_of(check(ExternalId="ab")) != cache_key_of(check(ExternalId="ac"))
    assert cache_key_of(check()) != cache_key_of(check(DurationSeconds=3600))


# -- the provider refuses before any STS call -------------------------------------------------------

BAD_GET_OPTIONS = [
    ({"RoleARN": ROLE}, "RoleARN"),
    ({"RoleSessionName": "a"}, "RoleSessionName"),
    ({"DurationSeconds": 100}, "DurationSeconds"),
    ({"DurationSeconds": True}, "DurationSeconds"),
    ({"ExternalId": "x"}, "ExternalId"),
    ({"Tags": tags(51)}, "Tags"),
    ({"Policy": "{oops"}, "Policy"),
    ({"PolicyArns": [{"arn": "nope"}]}, "PolicyArns"),
    ({"TransitiveTagKeys": ["team"]}, "TransitiveTagKeys"),
    ({"SerialNumber": "arn:aws:iam::111122223333:mfa/alice"}, "SerialNumber"),
    ({"TokenCode": "123456"}, "TokenCode"),
    ({"max_age": -5}, "max_age"),
    ({"max_age": "60"}, "max_age"),
    ({"RoleArn": ROLE}, "RoleArn"),
    ({"transform": "json"}, "transform"),
    # issue 10, item 1: refused by the rules of STS's service model
    ({"Tags": [{"Key": "team,owner", "Value": "v"}]}, "Tags Key"),
    ({"Tags": [{"Key": "k", "Value": "a\nb"}]}, "Tags Value"),
    ({"PolicyArns": [{"arn": LONG_POLICY_ARN}]}, "PolicyArns arn"),
    ({"Policy": '{"Sid":"\u20ac"}'}, "Policy"),
    ({"Policy": "42"}, "Policy"),
    ({"Policy": "NaN"}, "Policy"),
    ({"Policy": {"n": 10**400}}, "Policy"),
    ({"ProvidedContexts": []}, "ProvidedContexts"),
    ({"DurationSeconds": 10**5000}, "DurationSeconds"),
]


@pytest.mark.parametrize(("options", "field"), BAD_GET_OPTIONS)
def test_provider_get_refuses_before_any_sts_call(moto_sts, options, field):
    provider = STSProvider()
    with pytest.raises(ConfigurationError) as raised:
        provider.get(ROLE, **options)
    assert field in str(raised.value)
    assert moto_sts.assume_role_calls == 0
    assert provider._client is None  # the client is not even built
    assert provider.cache.entries == {}


@pytest.mark.parametrize("role_arn", ["reports", "arn:aws:iam::111122223333:user/alice", None, 111122223333])
def test_provider_get_refuses_a_bad_role_arn(moto_sts, role_arn):
    with pytest.raises(ConfigurationError, match=r"^RoleArn "):
        STSProvider().get(role_arn)
    assert moto_sts.assume_role_calls == 0


def test_provider_get_refuses_a_bad_value_after_a_good_one(moto_sts):
    provider = STSProvider()
    provider.get(ROLE, RoleSessionName="nightly")
    with pytest.raises(ConfigurationError):
        provider.get(ROLE, RoleSessionName="n")
    assert moto_sts.assume_role_calls == 1


def test_provider_get_refuses_a_float_duration_even_after_the_int_was_used(moto_sts):
    provider = STSProvider()
    with pytest.raises(ConfigurationError):
        provider.get(ROLE, DurationSeconds=900.0)
    provider.get(ROLE, DurationSeconds=900)
    with pytest.raises(ConfigurationError, match="DurationSeconds"):
        provider.get(ROLE, DurationSeconds=900.0)
    assert moto_sts.assume_role_calls == 1


# -- issue 10, item 1: the gaps the hand-written rules left open ------------------------------------
# Each case below was accepted before the rules came from STS's service model (or, for the last ones,
# escaped as another exception than ConfigurationError).


GAPS = [
    # tag keys and values outside [\p{L}\p{Z}\p{N}_.:/=+\-@]
    ({"Tags": [{"Key": "team,owner", "Value": "v"}]}, "Tags Key"),
    ({"Tags": [{"Key": "a!b", "Value": "v"}]}, "Tags Key"),
    ({"Tags": [{"Key": "a\nb", "Value": "v"}]}, "Tags Key"),
    ({"Tags": [{"Key": "k", "Value": "team,owner"}]}, "Tags Value"),
    ({"Tags": [{"Key": "k", "Value": "x\ty"}]}, "Tags Value"),
    ({"Tags": [{"Key": "#k", "Value": "v"}], "TransitiveTagKeys": ["#k"]}, "Tags Key"),
    # lengths the hand-written rules did not check
    ({"RoleArn": LONG_ROLE}, "RoleArn"),
    ({"PolicyArns": [{"arn": LONG_POLICY_ARN}]}, "PolicyArns arn"),
    ({"ProvidedContexts": []}, "ProvidedContexts"),  # the model's min 1
    # Policy: a character outside \u0020-\u00FF, and values that are not policy documents
    ({"Policy": '{"Sid":"\u20ac"}'}, "Policy"),
    ({"Policy": '{"Sid":"\U0001f600"}'}, "Policy"),
    ({"Policy": "42"}, "Policy"),
    ({"Policy": "NaN"}, "Policy"),
    ({"Policy": "[]"}, "Policy"),
    ({"Policy": '"Statement"'}, "Policy"),
    ({"Policy": "null"}, "Policy"),
    ({"Policy": "true"}, "Policy"),
    ({"Policy": '{"n": NaN}'}, "Policy"),
    ({"Policy": '{"n": -Infinity}'}, "Policy"),
    ({"Policy": '{"n": 1e400}'}, "Policy"),
    ({"Policy": '{"n": 9007199254740992}'}, "Policy"),  # 2**53
    ({"Policy": {"n": math.nan}}, "Policy"),
    ({"Policy": {"n": math.inf}}, "Policy"),
    ({"Policy": {"n": 10**400}}, "Policy"),
    ({"Policy": {"n": -(2**53)}}, "Policy"),
    ({"Policy": '{"a":' + "[" * 65 + "]" * 65 + "}"}, "Policy"),
    # an int without a repr (beyond sys.get_int_max_str_digits()) escaped as ValueError
    ({"DurationSeconds": 10**5000}, "DurationSeconds"),
]


@pytest.mark.parametrize(("params", "field"), GAPS)
@pytest.mark.parametrize("entry", [None, "orders"])
def test_gaps_of_the_hand_written_rules_are_refused(params, field, entry):
    with pytest.raises(ConfigurationError) as raised:
        validate_assume_role_params({"RoleArn": ROLE, **params}, entry=entry)
    assert str(raised.value).startswith(f"{field} " if entry is None else f"entry 'orders': {field} ")


def test_a_transitive_tag_key_outside_the_pattern_is_refused_by_the_pattern():
    with pytest.raises(ConfigurationError) as raised:
        check(Tags=[{"Key": "k", "Value": "v"}], TransitiveTagKeys=["#k"])
    message = str(raised.value)
    assert message.startswith("TransitiveTagKeys must match STS's pattern ")
    assert "'#' at position 0 is not allowed" in message


def test_the_long_role_arn_is_refused_for_its_length():
    assert len(LONG_ROLE) == 2235
    with pytest.raises(
        ConfigurationError, match=r"^entry 'orders': RoleArn must be 20-2048 characters long, got 2235$"
    ):
        validate_assume_role_params({"RoleArn": LONG_ROLE}, entry="orders")


@pytest.mark.parametrize(
    ("policy", "says"),
    [
        ("42", "must be a JSON object (a policy document), got a number"),
        ("[]", "got an array"),
        ("NaN", "holds NaN, which JSON does not allow"),
        ('{"n": Infinity}', "holds Infinity"),
        ('{"n": 1e400}', "beyond the range of a double"),
        ('{"n": -9007199254740992}', "beyond +-(2**53 - 1)"),
        ({"n": 10**400}, "beyond +-(2**53 - 1)"),
        ({"n": math.nan}, "is not serialisable to JSON"),
        ('{"a":' + "[" * 65 + "]" * 65 + "}", "more than 64 deep"),
    ],
)
def test_policy_refusals_say_why(policy, says):
    with pytest.raises(ConfigurationError) as raised:
        check(Policy=policy)
    assert says in str(raised.value)


@pytest.mark.parametrize(
    "policy",
    [
        '{"n": 9007199254740991}',
        '{"n": -9007199254740991, "f": 1.5e300, "g": -0.0}',
        {"n": 2**53 - 1, "f": 1e300},
        '{"a":' + "[" * 63 + "]" * 63 + "}",
        '{"a": "[[[[' + "[" * 100 + '"}',  # brackets in a string do not nest
        '{\t"Version":\r\n"2012-10-17", "Sid": "caf\u00e9 \u00ff"}',  # tab, CR, LF and U+0020-U+00FF
        {"Sid": "\u20ac \U0001f600"},  # a dict is serialised with \\u escapes: plain ASCII
    ],
)
def test_policy_documents_within_the_rules_are_accepted(policy):
    assert json.loads(check(Policy=policy)["Policy"]) == (policy if isinstance(policy, dict) else json.loads(policy))


@pytest.mark.parametrize(
    "policy",
    ['{"Sid":"TOPSECRET\u20ac"}', '{"Sid":"TOPSECRET"', '"TOPSECRET"', '{"TOPSECRET": NaN}', {"TOPSECRET": math.inf}],
)
@pytest.mark.parametrize("entry", [None, "orders"])
def test_policy_messages_never_echo_the_policy(policy, entry):
    with pytest.raises(ConfigurationError) as raised:
        validate_assume_role_params({"RoleArn": ROLE, "Policy": policy}, entry=entry)
    assert "TOPSECRET" not in str(raised.value)
    assert "Policy" in str(raised.value)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("caf\u00e9", "\u4e2d\u6587"),  # letters of any script (\p{L})
        ("n\u0663", "\u2167\u00b2"),  # Arabic-Indic three (Nd), Roman numeral eight (Nl), superscript two (No)
        ("a b", "\u00a0\u3000\u2028"),  # spaces and separators (\p{Z})
        ("_.:/=+-@", ""),
    ],
)
def test_tag_keys_and_values_of_the_model_pattern_are_accepted(key, value):
    tags = [{"Key": key, "Value": value}]
    assert check(Tags=tags, TransitiveTagKeys=[key]) == {"RoleArn": ROLE, "Tags": tags, "TransitiveTagKeys": [key]}


def test_an_unsupported_member_of_the_model_is_refused_by_name():
    with pytest.raises(ConfigurationError) as raised:
        validate_assume_role_params({"RoleArn": ROLE, "MinimumSessionTokenSize": 1024}, entry="orders")
    message = str(raised.value)
    assert message.startswith("entry 'orders': 'MinimumSessionTokenSize' is an AssumeRole parameter that ")
    assert "does not support" in message


def test_a_parameter_missing_from_an_older_model_is_refused(monkeypatch):
    model = validation._model()
    request = model["shapes"]["AssumeRoleRequest"]
    members = {k: v for k, v in request["members"].items() if k != "ProvidedContexts"}
    older = {**model, "shapes": {**model["shapes"], "AssumeRoleRequest": {**request, "members": members}}}
    monkeypatch.setattr(validation, "_model", lambda: older)
    with pytest.raises(
        ConfigurationError, match=r"^ProvidedContexts is not in the STS model of the installed botocore "
    ):
        check(ProvidedContexts=[{"ProviderArn": PROVIDER_ARN, "ContextAssertion": "abcd"}])


def test_the_model_is_not_read_at_import_and_only_the_patterns_used_are_read():
    """Import time is cold start: nothing of the model at import; then only what an entry names, no unicodedata."""
    code = (
        "import sys, boto3, powertools_sts, powertools_sts.validation as v; "
        "assert v._model.cache_info().currsize == 0 and v._compiled.cache_info().currsize == 0; "
        "v.validate_assume_role_params({'RoleArn': 'arn:aws:iam::111122223333:role/r', 'RoleSessionName': 'ab'}); "
        "assert v._model.cache_info().currsize == 1; "
        "assert v._compiled.cache_info().currsize == 2, v._compiled.cache_info(); "
        "assert 'unicodedata' not in sys.modules and 'regex' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


# -- STS's service model: every constraint it states is enforced ------------------------------------

#: The members of AssumeRoleRequest this package refuses whatever their value, with a value the model accepts.
REFUSED_MEMBERS = {
    "SerialNumber": "arn:aws:iam::111122223333:mfa/alice",
    "TokenCode": "123456",
    "MinimumSessionTokenSize": 1024,
}
#: The (member path, constraint) pairs this test knows how to exercise. A botocore whose model states
#: any other (a new member, a new pattern, a new limit) fails test_the_model_states_what_the_test_exercises.
EXERCISED = {
    *(("RoleArn", kind) for kind in ("pattern", "min", "max", "required")),
    *(("RoleSessionName", kind) for kind in ("pattern", "min", "max", "required")),
    *(("PolicyArns[].arn", kind) for kind in ("pattern", "min", "max")),
    ("Policy", "pattern"),
    ("Policy", "min"),
    ("DurationSeconds", "min"),
    ("DurationSeconds", "max"),
    ("Tags", "max"),
    *(("Tags[].Key", kind) for kind in ("pattern", "min", "max", "required")),
    *(("Tags[].Value", kind) for kind in ("pattern", "min", "max", "required")),
    ("TransitiveTagKeys", "max"),
    *(("TransitiveTagKeys[]", kind) for kind in ("pattern", "min", "max")),
    *(("ExternalId", kind) for kind in ("pattern", "min", "max")),
    *(("SourceIdentity", kind) for kind in ("pattern", "min", "max")),
    ("ProvidedContexts", "min"),
    ("ProvidedContexts", "max"),
    *(("ProvidedContexts[].ProviderArn", kind) for kind in ("pattern", "min", "max")),
    ("ProvidedContexts[].ContextAssertion", "min"),
    ("ProvidedContexts[].ContextAssertion", "max"),
}
CONSTRAINT_KEYS = {"pattern", "min", "max", "enum", "required"}
#: Keys of a shape that constrain nothing; any other key is a trait this test does not know, and fails it.
OTHER_KEYS = {"type", "members", "member", "documentation", "sensitive", "deprecated", "deprecatedMessage", "box"}
#: Characters each model pattern takes and refuses, by the pattern's text. A botocore that changes a
#: pattern fails test_every_model_constraint_is_enforced until the change is looked at and probed here.
ARN_PATTERN = "[\\u0009\\u000A\\u000D\\u0020-\\u007E\\u0085\\u00A0-\\uD7FF\\uE000-\\uFFFD\\u10000-\\u10FFFF]+"
TAG_PATTERN = "[\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]"
PROBES = {
    ARN_PATTERN: (
        "\t\n\r ~\x85\xa0\ud7ff\ue000\ufffd\U00010000\U0001f600\U0010ffff",
        "\x00\x08\x0b\x1f\x7f\x84\x9f\ud800\udfff\ufffe\uffff",
    ),
    "[\\w+=,.@-]*": ("aZ09_+=,.@-", " /:\u00e9\u0663\n!#"),
    "[\\w+=,.@:\\/-]*": ("aZ09_+=,.@:/-", " \u00e9\u0663\n!#;"),
    "[\\u0009\\u000A\\u000D\\u0020-\\u00FF]+": (
        "\t\n\r ~\x7f\x85\xa0\u00e9\u00ff",
        "\x00\x0b\x1f\u0100\u20ac\U0001f600",
    ),
    TAG_PATTERN + "+": (
        "aZ09_.:/=+-@ \u00e9\u4e2d\u01c5\u02b0\u0663\u2167\u00b2\u00a0\u3000\u2028\u2029\U0001d400",
        ",!#*\n\t\x00\u200b\u0301\U0001f600\u00ad\u2013\u00bf",
    ),
    TAG_PATTERN + "*": ("aZ09_.:/=+-@ \u00e9\u4e2d\u0663\u2167\u00a0\u3000", ",!#*\n\t\u200b\u0301\U0001f600"),
}


def assume_role_request() -> tuple[dict[str, Any], dict[str, Any]]:
    model = _state.botocore_loader().load_service_model("sts", "service-2")
    return model["shapes"], model["shapes"][model["operations"]["AssumeRole"]["input"]["shape"]]


def model_constraints() -> dict[tuple[str, str], Any]:
    """Walk AssumeRoleRequest's members recursively: every (member path, constraint) and its value."""
    shapes, request = assume_role_request()
    found: dict[tuple[str, str], Any] = {}

    def walk(shape: dict[str, Any], path: str) -> None:
        unknown = set(shape) - CONSTRAINT_KEYS - OTHER_KEYS
        assert not unknown, f"{path or 'AssumeRoleRequest'}: keys this test does not know: {unknown}"
        found.update({(path, kind): shape[kind] for kind in ("pattern", "min", "max", "enum") if kind in shape})
        if shape["type"] == "structure":
            prefix = f"{path}." if path else ""
            found.update({(prefix + member, "required"): True for member in shape.get("required", ())})
            for member, ref in shape["members"].items():
                walk(shapes[ref["shape"]], prefix + member)
        elif shape["type"] == "list":
            walk(shapes[shape["member"]["shape"]], path + "[]")

    walk(request, "")
    return found


def test_the_model_states_what_the_test_exercises():
    _, request = assume_role_request()
    assert set(request["members"]) == set(ASSUME_ROLE_PARAMETERS) | set(REFUSED_MEMBERS)
    found = {key for key in model_constraints() if key[0].split("[")[0].split(".")[0] not in REFUSED_MEMBERS}
    assert found == EXERCISED


def test_every_model_pattern_is_read_exactly():
    """A botocore whose model gives AssumeRole (or GetScopedCredentials) a pattern this module cannot read fails here."""
    patterns = {pattern for (_, kind), pattern in model_constraints().items() if kind == "pattern"}
    model = validation._model()
    if "GetScopedCredentials" in model["operations"]:
        request = model["shapes"][model["operations"]["GetScopedCredentials"]["input"]["shape"]]
        patterns |= {
            model["shapes"][ref["shape"]]["pattern"]
            for ref in request["members"].values()
            if "pattern" in model["shapes"][ref["shape"]]
        }
    unread = sorted(pattern for pattern in patterns if validation._compiled(pattern) is None)
    assert not unread, f"patterns left to STS: {unread}"


def string_of(path: str, length: int) -> str:
    """A value of ``path`` of ``length`` characters that every other rule takes, when one exists."""
    if path == "RoleArn":
        prefix = "arn:aws:iam::111122223333:role/"
        rest = length - len(prefix)
        if rest < 1:
            return "r" * length  # shorter than any IAM role ARN: refused by that rule, not the model's
        return prefix + ("r" * rest if rest <= 64 else "p" * (rest - 2) + "/r")
    if path == "PolicyArns[].arn":
        prefix = "arn:aws:iam::aws:policy/"
        return prefix + "p" * (length - len(prefix)) if length > len(prefix) else "p" * length
    if path == "ProvidedContexts[].ProviderArn":
        return "arn:" + "a" * (length - 4)
    if path == "Policy":
        return '{"a":"' + "x" * (length - 8) + '"}' if length >= 8 else "{" * length
    return "k" * length


def with_char(path: str, char: str) -> str:
    """A short value of ``path`` that every other rule takes, holding ``char``."""
    if path == "RoleArn":
        return ROLE + char
    if path == "PolicyArns[].arn":
        return POLICY_ARN + char
    if path == "ProvidedContexts[].ProviderArn":
        return PROVIDER_ARN + char
    if path == "Policy":  # JSON whitespace between tokens, anything else inside a string
        return "{" + char + '"a":"b"}' if char in " \t\n\r" else '{"a":"' + char + '"}'
    return "ab" + char


def params_with(path: str, value: Any, inside: bool) -> dict[str, Any]:
    """Full AssumeRole parameters, valid but for ``value`` at ``path`` (``...`` leaves the member out)."""
    member = {"Key": "k", "Value": "v"}
    if path.startswith("Tags[]."):
        field = path.split(".")[1]
        tag = {**member, field: value} if value is not ... else {k: v for k, v in member.items() if k != field}
        return {"RoleArn": ROLE, "Tags": [tag]}
    if path == "TransitiveTagKeys[]":  # taken only when also a tag key; refused by its own rule first
        return {
            "RoleArn": ROLE,
            "Tags": [{"Key": value if inside else "k", "Value": "v"}],
            "TransitiveTagKeys": [value],
        }
    if path == "PolicyArns[].arn":
        return {"RoleArn": ROLE, "PolicyArns": [{"arn": value}]}
    if path.startswith("ProvidedContexts[]."):
        context = {"ProviderArn": PROVIDER_ARN, "ContextAssertion": "abcd", path.split(".")[1]: value}
        return {"RoleArn": ROLE, "ProvidedContexts": [context]}
    if path == "Tags":
        return {"RoleArn": ROLE, "Tags": [{"Key": f"k{i}", "Value": "v"} for i in range(value)]}
    if path == "TransitiveTagKeys":
        keys = [f"k{i}" for i in range(value)]
        return {"RoleArn": ROLE, "Tags": [{"Key": k, "Value": "v"} for k in keys[:50]], "TransitiveTagKeys": keys}
    if path == "ProvidedContexts":
        return {
            "RoleArn": ROLE,
            "ProvidedContexts": [{"ProviderArn": PROVIDER_ARN, "ContextAssertion": "abcd"}] * value,
        }
    params = {"RoleArn": ROLE, "RoleSessionName": "nightly", path: value}
    return {k: v for k, v in params.items() if v is not ...}


#: Required by the model, supplied by the package when absent.
SUPPLIED = {"RoleSessionName"}
#: Values just inside a model constraint that a rule of this package refuses anyway, and what it says:
#: no IAM role ARN has 20 characters, no policy document 1, and ARNs are more than the model's class.
EXTRA_RULES = {
    ("RoleArn", "min"): "an IAM role ARN",
    ("RoleArn", "pattern"): "an IAM role ARN",
    ("PolicyArns[].arn", "min"): "an IAM policy ARN",
    ("PolicyArns[].arn", "pattern"): "an IAM policy ARN",
    ("Policy", "min"): "not valid JSON",
}


def refusal(params: dict[str, Any]) -> str | None:
    try:
        validate_assume_role_params(params, entry="walk")
    except ConfigurationError as exc:
        return str(exc)
    return None


def field_of(path: str, kind: str) -> str:
    """The field a message names: a missing member's record, else the member."""
    if kind == "required" and "." in path:
        path = path.rsplit(".", 1)[0]
    return path.replace("[].", " ").replace("[]", "")


def cases(path: str, kind: str, stated: Any, shape_type: str) -> Iterator[tuple[str, Any, bool, str]]:
    """(what, value, inside, what the refusal must say) just inside and just outside one constraint."""
    if kind == "required":
        yield "present", string_of(path, 4) if path != "RoleArn" else ROLE, True, ""
        # The model requires RoleSessionName; the package supplies its default when an entry has none.
        yield "missing", ..., path in SUPPLIED, "is required" if "." not in path else f"need {path.split('.')[-1]}"
    elif kind == "pattern":
        taken, refused = PROBES[stated]
        for char in taken:
            yield f"{char!r}", with_char(path, char), True, ""
        for char in refused:
            yield f"{char!r}", with_char(path, char), False, stated
    elif shape_type == "integer":
        yield str(stated), stated, True, ""
        yield str(stated - 1 if kind == "min" else stated + 1), stated - 1 if kind == "min" else stated + 1, False, ".."
    elif shape_type == "list":
        yield f"{stated} items", stated, True, ""
        if kind == "max" or stated > 0:
            count = stated - 1 if kind == "min" else stated + 1
            yield f"{count} items", count, False, f"{stated} items"
    else:
        yield f"{stated} characters", string_of(path, stated), True, ""
        if kind == "max" or stated > 0:
            length = stated - 1 if kind == "min" else stated + 1
            yield f"{length} characters", string_of(path, length), False, str(stated)


def test_every_model_constraint_is_enforced():
    """For each constraint the model states: a value just inside is taken, one just outside refused by it."""
    shapes, _ = assume_role_request()
    types = {}

    def type_of(path: str) -> str:
        shape = assume_role_request()[1]
        for part in path.replace("[]", ".[]").split("."):
            shape = shapes[shape["member"]["shape"]] if part == "[]" else shapes[shape["members"][part]["shape"]]
        return shape["type"]

    checked = set()
    failures = []
    for (path, kind), stated in sorted(model_constraints().items()):
        top = path.split("[")[0].split(".")[0]
        if top in REFUSED_MEMBERS:
            continue
        types[path] = type_of(path)
        for what, value, inside, says in cases(path, kind, stated, types[path]):
            message = refusal(params_with(path, value, inside))
            if inside:
                extra = EXTRA_RULES.get((path, kind))
                if message is not None and not (extra and extra in message):
                    failures.append(f"{path} {kind} {what}: refused, {message}")
            elif message is None:
                failures.append(f"{path} {kind} {what}: accepted")
            elif not (message.startswith(f"entry 'walk': {field_of(path, kind)} ") and says in message):
                failures.append(f"{path} {kind} {what}: refused for another reason: {message}")
        checked.add((path, kind))
    assert not failures, "\n".join(failures)
    assert checked == EXERCISED


def test_a_missing_role_session_name_is_the_one_required_member_taken():
    """The model requires RoleSessionName; the package supplies its default when an entry has none."""
    assert model_constraints()[("RoleSessionName", "required")] is True
    assert validate_assume_role_params({"RoleArn": ROLE}) == {"RoleArn": ROLE}


@pytest.mark.parametrize(("name", "value"), list(REFUSED_MEMBERS.items()))
def test_refused_members_are_refused_even_with_values_the_model_takes(name, value):
    with pytest.raises(ConfigurationError, match=rf"^entry 'orders': '?{name}'? "):
        validate_assume_role_params({"RoleArn": ROLE, name: value}, entry="orders")


# -- reading the model's patterns ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "taken", "refused"),
    [
        ("[\\u10000-\\u10FFFF]+", ["\U00010000", "\U0010ffff"], ["\u1000", "0", "\uffff"]),
        ("[\\u0041B]+", ["AB", "BA"], ["\u041b"]),  # four digits, then a literal B
        ("[\\u10FF]+", ["\u10ff"], ["\U00010ff0", "F"]),  # four digits: no fifth to read
        ("[\\x41\\x42]+", ["AB"], ["C"]),
        ("[\\d]*", ["", "0123456789"], ["\u0663", "a"]),  # Java's \d is ASCII
        ("[\\w]+", ["aZ_9"], ["\u00e9", "-", ""]),
        ("[\\s]+", [" \t\n\x0b\f\r"], ["\xa0", "\u2028"]),
        ("[\\p{L}]+", ["a\u00e9\u4e2d"], ["1", "\u0663"]),
        ("[\\p{Lu}\\p{Nd}]+", ["A\u00c9\u0663"], ["a", "\u00e9"]),
        ("[\\p{IsN}]+", ["1\u0663\u2167"], ["a"]),
        ("[\\pN]+", ["1\u00b2"], ["a"]),
        ("[\\p{N}\u00e9]+", ["1\u00e9"], ["a", "\u00e8"]),  # a non-ASCII character listed beside \p
        ("[a-c-]+", ["a-c", "-"], ["d"]),  # a trailing "-" is a literal
        ("[-a]+", ["-a"], ["b"]),  # and so is a leading one
        ("[\\w-]+", ["a-"], ["!"]),  # and one after a class
        ("[+\\-/]+", ["+-/"], [",", "."]),  # an escaped "-" is a literal, not a range
        ("[\\u0100-\\u0200\\u0150-\\u0300]+", ["\u0100\u0250\u0300"], ["\u0301", "a"]),  # overlapping ranges
        ("[ab]", ["a", "b"], ["", "ab"]),  # no quantifier: one character
        ("[ab]*", ["", "abba"], ["c"]),
    ],
)
def test_model_patterns_are_read_as_aws_means_them(pattern, taken, refused):
    assert validation._compiled(pattern) is not None
    for value in taken:
        assert validation._outside(pattern, value) is None, value
    for value in refused:
        assert validation._outside(pattern, value) is not None, value


def test_the_first_character_outside_a_class_is_found():
    assert validation._outside("[a-z]+", "ab#c!") == 2
    assert validation._outside("[\\p{L}]+", "ab\u200bc") == 2
    assert validation._outside("[a-z]+", "") == -1  # too short: no character in particular
    assert validation._outside(None, "anything") is None  # no pattern


@pytest.mark.parametrize(
    "pattern",
    [
        "[a-z&&[^b]]",
        "[[a]]",
        "[\\P{L}]",
        "[^\\p{L}]",
        "[^a-c]+",
        "\\p{L}+",
        "[\\p{Foo}]",
        "[\\p{IsLatin}]",
        "[\\k<x>]",
        "[\\u12]",
        "[\\x]",
        "[\\x{42}]",
        "[\\t]",
        "[abc",
        "[]",
        "[ab]{2}",
        "[ab]*+",
        "[a]+[b]+",
        "a.c",
        "(?:ab|cd)+",
        "[\\x21-\\x7E]+( [\\x21-\\x7E]+)*",
    ],
)
def test_other_patterns_are_left_to_sts(pattern):
    assert validation._compiled(pattern) is None
    assert validation._outside(pattern, "anything at all \u200b") is None


def test_shapes_the_assume_role_request_does_not_use_are_checked_too():
    shapes = {
        "Request": {
            "type": "structure",
            "required": ["Count"],
            "members": {
                "Count": {"shape": "Long"},
                "Flag": {"shape": "Bool"},
                "When": {"shape": "Stamp"},
                "Kind": {"shape": "Kind"},
                "Small": {"shape": "Small"},
            },
        },
        "Long": {"type": "long"},
        "Small": {"type": "integer"},
        "Bool": {"type": "boolean"},
        "Stamp": {"type": "timestamp"},
        "Kind": {"type": "string", "enum": ["a", "b"]},
    }
    value = {"Count": 2**63 - 1, "Flag": True, "When": "2024", "Kind": "a", "Small": -(2**31)}
    assert validation._value(shapes, "Request", value, None, "Request") == value
    for value, says in [
        ({"Count": 2**63}, "Request Count must be in -9223372036854775808..9223372036854775807"),
        ({"Count": 1, "Small": 2**31}, "Request Small must be in -2147483648..2147483647"),
        ({"Count": 1, "Flag": 1}, "Request Flag must be a bool"),
        ({"Count": 1, "Kind": "c"}, "Request Kind must be one of a, b"),
        ({}, "Request items need Count"),
        ({"Count": 1, "Other": 1}, "Request items take only Count, Flag, When, Kind, Small; got ['Other']"),
    ]:
        with pytest.raises(ConfigurationError, match=re.escape(says)):
            validation._value(shapes, "Request", value, None, "Request")


def test_get_scoped_credentials_is_checked_by_the_same_code(monkeypatch):
    """A later issue validates GetScopedCredentials: its rules come from its own input shape."""
    model = validation._model()
    if "GetScopedCredentials" not in model["operations"]:
        pytest.skip("this botocore's STS model has no GetScopedCredentials")
    accepted = ("Policy", "DurationSeconds", "ScopedSessionDescription")
    operations = {**validation._OPERATIONS, "GetScopedCredentials": (accepted, ())}
    monkeypatch.setattr(validation, "_OPERATIONS", MappingProxyType(operations))
    params = {"Policy": POLICY, "DurationSeconds": 129600, "ScopedSessionDescription": "nightly report \u00e9"}
    out = validation._validate("GetScopedCredentials", params, "scoped")
    assert out["Policy"] == json.dumps(POLICY, separators=(",", ":"), sort_keys=True)
    assert validation._validate("GetScopedCredentials", {}, None) == {}
    for bad, says in [
        ({"DurationSeconds": 0}, "DurationSeconds must be in 1..129600, got 0"),
        ({"DurationSeconds": 129601}, "DurationSeconds must be in 1..129600, got 129601"),
        ({"ScopedSessionDescription": "a"}, "ScopedSessionDescription must be 2-256 characters long, got 1"),
        ({"ScopedSessionDescription": "x" * 257}, "ScopedSessionDescription must be 2-256 characters long"),
        ({"ScopedSessionDescription": "ab\x7f"}, "'\\x7f' at position 2 is not allowed"),
        ({"Policy": "42"}, "Policy must be a JSON object"),
        ({"Policy": "{" + " " * 2048 + "}"}, "Policy must be 1-2048 characters long, got 2050"),
        ({"RoleArn": ROLE}, "'RoleArn' is not a GetScopedCredentials parameter; accepted: Policy, DurationSeconds"),
        ({"MinimumSessionTokenSize": 1}, "is a GetScopedCredentials parameter that powertools_sts does not support"),
    ]:
        with pytest.raises(ConfigurationError, match=rf"^entry 'scoped': '?{next(iter(bad))}'? ") as raised:
            validation._validate("GetScopedCredentials", bad, "scoped")
        assert says in str(raised.value)


@pytest.mark.parametrize(
    ("value", "taken"),
    [
        ("tenant-42", True),
        ("t\u00e9nant 42:/=+.@_", True),
        ("", True),  # the model's min is 0: a caller that needs a value refuses "" itself
        ("v" * 256, True),
        ("v" * 257, False),
        ('tenant"42', False),
        ("tenant\u200b42", False),  # ZERO WIDTH SPACE, Cf
        ("tenant\u00ad42", False),  # SOFT HYPHEN, Cf
        ("tenant\u202e42", False),  # RIGHT-TO-LEFT OVERRIDE, Cf
        ("tenant\t42", False),
        ("tenant,42", False),
    ],
)
def test_tag_values_for_tenant_ids(value, taken):
    """A later issue puts tenant ids into tag values: invisible characters and quotes must not pass."""
    if taken:
        assert check(Tags=[{"Key": "tenant", "Value": value}])["Tags"] == [{"Key": "tenant", "Value": value}]
    else:
        with pytest.raises(ConfigurationError, match=r"^Tags Value "):
            check(Tags=[{"Key": "tenant", "Value": value}])


@pytest.mark.parametrize(
    ("value", "says"),
    [
        (10**5000, "an int of 16610 bits"),
        ("x" * 100, "'" + "x" * 76 + "..."),
    ],
    ids=["huge-int", "long-text"],
)
def test_shown_values_are_short_and_never_fail(value, says):
    assert validation._shown(value) == says if "bits" in says else validation._shown(value).startswith(says)


@pytest.mark.parametrize("value", [10**5000, -(10**5000)], ids=["huge", "minus-huge"])
def test_ints_without_a_repr_are_refused_as_configuration_errors(value):
    with pytest.raises(ConfigurationError, match=r"^max_age must be a finite number of seconds, got an int of"):
        validate_max_age(value)
    with pytest.raises(ConfigurationError, match=r"^refresh_margin must be a finite number"):
        validate_refresh_margin(value)
    with pytest.raises(ConfigurationError, match=r"^DurationSeconds must be in 900..43200, got an int of"):
        check(DurationSeconds=value)
