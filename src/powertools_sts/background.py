"""The one owner of the package's threads: prefetches, refreshes of several due entries, refresh ahead.

Every thread the package starts is started here, named ``powertools-sts-<what>``, registered in
``_state.tasks`` while it runs, and joined by :func:`stop`. A task runs in a copy of the caller's
``contextvars`` context, so the invocation's layers (names resolve) and its OpenTelemetry context
(spans have the right parent) follow it onto the thread.

A thread per task rather than a pool: a fetch never queues behind another entry's hung fetch (its
STS client's retry budget bounds it), a daemon thread never delays the interpreter's exit, and a fork
leaves no pool that believes it has idle workers. Tasks are AssumeRole calls, so a thread start (tens
of microseconds) is small beside them. Refresh ahead holds its provider weakly until it starts, and
is started only by a read (see :mod:`powertools_sts.cache`): an entry nobody reads costs nothing.

Example
-------
>>> run(lambda: 42, "example").result()
42
"""

from __future__ import annotations

import contextvars
import threading
import time
import weakref
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

from . import _state

__all__ = ["run", "run_weakly", "stop", "wait"]

T = TypeVar("T")


def run(task: Callable[[], T], what: str) -> Future[T]:
    """Run ``task`` on a new daemon thread named ``powertools-sts-<what>``, in a copy of this context.

    Example
    -------
    >>> run(lambda: "done", "doc").result()
    'done'
    """
    future: Future[T] = Future()
    context = contextvars.copy_context()

    def body() -> None:
        future.set_running_or_notify_cancel()
        try:
            future.set_result(context.run(task))
        except BaseException as exc:  # handed to whoever waits on the future
            future.set_exception(exc)
        finally:
            with _state.lock:
                _state.tasks.discard(thread)

    thread = threading.Thread(target=body, name=f"powertools-sts-{what}", daemon=True)
    with _state.lock:
        _state.tasks.add(thread)
    thread.start()
    return future


def run_weakly(owner: Any, method: Callable[[Any], None], what: str) -> Future[None]:
    """Run ``method(owner)`` in the background, holding ``owner`` weakly until the thread starts.

    A provider dropped meanwhile (``parameters.clear_caches()``, one built per invocation) makes no call.

    Example
    -------
    >>> class Owner:
    ...     def work(self): print("worked")
    >>> owner = Owner(); run_weakly(owner, Owner.work, "doc").result()
    worked
    """
    ref = weakref.ref(owner)

    def task() -> None:
        # First let the thread that started this one go on (an invocation, whose read began a refresh
        # ahead): without this, the new thread keeps the GIL for up to the switch interval (5 ms).
        time.sleep(0)
        target = ref()
        if target is not None and not _state.stopping.is_set():
            method(target)

    del owner
    return run(task, what)


def wait(seconds: float) -> bool:
    """Sleep up to ``seconds`` (a poll of the shared cache's lock, say); return True when asked to stop.

    Example
    -------
    >>> wait(0.0)
    False
    """
    return _state.stopping.wait(seconds)


def stop(timeout: float = 5.0) -> list[str]:
    """Ask the running tasks to stop, join them, and return the names of those still running.

    What a test teardown (the ``sts_stub`` fixture) calls, so that no thread of one test acts in the
    next. A task in the middle of an AssumeRole ends when its STS client's timeouts end it.

    Example
    -------
    >>> stop()
    []
    """
    with _state.lock:
        threads = list(_state.tasks)
        _state.stopping.set()
    deadline = time.monotonic() + timeout
    try:
        for thread in threads:
            if thread is not threading.current_thread():
                thread.join(max(0.0, deadline - time.monotonic()))
    finally:
        _state.stopping.clear()
    return sorted(thread.name for thread in threads if thread.is_alive())
