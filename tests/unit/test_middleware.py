"""The ``sts`` decorator against moto's STS server: every option, and each numbered behaviour of issue 3.

Everything STS answers comes from moto on 127.0.0.1; the Lambda context is awslambdaric's own
``LambdaContext``; Logger, Tracer and the middleware factory are the real Powertools ones. Time moves
only through the ``clock`` fixture.
"""

from __future__ import annotations

import concurrent.futures
import contextvars
import io
import logging
import os
import re
import socket
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any, NamedTuple
from urllib.parse import parse_qs

import boto3
import pytest
import snapshot_restore_py
from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.middleware_factory import lambda_handler_decorator
from awslambdaric.lambda_context import LambdaContext
from awslambdaric.lambda_runtime_hooks_runner import run_after_restore
from botocore.config import Config

import powertools_sts
from powertools_sts import (
    AssumeRoleError,
    ConfigurationError,
    TenantError,
    get_client,
    get_credentials,
    get_session,
    sts,
)

from ..conftest import OTHER_ROLE, ROLE

HUB = "arn:aws:iam::111122223333:role/hub"
SPOKE = "arn:aws:iam::444455556666:role/spoke"
# Past any entry's refresh window with the default margin (300 s plus up to 25% jitter) of 3600 s
# credentials, and still above the 60 s floor.
PAST_REFRESH = 3310
# Before any entry's refresh window (which starts 300-375 s before the end).
BEFORE_REFRESH = 3200


# -- helpers -------------------------------------------------------------------------------------------


def lambda_context(request_id: str = "req-1") -> LambdaContext:
    deadline_ms = int((time.time() + 300) * 1000)
    return LambdaContext(request_id, None, None, deadline_ms, "arn:aws:lambda:us-east-1:111122223333:function:orders")


def invoke(handler: Callable[..., Any], request_id: str = "req-1", **kwargs: Any) -> Any:
    return handler({"source": "test"}, lambda_context(request_id), **kwargs)


def returns_credentials(*names: str) -> Callable[..., Any]:
    """A handler that returns the credentials of ``names`` (one value for one name)."""

    def handler(event: Any, context: Any) -> Any:
        found = tuple(get_credentials(name) for name in names)
        return found[0] if len(found) == 1 else found

    return handler


def unique(prefix: str = "entry") -> str:
    """An entry name no other test uses: layers of earlier tests may still be alive."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def wait_for_calls(moto_sts: Any, count: int, timeout: float = 10.0) -> None:
    """Poll until moto has received ``count`` AssumeRole requests (bounded)."""
    deadline = time.monotonic() + timeout
    while moto_sts.assume_role_calls < count:
        assert time.monotonic() < deadline, f"moto saw {moto_sts.assume_role_calls} AssumeRole calls, expected {count}"
        time.sleep(0.005)


def drain_prefetches(timeout: float = 10.0) -> None:
    """Return once every worker thread of the package started before this call has finished.

    Prefetches and refreshes run on daemon threads named ``powertools-sts...``: joining each makes
    "no prefetch happened" a deterministic observation, not a sleep.
    """
    for thread in threading.enumerate():
        # Refresh-ahead timers sleep until their entry's refresh is due: they are not fetches.
        if thread.name.startswith("powertools-sts") and not thread.name.endswith("refresh-ahead"):
            thread.join(timeout)
            assert not thread.is_alive(), f"{thread.name} still running after {timeout} s"


@pytest.fixture(autouse=True)
def _no_prefetch_left_running(moto_sts: Any) -> Iterator[None]:
    """A prefetch still running after a test (of this module or another) would reach moto during the next one."""
    drain_prefetches()
    moto_sts.reset()
    powertools_sts.clear_caches()
    yield
    drain_prefetches()


class Seen(NamedTuple):
    """One AssumeRole request as moto's server received it."""

    access_key: str
    user_agent: str
    params: dict[str, str]


@pytest.fixture
def sts_requests(moto_sts: Any) -> Iterator[list[Seen]]:
    """Record every AssumeRole request at the server: who signed it, its User-Agent and parameters."""
    wsgi = moto_sts.server._server
    app = wsgi.app
    seen: list[Seen] = []

    def recording(environ: dict[str, Any], start_response: Any) -> Any:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        params = {key: values[0] for key, values in parse_qs(body.decode()).items()}
        if params.get("Action") == "AssumeRole":
            match = re.search(r"Credential=([^/]+)/", environ.get("HTTP_AUTHORIZATION", ""))
            seen.append(Seen(match.group(1) if match else "", environ.get("HTTP_USER_AGENT", ""), params))
        return app(environ, start_response)

    wsgi.app = recording
    yield seen
    wsgi.app = app


def iam_off(moto_sts: Any) -> None:
    """Switch moto's IAM checks off again without resetting its state or the call count."""
    moto_sts.post("/moto-api/reset-auth", b"inf")


def user_allowed_to_assume(moto_sts: Any, role_arn: str) -> boto3.session.Session:
    """A moto IAM user whose policy allows sts:AssumeRole on ``role_arn`` only, as a boto3 session."""
    iam = boto3.client("iam", endpoint_url=moto_sts.url)
    iam.create_user(UserName="prefetcher")
    iam.put_user_policy(
        UserName="prefetcher",
        PolicyName="assume-one-role",
        PolicyDocument=(
            '{"Version": "2012-10-17", "Statement": '
            f'[{{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "{role_arn}"}}]}}'
        ),
    )
    key = iam.create_access_key(UserName="prefetcher")["AccessKey"]
    return boto3.session.Session(
        aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"], region_name="us-east-1"
    )


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter of this venv (the environment points it at moto)."""
    env = dict(os.environ)
    env.pop("AWS_LAMBDA_INITIALIZATION_TYPE", None)
    env.pop("POWERTOOLS_TRACE_MIDDLEWARES", None)
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True, text=True, timeout=60, check=False
    )


# -- fetch_data ----------------------------------------------------------------------------------------


def test_fetch_data_mapping_and_bare_string(moto_sts, sts_requests):
    handler = sts(
        fetch_data={
            "reports": ROLE,
            "audit": {"RoleArn": OTHER_ROLE, "RoleSessionName": "nightly-audit", "DurationSeconds": 900},
        },
        disable_prefetch=True,
    )(returns_credentials("reports", "audit"))

    reports, audit = invoke(handler)

    assert reports.assumed_role_arn.startswith("arn:aws:sts::111122223333:assumed-role/reports/")
    assert audit.assumed_role_arn == "arn:aws:sts::444455556666:assumed-role/audit/nightly-audit"
    assert moto_sts.assume_role_calls == 2
    by_role = {seen.params["RoleArn"]: seen.params for seen in sts_requests}
    assert by_role[OTHER_ROLE]["RoleSessionName"] == "nightly-audit"
    assert by_role[OTHER_ROLE]["DurationSeconds"] == "900"
    # A bare string carries only the RoleArn; the session name is the package's default.
    assert "DurationSeconds" not in by_role[ROLE]
    assert by_role[ROLE]["RoleSessionName"].startswith("powertools-sts-")
    # DurationSeconds reached STS: the audit credentials live 900 s, the others moto's default hour.
    assert (audit.expiration - reports.expiration).total_seconds() == pytest.approx(-2700, abs=30)


# -- boto3_session, boto3_client, boto_config ---------------------------------------------------------


def test_boto3_session_signs_the_assume_role(moto_sts, sts_requests):
    session = boto3.session.Session(
        aws_access_key_id="AKIASESSIONKEY000001",
        aws_secret_access_key="session-secret",
        region_name="us-east-1",
    )
    handler = sts(fetch_data={"r": ROLE}, boto3_session=session, disable_prefetch=True)(returns_credentials("r"))

    invoke(handler)

    assert [seen.access_key for seen in sts_requests] == ["AKIASESSIONKEY000001"]


def test_boto3_client_signs_and_wins_over_session(moto_sts, sts_requests):
    session = boto3.session.Session(
        aws_access_key_id="AKIASESSIONKEY000001",
        aws_secret_access_key="session-secret",
        region_name="us-east-1",
    )
    client = boto3.client(
        "sts",
        endpoint_url=moto_sts.url,
        region_name="us-east-1",
        aws_access_key_id="AKIACLIENTKEY0000001",
        aws_secret_access_key="client-secret",
    )
    handler = sts(fetch_data={"r": ROLE}, boto3_session=session, boto3_client=client, disable_prefetch=True)(
        returns_credentials("r")
    )

    invoke(handler)

    assert [seen.access_key for seen in sts_requests] == ["AKIACLIENTKEY0000001"]


def test_boto_config_is_merged_into_the_sts_client(moto_sts, sts_requests):
    config = Config(user_agent_extra="powertools-sts-test/boto-config")
    handler = sts(fetch_data={"r": ROLE}, boto_config=config, disable_prefetch=True)(returns_credentials("r"))

    invoke(handler)

    assert len(sts_requests) == 1
    assert "powertools-sts-test/boto-config" in sts_requests[0].user_agent


# -- aws_client_capture (the X-Ray side is tests/integration/test_xray.py) -----------------------------


def test_without_capture_aws_xray_sdk_is_never_imported(moto_sts):
    result = run_python(
        f"""
        import sys
        from powertools_sts import get_client, get_credentials, sts

        @sts(fetch_data={{"r": {ROLE!r}}})
        def handler(event, context):
            get_client("r", "sts")
            return get_credentials("r").access_key_id

        print(handler({{}}, None))
        loaded = sorted(name for name in sys.modules if name.startswith("aws_xray_sdk"))
        print("xray modules:", loaded)
        """
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0].startswith("ASIA")
    assert "xray modules: []" in result.stdout


def test_capture_without_aws_xray_sdk_names_the_tracer_extra(moto_sts):
    result = run_python(
        f"""
        import sys
        sys.modules["aws_xray_sdk"] = None  # as if the package were not installed
        sys.modules["aws_xray_sdk.core"] = None
        from powertools_sts import ConfigurationError, sts
        try:
            sts(fetch_data={{"r": {ROLE!r}}}, aws_client_capture=True)
        except ConfigurationError as exc:
            print("ConfigurationError:", exc)
        """
    )

    assert result.returncode == 0, result.stderr
    assert "ConfigurationError:" in result.stdout
    assert "powertools-sts[tracer]" in result.stdout


# -- aws_client_assume_role: role chaining ------------------------------------------------------------


def chained_handler(**outer: Any) -> Callable[..., Any]:
    """An outer layer with entry "hub"; an inner layer whose entry "spoke" is assumed with hub's credentials."""
    outer.setdefault("disable_prefetch", True)
    inner = sts(fetch_data={"spoke": SPOKE}, aws_client_assume_role="hub")(returns_credentials("hub", "spoke"))
    return sts(fetch_data={"hub": HUB}, **outer)(inner)


