"""powertools_sts.testing: the ``sts_stub`` and ``lambda_context`` fixtures of the package's pytest plugin.

The plugin is loaded in this very run (the ``pytest11`` entry point), so most tests use its fixtures
directly; the ones about a whole pytest run (import order, a second test's clean state, a test that
does not use the fixture, the sockets opened) run an inner pytest with ``pytester``.
"""

from __future__ import annotations

import json
import socket
import threading
from datetime import datetime, timedelta, timezone
from typing import Any

import boto3
import pytest
from aws_lambda_powertools import Logger

import powertools_sts
import powertools_sts.testing as plugin
from powertools_sts import AssumeRoleError, assume_role, get_client, get_credentials, sts
from powertools_sts.testing import AssumeRoleCall, FakeLambdaContext, STSStub

from ..conftest import OTHER_ROLE, ROLE

pytest_plugins = ["pytester"]

# The plugin's own fixtures, as module fixtures: a run that blocks the entry point (-p no:powertools_sts,
# so that coverage, which starts after entry points load, sees the package imported) still has them.
sts_stub = plugin.sts_stub
lambda_context = plugin.lambda_context

TAGS = [{"Key": "team", "Value": "orders"}, {"Key": "cost-center", "Value": "42"}]
POLICY = json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}
)


def test_serves_well_formed_deterministic_credentials(sts_stub, clock):
    creds = assume_role(ROLE, RoleSessionName="unit", DurationSeconds=900)

    assert creds.access_key_id == sts_stub.access_key_id_for(ROLE)
    assert creds.access_key_id.startswith("ASIA")
    assert len(creds.access_key_id) == 20
    assert len(creds.secret_access_key) == 40
    assert creds.session_token
    assert creds.expiration == datetime.fromtimestamp(int(clock.time), timezone.utc) + timedelta(seconds=900)
    assert creds.assumed_role_arn == "arn:aws:sts::111122223333:assumed-role/reports/unit"
    assert sts_stub.access_key_id_for(OTHER_ROLE) != creds.access_key_id
    assert STSStub().access_key_id_for(ROLE) == creds.access_key_id  # the same in every test


def test_expiration_is_an_hour_ahead_by_default_and_configurable(sts_stub, clock):
    first = assume_role(ROLE)
    sts_stub.lifetime = timedelta(minutes=20)
    second = assume_role(OTHER_ROLE, DurationSeconds=7200)  # lifetime wins over DurationSeconds

    now = datetime.fromtimestamp(int(clock.time), timezone.utc)
    assert first.expiration == now + timedelta(hours=1)
    assert second.expiration == now + timedelta(minutes=20)


def test_records_every_call_with_its_parameters(sts_stub):
    assume_role(
        ROLE,
        RoleSessionName="orders-1",
        ExternalId="x-1234",
        DurationSeconds=900,
        Tags=TAGS,
        TransitiveTagKeys=["team"],
        Policy=POLICY,
        PolicyArns=[{"arn": "arn:aws:iam::aws:policy/ReadOnlyAccess"}],
        SourceIdentity="alice",
    )
    assume_role(OTHER_ROLE, RoleSessionName="orders-2")

    assert sts_stub.role_arns == [ROLE, OTHER_ROLE]
    call = sts_stub.calls[0]
    assert call.role_session_name == "orders-1"
    assert call.external_id == "x-1234"
    assert call.duration_seconds == 900
    assert call.tags == {"team": "orders", "cost-center": "42"}
    assert call.policy == POLICY
    assert call.params["PolicyArns"] == [{"arn": "arn:aws:iam::aws:policy/ReadOnlyAccess"}]
    assert call.params["TransitiveTagKeys"] == ["team"]
    assert call.params["SourceIdentity"] == "alice"
    assert call.access_key_id == sts_stub.access_key_id_for(ROLE)
    assert call.error_code is None
    assert call.signed_with == "testing"  # the fixture's dummy key, never yours
    other = sts_stub.calls_for(OTHER_ROLE)[0]
    assert (other.external_id, other.duration_seconds, other.policy, other.tags) == (None, None, None, {})


def test_the_package_cache_runs_for_real(sts_stub):
    provider = powertools_sts.STSProvider()
    first = provider.get(ROLE, RoleSessionName="cached")
    again = provider.get(ROLE, RoleSessionName="cached")
    forced = provider.get(ROLE, RoleSessionName="cached", force_fetch=True)

    assert first is again
    assert forced == first  # deterministic: the same fake credentials, fetched again
    assert len(sts_stub.calls) == 2


