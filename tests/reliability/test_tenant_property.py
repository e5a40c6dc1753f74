"""Per-tenant entries under random schedules: never another tenant's credentials, never any below the floor.

Each example applies one ``sts`` layer with a per-tenant entry (a random ``max_tenants`` of 1-4 over a
pool of 6 tenants, so tenants are evicted and admitted again all the time; a random DurationSeconds and
``refresh_margin``), then runs a random list of steps: invocations of random tenants, one after another
or from 2-4 threads at once (a barrier), the same tenant again at once, a session's credentials, clock
jumps forwards (a few seconds, into the refresh window, past the floor, hours) and backwards, STS
refusing every call for a while (Throttling) and answering again, and ``clear_caches()``.

STS is :class:`~tests.reliability.helpers.FakeSTS` passed as ``boto3_client``: moto over HTTP makes a
few hundred calls a second, too few for thousands of examples. It answers fresh keys whose Expiration
is the fake clock's now plus DurationSeconds, and records the parameters behind each key. The fake
clock replaces ``powertools_sts._clock.now``. What is shown, at every hand-out, on the invocation's
thread and inside the handler:

- every credential handed to an invocation of tenant T (``get_credentials``, and what the tenant's
  session signs with) was issued for T: the session tag and the policy behind its key name T;
- it has more than ``FLOOR_SECONDS`` left on the fake clock at that moment;
- an invocation of a tenant just served, at once again, makes no AssumeRole call and gets the same keys;
- an invocation fails only with ``AssumeRoleError`` (STS down and nothing valid to serve), never with
  another tenant's credentials.

The count side of ``max_tenants`` (10,000 tenants through ``max_tenants=100``) closes the module.
"""

from __future__ import annotations

import json
import threading
import time
import types
import uuid
from collections import Counter
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from powertools_sts import AssumeRoleError, _clock, _state, clear_caches, get_credentials, get_session, sts
from powertools_sts.provider import FLOOR_SECONDS

from .conftest import SOAK
from .helpers import FakeSTS

ROLE = "arn:aws:iam::111122223333:role/tenant-data"
TAG = "TenantID"
# Valid tenant ids with a space, an accent and the characters a tag value takes besides letters.
TENANTS = ("acme", "globex", "initech corp", "t\u00e9nant-42", "umbrella:eu/1", "x+y=z.@_")

durations = st.sampled_from([900, 3600, 43200]) | st.integers(900, 43200)
margins = st.sampled_from([0, 60, 300, 900, 3600])
tenant_of = st.integers(0, len(TENANTS) - 1)
# Clock jumps: a little, by hours, and "lifetime" ones of DurationSeconds less an offset, which land (after a fetch)
# around the refresh window's start (the margin, up to 25% more), the floor (60 s left) and the expiry.
OFFSETS = (-1, 0, 1, 29, 30, 31, 59, 60, 61, 119, 120, 299, 300, 301, 375, 376, 450, 900, 1800)
steps = st.one_of(
    st.tuples(st.just("invoke"), tenant_of),
    st.tuples(st.just("invoke"), tenant_of),
    st.tuples(st.just("invoke"), tenant_of),
    st.tuples(st.just("again"), st.just(0)),
    st.tuples(st.just("session"), tenant_of),
    st.tuples(st.just("threads"), st.lists(tenant_of, min_size=2, max_size=4)),
    st.tuples(st.just("forward"), st.integers(1, 600)),
    st.tuples(st.just("forward"), st.integers(3600, 100_000)),
    st.tuples(st.just("lifetime"), st.sampled_from(OFFSETS)),
    st.tuples(st.just("lifetime"), st.sampled_from(OFFSETS)),
    st.tuples(st.just("backward"), st.integers(1, 120)),
    st.tuples(st.just("sts"), st.sampled_from(["down", "up"])),
    st.tuples(st.just("clear"), st.just(0)),
)

#: What the runs did, printed at the end (``pytest -s``).
STATS: Counter[str] = Counter()


class Clock:
    """The fake clock: a number that only the test moves."""

    def __init__(self) -> None:
        self.t = float(int(time.time()))

    def __call__(self) -> float:
        return self.t