def spoke_signers(seen: list[Seen]) -> list[str]:
    return [request.access_key for request in seen if request.params["RoleArn"] == SPOKE]


def test_chained_entry_is_assumed_with_the_hub_credentials(moto_sts, sts_requests):
    handler = chained_handler()

    hub, spoke = invoke(handler)

    assert hub.assumed_role_arn.startswith("arn:aws:sts::111122223333:assumed-role/hub/")
    assert spoke.assumed_role_arn.startswith("arn:aws:sts::444455556666:assumed-role/spoke/")
    hub_requests = [request for request in sts_requests if request.params["RoleArn"] == HUB]
    assert [request.access_key for request in hub_requests] == ["testing"]  # the function's own credentials
    assert spoke_signers(sts_requests) == [hub.access_key_id]
    # A warm invocation reuses both.
    assert invoke(handler) == (hub, spoke)
    assert moto_sts.assume_role_calls == 2


def test_chained_fetch_after_a_hub_refresh_is_signed_with_the_new_hub_credentials(moto_sts, sts_requests, clock):
    handler = chained_handler()
    hub1, spoke1 = invoke(handler)

    clock.advance(PAST_REFRESH)
    hub2, spoke2 = invoke(handler)

    assert hub2.access_key_id != hub1.access_key_id
    assert spoke2.access_key_id != spoke1.access_key_id
    assert spoke_signers(sts_requests) == [hub1.access_key_id, hub2.access_key_id]


def test_chained_fetch_after_a_max_age_hub_refresh_uses_the_new_hub_credentials(moto_sts, sts_requests, clock):
    inner = sts(fetch_data={"spoke": {"RoleArn": SPOKE, "DurationSeconds": 900}}, aws_client_assume_role="hub")(
        returns_credentials("hub", "spoke")
    )
    handler = sts(fetch_data={"hub": HUB}, max_age=300, disable_prefetch=True)(inner)
    hub1, _ = invoke(handler)

    clock.advance(610)  # hub past its max_age, spoke (900 s) past its refresh window
    hub2, _ = invoke(handler)

    assert hub2.access_key_id != hub1.access_key_id
    assert spoke_signers(sts_requests) == [hub1.access_key_id, hub2.access_key_id]


def test_a_failed_hub_fetch_is_not_remembered(moto_sts, sts_requests):
    spoke_name = unique("spoke")
    inner = sts(fetch_data={spoke_name: SPOKE}, aws_client_assume_role="hub")(returns_credentials("hub", spoke_name))
    handler = sts(fetch_data={"hub": HUB}, disable_prefetch=True)(inner)
    moto_sts.enable_iam()  # the function's own dummy credentials are refused: hub cannot be had

    # Through the chained session itself (a worker thread of the handler reads the spoke entry) ...
    with pytest.raises(AssumeRoleError):
        get_credentials(spoke_name)
    # ... and through an invocation.
    with pytest.raises(AssumeRoleError) as failed:
        invoke(handler)
    assert failed.value.entry == "hub"

    iam_off(moto_sts)
    hub, spoke = invoke(handler)

    assert spoke.assumed_role_arn.startswith("arn:aws:sts::444455556666:assumed-role/spoke/")
    assert spoke_signers(sts_requests) == [hub.access_key_id]


def test_a_hub_no_outer_layer_defines_fails_the_first_invocation_naming_it(moto_sts):
    ran = []

    def body(event, context):
        ran.append(True)

    inner = sts(fetch_data={"spoke": SPOKE}, aws_client_assume_role="nowhere")(body)
    handler = sts(fetch_data={"hub": HUB}, disable_prefetch=True)(inner)  # applying is fine
    alone = sts(fetch_data={"spoke": SPOKE}, aws_client_assume_role="nowhere")(body)

    for candidate in (handler, alone):
        with pytest.raises(ConfigurationError, match="'nowhere'"):
            invoke(candidate)
    assert ran == []
    assert moto_sts.assume_role_calls == 1  # the outer layer's hub only; the spoke never reached STS


def test_a_hub_found_only_at_the_first_invocation_is_bound_then(moto_sts, sts_requests):
    # A plain (non-wraps) function between the layers hides the inner layer from the outer one at
    # apply time: the chain is resolved through the running layers at the first invocation.
    inner = sts(fetch_data={"spoke": SPOKE}, aws_client_assume_role="hub")(returns_credentials("hub", "spoke"))

    def plain(event, context):
        return inner(event, context)

    handler = sts(fetch_data={"hub": HUB}, disable_prefetch=True)(plain)

    hub, spoke = invoke(handler)
    assert "/spoke/" in spoke.assumed_role_arn

    assert spoke_signers(sts_requests) == [hub.access_key_id]


def test_a_hub_in_a_layer_further_out_signs(moto_sts, sts_requests):
    inner = sts(fetch_data={"spoke": SPOKE}, aws_client_assume_role="hub")(returns_credentials("hub", "spoke"))
    middle = sts(fetch_data={"other": OTHER_ROLE}, disable_prefetch=True)(inner)
    handler = sts(fetch_data={"hub": HUB}, disable_prefetch=True)(middle)

    hub, _ = invoke(handler)

    assert spoke_signers(sts_requests) == [hub.access_key_id]