def test_access_denied_is_the_package_assume_role_error(sts_stub):
    sts_stub.fail(ROLE, code="AccessDenied")

    with pytest.raises(AssumeRoleError) as raised:
        assume_role(ROLE)
    assert raised.value.code == "AccessDenied"
    assert raised.value.role_arn == ROLE
    assert f"not authorized to perform: sts:AssumeRole on resource: {ROLE}" in str(raised.value)
    assert assume_role(OTHER_ROLE).access_key_id == sts_stub.access_key_id_for(OTHER_ROLE)
    assert [(call.role_arn, call.error_code, call.access_key_id) for call in sts_stub.calls] == [
        (ROLE, "AccessDenied", None),
        (OTHER_ROLE, None, sts_stub.access_key_id_for(OTHER_ROLE)),
    ]


def test_a_failure_for_every_role_a_number_of_times(sts_stub):
    sts_stub.fail(code="Throttling", message="Rate exceeded", times=1)

    with pytest.raises(AssumeRoleError) as raised:
        assume_role(ROLE)
    assert raised.value.code == "Throttling"
    assert "Rate exceeded" in str(raised.value)
    assert assume_role(ROLE).access_key_id == sts_stub.access_key_id_for(ROLE)
    assert [call.error_code for call in sts_stub.calls] == ["Throttling", None]  # one call each: no retries


def test_a_rule_for_the_role_wins_over_one_for_every_role(sts_stub):
    sts_stub.fail(code="RegionDisabledException")
    sts_stub.fail(ROLE, code="ExpiredToken")

    codes = []
    for role in (ROLE, OTHER_ROLE):
        with pytest.raises(AssumeRoleError) as raised:
            assume_role(role)
        codes.append(raised.value.code)
    assert codes == ["ExpiredToken", "RegionDisabledException"]
    assert "RegionDisabledException: RegionDisabledException (sts_stub)" in str(raised.value)


def test_only_chosen_roles_are_served(sts_stub):
    sts_stub.only(ROLE)

    assert assume_role(ROLE).access_key_id == sts_stub.access_key_id_for(ROLE)
    with pytest.raises(AssumeRoleError) as raised:
        assume_role(OTHER_ROLE)
    assert raised.value.code == "AccessDenied"
    assert repr(sts_stub) == f"STSStub(calls=2, failures=0, only=['{ROLE}'])"


def test_times_must_be_a_whole_number():
    with pytest.raises(ValueError, match="times must be"):
        STSStub().fail(times=0)


def test_no_secret_in_any_repr(sts_stub):
    sts_stub.fail(OTHER_ROLE)
    creds = assume_role(ROLE, ExternalId="x-1234")
    with pytest.raises(AssumeRoleError) as raised:
        assume_role(OTHER_ROLE)

    shown = " ".join([repr(creds), str(creds), repr(sts_stub), repr(sts_stub.calls), str(raised.value)])
    assert creds.secret_access_key not in shown
    assert creds.session_token not in shown


def test_a_decorated_handler_with_two_entries_and_a_chained_one(sts_stub, lambda_context):
    hub, spoke = "arn:aws:iam::111122223333:role/hub", "arn:aws:iam::444455556666:role/spoke"

    @sts(fetch_data={"hub": hub, "other": OTHER_ROLE}, disable_prefetch=True, cache_key="plugin-two")
    @sts(fetch_data={"spoke": spoke}, aws_client_assume_role="hub", cache_key="plugin-chained")
    def handler(event: Any, context: Any) -> dict[str, str]:
        return {name: get_credentials(name).access_key_id for name in ("hub", "other", "spoke")}

    keys = handler({}, lambda_context)

    assert keys == {
        "hub": sts_stub.access_key_id_for(hub),
        "other": sts_stub.access_key_id_for(OTHER_ROLE),
        "spoke": sts_stub.access_key_id_for(spoke),
    }
    assert sorted(sts_stub.role_arns) == sorted([hub, OTHER_ROLE, spoke])
    # The chained entry's AssumeRole would be signed with the hub role's (fake) credentials.
    assert sts_stub.calls_for(spoke)[0].signed_with == sts_stub.access_key_id_for(hub)


def test_clients_of_an_entry_sign_with_the_fake_credentials(sts_stub, lambda_context):
    @sts(fetch_data={"reports": ROLE}, disable_prefetch=True, cache_key="plugin-client")
    def handler(event: Any, context: Any) -> str:
        url: str = get_client("reports", "s3").generate_presigned_url("get_object", Params={"Bucket": "b", "Key": "k"})
        return url

    assert sts_stub.access_key_id_for(ROLE) in handler({}, lambda_context)


@pytest.fixture
def own_client() -> Any:
    """An STS client the user built before the test (as a module does at import): moto's, in this suite."""
    return boto3.client("sts")


