"""The cross-process credential cache (issue 11, item 2): one AssumeRole per environment, and /tmp never trusted.

Real processes (multiprocessing's "fork" context, as the Managed Instances runtime forks its workers, and
``subprocess`` for a fresh interpreter), real files, real ``flock``s. The only patches are of the
standard library, to make ``/tmp`` full or read-only. Every wait is bounded by a few seconds.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import multiprocessing
import os
import pickle
import re
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from typing import Any

import pytest

from powertools_sts import AssumeRoleError, Credentials, _state
from powertools_sts.shared_cache import FORMAT_VERSION, SharedBackoffError, SharedCache

from ..conftest import OTHER_ROLE, ROLE

CTX = multiprocessing.get_context("fork")
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
TOKEN = "FwoGZXIvYXdzEXAMPLETOKEN"
WAIT = 10.0  # the most any join or queue read waits; nothing is expected to come near it


def make_creds(key: str, *, lifetime: float = 3600.0, at: float | None = None) -> Credentials:
    expiration = datetime.fromtimestamp(round((at or time.time()) + lifetime), tz=timezone.utc)
    return Credentials(key, SECRET, TOKEN, expiration, f"arn:aws:sts::111122223333:assumed-role/reports/{key}")


def fresh(creds: Credentials, fetched_at: float) -> bool:
    return creds.expiration.timestamp() - time.time() > 60


def never(creds: Credentials, fetched_at: float) -> bool:
    return False


def counting(calls: Any, *, sleep: float = 0.0) -> Callable[[], Credentials]:
    """An AssumeRole that counts its calls in ``calls`` (a shared Value) and returns a key no other call returns."""

    def assume() -> Credentials:
        with calls.get_lock():
            calls.value += 1
            number = calls.value
        time.sleep(sleep)
        return make_creds(f"ASIA{os.getpid()}N{number}")

    return assume


def in_process(target: Callable[[], Any], *, daemon: bool = True) -> tuple[Any, Any]:
    """Start ``target`` in a forked process; return the process and a queue that gets ("ok", result) or ("error", text)."""
    results = CTX.Queue()

    def run() -> None:
        try:
            results.put(("ok", target()))
        except BaseException:
            results.put(("error", traceback.format_exc()))

    process = CTX.Process(target=run, daemon=daemon)
    process.start()
    return process, results


def outcome(process: Any, results: Any) -> Any:
    status, value = results.get(timeout=WAIT)
    process.join(WAIT)
    assert status == "ok", value
    assert process.exitcode == 0
    return value


def lock_is_held(path: str) -> bool:
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def write_file(path: str, data: bytes, mode: int = 0o600) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as file:
        file.write(data)
    os.chmod(path, mode)  # the umask must not decide the mode under test


def warnings_with(caplog: pytest.LogCaptureFixture, text: str) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "powertools_sts" and r.levelno == logging.WARNING and text in r.getMessage()
    ]


@pytest.fixture
def directory(tmp_path: Any) -> str:
    return str(tmp_path / "sts")


@pytest.fixture
def cache(directory: str) -> SharedCache:
    opened = SharedCache.open(directory)
    assert opened is not None
    return opened


@pytest.fixture
def calls() -> Any:
    return CTX.Value("i", 0)


@pytest.fixture
def name() -> str:
    return SharedCache.key_name(["signer-identity", {"RoleArn": ROLE, "RoleSessionName": "reports"}])


@pytest.fixture(autouse=True)
def _warnings(caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    caplog.set_level(logging.DEBUG, logger="powertools_sts")
    # Warned once per process: each test starts as a process that has warned of nothing yet.
    monkeypatch.setattr(_state, "warned", set(), raising=False)
    yield
    # Whatever a test did to the files, no log line may carry a secret.
    assert SECRET not in caplog.text
    assert TOKEN not in caplog.text


def fetch(cache: SharedCache, name: str, assume: Callable[[], Credentials], **options: Any) -> Any:
    options = {"usable": fresh, "now": time.time, "deadline": 5.0, "backoff": 5.0, **options}
    return cache.fetch(name, assume=assume, **options)


# -- one AssumeRole for the processes of an environment ---------------------------------------------------------


@pytest.mark.parametrize("workers", [2, 8])
def test_processes_that_fetch_at_once_share_one_assume_role(directory, name, calls, workers):
    start = CTX.Event()

    def worker() -> tuple[str, str, bool]:
        cache = SharedCache.open(directory)  # each worker opens it, as each runs INIT on its own
        assert cache is not None
        assert start.wait(WAIT)
        creds, _, here = fetch(cache, name, counting(calls, sleep=0.3))
        return creds.access_key_id, creds.secret_access_key, here

    started = [in_process(worker) for _ in range(workers)]
    start.set()
    results = [outcome(*pair) for pair in started]

    assert calls.value == 1
    assert len({key for key, _, _ in results}) == 1
    assert {secret for _, secret, _ in results} == {SECRET}
    assert sum(here for _, _, here in results) == 1


def test_fresh_credentials_in_the_file_are_served_without_the_lock(cache, directory, name, calls):
    fetch(cache, name, counting(calls))
    fd = os.open(os.path.join(directory, f"{name}.lock"), os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX)  # as if another process were refreshing
    try:
        began = time.monotonic()
        creds, _, here = fetch(cache, name, counting(calls), deadline=5.0)
        assert time.monotonic() - began < 1.0
    finally:
        os.close(fd)
    assert (here, calls.value) == (False, 1)
    assert creds.access_key_id.endswith("N1")


def test_a_fetch_that_waited_for_the_lock_serves_what_the_holder_wrote(cache, directory, name, calls):
    fd = os.open(os.path.join(directory, f"{name}.lock"), os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)  # another process is fetching
    got: list[Any] = []
    waiting = threading.Thread(target=lambda: got.append(fetch(cache, name, counting(calls))))
    try:
        waiting.start()
        time.sleep(0.1)  # let it find the lock taken
        write_file(os.path.join(directory, f"{name}.json"), json.dumps(valid_document("ASIAHOLDER")).encode())
    finally:
        os.close(fd)  # the holder is done
        waiting.join(WAIT)

    [(creds, _, here)] = got
    assert (creds.access_key_id, here, calls.value) == ("ASIAHOLDER", False, 0)


def test_the_files_are_private_and_hold_what_was_fetched(cache, directory, name, calls):
    creds, fetched_at, here = fetch(cache, name, counting(calls), now=lambda: 1_700_000_000.5)

    assert (here, fetched_at) == (True, 1_700_000_000.5)
    assert cache.read(name) == (creds, 1_700_000_000.5)
    assert stat.S_IMODE(os.lstat(directory).st_mode) == 0o700
    assert stat.S_IMODE(os.lstat(os.path.join(directory, f"{name}.json")).st_mode) == 0o600
    assert stat.S_IMODE(os.lstat(os.path.join(directory, f"{name}.lock")).st_mode) == 0o600
    assert sorted(os.listdir(directory)) == [f"{name}.json", f"{name}.lock"]  # no temporary file left
    with open(os.path.join(directory, f"{name}.json"), "rb") as file:
        doc = json.load(file)
    assert doc["version"] == FORMAT_VERSION == 2
    assert doc["failure"] is None
    assert doc["credentials"]["expiration"] == creds.expiration.timestamp()


def test_expired_credentials_in_the_file_are_not_served(cache, name, calls):
    creds, _, _ = fetch(cache, name, counting(calls))
    expires = creds.expiration.timestamp()

    assert cache.read(name, now=lambda: expires - 1) is not None
    assert cache.read(name, now=lambda: expires) is None
    again, _, here = fetch(cache, name, counting(calls), now=lambda: expires + 1, usable=lambda c, at: True)
    assert here
    assert again != creds
    assert calls.value == 2


# -- /tmp faults: each survived, and nothing wrong served -------------------------------------------------------


def valid_document(key: str = "ASIAPLANTED") -> dict[str, Any]:
    return {
        "version": FORMAT_VERSION,
        "fetched_at": time.time(),
        "credentials": {
            "access_key_id": key,
            "secret_access_key": SECRET,
            "session_token": TOKEN,
            "expiration": time.time() + 3600,
            "assumed_role_arn": None,
        },
        "failure": None,
    }


def mutated(change: Callable[[dict[str, Any]], None]) -> bytes:
    doc = valid_document()
    change(doc)
    return json.dumps(doc).encode()


CORRUPT = {
    "garbage bytes": b"\x00\xff\xfe garbage \x80",
    "truncated JSON": json.dumps(valid_document()).encode()[:-20],
    "a JSON list": b"[1, 2, 3]",
    "expiration as text": mutated(lambda d: d["credentials"].update(expiration="2030-01-01T00:00:00Z")),
    "access key as a number": mutated(lambda d: d["credentials"].update(access_key_id=123)),
    "empty secret": mutated(lambda d: d["credentials"].update(secret_access_key="")),
    "fetched_at as a bool": mutated(lambda d: d.update(fetched_at=True)),
    "version as a bool": mutated(lambda d: d.update(version=True)),
    "the version before": mutated(lambda d: d.update(version=1)),
    "a version after": mutated(lambda d: d.update(version=FORMAT_VERSION + 1)),
    "expiration NaN": mutated(lambda d: d["credentials"].update(expiration=float("nan"))),
    "expiration out of range": mutated(lambda d: d["credentials"].update(expiration=1e300)),
    "a missing field": mutated(lambda d: d.pop("failure")),
    "an unknown field": mutated(lambda d: d.update(extra=1)),
    "failure without a time": mutated(
        lambda d: d.update(failure={"at": None, "code": "Throttling", "role_arn": ROLE, "pid": 1})
    ),
    "failure without a pid": mutated(lambda d: d.update(failure={"at": 1.0, "code": "Throttling", "role_arn": ROLE})),
    "failure with a pid as text": mutated(
        lambda d: d.update(failure={"at": 1.0, "code": "Throttling", "role_arn": ROLE, "pid": "1"})
    ),
    "neither credentials nor failure": mutated(lambda d: d.update(credentials=None, fetched_at=None)),
    "too large": mutated(lambda d: d["credentials"].update(session_token="x" * 70_000)),
}


@pytest.mark.parametrize("content", list(CORRUPT.values()), ids=list(CORRUPT))
def test_a_corrupt_file_is_removed_and_replaced(cache, directory, name, calls, caplog, content):
    path = os.path.join(directory, f"{name}.json")
    write_file(path, content)

    assert cache.read(name) is None
    assert not os.path.exists(path)
    assert warnings_with(caplog, "not a credential file of this version")

    write_file(path, content)
    creds, _, here = fetch(cache, name, counting(calls))
    assert (here, calls.value) == (True, 1)
    assert cache.read(name) == (creds, pytest.approx(time.time(), abs=5))


def test_a_file_open_to_others_is_removed_and_replaced(cache, directory, name, calls, caplog):
    path = os.path.join(directory, f"{name}.json")
    write_file(path, json.dumps(valid_document()).encode(), mode=0o644)

    creds, _, here = fetch(cache, name, counting(calls))

    assert here
    assert creds.access_key_id != "ASIAPLANTED"
    assert warnings_with(caplog, "mode 0644 lets group or others in")
    assert stat.S_IMODE(os.lstat(path).st_mode) == 0o600
    assert cache.read(name) is not None


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can give a file to another uid")
def test_a_file_of_another_uid_is_removed_and_replaced(cache, directory, name, calls, caplog):
    path = os.path.join(directory, f"{name}.json")
    write_file(path, json.dumps(valid_document()).encode())
    os.chown(path, 12345, -1)

    assert cache.read(name) is None
    assert warnings_with(caplog, "owned by uid 12345")
    creds, _, here = fetch(cache, name, counting(calls))
    assert here
    assert creds.access_key_id != "ASIAPLANTED"
    assert os.lstat(path).st_uid == os.geteuid()


def test_a_symlink_in_place_of_the_credentials_file_is_never_followed(cache, directory, name, calls, tmp_path, caplog):
    target = str(tmp_path / "planted.json")
    planted = json.dumps(valid_document()).encode()
    write_file(target, planted)  # ours, 0600, valid: only the link makes it wrong
    path = os.path.join(directory, f"{name}.json")
    os.symlink(target, path)

    assert cache.read(name) is None
    assert not os.path.lexists(path)
    assert warnings_with(caplog, "it is a symbolic link")

    os.symlink(target, path)
    creds, _, here = fetch(cache, name, counting(calls))
    assert here
    assert creds.access_key_id != "ASIAPLANTED"
    assert not os.path.islink(path)
    with open(target, "rb") as file:
        assert file.read() == planted  # the target was neither read into the cache nor written


def test_a_symlink_in_place_of_the_lock_file_is_never_followed(cache, directory, name, calls, tmp_path):
    target = tmp_path / "created-through-the-link"
    lock_path = os.path.join(directory, f"{name}.lock")
    os.symlink(target, lock_path)

    creds, _, here = fetch(cache, name, counting(calls))

    assert here
    assert not target.exists()  # O_CREAT through the link would have made it
    assert stat.S_ISREG(os.lstat(lock_path).st_mode)  # the link was replaced by a lock file of its own
    assert cache.read(name) == (creds, pytest.approx(time.time(), abs=5))


def test_a_fifo_in_place_of_the_credentials_file_does_not_hang(cache, directory, name, calls):
    path = os.path.join(directory, f"{name}.json")
    os.mkfifo(path, 0o600)

    _, _, here = fetch(cache, name, counting(calls))

    assert here
    assert stat.S_ISREG(os.lstat(path).st_mode)


@pytest.mark.parametrize("kind", ["symlink", "mode 0755", "a file", "another uid"])
def test_an_unsafe_directory_is_refused(tmp_path, caplog, kind):
    good = tmp_path / "good"
    good.mkdir(mode=0o700)
    path = tmp_path / "cache"
    if kind == "symlink":
        path.symlink_to(good)
    elif kind == "mode 0755":
        path.mkdir()
        path.chmod(0o755)
    elif kind == "a file":
        path.write_bytes(b"")
    else:
        if os.geteuid() != 0:
            pytest.skip("only root can give a directory to another uid")
        path.mkdir(mode=0o700)
        os.chown(path, 12345, -1)

    assert SharedCache.open(str(path)) is None
    assert warnings_with(caplog, "Cannot use the shared credential cache")


def test_the_default_directory_is_per_uid_in_the_temporary_directory_and_private(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    old = os.umask(0)  # a permissive umask must not open the directory up
    try:
        cache = SharedCache.open()
    finally:
        os.umask(old)

    assert cache is not None
    assert cache.directory == str(tmp_path / f"powertools-sts-{os.getuid()}")
    assert stat.S_IMODE(os.lstat(cache.directory).st_mode) == 0o700
    assert SharedCache.open() is not None  # and it is accepted when it already exists


def test_a_directory_that_cannot_be_created_is_refused(tmp_path, caplog):
    assert SharedCache.open(str(tmp_path / "missing" / "sts")) is None
    assert warnings_with(caplog, "Cannot use the shared credential cache")


def test_without_posix_file_locks_there_is_no_shared_cache(directory, monkeypatch, caplog):
    with monkeypatch.context() as patch:  # undone before any assertion: pytest itself reads os.name
        patch.setattr(os, "name", "nt")
        opened = SharedCache.open(directory)
    assert opened is None
    assert warnings_with(caplog, "it needs POSIX file locks; each process keeps its own credentials")
    assert not os.path.exists(directory)


def test_no_usable_temporary_directory_is_one_warning_per_process(monkeypatch, caplog):
    # On Lambda a full or read-only /tmp leaves no temporary directory (/var/task is read-only too):
    # gettempdir() raises, and open() must not.
    def no_tempdir() -> str:
        raise FileNotFoundError(errno.ENOENT, "No usable temporary directory found in ['/tmp', '/var/tmp']")

    monkeypatch.setattr(tempfile, "gettempdir", no_tempdir)

    assert [SharedCache.open(), SharedCache.open()] == [None, None]  # say, two providers of one worker
    [warning] = warnings_with(caplog, "Cannot use the shared credential cache")
    assert "No usable temporary directory" in warning
    assert "each process keeps its own credentials" in warning


def test_a_worker_killed_holding_the_lock_does_not_hold_up_the_next_fetch(cache, directory, name, calls):
    holding = CTX.Event()

    def holder() -> None:
        def assume() -> Credentials:
            holding.set()
            time.sleep(WAIT)  # killed long before
            raise AssertionError("not reached")

        mine = SharedCache.open(directory)
        assert mine is not None
        fetch(mine, name, assume)

    process, _ = in_process(holder)
    try:
        assert holding.wait(WAIT)
        assert lock_is_held(os.path.join(directory, f"{name}.lock"))
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.join(WAIT)
    assert process.exitcode == -signal.SIGKILL

    began = time.monotonic()
    creds, _, here = fetch(cache, name, counting(calls), deadline=5.0)
    assert time.monotonic() - began < 1.0  # the kernel dropped the dead worker's flock: no wait for the deadline
    assert (here, calls.value) == (True, 1)
    assert cache.read(name) == (creds, pytest.approx(time.time(), abs=5))


def test_a_holder_past_the_deadline_is_not_waited_for(cache, directory, name, calls, caplog):
    holding, release = CTX.Event(), CTX.Event()

    def holder() -> str:
        def assume() -> Credentials:
            holding.set()
            release.wait(WAIT)
            return make_creds("ASIASLOWHOLDER")

        mine = SharedCache.open(directory)
        assert mine is not None
        return str(fetch(mine, name, assume)[0].access_key_id)

    process, results = in_process(holder)
    try:
        assert holding.wait(WAIT)
        began = time.monotonic()
        creds, _, here = fetch(cache, name, counting(calls), deadline=0.3)
        waited = time.monotonic() - began
    finally:
        release.set()
    assert outcome(process, results) == "ASIASLOWHOLDER"

    assert 0.3 <= waited < 3.0
    assert (here, calls.value) == (True, 1)
    assert creds.access_key_id != "ASIASLOWHOLDER"
    assert warnings_with(caplog, "for more than 0.3 s; fetching them here")


@pytest.fixture
def full_disk(monkeypatch: pytest.MonkeyPatch) -> None:
    def replace(src: Any, dst: Any, **kwargs: Any) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(dst))

    monkeypatch.setattr(os, "replace", replace)


def test_a_full_disk_never_fails_the_caller(cache, directory, calls, caplog, full_disk):
    names = [SharedCache.key_name(["signer", role]) for role in ("a", "b", "c")]

    got = [fetch(cache, key, counting(calls)) for key in names]

    assert [here for _, _, here in got] == [True, True, True]
    assert calls.value == 3
    assert [cache.read(key) for key in names] == [None, None, None]  # nothing written, nothing half-written
    other = SharedCache.open(directory)  # another provider of this process: the warning is the process's
    assert other is not None
    assert fetch(other, names[0], counting(calls))[2]
    assert len(warnings_with(caplog, "Cannot write the shared credential cache")) == 1
    assert warnings_with(caplog, "No space left on device")
    assert not [entry for entry in os.listdir(directory) if entry.endswith(".tmp")]


def test_a_read_only_directory_never_fails_the_caller(cache, directory, name, calls, caplog, monkeypatch):
    real_open = os.open

    def read_only(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if flags & os.O_CREAT and str(path).startswith(directory):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), path)
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", read_only)

    first = fetch(cache, name, counting(calls))
    second = fetch(cache, name, counting(calls))

    assert (first[2], second[2], calls.value) == (True, True, 2)  # no lock, no file: each call fetches
    assert len(warnings_with(caplog, "Cannot write the shared credential cache")) == 1
    assert os.listdir(directory) == []


# -- the role -----------------------------------------------------------------------------------------------------


def planted(directory: str, name: str, assumed_role_arn: str | None) -> None:
    doc = valid_document()
    doc["credentials"]["assumed_role_arn"] = assumed_role_arn
    write_file(os.path.join(directory, f"{name}.json"), json.dumps(doc).encode())


@pytest.mark.parametrize(
    "assumed",
    [
        "arn:aws:sts::111122223333:assumed-role/audit/s",  # another role name
        "arn:aws:sts::444455556666:assumed-role/reports/s",  # another account
        "arn:aws-cn:sts::111122223333:assumed-role/reports/s",  # another partition
        "arn:aws:sts::111122223333:assumed-role/reportsX/s",
        "arn:aws:iam::111122223333:role/reports",  # not an assumed role
        None,  # no assumed role at all
    ],
)
def test_credentials_of_another_role_are_not_served_and_removed(cache, directory, name, calls, caplog, assumed):
    planted(directory, name, assumed)

    assert cache.read(name, role_arn=ROLE) is None
    assert not os.path.exists(os.path.join(directory, f"{name}.json"))
    assert warnings_with(caplog, f"credentials of another role than {ROLE}")

    planted(directory, name, assumed)
    creds, _, here = fetch(cache, name, counting(calls), role_arn=ROLE)
    assert (here, calls.value) == (True, 1)
    assert cache.read(name, role_arn=ROLE) == (creds, pytest.approx(time.time(), abs=5))


@pytest.mark.parametrize(
    ("role_arn", "assumed"),
    [
        (ROLE, "arn:aws:sts::111122223333:assumed-role/reports/any-session"),
        ("arn:aws:iam::111122223333:role/team/a/reports", "arn:aws:sts::111122223333:assumed-role/reports/s"),
        ("arn:aws-us-gov:iam::111122223333:role/Reports", "arn:aws-us-gov:sts::111122223333:assumed-role/reports/s"),
    ],
)
def test_credentials_of_the_role_asked_for_are_served(cache, directory, name, calls, role_arn, assumed):
    planted(directory, name, assumed)
    creds, _, here = fetch(cache, name, counting(calls), role_arn=role_arn)
    assert (creds.access_key_id, here, calls.value) == ("ASIAPLANTED", False, 0)


def test_without_a_role_arn_the_role_is_not_checked(cache, directory, name, calls):
    planted(directory, name, None)
    assert fetch(cache, name, counting(calls))[0].access_key_id == "ASIAPLANTED"


# -- the back-off is shared ---------------------------------------------------------------------------------------


def throttled() -> Credentials:
    raise AssumeRoleError("Rate exceeded", role_arn=ROLE, code="Throttling")


def test_a_failure_in_one_process_backs_off_the_others(cache, directory, name, calls):
    failed_at = time.time()

    def first_worker() -> str | None:
        mine = SharedCache.open(directory)
        assert mine is not None
        try:
            fetch(mine, name, throttled, now=lambda: failed_at)
        except SharedBackoffError:
            return "backed off"
        except AssumeRoleError as exc:
            return exc.code
        return None

    assert outcome(*in_process(first_worker)) == "Throttling"

    clock = [failed_at + 2.0]
    with pytest.raises(SharedBackoffError) as info:
        fetch(cache, name, counting(calls), now=lambda: clock[0], backoff=5.0)
    assert calls.value == 0  # no STS call while another process's failure is younger than the back-off
    err = info.value
    assert isinstance(err, AssumeRoleError)
    assert (err.code, err.role_arn, err.age) == ("Throttling", ROLE, pytest.approx(2.0))
    assert re.search(r"failed in process \d+ of this environment 2\.0 s ago", str(err))
    assert f"process {os.getpid()} " not in str(err)
    assert "Rate exceeded" not in str(err)

    clock[0] = failed_at + 5.0
    _, fetched_at, here = fetch(cache, name, counting(calls), now=lambda: clock[0], backoff=5.0)
    assert (here, calls.value, fetched_at) == (True, 1, clock[0])
    # A success clears the record: nobody backs off any more.
    with open(os.path.join(directory, f"{name}.json"), "rb") as file:
        assert json.load(file)["failure"] is None


def test_credentials_still_valid_stay_beside_a_failure(cache, directory, name, calls):
    t0 = time.time()
    young = {"usable": lambda creds, at: clock[0] - at < 1000}
    clock = [t0]
    creds, _, _ = fetch(cache, name, counting(calls), now=lambda: clock[0], **young)

    clock[0] = t0 + 2000  # past this process's refresh rule, an hour from expiry

    def failing_worker() -> str:
        mine = SharedCache.open(directory)
        assert mine is not None
        with pytest.raises(AssumeRoleError) as info:
            fetch(mine, name, throttled, now=lambda: clock[0], **young)
        return type(info.value).__name__

    assert outcome(*in_process(failing_worker)) == "AssumeRoleError"
    assert cache.read(name, now=lambda: clock[0]) == (creds, t0)  # to serve stale, as the provider decides
    with pytest.raises(SharedBackoffError):
        fetch(cache, name, counting(calls), now=lambda: clock[0] + 1, **young)
    assert calls.value == 1
    with open(os.path.join(directory, f"{name}.json"), "rb") as file:
        doc = json.load(file)
    assert doc["failure"]["at"] == t0 + 2000
    assert (doc["failure"]["code"], doc["failure"]["role_arn"]) == ("Throttling", ROLE)
    assert doc["failure"]["pid"] not in (os.getpid(), None)
    assert "Rate exceeded" not in json.dumps(doc)


def test_a_failure_of_this_process_is_never_held_against_it(cache, name, calls):
    # The back-off spares the other workers a retry each; in this process a failure is not cached (the
    # provider's rule): an entry whose prefetch failed is fetched again by the first invocation.
    failed_at = time.time()
    with pytest.raises(AssumeRoleError):
        fetch(cache, name, throttled, now=lambda: failed_at)
    _, _, here = fetch(cache, name, counting(calls), now=lambda: failed_at + 1.0)
    assert (here, calls.value) == (True, 1)


def test_a_failure_at_or_before_failures_after_is_ignored(cache, directory, name, calls):
    # What clear_caches() asks for: this process fetches anew rather than back off on a failure of before.
    failed_at = time.time()

    def failing_worker() -> None:
        with pytest.raises(AssumeRoleError):
            fetch(SharedCache.open(directory), name, throttled, now=lambda: failed_at)

    outcome(*in_process(failing_worker))
    with pytest.raises(SharedBackoffError):
        fetch(cache, name, counting(calls), now=lambda: failed_at + 1.0, failures_after=failed_at - 0.001)
    creds, fetched_at, here = fetch(cache, name, counting(calls), now=lambda: failed_at + 1.0, failures_after=failed_at)
    assert (here, calls.value, fetched_at) == (True, 1, failed_at + 1.0)
    assert cache.read(name) == (creds, failed_at + 1.0)


def test_without_read_sts_is_called_and_its_credentials_stored(cache, directory, name, calls):
    # force_fetch: whatever the file holds, fresh credentials or a failure of moments ago, STS is called.
    def unread(creds: Credentials, fetched_at: float) -> bool:
        raise AssertionError("nothing read: nothing to judge")

    first, _, _ = fetch(cache, name, counting(calls))
    forced, fetched_at, here = fetch(cache, name, counting(calls), usable=unread, read=False)
    assert (here, calls.value) == (True, 2)
    assert forced != first
    assert cache.read(name) == (forced, fetched_at)

    failed_at = time.time()
    with pytest.raises(AssumeRoleError):
        fetch(cache, name, throttled, now=lambda: failed_at, read=False)
    again, _, here = fetch(cache, name, counting(calls), now=lambda: failed_at + 1.0, usable=unread, read=False)
    assert (here, calls.value) == (True, 3)
    assert cache.read(name) == (again, failed_at + 1.0)


def test_a_failure_of_another_kind_is_not_recorded(cache, directory, name):
    def broken() -> Credentials:
        raise RuntimeError("a bug, not an STS failure")

    with pytest.raises(RuntimeError):
        fetch(cache, name, broken)
    assert not os.path.exists(os.path.join(directory, f"{name}.json"))
    assert not lock_is_held(os.path.join(directory, f"{name}.lock"))


def test_the_back_off_error_survives_pickling():
    err = SharedBackoffError("failed 1.0 s ago", role_arn=ROLE, code="Throttling", age=1.0)
    copy = pickle.loads(pickle.dumps(err))
    assert type(copy) is SharedBackoffError
    assert (str(copy), copy.role_arn, copy.code, copy.age) == (str(err), ROLE, "Throttling", 1.0)


# -- what is swept -------------------------------------------------------------------------------------------------

HOUR = 3600.0


def aged(path: str, seconds: float) -> str:
    """Set the file's times ``seconds`` in the past (a lock file, a temporary file: ages go by their mtime)."""
    at = time.time() - seconds
    os.utime(path, (at, at), follow_symlinks=False)
    return path


