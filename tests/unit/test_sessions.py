"""SessionCache: the sessions and clients of an entry, driven by a real STSProvider against moto and the fake clock."""

from __future__ import annotations

import contextlib
import json
import os
import re
import threading
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import boto3
import botocore.loaders
import pytest
from botocore.credentials import RefreshableCredentials
from botocore.exceptions import ClientError

import powertools_sts
from powertools_sts import AssumeRoleError, Credentials, STSProvider
from powertools_sts.sessions import SessionCache

from ..conftest import ROLE

# Past the refresh window (300 s plus up to 25% jitter) of 3600 s credentials, above the 60 s floor.
PAST_REFRESH = 3310
BEFORE_REFRESH = 3200


class Source:
    """A credentials source backed by a real provider, counting how often it is asked."""

    def __init__(self) -> None:
        self.provider = STSProvider()
        self.calls = 0
        self.handed_out: list[Credentials] = []
        self.params: dict[str, Any] = {}  # AssumeRole parameters of the next calls

    def __call__(self) -> Credentials:
        self.calls += 1
        creds = self.provider.get(ROLE, **self.params)
        self.handed_out.append(creds)
        return creds


def frozen_key(session: Any) -> str:
    return session.get_credentials().get_frozen_credentials().access_key


# -- a session's credentials --------------------------------------------------------------------------------


def test_the_source_is_called_lazily_and_signs_the_clients(moto_sts):
    source = Source()
    session = SessionCache(source).session()
    client = session.client("sts")
    assert source.calls == 0  # neither the session nor a client asks for credentials

    caller = client.get_caller_identity()

    assert source.calls >= 1
    assert caller["Arn"].startswith("arn:aws:sts::111122223333:assumed-role/reports/")
    frozen = session.get_credentials().get_frozen_credentials()
    creds = source.handed_out[0]
    assert (frozen.access_key, frozen.secret_key, frozen.token) == (
        creds.access_key_id,
        creds.secret_access_key,
        creds.session_token,
    )
    client.get_caller_identity()
    assert frozen_key(session) == creds.access_key_id
    assert moto_sts.assume_role_calls == 1  # fresh credentials are not fetched again


def test_region_name_is_the_sessions(moto_sts):
    assert SessionCache(Source()).session("eu-west-1").region_name == "eu-west-1"


def test_credentials_refresh_near_their_expiry(moto_sts, clock):
    source = Source()
    session = SessionCache(source).session()
    first = frozen_key(session)

    clock.advance(BEFORE_REFRESH)
    assert frozen_key(session) == first
    assert moto_sts.assume_role_calls == 1

    clock.advance(PAST_REFRESH - BEFORE_REFRESH)
    second = frozen_key(session)

    assert second != first
    assert second == source.handed_out[-1].access_key_id
    assert moto_sts.assume_role_calls == 2


def test_credentials_follow_the_source_when_it_hands_out_new_ones(moto_sts, clock):
    # The source decides when credentials change (a max_age, a cleared cache), not only their expiry.
    provider = STSProvider()
    session = SessionCache(lambda: provider.get(ROLE, max_age=60)).session()
    client = session.client("sts")
    client.get_caller_identity()
    first = frozen_key(session)

    clock.advance(61)
    client.get_caller_identity()
    second = frozen_key(session)
    provider.clear_cache()
    client.get_caller_identity()

    assert second != first
    assert frozen_key(session) not in (first, second)
    assert moto_sts.assume_role_calls == 3


def test_a_failed_refresh_keeps_the_old_credentials_until_the_floor(moto_sts, clock):
    source = Source()
    session = SessionCache(source).session()
    first = frozen_key(session)
    moto_sts.enable_iam()  # from now on STS refuses the function's dummy credentials

    clock.advance(PAST_REFRESH)  # the refresh fails: the still valid credentials serve
    assert frozen_key(session) == first

    clock.advance(3550 - PAST_REFRESH)  # under the 60 s floor: nothing can serve
    with pytest.raises(AssumeRoleError):
        frozen_key(session)


# -- whatever botocore's refresh policy ---------------------------------------------------------------


