"""A forked child gets credentials (issue 9, item 1): ``os.fork``, multiprocessing's fork context, and awslambdaric.

A child process has one thread, the one that forked: the parent's worker threads, and every fetch they
had in flight, are not in it. Each test lets the package start its worker threads in the parent (a
prefetch), forks, and has the child invoke a decorated handler with two or more due entries, which
fetches on worker threads. The parent waits for the child a bounded time and kills it on timeout, so a
hung child is a failure, never a hung suite. A child made with ``os.fork`` always ends with
``os._exit``: pytest's own state must never run twice.

STS is moto's server on 127.0.0.1; the child talks to the parent's moto over loopback, so moto's counter
(in the parent) sees the child's AssumeRole calls too. The fault proxy holds the fetches that must be in
flight at the fork.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import select
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from awslambdaric.lambda_context import LambdaContext
from botocore.config import Config

from powertools_sts import AssumeRoleError, STSProvider, clear_caches, get_credentials, sts

from ..conftest import OTHER_ROLE, ROLE
from ..reliability.proxy import FaultProxy
from .test_runtime import Runtime, calls_reach

APP_DIR = Path(__file__).with_name("lambda_app")
CHILD_TIMEOUT = 15.0  # seconds a child may take; a hung child is killed then
# Past any entry's refresh window with the default margin (300 s plus up to 25% jitter) of moto's 3600 s
# credentials, and still above the 60 s floor: the entries are due, their credentials still usable.
PAST_REFRESH = 3310


def lambda_context(request_id: str = "req-1") -> LambdaContext:
    deadline_ms = int((time.time() + 300) * 1000)
    return LambdaContext(request_id, None, None, deadline_ms, "arn:aws:lambda:us-east-1:111122223333:function:orders")


def unique(prefix: str) -> str:
    """An entry name no other test uses: layers of earlier tests may still be alive."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def wait_for_calls(moto_sts: Any, count: int, timeout: float = 10.0) -> None:
    assert calls_reach(moto_sts, count, timeout), f"moto saw {moto_sts.assume_role_calls} AssumeRole calls, not {count}"


def two_entry_handler(**options: Any) -> tuple[Callable[..., Any], list[str]]:
    """An ``sts``-decorated handler with two entries, returning their access key ids."""
    names = [unique("reports"), unique("audit")]

    @sts(fetch_data={names[0]: ROLE, names[1]: OTHER_ROLE}, **options)
    def handler(event: Any, context: Any) -> list[str]:
        return [get_credentials(name).access_key_id for name in names]

    return handler, names


# -- os.fork, with a bounded wait ----------------------------------------------------------------------


def _child_main(work: Callable[[], Any], go: int, out: int) -> None:
    """The forked child: wait for the parent's go, run ``work``, write a JSON report, ``os._exit``."""
    code = 70
    try:
        try:
            ready, _, _ = select.select([go], [], [], CHILD_TIMEOUT)
            if not ready:
                raise TimeoutError("the parent never said go")
            os.read(go, 1)
            report = {"ok": True, "value": work()}
            code = 0
        except BaseException as exc:
            report = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        os.write(out, json.dumps(report, default=repr).encode())
    finally:
        os._exit(code)


class Child:
    """One ``os.fork()`` child running ``work`` once the parent calls ``go()``."""

    def __init__(self, work: Callable[[], Any]) -> None:
        go_read, go_write = os.pipe()
        out_read, out_write = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:  # pragma: no cover - the child; it never returns
            os.close(go_write)
            os.close(out_read)
            _child_main(work, go_read, out_write)
        os.close(go_read)
        os.close(out_write)
        self._go: int | None = go_write
        self._out: int | None = out_read
        self.exitcode: int | None = None

    def go(self) -> None:
        if self._go is not None:
            os.write(self._go, b"g")
            os.close(self._go)
            self._go = None

    def report(self, timeout: float = CHILD_TIMEOUT) -> dict[str, Any]:
        """The child's report, or ``{"ok": False, "error": "hung ..."}`` if it did not end within ``timeout``."""
        self.go()
        out = self._out
        assert out is not None, "report() once per child"
        deadline = time.monotonic() + timeout
        data = b""
        while True:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([out], [], [], max(0.0, left))
            if not ready:
                self.kill()
                return {"ok": False, "error": f"the child was still running {timeout:.0f} s after go (hung)"}
            chunk = os.read(out, 65536)
            if not chunk:
                break
            data += chunk
        while self.exitcode is None and time.monotonic() < deadline + 5:
            self._reap(os.WNOHANG)
            time.sleep(0.01)
        if self.exitcode is None:
            self.kill()
        report: dict[str, Any] = json.loads(data) if data else {"ok": False, "error": "the child wrote nothing"}
        report["exitcode"] = self.exitcode
        return report

    def _reap(self, flags: int) -> None:
        pid, status = os.waitpid(self.pid, flags)
        if pid == self.pid:
            self.exitcode = os.waitstatus_to_exitcode(status)

    def kill(self) -> None:
        """Kill the child if it still runs, reap it, and close the pipes (idempotent)."""
        if self.exitcode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
            self._reap(0)
        for fd in (self._out, self._go):
            if fd is not None:
                os.close(fd)
        self._out = self._go = None