def test_a_chained_layer_wrapped_by_two_outer_layers_is_refused_at_apply(moto_sts):
    # One chained layer holds one set of credentials per entry: shared by two hubs it would hand one
    # handler the credentials assumed for the other, so the second wrapping is refused.
    other_hub = "arn:aws:iam::777788889999:role/hub"
    inner = sts(fetch_data={"spoke": SPOKE}, aws_client_assume_role="hub")(returns_credentials("hub", "spoke"))
    sts(fetch_data={"hub": HUB}, disable_prefetch=True)(inner)
    with pytest.raises(ConfigurationError, match="two different outer entries named 'hub'"):
        sts(fetch_data={"hub": other_hub}, disable_prefetch=True)(inner)
    assert moto_sts.assume_role_calls == 0


def test_a_chained_function_called_from_two_handlers_never_mixes_their_hubs(moto_sts, sts_requests):
    # Not stacked but called: the chained layer binds to the hub around its first invocation and
    # refuses to run inside another one, rather than hand out credentials assumed through the first.
    other_hub = "arn:aws:iam::777788889999:role/hub"
    inner = sts(fetch_data={"spoke": SPOKE}, aws_client_assume_role="hub")(returns_credentials("hub", "spoke"))

    def calls_inner(event, context):
        return inner(event, context)

    first = sts(fetch_data={"hub": HUB}, disable_prefetch=True)(calls_inner)
    second = sts(fetch_data={"hub": other_hub}, disable_prefetch=True)(calls_inner)
    hub1, spoke1 = invoke(first)
    assert spoke_signers(sts_requests) == [hub1.access_key_id]
    with pytest.raises(ConfigurationError, match="two different outer entries named 'hub'"):
        invoke(second)
    assert invoke(first)[1] == spoke1


def test_a_layer_chained_to_its_own_entry_is_refused_at_apply(moto_sts):
    with pytest.raises(ConfigurationError, match="'hub'"):
        sts(fetch_data={"hub": HUB}, aws_client_assume_role="hub")


def test_chained_duration_over_one_hour_is_refused_at_apply(moto_sts):
    with pytest.raises(ConfigurationError) as refused:
        sts(fetch_data={"spoke": {"RoleArn": SPOKE, "DurationSeconds": 3601}}, aws_client_assume_role="hub")
    assert "'spoke'" in str(refused.value)
    assert "DurationSeconds" in str(refused.value)
    # One hour is allowed, and the same duration is fine on an unchained layer.
    sts(fetch_data={"spoke": {"RoleArn": SPOKE, "DurationSeconds": 3600}}, aws_client_assume_role="hub")
    sts(fetch_data={"spoke": {"RoleArn": SPOKE, "DurationSeconds": 3601}}, disable_prefetch=True)


def test_a_chained_layer_does_not_prefetch(moto_sts, sts_requests):
    handler = chained_handler(disable_prefetch=False)  # the hub layer prefetches, the chained one must not
    wait_for_calls(moto_sts, 1)
    drain_prefetches()

    assert [request.params["RoleArn"] for request in sts_requests] == [HUB]
    invoke(handler)
    assert [request.params["RoleArn"] for request in sts_requests] == [HUB, SPOKE]


# -- disable_prefetch and the prefetch ----------------------------------------------------------------


def test_the_prefetch_fetches_every_entry_when_applied_and_the_first_invocation_reuses_it(moto_sts):
    handler = sts(fetch_data={"a": ROLE, "b": OTHER_ROLE})(returns_credentials("a", "b"))
    wait_for_calls(moto_sts, 2)

    a, b = invoke(handler)

    assert moto_sts.assume_role_calls == 2
    assert a.assumed_role_arn.startswith("arn:aws:sts::111122223333:assumed-role/reports/")
    assert b.assumed_role_arn.startswith("arn:aws:sts::444455556666:assumed-role/audit/")


def test_disable_prefetch_makes_no_call_when_applied(moto_sts):
    handler = sts(fetch_data={"a": ROLE, "b": OTHER_ROLE}, disable_prefetch=True)(returns_credentials("a", "b"))
    drain_prefetches()
    assert moto_sts.assume_role_calls == 0

    invoke(handler)
    assert moto_sts.assume_role_calls == 2


def test_a_prefetch_failure_never_fails_the_import_and_only_failed_entries_are_fetched_again(
    moto_sts, sts_requests, caplog
):
    caplog.set_level(logging.WARNING, logger="powertools_sts")
    session = user_allowed_to_assume(moto_sts, ROLE)
    moto_sts.enable_iam()

    handler = sts(fetch_data={"good": ROLE, "bad": OTHER_ROLE}, boto3_session=session)(
        returns_credentials("good", "bad")
    )  # applying returns, whatever STS answers
    wait_for_calls(moto_sts, 2)
    drain_prefetches()
    warnings = [record.getMessage() for record in caplog.records if record.name == "powertools_sts"]
    assert any("'bad'" in message and "AccessDenied" in message for message in warnings), warnings

    iam_off(moto_sts)
    good, bad = invoke(handler)

    roles = [request.params["RoleArn"] for request in sts_requests]
    assert sorted(roles[:2]) == sorted([ROLE, OTHER_ROLE])
    assert roles[2:] == [OTHER_ROLE]
    assert moto_sts.assume_role_calls == 3
    assert good.assumed_role_arn.startswith("arn:aws:sts::111122223333:assumed-role/reports/")
    assert bad.assumed_role_arn.startswith("arn:aws:sts::444455556666:assumed-role/audit/")


def test_the_first_invocation_fetches_again_when_the_prefetch_it_waited_on_fails(moto_sts):
    # The prefetch's first request goes to a closed port on loopback (a real connection error); the
    # first invocation starts while it is in flight.
    dead_port = closed_port()
    release = threading.Event()
    attempts: list[str] = []

    def first_goes_nowhere(request: Any, **kwargs: Any) -> None:
        attempts.append(threading.current_thread().name)
        if len(attempts) == 1:
            assert release.wait(10)
            request.url = re.sub(r"//[^/]+", f"//127.0.0.1:{dead_port}", request.url, count=1)

    client = boto3.client(
        "sts", endpoint_url=moto_sts.url, config=Config(retries={"total_max_attempts": 1}, connect_timeout=2)
    )
    client.meta.events.register("before-send.sts.AssumeRole", first_goes_nowhere)
    handler = sts(fetch_data={"r": ROLE}, boto3_client=client)(returns_credentials("r"))
    deadline = time.monotonic() + 10
    while not attempts:  # the prefetch holds the entry's fetch, its request not yet sent
        assert time.monotonic() < deadline
        time.sleep(0.002)

    outcome: list[Any] = []
    invocation = threading.Thread(target=lambda: outcome.append(_outcome_of(handler)), name="invocation")
    invocation.start()
    wait_until_waiting_on_a_fetch(invocation)
    release.set()
    invocation.join(20)

    assert not invocation.is_alive()
    assert len(attempts) == 2, attempts  # the failed prefetch, then the invocation's own fetch
    assert not isinstance(outcome[0], BaseException), outcome[0]


def closed_port() -> int:
    """A loopback TCP port that nothing listens on (connections to it are refused)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _outcome_of(handler: Callable[..., Any]) -> Any:
    try:
        return invoke(handler)
    except BaseException as exc:  # reported to the test thread
        return exc


def wait_until_waiting_on_a_fetch(thread: threading.Thread, timeout: float = 10.0) -> None:
    """Poll ``thread``'s stack until it waits on the fetch in flight (not on a request of its own)."""
    deadline = time.monotonic() + timeout
    while True:
        frame = sys._current_frames().get(thread.ident or -1)
        names = []
        while frame is not None:
            names.append(frame.f_code.co_name)
            frame = frame.f_back
        # Blocked waiting (an Event or Condition), and not in a request of its own.
        if "wait" in names and "first_goes_nowhere" not in names:
            return
        assert time.monotonic() < deadline, f"the invocation never waited on the prefetch: {names}"
        time.sleep(0.002)


# -- cache_key -----------------------------------------------------------------------------------------


