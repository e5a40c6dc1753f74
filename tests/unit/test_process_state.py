"""Process state with one owner (issue 9): a reset that forgets everything, bounded caches, flights that always land.

Each test reproduces one item of the issue against the real components (moto's server, a loopback
HTTP endpoint of the test's own where moto cannot answer as needed) and fails on 0.1.0.
"""

from __future__ import annotations

import gc
import os
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import pytest
from botocore.config import Config
from moto.server import ThreadedMotoServer

import powertools_sts
from powertools_sts import AssumeRoleError, ConfigurationError, STSProvider, _state, get_client, get_credentials, sts

from ..conftest import ROLE
from .test_middleware import invoke, returns_credentials, unique

# -- item 2: clear_caches() forgets the STS clients too, and a fetch that lands after it ---------------------


def test_after_clear_caches_a_new_sts_endpoint_is_used(moto_sts, monkeypatch):
    # A moto server per test: the first test's endpoint is gone when the second imports its handler again.
    name = unique("reports")
    first = sts(fetch_data={name: ROLE}, disable_prefetch=True)(returns_credentials(name))
    invoke(first)
    assert moto_sts.assume_role_calls == 1

    second_server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    second_server.start()
    try:
        host, port = second_server.get_host_and_port()
        monkeypatch.setenv("AWS_ENDPOINT_URL_STS", f"http://{host}:{port}")
        powertools_sts.clear_caches()
        again = sts(fetch_data={name: ROLE}, disable_prefetch=True)(returns_credentials(name))
        assert invoke(again).access_key_id.startswith("ASIA")
        assert invoke(first).access_key_id.startswith("ASIA")  # the old layer, too, builds a new client
    finally:
        second_server.stop()
    assert moto_sts.assume_role_calls == 1  # nothing more reached the first endpoint


class GatedSTS:
    """A loopback STS endpoint that answers AssumeRole with a fixed body once ``gate`` is set; counts requests."""

    def __init__(self, body: Callable[[], bytes]) -> None:
        self.gate = threading.Event()
        self.requests = 0
        self.arrived = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return None

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                outer.requests += 1
                outer.arrived.set()
                outer.gate.wait(20)
                data = body()
                self.send_response(200)
                self.send_header("Content-Type", "text/xml")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def client(self) -> Any:
        config = Config(retries={"mode": "standard", "total_max_attempts": 1}, read_timeout=20)
        return boto3.client("sts", endpoint_url=self.url, region_name="us-east-1", config=config)

    def close(self) -> None:
        self.gate.set()
        self.server.shutdown()
        self.server.server_close()


def assume_role_body(expiration: str, key: str = "ASIAGATEDEXAMPLE1") -> bytes:
    return (
        '<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult><Credentials>'
        f"<AccessKeyId>{key}</AccessKeyId><SecretAccessKey>gated-secret</SecretAccessKey>"
        f"<SessionToken>gated-token</SessionToken><Expiration>{expiration}</Expiration></Credentials>"
        "</AssumeRoleResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></AssumeRoleResponse>"
    ).encode()


def in_an_hour() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))


@pytest.fixture
def gated() -> Iterator[Callable[[Callable[[], bytes]], GatedSTS]]:
    made: list[GatedSTS] = []

    def make(body: Callable[[], bytes]) -> GatedSTS:
        made.append(GatedSTS(body))
        return made[-1]

    yield make
    for server in made:
        server.close()


def test_a_fetch_that_lands_after_clear_caches_is_not_stored(gated):
    server = gated(lambda: assume_role_body(in_an_hour()))
    provider = STSProvider(boto3_client=server.client())
    landed: list[Any] = []
    thread = threading.Thread(target=lambda: landed.append(provider.get(ROLE)))
    thread.start()
    assert server.arrived.wait(10)
    powertools_sts.clear_caches()  # while the fetch is in flight
    server.gate.set()
    thread.join(10)
    assert landed[0].access_key_id == "ASIAGATEDEXAMPLE1"  # its caller asked before the reset
    assert provider.cache.entries == {}
    provider.get(ROLE)
    assert server.requests == 2  # fetched again: nothing from before the reset was kept


