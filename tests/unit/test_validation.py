"""Every rule of the issue's Validation section, table-driven, plus the provider refusing before any STS call."""

from __future__ import annotations

import json
import math

import pytest

from powertools_sts import ConfigurationError, STSProvider
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
    ({"SourceIdentity": "i" * 65}, "SourceIdentity"),
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
        {"ProvidedContexts": [{"ProviderArn": PROVIDER_ARN, "ContextAssertion": "a" * 2049}]},
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
]


@pytest.mark.parametrize(("options", "field"), BAD_GET_OPTIONS)
def test_provider_get_refuses_before_any_sts_call(moto_sts, options, field):
    provider = STSProvider()
    with pytest.raises(ConfigurationError) as raised:
        provider.get(ROLE, **options)
    assert field in str(raised.value)
    assert moto_sts.assume_role_calls == 0
    assert provider._client is None  # the client is not even built
    assert provider._entries == {}


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