def test_different_cache_keys_with_the_same_parameters_fetch_separately(moto_sts):
    one = sts(fetch_data={"r": ROLE}, cache_key="one", disable_prefetch=True)(returns_credentials("r"))
    two = sts(fetch_data={"r": ROLE}, cache_key="two", disable_prefetch=True)(returns_credentials("r"))

    assert invoke(one) != invoke(two)
    assert moto_sts.assume_role_calls == 2


def test_the_same_cache_key_and_parameters_share_one_entry(moto_sts):
    one = sts(fetch_data={"r": ROLE}, cache_key="shared", disable_prefetch=True)(returns_credentials("r"))
    two = sts(fetch_data={"x": ROLE}, cache_key="shared", disable_prefetch=True)(returns_credentials("x"))

    assert invoke(one) == invoke(two)
    assert moto_sts.assume_role_calls == 1


def test_the_same_cache_key_and_parameters_prefetched_by_two_layers_is_one_call(moto_sts):
    sts(fetch_data={"r": ROLE}, cache_key="shared")(returns_credentials("r"))
    sts(fetch_data={"r": ROLE}, cache_key="shared")(returns_credentials("r"))
    wait_for_calls(moto_sts, 1)
    drain_prefetches()

    assert moto_sts.assume_role_calls == 1


def test_the_same_cache_key_with_different_parameters_never_hands_out_each_others_credentials(moto_sts):
    # @middy/sts's trap: one cacheKey and one entry name for two roles or two session names.
    plain = sts(fetch_data={"r": ROLE}, cache_key="shared", disable_prefetch=True)(returns_credentials("r"))
    named = sts(
        fetch_data={"r": {"RoleArn": ROLE, "RoleSessionName": "other-session"}},
        cache_key="shared",
        disable_prefetch=True,
    )(returns_credentials("r"))
    audit = sts(fetch_data={"r": OTHER_ROLE}, cache_key="shared", disable_prefetch=True)(returns_credentials("r"))

    for _ in range(2):
        assert "/reports/powertools-sts-" in invoke(plain).assumed_role_arn
        assert invoke(named).assumed_role_arn.endswith("/reports/other-session")
        assert "/audit/" in invoke(audit).assumed_role_arn
    assert moto_sts.assume_role_calls == 3


# -- max_age -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("max_age", [None, -1])
def test_max_age_none_or_minus_one_keeps_credentials_until_the_refresh_window(moto_sts, clock, max_age):
    handler = sts(fetch_data={"r": ROLE}, max_age=max_age, disable_prefetch=True)(returns_credentials("r"))
    first = invoke(handler)

    clock.advance(BEFORE_REFRESH)
    assert invoke(handler) is first
    assert moto_sts.assume_role_calls == 1

    clock.advance(PAST_REFRESH - BEFORE_REFRESH)
    assert invoke(handler) != first
    assert moto_sts.assume_role_calls == 2


def test_max_age_zero_fetches_once_per_invocation_and_never_prefetches(moto_sts):
    def body(event, context):
        first = get_credentials("r")
        return first, get_credentials("r")

    handler = sts(fetch_data={"r": ROLE}, max_age=0)(body)
    drain_prefetches()
    assert moto_sts.assume_role_calls == 0

    a1, a2 = invoke(handler)
    assert a1 is a2  # reused within the invocation
    assert moto_sts.assume_role_calls == 1
    b1, b2 = invoke(handler)
    assert b1 is b2
    assert b1 != a1  # never shared between invocations
    assert moto_sts.assume_role_calls == 2


def test_max_age_in_seconds(moto_sts, clock):
    handler = sts(fetch_data={"r": ROLE}, max_age=60, disable_prefetch=True)(returns_credentials("r"))
    first = invoke(handler)

    clock.advance(30)
    assert invoke(handler) is first
    clock.advance(31)
    second = invoke(handler)

    assert second != first
    assert moto_sts.assume_role_calls == 2


# -- set_to_context ------------------------------------------------------------------------------------


def test_set_to_context_sets_credentials_under_identifier_names(moto_sts):
    def body(event, context):
        return (context.my_role, context._1st_role, context.a_b_c), get_credentials("my-role")

    handler = sts(fetch_data={"my-role": ROLE, "1st role": OTHER_ROLE, "a.b/c": ROLE}, set_to_context=True)(body)

    (my_role, first, abc), expected = invoke(handler)

    assert my_role is expected
    assert "/audit/" in first.assumed_role_arn
    assert abc == my_role  # same parameters, same cache entry


def test_without_set_to_context_the_context_is_untouched(moto_sts):
    def body(event, context):
        return hasattr(context, "my_role")

    handler = sts(fetch_data={"my-role": ROLE}, disable_prefetch=True)(body)

    assert invoke(handler) is False


# -- refresh_margin ------------------------------------------------------------------------------------


def test_refresh_margin_moves_the_refresh_window(moto_sts, clock):
    narrow = sts(fetch_data={"r": ROLE}, disable_prefetch=True)(returns_credentials("r"))
    wide = sts(fetch_data={"r": ROLE}, refresh_margin=1200, disable_prefetch=True)(returns_credentials("r"))
    narrow_first, wide_first = invoke(narrow), invoke(wide)

    clock.advance(2000)  # 1600 s left: fresh for both
    assert (invoke(narrow), invoke(wide)) == (narrow_first, wide_first)
    clock.advance(410)  # 1190 s left: inside 1200 s (plus jitter), far from 300 s
    assert invoke(narrow) is narrow_first
    assert invoke(wide) != wide_first
    assert moto_sts.assume_role_calls == 3


def test_refresh_margin_is_capped_at_half_the_lifetime(moto_sts, clock):
    handler = sts(
        fetch_data={"r": {"RoleArn": ROLE, "DurationSeconds": 900}}, refresh_margin=600, disable_prefetch=True
    )(returns_credentials("r"))
    first = invoke(handler)

    clock.advance(400)  # 500 s left: inside the 600 s margin, but the margin is capped at 450 s
    assert invoke(handler) is first
    clock.advance(60)  # 440 s left
    assert invoke(handler) != first


# -- validation when applied ---------------------------------------------------------------------------

_BAD_OPTIONS = [
    pytest.param({"fetch_data": {}}, ["fetch_data"], id="empty-fetch_data"),
    pytest.param({"fetch_data": ROLE}, ["fetch_data"], id="fetch_data-not-a-mapping"),
    pytest.param({"fetch_data": {"": ROLE}}, ["entry names"], id="empty-entry-name"),
    pytest.param({"fetch_data": {"reports": 42}}, ["'reports'"], id="entry-not-a-mapping"),
    pytest.param(
        {"fetch_data": {"reports": {"RoleSessionName": "nightly"}}}, ["'reports'", "RoleArn"], id="no-RoleArn"
    ),
    pytest.param({"fetch_data": {"reports": "arn:aws:s3:::bucket"}}, ["'reports'", "RoleArn"], id="bad-RoleArn"),
    pytest.param(
        {"fetch_data": {"reports": {"RoleArn": ROLE, "DurationSeconds": 60}}},
        ["'reports'", "DurationSeconds"],
        id="short-DurationSeconds",
    ),
    pytest.param(
        {"fetch_data": {"reports": {"RoleArn": ROLE, "RoleSessionName": "x" * 65}}},
        ["'reports'", "RoleSessionName"],
        id="long-RoleSessionName",
    ),
    pytest.param(
        {"fetch_data": {"reports": {"RoleArn": ROLE, "TokenCode": "123456"}}},
        ["'reports'", "TokenCode"],
        id="MFA",
    ),
    pytest.param(
        {"fetch_data": {"reports": {"RoleArn": ROLE, "Roles": []}}}, ["'reports'", "'Roles'"], id="unknown-parameter"
    ),
    pytest.param({"cache_key": ""}, ["cache_key"], id="empty-cache_key"),
    pytest.param({"cache_key": 7}, ["cache_key"], id="cache_key-not-a-string"),
    pytest.param({"max_age": -5}, ["max_age"], id="negative-max_age"),
    pytest.param({"max_age": "60"}, ["max_age"], id="max_age-not-a-number"),
    pytest.param({"refresh_margin": -1}, ["refresh_margin"], id="negative-refresh_margin"),
    pytest.param({"refresh_margin": float("inf")}, ["refresh_margin"], id="infinite-refresh_margin"),
    pytest.param({"set_to_context": "yes"}, ["set_to_context"], id="set_to_context-not-a-bool"),
    pytest.param({"disable_prefetch": 1}, ["disable_prefetch"], id="disable_prefetch-not-a-bool"),
    pytest.param({"aws_client_capture": "true"}, ["aws_client_capture"], id="aws_client_capture-not-a-bool"),
    pytest.param({"trace_execution": "true"}, ["trace_execution"], id="trace_execution-not-a-bool"),
    pytest.param({"boto_config": {"read_timeout": 1}}, ["boto_config"], id="boto_config-not-a-Config"),
    pytest.param({"boto3_session": object()}, ["boto3_session"], id="boto3_session-not-a-session"),
    pytest.param({"boto3_client": object()}, ["boto3_client"], id="boto3_client-not-a-client"),
    pytest.param({"aws_client_assume_role": ""}, ["aws_client_assume_role"], id="empty-hub-name"),
    pytest.param({"aws_client_assume_role": 3}, ["aws_client_assume_role"], id="hub-name-not-a-string"),
]