# -- item 3: get_client with an inline Config builds one client ----------------------------------------------


def test_get_client_with_an_inline_config_builds_one_client(moto_sts):
    name = unique("reports")

    def body(event: Any, context: Any) -> Any:
        return get_client(name, "s3", config=Config(retries={"max_attempts": 2}), region_name="eu-west-1")

    handler = sts(fetch_data={name: ROLE}, disable_prefetch=True)(body)
    clients = [invoke(handler) for _ in range(50)]
    assert len({id(client) for client in clients}) == 1
    other = sts(fetch_data={name: ROLE}, disable_prefetch=True)(
        lambda event, context: get_client(name, "s3", config=Config(retries={"max_attempts": 3}))
    )
    assert invoke(other) is not clients[0]  # another value, another client


class Opaque:
    pass


class Token:
    pass


@pytest.mark.parametrize(
    ("value", "named"),
    [(Opaque(), "an Opaque"), (object(), "an object"), (Token(), "a Token")],
    ids=["Opaque", "object", "Token"],
)
def test_get_client_refuses_an_argument_with_no_stable_value(moto_sts, value, named):
    name = unique("reports")
    handler = sts(fetch_data={name: ROLE}, disable_prefetch=True)(
        lambda event, context: get_client(name, "s3", verify=value)
    )
    with pytest.raises(ConfigurationError, match=f"^verify: {named} has no stable value"):
        invoke(handler)


# -- item 4: shared providers are keyed by value and freed with their layers -----------------------------------


def live_providers() -> int:
    gc.collect()
    return sum(1 for obj in gc.get_objects() if isinstance(obj, STSProvider))


def test_layers_with_equal_configs_share_one_provider_and_free_it(moto_sts):
    before = live_providers()
    handlers = [
        sts(fetch_data={unique(): ROLE}, boto_config=Config(retries={"max_attempts": 2}), disable_prefetch=True)(
            returns_credentials()
        )
        for _ in range(200)
    ]
    assert live_providers() == before + 1
    distinct = [
        sts(fetch_data={unique(): ROLE}, boto_config=Config(user_agent_extra=f"n{i}"), disable_prefetch=True)(
            returns_credentials()
        )
        for i in range(200)
    ]
    assert live_providers() == before + 201
    del handlers, distinct
    powertools_sts.clear_caches()
    assert live_providers() == before
    assert len(_state.shared_providers) == 0


def test_a_chained_layer_does_not_keep_its_hub_alive_once_both_are_gone(moto_sts):
    hub, spoke = unique("hub"), unique("spoke")
    inner = sts(fetch_data={spoke: "arn:aws:iam::444455556666:role/spoke"}, aws_client_assume_role=hub)(
        returns_credentials(spoke)
    )
    handler = sts(fetch_data={hub: ROLE}, disable_prefetch=True)(inner)
    assert invoke(handler).assumed_role_arn.startswith("arn:aws:sts::444455556666:assumed-role/spoke/")
    assert len(_state.names[hub]) == 1
    del handler, inner
    gc.collect()
    assert len(_state.names.get(hub, ())) == 0
    assert len(_state.names.get(spoke, ())) == 0


# -- item 9: the provider evicts what it can no longer serve, and can be bounded ---------------------------------


def test_entries_past_their_floor_are_evicted(moto_sts, clock):
    provider = STSProvider()
    for tenant in range(10):
        provider.get(ROLE, RoleSessionName=f"tenant-{tenant}", DurationSeconds=900)
    assert len(provider.cache.entries) == 10
    clock.advance(900)  # every one of them is past its floor (moto's expirations are real: ask for longer ones)
    for tenant in range(10, 20):
        provider.get(ROLE, RoleSessionName=f"tenant-{tenant}", DurationSeconds=3600)
    assert len(provider.cache.entries) == 10
    assert moto_sts.assume_role_calls == 20


