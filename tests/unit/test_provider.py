"""STSProvider against moto's STS server: the cache rules of issue 2, the STS client, errors, threads, logs.

Time moves only through the fake clock. ``sts_clock`` makes moto's STS follow it too, so credentials
fetched after ``advance`` expire relative to the fake time, as real STS credentials would.
"""

from __future__ import annotations

import logging
import pickle
import re
import socket
import sys
import threading
from datetime import datetime, timedelta, timezone

import boto3
import moto.sts.models
import pytest
from aws_lambda_powertools.utilities.parameters.base import BaseProvider
from aws_lambda_powertools.utilities.parameters.constants import DEFAULT_PROVIDERS
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError
from botocore.config import Config
from botocore.exceptions import ClientError, EndpointConnectionError
from botocore.stub import Stubber

import powertools_sts
from powertools_sts import (
    AssumeRoleError,
    ConfigurationError,
    Credentials,
    STSProvider,
    _state,
    assume_role,
    clear_caches,
    sts,
)
from powertools_sts.freshness import Flight
from powertools_sts.provider import BACKOFF_SECONDS, FLOOR_SECONDS, JITTER_FRACTION, default_role_session_name
from powertools_sts.remedies import remedy
from powertools_sts.validation import cache_key_of

from ..conftest import OTHER_ROLE, ROLE

SESSION_NAME = re.compile(r"[\w+=,.@-]{2,64}", re.ASCII)


@pytest.fixture
def sts_clock(clock, monkeypatch):
    """The fake clock, followed by moto's STS as well (its ``Expiration`` is fetch time + DurationSeconds)."""
    monkeypatch.setattr(
        moto.sts.models, "utcnow", lambda: datetime.fromtimestamp(clock.time, timezone.utc).replace(tzinfo=None)
    )
    return clock


def only_entry(provider):
    (entry,) = provider.cache.entries.values()
    return entry


def session_name_of(creds):
    # moto fills AssumedRoleUser.Arn as arn:aws:sts::<account>:assumed-role/<role>/<session>
    return creds.assumed_role_arn.rsplit("/", 1)[1]


def left(creds, clock):
    return creds.expiration.timestamp() - clock.time