@pytest.mark.parametrize(("options", "named"), _BAD_OPTIONS)
def test_invalid_options_are_a_configuration_error_when_applied(moto_sts, options, named):
    options = {"fetch_data": {"reports": ROLE}, **options}

    with pytest.raises(ConfigurationError) as refused:
        sts(**options)

    for fragment in named:
        assert fragment in str(refused.value)
    drain_prefetches()
    assert moto_sts.assume_role_calls == 0


def test_unknown_options_and_positional_arguments_are_a_type_error(moto_sts):
    with pytest.raises(TypeError):
        sts(fetch_data={"r": ROLE}, cache_expiry=60)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        sts({"r": ROLE})  # type: ignore[misc]


# -- each invocation -----------------------------------------------------------------------------------


def test_missing_entries_are_fetched_concurrently(moto_sts):
    # Each request waits at a barrier for the other: sequential fetches would break it.
    both_in_flight = threading.Barrier(2)
    threads: list[str] = []

    def meet(**kwargs: Any) -> None:
        threads.append(threading.current_thread().name)
        both_in_flight.wait(timeout=5)

    client = boto3.client("sts", endpoint_url=moto_sts.url)
    client.meta.events.register("before-send.sts.AssumeRole", meet)
    handler = sts(fetch_data={"a": ROLE, "b": OTHER_ROLE}, boto3_client=client, disable_prefetch=True)(
        returns_credentials("a", "b")
    )

    a, b = invoke(handler)

    assert "/reports/" in a.assumed_role_arn
    assert "/audit/" in b.assumed_role_arn
    assert len(threads) == 2
    assert threading.current_thread().name not in threads


def test_every_entry_is_usable_after_a_partial_expiry(moto_sts, clock, sts_requests):
    handler = sts(
        fetch_data={"short": {"RoleArn": ROLE, "DurationSeconds": 900}, "long": OTHER_ROLE}, disable_prefetch=True
    )(returns_credentials("short", "long"))
    short1, long1 = invoke(handler)

    clock.advance(610)  # the 900 s entry is past its refresh window, the hour-long one is not
    short2, long2 = invoke(handler)

    assert short2 != short1
    assert long2 is long1
    assert [request.params["RoleArn"] for request in sts_requests[2:]] == [ROLE]


def test_two_failed_entries_raise_one_error_naming_both_and_the_handler_does_not_run(moto_sts):
    ran = []

    def body(event, context):
        ran.append(True)

    handler = sts(fetch_data={"reports": ROLE, "audit": OTHER_ROLE}, disable_prefetch=True)(body)
    moto_sts.enable_iam()

    with pytest.raises(AssumeRoleError) as failed:
        invoke(handler)

    assert ran == []
    assert set(failed.value.failures) == {"reports", "audit"}
    assert "'reports'" in str(failed.value)
    assert "'audit'" in str(failed.value)
    assert {error.code for error in failed.value.failures.values()} == {"InvalidClientTokenId"}
    assert failed.value.failures["audit"].role_arn == OTHER_ROLE


def test_one_failed_entry_raises_its_own_error(moto_sts):
    handler = sts(fetch_data={"reports": ROLE}, disable_prefetch=True)(returns_credentials("reports"))
    moto_sts.enable_iam()

    with pytest.raises(AssumeRoleError) as failed:
        invoke(handler)

    assert failed.value.entry == "reports"
    assert failed.value.code == "InvalidClientTokenId"
    assert failed.value.role_arn == ROLE


@lambda_handler_decorator
def adds_extra(handler, event, context):
    return handler(event, context, extra=1)


def test_extra_keyword_arguments_reach_the_handler(moto_sts):
    def body(event, context, extra=None, other=None):
        return extra, other, get_credentials("r").access_key_id

    outside = adds_extra(sts(fetch_data={"r": ROLE}, disable_prefetch=True)(body))
    inside = sts(fetch_data={"r": ROLE}, disable_prefetch=True)(adds_extra(body))

    assert invoke(outside)[:2] == (1, None)
    assert invoke(inside)[:2] == (1, None)
    assert invoke(sts(fetch_data={"r": ROLE}, disable_prefetch=True)(body), other=2)[:2] == (None, 2)


# -- stacking with Powertools --------------------------------------------------------------------------

logger = Logger(service="powertools-sts-tests")
tracer = Tracer(service="powertools-sts-tests")  # disabled outside Lambda, as in any local run


def _powertools_body(event, context):
    return logger.get_current_keys().get("function_request_id"), get_credentials("r"), get_client("r", "sts")


@pytest.mark.parametrize(
    "build",
    [
        pytest.param(
            lambda layer: logger.inject_lambda_context(tracer.capture_lambda_handler(layer(_powertools_body))),
            id="logger-tracer-sts",
        ),
        pytest.param(
            lambda layer: layer(logger.inject_lambda_context(tracer.capture_lambda_handler(_powertools_body))),
            id="sts-logger-tracer",
        ),
        pytest.param(
            lambda layer: tracer.capture_lambda_handler(layer(logger.inject_lambda_context(_powertools_body))),
            id="tracer-sts-logger",
        ),
    ],
)
def test_stacks_with_the_powertools_logger_and_tracer_in_either_order(moto_sts, build):
    handler = build(sts(fetch_data={"r": ROLE}, disable_prefetch=True))

    request_id, creds, client = invoke(handler, request_id="req-42")
    again = invoke(handler, request_id="req-43")

    assert request_id == "req-42"
    assert again[0] == "req-43"
    assert again[1] is creds
    assert again[2] is client
    assert "/reports/" in client.get_caller_identity()["Arn"]
    assert moto_sts.assume_role_calls == 1


# -- get_credentials, get_session, get_client ----------------------------------------------------------


def test_names_are_scoped_to_the_layers_of_the_running_invocation(moto_sts):
    def body(event, context):
        return get_credentials("role"), get_client("role", "sts").get_caller_identity()["Arn"]

    reports = sts(fetch_data={"role": ROLE}, disable_prefetch=True)(body)
    audit = sts(fetch_data={"role": OTHER_ROLE}, disable_prefetch=True)(body)

    for _ in range(2):
        reports_creds, reports_caller = invoke(reports)
        audit_creds, audit_caller = invoke(audit)
        assert "/reports/" in reports_creds.assumed_role_arn
        assert "/reports/" in reports_caller
        assert "/audit/" in audit_creds.assumed_role_arn
        assert "/audit/" in audit_caller


def test_an_inner_layer_entry_shadows_an_outer_one_of_the_same_name(moto_sts):
    inner = sts(fetch_data={"role": OTHER_ROLE}, disable_prefetch=True)(returns_credentials("role", "outer-only"))
    handler = sts(fetch_data={"role": ROLE, "outer-only": ROLE}, disable_prefetch=True)(inner)

    role, outer_only = invoke(handler)

    assert "/audit/" in role.assumed_role_arn
    assert "/reports/" in outer_only.assumed_role_arn


