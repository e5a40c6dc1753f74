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

Refresh ahead is the one task asked for in the middle of an invocation, so its thread is not started
by the reader: ``Thread.start`` returns only once the OS has run the new thread, and then the reader
waits to run again, which on a busy host (the worker processes of Managed Instances share its vCPUs)
is milliseconds of the invocation's latency. :func:`run_weakly` hands the task to one standing thread
that starts it, idle between refreshes; the first fetch of a cache that refreshes ahead begins it
(:func:`ready`), off the path of a read.

Example
-------
>>> run(lambda: 42, "example").result()
42
"""

from __future__ import annotations

import contextvars
import functools
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
    """Run ``method(owner)`` on a thread of its own that the starter thread starts; hold ``owner`` weakly.

    A provider dropped meanwhile (``parameters.clear_caches()``, one built per invocation) makes no call.

    Example
    -------
    >>> class Owner:
    ...     def work(self): print("worked")
    >>> owner = Owner(); run_weakly(owner, Owner.work, "doc").result()
    worked
    """
    future: Future[None] = Future()
    call = functools.partial(_call_weakly, weakref.ref(owner), method, future)
    del owner
    with _state.lock:
        _state.waiting.append((call, contextvars.copy_context(), what, future))
        if _state.starter is not None:
            _state.wakeup.notify()  # wakes it; never waits for it
            return future
    ready(quiet=False)  # no fetch began it (stop() ended it, say): this once, a read waits for a thread start
    return future


def ready(quiet: bool = True) -> None:
    """Begin the starter thread of :func:`run_weakly` unless it runs; ``quiet``: if no thread can start, later.

    Example
    -------
    >>> ready()
    """
    with _state.lock:
        if _state.starter is not None:
            return
        starter = _state.starter = threading.Thread(
            target=_start_waiting, name="powertools-sts-refresh-ahead", daemon=True
        )
        _state.tasks.add(starter)
    try:
        starter.start()
    except BaseException as exc:
        with _state.lock:
            _state.starter = None
            _state.tasks.discard(starter)
        if not (quiet and isinstance(exc, RuntimeError)):  # RuntimeError: the process has no thread to spare
            raise


# How long the starter lets the invocation whose read woke it run on before it starts threads, in seconds.
# A thread started at once would build and sign its AssumeRole (CPU work, under the GIL) while that
# invocation still runs Python; a moment later it more likely waits on I/O, and its other reads have
# joined the batch.
_SETTLE_SECONDS = 0.002


def _start_waiting() -> None:
    """Start a thread for each task of run_weakly, until stop() asks this thread (the starter) to end."""
    try:
        while True:
            with _state.lock:
                while not _state.waiting and not _state.stopping.is_set():
                    _state.wakeup.wait()
            if _state.stopping.wait(_SETTLE_SECONDS):
                return
            with _state.lock:
                batch, _state.waiting[:] = list(_state.waiting), []
            for call, context, what, _ in batch:
                run(functools.partial(context.run, call), what)  # a thread each: no task waits on another
    finally:
        with _state.lock:
            if _state.starter is threading.current_thread():
                _state.starter = None
            _state.tasks.discard(threading.current_thread())
            batch, _state.waiting[:] = list(_state.waiting), []
        for *_, future in batch:
            future.set_result(None)  # asked to stop: not run


def _call_weakly(ref: weakref.ref[Any], method: Callable[[Any], None], future: Future[None]) -> None:
    try:
        target = ref()
        if target is not None and not _state.stopping.is_set():
            method(target)
        future.set_result(None)
    except BaseException as exc:  # handed to whoever waits on the future
        future.set_exception(exc)


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
        _state.wakeup.notify_all()  # the starter
    deadline = time.monotonic() + timeout
    try:
        for thread in threads:
            if thread is not threading.current_thread():
                thread.join(max(0.0, deadline - time.monotonic()))
    finally:
        _state.stopping.clear()
    return sorted(thread.name for thread in threads if thread.is_alive())