def test_a_client_built_before_the_test_is_answered_then_given_back(own_client, moto_sts, monkeypatch):
    stub = STSStub()
    stub.start(monkeypatch)
    try:
        answered = own_client.assume_role(RoleArn=ROLE, RoleSessionName="mine")
        own_client.get_caller_identity()  # other operations are not the stub's: moto answers
        assert answered["Credentials"]["AccessKeyId"] == stub.access_key_id_for(ROLE)
        assert moto_sts.assume_role_calls == 0
    finally:
        stub.stop()
    # The test is over: the client calls its endpoint (moto here) again.
    real = own_client.assume_role(RoleArn=ROLE, RoleSessionName="mine")
    assert real["Credentials"]["AccessKeyId"] != stub.access_key_id_for(ROLE)
    assert moto_sts.assume_role_calls == 1
    assert len(stub.calls) == 1


@pytest.fixture
def early_prefetch() -> Any:
    """A package thread that started before the stub (a prefetch begun at collection) and fetches in the test."""
    go = threading.Event()
    outcome: list[BaseException] = []
    provider = powertools_sts.STSProvider()

    def prefetch() -> None:
        go.wait(10)
        try:
            provider.get(ROLE)
        except AssumeRoleError as exc:
            outcome.append(exc)

    thread = threading.Thread(target=prefetch, name="powertools-sts-prefetch", daemon=True)
    thread.start()
    return go, thread, outcome


def test_a_fetch_started_before_the_fixture_is_refused_not_recorded(early_prefetch, sts_stub):
    go, thread, outcome = early_prefetch
    go.set()
    thread.join(10)

    assert [exc.code for exc in outcome] == ["DiscardedByStub"]  # type: ignore[attr-defined]
    assert sts_stub.calls == []


def test_call_record_properties():
    call = AssumeRoleCall(ROLE, {"RoleSessionName": "s", "Tags": [{"Key": "k", "Value": "v"}]})
    assert (call.role_session_name, call.tags, AssumeRoleCall(ROLE).role_session_name) == ("s", {"k": "v"}, None)


def test_powertools_lambda_context_cannot_be_built_in_a_test():
    from aws_lambda_powertools.utilities.typing import LambdaContext

    with pytest.raises(AttributeError, match="_aws_request_id"):
        LambdaContext().aws_request_id  # the property read is the test


def test_lambda_context_fits_powertools_logger(lambda_context, capsys):
    logger = Logger(service="plugin-test")

    @logger.inject_lambda_context
    def handler(event: Any, context: Any) -> int:
        logger.info("hello")
        return context.get_remaining_time_in_millis()

    assert isinstance(lambda_context, FakeLambdaContext)
    assert handler({}, lambda_context) == 300_000
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (line["function_name"], line["function_memory_size"], line["function_request_id"]) == (
        "test",
        128,
        "52fdfc07-2182-154f-163f-5f0f9a621d72",
    )
    assert line["function_arn"] == "arn:aws:lambda:us-east-1:123456789012:function:test"


# -- whole runs --------------------------------------------------------------------------------------

HANDLER_MODULE = """
    from powertools_sts import get_credentials, sts

    ROLE = "arn:aws:iam::111122223333:role/inner"

    @sts(fetch_data={"inner": {"RoleArn": ROLE, "ExternalId": "inner-1"}}, cache_key="inner-run")
    def handler(event, context):
        return get_credentials("inner").access_key_id
"""

INNER_TESTS = """
    import os

    from handler_module import ROLE, handler  # at collection: the sts layer is applied and prefetches now

    from powertools_sts import _state


    def test_first(sts_stub, lambda_context):
        assert handler({}, lambda_context) == sts_stub.access_key_id_for(ROLE)
        assert handler({}, lambda_context) == sts_stub.access_key_id_for(ROLE)
        assert [(call.role_arn, call.external_id) for call in sts_stub.calls] == [(ROLE, "inner-1")]
        assert os.environ["AWS_ACCESS_KEY_ID"] == "testing"
        import botocore.client

        assert "powertools_sts" in botocore.client.BaseClient._make_api_call.__code__.co_filename  # patched meanwhile


    def test_second_sees_a_clean_state(sts_stub, lambda_context):
        assert sts_stub.calls == []
        assert handler({}, lambda_context) == sts_stub.access_key_id_for(ROLE)
        assert len(sts_stub.calls) == 1  # nothing cached from the first test


    def test_without_the_fixture_nothing_is_changed():
        import botocore.client

        assert "powertools_sts" not in botocore.client.BaseClient._make_api_call.__code__.co_filename
        assert os.environ["AWS_ACCESS_KEY_ID"] == "outer-key"
        assert os.environ.get("AWS_PROFILE") == "outer-profile"
        assert "sts" not in _state.DEFAULT_PROVIDERS
"""