def test_inside_an_invocation_a_name_resolves_only_in_the_layers_around_it(moto_sts):
    # A name the layers around the invocation do not define is an error, even when exactly one other
    # handler's entry bears it: handler A never gets handler B's credentials.
    theirs = unique("theirs")
    other = sts(fetch_data={theirs: OTHER_ROLE}, disable_prefetch=True)(returns_credentials(theirs))
    mine = sts(fetch_data={"mine": ROLE}, disable_prefetch=True)(returns_credentials(theirs))
    with pytest.raises(ConfigurationError) as raised:
        invoke(mine)
    message = str(raised.value)
    assert f"no entry named {theirs!r} in the sts layers around this invocation of handler" in message
    assert "returns_credentials.<locals>.handler" in message
    assert "names in scope: ['mine']" in message
    assert moto_sts.assume_role_calls == 1  # the handler's own entry, prepared before it ran
    assert invoke(other).assumed_role_arn.startswith("arn:aws:sts::444455556666:assumed-role/")


def test_a_typo_says_where_the_call_is_and_suggests_the_close_name(moto_sts):
    def body(event: Any, context: Any) -> Any:
        return get_client("report", "s3")

    handler = sts(fetch_data={"reports": ROLE, "audit": OTHER_ROLE}, disable_prefetch=True)(body)
    # Another layer in the process: the layers link themselves into the invocation's context.
    other = sts(fetch_data={unique("other"): ROLE}, disable_prefetch=True)(body)
    with pytest.raises(ConfigurationError) as raised:
        invoke(handler)
    message = str(raised.value)
    assert (
        "handler tests.unit.test_middleware.test_a_typo_says_where_the_call_is_and_suggests_the_close_name" in message
    )
    assert "names in scope: ['reports', 'audit']; did you mean 'reports'?" in message
    with pytest.raises(ConfigurationError, match=r"outside any sts-decorated invocation.*did you mean 'reports'"):
        get_credentials("reportz")
    del other


