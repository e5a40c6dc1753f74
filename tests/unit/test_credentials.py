"""The Credentials value: frozen, secret-free repr and str, and boto3 keyword arguments."""

from __future__ import annotations

import copy
import dataclasses
import pickle
from datetime import datetime, timezone

import pytest

from powertools_sts import Credentials

SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY"
TOKEN = "FwoGZXIvYXdzEXAMPLE-session-token//////////wEaDEXAMPLE"
EXPIRATION = datetime(2030, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
ASSUMED = "arn:aws:sts::111122223333:assumed-role/reports/nightly"


def make(assumed_role_arn: str | None = ASSUMED) -> Credentials:
    return Credentials("ASIAEXAMPLEKEYID0001", SECRET, TOKEN, EXPIRATION, assumed_role_arn)


@pytest.mark.parametrize(
    "field", ["access_key_id", "secret_access_key", "session_token", "expiration", "assumed_role_arn"]
)
def test_every_field_is_frozen(field):
    creds = make()
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(creds, field, "changed")
    assert getattr(make(), field) == getattr(creds, field)


def test_fields_keep_their_values():
    creds = make()
    assert creds.access_key_id == "ASIAEXAMPLEKEYID0001"
    assert creds.secret_access_key == SECRET
    assert creds.session_token == TOKEN
    assert creds.expiration == EXPIRATION
    assert creds.assumed_role_arn == ASSUMED


def test_assumed_role_arn_defaults_to_none():
    assert Credentials("ASIAEXAMPLEKEYID0001", SECRET, TOKEN, EXPIRATION).assumed_role_arn is None


@pytest.mark.parametrize("render", [repr, str, format, lambda c: f"{c}", lambda c: f"{c!r}", lambda c: repr([c])])
@pytest.mark.parametrize("assumed_role_arn", [ASSUMED, None])
def test_repr_and_str_never_show_the_secret_or_the_token(render, assumed_role_arn):
    text = render(make(assumed_role_arn))
    assert SECRET not in text
    assert TOKEN not in text
    # Fragments too: no part of either secret leaks.
    assert "wJalrXUtnFEMI" not in text
    assert "FwoGZXIvYXdz" not in text


def test_repr_shows_the_non_secret_fields():
    text = repr(make())
    assert text.startswith("Credentials(")
    assert "ASIAEXAMPLEKEYID0001" in text
    assert "2030-01-02T03:04:05+00:00" in text
    assert ASSUMED in text
    assert str(make()) == text


def test_as_boto3_kwargs_keys_and_values():
    assert make().as_boto3_kwargs() == {
        "aws_access_key_id": "ASIAEXAMPLEKEYID0001",
        "aws_secret_access_key": SECRET,
        "aws_session_token": TOKEN,
    }


def test_as_boto3_kwargs_returns_a_new_dict_each_time():
    creds = make()
    kwargs = creds.as_boto3_kwargs()
    kwargs["aws_access_key_id"] = "tampered"
    assert creds.as_boto3_kwargs()["aws_access_key_id"] == "ASIAEXAMPLEKEYID0001"


def test_as_boto3_kwargs_builds_a_boto3_client():
    boto3 = pytest.importorskip("boto3")
    client = boto3.client("s3", region_name="us-east-1", **make().as_boto3_kwargs())
    frozen = client._request_signer._credentials.get_frozen_credentials()
    assert (frozen.access_key, frozen.secret_key, frozen.token) == ("ASIAEXAMPLEKEYID0001", SECRET, TOKEN)


def test_equal_values_compare_equal_and_hash_alike():
    assert make() == make()
    assert hash(make()) == hash(make())
    assert make() != dataclasses.replace(make(), session_token="other-token")


def test_the_class_formatted_as_text_says_what_to_checkpoint_instead():
    # What the Durable Execution SDK's encoder puts after "Unsupported type: " (tests/integration/test_durable.py).
    text = f"{type(make())}"
    assert text.startswith("powertools_sts.Credentials, which is never checkpointed")
    assert "return what you fetched with the credentials instead" in text
    assert "call get_credentials(name) again" in text
    assert str(Credentials) == text
    assert repr(Credentials) == "<class 'powertools_sts.credentials.Credentials'>"  # type's own


def test_a_copy_or_a_pickle_is_an_equal_value():
    creds = make()
    assert copy.deepcopy(creds) == pickle.loads(pickle.dumps(creds)) == creds
