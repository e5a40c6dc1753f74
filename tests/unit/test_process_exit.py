"""The package's worker threads (issue 9, items 3 and 4): they never keep a process alive, nor make one layer wait for another.

STS that hangs is ``SilentSTS`` (accepts, never answers) or the fault proxy with a hold on some roles;
healthy STS is moto. Whether something happened "in time" is always an ordering checked with a generous
bounded wait (the hung calls are still hanging when the healthy one is done), never a timing figure.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from awslambdaric.lambda_context import LambdaContext
from botocore.config import Config

from powertools_sts import get_credentials, sts

from ..conftest import OTHER_ROLE, ROLE
from ..reliability.proxy import FaultProxy
from .test_single_flight import SilentSTS

HUNG = 16  # the entries of the layer whose STS hangs: as many as the old shared pool had threads


@pytest.fixture
def silent_sts() -> Iterator[SilentSTS]:
    """A silent STS endpoint (each test says which clients use it)."""
    server = SilentSTS()
    yield server
    server.close()


def lambda_context() -> LambdaContext:
    deadline_ms = int((time.time() + 300) * 1000)
    return LambdaContext("req-1", None, None, deadline_ms, "arn:aws:lambda:us-east-1:111122223333:function:orders")


def unique(prefix: str) -> str:
    """An entry name no other test uses: layers of earlier tests may still be alive."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


# -- item 3: a prefetch in flight never delays the interpreter's exit ----------------------------------

APP = textwrap.dedent(
    f"""
    from powertools_sts import sts

    @sts(fetch_data={{"reports": {ROLE!r}, "audit": {OTHER_ROLE!r}}})
    def handler(event, context):
        return None
    """
)
SCRIPT = "import sys\nimport app\nsys.stdin.readline()\nprint('done', flush=True)\n"


@pytest.mark.timeout(60)
def test_the_interpreter_exits_when_the_script_ends_while_prefetches_hang(silent_sts, tmp_path):
    (tmp_path / "app.py").write_text(APP)
    # The package's defaults: 3 attempts of a 5 s read timeout each, so the prefetches hang for 15 s or more.
    env = {**os.environ, "AWS_ENDPOINT_URL_STS": silent_sts.url}
    process = subprocess.Popen(
        [sys.executable, "-c", SCRIPT],
        cwd=tmp_path,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        # The import started both prefetches: both are waiting on STS when the script ends.
        assert silent_sts.wait_accepted(2, timeout=20), "the import did not start its two prefetches"
        try:
            output, _ = process.communicate(b"go\n", timeout=5)
        except subprocess.TimeoutExpired as exc:
            pytest.fail(
                "the interpreter was still running 5 s after the script ended, held by the hung prefetches "
                f"(output so far: {exc.stdout!r})"
            )
        assert b"done" in output, output
        assert process.returncode == 0, output
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=10)


# -- item 4: a layer whose STS hangs does not stall another layer --------------------------------------


def _healthy_invocation_in_thread(fetch_data: dict[str, str], **options: Any) -> tuple[threading.Event, list[Any]]:
    """Apply a 2-entry layer (no prefetch: both entries are due) and invoke it on a thread."""
    names = list(fetch_data)

    @sts(fetch_data=fetch_data, disable_prefetch=True, **options)
    def handler(event: Any, context: Any) -> list[str]:
        return [get_credentials(name).access_key_id for name in names]

    done = threading.Event()
    outcome: list[Any] = []

    def invoke() -> None:
        try:
            outcome.append(handler({"n": 1}, lambda_context()))
        except BaseException as exc:
            outcome.append(exc)
        finally:
            done.set()

    threading.Thread(target=invoke, name="healthy-invocation", daemon=True).start()
    return done, outcome