def tenant_params(duration: int) -> Any:
    """A per-tenant entry: the tenant in a session tag and in the policy's resource."""

    def params(tenant_id: str) -> dict[str, Any]:
        policy = {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::data/{tenant_id}/*"}
            ],
        }
        return {
            "RoleArn": ROLE,
            "DurationSeconds": duration,
            "Tags": [{"Key": TAG, "Value": tenant_id}],
            "Policy": policy,
        }

    return params


def issued_for(fake: FakeSTS, access_key_id: str) -> str:
    """The tenant the AssumeRole behind ``access_key_id`` was for; its tag and its policy must agree."""
    tag = fake.tag(access_key_id, TAG)
    resource = json.loads(fake.issued[access_key_id]["Policy"])["Statement"][0]["Resource"]
    assert resource == f"arn:aws:s3:::data/{tag}/*", (tag, resource)
    assert tag is not None
    return tag


class Run:
    """One example: the layer, the fake STS and clock, and the checks made at every hand-out."""

    def __init__(self, fake: FakeSTS, clock: Clock, max_tenants: int, duration: int, margin: float) -> None:
        self.fake, self.clock, self.duration = fake, clock, duration
        self.name = f"tenant-prop-{uuid.uuid4().hex[:8]}"
        self.last: tuple[str, str] | None = None  # (tenant, access key id) of the last invocation served

        @sts(
            fetch_data={self.name: tenant_params(duration)},
            boto3_client=fake,
            max_tenants=max_tenants,
            refresh_margin=margin,
        )
        def handler(event: dict[str, Any], context: Any) -> str:
            creds = get_session(self.name).get_credentials() if event["session"] else get_credentials(self.name)
            key = creds.access_key if event["session"] else creds.access_key_id
            # Checked here, at the hand-out, on the invocation's thread.
            assert issued_for(fake, key) == context.tenant_id, "another tenant's credentials"
            expiration = fake.expirations[key]
            assert expiration - clock() > FLOOR_SECONDS, ("below the floor", expiration - clock())
            return str(key)

        self.handler = handler

    def invoke(self, tenant: str, session: bool = False) -> str | None:
        """Invoke as ``tenant``; return the access key id handed out, or None when STS failed with nothing to serve."""
        STATS["invocations"] += 1
        try:
            key = self.handler({"session": session}, types.SimpleNamespace(tenant_id=tenant))
        except AssumeRoleError:
            assert self.fake.failing, "an invocation failed while STS answers"
            STATS["failed: STS down, nothing valid to serve"] += 1
            return None
        STATS["credentials handed out"] += 1
        return key

    def step(self, kind: str, arg: Any) -> None:
        if kind == "invoke":
            key = self.invoke(TENANTS[arg])
            self.last = (TENANTS[arg], key) if key is not None else None
        elif kind == "again" and self.last is not None:
            tenant, key = self.last
            calls = self.fake.calls
            assert self.invoke(tenant) == key  # served from the cache: the same keys
            assert self.fake.calls == calls  # and no AssumeRole call
            STATS["again: no call"] += 1
        elif kind == "session":
            STATS["sessions"] += 1
            self.invoke(TENANTS[arg], session=True)
            self.last = None
        elif kind == "threads":
            self.threads([TENANTS[i] for i in arg])
        elif kind == "forward":
            self.clock.t += arg
        elif kind == "lifetime":
            self.clock.t += max(0, self.duration - arg)
        elif kind == "backward":
            self.clock.t -= arg
        elif kind == "sts":
            self.fake.failing = arg == "down"
        elif kind == "clear":
            clear_caches()
        if kind in ("forward", "lifetime", "backward", "sts", "clear", "threads"):
            self.last = None

    def threads(self, tenants: list[str]) -> None:
        STATS["concurrent invocations"] += len(tenants)
        barrier = threading.Barrier(len(tenants), timeout=10)
        errors: list[BaseException] = []

        def invoking(tenant: str) -> None:
            try:
                barrier.wait()
                self.invoke(tenant)
            except BaseException as exc:
                errors.append(exc)

        pool = [threading.Thread(target=invoking, args=(tenant,)) for tenant in tenants]
        for thread in pool:
            thread.start()
        for thread in pool:
            thread.join(30)
        assert not any(thread.is_alive() for thread in pool), "an invoking thread hung"
        assert errors == [], errors


def _property(monkeypatch: pytest.MonkeyPatch, examples: int) -> None:
    clock = Clock()
    monkeypatch.setattr(_clock, "now", clock)
    fake = FakeSTS(clock)
    STATS.clear()

    @settings(max_examples=examples)
    @given(
        max_tenants=st.integers(1, 4),
        duration=durations,
        margin=margins,
        schedule=st.lists(steps, min_size=2, max_size=40),
    )
    def never_another_tenants_credentials(max_tenants: int, duration: int, margin: float, schedule: list[Any]) -> None:
        STATS["examples"] += 1
        clear_caches()
        fake.failing = False
        run = Run(fake, clock, max_tenants, duration, margin)
        for kind, arg in schedule:
            run.step(kind, arg)
        layer = next(iter(_state.names[run.name])).layer
        assert len(layer.tenants.lru) <= max_tenants

    try:
        never_another_tenants_credentials()
    finally:
        print("\ntenant property: " + ", ".join(f"{k}: {v}" for k, v in sorted(STATS.items())))
    assert STATS["examples"] >= examples


def test_never_another_tenants_credentials_never_below_the_floor(monkeypatch) -> None:
    """1,000 examples: part of ``make test``."""
    _property(monkeypatch, 1_000)


@pytest.mark.soak
@pytest.mark.timeout(6 * 3600)
@pytest.mark.skipif(not SOAK, reason="the soak run: make soak (HYPOTHESIS_PROFILE=soak)")
def test_never_another_tenants_credentials_never_below_the_floor_soak(monkeypatch) -> None:
    """100,000 examples: ``make soak``."""
    _property(monkeypatch, 100_000)


# -- the count side of max_tenants ----------------------------------------------------------------------------


def test_ten_thousand_tenants_through_max_tenants_100_leave_100_resident(monkeypatch) -> None:
    clock = Clock()
    monkeypatch.setattr(_clock, "now", clock)
    fake = FakeSTS(clock)
    name = f"tenant-count-{uuid.uuid4().hex[:8]}"
    handler = sts(fetch_data={name: tenant_params(3600)}, boto3_client=fake, max_tenants=100)(
        lambda event, context: get_credentials(name).access_key_id
    )
    layer = next(iter(_state.names[name])).layer

    for n in range(10_000):
        tenant = f"tenant-{n}"
        assert fake.tag(handler({}, types.SimpleNamespace(tenant_id=tenant)), TAG) == tenant

    assert fake.calls == 10_000
    assert list(layer.tenants.lru) == [f"tenant-{n}" for n in range(9_900, 10_000)]  # the 100 most recent
    [provider] = {slot.provider for tenant in layer.tenants.lru.values() for slot in tenant.slots.values()}
    assert len(provider.cache.entries) == 100  # the evicted tenants' credentials went with them
    kept = {entry.credentials.access_key_id for entry in provider.cache.entries.values()}
    assert {fake.tag(key, TAG) for key in kept} == set(layer.tenants.lru)
