"""INIT that fits the initialization type, and refresh ahead where nothing freezes the process (issue 11).

STS is moto behind the fault proxy (``slow``: each answer after a delay; ``hang``: none;
``expired``: credentials rewritten to expire soon). Every wait is bounded; nothing asserts a time.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config

from powertools_sts import AssumeRoleError, ConfigurationError, STSProvider, _state, background, get_credentials, sts
from powertools_sts.execution import init_waits_for_prefetch, on_managed_instances, shared_cache_from_env

from ..conftest import OTHER_ROLE, ROLE
from ..reliability.proxy import FaultProxy
from .test_middleware import invoke, unique


@pytest.fixture
def proxy(moto_sts: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[FaultProxy]:
    with FaultProxy(moto_sts.url) as fault_proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL_STS", fault_proxy.url)
        yield fault_proxy


#: What the Lambda runtime sets in a worker process of Managed Instances: the worker count beside the
#: variables of every Lambda execution environment (as the Runtime Interface Emulator's Managed Instances
#: core sets them, AWS_LAMBDA_INITIALIZATION_TYPE included).
MANAGED_INSTANCES = {
    "AWS_LAMBDA_MAX_CONCURRENCY": "8",
    "AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9001",
    "AWS_LAMBDA_FUNCTION_NAME": "orders",
    "AWS_LAMBDA_INITIALIZATION_TYPE": "lambda-managed-instances",
}


def managed_instances(monkeypatch: pytest.MonkeyPatch, workers: int = 8) -> None:
    """Make this process look like a worker of Lambda Managed Instances with ``workers`` workers."""
    for name, value in {**MANAGED_INSTANCES, "AWS_LAMBDA_MAX_CONCURRENCY": str(workers)}.items():
        monkeypatch.setenv(name, value)


def quick(**overrides: Any) -> Config:
    options: dict[str, Any] = {"retries": {"mode": "standard", "total_max_attempts": 1}, "connect_timeout": 1}
    return Config(**{**options, "read_timeout": 2, **overrides})


def wait_until(predicate: Any, what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


# -- INIT: wait for the prefetch under provisioned concurrency and on Managed Instances ----------------------


@pytest.mark.parametrize(
    "environment",
    [{"AWS_LAMBDA_INITIALIZATION_TYPE": "provisioned-concurrency"}, MANAGED_INSTANCES],
    ids=["provisioned-concurrency", "managed-instances"],
)
def test_init_ends_with_the_credentials_cached(proxy, monkeypatch, environment):
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    proxy.set_mode("slow", delay=0.3)
    names = [unique("a"), unique("b")]
    handler = sts(fetch_data={names[0]: ROLE, names[1]: OTHER_ROLE}, boto_config=quick())(
        lambda event, context: [get_credentials(name) for name in names]
    )
    assert proxy.requests == 2  # both fetched before sts(...) returned
    invoke(handler)
    assert proxy.requests == 2  # the first invocation made no STS call


def test_on_demand_init_does_not_wait(proxy, monkeypatch):
    monkeypatch.delenv("AWS_LAMBDA_INITIALIZATION_TYPE", raising=False)
    monkeypatch.delenv("AWS_LAMBDA_MAX_CONCURRENCY", raising=False)
    proxy.set_mode("hang")
    name = unique("a")
    sts(fetch_data={name: ROLE}, boto_config=quick())(lambda event, context: None)
    assert proxy.requests <= 1  # applied while the prefetch still waits on STS
    proxy.set_mode("pass")


def test_a_spent_budget_never_fails_init_and_the_first_invocation_fetches(proxy, monkeypatch, caplog):
    monkeypatch.setenv("AWS_LAMBDA_INITIALIZATION_TYPE", "provisioned-concurrency")
    proxy.set_mode("hang")
    name = unique("a")
    handler = sts(fetch_data={name: ROLE}, boto_config=quick(), prefetch_timeout=0.2)(
        lambda event, context: get_credentials(name)
    )
    assert "did not finish within 0 s at INIT" in caplog.text
    proxy.set_mode("pass")
    # The prefetch in flight ends in its read timeout; the invocation then fetches for itself.
    assert invoke(handler).access_key_id.startswith("ASIA")


def test_the_environment_variable_sets_the_budget_and_an_argument_wins(proxy, monkeypatch, caplog):
    managed_instances(monkeypatch, workers=4)
    monkeypatch.setenv("POWERTOOLS_STS_PREFETCH_TIMEOUT", "0.1")
    proxy.set_mode("hang")
    sts(fetch_data={unique("a"): ROLE}, boto_config=quick())
    assert "did not finish within 0 s at INIT" in caplog.text
    caplog.clear()
    proxy.set_mode("slow", delay=0.3)
    sts(fetch_data={unique("b"): ROLE}, boto_config=quick(), prefetch_timeout=5)
    assert "did not finish" not in caplog.text


@pytest.mark.parametrize("value", ["soon", "-1", "901", "nan"])
def test_a_bad_prefetch_timeout_variable_is_refused_when_applied(monkeypatch, value):
    monkeypatch.setenv("POWERTOOLS_STS_PREFETCH_TIMEOUT", value)
    with pytest.raises(ConfigurationError, match="POWERTOOLS_STS_PREFETCH_TIMEOUT"):
        sts(fetch_data={unique(): ROLE})


@pytest.mark.parametrize("value", [-1, 901, True, "5"])
def test_a_bad_prefetch_timeout_is_refused_when_applied(value):
    with pytest.raises(ConfigurationError, match="prefetch_timeout"):
        sts(fetch_data={unique(): ROLE}, prefetch_timeout=value)


# -- refresh ahead -----------------------------------------------------------------------------------------


def test_refresh_ahead_replaces_credentials_before_they_stop_being_fresh(proxy, caplog):
    # 63 s credentials: fresh for 3 s (the 60 s floor); a read in the last 1.5 s of that refreshes ahead.
    proxy.set_mode("expired", offset=63)
    client = boto3.client("sts", endpoint_url=proxy.url, config=quick())
    provider = STSProvider(boto3_client=client, refresh_ahead=True)
    first = provider.get(ROLE)
    wait_until(lambda: provider.get(ROLE) is not first, "the refreshed credentials, read after the refresh ahead")
    assert proxy.requests == 2  # every read was served from the cache: the refresh was ahead of them
    proxy.set_mode("pass")


def test_a_failed_refresh_ahead_keeps_the_credentials_and_tries_again(proxy, caplog):
    # 76 s credentials, a 13 s retry budget: a read 8 s after the fetch refreshes ahead; 5 s later, again.
    proxy.set_mode("expired", offset=76)
    config = quick(retries={"mode": "standard", "total_max_attempts": 2})
    client = boto3.client("sts", endpoint_url=proxy.url, config=config)
    provider = STSProvider(boto3_client=client, refresh_ahead=True)
    first = provider.get(ROLE)
    proxy.set_mode("denied")
    with caplog.at_level(logging.WARNING, logger="powertools_sts"):
        wait_until(lambda: provider.get(ROLE) is first and proxy.requests >= 2, "the refresh ahead of time")
        wait_until(lambda: "ahead of time failed (AccessDenied)" in caplog.text, "the warning")
    assert provider.get(ROLE) is first  # still fresh: kept
    assert proxy.requests == 2  # within the back-off, reads do not refresh again
    proxy.set_mode("expired", offset=76)
    wait_until(lambda: provider.get(ROLE) is not first, "the retry after the back-off", timeout=15)


def test_refresh_ahead_only_refreshes_an_entry_read_since_its_last_fetch(proxy):
    # Issue 18, item 6: refresh ahead re-armed a timer after every refresh, for ever, and the timer held
    # its provider: an entry read once was re-assumed for the life of the process (5 calls in 40 s with
    # 75 s credentials), also by a provider nobody held any more.
    proxy.set_mode("expired", offset=63)
    client = boto3.client("sts", endpoint_url=proxy.url, config=quick())
    kept = STSProvider(boto3_client=client, refresh_ahead=True)
    kept.get(ROLE)
    dropped = STSProvider(boto3_client=client, refresh_ahead=True)  # as parameters.clear_caches() drops one
    dropped.get(OTHER_ROLE)
    del dropped
    assert proxy.requests == 2
    time.sleep(4.5)  # past the refresh-ahead stretch (1.5 s to 3 s) and the end of freshness (3 s)
    assert proxy.requests == 2  # nobody read either entry since its fetch: no AssumeRole
    # No thread per entry: only the thread that starts refresh-ahead threads, idle, begun by the first fetch.
    assert [t for t in threading.enumerate() if t.name.startswith("powertools-sts")] == [_state.starter]
    proxy.set_mode("pass")


def test_a_read_that_starts_a_refresh_ahead_does_not_wait_for_a_thread_start(proxy, monkeypatch):
    # Thread.start returns once the OS has run the new thread: on a busy Managed Instances host, milliseconds
    # of the invocation whose read began the refresh. The fetch begins a thread that starts them instead.
    background.stop()
    started_by: list[tuple[threading.Thread, threading.Thread]] = []
    real_start = threading.Thread.start

    def start(thread: threading.Thread) -> None:
        if thread.name.startswith("powertools-sts"):  # not the proxy's, nor moto's
            started_by.append((thread, threading.current_thread()))
        real_start(thread)

    monkeypatch.setattr(threading.Thread, "start", start)
    proxy.set_mode("expired", offset=63)  # fresh for 3 s; a read in the last 1.5 s refreshes ahead
    provider = STSProvider(boto3_client=boto3.client("sts", endpoint_url=proxy.url, config=quick()), refresh_ahead=True)
    first = provider.get(ROLE)
    starter = _state.starter
    assert starter is not None
    assert started_by == [(starter, threading.current_thread())]  # begun by the fetch
    wait_until(lambda: provider.get(ROLE) is not first, "the refreshed credentials, read after the refresh ahead")
    assert proxy.requests == 2
    assert [by for _, by in started_by[1:]] == [starter]  # the refresh's thread: started by it, not by the read
    assert background.stop() == []  # it ends when asked, as every task does
    assert [t.name for t in threading.enumerate() if t.name.startswith("powertools-sts")] == []
    proxy.set_mode("pass")


def test_classic_lambda_does_not_refresh_ahead(proxy, monkeypatch):
    monkeypatch.delenv("AWS_LAMBDA_MAX_CONCURRENCY", raising=False)
    proxy.set_mode("expired", offset=63)
    provider = STSProvider(boto3_client=boto3.client("sts", endpoint_url=proxy.url, config=quick()))
    assert provider.refresh_ahead is False
    provider.get(ROLE)
    stop = threading.Event()
    stop.wait(3)  # longer than a refresh ahead would have taken
    assert proxy.requests == 1
    proxy.set_mode("pass")


def test_refresh_ahead_is_on_by_default_on_managed_instances(monkeypatch):
    managed_instances(monkeypatch)
    assert STSProvider().refresh_ahead is True
    with pytest.raises(ConfigurationError, match="refresh_ahead"):
        STSProvider(refresh_ahead="yes")  # type: ignore[arg-type]


@pytest.mark.parametrize("unset", ["AWS_LAMBDA_RUNTIME_API", "AWS_LAMBDA_FUNCTION_NAME"])
def test_the_worker_count_alone_off_lambda_is_not_managed_instances(monkeypatch, unset):
    # A container or a laptop may carry AWS_LAMBDA_MAX_CONCURRENCY: without the variables Lambda sets in
    # every environment, no shared cache in /tmp, no refresh ahead, no INIT waiting for its prefetch.
    managed_instances(monkeypatch)
    monkeypatch.delenv("AWS_LAMBDA_INITIALIZATION_TYPE")
    monkeypatch.delenv("POWERTOOLS_STS_SHARED_CACHE", raising=False)
    monkeypatch.delenv(unset)
    assert (on_managed_instances(), shared_cache_from_env(), init_waits_for_prefetch()) == (False, False, False)
    provider = STSProvider()
    assert (provider.refresh_ahead, provider.shared_cache) == (False, False)
    monkeypatch.setenv(unset, "")  # set but empty is not Lambda's either
    assert on_managed_instances() is False


def test_managed_instances_are_recognised_by_the_runtime_s_variables(monkeypatch):
    monkeypatch.delenv("POWERTOOLS_STS_SHARED_CACHE", raising=False)
    managed_instances(monkeypatch)
    assert (on_managed_instances(), shared_cache_from_env(), init_waits_for_prefetch()) == (True, True, True)


# -- the cross-process cache, wired into the provider ----------------------------------------------------------


@pytest.fixture
def private_tmp(tmp_path, monkeypatch):
    import tempfile

    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr(tempfile, "tempdir", None)  # tempfile caches gettempdir(): read TMPDIR again
    yield tmp_path
    tempfile.tempdir = None


def test_providers_sharing_the_cache_assume_a_role_once(moto_sts, private_tmp):
    # Two providers stand for two worker processes (each with its own memory cache): one AssumeRole.
    first, second = STSProvider(shared_cache=True), STSProvider(shared_cache=True)
    creds = first.get(ROLE, RoleSessionName="workers")
    assert second.get(ROLE, RoleSessionName="workers").access_key_id == creds.access_key_id
    assert moto_sts.assume_role_calls == 1
    assert (private_tmp / f"powertools-sts-{__import__('os').getuid()}").is_dir()
    second.get(ROLE, RoleSessionName="workers", ExternalId="other-params")  # other parameters: another file
    assert moto_sts.assume_role_calls == 2


def test_no_usable_temporary_directory_never_fails_a_fetch(moto_sts, monkeypatch, caplog):
    # A full or read-only /tmp on Lambda (where /var/task is read-only too): gettempdir() raises.
    import errno
    import tempfile

    from powertools_sts import _state

    def no_tempdir() -> str:
        raise FileNotFoundError(errno.ENOENT, "No usable temporary directory found in ['/tmp', '/var/tmp']")

    monkeypatch.setattr(tempfile, "gettempdir", no_tempdir)
    monkeypatch.setattr(_state, "warned", set(), raising=False)
    first, second = STSProvider(shared_cache=True), STSProvider(shared_cache=True)
    with caplog.at_level(logging.WARNING, logger="powertools_sts"):
        assert first.get(ROLE).access_key_id != second.get(ROLE).access_key_id  # each process's own cache
    assert moto_sts.assume_role_calls == 2
    assert caplog.text.count("Cannot use the shared credential cache") == 1  # once per process, not per provider


def test_credentials_of_another_role_in_the_shared_file_are_not_taken(moto_sts, private_tmp, caplog):
    import json
    import os

    first, second = STSProvider(shared_cache=True), STSProvider(shared_cache=True)
    creds = first.get(ROLE)
    [path] = (private_tmp / f"powertools-sts-{os.getuid()}").glob("*.json")
    doc = json.loads(path.read_bytes())
    doc["credentials"]["assumed_role_arn"] = "arn:aws:sts::444455556666:assumed-role/audit/planted"
    path.write_bytes(json.dumps(doc).encode())  # the same file, still 0600: only the role is wrong
    with caplog.at_level(logging.WARNING, logger="powertools_sts"):
        assert second.get(ROLE).access_key_id != creds.access_key_id
    assert moto_sts.assume_role_calls == 2
    assert f"credentials of another role than {ROLE}" in caplog.text


def test_after_clear_caches_the_files_of_before_are_not_taken(moto_sts, private_tmp):
    import powertools_sts

    first = STSProvider(shared_cache=True)
    old = first.get(ROLE)
    powertools_sts.clear_caches()
    assert first.get(ROLE).access_key_id != old.access_key_id
    assert moto_sts.assume_role_calls == 2


def test_a_decorator_layer_shares_through_the_environment_variable(moto_sts, private_tmp, monkeypatch):
    monkeypatch.setenv("POWERTOOLS_STS_SHARED_CACHE", "true")
    name = unique("a")
    handlers = [
        sts(fetch_data={name: ROLE}, disable_prefetch=True, boto_config=quick(user_agent_extra=f"w{i}"))(
            lambda event, context: get_credentials(name)
        )
        for i in range(3)
    ]
    keys = {invoke(handler).access_key_id for handler in handlers}
    assert len(keys) == 1
    assert moto_sts.assume_role_calls == 1


@pytest.mark.parametrize("value", ["maybe", "2"])
def test_a_bad_shared_cache_variable_is_refused_when_applied(monkeypatch, value):
    monkeypatch.setenv("POWERTOOLS_STS_SHARED_CACHE", value)
    with pytest.raises(ConfigurationError, match="POWERTOOLS_STS_SHARED_CACHE"):
        sts(fetch_data={unique(): ROLE})


def test_shared_cache_must_be_a_flag():
    with pytest.raises(ConfigurationError, match="shared_cache"):
        sts(fetch_data={unique(): ROLE}, shared_cache="yes")
    with pytest.raises(ConfigurationError, match="shared_cache"):
        STSProvider(shared_cache=1)  # type: ignore[arg-type]


def test_credentials_taken_from_another_process_are_no_sts_call_to_report(moto_sts, private_tmp, monkeypatch):
    from powertools_sts import _state

    monkeypatch.setenv("POWERTOOLS_STS_SHARED_CACHE", "true")
    events: list[Any] = []

    class Recorder:
        def refreshed(self, event: Any) -> None:
            events.append(event)

        def retried(self, entry: Any, role_arn: str) -> None:
            raise AssertionError("no call was refused")

    name = unique("a")
    handlers = [
        sts(fetch_data={name: ROLE}, disable_prefetch=True, boto_config=quick(user_agent_extra=f"x{i}"))(
            lambda event, context: get_credentials(name)
        )
        for i in range(2)
    ]
    for slot in list(_state.names[name]):
        slot.layer.observer = slot.observer = Recorder()
    for handler in handlers:
        invoke(handler)
    assert [event.outcome for event in events] == ["fetched"]  # the second layer read the first one's file
    assert moto_sts.assume_role_calls == 1


# -- the provider's rules hold with the shared cache on (issue 18, items 1 and 2) ---------------------------


def shared_files(private_tmp: Any) -> list[str]:
    return sorted(path.name for path in private_tmp.rglob("*.json"))


def test_force_fetch_calls_sts_and_stores_with_the_shared_cache_on(moto_sts, private_tmp):
    first, second, third = (STSProvider(shared_cache=True) for _ in range(3))
    old = first.get(ROLE)
    forced = second.get(ROLE, force_fetch=True)  # was answered from the /tmp file: 1 call, not 2
    assert moto_sts.assume_role_calls == 2
    assert forced.access_key_id != old.access_key_id
    assert third.get(ROLE).access_key_id == forced.access_key_id  # stored for the other processes
    assert moto_sts.assume_role_calls == 2


def test_max_age_zero_neither_reads_nor_writes_the_shared_cache(moto_sts, private_tmp):
    provider = STSProvider(shared_cache=True)
    keys = {provider.get(ROLE, max_age=0).access_key_id for _ in range(3)}
    assert len(keys) == 3
    assert moto_sts.assume_role_calls == 3
    assert shared_files(private_tmp) == []  # nothing written
    cached = STSProvider(shared_cache=True).get(ROLE)  # a file now
    assert provider.get(ROLE, max_age=0).access_key_id != cached.access_key_id  # and not read
    assert moto_sts.assume_role_calls == 5


def test_an_sts_layer_with_max_age_zero_fetches_at_every_invocation_with_the_shared_cache_on(moto_sts, private_tmp):
    name = unique("zero")
    handler = sts(fetch_data={name: ROLE}, max_age=0, shared_cache=True)(lambda event, context: get_credentials(name))
    keys = {invoke(handler).access_key_id for _ in range(3)}
    assert len(keys) == 3
    assert moto_sts.assume_role_calls == 3
    assert shared_files(private_tmp) == []


def test_a_positive_max_age_bounds_the_age_of_what_the_shared_cache_serves(moto_sts, private_tmp, clock):
    old = STSProvider(shared_cache=True).get(ROLE)
    clock.advance(100)
    reader = STSProvider(shared_cache=True)
    young = reader.get(ROLE, max_age=60)  # the file's credentials are 100 s old: not served
    assert young.access_key_id != old.access_key_id
    assert moto_sts.assume_role_calls == 2
    clock.advance(30)
    assert reader.get(ROLE, max_age=60) is young  # from memory, not the file again
    assert moto_sts.assume_role_calls == 2


def test_after_clear_caches_a_failure_of_another_process_is_not_held_against_this_one(proxy, private_tmp):
    import multiprocessing

    import powertools_sts
    from powertools_sts.exceptions import SharedBackoffError

    client = boto3.client("sts", endpoint_url=proxy.url, config=quick())
    provider = STSProvider(boto3_client=client, shared_cache=True)
    proxy.set_mode("denied")
    worker = multiprocessing.get_context("fork").Process(target=_fail_once, args=(proxy.url,))
    worker.start()
    worker.join(30)
    assert (worker.exitcode, proxy.requests) == (0, 1)
    with pytest.raises(SharedBackoffError, match=r"failed in process \d+ of this environment"):
        provider.get(ROLE)  # another worker failed moments ago: no call
    assert proxy.requests == 1
    proxy.set_mode("pass")
    powertools_sts.clear_caches()
    assert provider.get(ROLE).access_key_id  # fetched anew, not SharedBackoffError with 0 calls
    assert proxy.requests == 2


def test_a_failure_of_this_process_is_never_held_against_it_with_the_shared_cache(proxy, private_tmp):
    # Found attacking the shared cache: an entry whose prefetch failed was refused by the first
    # invocation with SharedBackoffError for 5 s, though the process's own failures are never cached.
    name = unique("prefetch")
    proxy.set_mode("denied")
    handler = sts(fetch_data={name: ROLE}, shared_cache=True, boto_config=quick())(
        lambda event, context: get_credentials(name)
    )
    wait_until(lambda: proxy.requests == 1, "the prefetch")
    wait_until(lambda: not [t for t in threading.enumerate() if t.name == "powertools-sts-prefetch"], "its end")
    proxy.set_mode("pass")
    assert invoke(handler).access_key_id  # fetched again, at once
    assert proxy.requests == 2


def _fail_once(url: str) -> None:
    client = boto3.client("sts", endpoint_url=url, config=quick())
    with pytest.raises(AssumeRoleError, match="AccessDenied"):
        STSProvider(boto3_client=client, shared_cache=True).get(ROLE)