@pytest.mark.timeout(60)
def test_a_layer_whose_sts_hangs_does_not_stall_another_layers_invocation(silent_sts, moto_sts):
    # The healthy layer's STS is moto (its client is built from AWS_ENDPOINT_URL_STS, which moto_sts set).
    hung_client = boto3.session.Session().client(
        "sts",
        endpoint_url=silent_sts.url,
        config=Config(
            connect_timeout=1,
            read_timeout=25,
            retries={"total_max_attempts": 1, "mode": "standard"},
            max_pool_connections=HUNG + 4,
        ),
    )
    hung = {unique(f"hung{n}"): f"arn:aws:iam::111122223333:role/hung-{n}" for n in range(HUNG)}
    sts(fetch_data=hung, boto3_client=hung_client)(lambda event, context: None)
    try:
        assert silent_sts.wait_accepted(HUNG, timeout=15), f"{silent_sts.accepted} of {HUNG} prefetches reached STS"

        done, outcome = _healthy_invocation_in_thread({unique("reports"): ROLE, unique("audit"): OTHER_ROLE})

        # The healthy invocation completes while every hung fetch is still hanging.
        finished = done.wait(timeout=15)
        still_hanging = silent_sts.holding
    finally:
        silent_sts.release()
    assert finished, "the invocation of the healthy layer waited on the other layer's hung fetches"
    assert still_hanging == HUNG
    (result,) = outcome
    assert not isinstance(result, BaseException), repr(result)
    assert len(set(result)) == 2
    assert moto_sts.assume_role_calls == 2


class RoleHoldProxy(FaultProxy):
    """The fault proxy, with one extra rule: an AssumeRole for a role whose name holds ``marker`` is held.

    A held request is never answered (its connection is closed at ``let_go()`` or after 30 s); every
    other request is forwarded to moto as in ``pass`` mode.
    """

    def __init__(self, upstream: str, marker: bytes) -> None:
        self.marker = marker
        self.held = 0
        self.held_changed = threading.Condition()
        self.go = threading.Event()
        super().__init__(upstream)

    def let_go(self) -> None:
        self.go.set()

    def wait_held(self, count: int, timeout: float) -> bool:
        with self.held_changed:
            return self.held_changed.wait_for(lambda: self.held >= count, timeout)

    def _answer(self, conn: Any, mode: str, params: dict[str, Any], release: threading.Event, request: Any) -> None:
        if self.marker in request.body:
            with self.held_changed:
                self.held += 1
                self.held_changed.notify_all()
            self.go.wait(30)
            return
        super()._answer(conn, mode, params, release, request)


@pytest.fixture
def hold_proxy(moto_sts: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[RoleHoldProxy]:
    with RoleHoldProxy(moto_sts.url, marker=b"role%2Fhung-") as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL_STS", proxy.url)
        yield proxy
        proxy.let_go()


@pytest.mark.timeout(60)
def test_hung_roles_do_not_stall_another_layer_that_shares_their_sts_client(hold_proxy, moto_sts):
    # One Config object for both layers: one signing configuration, so one provider and one STS client.
    config = Config(
        connect_timeout=1,
        read_timeout=25,
        retries={"total_max_attempts": 1, "mode": "standard"},
        max_pool_connections=HUNG + 4,
    )
    hung = {unique(f"hung{n}"): f"arn:aws:iam::111122223333:role/hung-{n}" for n in range(HUNG)}
    sts(fetch_data=hung, boto_config=config)(lambda event, context: None)
    try:
        assert hold_proxy.wait_held(HUNG, timeout=15), f"{hold_proxy.held} of {HUNG} prefetches reached STS"

        done, outcome = _healthy_invocation_in_thread(
            {unique("reports"): ROLE, unique("audit"): OTHER_ROLE}, boto_config=config
        )

        finished = done.wait(timeout=15)
        still_held = not hold_proxy.go.is_set()
    finally:
        hold_proxy.let_go()
    assert finished, "the invocation of the healthy layer waited on the other layer's hung fetches"
    assert still_held
    (result,) = outcome
    assert not isinstance(result, BaseException), repr(result)
    assert len(set(result)) == 2
    assert moto_sts.assume_role_calls == 2