def write_and(path: str, data: bytes) -> str:
    write_file(path, data)
    return path


def document(*, expires_in: float | None, failed_ago: float | None) -> bytes:
    doc = valid_document()
    if expires_in is None:
        doc.update(credentials=None, fetched_at=None)
    else:
        doc["credentials"]["expiration"] = time.time() + expires_in
    if failed_ago is not None:
        doc["failure"] = {"at": time.time() - failed_ago, "code": "Throttling", "role_arn": ROLE, "pid": 1}
    return json.dumps(doc).encode()


def test_opening_sweeps_what_no_process_reads_again(directory, caplog):
    os.mkdir(directory, 0o700)
    key = [SharedCache.key_name(["k", n]) for n in range(10)]

    def at(name: str) -> str:
        return os.path.join(directory, name)

    stale_tmp, young_tmp = at(f"{key[0]}.0123456789abcdef.tmp"), at(f"{key[1]}.fedcba9876543210.tmp")
    for path in (stale_tmp, young_tmp):
        write_file(path, b'{"half": "writ')
    aged(stale_tmp, 120)  # a writer killed between its write and its rename left it, secrets and all
    aged(young_tmp, 5)  # a write under way, in another process: kept
    swept = {
        stale_tmp,
        write_and(at(f"{key[2]}.json"), document(expires_in=-1, failed_ago=None)),  # credentials expired
        write_and(at(f"{key[3]}.json"), document(expires_in=None, failed_ago=2 * HOUR)),  # a failure long past
        write_and(at(f"{key[4]}.json"), document(expires_in=-1, failed_ago=2 * HOUR)),
        aged(write_and(at(f"{key[5]}.lock"), b""), 14 * HOUR),  # the lock of a key without a file, for 14 h
        write_and(at(f"{key[9]}.json"), mutated(lambda d: d.update(version=1))),  # the format before
    }
    kept = {
        young_tmp,
        write_and(at(f"{key[6]}.json"), document(expires_in=HOUR, failed_ago=None)),
        write_and(at(f"{key[7]}.json"), document(expires_in=None, failed_ago=60)),  # a failure of a minute ago
        write_and(at(f"{key[8]}.json"), document(expires_in=HOUR, failed_ago=2 * HOUR)),  # stale still served
        aged(write_and(at(f"{key[8]}.lock"), b""), 14 * HOUR),  # its key has a file
        aged(write_and(at(f"{key[7]}.lock"), b""), 14 * HOUR),
        aged(write_and(at(f"{key[3]}.lock"), b""), 11 * HOUR),  # younger than the longest credentials
        write_and(at("not-ours.txt"), b"left alone"),
        aged(write_and(at(".hidden.0123456789abcdef.tmp"), b"not a name of ours"), 120),
    }
    held = aged(write_and(at(f"{key[1]}.lock"), b""), 14 * HOUR)  # without a file, but a process holds it
    fd = os.open(held, os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        assert SharedCache.open(directory) is not None
    finally:
        os.close(fd)

    assert {at(entry) for entry in os.listdir(directory)} == kept | {held}
    assert not swept & {at(entry) for entry in os.listdir(directory)}
    # Housekeeping is not news; only the file of the format before, not read, says so.
    assert [w for w in warnings_with(caplog, "") if "Removed" in w] == [
        f"Removed {key[9]}.json from the shared credential cache: it is not a credential file of this version"
    ]


def test_the_write_path_sweeps_at_most_every_few_minutes_and_a_read_never(cache, directory, name, calls, monkeypatch):
    fetch(cache, name, counting(calls))
    stale = aged(write_and(os.path.join(directory, f"{name}.0123456789abcdef.tmp"), b"{"), 120)

    fetch(cache, name, counting(calls), usable=never)  # a write, but the sweep at open was moments ago
    assert os.path.exists(stale)

    real = time.monotonic
    monkeypatch.setattr(time, "monotonic", lambda: real() + 301)  # five minutes on
    fetch(cache, name, counting(calls))  # served from the file: a read sweeps nothing
    assert os.path.exists(stale)
    fetch(cache, name, counting(calls), usable=never)  # the next write sweeps
    assert not os.path.exists(stale)
    assert calls.value == 3


# -- keys ---------------------------------------------------------------------------------------------------------


def test_different_key_materials_never_share_a_file(cache, directory, calls):
    params = {"RoleArn": ROLE, "RoleSessionName": "reports"}
    materials = [
        ["signer-a", params],
        ["signer-b", params],
        ["signer-a", {**params, "RoleArn": OTHER_ROLE}],
        ["signer-a", {**params, "DurationSeconds": 900}],
        ["signer-a", {**params, "ExternalId": "x-1"}],
        ["namespace", "signer-a", params],
    ]
    names = [SharedCache.key_name(material) for material in materials]
    assert len(set(names)) == len(materials)

    keys = {fetch(cache, key, counting(calls))[0].access_key_id for key in names}
    assert len(keys) == calls.value == len(materials)
    assert len([entry for entry in os.listdir(directory) if entry.endswith(".json")]) == len(materials)


def test_key_names_are_stable_across_processes():
    material = ("signer", {"RoleArn": ROLE, "DurationSeconds": 900, "Tags": [{"Key": "k", "Value": "v"}]}, 1.5, None)
    code = f"from powertools_sts.shared_cache import SharedCache\nprint(SharedCache.key_name({material!r}))\n"
    names = {
        subprocess.run(
            [sys.executable, "-c", code],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout.strip()
        for seed in ("1", "2")
    }
    reordered = ["signer", {"Tags": [{"Value": "v", "Key": "k"}], "DurationSeconds": 900, "RoleArn": ROLE}, 1.5, None]
    assert names == {SharedCache.key_name(material)} == {SharedCache.key_name(reordered)}


@pytest.mark.parametrize("material", [{1: "int key"}, {"a set"}, object(), float("nan"), [b"bytes"]])
def test_key_material_that_is_not_plain_data_is_refused(material):
    with pytest.raises((TypeError, ValueError)):
        SharedCache.key_name(material)


@pytest.mark.parametrize("bad", ["../escape", "a/b", "", ".hidden"])
def test_a_name_that_is_not_a_file_name_is_refused(cache, bad):
    with pytest.raises(ValueError):
        cache.read(bad)


# -- forks --------------------------------------------------------------------------------------------------------


def lock_descriptors(path: str) -> int:
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            count += os.readlink(f"/proc/self/fd/{fd}") == path
    return count


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts descriptors through /proc")
def test_after_fork_drops_inherited_lock_descriptors_and_leaves_the_parent_its_lock(cache, directory, name):
    lock_path = os.path.join(directory, f"{name}.lock")
    inside, release = threading.Event(), threading.Event()

    def slow() -> Credentials:
        inside.set()
        release.wait(WAIT)
        return make_creds("ASIAPARENT")

    fetching = threading.Thread(target=fetch, args=(cache, name, slow))
    fetching.start()
    try:
        assert inside.wait(WAIT)

        def child() -> tuple[int, int, bool]:
            before = lock_descriptors(lock_path)
            cache._after_fork()
            return before, lock_descriptors(lock_path), lock_is_held(lock_path)

        before, after, still_held = outcome(*in_process(child))
    finally:
        release.set()
        fetching.join(WAIT)

    assert (before, after) == (1, 0)
    assert still_held  # closed, never unlocked: the lock stayed the parent's
    assert not lock_is_held(lock_path)
    assert cache.read(name) is not None


def test_a_child_forked_during_a_fetch_does_not_keep_the_lock(cache, directory, name):
    lock_path = os.path.join(directory, f"{name}.lock")
    inside, release = threading.Event(), threading.Event()
    child_done = CTX.Event()

    def slow() -> Credentials:
        inside.set()
        release.wait(WAIT)
        return make_creds("ASIAPARENT")

    fetching = threading.Thread(target=fetch, args=(cache, name, slow))
    fetching.start()
    try:
        assert inside.wait(WAIT)
        # A child that never runs after_fork keeps its copy of the descriptor open.
        process, _ = in_process(lambda: child_done.wait(WAIT))
    finally:
        release.set()
        fetching.join(WAIT)
    try:
        assert not lock_is_held(lock_path)  # unlocked before the close, so the child's copy holds nothing
    finally:
        child_done.set()
        process.join(WAIT)


def test_nothing_is_written_while_the_testing_stub_answers(cache, directory, name, calls, monkeypatch):
    # Found attacking the plugin: a prefetch that entered the shared cache before sts_stub was active
    # wrote the stub's DiscardedByStub failure to /tmp when it landed.
    monkeypatch.setattr(_state, "stubbed", True)
    with pytest.raises(AssumeRoleError):
        fetch(cache, name, throttled)
    fetch(cache, name, counting(calls))
    assert [entry for entry in os.listdir(directory) if entry.endswith((".json", ".tmp"))] == []
