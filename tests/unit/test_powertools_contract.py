"""The Powertools provider contract, kept for real (issue 10, item 5), against moto's STS server.

``assume_role``'s default provider lives in Powertools' ``DEFAULT_PROVIDERS["sts"]``, so Powertools'
``parameters.clear_caches()`` drops it and a user can inject one; the cache methods inherited from
``BaseProvider`` work on STSProvider's own cache, or say why they cannot. Each test fails on 0.1.0,
where these methods read and wrote a ``store`` that nothing consulted.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from aws_lambda_powertools.utilities import parameters
from aws_lambda_powertools.utilities.parameters import SSMProvider
from aws_lambda_powertools.utilities.parameters.constants import DEFAULT_PROVIDERS

import powertools_sts
from powertools_sts import ConfigurationError, Credentials, STSProvider, assume_role
from powertools_sts.provider import FLOOR_SECONDS

from ..conftest import OTHER_ROLE, ROLE
from .test_process_state import GatedSTS, assume_role_body, in_an_hour


def seeded(seconds_left: float = 3600, now: float | None = None, key: str = "ASIASEEDEDEXAMPLE") -> Credentials:
    """Credentials obtained elsewhere than this provider, expiring ``seconds_left`` after ``now``."""
    start = datetime.now(timezone.utc) if now is None else datetime.fromtimestamp(now, timezone.utc)
    return Credentials(key, "seeded-secret", "seeded-token", start + timedelta(seconds=seconds_left))


# -- DEFAULT_PROVIDERS["sts"]: assume_role's default provider --------------------------------------------


def test_powertools_clear_caches_makes_assume_role_fetch_again(moto_sts):
    first = assume_role(ROLE)
    assert assume_role(ROLE) is first
    assert moto_sts.assume_role_calls == 1
    parameters.clear_caches()  # what Powertools' testing docs tell users to call between tests
    assert "sts" not in DEFAULT_PROVIDERS
    second = assume_role(ROLE)
    assert second is not first
    assert moto_sts.assume_role_calls == 2


def test_assume_role_uses_a_provider_injected_into_default_providers(moto_sts, monkeypatch):
    injected = STSProvider(refresh_margin=600)
    monkeypatch.setitem(DEFAULT_PROVIDERS, "sts", injected)
    creds = assume_role(ROLE)
    assert injected.fetch_from_cache(ROLE) is creds
    assert injected.get(ROLE) is creds
    assert DEFAULT_PROVIDERS["sts"] is injected
    assert moto_sts.assume_role_calls == 1


def test_credentials_seeded_into_the_injected_provider_serve_assume_role(moto_sts, monkeypatch):
    injected = STSProvider()
    creds = seeded()
    injected.add_to_cache(ROLE, creds, 600)
    monkeypatch.setitem(DEFAULT_PROVIDERS, "sts", injected)
    assert assume_role(ROLE) is creds
    assert moto_sts.assume_role_calls == 0


def test_a_default_provider_that_is_not_an_sts_provider_is_refused(moto_sts, monkeypatch):
    monkeypatch.setitem(DEFAULT_PROVIDERS, "sts", SSMProvider())
    with pytest.raises(ConfigurationError, match=r'DEFAULT_PROVIDERS\["sts"\] must be an STSProvider.*SSMProvider'):
        assume_role(ROLE)
    assert moto_sts.assume_role_calls == 0


def test_powertools_sts_clear_caches_drops_and_empties_an_injected_provider(moto_sts, monkeypatch):
    injected = STSProvider()
    monkeypatch.setitem(DEFAULT_PROVIDERS, "sts", injected)
    first = assume_role(ROLE)
    powertools_sts.clear_caches()
    assert "sts" not in DEFAULT_PROVIDERS
    assert injected.fetch_from_cache(ROLE) is None
    second = assume_role(ROLE)
    assert second is not first
    assert isinstance(DEFAULT_PROVIDERS["sts"], STSProvider)
    assert DEFAULT_PROVIDERS["sts"] is not injected
    assert moto_sts.assume_role_calls == 2


# -- add_to_cache, has_not_expired_in_cache, fetch_from_cache: on the real cache ----------------------------


def test_seeded_credentials_are_served_by_get_without_an_sts_call(moto_sts):
    provider = STSProvider()
    creds = seeded()
    provider.add_to_cache(ROLE, creds, 600)  # Powertools' positional signature: key, value, max_age
    assert provider.has_not_expired_in_cache(ROLE)
    assert provider.fetch_from_cache(ROLE) is creds
    assert provider.get(ROLE) is creds
    assert moto_sts.assume_role_calls == 0


def test_powertools_own_cache_key_means_the_entry_of_the_role(moto_sts):
    provider = STSProvider()
    key = provider._build_cache_key(name=ROLE)  # what BaseProvider.get builds: (name, transform, is_nested)
    creds = seeded()
    provider.add_to_cache(key, creds, 600)
    assert provider.has_not_expired_in_cache(key)
    assert provider.fetch_from_cache(key) is creds
    assert provider.get(ROLE) is creds
    fetched = provider.get(OTHER_ROLE)
    assert provider.fetch_from_cache(provider._build_cache_key(name=OTHER_ROLE)) is fetched
    assert moto_sts.assume_role_calls == 1


def test_a_mapping_key_names_the_entry_of_those_assume_role_parameters(moto_sts):
    provider = STSProvider()
    creds = seeded()
    provider.add_to_cache({"RoleArn": ROLE, "ExternalId": "x-1234"}, creds, 600)
    assert provider.get(ROLE, ExternalId="x-1234") is creds
    assert moto_sts.assume_role_calls == 0
    assert provider.get(ROLE) is not creds  # another entry: every parameter is part of the key
    assert provider.fetch_from_cache({"RoleArn": ROLE, "ExternalId": "x-1234"}) is creds
    assert moto_sts.assume_role_calls == 1


def test_credentials_fetched_by_get_are_seen_by_the_cache_methods(moto_sts):
    provider = STSProvider()
    assert not provider.has_not_expired_in_cache(ROLE)
    assert provider.fetch_from_cache(ROLE) is None
    creds = provider.get(ROLE)
    assert provider.has_not_expired_in_cache(ROLE)
    assert provider.fetch_from_cache(ROLE) is creds


def test_the_max_age_of_seeded_credentials_ends_their_freshness(moto_sts, clock):
    provider = STSProvider()
    creds = seeded(now=clock.time)
    provider.add_to_cache(ROLE, creds, max_age=60)
    assert provider.get(ROLE) is creds
    clock.advance(61)
    assert not provider.has_not_expired_in_cache(ROLE)
    assert provider.fetch_from_cache(ROLE) is creds  # still far from the floor: servable
    refreshed = provider.get(ROLE)
    assert refreshed is not creds
    assert provider.fetch_from_cache(ROLE) is refreshed
    assert moto_sts.assume_role_calls == 1


def test_a_max_age_of_zero_stores_nothing(moto_sts):
    provider = STSProvider()
    provider.add_to_cache(ROLE, seeded(), 0)
    assert provider.fetch_from_cache(ROLE) is None
    assert provider.get(ROLE).access_key_id != "ASIASEEDEDEXAMPLE"
    assert moto_sts.assume_role_calls == 1


def test_credentials_past_the_floor_are_never_fetched_from_the_cache(moto_sts, clock):
    provider = STSProvider()
    creds = seeded(now=clock.time)
    provider.add_to_cache(ROLE, creds, max_age=-1)  # -1: fresh until the refresh window, as in get
    assert provider.has_not_expired_in_cache(ROLE)
    clock.advance(3600 - FLOOR_SECONDS + 1)
    assert not provider.has_not_expired_in_cache(ROLE)
    assert provider.fetch_from_cache(ROLE) is None


def test_seeded_entries_count_against_max_entries(moto_sts):
    provider = STSProvider(max_entries=1)
    provider.add_to_cache(ROLE, seeded())  # max_age left out: fresh until the refresh window
    latest = seeded(key="ASIASEEDEDLATEST")
    provider.add_to_cache(OTHER_ROLE, latest)
    assert provider.fetch_from_cache(ROLE) is None
    assert provider.fetch_from_cache(OTHER_ROLE) is latest


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"AccessKeyId": "ASIA", "SecretAccessKey": "s", "SessionToken": "t"}, "Credentials values only"),
        (Credentials("ASIANAIVE", "s", "t", datetime(2099, 1, 1)), "timezone-aware"),
        (seeded(seconds_left=30), "never served"),
    ],
    ids=["a dict", "a naive expiration", "inside the floor"],
)
def test_add_to_cache_refuses_what_get_could_never_serve(moto_sts, value: Any, message: str):
    provider = STSProvider()
    with pytest.raises(ConfigurationError, match=message):
        provider.add_to_cache(ROLE, value, 600)
    assert provider.fetch_from_cache(ROLE) is None


@pytest.mark.parametrize(
    ("key", "message"),
    [
        (42, "role ARN, Powertools' .* key, or a mapping"),
        ((ROLE, "json", False), "transform or get_multiple"),
        ((ROLE, None, True), "transform or get_multiple"),
        ("not-an-arn", "RoleArn"),
        ({"ExternalId": "x-1234"}, "RoleArn"),
    ],
    ids=["an int", "a transform", "a get_multiple key", "not an ARN", "no RoleArn"],
)
@pytest.mark.parametrize("method", ["has_not_expired_in_cache", "fetch_from_cache", "add_to_cache"])
def test_a_key_that_names_no_possible_entry_is_refused(moto_sts, key: Any, message: str, method: str):
    provider = STSProvider()
    arguments = (key, seeded(), 600) if method == "add_to_cache" else (key,)
    with pytest.raises(ConfigurationError, match=message):
        getattr(provider, method)(*arguments)


# -- store and clear_cache --------------------------------------------------------------------------------


def test_powertools_store_is_refused_rather_than_silently_ignored(moto_sts):
    provider = STSProvider()
    creds = provider.get(ROLE)
    with pytest.raises(ConfigurationError, match="not in Powertools' store"):
        provider.store
    with pytest.raises(ConfigurationError, match="add_to_cache"):
        provider.store = {(ROLE, None, False): creds}
    assert provider.fetch_from_cache(ROLE) is creds
    provider.store = {}  # an empty store is an empty cache
    assert provider.fetch_from_cache(ROLE) is None


def test_clear_cache_discards_a_fetch_in_flight():
    server = GatedSTS(lambda: assume_role_body(in_an_hour()))
    try:
        provider = STSProvider(boto3_client=server.client())
        landed: list[Credentials] = []
        thread = threading.Thread(target=lambda: landed.append(provider.get(ROLE)))
        thread.start()
        assert server.arrived.wait(10)
        provider.clear_cache()  # while the fetch is in flight
        server.gate.set()
        thread.join(10)
        assert landed[0].access_key_id == "ASIAGATEDEXAMPLE1"  # its caller asked before the clear
        assert provider.fetch_from_cache(ROLE) is None
        provider.get(ROLE)
        assert server.requests == 2  # fetched again: the cache was empty after the clear
    finally:
        server.close()
