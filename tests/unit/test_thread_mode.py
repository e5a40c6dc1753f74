"""Thread mode: one process, 8 threads invoking one decorated handler at once, across a refresh (issue 11).

Lambda Managed Instances may run several invocations of one process on threads. awslambdaric 4.2.2
has no such mode (no ``AWS_LAMBDA_CONCURRENCY_MODE=thread``), so the test is the runtime's part:
8 threads invoke an ``sts``-decorated handler with 2 entries, 1,000 invocations in all; half way
through, the fake clock (``powertools_sts._clock.now``) jumps into the refresh window of both entries,
where their credentials are due but still valid. STS is moto behind the fault proxy, slow enough that
invocations keep running while the refresh is in flight. Each invocation reads ``get_credentials`` and
the credentials the ``get_client(name, "s3")`` client would sign with (no S3 call is made).
"""

from __future__ import annotations

import tempfile
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from powertools_sts import get_client, get_credentials, sts

from ..conftest import OTHER_ROLE, ROLE
from ..reliability.proxy import FaultProxy
from .test_execution_models import managed_instances
from .test_middleware import invoke, unique

THREADS = 8
PER_THREAD = 125  # 1,000 invocations in all
JUMP_AFTER = 62  # invocations of each thread before the clock jumps: 496 before, 504 after
# Past the refresh window of moto's 3600 s credentials (default margin 300 s plus up to 25% jitter),
# above the 60 s floor: the entries are due, their credentials still usable.
PAST_REFRESH = 3310


@pytest.fixture
def proxy(moto_sts: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[FaultProxy]:
    with FaultProxy(moto_sts.url) as fault_proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL_STS", fault_proxy.url)
        yield fault_proxy


@pytest.mark.timeout(90)
@pytest.mark.parametrize("model", ["on-demand", "managed-instances"])
def test_eight_threads_share_one_assume_role_per_entry_per_refresh(
    model, proxy, moto_sts, clock, monkeypatch, tmp_path
):
    for name in ("AWS_LAMBDA_INITIALIZATION_TYPE", "POWERTOOLS_STS_SHARED_CACHE", "POWERTOOLS_STS_PREFETCH_TIMEOUT"):
        monkeypatch.delenv(name, raising=False)
    # The cross-process cache, where it is on, stays the test's: tempfile caches its directory on first use.
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    if model == "managed-instances":
        managed_instances(monkeypatch, workers=THREADS)
    else:
        monkeypatch.delenv("AWS_LAMBDA_MAX_CONCURRENCY", raising=False)
    proxy.set_mode("slow", delay=0.1)
    names = [unique("reports"), unique("audit")]

    @sts(fetch_data={names[0]: ROLE, names[1]: OTHER_ROLE})
    def handler(event: Any, context: Any) -> list[tuple[str, tuple[str, str, str], Any, tuple[str, str, str]]]:
        seen = []
        for name in names:
            creds = get_credentials(name)
            client = get_client(name, "s3")
            signing = client._request_signer._credentials.get_frozen_credentials()  # what a request would carry
            triple = (creds.access_key_id, creds.secret_access_key, creds.session_token)
            seen.append((name, triple, client, (signing.access_key, signing.secret_key, signing.token)))
        return seen

    jump = threading.Barrier(THREADS, action=lambda: clock.advance(PAST_REFRESH), timeout=30)
    results: dict[int, list[Any]] = {n: [] for n in range(THREADS)}
    errors: list[BaseException] = []

    def invoking(n: int) -> None:
        try:
            for i in range(PER_THREAD):
                if i == JUMP_AFTER:
                    jump.wait()  # every thread has made its first 62 invocations: into the refresh window
                results[n].append(invoke(handler, f"req-{n}-{i}"))
        except BaseException as exc:
            errors.append(exc)
            jump.abort()

    threads = [threading.Thread(target=invoking, args=(n,), name=f"invoker-{n}", daemon=True) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not any(thread.is_alive() for thread in threads), "an invoking thread hung"

    assert errors == []
    assert sum(len(seen) for seen in results.values()) == THREADS * PER_THREAD
    assert moto_sts.assume_role_calls == 4  # per entry: one at the prefetch, one for the refresh
    assert proxy.requests == 4
    first_keys = set()
    for index, name in enumerate(names):
        keys: list[str] = []
        clients = set()
        for seen in results.values():
            order = []
            for invocation in seen:
                entry, triple, client, signing = invocation[index]
                assert entry == name
                # Not torn: each triple, handed out or signing, is one that moto issued, whole.
                assert proxy.issued[triple[0]] == triple[1:]
                assert proxy.issued[signing[0]] == signing[1:]
                clients.add(id(client))
                order.append(triple[0])
            # Before the jump, the prefetched credentials only.
            assert len(set(order[:JUMP_AFTER])) == 1, name
            first_keys.add(order[0])
            # Never back: once a thread was handed the refreshed credentials, it never saw the old ones again.
            assert order == sorted(order, key=lambda key: key != order[0]), name
            keys += order
        assert len(set(keys)) == 2, name  # the prefetched credentials, then the refreshed ones
        assert len(clients) == 1, name  # get_client built one client for the entry, kept by all threads
    assert len(first_keys) == 2  # both entries' prefetched credentials, the same in all 8 threads
