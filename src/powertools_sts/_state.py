"""What belongs to the process rather than to an object, with one reset and one fork hook.

Everything else keeps its state on instances (a provider's cache, a layer's entries, an entry's
sessions). What cannot live on an instance lives here: the registries that find those instances,
the providers that layers with one signing configuration share, the entry names, the invocation's
layers (a ``ContextVar``), the threads of :mod:`powertools_sts.background`, the botocore loader and
the session-name suffix. The default provider of ``assume_role`` lives where Powertools keeps its
own, ``DEFAULT_PROVIDERS["sts"]``, so that ``parameters.clear_caches()`` drops it.

This module imports nothing of the package: objects register here (:func:`register`) and are reached
through the :class:`Resettable` protocol, so no import circle can form.

Example
-------
>>> invocation.get() is None  # outside any invocation
True
"""

from __future__ import annotations

import os
import secrets
import threading
import weakref
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any, Protocol

from aws_lambda_powertools.utilities.parameters.constants import DEFAULT_PROVIDERS

__all__ = [
    "DEFAULT_PROVIDER_KEY",
    "Around",
    "Resettable",
    "after_fork_in_child",
    "botocore_loader",
    "invocation",
    "lock",
    "names",
    "register",
    "reset",
    "session_suffix",
    "shared_cache",
    "shared_providers",
    "snap_start_hooked",
    "starter",
    "stopping",
    "stubbed",
    "tasks",
    "unique_names",
    "waiting",
    "wakeup",
    "warned",
]


class Resettable(Protocol):
    """What a registered object (a provider, a layer, an entry's sessions) does at a reset and a fork."""

    def _reset(self) -> None:
        """Forget every credential, session and client; discard fetches that land later."""

    def _after_fork(self) -> None:
        """In a forked child: new locks, no flights, no client built in the parent."""


#: Guards the registries of this module. Re-entrant: a registration may happen inside a look-up.
lock = threading.RLock()
_registered: weakref.WeakSet[Any] = weakref.WeakSet()


class Around:
    """The sts layers around the running invocation: ``layers`` is ``(innermost, (next, ...), tenant)`` or None.

    Each layer links itself in for the time of its handler and unlinks itself after. It is held by a
    ContextVar (:data:`invocation`), set once per thread or context, so that the layers follow the
    invocation into threads and branches that run in a copy of its context (which share this object).
    A mutable object set once rather than a value set per invocation: ``ContextVar.set`` and ``reset``
    cost as much as the rest of a warm invocation.

    Example
    -------
    >>> around = Around(); around.layers = ("inner", ("outer", None, None), None)
    >>> list(around)
    ['inner', 'outer']
    """

    __slots__ = ("layers",)

    def __init__(self) -> None:
        self.layers: tuple[Any, Any, Any] | None = None

    def __iter__(self) -> Iterator[Any]:
        node = self.layers
        while node is not None:
            yield node[0]
            node = node[1]


invocation: ContextVar[Around | None] = ContextVar("powertools_sts_invocation", default=None)
#: Providers shared by the layers of one signing configuration (weak values: they live with their layers).
shared_providers: weakref.WeakValueDictionary[tuple[Any, ...], Any] = weakref.WeakValueDictionary()
#: Entry name to the live entries that bear it, and the memo of a name's only bearer.
names: dict[str, weakref.WeakSet[Any]] = {}
unique_names: dict[str, weakref.ref[Any]] = {}
#: The background threads alive (background.py), and the event that asks them to stop.
tasks: set[threading.Thread] = set()
stopping = threading.Event()
#: The tasks of background.run_weakly not started yet, the thread that starts them, and what wakes it.
waiting: list[Any] = []
starter: threading.Thread | None = None
wakeup = threading.Condition(lock)
#: This process's SharedCache (shared_cache.py): False until opened, None when off or refused.
shared_cache: Any = False
#: Keys of the one-time warnings already logged by this process.
warned: set[str] = set()
#: While the testing stub answers STS, nothing is read from or written to the /tmp shared cache.
stubbed = False
#: The key of ``assume_role``'s provider in Powertools' ``DEFAULT_PROVIDERS``.
DEFAULT_PROVIDER_KEY = "sts"
#: The random suffix of this process's default RoleSessionName (drawn again in a forked child).
session_suffix: str = ""
snap_start_hooked = False
#: The data loaders of :func:`botocore_loader`, by data path, at most ``_LOADERS_MAX``.
_loaders: dict[str | None, Any] = {}
_LOADERS_MAX = 4
_FROM_ENV: Any = object()


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


def botocore_loader(data_path: str | None = _FROM_ENV) -> Any:
    """Return the data loader of the package's own STS clients for ``data_path``, one per value.

    ``data_path`` is botocore's setting (None: botocore's own paths); left out, ``AWS_DATA_PATH`` is
    read now. A loader keeps the models it read, so each further STS client skips reading them. It
    holds no socket and no lock: it survives a reset and a fork. The user's sessions build botocore's own.

    Example
    -------
    >>> botocore_loader(None) is botocore_loader(None)
    True
    """
    if data_path is _FROM_ENV:
        data_path = os.environ.get("AWS_DATA_PATH")
    loader = _loaders.get(data_path)
    if loader is None:
        with lock:
            loader = _loaders.get(data_path)
            if loader is None:
                from ._botocore import new_loader

                if len(_loaders) >= _LOADERS_MAX:  # a process sees one or two values: bounded all the same
                    del _loaders[next(iter(_loaders))]
                loader = _loaders[data_path] = new_loader(data_path)
    return loader


def reset() -> None:
    """Forget everything the process cached: what ``clear_caches()`` does.

    Example
    -------
    >>> reset()
    """
    global shared_cache
    with lock:
        shared_cache = False  # opened again, where TMPDIR says now
        shared_providers.clear()
        unique_names.clear()
        DEFAULT_PROVIDERS.pop(DEFAULT_PROVIDER_KEY, None)
        objects = list(_registered)
    for obj in objects:
        obj._reset()


def after_fork_in_child() -> None:
    """Make a forked child's state usable (``os.register_at_fork``); it has one thread, so locks are replaced.

    Example
    -------
    >>> after_fork_in_child()  # what a fork runs in the child; harmless in the parent
    """
    global lock, session_suffix, starter, stopping, wakeup
    lock = threading.RLock()
    wakeup = threading.Condition(lock)
    starter = None  # the parent's; its tasks with it
    waiting.clear()
    if shared_cache:
        shared_cache._after_fork()  # the parent's lock descriptors
    stopping = threading.Event()
    tasks.clear()  # the parent's threads do not exist in the child
    # Drawn once per process: a child's AssumeRole calls show up in CloudTrail under its own name.
    session_suffix = secrets.token_hex(4)
    for obj in list(_registered):
        obj._after_fork()


if hasattr(os, "register_at_fork"):  # POSIX; Lambda is Linux
    os.register_at_fork(after_in_child=after_fork_in_child)
