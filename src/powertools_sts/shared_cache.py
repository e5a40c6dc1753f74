"""Credentials shared by the processes of one execution environment, through files, with one fetch at a time.

On Lambda Managed Instances the runtime client forks several worker processes per execution
environment, and each one imports the handler and runs INIT on its own: without this module every
role is assumed once per worker, at INIT and at every refresh. The workers of one environment share
``/tmp``, so a role's credentials are kept there in one file per key, and a per-key ``flock`` makes one
worker call STS while the others wait for its file. A failure is recorded in the same file, so the
back-off after a throttled call holds for every worker, not only for the one that was throttled.

Secrets are on disk in plaintext, readable by the function's own uid only: a ``0600`` file in a
``0700`` directory owned by that uid. That exposes nothing new: code that runs as that uid can already
assume the role with the function's own credentials. Nothing else is trusted either: a directory or a
file that is a symbolic link, is owned by another uid or is open to group or others is refused (a file
is removed, so that it gets replaced), never followed, and a file that is not one this version wrote
is removed too. Writing never fails the caller: a full disk or a read-only ``/tmp`` costs one warning
per cache, and each process keeps the credentials it fetched.

The file, ``<name>.json``, is JSON::

    {"version": 1, "fetched_at": 1767225600.0,
     "credentials": {"access_key_id": "ASIA...", "secret_access_key": "...", "session_token": "...",
                     "expiration": 1767229200.0, "assumed_role_arn": "arn:aws:sts::...:assumed-role/..."},
     "failure": {"at": 1767225700.0, "code": "Throttling", "role_arn": "arn:aws:iam::...:role/..."}}

``credentials`` and ``fetched_at`` are both null when only a failure is recorded; ``failure`` is null
after a success. The lock file, ``<name>.lock``, is empty and never removed: two processes that locked
two generations of it would both fetch. POSIX only (``fcntl``): elsewhere :meth:`SharedCache.open`
returns None and the caller keeps its per-process cache.
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
import secrets
import stat
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from typing import Any, NamedTuple

from . import _clock
from .credentials import Credentials
from .exceptions import AssumeRoleError

__all__ = ["FORMAT_VERSION", "SharedBackoffError", "SharedCache"]

logger = logging.getLogger("powertools_sts")

#: The ``version`` of the files this module writes; a file of another version is replaced.
FORMAT_VERSION = 1
# A credential file is about 2 KB; anything much larger was not written here, and is not read whole.
_MAX_FILE_BYTES = 64 * 1024
# Polling the lock: short at first (a refresh by a neighbour is a few hundred ms), then at most 50 ms.
_FIRST_PAUSE = 0.005
_LONGEST_PAUSE = 0.05
_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]{0,199}")
_CREDENTIAL_FIELDS = frozenset(
    {"access_key_id", "secret_access_key", "session_token", "expiration", "assumed_role_arn"}
)
_FILE_FIELDS = frozenset({"version", "fetched_at", "credentials", "failure"})
_FAILURE_FIELDS = frozenset({"at", "code", "role_arn"})


class SharedBackoffError(AssumeRoleError):
    """Another process of this execution environment failed to assume the role moments ago.

    Raised by :meth:`SharedCache.fetch` without calling STS: the back-off after a failure is shared by
    the processes of the environment, so that N workers do not each retry a throttled call.

    Parameters
    ----------
    message:
        What happened, without secrets.
    role_arn:
        The role that the other process failed to assume, as it recorded it.
    code:
        The STS error code it met (``Throttling``, ``AccessDenied`` ...), or None.
    age:
        Seconds since that failure.

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
        # The base class rebuilds an AssumeRoleError: keep the subclass and the age through pickling.
        return (_rebuild_backoff, (str(self), self.role_arn, self.code, self.age))


def _rebuild_backoff(message: str, role_arn: str | None, code: str | None, age: float) -> SharedBackoffError:
    return SharedBackoffError(message, role_arn=role_arn, code=code, age=age)


class _Failure(NamedTuple):
    at: float
    code: str | None
    role_arn: str | None


class _Record(NamedTuple):
    credentials: Credentials | None
    fetched_at: float | None
    failure: _Failure | None


