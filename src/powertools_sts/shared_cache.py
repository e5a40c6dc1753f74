"""Credentials shared by the worker processes of one execution environment, through files, one fetch at a time.

On Lambda Managed Instances the runtime client forks N worker processes per environment and each runs
INIT on its own: without this module every role is assumed once per worker, at INIT and at each refresh.
The workers share ``/tmp``, so a role's credentials are kept there, one file per key, and a per-key
``flock`` makes one worker call STS while the others wait for its file. A failure is recorded in the same
file, so the back-off after a throttled call holds for every worker.

Secrets are on disk in plaintext for the function's own uid only, a ``0600`` file in a ``0700`` directory:
code running as that uid can assume the role anyway. Nothing else is trusted: a symbolic link, a file of
another uid or open to group or others, or anything that is not a file this version wrote is refused and
removed, never followed. Writing never fails the caller: a full or read-only ``/tmp`` costs a warning,
and each process keeps the credentials it fetched. POSIX only (``fcntl``).

``<name>.json`` holds::

    {"version": 2, "fetched_at": 1767225600.0,
     "credentials": {"access_key_id": "ASIA...", "secret_access_key": "...", "session_token": "...",
                     "expiration": 1767229200.0, "assumed_role_arn": "arn:aws:sts::...:assumed-role/..."},
     "failure": {"at": 1767225700.0, "code": "Throttling", "role_arn": "arn:aws:iam::...:role/...", "pid": 8}}

``credentials`` and ``fetched_at`` are null when only a failure is recorded, ``failure`` after a success.
``<name>.lock`` is empty. What no process reads again is swept, when a cache is opened and then at most
every 5 minutes after a write: a ``<name>.<random>.tmp`` older than 60 s (a writer died between its
write and its rename), a file whose credentials expired and whose failure is 15 minutes old or more (or
that this version cannot read), and the lock file of a key with no file, 13 hours after it was made.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import hashlib
import json
import logging
import math
import os
import re
import secrets
import stat
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime, timezone
from typing import Any, NamedTuple

from . import _clock, _state
from .credentials import Credentials
from .exceptions import AssumeRoleError

__all__ = ["FORMAT_VERSION", "SharedBackoffError", "SharedCache"]

logger = logging.getLogger("powertools_sts")

#: The ``version`` of the files this module writes; it is hashed into their names too.
FORMAT_VERSION = 2
_MAX_FILE_BYTES = 64 * 1024  # a credential file is about 2 KB: a larger one was not written here
# The sweep: at open, then on the write path at most every _SWEEP_EVERY seconds (monotonic) per cache.
_SWEEP_EVERY = 300.0
_TMP_KEPT = 60.0  # a write takes microseconds: an older temporary file was left by a writer that died
_FAILURE_KEPT = 900.0  # a failure matters for its back-off (seconds); long past that, its record goes
_LOCK_KEPT = 13 * 3600.0  # the longest credentials (12 h) and a margin: see _sweep_lock
_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]{0,199}")
# arn:<partition>:iam::<account>:role/<path/><name> and arn:<partition>:sts::<account>:assumed-role/<name>/<session>
_ROLE = re.compile(r"arn:([\w-]+):iam::(\d{12}):role/(?:[!-~]*/)?([\w+=,.@-]+)")
_ASSUMED_ROLE = re.compile(r"arn:([\w-]+):sts::(\d{12}):assumed-role/([\w+=,.@-]+)/[\w+=,.@-]+")


def _text(value: Any) -> bool:
    return isinstance(value, str) and value != ""


def _text_or_none(value: Any) -> bool:
    return value is None or _text(value)


def _number(value: Any) -> bool:
    return type(value) in (int, float) and math.isfinite(value)  # a bool is an int, and True is not a time


# What a file holds, exactly: each field and its test.
_CREDENTIALS = {"access_key_id": _text, "secret_access_key": _text, "session_token": _text, "expiration": _number}
_CREDENTIALS["assumed_role_arn"] = _text_or_none
_FAILURE = {"at": _number, "code": _text_or_none, "role_arn": _text_or_none, "pid": lambda v: type(v) is int}


class SharedBackoffError(AssumeRoleError):
    """AssumeRole of this role failed in a process of this environment moments ago: not retried yet.

    Raised by :meth:`SharedCache.fetch` without calling STS, so that N workers do not each retry a
    throttled call. ``role_arn`` and ``code`` are the recorded failure's; ``age`` is its age in seconds.

    Example
    -------
    >>> err = SharedBackoffError("failed 2 s ago", role_arn="arn:aws:iam::111122223333:role/r", code="Throttling", age=2.0)
    >>> (isinstance(err, AssumeRoleError), err.code, err.age)
    (True, 'Throttling', 2.0)
    """

    def __init__(self, message: str, *, role_arn: str | None = None, code: str | None = None, age: float = 0.0) -> None:
        super().__init__(message, role_arn=role_arn, code=code)
        self.age = age

    def __reduce__(self) -> tuple[Any, ...]:
        # The base class would rebuild an AssumeRoleError: keep the subclass and the age through pickling.
        return functools.partial(SharedBackoffError, role_arn=self.role_arn, code=self.code, age=self.age), (str(self),)


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
    """Credentials in files shared by the processes of one environment, with one fetch per key at a time.

    Build it with :meth:`open`, which checks the directory. The instance holds the lock descriptors in
    use (closed in a forked child by :meth:`_after_fork`).

    Example
    -------
    >>> import tempfile, os
    >>> cache = SharedCache.open(os.path.join(tempfile.mkdtemp(), "sts"))
    >>> cache.read(SharedCache.key_name(["arn:aws:iam::111122223333:role/reports"])) is None
    True
    """

    def __init__(self, directory: str) -> None:
        self.directory = directory
        self._guard = threading.Lock()
        self._lock_fds: set[int] = set()
        self._next_sweep = 0.0

    @classmethod
    def open(cls, directory: str | None = None) -> SharedCache | None:
        """Return a cache in ``directory`` (made ``0700``), or None with a warning where it is not safe.

        ``directory`` defaults to ``powertools-sts-<uid>`` in the temporary directory (``/tmp``). A
        symbolic link, a file, or a directory of another uid or open to group or others is refused.

        Example
        -------
        >>> import tempfile, os
        >>> parent = tempfile.mkdtemp()
        >>> SharedCache.open(os.path.join(parent, "sts")) is not None
        True
        >>> os.symlink(os.path.join(parent, "sts"), os.path.join(parent, "link"))
        >>> SharedCache.open(os.path.join(parent, "link")) is None
        True
        """
        try:  # never raises: the caller then keeps its per-process cache
            if os.name != "posix":
                raise OSError(errno.ENOTSUP, "it needs POSIX file locks")
            # A full or read-only /tmp on Lambda leaves no usable temporary directory: gettempdir() raises.
            directory = directory or os.path.join(tempfile.gettempdir(), f"powertools-sts-{os.getuid()}")
            with contextlib.suppress(FileExistsError):
                os.mkdir(directory, 0o700)
            problem = _unsafe(os.lstat(directory), directory=True)  # lstat: a link is judged as a link
            if problem is None:
                cache = cls(directory)
                cache._sweep(_clock.now())
                return cache
        except (OSError, ValueError) as exc:
            problem = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        _warn_once(
            "open", "Cannot use the shared credential cache %s: %s", directory or "in the temporary directory", problem
        )
        return None

    @staticmethod
    def key_name(material: object) -> str:
        """Return the file name of a key: the SHA-256 of a canonical JSON of ``material`` and the format version.

        The same in every process (dicts sorted, tuples as lists). Only str, int, float, bool, None, and
        lists, tuples and str-keyed dicts of them: anything else raises TypeError, a NaN ValueError.

        Example
        -------
        >>> a = SharedCache.key_name(("signer", {"RoleArn": "arn:aws:iam::111122223333:role/r", "DurationSeconds": 900}))
        >>> a == SharedCache.key_name(["signer", {"DurationSeconds": 900, "RoleArn": "arn:aws:iam::111122223333:role/r"}])
        True
        """
        _str_keys(material)  # json.dumps would turn 1 and "1" into the same key
        text = json.dumps(material, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
        return hashlib.sha256(f"powertools-sts/{FORMAT_VERSION}\n{text}".encode()).hexdigest()

    def read(
        self, name: str, *, now: Callable[[], float] | None = None, role_arn: str | None = None
    ) -> tuple[Credentials, float] | None:
        """Return the unexpired credentials in the file of ``name`` and when they were fetched, or None.

        A file that cannot be trusted is removed (see the module's docstring), and so is one holding
        credentials of a role other than ``role_arn`` (when given). ``now`` is the clock of the
        expiration, the package's by default.

        Example
        -------
        >>> import tempfile
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
        """Return credentials for ``name``, their fetch time and whether this call fetched them.

        Credentials in the file that ``usable`` accepts are served without a lock. Else the key's lock is
        taken, the file read again (another process may have written, or failed, meanwhile), a failure
        recorded less than ``backoff`` seconds ago raises :class:`SharedBackoffError`, and else ``assume``
        is called and what it returns is written. What it raises (an ``AssumeRoleError``) is recorded
        beside the credentials that have not expired, and raised.

        Parameters
        ----------
        usable
            Whether this process may serve credentials fetched at a time (epoch s): asked before and under the lock.
        assume
            The AssumeRole call.
        now
            The epoch clock of fetch times and failures.
        deadline
            Seconds to wait for another process's fetch; past them this process fetches too.
        backoff
            Seconds after a recorded failure during which no process calls ``assume``.
        read
            False (``force_fetch``): no file read, no back-off; ``assume`` is called and its answer stored.
        failures_after
            A failure recorded at or before this epoch time is ignored (one recorded before ``clear_caches``).
        role_arn
            The RoleArn asked for: credentials of another role (or of no known role) are removed, not served.

        Example
        -------
        >>> import tempfile
        >>> from datetime import datetime, timezone
        >>> cache = SharedCache.open(tempfile.mkdtemp())
        >>> creds = Credentials("ASIAEXAMPLE", "secret", "token", datetime(2030, 1, 1, tzinfo=timezone.utc))
        >>> options = dict(usable=lambda c, at: True, now=time.time, deadline=5.0, backoff=5.0)
        >>> cache.fetch("k", assume=lambda: creds, **options)[2], cache.fetch("k", assume=lambda: creds, **options)[2]
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
            if record is not None and record.failure is not None and record.failure.at > failures_after:
                _back_off(record.failure, now() - record.failure.at, backoff)
            fetched = self._assume(name, assume, now, role_arn)
        if time.monotonic() >= self._next_sweep:  # on the write path only, out of the lock
            self._sweep(now())
        return fetched

    def _assume(
        self, name: str, assume: Callable[[], Credentials], now: Callable[[], float], role_arn: str | None
    ) -> tuple[Credentials, float, bool]:
        started = now()
        try:
            creds = assume()
        except AssumeRoleError as exc:
            # Credentials that have not expired stay beside the failure: a process may still serve them stale.
            kept, kept_at = _unexpired(self._load(name, role_arn), now()) or (None, None)
            self._write(name, _Record(kept, kept_at, _Failure(now(), exc.code, exc.role_arn, os.getpid())))
            raise
        self._write(name, _Record(creds, started, None))
        return creds, started, True

    def _sweep(self, now: float) -> None:
        """Remove what no process will read again (see the module's docstring); never raises."""
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
            except OSError:
                continue
            age = time.time() - st.st_mtime  # the files' own times, on the wall clock
            if not _NAME.fullmatch(name):
                continue
            if suffix.endswith(".tmp") and age > _TMP_KEPT:
                _remove(entry.path, st, "a temporary file of a writer that died", quiet=True)
            elif suffix == "json":
                record = self._load(name)  # what cannot be trusted is removed there, with a warning
                failed = record is not None and record.failure is not None and now - record.failure.at < _FAILURE_KEPT
                if record is not None and not failed and _unexpired(record, now) is None:
                    _remove(entry.path, st, "its credentials expired and its failure is long past", quiet=True)
            elif suffix == "lock" and f"{name}.json" not in entries and age > _LOCK_KEPT:
                _sweep_lock(entry.path)

    def _after_fork(self) -> None:
        """In a forked child: close the lock descriptors of the parent's fetches, never unlocking them.

        Example
        -------
        >>> import tempfile
        >>> SharedCache.open(tempfile.mkdtemp())._after_fork()  # what a fork runs in the child
        """
        # Open in the child, a copy would keep the parent's flock alive; unlocking it would end the parent's.
        self._guard = threading.Lock()
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
            st = os.fstat(fd)
            problem = _unsafe(st, directory=False)
            with open(fd, "rb", closefd=False) as file:
                data = b"" if problem else file.read(_MAX_FILE_BYTES + 1)
        except OSError:
            return None
        finally:
            os.close(fd)
        record = None if problem or len(data) > _MAX_FILE_BYTES else _parse(data)
        if record is None:
            problem = problem or "it is not a credential file of this version"
        elif role_arn is not None and record.credentials and not _of_role(record.credentials, role_arn):
            record, problem = None, f"it holds credentials of another role than {role_arn}"
        if problem is not None:
            _remove(path, st, problem)
        return record

    def _write(self, name: str, record: _Record) -> None:
        # Written aside, then renamed over: a reader sees the old file or the new one, never half of one.
        temporary = self._path(name, f".{secrets.token_hex(8)}.tmp")
        try:
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
            with open(fd, "wb") as file:
                file.write(_dump(record))
            os.replace(temporary, self._path(name, ".json"))
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            self._cannot_write(exc)

    def _cannot_write(self, exc: OSError) -> None:
        # The credentials in hand are right: a full or read-only /tmp costs the sharing only.
        _warn_once("write", "Cannot write the shared credential cache in %s: %s", self.directory, exc.strerror or exc)

    def _open_lock(self, name: str) -> int | None:
        path = self._path(name, ".lock")
        for retry in (False, True):
            try:
                return os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
            except OSError as exc:
                if exc.errno != errno.ELOOP or retry:
                    self._cannot_write(exc)
                    return None
            _remove(path, None, "it is a symbolic link")  # removed, never followed, and a lock file made instead
        return None  # pragma: no cover - the loop returns

    @contextlib.contextmanager
    def _locked(self, name: str, deadline: float) -> Iterator[None]:
        """Hold the key's ``flock`` for the block, or run it without after ``deadline`` seconds or an error."""
        import fcntl  # POSIX only: open() returns no cache elsewhere

        fd = self._open_lock(name)
        if fd is None:  # without a lock each process fetches for itself, as it would without this cache
            yield
            return
        with self._guard:
            self._lock_fds.add(fd)
        held, pause, give_up = False, 0.005, time.monotonic() + max(deadline, 0.0)
        try:
            while not held:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    held = True
                except BlockingIOError:
                    left = give_up - time.monotonic()
                    if left <= 0:
                        logger.warning(
                            "Another process has been fetching these credentials for more than "
                            "%.1f s; fetching them here",
                            deadline,
                        )
                        break
                    time.sleep(min(pause, left))  # short at first: a neighbour's refresh takes a few hundred ms
                    pause = min(pause * 2, 0.05)
                except OSError:  # ENOLCK and the like: fetch without the lock rather than fail
                    break
            yield
        finally:
            with self._guard:
                self._lock_fds.discard(fd)
            if held:  # unlocked before the close: a child forked meanwhile shares the lock until it closes its copy
                with contextlib.suppress(OSError):
                    fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


def _back_off(failure: _Failure, age: float, backoff: float) -> None:
    """Raise SharedBackoffError if ``failure``, ``age`` seconds old, is younger than ``backoff``."""
    if 0 <= age < backoff:
        where = "this process" if failure.pid == os.getpid() else "another process of this environment"
        raise SharedBackoffError(
            f"AssumeRole of {failure.role_arn or 'the role'} failed in {where} {age:.1f} s ago "
            f"({failure.code or 'no error code'}); not retried for another {backoff - age:.1f} s",
            role_arn=failure.role_arn,
            code=failure.code,
            age=age,
        )


def _warn_once(key: str, message: str, *args: object) -> None:
    """Log a warning of the shared cache once per process (every provider opens a cache of its own)."""
    with _state.lock:
        if f"shared-cache-{key}" in _state.warned:
            return
        _state.warned.add(f"shared-cache-{key}")
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
    """Remove a file that cannot be trusted (a link itself, never its target), unless it was replaced meanwhile."""
    try:
        now = os.lstat(path)
        if (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino) if st else not stat.S_ISLNK(now.st_mode):
            return
        os.unlink(path)
    except OSError:
        return
    log = logger.debug if quiet else logger.warning  # housekeeping is not news; a file not to be trusted is
    log("Removed %s from the shared credential cache: %s", os.path.basename(path), problem)


def _sweep_lock(path: str) -> None:
    """Remove the lock file of a key that has had no credential file for a while, unless it is held."""
    import fcntl

    # Locked before it is removed, so a lock in use stays. The race accepted: a process that opened the
    # file before the removal and locks it after holds a lock no later process shares (they make a new
    # file), so the key may be fetched twice, each fetch correct: once per key, and only for a key that has
    # had no credential file since the lock file is 13 h old (its credentials expired, or were never stored).
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        _remove(path, os.fstat(fd), "no credential file for its key", quiet=True)
    except OSError:  # BlockingIOError: a process holds it
        pass
    finally:
        os.close(fd)


def _of_role(creds: Credentials, role_arn: str) -> bool:
    """Whether ``creds`` are of the role ``role_arn``: same partition, account and name (names ignore case in IAM)."""
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
    if isinstance(material, (list, tuple)):
        for item in material:
            _str_keys(item)


def _valid(value: Any, schema: Mapping[str, Callable[[Any], bool]]) -> bool:
    return isinstance(value, dict) and value.keys() == schema.keys() and all(ok(value[k]) for k, ok in schema.items())


def _parse(data: bytes) -> _Record | None:
    """Return the record in a file's bytes, or None if it is not exactly a file this version writes."""
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError):  # a UnicodeDecodeError is a ValueError
        return None
    if not (isinstance(doc, dict) and doc.keys() == {"version", *_Record._fields}):
        return None
    version, raw, at, failure = doc["version"], doc["credentials"], doc["fetched_at"], doc["failure"]
    if type(version) is not int or version != FORMAT_VERSION or (raw is None) != (at is None):
        return None
    if (raw is None and failure is None) or (failure is not None and not _valid(failure, _FAILURE)):
        return None
    if raw is not None and not (_valid(raw, _CREDENTIALS) and _number(at)):
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
