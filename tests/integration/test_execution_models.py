"""INIT and refresh in each execution model, under the real Lambda runtime client (issue 11, "Done when").

awslambdaric 4.2.2 runs lambda_app/models.py, INIT included, against the Runtime API fixture on
127.0.0.1; STS is moto behind the fault proxy (``slow``: every answer after a delay, so that a
prefetch still running when INIT ends would show; ``hang``: STS down; ``expired``: short-lived
credentials). The function module counts the AssumeRole calls of its own process, by thread, and
says so in every response.

- Provisioned concurrency: the runtime is frozen (SIGSTOP) when it first asks for an invocation, as
  Lambda freezes a provisioned sandbox after INIT; INIT must have ended with the credentials cached.
- Lambda Managed Instances (``AWS_LAMBDA_MAX_CONCURRENCY=8`` and
  ``AWS_LAMBDA_INITIALIZATION_TYPE=lambda-managed-instances``, beside ``AWS_LAMBDA_RUNTIME_API`` and
  ``AWS_LAMBDA_FUNCTION_NAME`` as in every Lambda environment): awslambdaric forks 8 worker processes,
  each with its own INIT, all polling ``next`` at once. The workers share ``/tmp`` (``TMPDIR`` points
  at the test's own directory), through which one AssumeRole per role serves the whole environment,
  at INIT and at each refresh ahead of time. Each runtime runs in a session of its own and is killed
  with every worker it forked at the end of the test.

Every wait is bounded; nothing asserts a time: counts and orderings only.
"""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ..conftest import OTHER_ROLE, ROLE
from ..reliability.proxy import FaultProxy
from .conftest import RuntimeAPI
from .test_runtime import Runtime

APP_DIR = Path(__file__).with_name("lambda_app")
THIRD_ROLE = "arn:aws:iam::777788889999:role/billing"
TWO_ROLES = f"{ROLE},{OTHER_ROLE}"
THREE_ROLES = f"{ROLE},{OTHER_ROLE},{THIRD_ROLE}"
WORKERS = 8
#: AWS_LAMBDA_INITIALIZATION_TYPE on Managed Instances, as the Runtime Interface Emulator sets it there.
MANAGED = "lambda-managed-instances"
#: The package's background threads: the prefetch at INIT and the refresh ahead of time. An AssumeRole
#: on any other thread of a worker was made for an invocation (the main thread, or the per-entry workers).
BACKGROUND_THREADS = frozenset({"powertools-sts-prefetch", "powertools-sts-refresh-ahead"})


@pytest.fixture
def proxy(moto_sts: Any) -> Iterator[FaultProxy]:
    with FaultProxy(moto_sts.url) as fault_proxy:
        yield fault_proxy


@pytest.fixture
def start(runtime_api: RuntimeAPI, proxy: FaultProxy, tmp_path: Path) -> Iterator[Callable[..., Runtime]]:
    """Start runtimes of lambda_app/models.py, STS through the proxy, ``TMPDIR`` the test's own directory."""
    started: list[Runtime] = []

    def run(api: RuntimeAPI | None = None, handler: str = "models.handler", **env: str) -> Runtime:
        environment = {"AWS_ENDPOINT_URL_STS": proxy.url, "TMPDIR": str(tmp_path), **env}
        runtime = Runtime(api or runtime_api, handler, environment)
        started.append(runtime)
        return runtime

    yield run
    for runtime in started:
        runtime.stop()


