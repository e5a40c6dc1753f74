"""Everything that belongs to the process rather than to an object, with one reset and one fork hook.

The rest of the package keeps its state on instances (a provider's entries and flights, a layer's
slots, an entry's sessions and clients). What cannot live on an instance lives here: the registries
that find those instances, the providers that layers with one signing configuration share, the name
registry of the ``sts`` entries, the code objects that mark an invocation inside a layer, the botocore
data loader, the session-name suffix and the SnapStart hook flag. The default provider of
``assume_role`` is the one exception: it lives where Powertools keeps its own helpers' providers,
``DEFAULT_PROVIDERS["sts"]``, so that Powertools' ``parameters.clear_caches()`` drops it and a user
can inject one; :func:`reset` drops it too.

This module is the ground floor: it imports nothing of the package at run time. Instances register
themselves here (:func:`register`) and are reached through the small :class:`Resettable` protocol,
never the reverse, so no import circle can form.

Two events change the process under the package's feet, and each has one entry point:

- :func:`reset` (what ``clear_caches()`` calls): every registered object forgets its credentials,
  sessions, clients and STS clients, and a fetch still in flight is discarded when it lands.
- :func:`after_fork_in_child` (registered with ``os.register_at_fork``): in a child process only the
  forking thread exists, so every lock another thread might have held is replaced, in-flight fetches
  are forgotten (their owners are not in the child), and STS clients, sessions and clients, whose
  sockets belong to the parent, are rebuilt on first use. Credentials still fresh by the clock are
  kept: they are as valid in the child as in the parent.
"""

from __future__ import annotations

import os
import secrets
import threading
import weakref
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, Protocol, TypeVar

from aws_lambda_powertools.utilities.parameters.constants import DEFAULT_PROVIDERS

__all__ = [
    "DEFAULT_PROVIDER_KEY",
    "Resettable",
    "after_fork_in_child",
    "botocore_loader",
    "layer_codes",
    "lock",
    "names",
    "register",
    "reset",
    "session_suffix",
    "shared_providers",
    "snap_start_hooked",
    "start_worker",
    "unique_names",
    "warned",
]

T = TypeVar("T")


class Resettable(Protocol):
    """What a registered object (a provider, a layer, an entry's sessions) does at a reset and a fork."""

    def _reset(self) -> None:
        """Forget every credential, session and client; discard fetches that land later."""

    def _after_fork(self) -> None:
        """In a forked child: new locks, no flights, no client built in the parent."""


#: Guards the registries of this module. Re-entrant: a registration may happen inside a look-up.
lock = threading.RLock()
_registered: weakref.WeakSet[Any] = weakref.WeakSet()

#: Providers shared by the layers of one signing configuration, keyed by that configuration. Weak
#: values: a provider lives as long as a layer uses it, and its key's identities (a session, a client,
#: a hub slot) are kept alive by the provider itself, so an id in a key is never reused while it is here.
shared_providers: weakref.WeakValueDictionary[tuple[Any, ...], Any] = weakref.WeakValueDictionary()
#: Entry name to the live slots (one per layer entry) that bear it.
names: dict[str, weakref.WeakSet[Any]] = {}
#: Entry name to its only bearer, memoised by the resolution outside an invocation.
unique_names: dict[str, weakref.ref[Any]] = {}
#: id of each applied layer's middleware code object to a weak reference to the layer: a frame running
#: that code is an invocation inside that layer (see names.py). Entries go with their layers.
layer_codes: dict[int, weakref.ref[Any]] = {}
#: The key of ``assume_role``'s provider in Powertools' ``DEFAULT_PROVIDERS``, beside "ssm", "secrets"...
DEFAULT_PROVIDER_KEY = "sts"
#: The random suffix of this process's default RoleSessionName (drawn again in a forked child).
session_suffix: str = ""
#: Whether the SnapStart after-restore hook was registered in this process.
snap_start_hooked = False
#: Keys of the one-time warnings this process has logged (a forked child inherits them: its parent logged them).
warned: set[str] = set()
_loader: Any = None


def register(obj: Resettable) -> None:
    """Have :func:`reset` and the fork hook reach ``obj`` for as long as it lives.

    Example
    -------
    >>> class Cache:
    ...     def _reset(self): print("reset")
    ...     def _after_fork(self): print("forked")
    >>> cache = Cache(); register(cache)
    >>> reset()
    reset
    """
    with lock:
        _registered.add(obj)


def botocore_loader() -> Any:
    """Return the botocore data loader that every session this package makes shares.

    A new botocore session re-reads and re-parses the service models and endpoint rules (about 100 ms
    for the first client); one shared loader, which only reads packaged JSON files and caches them,
    makes each further session's first client about four times cheaper at cold start. It holds no
    socket and no lock, so it survives a reset and a fork.

    Example
    -------
    >>> botocore_loader() is botocore_loader()
    True
    """
    global _loader
    if _loader is None:
        with lock:
            if _loader is None:
                from ._loader import create_loader

                # What a botocore session builds for itself (AWS_DATA_PATH included), without building a
                # session (about 7 ms of cold start) only to take its loader; see _loader for what differs.
                _loader = create_loader(os.environ.get("AWS_DATA_PATH"))
    return _loader


def start_worker(function: Callable[[], T], name: str = "powertools-sts") -> Future[T]:
    """Run ``function`` on a new daemon thread; return its future.

    A thread per task, not a bounded pool: a fetch never queues behind another entry's or another
    layer's hung fetch (how long a fetch may take is bounded by its STS client's retry budget), a
    daemon thread never delays the interpreter's exit, and there is no pool that a fork could leave
    believing it has idle workers. Tasks are AssumeRole calls (a prefetch, a refresh of several due
    entries), so a thread start (tens of microseconds) is small beside them.

    Example
    -------
    >>> start_worker(lambda: 42).result()
    42
    """
    future: Future[T] = Future()

    def run() -> None:
        if not future.set_running_or_notify_cancel():  # pragma: no cover - nobody cancels these
            return
        try:
            future.set_result(function())
        except BaseException as exc:  # handed to whoever waits on the future
            future.set_exception(exc)

    threading.Thread(target=run, name=name, daemon=True).start()
    return future


def _registered_objects() -> list[Any]:
    with lock:
        return list(_registered)


def reset() -> None:
    """Forget everything the process cached: what ``clear_caches()`` does.

    Every registered provider, layer and session cache is reset; the shared providers, the default
    provider (``DEFAULT_PROVIDERS["sts"]``, an injected one included) and the memoised name
    resolutions are dropped. The name registry stays: it lists the ``sts`` layers that are applied,
    which a reset does not undo.

    Example
    -------
    >>> reset()
    """
    with lock:
        shared_providers.clear()
        unique_names.clear()
        DEFAULT_PROVIDERS.pop(DEFAULT_PROVIDER_KEY, None)
        objects = list(_registered)
    for obj in objects:
        obj._reset()


def after_fork_in_child() -> None:
    """Make the state of a forked child usable: called by ``os.register_at_fork`` in the child.

    Runs while the child has one thread, so it may replace locks without taking them.

    Example
    -------
    >>> after_fork_in_child()  # what a fork runs in the child; harmless in the parent
    """
    global lock, session_suffix
    lock = threading.RLock()
    # Drawn once per process: a child's AssumeRole calls show up in CloudTrail under its own name.
    session_suffix = secrets.token_hex(4)
    for obj in list(_registered):
        obj._after_fork()


if hasattr(os, "register_at_fork"):  # POSIX; Lambda is Linux
    os.register_at_fork(after_in_child=after_fork_in_child)