@pytest.fixture
def fork() -> Iterator[Callable[[Callable[[], Any]], Child]]:
    """Fork children; any still running at the end of the test is killed."""
    children: list[Child] = []

    def start(work: Callable[[], Any]) -> Child:
        child = Child(work)
        children.append(child)
        return child

    yield start
    for child in children:
        child.kill()


@pytest.mark.timeout(60)
@pytest.mark.parametrize("due_by", ["clear_caches", "refresh_window"])
def test_a_forked_child_invokes_a_handler_whose_entries_are_due(due_by, moto_sts, clock, fork):
    handler, _ = two_entry_handler()
    wait_for_calls(moto_sts, 2)  # the prefetch ran on the package's worker threads
    parent_keys = handler({"n": 1}, lambda_context())  # and has landed
    assert moto_sts.assume_role_calls == 2

    def child_work() -> list[str]:
        if due_by == "clear_caches":
            clear_caches()
        else:
            clock.advance(PAST_REFRESH)
        return handler({"n": 2}, lambda_context("req-2"))  # two due entries: fetched concurrently

    report = fork(child_work).report()

    assert report["ok"], report["error"]
    assert report["exitcode"] == 0
    child_keys = report["value"]
    assert len(set(child_keys)) == 2
    assert not set(child_keys) & set(parent_keys)  # the child's own AssumeRole calls
    assert moto_sts.assume_role_calls == 4


# -- a fork while a fetch is in flight in a parent thread ----------------------------------------------