def test_a_layer_alone_in_its_process_keeps_its_names_when_a_second_one_comes_during_its_invocation(moto_sts):
    # Found attacking issue 19: a layer that skipped the ContextVar while alone in its process answered
    # the "outside an invocation" way once a second layer came mid-invocation, and handed the handler
    # the other layer's entry. Every layer links itself into the invocation's context.
    result = run_python(
        f"""
        import threading
        from powertools_sts import get_credentials, sts
        from powertools_sts.exceptions import ConfigurationError

        def body(event, context):
            found = {{}}
            event["make"]()  # a second layer with "r" and "q", in this thread or another
            found["r"] = get_credentials("r").assumed_role_arn
            try:
                get_credentials("q")
            except ConfigurationError as error:
                found["q"] = "refused"
            return found

        one = sts(fetch_data={{"r": {ROLE!r}}}, disable_prefetch=True)(body)
        kept = []
        def second():
            kept.append(sts(fetch_data={{"r": {OTHER_ROLE!r}, "q": {OTHER_ROLE!r}}}, disable_prefetch=True)(body))
        def in_a_thread():
            thread = threading.Thread(target=second); thread.start(); thread.join()
        for make in (second, in_a_thread):
            found = one({{"make": make}}, None)
            assert found["r"].startswith("arn:aws:sts::111122223333:assumed-role/"), found
            assert found["q"] == "refused", found
        print("ok")
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_a_module_imported_during_an_invocation_does_not_change_what_a_name_means(moto_sts):
    name = unique("reports")
    seen: list[Any] = []

    def body(event: Any, context: Any) -> Any:
        seen.append(get_credentials(name))
        # A module imported lazily here defines another entry with this handler's name.
        later = sts(fetch_data={name: OTHER_ROLE}, disable_prefetch=True)(returns_credentials(name))
        seen.append(get_credentials(name))
        return later

    handler = sts(fetch_data={name: ROLE}, disable_prefetch=True)(body)
    later = invoke(handler)
    assert seen[0] is seen[1]
    assert ":111122223333:" in seen[1].assumed_role_arn
    assert ":444455556666:" in invoke(later).assumed_role_arn


def test_two_handlers_with_one_name_each_get_their_own_entry(moto_sts):
    name = unique("role")
    first = sts(fetch_data={name: ROLE}, disable_prefetch=True)(returns_credentials(name))
    second = sts(fetch_data={name: OTHER_ROLE}, disable_prefetch=True)(returns_credentials(name))
    assert ":111122223333:" in invoke(first).assumed_role_arn
    assert ":444455556666:" in invoke(second).assumed_role_arn


def test_a_chained_layer_never_binds_to_one_of_several_hubs(moto_sts):
    hub = unique("hub")
    sts(fetch_data={hub: HUB}, disable_prefetch=True)(returns_credentials(hub))  # another handler's entries
    sts(fetch_data={hub: "arn:aws:iam::777788889999:role/hub"}, disable_prefetch=True)(returns_credentials(hub))
    lone = sts(fetch_data={"spoke": SPOKE}, aws_client_assume_role=hub)(returns_credentials("spoke"))

    with pytest.raises(ConfigurationError, match=hub):
        invoke(lone)
    assert moto_sts.assume_role_calls == 0


def test_a_hub_name_outside_the_layers_around_resolves_to_the_one_entry_that_bears_it(moto_sts, sts_requests):
    # Issue 18, item 14: the documented fallback, "else to the one entry in the process that bears it".
    hub = unique("hub")
    hub_handler = sts(fetch_data={hub: HUB}, disable_prefetch=True)(returns_credentials(hub))
    lone = sts(fetch_data={"spoke": SPOKE}, aws_client_assume_role=hub)(returns_credentials("spoke"))

    spoke = invoke(lone)  # not inside the hub's layer: the only entry named so in the process signs

    assert spoke.assumed_role_arn.startswith("arn:aws:sts::444455556666:assumed-role/spoke/")
    assert len([request for request in sts_requests if request.params["RoleArn"] == HUB]) == 1
    assert spoke_signers(sts_requests) == [invoke(hub_handler).access_key_id]
    assert moto_sts.assume_role_calls == 2


def test_a_name_resolves_in_a_thread_that_runs_in_a_copy_of_the_invocations_context(moto_sts):
    # Issue 19, item 2: names by context. Two handlers bear the name, so outside an invocation it is
    # ambiguous; a thread running in a copy of the invocation's context (as the Durable Execution SDK's
    # map and parallel branches do) resolves it to its own invocation's entry.
    name = unique()
    other = sts(fetch_data={name: OTHER_ROLE}, disable_prefetch=True)(returns_credentials(name))

    def body(event, context):
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            copied = pool.submit(contextvars.copy_context().run, get_credentials, name).result()
            bare = pool.submit(get_credentials, name)
            with pytest.raises(ConfigurationError, match="2 different sts entries"):
                bare.result()
        return copied

    handler = sts(fetch_data={name: ROLE}, disable_prefetch=True)(body)
    assert invoke(handler).assumed_role_arn.startswith("arn:aws:sts::111122223333:assumed-role/reports/")
    assert invoke(other).assumed_role_arn.startswith("arn:aws:sts::444455556666:assumed-role/audit/")


def test_get_session_without_a_region_takes_the_region_of_the_session_given_to_sts(moto_sts, monkeypatch):
    # Issue 18, item 15: it took the process's region; aws-assume-role-lib follows the parent session.
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    name = unique()

    @sts(fetch_data={name: ROLE}, boto3_session=boto3.session.Session(region_name="eu-west-2"), disable_prefetch=True)
    def handler(event, context):
        asked = get_session(name, region_name="ap-southeast-2").region_name
        return get_session(name).region_name, get_client(name, "s3").meta.region_name, asked

    assert invoke(handler) == ("eu-west-2", "eu-west-2", "ap-southeast-2")
    other = unique()
    plain = sts(fetch_data={other: ROLE}, disable_prefetch=True)(lambda event, context: get_session(other).region_name)
    assert invoke(plain) == "us-east-1"  # no session given: botocore's own resolution


def test_outside_an_invocation_a_name_one_entry_bears_resolves(moto_sts):
    name = unique()

    def body(event, context):
        found: dict[str, Any] = {}
        worker = threading.Thread(target=lambda: found.update(creds=get_credentials(name)))
        worker.start()
        worker.join(10)
        return found["creds"], get_credentials(name)

    handler = sts(fetch_data={name: ROLE}, disable_prefetch=True)(body)
    # Another layer with the same configuration (cache_key and parameters) is the same entry.
    sts(fetch_data={name: ROLE}, disable_prefetch=True)(body)

    before = get_credentials(name)  # at import time, before any invocation
    from_worker, inside = invoke(handler)

    assert from_worker is inside
    assert inside == before
    assert moto_sts.assume_role_calls == 1


def test_outside_an_invocation_an_ambiguous_or_unknown_name_says_how_to_pass_credentials(moto_sts):
    name = unique()
    sts(fetch_data={name: ROLE}, disable_prefetch=True)(returns_credentials(name))
    sts(fetch_data={name: OTHER_ROLE}, disable_prefetch=True)(returns_credentials(name))

    for call in (
        lambda: get_credentials(name),
        lambda: get_session(name),
        lambda: get_client(name, "s3"),
        lambda: get_credentials(unique("unknown")),
    ):
        with pytest.raises(ConfigurationError) as refused:
            call()
        assert "explicitly" in str(refused.value)
        assert "as_boto3_kwargs" in str(refused.value)
    assert moto_sts.assume_role_calls == 0


def test_get_session_is_cached_per_entry_and_region_and_its_credentials_refresh(moto_sts, clock):
    def body(event, context):
        return get_session("r"), get_session("r", region_name="eu-west-1"), get_credentials("r")

    handler = sts(fetch_data={"r": ROLE}, disable_prefetch=True)(body)
    default, west, creds = invoke(handler)

    again = invoke(handler)
    assert again[0] is default
    assert again[1] is west
    assert default is not west
    assert west.region_name == "eu-west-1"
    frozen = default.get_credentials().get_frozen_credentials()
    assert frozen.access_key == creds.access_key_id
    assert frozen.secret_key == creds.secret_access_key
    assert frozen.token == creds.session_token

    clock.advance(PAST_REFRESH)  # a long invocation, or a warm container, past the refresh window
    refreshed = default.get_credentials().get_frozen_credentials()

    assert refreshed.access_key != creds.access_key_id
    assert moto_sts.assume_role_calls == 2
    assert invoke(handler)[2].access_key_id == refreshed.access_key


def test_get_client_is_the_same_object_on_every_warm_invocation(moto_sts):
    def body(event, context):
        return (
            get_client("r", "sts"),
            get_client("r", "sts", region_name="eu-west-1", endpoint_url=moto_sts.url),
            get_client("r", "sts", endpoint_url=moto_sts.url, region_name="eu-west-1"),
            get_client("r", "s3"),
        )

    handler = sts(fetch_data={"r": ROLE}, disable_prefetch=True)(body)
    first = invoke(handler)
    second = invoke(handler)

    assert first == second
    assert all(a is b for a, b in zip(first, second))
    plain, west, west_reordered, s3 = first
    assert west is west_reordered
    assert plain is not west
    assert west.meta.region_name == "eu-west-1"
    assert s3.meta.service_model.service_name == "s3"
    assert "assumed-role/reports/" in plain.get_caller_identity()["Arn"]
    assert "assumed-role/reports/" in west.get_caller_identity()["Arn"]
    assert moto_sts.assume_role_calls == 1


# -- SnapStart -----------------------------------------------------------------------------------------


def test_snap_start_skips_the_prefetch_and_a_restore_fetches_anew(moto_sts, monkeypatch):
    monkeypatch.setenv("AWS_LAMBDA_INITIALIZATION_TYPE", "snap-start")
    # A Config of its own gives the layer a provider of its own, made while SnapStart is on (in Lambda
    # the variable is there from the start of the process).
    handler = sts(fetch_data={"r": ROLE}, boto_config=Config())(returns_credentials("r"))
    drain_prefetches()
    assert moto_sts.assume_role_calls == 0
    hooks = [func for func, _args, _kwargs in snapshot_restore_py._after_restore_registry]
    assert powertools_sts.clear_caches in hooks

    first = invoke(handler)
    assert invoke(handler) is first
    run_after_restore()  # what the Lambda runtime (awslambdaric) calls after restoring the snapshot
    after = invoke(handler)

    assert after != first
    assert moto_sts.assume_role_calls == 2


def test_snap_start_with_disable_prefetch_never_serves_credentials_fetched_before_the_snapshot(moto_sts):
    result = run_python(
        f"""
        import os
        os.environ["AWS_LAMBDA_INITIALIZATION_TYPE"] = "snap-start"
        from awslambdaric.lambda_runtime_hooks_runner import run_after_restore
        from powertools_sts import get_credentials, sts

        @sts(fetch_data={{"r": {ROLE!r}}}, disable_prefetch=True)
        def handler(event, context):
            return get_credentials("r")

        primed = get_credentials("r")  # priming at INIT, before the snapshot
        run_after_restore()
        print(primed.access_key_id != handler({{}}, None).access_key_id)
        """
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True"


def test_snap_start_a_client_primed_before_the_snapshot_signs_with_new_credentials_after_a_restore(moto_sts):
    result = run_python(
        f"""
        import os
        os.environ["AWS_LAMBDA_INITIALIZATION_TYPE"] = "snap-start"
        from awslambdaric.lambda_runtime_hooks_runner import run_after_restore
        from powertools_sts import get_client, get_credentials, sts

        @sts(fetch_data={{"r": {ROLE!r}}})
        def handler(event, context):
            client.get_caller_identity()
            return get_credentials("r").access_key_id

        client = get_client("r", "sts")  # priming at INIT, before the snapshot
        client.get_caller_identity()
        signer = client._request_signer._credentials
        primed = signer.get_frozen_credentials().access_key
        run_after_restore()
        current = handler({{}}, None)
        print(primed != current, signer.get_frozen_credentials().access_key == current)
        """
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True True"


# -- logging -------------------------------------------------------------------------------------------


def test_logs_never_hold_a_secret(moto_sts, clock, caplog):
    caplog.set_level(logging.DEBUG, logger="powertools_sts")
    moto_sts.enable_iam()
    handler = sts(fetch_data={"a": ROLE, "b": OTHER_ROLE})(returns_credentials("a", "b"))
    wait_for_calls(moto_sts, 2)
    drain_prefetches()  # both prefetches failed: warnings
    with pytest.raises(AssumeRoleError):
        invoke(handler)
    iam_off(moto_sts)
    first = invoke(handler)  # fetched: debug records
    clock.advance(PAST_REFRESH)
    moto_sts.enable_iam()
    stale = invoke(handler)  # the refresh fails, the cached ones serve: warnings
    iam_off(moto_sts)
    clock.advance(6)  # past the back-off after the failed refresh
    fresh = invoke(handler)

    assert stale == first
    assert fresh != first
    secrets = {value for creds in (*first, *fresh) for value in (creds.secret_access_key, creds.session_token)}
    records = [record for record in caplog.records if record.name.startswith("powertools_sts")]
    levels = {record.levelno for record in records}
    assert {logging.DEBUG, logging.WARNING} <= levels
    formatter = logging.Formatter("%(message)s %(exc_info)s")
    for record in records:
        text = formatter.format(record) + repr(record.args)
        for secret in secrets:
            assert secret not in text, record.getMessage()


@pytest.mark.parametrize("option", ["boto3_session", "boto3_client"])
def test_a_chained_layer_refuses_its_own_session_or_client(moto_sts, option):
    import boto3

    value = boto3.session.Session() if option == "boto3_session" else boto3.client("sts")
    with pytest.raises(ConfigurationError, match="aws_client_assume_role"):
        sts(fetch_data={"spoke": SPOKE}, aws_client_assume_role="hub", **{option: value})
    assert moto_sts.assume_role_calls == 0


# -- issue 10: set_to_context never breaks the Lambda context ---------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        *("aws_request_id", "get_remaining_time_in_millis", "function-name", "tenant_id", "_aws_request_id", "log"),
        # Found attacking: these passed at import, then every invocation failed (or set a dunder silently).
        *("__class__", "__dict__", "__weakref__", "__doc__", "__init__", "__repr__", "__eq__", "__custom__"),
    ],
)
def test_set_to_context_refuses_a_name_that_shadows_a_context_attribute(moto_sts, name):
    with pytest.raises(ConfigurationError, match=rf"entry {name!r} would replace context\."):
        sts(fetch_data={name: ROLE}, set_to_context=True)
    assert moto_sts.assume_role_calls == 0


def test_set_to_context_refuses_names_that_map_to_one_attribute(moto_sts):
    with pytest.raises(ConfigurationError, match=r"entries 'a-b' and 'a_b' both map to context\.a_b"):
        sts(fetch_data={"a-b": ROLE, "a_b": OTHER_ROLE}, set_to_context=True)
    assert moto_sts.assume_role_calls == 0
    sts(fetch_data={"a-b": ROLE, "a_b": OTHER_ROLE}, disable_prefetch=True)  # fine without set_to_context


class SlotsContext:
    __slots__ = ("aws_request_id",)


@pytest.mark.parametrize("context", [None, {"aws_request_id": "r"}, SlotsContext()], ids=["none", "dict", "slots"])
def test_a_context_that_cannot_take_attributes_is_a_configuration_error(moto_sts, context):
    handler = sts(fetch_data={"reports": ROLE}, set_to_context=True, disable_prefetch=True)(returns_credentials())
    with pytest.raises(ConfigurationError, match=rf"the Lambda context, a {type(context).__name__}, cannot take"):
        handler({}, context)


def test_under_the_runtime_context_set_to_context_leaves_its_attributes_alone(moto_sts):
    def body(event, context):
        return context.aws_request_id, context.get_remaining_time_in_millis() > 0, context.reports

    handler = sts(fetch_data={"reports": ROLE}, set_to_context=True, disable_prefetch=True)(body)
    request_id, has_time, creds = invoke(handler, request_id="req-42")
    assert (request_id, has_time) == ("req-42", True)
    assert creds.access_key_id.startswith("ASIA")


# -- issue 10: every chaining mistake is a ConfigurationError naming the entries -----------------------------


def test_a_chaining_cycle_is_refused_when_applied(moto_sts):
    # The outer layer is chained to "b"; the inner layer defines "b", chained to the outer's "a".
    inner = sts(fetch_data={"b": SPOKE}, aws_client_assume_role="a")(returns_credentials("b"))
    with pytest.raises(ConfigurationError, match=r"a chaining cycle: entries \['a'\] are signed by 'b'"):
        sts(fetch_data={"a": HUB}, aws_client_assume_role="b")(inner)
    assert moto_sts.assume_role_calls == 0


def test_a_hub_defined_only_inside_the_chained_layer_is_refused_when_applied(moto_sts):
    inner = sts(fetch_data={"hub": HUB}, disable_prefetch=True)(returns_credentials("hub"))
    with pytest.raises(ConfigurationError, match=r"'hub' is defined by an sts layer inside this one"):
        sts(fetch_data={"spoke": SPOKE}, aws_client_assume_role="hub")(inner)


def test_a_chain_of_chains_binds_in_order_whatever_ran_before(moto_sts, sts_requests):
    # hub -> middle (chained to hub) -> leaf (chained to middle): the leaf's hub is itself chained.
    leaf = sts(fetch_data={"leaf": OTHER_ROLE}, aws_client_assume_role="middle")(returns_credentials("middle", "leaf"))
    middle = sts(fetch_data={"middle": SPOKE}, aws_client_assume_role="hub")(leaf)
    handler = sts(fetch_data={"hub": HUB}, disable_prefetch=True)(middle)
    middle_creds, leaf_creds = invoke(handler)
    assert "/audit/" in leaf_creds.assumed_role_arn
    signers = {request.params["RoleArn"]: request.access_key for request in sts_requests}
    assert signers[OTHER_ROLE] == middle_creds.access_key_id


def test_a_chained_entry_outside_any_hub_is_a_configuration_error_not_an_assertion(moto_sts):
    leaf = sts(fetch_data={"leaf": OTHER_ROLE}, aws_client_assume_role="middle")(returns_credentials("leaf"))
    # No layer defines "hub-nowhere" (the fallback would find a unique entry of that name in the process).
    middle = sts(fetch_data={"middle": SPOKE}, aws_client_assume_role="hub-nowhere")(leaf)
    with pytest.raises(ConfigurationError, match=r"aws_client_assume_role='hub-nowhere' \(entries \['middle'\]\)"):
        invoke(middle)
    assert moto_sts.assume_role_calls == 0


# -- per-tenant entries beside role chaining ---------------------------------------------------------------


def tagged(role: str) -> Callable[[str], dict[str, Any]]:
    return lambda tenant: {"RoleArn": role, "Tags": [{"Key": "TenantID", "Value": tenant}]}


def test_a_chained_layer_may_have_per_tenant_entries_signed_by_a_static_hub(moto_sts):
    hub, data = unique("hub"), unique("data")

    @sts(fetch_data={hub: ROLE}, disable_prefetch=True)
    @sts(fetch_data={data: tagged(OTHER_ROLE)}, aws_client_assume_role=hub)
    def handler(event: Any, context: Any) -> Any:
        return get_credentials(data), get_credentials(hub)

    acme, hub_creds = handler({}, SimpleNamespace(tenant_id="acme"))
    beta, same_hub = handler({}, SimpleNamespace(tenant_id="beta"))
    assert acme.assumed_role_arn.startswith("arn:aws:sts::444455556666:assumed-role/audit/")
    assert acme.access_key_id != beta.access_key_id
    assert hub_creds is same_hub
    assert moto_sts.assume_role_calls == 3  # the hub once, then each tenant once


def test_a_per_tenant_entry_cannot_sign_a_chained_layer():
    hub = unique("hub")
    inner = sts(fetch_data={unique("x"): ROLE}, aws_client_assume_role=hub)(lambda event, context: None)
    with pytest.raises(ConfigurationError, match=rf"aws_client_assume_role='{hub}' names a per-tenant entry"):
        sts(fetch_data={hub: tagged(ROLE)})(inner)


def test_a_session_of_one_tenant_kept_and_read_inside_another_tenants_invocation_hands_out_nothing(moto_sts):
    # Found attacking issue 20: the signer was guarded, a raw read of the session's credentials was not.
    name, kept = unique("data"), {}

    @sts(fetch_data={name: tagged(ROLE)})
    def handler(event: Any, context: Any) -> Any:
        if "session" not in kept:
            kept["session"] = get_session(name)
        return kept["session"].get_credentials().get_frozen_credentials().access_key

    assert handler({}, SimpleNamespace(tenant_id="acme")).startswith("ASIA")
    with pytest.raises(TenantError, match="for tenant 'acme' was used inside an invocation of tenant 'beta'"):
        handler({}, SimpleNamespace(tenant_id="beta"))


def test_concurrent_first_invocations_of_one_tenant_call_its_parameters_once(moto_sts):
    name, calls, gate = unique("data"), [], threading.Barrier(8)

    def slow(tenant: str) -> dict[str, Any]:
        calls.append(tenant)
        time.sleep(0.2)
        return tagged(ROLE)(tenant)

    handler = sts(fetch_data={name: slow})(lambda event, context: get_credentials(name))

    def invoke_once() -> None:
        gate.wait()
        handler({}, SimpleNamespace(tenant_id="acme"))

    threads = [threading.Thread(target=invoke_once) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert calls == ["acme"]
    assert moto_sts.assume_role_calls == 1


@pytest.mark.parametrize(
    ("options", "says"),
    [
        ({"tenant": lambda event: "acme"}, "tenant must be a callable (event, context)"),
        ({"fetch_data": {"x": lambda: {}}}, "per-tenant entry 'x' must take one argument"),
    ],
)
def test_callables_that_cannot_take_their_arguments_are_refused_when_applied(options, says):
    options = {"fetch_data": {"x": tagged(ROLE)}, **options}
    with pytest.raises(ConfigurationError, match=re.escape(says)):
        sts(**options)