def test_max_entries_keeps_the_most_recently_used(moto_sts):
    provider = STSProvider(max_entries=3)
    kept = provider.get(ROLE, RoleSessionName="tenant-0")
    for tenant in range(1, 6):
        provider.get(ROLE, RoleSessionName=f"tenant-{tenant}")
        assert provider.get(ROLE, RoleSessionName="tenant-0") is kept  # used at every turn
    assert len(provider.cache.entries) == 3
    assert moto_sts.assume_role_calls == 6
    provider.get(ROLE, RoleSessionName="tenant-1")  # evicted long ago: fetched again
    assert moto_sts.assume_role_calls == 7


@pytest.mark.parametrize("bad", [0, -1, 2.5, True, "3"])
def test_max_entries_must_be_a_whole_number(bad):
    with pytest.raises(ConfigurationError, match="max_entries"):
        STSProvider(max_entries=bad)


# -- item 10: a flight ends in credentials or an AssumeRoleError, whatever its owner met ----------------------


def run_callers(provider: STSProvider, server: GatedSTS, callers: int = 4) -> list[Any]:
    results: list[Any] = [None] * callers

    def call(index: int) -> None:
        try:
            results[index] = provider.get(ROLE)
        except BaseException as exc:  # the owner's interrupt included
            results[index] = exc

    threads = [threading.Thread(target=call, args=(i,)) for i in range(callers)]
    threads[0].start()
    assert server.arrived.wait(10)
    for thread in threads[1:]:
        thread.start()
    time.sleep(0.2)  # let the others join the flight (joining is not observable from outside)
    server.gate.set()
    for thread in threads:
        thread.join(20)
    return results


def test_an_expiration_with_no_utc_datetime_fails_every_caller_with_an_assume_role_error(gated):
    server = gated(lambda: assume_role_body("9999-12-31T23:59:59-14:00"))
    results = run_callers(STSProvider(boto3_client=server.client()), server)
    assert all(isinstance(result, AssumeRoleError) for result in results), results
    assert all("without usable Credentials (OverflowError)" in str(result) for result in results)
    assert server.requests == 1


def test_an_owner_interrupted_mid_fetch_leaves_its_waiters_an_assume_role_error(gated):
    server = gated(lambda: assume_role_body(in_an_hour()))
    client = server.client()

    def interrupt(**kwargs: Any) -> None:
        if threading.current_thread().name == "owner":
            raise KeyboardInterrupt

    client.meta.events.register("after-call.sts.AssumeRole", interrupt)
    provider = STSProvider(boto3_client=client)
    results: list[Any] = []
    owner = threading.Thread(target=lambda: _record(results, provider), name="owner")
    owner.start()
    assert server.arrived.wait(10)
    waiters = [threading.Thread(target=lambda: _record(results, provider)) for _ in range(3)]
    for waiter in waiters:
        waiter.start()
    time.sleep(0.2)
    server.gate.set()
    for thread in [owner, *waiters]:
        thread.join(20)
    interrupts = [r for r in results if isinstance(r, KeyboardInterrupt)]
    errors = [r for r in results if isinstance(r, AssumeRoleError)]
    assert len(interrupts) == 1
    assert len(errors) == 3
    assert all("failed: KeyboardInterrupt" in str(error) for error in errors)
    assert server.requests == 1


def _record(results: list[Any], provider: STSProvider) -> None:
    try:
        results.append(provider.get(ROLE))
    except BaseException as exc:
        results.append(exc)


# -- the fork hook is registered, and resets what a child cannot use ---------------------------------------------


def test_the_fork_hook_gives_a_provider_new_locks_and_no_flight(moto_sts):
    provider = STSProvider()
    creds = provider.get(ROLE)
    guard, client = provider.cache.guard, provider._client
    guard.acquire()  # as if another thread of the parent held it at the fork
    try:
        _state.after_fork_in_child()
    finally:
        guard.release()
    assert provider.cache.guard is not guard
    assert provider._client is None
    assert provider.get(ROLE) is creds  # still fresh: kept
    assert client is not None
    assert hasattr(os, "register_at_fork")


def test_get_credentials_outside_a_fork_still_resolves(moto_sts):
    name = unique("reports")
    handler = sts(fetch_data={name: ROLE}, disable_prefetch=True)(returns_credentials(name))
    assert invoke(handler) is get_credentials(name)