@pytest.fixture
def hang_proxy(moto_sts: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[FaultProxy]:
    """The fault proxy in front of moto, in ``hang`` mode; STS clients built during the test use it."""
    with FaultProxy(moto_sts.url) as proxy:
        proxy.set_mode("hang")
        monkeypatch.setenv("AWS_ENDPOINT_URL_STS", proxy.url)
        yield proxy


def _one_attempt(read_timeout: float = 20) -> Config:
    # One attempt, and a long read timeout: the parent's held fetch is in flight for the whole test, and
    # a child that waited on it (instead of fetching for itself) would wait longer than CHILD_TIMEOUT.
    return Config(connect_timeout=1, read_timeout=read_timeout, retries={"total_max_attempts": 1, "mode": "standard"})


def _wait_for_hangs(proxy: FaultProxy, count: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while proxy.counts["hang"] < count:
        assert time.monotonic() < deadline, f"{proxy.counts['hang']} of {count} fetches reached STS"
        time.sleep(0.01)


@pytest.mark.timeout(60)
def test_a_child_forked_during_a_providers_fetch_fetches_for_itself(hang_proxy, moto_sts, fork):
    provider = STSProvider(boto_config=_one_attempt())
    parent_outcome: list[Any] = []

    def parent_get() -> None:
        try:
            parent_outcome.append(provider.get(ROLE))
        except AssumeRoleError as exc:
            parent_outcome.append(exc)

    thread = threading.Thread(target=parent_get, name="parent-fetch", daemon=True)
    thread.start()
    _wait_for_hangs(hang_proxy, 1)  # the parent's AssumeRole is in flight

    child = fork(lambda: provider.get(ROLE).access_key_id)
    hang_proxy.set_mode("pass")  # lets the parent's request go (closed, unanswered); the child's pass
    report = child.report()
    thread.join(timeout=10)

    assert report["ok"], report["error"]
    assert report["exitcode"] == 0
    assert hang_proxy.counts["pass"] == 1  # the child's own AssumeRole
    assert moto_sts.assume_role_calls == 1  # the parent's held request never reached moto
    assert report["value"] in hang_proxy.issued
    assert len(parent_outcome) == 1
    assert isinstance(parent_outcome[0], AssumeRoleError)  # the parent's fetch failed on its own


@pytest.mark.timeout(60)
def test_a_child_forked_during_a_prefetch_invokes_with_fetches_of_its_own(hang_proxy, moto_sts, fork):
    handler, _ = two_entry_handler(boto_config=_one_attempt())
    _wait_for_hangs(hang_proxy, 2)  # both prefetches are in flight on the parent's worker threads

    child = fork(lambda: handler({"n": 1}, lambda_context()))
    hang_proxy.set_mode("pass")
    report = child.report()

    assert report["ok"], report["error"]
    assert report["exitcode"] == 0
    assert hang_proxy.counts["pass"] == 2  # two AssumeRole calls of the child's own
    assert moto_sts.assume_role_calls == 2
    assert set(report["value"]) <= set(hang_proxy.issued)


# -- multiprocessing's fork context ----------------------------------------------------------------------

#: Handlers the multiprocessing children find by name (a forked child has the parent's module state).
HANDLERS: dict[str, Callable[..., Any]] = {}


def invoke_registered(name: str) -> list[str]:
    """Run in a multiprocessing child: invoke the handler registered under ``name``."""
    result: list[str] = HANDLERS[name]({"n": 2}, lambda_context("req-2"))
    return result


def _invoke_and_send(name: str, connection: Any) -> None:
    try:
        connection.send({"ok": True, "value": invoke_registered(name)})
    except BaseException as exc:
        connection.send({"ok": False, "error": f"{type(exc).__name__}: {exc}"})
    finally:
        connection.close()


@pytest.fixture
def registered(moto_sts: Any, clock: Any) -> Iterator[tuple[str, list[str]]]:
    """A 2-entry handler, prefetched and invoked in the parent, then moved into its refresh window."""
    handler, _ = two_entry_handler()
    wait_for_calls(moto_sts, 2)
    parent_keys = handler({"n": 1}, lambda_context())
    clock.advance(PAST_REFRESH)  # both entries are due in the child the parent forks next
    name = unique("handler")
    HANDLERS[name] = handler
    yield name, parent_keys
    del HANDLERS[name]


@pytest.mark.timeout(60)
def test_a_multiprocessing_fork_pool_worker_invokes_a_decorated_handler(registered, moto_sts):
    name, parent_keys = registered
    with multiprocessing.get_context("fork").Pool(1) as pool:  # terminated on exit, hung or not
        pending = pool.apply_async(invoke_registered, (name,))
        try:
            child_keys = pending.get(timeout=CHILD_TIMEOUT)
        except multiprocessing.TimeoutError:
            pytest.fail(f"the pool worker's invocation was still running after {CHILD_TIMEOUT:.0f} s (hung)")

    assert len(set(child_keys)) == 2
    assert not set(child_keys) & set(parent_keys)
    assert moto_sts.assume_role_calls == 4


@pytest.mark.timeout(60)
def test_a_multiprocessing_fork_process_invokes_a_decorated_handler(registered, moto_sts):
    name, parent_keys = registered
    context = multiprocessing.get_context("fork")
    reader, writer = context.Pipe(duplex=False)
    process = context.Process(target=_invoke_and_send, args=(name, writer))
    process.start()
    writer.close()
    try:
        answered = reader.poll(CHILD_TIMEOUT)
        report = reader.recv() if answered else None
    finally:
        if not answered:
            process.kill()
        process.join(10)
        reader.close()

    assert answered, f"the child process was still running after {CHILD_TIMEOUT:.0f} s (hung)"
    assert report is not None
    assert report["ok"], report["error"]
    assert process.exitcode == 0
    assert not set(report["value"]) & set(parent_keys)
    assert moto_sts.assume_role_calls == 4


# -- under the real runtime client ------------------------------------------------------------------------


@pytest.fixture
def forking_runtime(runtime_api: Any) -> Iterator[Callable[..., Runtime]]:
    started: list[Runtime] = []

    def start(**env: str) -> Runtime:
        runtime = Runtime(runtime_api, "forking.handler", env)
        started.append(runtime)
        return runtime

    yield start
    for runtime in started:
        runtime.stop()


@pytest.mark.timeout(90)
def test_a_handler_under_awslambdaric_forks_a_child_that_invokes_with_due_entries(
    moto_sts, runtime_api, forking_runtime
):
    # The first event is served once the import's two prefetches have reached STS.
    runtime_api.gate = lambda: calls_reach(moto_sts, 2)
    request = runtime_api.invoke({"n": 1})

    runtime = forking_runtime(CHILD_TIMEOUT=f"{CHILD_TIMEOUT:g}")
    runtime_api.wait_for(
        lambda: request in runtime_api.responses or runtime_api.errors or runtime_api.init_errors,
        "the response",
        timeout=CHILD_TIMEOUT + 25,
    )

    assert not runtime_api.init_errors, runtime_api.init_errors
    assert not runtime_api.errors, runtime_api.errors
    assert runtime_api.gate_result is True, runtime.output()
    response = runtime_api.responses[request]
    assert response["child"]["ok"], f"{response['child']['error']}\n{runtime.output()}"
    assert response["child_exitcode"] == 0
    assert response["child"]["pid"] != response["parent_pid"]
    assert len(set(response["child"]["keys"])) == 2
    assert moto_sts.assume_role_calls == 4  # the import's two prefetches, the child's two fetches