@pytest.fixture(params=["today", "static-stability"])
def botocore_refresh_policy(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """botocore's refresh as installed, then as its coming credential-refresh "static stability" will be.

    That one is on botocore's ``feature/credential-refresh`` branch, behind a flag, with no opt-out
    planned: a refresh that fails, once credentials are cached, no longer raises; botocore logs it,
    keeps the cached credentials and tries no refresh for 5 to 10 minutes (here 5, on the credentials'
    own clock). Simulated around the whole of ``_refresh``, not only ``_protected_refresh`` (where the
    branch catches): today the source's error escapes from ``refresh_needed``, before botocore's error
    handling, and which of botocore's steps call the source, inside that handling or not, is
    botocore's business.
    """
    if request.param == "today":
        return request.param
    refresh = RefreshableCredentials._refresh

    def static_stability(self: Any) -> None:
        blocked_until = getattr(self, "_test_blocked_until", None)
        if blocked_until is not None and self._time_fetcher() < blocked_until:
            return  # in the back-off: the cached credentials serve
        try:
            refresh(self)
        except Exception:
            if self._frozen_credentials is None:
                raise  # nothing cached to fall back to: the branch raises too
            self._test_blocked_until = self._time_fetcher() + timedelta(seconds=300)

    monkeypatch.setattr(RefreshableCredentials, "_refresh", static_stability)
    return request.param


def signing_keys(client: Any) -> list[str]:
    """The access key id of every request ``client`` sends, read from its Authorization header once signed."""
    keys: list[str] = []

    def record(request: Any, **kwargs: Any) -> None:
        authorization = request.headers["Authorization"]
        if isinstance(authorization, bytes):
            authorization = authorization.decode()
        found = re.search(r"Credential=([^/]+)/", authorization)
        assert found is not None
        keys.append(found.group(1))

    client.meta.events.register("before-send", record)
    return keys


def outcome(call: Callable[[], Any]) -> BaseException | None:
    try:
        call()
    except (AssumeRoleError, ClientError) as exc:  # ClientError: moto refusing what was signed
        return exc
    return None


def recover(moto_sts: Any, source: Source) -> None:
    """STS is back, and the source hands out new credentials.

    moto's expirations follow the real clock, so credentials it issues now would look 50 s from expiry
    on the advanced fake clock: the source asks for a longer session from now on (another cache key of
    its provider, so a fetch). Where the source's new credentials come from is no business of the
    session's: it must sign with them.
    """
    moto_sts.post("/moto-api/reset-auth", b"inf")
    source.params = {"DurationSeconds": 7200}


def test_a_client_never_signs_past_the_floor_whatever_botocores_refresh_policy(
    moto_sts, clock, botocore_refresh_policy
):
    source = Source()
    client = SessionCache(source).client("sts")  # a client of get_client
    signed = signing_keys(client)
    client.get_caller_identity()
    first = source.handed_out[-1].access_key_id
    moto_sts.enable_iam()  # from now on STS refuses the function's dummy credentials

    clock.advance(PAST_REFRESH)  # the refresh fails: the still valid credentials serve
    outcome(client.get_caller_identity)
    assert signed == [first, first]

    clock.advance(3550 - PAST_REFRESH)  # under the 60 s floor, STS failing: nothing may sign
    below_floor = [outcome(client.get_caller_identity) for _ in range(3)]
    assert signed == [first, first]
    assert all(isinstance(error, AssumeRoleError) for error in below_floor)

    recover(moto_sts, source)  # while botocore's back-off is not over
    client.get_caller_identity()
    latest = source.handed_out[-1].access_key_id
    assert latest != first
    assert signed == [first, first, latest]  # the source's new credentials, not what botocore kept


def test_a_sessions_credentials_never_read_past_the_floor_whatever_botocores_refresh_policy(
    moto_sts, clock, botocore_refresh_policy
):
    source = Source()
    credentials = SessionCache(source).session().get_credentials()
    first = credentials.get_frozen_credentials()
    moto_sts.enable_iam()
    clock.advance(3550)  # under the floor, STS failing

    # What a signer reads: the frozen credentials, or (older code, other libraries) the properties.
    reads: dict[str, Callable[[], Any]] = {
        "get_frozen_credentials": credentials.get_frozen_credentials,
        "access_key": lambda: credentials.access_key,
        "secret_key": lambda: credentials.secret_key,
        "token": lambda: credentials.token,
    }
    served = []
    for name, read in reads.items():
        with contextlib.suppress(AssumeRoleError):
            read()
            served.append(name)
    assert served == []

    recover(moto_sts, source)
    frozen = credentials.get_frozen_credentials()
    latest = source.handed_out[-1]
    assert latest.access_key_id != first.access_key
    expected = (latest.access_key_id, latest.secret_access_key, latest.session_token)
    assert (frozen.access_key, frozen.secret_key, frozen.token) == expected
    assert (credentials.access_key, credentials.secret_key, credentials.token) == expected


# -- SessionCache -------------------------------------------------------------------------------------------


def test_handles_build_nothing_and_ask_nothing_until_used(moto_sts):
    source = Source()
    handles = SessionCache(source)
    handles.session()
    handles.client("sts")

    assert source.calls == 0


def test_one_session_per_region(moto_sts):
    handles = SessionCache(Source())

    default = handles.session()
    west = handles.session("eu-west-1")

    assert handles.session() is default
    assert handles.session(None) is default
    assert handles.session("eu-west-1") is west
    assert west is not default
    assert west.region_name == "eu-west-1"
    assert default.region_name == "us-east-1"  # from the environment


def test_clients_are_cached_by_service_and_arguments(moto_sts):
    source = Source()
    handles = SessionCache(source)

    plain = handles.client("sts")
    west = handles.client("sts", region_name="eu-west-1", endpoint_url=moto_sts.url)

    assert handles.client("sts") is plain
    assert handles.client("sts", endpoint_url=moto_sts.url, region_name="eu-west-1") is west
    assert west is not plain
    assert handles.client("sts", region_name="eu-west-1") is not west
    assert handles.client("s3") is not plain
    assert west.meta.region_name == "eu-west-1"
    # Every client of the entry signs with the entry's credentials, fetched once.
    assert plain.get_caller_identity()["Arn"] == west.get_caller_identity()["Arn"]
    assert "assumed-role/reports/" in plain.get_caller_identity()["Arn"]
    assert moto_sts.assume_role_calls == 1


def test_concurrent_first_calls_build_one_client(moto_sts):
    handles = SessionCache(Source())
    start = threading.Barrier(8)
    built: list[Any] = []

    def build() -> None:
        start.wait(timeout=10)
        built.append(handles.client("sts"))

    threads = [threading.Thread(target=build) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)

    assert len(built) == 8
    assert all(client is built[0] for client in built)


def test_reset_drops_sessions_and_clients(moto_sts):
    handles = SessionCache(Source())
    session, client = handles.session(), handles.client("sts")

    handles._reset()

    assert handles.session() is not session
    assert handles.client("sts") is not client


def test_clear_caches_clears_every_session_cache(moto_sts):
    first, second = SessionCache(Source()), SessionCache(Source())
    clients = first.client("sts"), second.client("sts")

    powertools_sts.clear_caches()

    assert first.client("sts") is not clients[0]
    assert second.client("sts") is not clients[1]


def test_the_default_region_is_the_parent_session_s(moto_sts):
    handles = SessionCache(Source(), default_region="eu-west-2")

    assert handles.session().region_name == "eu-west-2"
    assert handles.session() is handles.session("eu-west-2")
    assert handles.session("ap-south-1").region_name == "ap-south-1"
    assert handles.client("sts").meta.region_name == "eu-west-2"
    assert handles.client("sts", region_name="ap-south-1").meta.region_name == "ap-south-1"
    assert SessionCache(Source()).session().region_name == "us-east-1"  # botocore's own: the environment's


# -- the user's sessions are boto3's, with botocore's own loader ------------------------------------------


def loader_of(session: boto3.session.Session) -> Any:
    return session._session.get_component("data_loader")


def test_sessions_are_built_as_boto3_builds_them(moto_sts):
    plain, ours, other = boto3.session.Session(), SessionCache(Source()).session(), SessionCache(Source()).session()

    assert type(loader_of(ours)) is type(loader_of(plain)) is botocore.loaders.Loader
    assert loader_of(ours).search_paths == loader_of(plain).search_paths
    assert loader_of(ours) is not loader_of(other)


def test_sessions_grow_no_search_path(moto_sts):
    expected = len(loader_of(boto3.session.Session()).search_paths)
    for _ in range(100):
        powertools_sts.clear_caches()
        session = SessionCache(Source()).session()
    assert len(loader_of(session).search_paths) == expected


def test_a_session_s_model_handlers_change_no_other_session_s_model(moto_sts):
    first, second = SessionCache(Source()), SessionCache(Source())

    def rename(service_data: dict[str, Any], **kwargs: Any) -> None:
        service_data["documentation"] = "changed by a handler of the first session"

    first.session().events.register("service-data-loaded.sts", rename)
    changed = first.session()._session.get_service_model("sts")  # emits service-data-loaded (boto3 resources do)

    assert changed.documentation == "changed by a handler of the first session"
    assert second.client("sts").meta.service_model.documentation != changed.documentation


def test_aws_data_path_set_later_reaches_the_next_sessions(moto_sts, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    SessionCache(Source()).client("sts")  # the process has built sessions and clients before
    model = json.loads(json.dumps(botocore.loaders.create_loader().load_service_model("sts", "service-2")))
    model["documentation"] = "from AWS_DATA_PATH"
    folder = tmp_path / "sts" / model["metadata"]["apiVersion"]
    folder.mkdir(parents=True)
    (folder / "service-2.json").write_text(json.dumps(model))
    monkeypatch.setenv("AWS_DATA_PATH", str(tmp_path))

    powertools_sts.clear_caches()

    assert SessionCache(Source()).client("sts").meta.service_model.documentation == "from AWS_DATA_PATH"
    assert os.environ["AWS_DATA_PATH"] in loader_of(SessionCache(Source()).session()).search_paths