class SharedCache:
    """Credentials in files shared by the processes of one environment, with one fetch per key at a time.

    Build it with :meth:`open`, which checks the directory; the constructor trusts its argument. State
    is on the instance: the lock descriptors it holds (dropped in a forked child by :meth:`_after_fork`)
    and whether it already warned that it cannot write.

    Parameters
    ----------
    directory:
        A directory already checked by :meth:`open`.

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
        self._warned_write = False

    @classmethod
    def open(cls, directory: str | None = None) -> SharedCache | None:
        """Return a cache in ``directory``, creating it ``0700``, or None (with a warning) if it is not safe.

        Parameters
        ----------
        directory:
            Where the files go; by default ``powertools-sts-<uid>`` in the temporary directory (``/tmp``).
            Refused if it is a symbolic link or not a directory, is owned by another uid, or lets group
            or others in: the caller then keeps its per-process cache.

        Returns
        -------
        SharedCache | None
            The cache, or None when the directory cannot be used.

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
        if os.name != "posix":
            logger.warning("The shared credential cache needs POSIX file locks; each process keeps its own cache")
            return None
        if directory is None:
            directory = os.path.join(tempfile.gettempdir(), f"powertools-sts-{os.getuid()}")
        try:
            os.mkdir(directory, 0o700)
        except FileExistsError:
            pass
        except OSError as exc:
            logger.warning(
                "Cannot create the shared credential cache %s (%s); each process keeps its own", directory, exc.strerror
            )
            return None
        try:
            # lstat: a symbolic link is judged as a link, not as whatever it points to.
            problem = _unsafe(os.lstat(directory), directory=True)
        except OSError as exc:
            problem = exc.strerror or type(exc).__name__
        if problem is not None:
            logger.warning(
                "Refusing the shared credential cache %s: %s; each process keeps its own", directory, problem
            )
            return None
        return cls(directory)

    @staticmethod
    def key_name(material: object) -> str:
        """Return a stable file name for a key: the SHA-256 of a canonical JSON of ``material``.

        The same material gives the same name in every process (dicts are sorted, tuples are lists);
        different material gives different names. Only str, int, float, bool, None, and lists, tuples
        and str-keyed dicts of them are accepted, so that no repr that differs between processes slips in.

        Raises
        ------
        TypeError
            For any other type, or a dict key that is not a str.
        ValueError
            For a NaN or an infinity.

        Example
        -------
        >>> a = SharedCache.key_name(("signer", {"RoleArn": "arn:aws:iam::111122223333:role/r", "DurationSeconds": 900}))
        >>> a == SharedCache.key_name(["signer", {"DurationSeconds": 900, "RoleArn": "arn:aws:iam::111122223333:role/r"}])
        True
        >>> len(a)
        64
        """
        _check_material(material)
        text = json.dumps(material, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
        # The version is hashed in: files of another format get other names instead of being misread.
        return hashlib.sha256(f"powertools-sts/{FORMAT_VERSION}\n{text}".encode()).hexdigest()

    def read(self, name: str, *, now: Callable[[], float] | None = None) -> tuple[Credentials, float] | None:
        """Return the credentials in the file of ``name`` and when they were fetched, or None.

        None when the file is missing, holds only a failure record, holds credentials past their
        expiration, or cannot be trusted: a file that is not JSON of this version, is not a regular file,
        is a symbolic link, is owned by another uid or is open to group or others is removed, never followed.

        Parameters
        ----------
        name:
            A name from :meth:`key_name`.
        now:
            The clock (epoch seconds) that says whether the credentials have expired; the package's clock by default.

        Example
        -------
        >>> import tempfile
        >>> SharedCache.open(tempfile.mkdtemp()).read(SharedCache.key_name("k")) is None
        True
        """
        return _unexpired(self._load(name), (now or _clock.now)())

    def fetch(
        self,
        name: str,
        *,
        usable: Callable[[Credentials, float], bool],
        assume: Callable[[], Credentials],
        now: Callable[[], float],
        deadline: float,
        backoff: float,
    ) -> tuple[Credentials, float, bool]:
        """Return usable credentials for ``name``: from the file, or from ``assume`` in one process at a time.

        Credentials in the file that ``usable`` accepts are returned without a lock. Otherwise the
        per-key lock is taken (waiting up to ``deadline`` seconds for the process that holds it), the
        file is read again, a failure recorded less than ``backoff`` seconds ago raises
        :class:`SharedBackoffError`, and else ``assume`` is called and its credentials written for the
        other processes. A holder that overruns ``deadline`` is not waited for: this process calls
        ``assume`` itself. A failure of ``assume`` is recorded (keeping credentials that have not expired,
        which :meth:`read` still returns) and re-raised.

        Parameters
        ----------
        name:
            A name from :meth:`key_name`.
        usable:
            Whether credentials and their fetch time (epoch seconds) may be served by this process.
        assume:
            The AssumeRole call; raises ``AssumeRoleError`` when it fails.
        now:
            The clock, in epoch seconds, of fetch times and failure records.
        deadline:
            Seconds to wait for another process's fetch (measured on the monotonic clock: it is a wait).
        backoff:
            Seconds after a recorded failure during which no process calls ``assume``.

        Returns
        -------
        tuple[Credentials, float, bool]
            The credentials, when they were fetched, and whether this call fetched them.

        Raises
        ------
        SharedBackoffError
            Another process failed less than ``backoff`` seconds ago.
        AssumeRoleError
            What ``assume`` raised.

        Example
        -------
        >>> import tempfile
        >>> from datetime import datetime, timezone
        >>> cache = SharedCache.open(tempfile.mkdtemp())
        >>> creds = Credentials("ASIAEXAMPLE", "secret", "token", datetime(2030, 1, 1, tzinfo=timezone.utc))
        >>> options = dict(usable=lambda c, at: True, now=time.time, deadline=5.0, backoff=5.0)
        >>> cache.fetch("k", assume=lambda: creds, **options)[2]
        True
        >>> cache.fetch("k", assume=lambda: creds, **options)[::2]
        (Credentials(access_key_id='ASIAEXAMPLE', expiration='2030-01-01T00:00:00+00:00', assumed_role_arn=None), False)
        """
        found = self.read(name, now=now)
        if found is not None and usable(*found):
            return found[0], found[1], False
        with self._locked(name, deadline):
            # Another process may have written while this one waited, or failed.
            record = self._load(name)
            found = _unexpired(record, now())
            if found is not None and usable(*found):
                return found[0], found[1], False
            failure = record.failure if record is not None else None
            age = now() - failure.at if failure is not None else math.inf
            if failure is not None and 0 <= age < backoff:
                raise SharedBackoffError(
                    f"AssumeRole of {failure.role_arn or 'the role'} failed in another process of this "
                    f"environment {age:.1f} s ago ({failure.code or 'no error code'}); not retried for "
                    f"another {backoff - age:.1f} s",
                    role_arn=failure.role_arn,
                    code=failure.code,
                    age=age,
                )
            started = now()
            try:
                creds = assume()
            except AssumeRoleError as exc:
                # Credentials that have not expired stay beside the failure: a process may still serve them stale.
                kept = _unexpired(self._load(name), now()) or (None, None)
                self._write(name, _Record(kept[0], kept[1], _Failure(now(), exc.code, exc.role_arn)))
                raise
            self._write(name, _Record(creds, started, None))
            return creds, started, True

    def _after_fork(self) -> None:
        """In a forked child: close the lock descriptors inherited from the parent, and use a new guard.

        A lock file descriptor that a thread of the parent held at the fork is a copy in the child that
        no thread of the child will close; as long as it is open the parent's ``flock`` cannot end.
        Closing it (never unlocking: that would release the parent's lock) leaves the lock to the parent.

        Example
        -------
        >>> import tempfile
        >>> SharedCache.open(tempfile.mkdtemp())._after_fork()  # what a fork runs in the child
        """
        self._guard = threading.Lock()
        inherited, self._lock_fds = self._lock_fds, set()
        for fd in inherited:
            with contextlib.suppress(OSError):
                os.close(fd)

    # -- files -------------------------------------------------------------------------------------------------

    def _path(self, name: str, suffix: str) -> str:
        if not _NAME.fullmatch(name):
            raise ValueError(f"not a name of the shared credential cache: {name!r}")
        return os.path.join(self.directory, name + suffix)

    def _load(self, name: str) -> _Record | None:
        path = self._path(name, ".json")
        try:
            # O_NONBLOCK: a FIFO planted in place of the file must not hang the open.
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except FileNotFoundError:
            return None
        except OSError as exc:
            if exc.errno == errno.ELOOP:  # O_NOFOLLOW met a symbolic link: removed, never followed
                _remove(path, None, "it is a symbolic link")
            return None
        try:
            st = os.fstat(fd)
            problem = _unsafe(st, directory=False)
            data = b"" if problem else _read_at_most(fd, _MAX_FILE_BYTES + 1)
        except OSError:
            return None
        finally:
            os.close(fd)
        if problem is None:
            record = _parse(data)
            if record is not None:
                return record
            problem = "it is not a credential file of this version"
        _remove(path, st, problem)
        return None

    def _write(self, name: str, record: _Record) -> None:
        path = self._path(name, ".json")
        # Written aside, then renamed over: a reader sees the old file or the new one, never half of one.
        temporary = self._path(name, f".{secrets.token_hex(8)}.tmp")
        try:
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
            try:
                with open(fd, "wb", closefd=False) as file:
                    file.write(_dump(record))
            finally:
                os.close(fd)
            os.replace(temporary, path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            self._cannot_write(exc)

    def _cannot_write(self, exc: OSError) -> None:
        # The credentials in hand are right; a full or read-only /tmp only costs the sharing.
        with self._guard:
            if self._warned_write:
                return
            self._warned_write = True
        logger.warning(
            "Cannot write the shared credential cache in %s (%s); each process keeps its own credentials",
            self.directory,
            exc.strerror or type(exc).__name__,
        )

    def _open_lock(self, path: str) -> int | None:
        flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            return os.open(path, flags, 0o600)
        except OSError as exc:
            if exc.errno != errno.ELOOP:
                self._cannot_write(exc)
                return None
        # A symbolic link in its place: removed, never followed, and a lock file of our own made instead.
        _remove(path, None, "it is a symbolic link")
        try:
            return os.open(path, flags, 0o600)
        except OSError as exc:
            self._cannot_write(exc)
            return None

    @contextlib.contextmanager
    def _locked(self, name: str, deadline: float) -> Iterator[bool]:
        """Hold the key's ``flock`` for the block, or give up after ``deadline`` seconds; yield whether it is held."""
        import fcntl  # POSIX only; open() returns no cache elsewhere

        fd = self._open_lock(self._path(name, ".lock"))
        if fd is None:
            # Without a lock every process fetches for itself: what it would do without this cache.
            yield False
            return
        with self._guard:
            self._lock_fds.add(fd)
        held = False
        try:
            give_up = time.monotonic() + max(deadline, 0.0)
            pause = _FIRST_PAUSE
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    held = True
                    break
                except BlockingIOError:
                    pass
                except OSError:  # ENOLCK and the like: fetch without the lock rather than fail
                    break
                left = give_up - time.monotonic()
                if left <= 0:
                    logger.warning(
                        "Another process has been fetching these credentials for more than %.1f s; fetching them here",
                        deadline,
                    )
                    break
                time.sleep(min(pause, left))
                pause = min(pause * 2, _LONGEST_PAUSE)
            yield held
        finally:
            with self._guard:
                self._lock_fds.discard(fd)
            if held:
                # Unlocked before the close: a child forked meanwhile shares this lock until it closes its copy.
                with contextlib.suppress(OSError):
                    fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


def _unsafe(st: os.stat_result, *, directory: bool) -> str | None:
    """Why a directory or file with this (l)stat cannot be trusted, or None."""
    if stat.S_ISLNK(st.st_mode):
        return "it is a symbolic link"
    if directory and not stat.S_ISDIR(st.st_mode):
        return "it is not a directory"
    if not directory and not stat.S_ISREG(st.st_mode):
        return "it is not a regular file"
    # The effective uid: it owns what this process creates.
    if st.st_uid != os.geteuid():
        return f"it is owned by uid {st.st_uid}, not {os.geteuid()}"
    if st.st_mode & 0o077:
        return f"its mode {stat.S_IMODE(st.st_mode):04o} lets group or others in"
    return None


def _unexpired(record: _Record | None, now: float) -> tuple[Credentials, float] | None:
    if record is None or record.credentials is None or record.fetched_at is None:
        return None
    if record.credentials.expiration.timestamp() <= now:
        return None
    return record.credentials, record.fetched_at


def _remove(path: str, st: os.stat_result | None, problem: str) -> None:
    """Remove a file that cannot be trusted, unless another process replaced it meanwhile."""
    try:
        now_st = os.lstat(path)
        replaced = (
            not stat.S_ISLNK(now_st.st_mode) if st is None else (now_st.st_dev, now_st.st_ino) != (st.st_dev, st.st_ino)
        )
        if replaced:
            return
        os.unlink(path)  # a symbolic link itself, never what it points to
    except OSError:
        return
    logger.warning("Removed %s from the shared credential cache: %s", os.path.basename(path), problem)


def _read_at_most(fd: int, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while size < limit:
        chunk = os.read(fd, limit - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _check_material(material: object) -> None:
    if material is None or isinstance(material, (str, bool, int)):
        return
    if isinstance(material, float):
        if not math.isfinite(material):
            raise ValueError("key material cannot hold a NaN or an infinity")
        return
    if isinstance(material, (list, tuple)):
        for item in material:
            _check_material(item)
        return
    if isinstance(material, dict):
        for key, value in material.items():
            if not isinstance(key, str):
                raise TypeError(f"key material dict keys must be str, got {type(key).__name__}")
            _check_material(value)
        return
    raise TypeError(f"key material cannot hold a {type(material).__name__}")


def _is_number(value: object) -> bool:
    # bool is an int, and True is not a time.
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _is_text(value: object, *, optional: bool = False) -> bool:
    return (optional and value is None) or (isinstance(value, str) and value != "")


def _parse(data: bytes) -> _Record | None:
    """Return the record in a file's bytes, or None if it is not a file this version wrote."""
    if len(data) > _MAX_FILE_BYTES:
        return None
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        return None
    if not isinstance(doc, dict) or set(doc) != _FILE_FIELDS:
        return None
    version, fetched_at, raw, rawfail = doc["version"], doc["fetched_at"], doc["credentials"], doc["failure"]
    if type(version) is not int or version != FORMAT_VERSION:
        return None
    credentials = failure = None
    if raw is not None:
        if not (isinstance(raw, dict) and set(raw) == _CREDENTIAL_FIELDS and _is_number(fetched_at)):
            return None
        key, secret, token = raw["access_key_id"], raw["secret_access_key"], raw["session_token"]
        if not (_is_text(key) and _is_text(secret) and _is_text(token) and _is_number(raw["expiration"])):
            return None
        if not _is_text(raw["assumed_role_arn"], optional=True):
            return None
        try:
            expiration = datetime.fromtimestamp(raw["expiration"], tz=timezone.utc)
        except (OverflowError, OSError, ValueError):
            return None
        credentials = Credentials(key, secret, token, expiration, raw["assumed_role_arn"])
    elif fetched_at is not None:
        return None
    if rawfail is not None:
        if not (isinstance(rawfail, dict) and set(rawfail) == _FAILURE_FIELDS and _is_number(rawfail["at"])):
            return None
        if not (_is_text(rawfail["code"], optional=True) and _is_text(rawfail["role_arn"], optional=True)):
            return None
        failure = _Failure(float(rawfail["at"]), rawfail["code"], rawfail["role_arn"])
    if credentials is None and failure is None:
        return None
    return _Record(credentials, float(fetched_at) if credentials is not None else None, failure)


def _dump(record: _Record) -> bytes:
    creds = record.credentials
    doc = {
        "version": FORMAT_VERSION,
        "fetched_at": record.fetched_at,
        "credentials": None
        if creds is None
        else {
            "access_key_id": creds.access_key_id,
            "secret_access_key": creds.secret_access_key,
            "session_token": creds.session_token,
            "expiration": creds.expiration.timestamp(),
            "assumed_role_arn": creds.assumed_role_arn,
        },
        "failure": None if record.failure is None else record.failure._asdict(),
    }
    return json.dumps(doc, separators=(",", ":")).encode()
