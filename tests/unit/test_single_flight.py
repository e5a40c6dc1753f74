"""Single flight when STS is slow (issue 9, item 2): callers of one role share one AssumeRole, however long it takes.

STS is a loopback TCP endpoint that accepts connections and never answers (``SilentSTS``), so every
attempt of the STS client ends in its read timeout. The owner of the fetch makes every attempt its retry
configuration allows; a caller who joined the fetch must wait for it to land, not give up after one
read timeout and start an AssumeRole of its own. Every wait is bounded; no assertion is about time.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator

import boto3
import pytest
from botocore.config import Config

from powertools_sts import AssumeRoleError, STSProvider

from ..conftest import ROLE

CALLERS = 4
ATTEMPTS = 3


class SilentSTS:
    """A TCP endpoint on 127.0.0.1 that accepts every connection, counts it, and never answers.

    Connections are held open (their requests unread) until ``release()`` or ``close()`` closes them.
    """

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0), backlog=128)
        self.listener.settimeout(0.05)
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.accepted = 0
        self.released = False
        self._connections: list[socket.socket] = []
        self._changed = threading.Condition()
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._accept, name="silent-sts", daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                connection, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._changed:
                if self.released:
                    connection.close()
                else:
                    self._connections.append(connection)
                self.accepted += 1
                self._changed.notify_all()

    def wait_accepted(self, count: int, timeout: float) -> bool:
        """Whether ``count`` connections have been accepted within ``timeout`` seconds."""
        with self._changed:
            return self._changed.wait_for(lambda: self.accepted >= count, timeout)

    @property
    def holding(self) -> int:
        """Connections accepted and still held open."""
        with self._changed:
            return len(self._connections)

    def release(self) -> None:
        """Close every held connection (the clients see the connection closed); close new ones at once."""
        with self._changed:
            self.released = True
            connections, self._connections = self._connections, []
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.close()

    def close(self) -> None:
        self._closed.set()
        self._thread.join(timeout=5)
        self.listener.close()
        self.release()


@pytest.fixture
def silent_sts(monkeypatch: pytest.MonkeyPatch) -> Iterator[SilentSTS]:
    """A silent STS endpoint; clients built by the package during the test send their calls to it."""
    server = SilentSTS()
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", server.url)
    yield server
    server.close()


def _concurrent_gets(provider: STSProvider, callers: int) -> tuple[list[BaseException], list[object]]:
    """``callers`` threads call ``provider.get(ROLE)`` at once, cold; return what they raised and returned."""
    barrier = threading.Barrier(callers)
    errors: list[BaseException] = []
    results: list[object] = []
    lock = threading.Lock()

    def call() -> None:
        barrier.wait(timeout=10)
        try:
            result = provider.get(ROLE)
        except BaseException as exc:
            with lock:
                errors.append(exc)
        else:
            with lock:
                results.append(result)

    threads = [threading.Thread(target=call, name=f"caller-{n}", daemon=True) for n in range(callers)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 40
    for thread in threads:
        thread.join(timeout=max(0.0, deadline - time.monotonic()))
    assert not any(thread.is_alive() for thread in threads), "a caller was still waiting 40 s after the start"
    return errors, results


def _config(read_timeout: float) -> Config:
    return Config(
        connect_timeout=1,
        read_timeout=read_timeout,
        retries={"total_max_attempts": ATTEMPTS, "mode": "standard"},
    )


def _provider(how: str, silent_sts: SilentSTS) -> STSProvider:
    if how == "boto_config":
        # The client is built by the provider, lazily, from AWS_ENDPOINT_URL_STS. 2.5 s per attempt: the
        # owner's call (3 read timeouts, 7.5 s) outlasts any wait of "one read timeout and a second".
        return STSProvider(boto_config=_config(read_timeout=2.5))
    # A ready client: its read timeout (1 s) is known from the start; the owner's call takes 3 s.
    client = boto3.session.Session().client("sts", endpoint_url=silent_sts.url, config=_config(read_timeout=1))
    return STSProvider(boto3_client=client)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("how", ["boto_config", "boto3_client"])
def test_callers_of_one_role_wait_for_the_owners_fetch_and_never_start_their_own(how, silent_sts):
    provider = _provider(how, silent_sts)

    errors, results = _concurrent_gets(provider, CALLERS)

    # One AssumeRole for the four callers: the owner's three attempts, one connection each. Each
    # caller that gave up on the fetch and made its own would add three more (twelve in all).
    assert silent_sts.accepted == ATTEMPTS, f"{silent_sts.accepted} connections to STS, expected {ATTEMPTS}"
    assert results == []
    assert len(errors) == CALLERS
    assert all(isinstance(error, AssumeRoleError) for error in errors), [type(error) for error in errors]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("how", ["boto_config", "boto3_client"])
def test_each_caller_of_a_failed_fetch_raises_its_own_error_chained_to_the_owners(how, silent_sts):
    provider = _provider(how, silent_sts)

    errors, _ = _concurrent_gets(provider, CALLERS)

    assert len(errors) == CALLERS
    assert all(isinstance(error, AssumeRoleError) for error in errors), [type(error) for error in errors]
    # One exception object per caller: one object raised in several threads grows one traceback.
    assert len({id(error) for error in errors}) == CALLERS
    # Exactly one caller made the call: its error is chained to botocore's; the others' to the owner's.
    owners = [error for error in errors if not isinstance(error.__cause__, AssumeRoleError)]
    assert len(owners) == 1, [repr(error.__cause__) for error in errors]
    (owner,) = owners
    waiters = [error for error in errors if error is not owner]
    assert all(error.__cause__ is owner for error in waiters), [repr(error.__cause__) for error in waiters]
    assert all(error.role_arn == ROLE for error in errors)
    assert silent_sts.accepted == ATTEMPTS