@pytest.fixture
def outside_connections(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every connect() of this process to an address that is not loopback, refused and recorded."""
    seen: list[Any] = []
    real_connect = socket.socket.connect

    def connect(self: socket.socket, address: Any) -> None:
        host = address[0] if isinstance(address, tuple) else address
        if host not in ("127.0.0.1", "::1", "localhost"):
            seen.append(address)
            raise OSError("the test refuses connections outside loopback")
        real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    return seen


def test_a_whole_run_import_order_clean_state_and_no_outside_socket(pytester, monkeypatch, outside_connections):
    pytester.makepyfile(handler_module=HANDLER_MODULE, test_inner=INNER_TESTS)
    # The user's environment: what the fixture replaces for its tests and gives back afterwards.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "outer-key")
    monkeypatch.setenv("AWS_PROFILE", "outer-profile")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(pytester.path / "config"))
    (pytester.path / "config").write_text("[profile outer-profile]\nregion = us-east-1\n")
    powertools_sts.clear_caches()

    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-q")

    result.assert_outcomes(passed=3)
    assert outside_connections == []


def test_a_user_fixture_of_the_same_name_wins(pytester):
    pytester.makeconftest(
        """
        import pytest

        @pytest.fixture
        def lambda_context():
            return "mine"
        """
    )
    pytester.makepyfile(
        """
        def test_mine(lambda_context):
            assert lambda_context == "mine"
        """
    )
    pytester.runpytest_inprocess("-p", "no:cacheprovider", "-q").assert_outcomes(passed=1)


def test_an_unsigned_client_is_recorded_without_a_signer(sts_stub):
    from botocore import UNSIGNED
    from botocore.config import Config

    client = boto3.client("sts", config=Config(signature_version=UNSIGNED))
    client.assume_role(RoleArn=ROLE, RoleSessionName="unsigned")

    assert sts_stub.calls[0].signed_with is None


SHARED_CACHE_INNER = """
    import pytest

    from powertools_sts import AssumeRoleError, STSProvider

    ROLE = "arn:aws:iam::111122223333:role/inner"


    def test_a_failure(sts_stub):
        sts_stub.fail(ROLE)
        with pytest.raises(AssumeRoleError):
            STSProvider().get(ROLE)


    def test_the_next_test_fetches_for_itself(sts_stub):
        STSProvider().get(ROLE)
        assert len(sts_stub.calls) == 1
"""


def test_stub_answers_and_failures_never_reach_the_shared_cache(pytester, monkeypatch, tmp_path):
    # Issue 18, item 12: with the shared cache on (the variable, or Managed Instances' variables in a test
    # environment), the stub's failures reached /tmp and the next test raised SharedBackoffError, and a
    # second pytest session was served the first one's credentials with 0 calls recorded.
    import tempfile

    monkeypatch.setenv("POWERTOOLS_STS_SHARED_CACHE", "true")
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr(tempfile, "tempdir", None)  # gettempdir() reads TMPDIR again
    pytester.makepyfile(test_inner=SHARED_CACHE_INNER)
    for _session in range(2):
        powertools_sts.clear_caches()
        pytester.runpytest_inprocess("-p", "no:cacheprovider", "-q").assert_outcomes(passed=2)
    assert [path.name for path in tmp_path.rglob("*") if path.is_file()] == []


@pytest.mark.parametrize("spelling", ["-p", "pytest_plugins"])
def test_the_plugin_loads_by_its_module_name(pytester, spelling):
    # Issue 18, item 13: both spellings failed with "Plugin already registered under a different name".
    pytester.makepyfile(test_inner="def test_it(sts_stub, lambda_context):\n    assert sts_stub.calls == []\n")
    arguments: tuple[str, ...] = ("-p", "powertools_sts.testing")
    if spelling == "pytest_plugins":
        pytester.makeconftest('pytest_plugins = ["powertools_sts.testing"]\n')
        arguments = ()
    pytester.runpytest_subprocess("-p", "no:cacheprovider", *arguments).assert_outcomes(passed=1)


def test_advance_moves_the_packages_clock_and_refuses_anything_but_a_number_at_least_zero(sts_stub):
    from powertools_sts import _clock

    before = _clock.now()
    sts_stub.advance(3600)
    assert _clock.now() - before == pytest.approx(3600, abs=5)
    for wrong in (-1, True, "60", float("nan"), float("inf")):
        with pytest.raises(ValueError, match="seconds must be a number >= 0"):
            sts_stub.advance(wrong)