def wait_until(predicate: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def wait_for_init(api: RuntimeAPI, runtime: Runtime, workers: int = 1, timeout: float = 90.0) -> None:
    """Wait until ``workers`` processes ended INIT: each asked for its first invocation."""
    api.wait_for(lambda: api.polls >= workers or bool(api.init_errors), f"{workers} INITs", timeout)
    assert not api.init_errors, f"{api.init_errors}\n{runtime.output()}"
    assert api.served == 0


def wave(api: RuntimeAPI, runtime: Runtime, workers: int, first: int) -> list[dict[str, Any]]:
    """One invocation per worker: with every worker's ``next`` held, each held request takes one event."""
    api.wait_for(lambda: api.waiting() >= workers or bool(api.errors), f"{workers} idle workers", 30)
    assert api.waiting() == workers, f"{api.waiting()} requests held for {workers} workers"
    ids = [api.invoke({"n": first + i}) for i in range(workers)]
    api.wait_for(lambda: set(ids) <= set(api.responses) or bool(api.errors), "the wave's responses", 30)
    assert not api.errors, f"{api.errors}\n{runtime.output()}"
    responses = [api.responses[request_id] for request_id in ids]
    assert [response["request_id"] for response in responses] == ids
    return responses


def foreground(calls: dict[str, int]) -> int:
    """AssumeRole calls of a worker made for an invocation: on any thread but the package's background ones."""
    return sum(count for thread, count in calls.items() if thread not in BACKGROUND_THREADS)


def made_since_init(response: dict[str, Any]) -> dict[str, int]:
    """The AssumeRole calls the response's worker made after its INIT, by thread."""
    now, init = Counter(response["calls"]), Counter(response["init_calls"])
    return dict(now - init)


# -- provisioned concurrency -------------------------------------------------------------------------------


@pytest.mark.timeout(90)
def test_provisioned_concurrency_init_ends_with_the_credentials_cached_before_the_freeze(
    moto_sts, proxy, runtime_api, start
):
    proxy.set_mode("slow", delay=0.3)  # a prefetch INIT did not wait for would reach moto after the freeze
    holder: dict[str, Runtime] = {}

    def freeze() -> tuple[int, int]:
        # Run by the Runtime API when INIT has ended (the first ``next``): freeze the sandbox there.
        pid = holder["runtime"].process.pid
        os.kill(pid, signal.SIGSTOP)
        at_freeze = moto_sts.assume_role_calls
        time.sleep(1.0)  # frozen for a while, as a provisioned sandbox is until its first invocation
        while_frozen = moto_sts.assume_role_calls
        os.kill(pid, signal.SIGCONT)
        return at_freeze, while_frozen

    runtime_api.gate = freeze
    first = runtime_api.invoke({"n": 1})
    holder["runtime"] = runtime = start(AWS_LAMBDA_INITIALIZATION_TYPE="provisioned-concurrency", MODEL_ROLES=TWO_ROLES)
    runtime_api.wait_for(
        lambda: first in runtime_api.responses or bool(runtime_api.errors) or bool(runtime_api.init_errors),
        "the first response",
        timeout=60,
    )

    assert not runtime_api.init_errors, runtime_api.init_errors
    assert not runtime_api.errors, f"{runtime_api.errors}\n{runtime.output()}"
    assert runtime_api.gate_result == (2, 2), runtime.output()  # INIT ended with both AssumeRole answered
    response = runtime_api.responses[first]
    assert sum(response["init_calls"].values()) == 2  # made by the runtime process, during INIT
    assert made_since_init(response) == {}  # the first invocation was served from the cache
    assert moto_sts.assume_role_calls == 2
    assert proxy.requests == 2
    assert set(response["keys"]) == {"reports", "audit"}
    assert set(response["keys"].values()) <= set(proxy.issued)


@pytest.mark.timeout(90)
def test_provisioned_concurrency_init_ends_with_sts_down_and_the_first_invocation_fetches(
    moto_sts, proxy, runtime_api, start
):
    proxy.set_mode("hang")
    runtime = start(
        AWS_LAMBDA_INITIALIZATION_TYPE="provisioned-concurrency",
        POWERTOOLS_STS_PREFETCH_TIMEOUT="1",
        MODEL_ROLES=TWO_ROLES,
    )
    wait_for_init(runtime_api, runtime)  # INIT ended although no AssumeRole was answered
    wait_until(lambda: proxy.counts["hang"] == 2, "both prefetches held by the proxy")
    assert moto_sts.assume_role_calls == 0
    assert runtime.process.poll() is None

    proxy.set_mode("pass")  # STS is back: the held requests are closed, botocore's retry passes
    first = runtime_api.invoke({"n": 1})
    runtime_api.wait_for(lambda: first in runtime_api.responses or bool(runtime_api.errors), "the response", 60)

    assert not runtime_api.errors, f"{runtime_api.errors}\n{runtime.output()}"
    assert not runtime_api.init_errors
    response = runtime_api.responses[first]
    assert set(response["keys"].values()) <= set(proxy.issued)
    assert len(set(response["keys"].values())) == 2
    assert moto_sts.assume_role_calls == 2  # one AssumeRole per entry reached STS: no fetch beside the held one
    assert "did not finish within 1 s at INIT" in runtime.output()  # logged, never an INIT failure


# -- Lambda Managed Instances ------------------------------------------------------------------------------


@pytest.mark.timeout(150)
def test_managed_instances_workers_end_init_with_credentials_and_invocations_make_no_sts_call(
    moto_sts, proxy, runtime_api, start
):
    proxy.set_mode("slow", delay=0.2)
    runtime = start(
        AWS_LAMBDA_MAX_CONCURRENCY=str(WORKERS), AWS_LAMBDA_INITIALIZATION_TYPE=MANAGED, MODEL_ROLES=THREE_ROLES
    )
    wait_for_init(runtime_api, runtime, WORKERS)
    at_init = moto_sts.assume_role_calls

    responses = [r for n in range(5) for r in wave(runtime_api, runtime, WORKERS, n * WORKERS)]

    assert len(responses) == 40
    assert len(set(runtime_api.responses)) == 40  # all 40 succeeded (no error was posted: see wave)
    per_worker = Counter(response["pid"] for response in responses)
    assert len(per_worker) == WORKERS  # 8 processes, each with its own INIT
    # Every worker served invocations; a worker done early may take a second event of a round, so the
    # spread need not be even.
    assert sum(per_worker.values()) == len(responses)
    assert min(per_worker.values()) >= 1
    for response in responses:
        assert made_since_init(response) == {}, response  # no worker called STS after its INIT
        assert set(response["keys"]) == {"reports", "audit", "billing"}
        assert set(response["keys"].values()) <= set(proxy.issued)
    init_calls = {response["pid"]: sum(response["init_calls"].values()) for response in responses}
    assert sum(init_calls.values()) == at_init  # every AssumeRole was made at a worker's INIT
    assert moto_sts.assume_role_calls == at_init

    # One AssumeRole per role for the whole environment.
    assert at_init == 3, f"AssumeRole calls at INIT, by worker: {init_calls}"
    for name in ("reports", "audit", "billing"):
        assert len({response["keys"][name] for response in responses}) == 1, name  # one set of credentials


@pytest.mark.timeout(180)
def test_managed_instances_refresh_ahead_once_per_role_for_all_workers(moto_sts, proxy, runtime_api, start):
    # Credentials that live LIFETIME s: fresh until fetch + LIFETIME - 60 (the floor), the refresh ahead
    # starting min(retry budget, (LIFETIME - 60) / 2) = 15 s before that, at fetch + 15 s.
    lifetime = 90
    proxy.before_response = lambda: time.sleep(0.2)  # slow answers: the workers' refreshes overlap
    proxy.set_mode("expired", offset=lifetime)
    runtime = start(
        AWS_LAMBDA_MAX_CONCURRENCY=str(WORKERS), AWS_LAMBDA_INITIALIZATION_TYPE=MANAGED, MODEL_ROLES=THREE_ROLES
    )
    wait_for_init(runtime_api, runtime, WORKERS)
    at_init = moto_sts.assume_role_calls
    init_keys = set(proxy.issued)
    assert len(init_keys) == at_init
    # The refreshed credentials live an hour: exactly one refresh in this test.
    proxy.set_mode("pass")
    assert proxy.requests == at_init, "a refresh started before INIT of all workers ended (a very slow machine)"

    # Invoke until every INIT credential is 10 s past its floor, then once more.
    stop_at = max(proxy.expirations[key] for key in init_keys) - 50
    responses: list[dict[str, Any]] = []
    while time.time() < stop_at:
        responses += wave(runtime_api, runtime, WORKERS, len(responses))
        time.sleep(0.2)
    # One more invocation per worker: a worker that answers fast may take two events of a wave, so waves
    # go on until every worker answered one; the latest answer of each worker is its last word.
    by_worker: dict[int, dict[str, Any]] = {}
    for _ in range(10):
        extra = wave(runtime_api, runtime, WORKERS, len(responses))
        responses += extra
        by_worker.update((response["pid"], response) for response in extra)
        if len(by_worker) == WORKERS:
            break
    last = list(by_worker.values())
    refreshes = moto_sts.assume_role_calls - at_init

    assert len(set(runtime_api.responses)) == len(responses)  # every invocation succeeded
    assert len({response["pid"] for response in last}) == WORKERS
    for response in responses:
        assert foreground(made_since_init(response)) == 0, response  # no invocation waited on STS
        assert set(response["keys"].values()) <= set(proxy.issued)
    for response in last:  # past the floor of the INIT credentials: only refreshed ones can serve
        assert not set(response["keys"].values()) & init_keys, response
    # Every AssumeRole after INIT was a refresh ahead of time, on a worker's background thread.
    assert sum(sum(made_since_init(response).values()) for response in last) == refreshes
    assert refreshes >= 3

    assert (at_init, refreshes) == (3, 3)  # one AssumeRole per role for all 8 workers, at INIT and to refresh
    for name in ("reports", "audit", "billing"):
        assert len({response["keys"][name] for response in last}) == 1, name


@pytest.mark.timeout(120)
@pytest.mark.parametrize("differ_by", ["parameters", "signer"])
def test_two_functions_sharing_tmp_never_share_credentials(differ_by, moto_sts, proxy, runtime_api, start):
    proxy.set_mode("slow", delay=0.2)
    second_api = RuntimeAPI()
    try:
        common = {
            "AWS_LAMBDA_MAX_CONCURRENCY": "2",
            "AWS_LAMBDA_INITIALIZATION_TYPE": MANAGED,
            "MODEL_ROLES": ROLE,
            "MODEL_EXTERNAL_ID": "tenant-a",
        }
        if differ_by == "parameters":  # the same role, assumed with another ExternalId and session name
            other = {**common, "MODEL_EXTERNAL_ID": "tenant-b", "MODEL_SESSION_NAME": "tenant-b"}
        else:  # the same role and parameters, signed with another function's credentials
            other = {**common, "AWS_ACCESS_KEY_ID": "AKIAOTHERFUNCTION", "AWS_SECRET_ACCESS_KEY": "other"}
        first = start(**common)
        second = start(api=second_api, **other)
        wait_for_init(runtime_api, first, 2)
        wait_for_init(second_api, second, 2)

        keys_a = {response["keys"]["reports"] for response in wave(runtime_api, first, 2, 0)}
        keys_b = {response["keys"]["reports"] for response in wave(second_api, second, 2, 0)}
    finally:
        second_api.close()

    assert not keys_a & keys_b  # each function got credentials of its own
    assert (keys_a | keys_b) <= set(proxy.issued)
    assert moto_sts.assume_role_calls == len(keys_a) + len(keys_b)  # the counts add up

    assert len(keys_a) == len(keys_b) == 1  # one AssumeRole per function, shared by its two workers
    assert moto_sts.assume_role_calls == 2
