"""Credentials shared by the worker processes of one execution environment, through files, one fetch at a time.

On Lambda Managed Instances the N worker processes of an environment each run INIT, and share ``/tmp``: a
role's credentials are kept there, one file per key, a per-key ``flock`` makes one worker call STS while the
others wait for its file, and a failure recorded in the file backs off every worker. Only files of this uid,
``0600`` in a ``0700`` directory, exactly as this version writes them are read: anything else is removed,
never followed. It never fails the caller: where ``/tmp`` is unusable, full or read-only, a warning (once
per process), and each process keeps its own credentials. What is on disk, and for how long: docs/security.md.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import logging
import math
import os
import re
import stat
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime, timezone
from types import MappingProxyType
from typing import Any, NamedTuple

from . import _clock, _state, background
from .credentials import Credentials
from .exceptions import AssumeRoleError, SharedBackoffError

with contextlib.suppress(ImportError):  # POSIX only: open() returns no cache elsewhere
    import fcntl

__all__ = ["FORMAT_VERSION", "SharedBackoffError", "SharedCache"]

logger = logging.getLogger("powertools_sts")

#: The ``version`` of the files this module writes; it is hashed into their names too.
FORMAT_VERSION = 2
_MAX_FILE_BYTES = 64 * 1024  # a credential file is about 2 KB: a larger one was not written here
_SWEEP_EVERY = 300.0  # seconds between two sweeps of one cache, on the write path
_TMP_KEPT = 60.0  # a write takes microseconds: an older temporary file was left by a writer that died
_FAILURE_KEPT = 900.0  # a failure matters for its back-off (seconds): long past that, its record goes
_LOCK_KEPT = 13 * 3600.0  # the longest credentials (12 h) and a margin; see _sweep for the race
_UNWRITABLE = "Cannot write the shared credential cache in %s: %s"
_OVERRUN = "Another process has been fetching these credentials for more than %.1f s; fetching them here"
_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]{0,199}")
_ROLE = re.compile(r"arn:([\w-]+):iam::(\d{12}):role/(?:[!-~]*/)?([\w+=,.@-]+)")  # <path/> then <role name>
_ASSUMED_ROLE = re.compile(r"arn:([\w-]+):sts::(\d{12}):assumed-role/([\w+=,.@-]+)/[\w+=,.@-]+")
# What each part of a file holds, exactly; a kind ending in "?" may be null too. A bool is no number.
_KINDS: Mapping[str, Callable[[Any], bool]] = MappingProxyType(
    {
        "text": lambda value: isinstance(value, str) and value != "",
        "number": lambda value: type(value) in (int, float) and math.isfinite(value),
        "int": lambda value: type(value) is int,
        "object": lambda value: isinstance(value, dict),
    }
)
_FILE = MappingProxyType({"version": "int", "fetched_at": "number?", "credentials": "object?", "failure": "object?"})
_CREDENTIALS = MappingProxyType(
    {
        **dict.fromkeys(("access_key_id", "secret_access_key", "session_token"), "text"),
        **{"expiration": "number", "assumed_role_arn": "text?"},
    }
)
_FAILURE = MappingProxyType({"at": "number", "code": "text?", "role_arn": "text?", "pid": "int"})


class _Failure(NamedTuple):
    at: float
    code: str | None
    role_arn: str | None
    pid: int  # of the process that failed: a back-off says whether it was this one


class _Record(NamedTuple):
    credentials: Credentials | None
    fetched_at: float | None
    failure: _Failure | None


class SharedCache:
    """Credentials in files shared by the processes of one environment, one fetch per key at a time.

    Built by :meth:`open`. It holds the lock descriptors in use (see :meth:`_after_fork`), and when it sweeps next.

    Example
    -------
    >>> cache = SharedCache.open(tempfile.mkdtemp())
    >>> cache.read(SharedCache.key_name(["arn:aws:iam::111122223333:role/reports"])) is None
    True
    """

    def __init__(self, directory: str) -> None:
        self.directory = directory
        self._lock_fds: set[int] = set()  # set.add and set.discard are atomic: no lock of its own
        self._next_sweep = 0.0

    @classmethod
    def open(cls, directory: str | None = None) -> SharedCache | None:
        """Return a cache in ``directory`` (made ``0700``, swept), or None with a warning once per process.

        By default ``powertools-sts-<uid>`` in the temporary directory. None, never an exception, for a link, a
        file, a directory of another uid or open to others, or no temporary directory at all.

        Example
        -------
        >>> SharedCache.open(tempfile.mkdtemp()) is not None
        True
        """
        try:
            if os.name != "posix":
                raise OSError(errno.ENOTSUP, "it needs POSIX file locks")
            # A full or read-only /tmp on Lambda leaves no usable temporary directory: gettempdir() raises.
            directory = directory or os.path.join(tempfile.gettempdir(), f"powertools-sts-{os.getuid()}")
            with contextlib.suppress(FileExistsError):
                os.mkdir(directory, 0o700)
            problem = _unsafe(os.lstat(directory), directory=True)  # lstat: a link is judged as a link
        except (OSError, ValueError) as exc:
            problem = getattr(exc, "strerror", None) or str(exc)
        if problem is not None or directory is None:
            _warn_once("open", "Cannot use the shared credential cache %s: %s", directory or "in /tmp", problem)
            return None
        cache = cls(directory)
        cache._sweep(_clock.now())
        return cache

    @staticmethod
    def key_name(material: object) -> str:
        """Return the file name of a key: the SHA-256 of the format version and a canonical JSON of ``material``.

        The same in every process. Only str, int, float, bool, None, and lists, tuples and str-keyed dicts
        of them: anything else raises TypeError, a NaN ValueError.

        Example
        -------
        >>> SharedCache.key_name(("signer", {"a": 1, "b": 2})) == SharedCache.key_name(["signer", {"b": 2, "a": 1}])
        True
        """
        _str_keys(material)  # json.dumps would turn 1 and "1" into one key
        text = json.dumps(material, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
        return hashlib.sha256(f"powertools-sts/{FORMAT_VERSION}\n{text}".encode()).hexdigest()

    def read(
        self, name: str, *, now: Callable[[], float] | None = None, role_arn: str | None = None
    ) -> tuple[Credentials, float] | None:
        """Return the unexpired credentials in the file of ``name`` and when they were fetched, or None.

        A file not to be trusted, or of another role than ``role_arn`` (if given), is removed. ``now`` is the clock.

        Example
        -------
        >>> SharedCache.open(tempfile.mkdtemp()).read(SharedCache.key_name("k")) is None
        True
        """
        return _unexpired(self._load(name, role_arn), (now or _clock.now)())

    def fetch(
        self,
        name: str,
        *,
        usable: Callable[[Credentials, float], bool],
        assume: Callable[[], Credentials],
        now: Callable[[], float],
        deadline: float,
        backoff: float,
        read: bool = True,
        failures_after: float = -math.inf,
        role_arn: str | None = None,
    ) -> tuple[Credentials, float, bool]:
        """Return credentials for ``name``, when they were fetched (epoch s), and whether this call fetched them.

        Those in the file that ``usable`` accepts, without a lock; else, under the key's lock, those in the file
        again, a :class:`SharedBackoffError` for a recent failure, or ``assume``'s, written (or its failure).

        Parameters
        ----------
        usable
            Whether credentials fetched at a time (epoch s) may be served here; asked before the lock and under it.
        assume, now
            The AssumeRole call; the epoch clock of fetch times and failures.
        deadline, backoff
            Seconds to wait for another process's fetch (then fetch too); seconds a failure holds off every fetch.
        read, failures_after
            False (``force_fetch``): no file read, no back-off. A failure at or before this epoch time is
            ignored, and so is one of this process (the back-off is for the others).
        role_arn
            The RoleArn asked for: credentials of another role, or of no known role, are removed, not served.

        Example
        -------
        >>> import functools
        >>> creds = Credentials("ASIAEXAMPLE", "secret", "token", datetime(2030, 1, 1, tzinfo=timezone.utc))
        >>> fetch = functools.partial(SharedCache.open(tempfile.mkdtemp()).fetch, "k", usable=lambda c, at: True, assume=lambda: creds, now=time.time, deadline=5.0, backoff=5.0)
        >>> fetch()[2], fetch()[2]
        (True, False)
        """
        found = self.read(name, now=now, role_arn=role_arn) if read else None
        if found is not None and usable(*found):
            return found[0], found[1], False
        with self._locked(name, deadline):
            record = self._load(name, role_arn) if read else None
            found = _unexpired(record, now())
            if found is not None and usable(*found):
                return found[0], found[1], False
            failure = record.failure if record is not None else None
            # The back-off spares N workers a retry each; this process's own failures are its own to retry.
            if failure is not None and failure.at > failures_after and failure.pid != os.getpid():
                _back_off(failure, now() - failure.at, backoff)
            started = now()
            try:
                creds = assume()
            except AssumeRoleError as exc:
                # Credentials that have not expired stay beside the failure: a process may still serve them stale.
                kept, kept_at = _unexpired(self._load(name, role_arn), now()) or (None, None)
                self._write(name, _Record(kept, kept_at, _Failure(now(), exc.code, exc.role_arn, os.getpid())))
                raise
            self._write(name, _Record(creds, started, None))
        if time.monotonic() >= self._next_sweep:  # on the write path only, once the lock is released
            self._sweep(now())
        return creds, started, True

    def _after_fork(self) -> None:
        """In a forked child: close the parent's lock descriptors, never unlocking them (that would end its lock).

        Example
        -------
        >>> SharedCache.open(tempfile.mkdtemp())._after_fork()  # what a fork runs in the child
        """
        inherited, self._lock_fds = self._lock_fds, set()
        for fd in inherited:
            with contextlib.suppress(OSError):
                os.close(fd)

    def _path(self, name: str, suffix: str) -> str:
        if not _NAME.fullmatch(name):
            raise ValueError(f"not a name of the shared credential cache: {name!r}")
        return os.path.join(self.directory, name + suffix)

    def _load(self, name: str, role_arn: str | None = None) -> _Record | None:
        path = self._path(name, ".json")
        try:  # O_NONBLOCK: a FIFO in place of the file must not hang the open
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError as exc:
            if exc.errno == errno.ELOOP:  # O_NOFOLLOW met a symbolic link
                _remove(path, None, "it is a symbolic link")
            return None
        try:
            st, record = os.fstat(fd), None
            if (problem := _unsafe(st, directory=False)) is None:
                with open(fd, "rb", closefd=False) as file:
                    record = _parse(file.read(_MAX_FILE_BYTES + 1))
        except OSError:
            return None
        finally:
            os.close(fd)
        if record is None:
            problem = problem or "it is not a credential file of this version"
        elif role_arn is not None and record.credentials and not _of_role(record.credentials, role_arn):
            record, problem = None, f"it holds credentials of another role than {role_arn}"
        if problem is not None:
            _remove(path, st, problem)
        return record

    def _write(self, name: str, record: _Record) -> None:
        if _state.stubbed:
            return  # a fetch that began before sts_stub was active ends while it is: none of it reaches /tmp
        # Written aside, then renamed over: a reader sees the old file or the new one, never half of one.
        temporary = self._path(name, f".{os.urandom(8).hex()}.tmp")
        try:
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
            with open(fd, "wb") as file:
                file.write(_dump(record))
            os.replace(temporary, self._path(name, ".json"))
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            _warn_once("write", _UNWRITABLE, self.directory, exc.strerror)

    @contextlib.contextmanager
    def _locked(self, name: str, deadline: float) -> Iterator[None]:
        """Hold the key's ``flock`` for the block; without it past ``deadline`` seconds or if it cannot be had."""
        path, flags = self._path(name, ".lock"), os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
        for attempt in (1, 2):
            try:
                fd = os.open(path, flags, 0o600)
                break
            except OSError as exc:
                if exc.errno != errno.ELOOP or attempt == 2:  # each process fetches for itself, as without the cache
                    _warn_once("write", _UNWRITABLE, self.directory, exc.strerror)
                    yield
                    return
                _remove(path, None, "it is a symbolic link")  # removed, never followed; a lock file made instead
        self._lock_fds.add(fd)
        held, pause, give_up = False, 0.005, time.monotonic() + deadline
        try:
            while not held:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    held = True
                except BlockingIOError:
                    if time.monotonic() >= give_up:
                        logger.warning(_OVERRUN, deadline)
                        break
                    if background.wait(pause):  # short at first: a neighbour's refresh takes a few hundred ms
                        break  # the package is stopping its threads: fetch without the lock, or give up
                    pause = min(pause * 2, 0.05)
                except OSError:  # ENOLCK and the like: fetch without the lock rather than fail
                    break
            yield
        finally:
            self._lock_fds.discard(fd)
            if held:  # unlocked before the close: a child forked meanwhile shares the lock until it closes its copy
                with contextlib.suppress(OSError):
                    fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def _sweep(self, now: float) -> None:
        """Remove what no process reads again (docs/security.md says what); never raises."""
        self._next_sweep = time.monotonic() + _SWEEP_EVERY
        try:
            with os.scandir(self.directory) as listing:
                entries = {entry.name: entry for entry in listing}
        except OSError:
            return
        for entry in entries.values():
            name, _, suffix = entry.name.partition(".")
            try:
                st = entry.stat(follow_symlinks=False)
                age = time.time() - st.st_mtime  # the file's own time, on the wall clock
                if not _NAME.fullmatch(name):
                    continue
                if suffix.endswith(".tmp") and age > _TMP_KEPT:
                    _remove(entry.path, st, "a writer died before renaming it", quiet=True)
                elif suffix == "json" and (record := self._load(name)) is not None:  # _load removes what it refuses
                    failed_at = record.failure.at if record.failure is not None else -math.inf
                    if _unexpired(record, now) is None and now - failed_at > _FAILURE_KEPT:
                        _remove(entry.path, st, "its credentials expired and its failure is long past", quiet=True)
                elif suffix == "lock" and f"{name}.json" not in entries and age > _LOCK_KEPT:
                    # Locked before it is removed, so that a lock in use stays. The race accepted: a process that
                    # opened it before the removal and locks it after holds a lock that later processes do not
                    # share (they make a new file): the key may be fetched twice, each fetch correct; only for a
                    # key without a credential file (expired, or never stored) whose lock file is 13 h old.
                    fd = os.open(entry.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
                    try:
                        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # BlockingIOError: a process holds it
                        _remove(entry.path, os.fstat(fd), "no credential file of its key for 13 h", quiet=True)
                    finally:
                        os.close(fd)
            except OSError:
                continue


def _back_off(failure: _Failure, age: float, backoff: float) -> None:
    if 0 <= age < backoff:
        message = (
            f"AssumeRole of {failure.role_arn or 'the role'} failed in process {failure.pid} of this environment "
            f"{age:.1f} s ago "
            f"({failure.code or 'no error code'}); not retried for another {backoff - age:.1f} s"
        )
        raise SharedBackoffError(message, role_arn=failure.role_arn, code=failure.code, age=age)


def _warn_once(key: str, message: str, *args: object) -> None:
    """Log a warning of the shared cache once per process: every provider opens a cache of its own."""
    with _state.lock:
        if (key := f"shared-cache-{key}") in _state.warned:
            return
        _state.warned.add(key)
    logger.warning(message + "; each process keeps its own credentials", *args)


def _unsafe(st: os.stat_result, *, directory: bool) -> str | None:
    """Why a directory or file with this (l)stat cannot be trusted, or None."""
    if stat.S_ISLNK(st.st_mode):
        return "it is a symbolic link"
    if not (stat.S_ISDIR if directory else stat.S_ISREG)(st.st_mode):
        return "it is not a directory" if directory else "it is not a regular file"
    if st.st_uid != os.geteuid():  # the effective uid: it owns what this process creates
        return f"it is owned by uid {st.st_uid}, not {os.geteuid()}"
    if st.st_mode & 0o077:
        return f"its mode {stat.S_IMODE(st.st_mode):04o} lets group or others in"
    return None


def _remove(path: str, st: os.stat_result | None, problem: str, *, quiet: bool = False) -> None:
    """Remove a file (a link itself, never its target), unless another process replaced it meanwhile."""
    try:
        now = os.lstat(path)
        if (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino) if st else not stat.S_ISLNK(now.st_mode):
            return
        os.unlink(path)
    except OSError:
        return
    log = logger.debug if quiet else logger.warning  # housekeeping is no news; a file not to be trusted is
    log("Removed %s from the shared credential cache: %s", os.path.basename(path), problem)


def _of_role(creds: Credentials, role_arn: str) -> bool:
    """Whether ``creds`` are of the role ``role_arn``: the same partition, account and name (IAM ignores its case)."""
    role, assumed = _ROLE.fullmatch(role_arn), _ASSUMED_ROLE.fullmatch(creds.assumed_role_arn or "")
    if role is None or assumed is None:
        return False
    return (role[1], role[2], role[3].lower()) == (assumed[1], assumed[2], assumed[3].lower())


def _unexpired(record: _Record | None, now: float) -> tuple[Credentials, float] | None:
    if record is None or record.credentials is None or record.fetched_at is None:
        return None
    return (record.credentials, record.fetched_at) if record.credentials.expiration.timestamp() > now else None


def _str_keys(material: object) -> None:
    if isinstance(material, dict):
        if not all(isinstance(key, str) for key in material):
            raise TypeError("key material dict keys must be str")
        material = list(material.values())
    for item in material if isinstance(material, (list, tuple)) else ():
        _str_keys(item)


def _valid(value: Any, fields: Mapping[str, str]) -> bool:
    """Whether ``value`` is a JSON object of exactly ``fields``, each of its kind (see ``_KINDS``)."""
    if not (isinstance(value, dict) and value.keys() == fields.keys()):
        return False
    return all(
        (kind[-1] == "?" and value[k] is None) or _KINDS[kind.rstrip("?")](value[k]) for k, kind in fields.items()
    )


def _parse(data: bytes) -> _Record | None:
    """Return the record in a file's bytes, or None if it is not exactly a file this version writes."""
    try:
        doc: Any = json.loads(data) if len(data) <= _MAX_FILE_BYTES else None
    except (ValueError, RecursionError):  # a UnicodeDecodeError is a ValueError
        return None
    if not _valid(doc, _FILE) or doc["version"] != FORMAT_VERSION:
        return None
    raw, at, failure = doc["credentials"], doc["fetched_at"], doc["failure"]
    if (raw is None) != (at is None) or (raw is None and failure is None):  # credentials come with their time
        return None
    if not ((raw is None or _valid(raw, _CREDENTIALS)) and (failure is None or _valid(failure, _FAILURE))):
        return None
    try:
        creds = raw and Credentials(**{**raw, "expiration": datetime.fromtimestamp(raw["expiration"], tz=timezone.utc)})
    except (OverflowError, OSError, ValueError):
        return None
    return _Record(creds, at, failure and _Failure(**failure))


def _dump(record: _Record) -> bytes:
    creds = record.credentials and {field: getattr(record.credentials, field) for field in _CREDENTIALS}
    if creds:
        creds["expiration"] = creds["expiration"].timestamp()
    failure = record.failure and record.failure._asdict()
    doc = {"version": FORMAT_VERSION, "fetched_at": record.fetched_at, "credentials": creds, "failure": failure}
    return json.dumps(doc, separators=(",", ":")).encode()