def dead_client():
    """An STS client whose endpoint refuses connections, with one attempt per call, and its attempt log."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = boto3.client(
        "sts",
        region_name="us-east-1",
        endpoint_url=f"http://127.0.0.1:{port}",
        config=Config(retries={"mode": "standard", "total_max_attempts": 1}, connect_timeout=1),
    )
    attempts = []
    client.meta.events.register("before-send.sts.AssumeRole", lambda **kwargs: attempts.append(kwargs["request"]))
    return client, attempts


def stubbed():
    client = boto3.client("sts", region_name="us-east-1")
    stubber = Stubber(client)
    stubber.activate()
    return client, stubber


def sts_response(expiration, secret="stubbed-secret-access-key", token="stubbed-session-token"):
    return {
        "Credentials": {
            "AccessKeyId": "ASIASTUBBEDKEY00001",
            "SecretAccessKey": secret,
            "SessionToken": token,
            "Expiration": expiration,
        },
        "AssumedRoleUser": {
            "AssumedRoleId": "AROASTUBBED:stubbed",
            "Arn": "arn:aws:sts::111122223333:assumed-role/reports/stubbed",
        },
    }


# -- the API shape ---------------------------------------------------------------------------------


def test_public_api_names():
    for name in ("STSProvider", "assume_role", "clear_caches", "Credentials", "AssumeRoleError", "ConfigurationError"):
        assert hasattr(powertools_sts, name)
    assert issubclass(STSProvider, BaseProvider)
    assert issubclass(ConfigurationError, ValueError)
    assert issubclass(AssumeRoleError, GetParameterError)


def test_repr_holds_no_secret(moto_sts):
    provider = STSProvider(refresh_margin=120)
    creds = provider.get(ROLE)
    assert repr(provider) == "STSProvider(refresh_margin=120, entries=1)"
    assert creds.secret_access_key not in repr(provider)


# -- rule 1: the entry's key ------------------------------------------------------------------------


def test_first_get_fetches_and_second_is_a_cache_hit(moto_sts):
    provider = STSProvider()
    first = provider.get(ROLE)
    assert isinstance(first, Credentials)
    assert moto_sts.assume_role_calls == 1
    assert provider.get(ROLE) is first
    assert moto_sts.assume_role_calls == 1


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ({"RoleSessionName": "session-a"}, {"RoleSessionName": "session-b"}),
        ({}, {"RoleSessionName": "session-a"}),
        ({"ExternalId": "partner-1"}, {"ExternalId": "partner-2"}),
        ({}, {"ExternalId": "partner-1"}),
        ({"DurationSeconds": 900}, {"DurationSeconds": 1800}),
        ({}, {"DurationSeconds": 3600}),
        ({"Tags": [{"Key": "team", "Value": "a"}]}, {"Tags": [{"Key": "team", "Value": "b"}]}),
        ({"SourceIdentity": "alice"}, {"SourceIdentity": "bob"}),
        ({"Policy": {"Version": "2012-10-17"}}, {"Policy": {"Version": "2008-10-17"}}),
        (
            {"PolicyArns": [{"arn": "arn:aws:iam::aws:policy/A"}]},
            {"PolicyArns": [{"arn": "arn:aws:iam::aws:policy/B"}]},
        ),
    ],
)
def test_different_parameters_are_different_entries(moto_sts, one, other):
    provider = STSProvider()
    first = provider.get(ROLE, **one)
    second = provider.get(ROLE, **other)
    assert moto_sts.assume_role_calls == 2
    assert second is not first
    assert first.access_key_id != second.access_key_id
    assert len(provider.cache.entries) == 2
    # Each is then served from its own entry.
    assert provider.get(ROLE, **one) is first
    assert provider.get(ROLE, **other) is second
    assert moto_sts.assume_role_calls == 2


def test_different_roles_are_different_entries(moto_sts):
    provider = STSProvider()
    first = provider.get(ROLE)
    second = provider.get(OTHER_ROLE)
    assert moto_sts.assume_role_calls == 2
    assert first.assumed_role_arn.startswith("arn:aws:sts::111122223333:assumed-role/reports/")
    assert second.assumed_role_arn.startswith("arn:aws:sts::444455556666:assumed-role/audit/")


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"RoleSessionName": "nightly"},
        {"ExternalId": "partner-1", "DurationSeconds": 1800},
        {"Tags": [{"Key": "team", "Value": "a"}], "TransitiveTagKeys": ["team"]},
        {"Policy": {"Version": "2012-10-17", "Statement": []}},
    ],
)
def test_identical_parameters_share_an_entry(moto_sts, options):
    provider = STSProvider()
    # Fresh copies of the lists and dicts: equal values, not the same objects.
    first = provider.get(ROLE, **{k: (list(v) if isinstance(v, list) else v) for k, v in options.items()})
    second = provider.get(ROLE, **{k: (list(v) if isinstance(v, list) else v) for k, v in options.items()})
    assert second is first
    assert moto_sts.assume_role_calls == 1


def test_equivalent_policy_dict_and_string_share_an_entry(moto_sts):
    provider = STSProvider()
    first = provider.get(ROLE, Policy={"Version": "2012-10-17", "Statement": []})
    second = provider.get(ROLE, Policy='{"Statement":[],"Version":"2012-10-17"}')
    assert second is first
    assert moto_sts.assume_role_calls == 1


def test_two_providers_do_not_share(moto_sts):
    one, other = STSProvider(), STSProvider()
    first = one.get(ROLE)
    second = other.get(ROLE)
    assert second is not first
    assert moto_sts.assume_role_calls == 2
    assert one.get(ROLE) is first
    assert other.get(ROLE) is second
    assert moto_sts.assume_role_calls == 2


def test_sts_receives_the_normalised_parameters(moto_sts):
    STSProvider().get(
        ROLE,
        RoleSessionName="nightly",
        DurationSeconds=1800,
        ExternalId="partner-1",
        Policy={"Version": "2012-10-17", "Statement": []},
    )
    (body,) = moto_sts.calls
    assert b"RoleSessionName=nightly" in body
    assert b"DurationSeconds=1800" in body
    assert b"ExternalId=partner-1" in body
    # The dict policy went out as compact JSON, URL-encoded.
    assert b"Policy=%7B%22Statement%22%3A%5B%5D%2C%22Version%22%3A%222012-10-17%22%7D" in body


def test_stubbed_call_gets_exactly_the_validated_parameters(clock):
    client, stubber = stubbed()
    expiration = datetime.fromtimestamp(clock.time + 3600, timezone.utc)
    stubber.add_response(
        "assume_role",
        sts_response(expiration),
        {
            "RoleArn": ROLE,
            "RoleSessionName": "nightly",
            "Tags": [{"Key": "team", "Value": "data"}],
            "Policy": '{"Version":"2012-10-17"}',
        },
    )
    creds = STSProvider(boto3_client=client).get(
        ROLE, RoleSessionName="nightly", Tags=({"Key": "team", "Value": "data"},), Policy={"Version": "2012-10-17"}
    )
    stubber.assert_no_pending_responses()
    assert creds.expiration == expiration


# -- rule 6: max_age and force_fetch ----------------------------------------------------------------


def test_force_fetch_fetches_and_replaces_the_entry(moto_sts):
    provider = STSProvider()
    first = provider.get(ROLE)
    forced = provider.get(ROLE, force_fetch=True)
    assert forced is not first
    assert forced.access_key_id != first.access_key_id
    assert moto_sts.assume_role_calls == 2
    assert provider.get(ROLE) is forced
    assert only_entry(provider).credentials is forced
    assert moto_sts.assume_role_calls == 2


def test_force_fetch_on_a_cold_entry_stores_it(moto_sts):
    provider = STSProvider()
    forced = provider.get(ROLE, force_fetch=True)
    assert provider.get(ROLE) is forced
    assert moto_sts.assume_role_calls == 1


def test_max_age_zero_calls_sts_every_time_and_stores_nothing(moto_sts):
    provider = STSProvider()
    first = provider.get(ROLE, max_age=0)
    second = provider.get(ROLE, max_age=0)
    assert moto_sts.assume_role_calls == 2
    assert second is not first
    assert provider.cache.entries == {}
    assert provider.cache.flights == {}
    # And a cached get afterwards still has to fetch.
    provider.get(ROLE)
    assert moto_sts.assume_role_calls == 3


def test_max_age_zero_bypasses_and_keeps_an_existing_entry(moto_sts):
    provider = STSProvider()
    cached = provider.get(ROLE)
    uncached = provider.get(ROLE, max_age=0)
    assert uncached is not cached
    assert moto_sts.assume_role_calls == 2
    assert provider.get(ROLE) is cached
    assert moto_sts.assume_role_calls == 2


def test_max_age_keeps_an_entry_fresh_for_that_many_seconds(moto_sts, sts_clock):
    provider = STSProvider()
    first = provider.get(ROLE, max_age=120)
    sts_clock.advance(119)
    assert provider.get(ROLE, max_age=120) is first
    assert moto_sts.assume_role_calls == 1
    sts_clock.advance(2)
    second = provider.get(ROLE, max_age=120)
    assert second is not first
    assert moto_sts.assume_role_calls == 2
    # The new entry is fresh for max_age again, counted from its own fetch.
    sts_clock.advance(119)
    assert provider.get(ROLE, max_age=120) is second
    assert moto_sts.assume_role_calls == 2


def test_max_age_longer_than_the_lifetime_still_refreshes_at_the_refresh_window(moto_sts, sts_clock):
    provider = STSProvider()
    first = provider.get(ROLE, max_age=86400)
    entry = only_entry(provider)
    sts_clock.time = entry.refresh_at - 1
    assert provider.get(ROLE, max_age=86400) is first
    sts_clock.time = entry.refresh_at + 1
    assert provider.get(ROLE, max_age=86400) is not first
    assert moto_sts.assume_role_calls == 2


@pytest.mark.parametrize("forever", [None, -1, -1.0])
def test_max_age_none_and_minus_one_mean_until_the_refresh_window(moto_sts, sts_clock, forever):
    provider = STSProvider()
    first = provider.get(ROLE, max_age=forever)
    entry = only_entry(provider)
    sts_clock.time = entry.refresh_at - 1
    assert provider.get(ROLE, max_age=None) is first
    assert provider.get(ROLE, max_age=-1) is first
    assert provider.get(ROLE, max_age=forever) is first
    assert moto_sts.assume_role_calls == 1
    sts_clock.time = entry.refresh_at + 1
    assert provider.get(ROLE, max_age=forever) is not first
    assert moto_sts.assume_role_calls == 2


# -- rules 2 and 3: fresh, the refresh window, the margin cap and the jitter --------------------------


def test_refresh_window_bounds_with_the_default_margin(moto_sts, sts_clock):
    provider = STSProvider()
    first = provider.get(ROLE)
    expires = first.expiration.timestamp()
    assert expires == pytest.approx(sts_clock.time + 3600, abs=1)
    # Fresh until at least Expiration - 300 * (1 + JITTER_FRACTION).
    sts_clock.time = expires - 300 * (1 + JITTER_FRACTION) - 1
    assert provider.get(ROLE) is first
    assert moto_sts.assume_role_calls == 1
    # In the window by Expiration - 300 at the latest: one call refreshes.
    sts_clock.time = expires - 299
    second = provider.get(ROLE)
    assert second is not first
    assert moto_sts.assume_role_calls == 2
    assert left(second, sts_clock) > 3000
    assert provider.get(ROLE) is second
    assert moto_sts.assume_role_calls == 2


@pytest.mark.parametrize("margin", [120, 300, 900])
@pytest.mark.parametrize("where", [0.01, 0.5, 0.99])
def test_one_call_refreshes_anywhere_in_the_window(moto_sts, sts_clock, margin, where):
    provider = STSProvider(refresh_margin=margin)
    first = provider.get(ROLE)
    entry = only_entry(provider)
    assert entry.floor_at == pytest.approx(first.expiration.timestamp() - FLOOR_SECONDS)
    assert margin <= entry.expires_at - entry.refresh_at <= margin * (1 + JITTER_FRACTION)
    sts_clock.time = entry.refresh_at - 0.5
    assert provider.get(ROLE) is first
    sts_clock.time = entry.refresh_at + where * (entry.floor_at - entry.refresh_at)
    second = provider.get(ROLE)
    assert second is not first
    assert moto_sts.assume_role_calls == 2
    assert provider.get(ROLE) is second
    assert moto_sts.assume_role_calls == 2


@pytest.mark.parametrize("margin", [600, 900, 1200, 43200])
def test_margin_is_capped_at_half_the_lifetime(moto_sts, sts_clock, margin):
    # The botocore bug: a margin as long as the lifetime makes every call fetch.
    provider = STSProvider(refresh_margin=margin)
    first = provider.get(ROLE, DurationSeconds=900)
    assert provider.get(ROLE, DurationSeconds=900) is first
    assert provider.get(ROLE, DurationSeconds=900) is first
    assert moto_sts.assume_role_calls == 1
    entry = only_entry(provider)
    assert entry.expires_at - entry.refresh_at == pytest.approx(450, abs=1)
    sts_clock.advance(440)
    assert provider.get(ROLE, DurationSeconds=900) is first
    assert moto_sts.assume_role_calls == 1
    sts_clock.advance(20)
    assert provider.get(ROLE, DurationSeconds=900) is not first
    assert moto_sts.assume_role_calls == 2


def test_default_margin_with_900_second_credentials_does_not_fetch_every_call(moto_sts):
    provider = STSProvider()
    first = provider.get(ROLE, DurationSeconds=900)
    for _ in range(5):
        assert provider.get(ROLE, DurationSeconds=900) is first
    assert moto_sts.assume_role_calls == 1


def test_jitter_spreads_refresh_times_within_the_documented_bound(moto_sts, sts_clock):
    provider = STSProvider(refresh_margin=300)
    for i in range(12):
        provider.get(ROLE, RoleSessionName=f"session-{i}")
    margins = [entry.expires_at - entry.refresh_at for entry in provider.cache.entries.values()]
    assert len(margins) == 12
    for margin in margins:
        assert 300 <= margin <= 300 * (1 + JITTER_FRACTION)
    assert len({round(margin, 6) for margin in margins}) > 1


@pytest.mark.parametrize("margin", [0, 30, 45])  # 45 s plus 25% jitter is still under 60 s
def test_a_margin_below_the_floor_refreshes_at_the_floor(moto_sts, sts_clock, margin):
    provider = STSProvider(refresh_margin=margin)
    first = provider.get(ROLE)
    entry = only_entry(provider)
    assert entry.refresh_at == pytest.approx(entry.expires_at - FLOOR_SECONDS)
    sts_clock.time = entry.expires_at - FLOOR_SECONDS - 1
    assert provider.get(ROLE) is first
    assert moto_sts.assume_role_calls == 1
    sts_clock.time = entry.expires_at - FLOOR_SECONDS + 1
    assert provider.get(ROLE) is not first
    assert moto_sts.assume_role_calls == 2


# -- rule 4: the floor ------------------------------------------------------------------------------


def test_credentials_with_less_than_the_floor_left_are_never_returned(moto_sts, sts_clock):
    provider = STSProvider()
    first = provider.get(ROLE)
    sts_clock.time = first.expiration.timestamp() - 59
    second = provider.get(ROLE)
    assert second is not first
    assert moto_sts.assume_role_calls == 2
    assert left(second, sts_clock) > FLOOR_SECONDS


@pytest.mark.parametrize("max_age", [None, 10_000])
def test_past_the_floor_even_a_long_max_age_fetches(moto_sts, sts_clock, max_age):
    provider = STSProvider()
    first = provider.get(ROLE, max_age=max_age)
    sts_clock.time = first.expiration.timestamp() - 1
    second = provider.get(ROLE, max_age=max_age)
    assert second is not first
    assert left(second, sts_clock) > FLOOR_SECONDS


@pytest.mark.parametrize("seconds_left", [-3600, -1, 0, 30, 59, 60])
def test_credentials_returned_inside_the_floor_are_an_error_and_not_cached(clock, seconds_left):
    clock.time = float(int(clock.time))  # whole seconds: "60 s left" is exactly 60 s
    client, stubber = stubbed()
    expiration = datetime.fromtimestamp(clock.time + seconds_left, timezone.utc)
    stubber.add_response("assume_role", sts_response(expiration))
    provider = STSProvider(boto3_client=client)
    with pytest.raises(AssumeRoleError) as raised:
        provider.get(ROLE)
    assert raised.value.role_arn == ROLE
    assert raised.value.code is None
    assert "floor" in str(raised.value)
    assert provider.cache.entries == {}
    # The failure is not cached: the next get calls STS again.
    good = datetime.fromtimestamp(clock.time + 3600, timezone.utc)
    stubber.add_response("assume_role", sts_response(good))
    assert provider.get(ROLE).expiration == good
    stubber.assert_no_pending_responses()


def test_credentials_just_above_the_floor_are_accepted(clock):
    client, stubber = stubbed()
    stubber.add_response("assume_role", sts_response(datetime.fromtimestamp(clock.time + 61, timezone.utc)))
    provider = STSProvider(boto3_client=client)
    creds = provider.get(ROLE)
    assert left(creds, clock) == pytest.approx(61)
    assert provider.get(ROLE) is creds  # fresh until the floor
    stubber.assert_no_pending_responses()


# -- rule 7: aware UTC --------------------------------------------------------------------------------


def test_expiration_is_aware_utc(moto_sts):
    creds = STSProvider().get(ROLE)
    assert creds.expiration.tzinfo is not None
    assert creds.expiration.utcoffset() == timedelta(0)
    assert creds.expiration.tzinfo == timezone.utc


@pytest.mark.parametrize(
    "tz", [timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-8)), timezone.utc, None]
)
def test_expiration_in_any_timezone_becomes_aware_utc(clock, tz):
    client, stubber = stubbed()
    instant = datetime.fromtimestamp(clock.time + 1800, timezone.utc)
    sent = instant.replace(tzinfo=None) if tz is None else instant.astimezone(tz)  # naive means UTC
    stubber.add_response("assume_role", sts_response(sent))
    creds = STSProvider(boto3_client=client).get(ROLE)
    assert creds.expiration == instant
    assert creds.expiration.utcoffset() == timedelta(0)
    assert creds.expiration.tzinfo == timezone.utc


# -- the default RoleSessionName ------------------------------------------------------------------------


def test_default_session_name_outside_lambda(moto_sts, monkeypatch):
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME", raising=False)
    name = session_name_of(STSProvider().get(ROLE))
    assert re.fullmatch(r"powertools-sts-[0-9a-f]+", name)
    assert SESSION_NAME.fullmatch(name)
    assert name == default_role_session_name()


@pytest.mark.parametrize(
    ("function", "prefix"),
    [
        ("orders-api", "orders-api-"),
        ("Orders_API2", "Orders_API2-"),
        ("my fn/\u00fctf:v2", "my-fn--tf-v2-"),
        ("a", "a-"),
        ("f" * 64, "f" * 55 + "-"),
        ("", "powertools-sts-"),
    ],
)
def test_default_session_name_in_lambda(moto_sts, monkeypatch, function, prefix):
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", function)
    name = session_name_of(STSProvider().get(ROLE))
    assert name.startswith(prefix)
    assert len(name) > len(prefix)  # the random suffix
    assert 2 <= len(name) <= 64
    assert SESSION_NAME.fullmatch(name)


def test_default_session_name_is_stable_across_refreshes(moto_sts, sts_clock, monkeypatch):
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "orders")
    provider = STSProvider()
    first = provider.get(ROLE)
    forced = provider.get(ROLE, force_fetch=True)
    sts_clock.time = only_entry(provider).refresh_at + 1
    refreshed = provider.get(ROLE)
    assert moto_sts.assume_role_calls == 3
    names = {session_name_of(creds) for creds in (first, forced, refreshed)}
    assert len(names) == 1
    assert names.pop().startswith("orders-")


def test_an_explicit_session_name_wins(moto_sts):
    assert session_name_of(STSProvider().get(ROLE, RoleSessionName="nightly-report")) == "nightly-report"


# -- assume_role() and clear_caches() ---------------------------------------------------------------------


def test_assume_role_uses_a_lazily_built_default_provider(moto_sts):
    assert "sts" not in DEFAULT_PROVIDERS
    first = assume_role(ROLE)
    default = DEFAULT_PROVIDERS["sts"]
    assert isinstance(default, STSProvider)
    assert assume_role(ROLE) is first
    assert DEFAULT_PROVIDERS["sts"] is default
    assert moto_sts.assume_role_calls == 1


def test_assume_role_takes_the_get_options(moto_sts):
    first = assume_role(ROLE, RoleSessionName="nightly")
    assert session_name_of(first) == "nightly"
    assert assume_role(ROLE, RoleSessionName="nightly", force_fetch=True) is not first
    assume_role(ROLE, RoleSessionName="nightly", max_age=0)
    assert moto_sts.assume_role_calls == 3
    with pytest.raises(ConfigurationError, match="RoleARN"):
        assume_role(ROLE, RoleARN=ROLE)
    assert moto_sts.assume_role_calls == 3


def test_clear_caches_empties_the_default_provider(moto_sts):
    first = assume_role(ROLE)
    clear_caches()
    assert "sts" not in DEFAULT_PROVIDERS
    second = assume_role(ROLE)
    assert second is not first
    assert moto_sts.assume_role_calls == 2


def test_clear_caches_empties_every_provider(moto_sts):
    one, other = STSProvider(), STSProvider()
    first = one.get(ROLE)
    other.get(ROLE)
    client = one._client
    clear_caches()
    assert one.cache.entries == {}
    assert other.cache.entries == {}
    assert one._client is None  # the STS client goes too: its endpoint may be gone
    assert one.get(ROLE) is not first
    assert one._client is not client
    assert moto_sts.assume_role_calls == 3


def test_clear_cache_of_one_provider(moto_sts):
    one, other = STSProvider(), STSProvider()
    first = one.get(ROLE)
    kept = other.get(ROLE)
    one.clear_cache()
    assert one.cache.entries == {}
    assert other.get(ROLE) is kept
    assert one.get(ROLE) is not first
    assert moto_sts.assume_role_calls == 3


def test_under_snap_start_a_restore_clears_every_cache(moto_sts, monkeypatch):
    snapshot_restore_py = pytest.importorskip("snapshot_restore_py")
    registered = []
    monkeypatch.setenv("AWS_LAMBDA_INITIALIZATION_TYPE", "snap-start")
    monkeypatch.setattr(_state, "snap_start_hooked", False)
    monkeypatch.setattr(snapshot_restore_py, "register_after_restore", registered.append)
    provider = STSProvider()
    STSProvider()
    assert registered == [clear_caches]  # once per process
    first = provider.get(ROLE)
    registered[0]()  # the runtime calls the hook after a restore
    assert provider.cache.entries == {}
    assert provider.get(ROLE) is not first


def test_snap_start_without_snapshot_restore_py_warns(monkeypatch, caplog):
    monkeypatch.setenv("AWS_LAMBDA_INITIALIZATION_TYPE", "snap-start")
    monkeypatch.setattr(_state, "snap_start_hooked", False)
    monkeypatch.setitem(sys.modules, "snapshot_restore_py", None)
    with caplog.at_level(logging.WARNING, logger="powertools_sts"):
        STSProvider()
    assert any("snapshot_restore_py" in record.getMessage() for record in caplog.records)


def test_outside_snap_start_no_hook_is_registered(monkeypatch):
    snapshot_restore_py = pytest.importorskip("snapshot_restore_py")
    registered = []
    monkeypatch.delenv("AWS_LAMBDA_INITIALIZATION_TYPE", raising=False)
    monkeypatch.setattr(_state, "snap_start_hooked", False)
    monkeypatch.setattr(snapshot_restore_py, "register_after_restore", registered.append)
    STSProvider()
    assert registered == []


# -- unsupported options ------------------------------------------------------------------------------------


def test_transform_is_refused(moto_sts):
    for transform in ("json", "binary", "auto"):
        with pytest.raises(ConfigurationError, match="transform"):
            STSProvider().get(ROLE, transform=transform)
    assert moto_sts.assume_role_calls == 0


def test_role_arn_twice_is_refused(moto_sts):
    with pytest.raises(ConfigurationError, match="RoleArn is given twice"):
        STSProvider().get(ROLE, RoleArn=OTHER_ROLE)
    assert moto_sts.assume_role_calls == 0


@pytest.mark.parametrize("options", [{}, {"max_age": 60}, {"force_fetch": True}, {"transform": "json"}])
def test_get_multiple_raises_configuration_error_without_an_sts_call(moto_sts, options):
    provider = STSProvider()
    with pytest.raises(ConfigurationError, match="get_multiple"):
        provider.get_multiple("/roles", **options)
    assert moto_sts.assume_role_calls == 0
    assert provider._client is None


# -- the STS client -------------------------------------------------------------------------------------


def test_client_is_built_lazily_on_the_first_fetch(moto_sts):
    provider = STSProvider()
    assert provider._client is None
    provider.get(ROLE)
    client = provider._client
    assert client is not None
    provider.get(ROLE, force_fetch=True)
    assert provider._client is client


def test_client_defaults(moto_sts):
    provider = STSProvider()
    provider.get(ROLE)
    config = provider._client.meta.config
    assert config.retries == {"mode": "standard", "total_max_attempts": 3}
    assert config.connect_timeout == 2
    assert config.read_timeout == 5


def test_boto_config_is_merged_over_the_defaults(moto_sts):
    provider = STSProvider(boto_config=Config(read_timeout=9, user_agent_extra="reports"))
    provider.get(ROLE)
    config = provider._client.meta.config
    assert config.read_timeout == 9
    assert config.connect_timeout == 2
    assert config.retries == {"mode": "standard", "total_max_attempts": 3}
    assert "reports" in config.user_agent_extra


def test_boto_config_retries_override(moto_sts):
    provider = STSProvider(boto_config=Config(retries={"mode": "standard", "total_max_attempts": 5}))
    provider.get(ROLE)
    assert provider._client.meta.config.retries == {"mode": "standard", "total_max_attempts": 5}


@pytest.mark.parametrize("config", [{"read_timeout": 9}, "standard", 5, object()])
def test_boto_config_that_is_not_a_config_is_refused(config):
    with pytest.raises(ConfigurationError, match="boto_config"):
        STSProvider(boto_config=config)


def test_boto_config_subclass_is_accepted(moto_sts):
    class TunedConfig(Config):
        pass

    provider = STSProvider(boto_config=TunedConfig(read_timeout=9))
    provider.get(ROLE)
    assert provider._client.meta.config.read_timeout == 9


def test_boto3_session_is_used_to_build_the_client(moto_sts):
    session = boto3.session.Session(region_name="eu-west-1")
    built = []
    make_client = session.client
    session.client = lambda *args, **kwargs: built.append(args) or make_client(*args, **kwargs)
    provider = STSProvider(boto3_session=session)
    provider.get(ROLE)
    assert built == [("sts",)]
    assert provider._client.meta.region_name == "eu-west-1"
    assert moto_sts.assume_role_calls == 1


def test_boto3_client_wins_over_boto3_session(moto_sts):
    client = boto3.client("sts", region_name="us-east-1", endpoint_url=moto_sts.url)
    sent = []
    client.meta.events.register("before-send.sts.AssumeRole", lambda **kwargs: sent.append(kwargs["request"]))
    session = boto3.session.Session()

    def no_client(*args, **kwargs):
        raise AssertionError("the session must not be used when a client is given")

    session.client = no_client
    provider = STSProvider(boto3_session=session, boto3_client=client, boto_config=Config(read_timeout=9))
    assert provider._client is client
    provider.get(ROLE)
    assert provider._client is client
    assert len(sent) == 1
    assert moto_sts.assume_role_calls == 1
    assert client.meta.config.read_timeout != 9  # a ready client is used as it is


def test_endpoint_honours_aws_endpoint_url_sts(moto_sts, monkeypatch):
    provider = STSProvider()
    provider.get(ROLE)
    assert provider._client.meta.endpoint_url == moto_sts.url
    # Pointed elsewhere, a new provider's client goes elsewhere.
    dead, _ = dead_client()
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", dead.meta.endpoint_url)
    elsewhere = STSProvider(boto_config=Config(retries={"mode": "standard", "total_max_attempts": 1}))
    with pytest.raises(AssumeRoleError):
        elsewhere.get(ROLE)
    assert elsewhere._client.meta.endpoint_url == dead.meta.endpoint_url
    assert moto_sts.assume_role_calls == 1


# -- errors -----------------------------------------------------------------------------------------------


def test_invalid_client_token_from_moto_iam_checks(moto_sts):
    moto_sts.enable_iam()
    provider = STSProvider()
    with pytest.raises(AssumeRoleError) as raised:
        provider.get(ROLE)
    error = raised.value
    assert isinstance(error, GetParameterError)
    assert error.code == "InvalidClientTokenId"
    assert error.role_arn == ROLE
    assert error.entry is None
    assert isinstance(error.__cause__, ClientError)
    assert error.__cause__.response["Error"]["Code"] == "InvalidClientTokenId"
    assert ROLE in str(error)
    assert "InvalidClientTokenId" in str(error)
    assert "testing" not in str(error)  # the dummy access key and secret
    assert moto_sts.assume_role_calls == 1  # not retried
    assert provider.cache.entries == {}


def test_access_denied_from_moto_iam_checks(moto_sts):
    iam = boto3.client("iam", region_name="us-east-1", endpoint_url=moto_sts.url)
    iam.create_user(UserName="nobody")
    key = iam.create_access_key(UserName="nobody")["AccessKey"]
    moto_sts.enable_iam()
    client = boto3.client(
        "sts",
        region_name="us-east-1",
        aws_access_key_id=key["AccessKeyId"],
        aws_secret_access_key=key["SecretAccessKey"],
    )
    provider = STSProvider(boto3_client=client)
    with pytest.raises(AssumeRoleError) as raised:
        provider.get(ROLE)
    error = raised.value
    assert error.code == "AccessDenied"
    assert error.role_arn == ROLE
    assert isinstance(error.__cause__, ClientError)
    assert "AccessDenied" in str(error)
    assert key["SecretAccessKey"] not in str(error)
    assert moto_sts.assume_role_calls == 1  # AccessDenied is not retried
    assert provider.cache.entries == {}


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("Throttling", 400),
        ("AccessDenied", 403),
        ("ExpiredToken", 400),
        ("RegionDisabledException", 403),
        ("MalformedPolicyDocument", 400),
        ("PackedPolicyTooLarge", 400),
        ("InternalFailure", 500),
    ],
)
def test_sts_error_codes_are_kept(code, status):
    client, stubber = stubbed()
    stubber.add_client_error(
        "assume_role", service_error_code=code, service_message="it failed", http_status_code=status
    )
    provider = STSProvider(boto3_client=client)
    with pytest.raises(AssumeRoleError) as raised:
        provider.get(ROLE)
    assert raised.value.code == code
    assert raised.value.role_arn == ROLE
    assert isinstance(raised.value.__cause__, ClientError)
    fix = remedy(code, None)
    assert str(raised.value) == f"AssumeRole failed for role {ROLE}: {code}: it failed" + (
        f" (fix: {fix})" if fix else ""
    )
    assert (fix is not None) == (code in ("AccessDenied", "ExpiredToken", "RegionDisabledException"))
    assert provider.cache.entries == {}
    stubber.assert_no_pending_responses()


def test_an_entry_name_is_in_the_error(clock):
    client, stubber = stubbed()
    stubber.add_client_error("assume_role", service_error_code="Throttling", service_message="Rate exceeded")
    provider = STSProvider(boto3_client=client)
    params = {"RoleArn": ROLE}
    with pytest.raises(AssumeRoleError) as raised:
        provider.cache.get((None, None, cache_key_of(params)), params, None, entry="orders")
    assert raised.value.entry == "orders"
    assert raised.value.code == "Throttling"
    assert str(raised.value).startswith(f"AssumeRole failed for entry 'orders' (role {ROLE}): Throttling")


@pytest.mark.parametrize(
    ("response", "cause"),
    [
        (
            {
                "AssumedRoleUser": {
                    "AssumedRoleId": "AROASTUBBED:s",
                    "Arn": "arn:aws:sts::111122223333:assumed-role/r/s",
                }
            },
            KeyError,
        ),
        ({}, KeyError),
        (
            {
                "Credentials": {
                    "AccessKeyId": "ASIASTUBBEDKEY00001",
                    "SecretAccessKey": "s",
                    "SessionToken": "t",
                    "Expiration": "2030-01-01T00:00:00Z",
                }
            },
            TypeError,
        ),
    ],
)
def test_a_response_without_usable_credentials_is_an_error(response, cause):
    client, stubber = stubbed()
    stubber.add_response("assume_role", response)
    provider = STSProvider(boto3_client=client)
    with pytest.raises(AssumeRoleError) as raised:
        provider.get(ROLE)
    assert raised.value.code is None
    assert raised.value.role_arn == ROLE
    assert isinstance(raised.value.__cause__, cause)
    assert "without usable Credentials" in str(raised.value)
    assert provider.cache.entries == {}


@pytest.mark.parametrize("field", ["SecretAccessKey", "SessionToken"])
def test_a_response_with_an_empty_secret_is_an_error(clock, field):
    client, stubber = stubbed()
    response = sts_response(datetime.fromtimestamp(clock.time + 3600, timezone.utc))
    response["Credentials"][field] = ""
    stubber.add_response("assume_role", response)
    provider = STSProvider(boto3_client=client)
    with pytest.raises(AssumeRoleError, match="without usable Credentials") as raised:
        provider.get(ROLE)
    assert isinstance(raised.value.__cause__, ValueError)
    assert provider.cache.entries == {}


def test_assume_role_error_survives_pickling():
    error = AssumeRoleError("denied", role_arn=ROLE, code="AccessDenied", entry="orders")
    copy = pickle.loads(pickle.dumps(error))
    assert isinstance(copy, AssumeRoleError)
    assert (str(copy), copy.role_arn, copy.code, copy.entry) == ("denied", ROLE, "AccessDenied", "orders")


def test_a_response_without_assumed_role_user_has_no_arn(clock):
    client, stubber = stubbed()
    response = sts_response(datetime.fromtimestamp(clock.time + 3600, timezone.utc))
    del response["AssumedRoleUser"]
    stubber.add_response("assume_role", response)
    assert STSProvider(boto3_client=client).get(ROLE).assumed_role_arn is None


def test_an_unreachable_endpoint_is_an_error_without_a_code(moto_sts):
    dead, attempts = dead_client()
    provider = STSProvider(boto3_client=dead)
    with pytest.raises(AssumeRoleError) as raised:
        provider.get(ROLE)
    assert raised.value.code is None
    assert isinstance(raised.value.__cause__, EndpointConnectionError)
    assert "EndpointConnectionError" in str(raised.value)
    assert len(attempts) == 1
    assert provider.cache.entries == {}


# -- rules 3 and 5: stale on error, back-off, no eviction ----------------------------------------------------


def test_a_failed_refresh_serves_the_cached_credentials_with_a_back_off(moto_sts, sts_clock, caplog):
    caplog.set_level(logging.DEBUG, logger="powertools_sts")
    provider = STSProvider()
    first = provider.get(ROLE)
    entry = only_entry(provider)
    good_client = provider._client
    dead, attempts = dead_client()
    provider._client = dead

    sts_clock.time = entry.refresh_at + 1
    caplog.clear()
    assert provider.get(ROLE) is first
    assert len(attempts) == 1
    warnings = [r for r in caplog.records if r.name == "powertools_sts" and r.levelno == logging.WARNING]
    assert len(warnings) == 1
    message = warnings[0].getMessage()
    assert ROLE in message
    assert "EndpointConnectionError" in message
    assert first.secret_access_key not in message
    assert first.session_token not in message

    # No new attempt during the back-off, and no new warning.
    assert provider.get(ROLE) is first
    sts_clock.advance(BACKOFF_SECONDS - 0.5)
    assert provider.get(ROLE) is first
    assert len(attempts) == 1
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1

    # After it, one new attempt, which fails again and serves the same credentials.
    sts_clock.advance(1)
    assert provider.get(ROLE) is first
    assert len(attempts) == 2
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 2

    # The failures never evicted the good entry.
    assert only_entry(provider) is entry
    assert entry.credentials is first

    # Past the floor the failure raises.
    sts_clock.time = entry.floor_at + 1
    with pytest.raises(AssumeRoleError) as raised:
        provider.get(ROLE)
    assert raised.value.role_arn == ROLE
    assert len(attempts) == 3
    assert only_entry(provider).credentials is first  # still not evicted, just never served

    # STS back: the next get fetches.
    provider._client = good_client
    second = provider.get(ROLE)
    assert second is not first
    assert left(second, sts_clock) > FLOOR_SECONDS
    assert moto_sts.assume_role_calls == 2


def test_a_failed_refresh_inside_max_age_window_serves_the_cached_credentials(moto_sts, sts_clock):
    provider = STSProvider()
    first = provider.get(ROLE, max_age=60)
    dead, attempts = dead_client()
    provider._client = dead
    sts_clock.advance(61)  # past max_age, far above the floor
    assert provider.get(ROLE, max_age=60) is first
    assert provider.get(ROLE, max_age=60) is first
    assert len(attempts) == 1


def test_a_failed_force_fetch_raises_and_keeps_the_entry(moto_sts, sts_clock):
    provider = STSProvider()
    first = provider.get(ROLE)
    dead, attempts = dead_client()
    provider._client = dead
    with pytest.raises(AssumeRoleError):
        provider.get(ROLE, force_fetch=True)
    assert len(attempts) == 1
    assert provider.get(ROLE) is first
    assert len(attempts) == 1


def test_a_failed_uncached_get_raises(moto_sts):
    provider = STSProvider()
    provider.get(ROLE)
    dead, attempts = dead_client()
    provider._client = dead
    with pytest.raises(AssumeRoleError):
        provider.get(ROLE, max_age=0)
    assert len(attempts) == 1


def test_a_forced_fetch_replaces_the_entry_even_when_it_expires_earlier(clock):
    # Rule 6: force_fetch replaces the entry. Entries are ordered by when their fetch started, not by
    # Expiration, so a clock stepped back cannot keep an entry that is past its max_age alive.
    client, stubber = stubbed()
    first = datetime.fromtimestamp(clock.time + 3600, timezone.utc)
    second = datetime.fromtimestamp(clock.time + 1800, timezone.utc)
    stubber.add_response("assume_role", sts_response(first, secret="first-secret"))
    stubber.add_response("assume_role", sts_response(second, secret="second-secret"))
    provider = STSProvider(boto3_client=client)
    provider.get(ROLE)
    forced = provider.get(ROLE, force_fetch=True)
    assert only_entry(provider).credentials is forced
    assert provider.get(ROLE) is forced
    stubber.assert_no_pending_responses()


# -- rule 5: threads ------------------------------------------------------------------------------------------


def run_threads(count, target):
    barrier = threading.Barrier(count)
    results = [None] * count
    errors = []

    def worker(index):
        try:
            barrier.wait(timeout=30)
            results[index] = target()
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    return results


def test_32_threads_on_a_cold_entry_make_one_call(moto_sts):
    provider = STSProvider()
    results = run_threads(32, lambda: provider.get(ROLE))
    assert moto_sts.assume_role_calls == 1
    assert all(creds is results[0] for creds in results)
    assert isinstance(results[0], Credentials)
    assert provider.get(ROLE) is results[0]


def test_32_threads_in_the_refresh_window_make_one_refresh(moto_sts, sts_clock):
    provider = STSProvider()
    first = provider.get(ROLE)
    sts_clock.time = only_entry(provider).refresh_at + 1
    results = run_threads(32, lambda: provider.get(ROLE))
    assert moto_sts.assume_role_calls == 2
    refreshed = only_entry(provider).credentials
    assert refreshed is not first
    # Callers who came while the refresh was in flight got the still-valid ones.
    assert {id(creds) for creds in results} <= {id(first), id(refreshed)}
    assert any(creds is refreshed for creds in results)
    assert provider.get(ROLE) is refreshed
    assert moto_sts.assume_role_calls == 2


def test_32_threads_past_the_floor_make_one_call(moto_sts, sts_clock):
    provider = STSProvider()
    first = provider.get(ROLE)
    sts_clock.time = first.expiration.timestamp() - 30
    results = run_threads(32, lambda: provider.get(ROLE))
    assert moto_sts.assume_role_calls == 2
    assert all(creds is results[0] for creds in results)
    assert results[0] is not first
    assert left(results[0], sts_clock) > FLOOR_SECONDS


def test_32_threads_on_a_failing_cold_entry_all_get_the_error(moto_sts):
    dead, attempts = dead_client()
    provider = STSProvider(boto3_client=dead)

    def get():
        try:
            return provider.get(ROLE)
        except AssumeRoleError as exc:
            return exc

    results = run_threads(32, get)
    assert all(isinstance(result, AssumeRoleError) for result in results)
    assert 1 <= len(attempts) <= 32
    assert provider.cache.entries == {}
    assert provider.cache.flights == {}


def test_a_fetch_left_in_flight_is_waited_on_for_the_retry_budget_and_never_doubled(moto_sts):
    # A flight that never finishes (its owner frozen or killed, say): a caller waits the owner's full retry
    # budget, then fails; it never starts a second AssumeRole beside one in flight.
    config = Config(read_timeout=0.05, connect_timeout=0.05, retries={"total_max_attempts": 1})
    provider = STSProvider(boto3_client=boto3.client("sts", region_name="us-east-1", config=config))
    assert provider.retry_budget() == pytest.approx(1.1)
    stuck = Flight(False, provider.cache.generation, 0)
    key = (None, None, cache_key_of({"RoleArn": ROLE}))
    provider.cache.flights[key] = stuck
    with pytest.raises(AssumeRoleError, match="did not finish within 1 s"):
        provider.get(ROLE)
    assert moto_sts.assume_role_calls == 0
    del provider.cache.flights[key]
    assert provider.get(ROLE) is provider.get(ROLE)
    assert moto_sts.assume_role_calls == 1


def test_the_validation_memo_stays_bounded(moto_sts):
    provider = STSProvider()
    names = [f"session-{i}" for i in range(300)]
    first = {name: provider.get(ROLE, RoleSessionName=name) for name in names}
    assert len(provider._validated) <= 256
    assert all(provider.get(ROLE, RoleSessionName=name) is first[name] for name in names)
    assert moto_sts.assume_role_calls == 300


# -- no secret in any log record ------------------------------------------------------------------------------


def test_no_secret_in_any_log_record_or_error(moto_sts, sts_clock, caplog):
    caplog.set_level(logging.DEBUG)  # every logger, botocore's response bodies included
    provider = STSProvider()
    seen = [provider.get(ROLE, ExternalId="partner-secret-id")]
    entry = only_entry(provider)
    sts_clock.time = entry.refresh_at + 1
    seen.append(provider.get(ROLE, ExternalId="partner-secret-id"))  # refresh
    seen.append(provider.get(ROLE, ExternalId="partner-secret-id", force_fetch=True))
    assert moto_sts.assume_role_calls == 3
    dead, _ = dead_client()
    provider._client = dead
    sts_clock.time = only_entry(provider).refresh_at + 1
    seen.append(provider.get(ROLE, ExternalId="partner-secret-id"))  # a failed refresh: stale
    sts_clock.time = only_entry(provider).floor_at + 1
    with pytest.raises(AssumeRoleError) as raised:
        provider.get(ROLE, ExternalId="partner-secret-id")
    moto_sts.enable_iam()
    provider._client = None
    with pytest.raises(AssumeRoleError) as denied:
        provider.get(ROLE, ExternalId="partner-secret-id", force_fetch=True)

    assert any(r.name == "powertools_sts" and r.levelno == logging.DEBUG for r in caplog.records)
    assert any(r.name == "powertools_sts" and r.levelno == logging.WARNING for r in caplog.records)
    texts = [caplog.text, str(raised.value), repr(raised.value), str(denied.value), repr(denied.value), repr(provider)]
    texts += [repr(creds) for creds in seen]
    for creds in seen:
        for text in texts:
            assert creds.secret_access_key not in text
            assert creds.session_token not in text


# -- found attacking the lean core: options refused when the provider is built, not at the first fetch ----


@pytest.mark.parametrize(
    ("config", "named"),
    [
        (Config(connect_timeout=-1), "connect_timeout"),
        (Config(read_timeout=0), "read_timeout"),
        (Config(read_timeout="x"), "read_timeout"),
        (Config(connect_timeout=float("inf")), "connect_timeout"),
        (Config(connect_timeout=float("nan")), "connect_timeout"),
        (Config(region_name="not a region!"), "region_name"),
    ],
)
def test_a_boto_config_that_could_never_work_is_refused_when_built(moto_sts, config, named):
    with pytest.raises(ConfigurationError, match=f"boto_config: {named}"):
        STSProvider(boto_config=config)
    with pytest.raises(ConfigurationError, match=f"boto_config: {named}"):
        sts(fetch_data={"reports": ROLE}, boto_config=config)
    assert moto_sts.assume_role_calls == 0


@pytest.mark.parametrize(
    ("option", "value"),
    [("boto3_client", "x"), ("boto3_client", object()), ("boto3_session", "x")],
)
def test_a_client_or_session_that_is_not_one_is_refused_when_built(option, value):
    with pytest.raises(ConfigurationError, match=option):
        STSProvider(**{option: value})


@pytest.mark.parametrize("value", ["yes", 1, None])
def test_force_fetch_must_be_a_flag(moto_sts, value):
    with pytest.raises(ConfigurationError, match="force_fetch"):
        STSProvider().get(ROLE, force_fetch=value)
    assert moto_sts.assume_role_calls == 0
