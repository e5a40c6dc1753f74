"""Never an expired credential, never a needless STS call: a hypothesis state machine with a fake clock.

Design of the clock. The library reads time only through ``powertools_sts._clock.now``, which the test
replaces with a fake clock that starts at the real time (on a whole second) and then moves only as the
rules say: forwards a little, forwards by hours (a frozen and thawed sandbox), backwards a little (a
clock step), or right onto an entry's own boundaries (its refresh time, floor, back-off end, max_age).
moto stamps ``Expiration`` with the real time, which would mean nothing on such a clock, so STS is
served through the fault proxy with ``proxy.clock`` set: the proxy rewrites every ``Expiration`` to
``fake now + DurationSeconds`` at the moment it answers. The proxy's ``before_response`` hook moves the
fake clock during a call (fake STS latency, up to a frozen sandbox's hours), and its modes inject the
STS failures. The client makes one attempt per call (``total_max_attempts=1``), so every AssumeRole
attempt is exactly one request at the proxy (none when the connection is refused).

What runs: one ``STSProvider`` (``get`` with a random ``max_age`` and ``force_fetch`` at each call) and,
for the same AssumeRole parameters, one ``sts``-decorated handler per entry (a random ``max_age`` per
layer), 1-3 entries with random roles and DurationSeconds, one random ``refresh_margin``; some steps
call from 2-4 threads at once.

The model predicts, from the entry's own times (read back and checked: expiry, fetch time, a margin
inside the documented bounds of margin, half-lifetime, floor and jitter), whether a call must be served
from the cache (no STS request), must refresh (exactly one request), serves stale credentials with a
warning, or fails. Invariants, at every call:

- every credential handed out has at least ``FLOOR_SECONDS`` left on the fake clock at that moment;
- the STS requests made are exactly those the schedule requires (single thread), and for concurrent
  callers at most one per entry while the cache can serve, exactly one for a cold entry;
- the cache entry after the call is the one the rules say (no failure evicts or replaces it).
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
import types
from collections import Counter
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.config import Config
from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from powertools_sts import AssumeRoleError, Credentials, STSProvider, _clock, _state, clear_caches, get_credentials, sts
from powertools_sts.provider import BACKOFF_SECONDS, FLOOR_SECONDS, JITTER_FRACTION
from powertools_sts.validation import cache_key_of, validate_assume_role_params

from .conftest import SOAK

ROLES = (
    "arn:aws:iam::111122223333:role/reports",
    "arn:aws:iam::444455556666:role/audit",
    "arn:aws:iam::777788889999:role/team/deploy",
)
OK_MODES = ("pass", "slow")
FAIL_MODES = ("refuse", "http503", "throttle", "denied", "reset", "malformed", "past", "floor", "nocreds")
EPS = 0.002  # the proxy writes Expiration in milliseconds

durations = st.sampled_from([900, 901, 1800, 3600, 7200, 43200]) | st.integers(900, 43200)
margins = st.sampled_from([0, 1, 59, 60, 61, 300, 450.5, 900, 3600, 43200]) | st.integers(0, 7200)
max_ages = st.sampled_from([None, -1, 0, 1, 30, 299.5, 600, 3600, 7200])
latencies = st.sampled_from([0, 0, 0, 1, 30, 290, 600, 3 * 3600])


class Clock:
    """The fake clock: a number that only the test moves."""

    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


@dataclass
class Expected:
    """What the rules say an entry is: times read back from the provider and checked."""

    access_key_id: str
    fetched_at: float
    expires_at: float
    refresh_at: float
    retry_at: float = 0.0
    evicted: bool = False  # gone from the provider, still held by the decorator's entry

    @property
    def floor_at(self) -> float:
        return self.expires_at - FLOOR_SECONDS

    def fresh_until(self, max_age: float | None) -> float:
        return self.refresh_at if max_age is None else min(self.refresh_at, self.fetched_at + max_age)


@dataclass
class Route:
    """One way to ask for one entry: provider.get, or the entry's decorated handler."""

    kind: str
    index: int
    params: dict[str, Any]
    key: tuple[Any, ...]
    provider: STSProvider
    call: Any
    layer_max_age: float | None = None
    slot: Any = None  # the decorator's entry, which hands out what it last prepared until its own deadline

    def holds(self, access_key_id: str) -> bool:
        """Whether the decorator's entry still holds these credentials (whatever the provider evicted)."""
        held = self.slot.state[0] if self.slot is not None else None
        return held is not None and held.access_key_id == access_key_id

    @property
    def duration(self) -> int:
        return int(self.params["DurationSeconds"])


class _Counter(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.warnings = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.warnings += 1


def _normal(max_age: float | None) -> float | None:
    return None if max_age == -1 else max_age


def build_machine(proxy: Any, warnings: _Counter, monkeypatch: pytest.MonkeyPatch) -> type[RuleBasedStateMachine]:
    clock = Clock()
    start = float(int(time.time()))  # whole seconds: Expiration is written in milliseconds
    monkeypatch.setattr(_clock, "now", clock)
    proxy.clock = clock
    client = boto3.client(
        "sts",
        endpoint_url=proxy.url,
        region_name="us-east-1",
        config=Config(retries={"mode": "standard", "total_max_attempts": 1}, connect_timeout=1, read_timeout=3),
    )
    examples = itertools.count()
    world: dict[str, Any] = {"latency": 0}
    tally: Counter[str] = STATS

    def note(what: str) -> None:
        event(what)
        tally[what] += 1

    def advance_during_call() -> None:
        clock.t += world["latency"]

    class CacheMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            clear_caches()
            proxy.set_mode("pass")
            proxy.before_response = advance_during_call
            world["latency"] = 0
            clock.t = start
            self.example = next(examples)
            tally["examples"] += 1
            self.routes: list[Route] = []
            self.model: dict[tuple[Any, ...], Expected] = {}
            self.mode = "pass"
            self.margin = 300.0
            self.handed = 0
            self.last: int = 0
            self.last_age: Any = None
            self.latest = start  # the furthest the clock has been: what eviction may have seen

        # -- set-up ---------------------------------------------------------------------------

        @initialize(
            margin=margins,
            specs=st.lists(st.tuples(st.integers(0, 2), durations, max_ages), min_size=1, max_size=3),
        )
        def setup(self, margin: float, specs: list[tuple[int, int, Any]]) -> None:
            self.margin = float(margin)
            provider = STSProvider(boto3_client=client, refresh_margin=margin)
            for index, (role, duration, layer_age) in enumerate(specs):
                params = {"RoleArn": ROLES[role], "RoleSessionName": f"prop-{index}", "DurationSeconds": duration}
                normal = validate_assume_role_params(params)
                self.routes.append(
                    Route(
                        "provider",
                        index,
                        params,
                        (None, None, cache_key_of(normal)),
                        provider,
                        self._provider_call(provider, params),
                    )
                )
                name, namespace = f"e{index}", f"prop-{self.example}-{index}"

                @sts(
                    fetch_data={name: params},
                    boto3_client=client,
                    refresh_margin=margin,
                    max_age=layer_age,
                    cache_key=namespace,
                    disable_prefetch=True,
                    set_to_context=True,
                )
                def handler(event: Any, context: Any, _name: str = name) -> Credentials:
                    prepared = getattr(context, _name)
                    if event["lookup"]:
                        # No time passed since the layer prepared the entry: the same credentials, no call.
                        assert get_credentials(_name) is prepared
                    return prepared

                slot = next(s for s in list(_state.names[name]) if s.layer.options.cache_key == namespace)
                assert slot.provider is not None
                self.routes.append(
                    Route(
                        "decorator",
                        index,
                        params,
                        slot.key,
                        slot.provider,
                        self._handler_call(handler),
                        layer_max_age=_normal(layer_age),
                        slot=slot,
                    )
                )

        @staticmethod
        def _provider_call(provider: STSProvider, params: dict[str, Any]) -> Any:
            role = params["RoleArn"]
            rest = {k: v for k, v in params.items() if k != "RoleArn"}
            return lambda max_age, force: provider.get(role, max_age=max_age, force_fetch=force, **rest)

        @staticmethod
        def _handler_call(handler: Any) -> Any:
            # The handler hands out what the layer prepared (set_to_context). get_credentials is a second
            # look-up at the time the handler runs: after a fetch with fake latency longer than max_age,
            # that look-up finds the entry aged and refreshes again (max_age counts from the request), so
            # it is only checked when no fake time passes during the call.
            return lambda max_age, force: handler({"lookup": world["latency"] == 0}, types.SimpleNamespace())

        # -- the world ------------------------------------------------------------------------

        @rule(seconds=st.integers(1, 600))
        def forward_a_little(self, seconds: int) -> None:
            clock.t += seconds

        @rule(hours=st.integers(1, 48), seconds=st.integers(0, 3599))
        def forward_by_hours(self, hours: int, seconds: int) -> None:
            clock.t += hours * 3600 + seconds

        @rule(seconds=st.integers(1, 120))
        def backwards_a_little(self, seconds: int) -> None:
            clock.t -= seconds

        @rule(
            which=st.integers(0, 5),
            point=st.sampled_from(["refresh", "floor", "retry", "max_age", "expiry"]),
            delta=st.sampled_from([-1.0, -0.5, 0.0, 0.5, 1.0]),
            age=st.sampled_from([1, 30, 299.5, 600, 3600, 7200]),
        )
        def onto_a_boundary(self, which: int, point: str, delta: float, age: float) -> None:
            if not self.model:
                return
            entry = list(self.model.values())[which % len(self.model)]
            base = {
                "refresh": entry.refresh_at,
                "floor": entry.floor_at,
                "retry": entry.retry_at or entry.refresh_at,
                "max_age": entry.fetched_at + age,
                "expiry": entry.expires_at,
            }[point]
            clock.t = base + delta
            self._call(which, None, False)

        @rule(mode=st.sampled_from(OK_MODES * 4 + FAIL_MODES))
        def sts_mode(self, mode: str) -> None:
            self.mode = mode
            params = {"past": ("expired", {"offset": -10}), "floor": ("expired", {"offset": 30})}
            name, extra = params.get(mode, (mode, {}))
            if mode == "slow":
                extra = {"delay": 0.01}
            if mode == "throttle":
                extra = {"n": None}
            proxy.set_mode(name, **extra)

        @rule(
            which=st.integers(0, 5),
            mode=st.sampled_from(FAIL_MODES),
            where=st.floats(0, 1),
            gaps=st.lists(st.sampled_from([0, 1, 4.5, 5, 6, 30, 120]), min_size=1, max_size=4),
        )
        def outage_in_the_refresh_window(self, which: int, mode: str, where: float, gaps: list[float]) -> None:
            """Into an entry's refresh window, STS down, a few calls a few seconds apart."""
            known = [i for i, route in enumerate(self.routes) if route.key in self.model]
            if not known:
                return
            index = known[which % len(known)]
            entry = self.model[self.routes[index].key]
            if entry.refresh_at >= entry.floor_at:
                return
            clock.t = entry.refresh_at + where * (entry.floor_at - entry.refresh_at)
            self.sts_mode(mode)
            for gap in gaps:
                self._call(index, None, False)
                clock.t += gap

        @rule(latency=latencies)
        def sts_latency(self, latency: int) -> None:
            world["latency"] = latency

        @rule()
        def clear(self) -> None:
            clear_caches()
            self.model.clear()

        # -- calls ----------------------------------------------------------------------------

        # Calls are most of the steps: three rules (hypothesis picks among rules evenly), and every
        # clock jump is followed by a call.
        @rule(which=st.integers(0, 5), max_age=max_ages, force=st.booleans())
        def call(self, which: int, max_age: Any, force: bool) -> None:
            self._call(which, max_age, force)

        @rule(seconds=st.sampled_from([0, 0, 1, 4, 5, 6]))
        def call_the_same_again(self, seconds: int) -> None:
            """The last entry again, soon: inside or just past a back-off."""
            clock.t += seconds
            self._call(self.last, self.last_age, False)

        @rule(which=st.integers(0, 5), seconds=st.integers(1, 400))
        def wait_then_call(self, which: int, seconds: int) -> None:
            clock.t += seconds
            self._call(which, None, False)

        def _call(self, which: int, max_age: Any, force: bool) -> None:
            if not self.routes:
                return
            tally["calls"] += 1
            self.last, self.last_age = which, max_age
            route = self.routes[which % len(self.routes)]
            self._forget_evicted()
            age = _normal(max_age) if route.kind == "provider" else route.layer_max_age
            force = force and route.kind == "provider"
            now = clock.t
            entry = self.model.get(route.key)
            caching = age != 0
            before, warned = proxy.requests, warnings.warnings
            issued = set(proxy.issued)
            try:
                result: Credentials | AssumeRoleError = route.call(max_age, force)
            except AssumeRoleError as exc:
                result = exc
            after = clock.t  # the moment the credentials are handed out
            requests = proxy.requests - before

            if entry is not None and caching and not force and now < entry.fresh_until(age):
                note("served fresh from the cache")
                self._expect(result, entry, requests, 0)
            elif (
                entry is not None
                and caching
                and not force
                # An entry the provider evicted (the clock was once past its floor) that the decorator's
                # entry still holds is handed out by the layer until the layer's deadline, its back-off end
                # included, when the clock has come back before that.
                and (not entry.evicted or route.holds(entry.access_key_id))
                and now < entry.floor_at
                and now < entry.retry_at
            ):
                note("served stale in the back-off")
                self._expect(result, entry, requests, 0)
            elif self.mode in OK_MODES:
                assert isinstance(result, Credentials), result
                kept = result.access_key_id in issued
                # A fetch's result replaces the entry (entries are ordered by when their fetch started), so
                # the handler's own get_credentials look-up is a hit: one request, and no more.
                assert requests == 1, (requests, route.kind, now)
                if not kept:  # credentials from this call
                    assert abs(result.expiration.timestamp() - (after + route.duration)) < EPS
                    if caching:
                        note("refreshed")
                        self._learn(route, result, now)
                    else:
                        note("fetched, not cached")
                        assert not caching
                else:
                    note("fetched, a newer entry kept")
                    assert entry is not None
                    assert result.access_key_id == entry.access_key_id
            else:
                assert requests == (0 if self.mode == "refuse" else 1), (requests, self.mode)
                if entry is not None and caching and not force and not entry.evicted and after < entry.floor_at:
                    note("stale on error")
                    self._expect(result, entry, requests, requests)
                    # Not in a back-off (or no call would have been made): a new one starts, with a warning.
                    assert entry.retry_at <= now
                    entry.retry_at = after + BACKOFF_SECONDS
                    assert warnings.warnings == warned + 1
                else:
                    note("failed")
                    assert isinstance(result, AssumeRoleError), result
                    assert result.role_arn == route.params["RoleArn"]
                    assert warnings.warnings == warned
                    if entry is not None and not entry.evicted and after < entry.floor_at:
                        # A failed force_fetch or max_age=0 call raises, and still starts the entry's back-off.
                        entry.retry_at = after + BACKOFF_SECONDS
            if isinstance(result, Credentials):
                self.handed += 1
                left = result.expiration.timestamp() - clock.t
                assert left >= FLOOR_SECONDS, (left, route.kind)
            self._compare(route)

        def _expect(self, result: Any, entry: Expected, requests: int, allowed: int) -> None:
            assert requests == allowed, (requests, allowed)
            assert isinstance(result, Credentials), result
            assert result.access_key_id == entry.access_key_id

        def _learn(self, route: Route, result: Credentials, started: float) -> None:
            actual = route.provider.cache.entries[route.key]
            assert actual.credentials is result or actual.credentials.access_key_id == result.access_key_id
            expires = result.expiration.timestamp()
            life = expires - started
            margin = expires - actual.refresh_at
            low = max(min(self.margin, life / 2), FLOOR_SECONDS)
            high = max(min(self.margin * (1 + JITTER_FRACTION), life / 2), FLOOR_SECONDS)
            assert low - 1e-6 <= margin <= high + 1e-6, (margin, low, high)
            self.model[route.key] = Expected(result.access_key_id, started, expires, actual.refresh_at)

        def _forget_evicted(self) -> None:
            """Entries past their floor are evicted: the model drops those the provider dropped, and only those."""
            self.latest = max(self.latest, clock.t)
            for route in self.routes:
                expected = self.model.get(route.key)
                if expected is not None and route.key not in route.provider.cache.entries:
                    assert expected.floor_at <= self.latest, ("evicted before its floor", route.key)
                    if route.holds(expected.access_key_id):
                        expected.evicted = True  # the layer hands it out until its own deadline, no longer
                        continue
                    note("evicted past the floor")
                    del self.model[route.key]

        def _compare(self, route: Route) -> None:
            self._forget_evicted()
            expected = self.model.get(route.key)
            actual = route.provider.cache.entries.get(route.key)
            if expected is None:
                assert actual is None
                return
            if expected.evicted:
                assert actual is None
                return
            assert actual is not None
            assert actual.credentials.access_key_id == expected.access_key_id
            assert actual.fetched_at == expected.fetched_at
            assert abs(actual.expires_at - expected.expires_at) < EPS
            assert actual.retry_at == expected.retry_at, (actual.retry_at, expected.retry_at)

        @rule(
            which=st.integers(0, 5),
            threads=st.integers(2, 4),
            max_age=max_ages,
            force=st.booleans(),
            go=st.integers(0, 2),
        )
        def concurrent_calls(self, which: int, threads: int, max_age: Any, force: bool, go: int) -> None:
            if not self.routes or go:  # threads are costly: one draw in three runs them
                return
            route = self.routes[which % len(self.routes)]
            self._forget_evicted()
            age = _normal(max_age) if route.kind == "provider" else route.layer_max_age
            force = force and route.kind == "provider"
            tally["concurrent calls"] += threads
            saved, world["latency"] = world["latency"], 0  # the clock stands still while threads run
            now = clock.t
            entry = self.model.get(route.key)
            caching = age != 0
            before = proxy.requests
            barrier = threading.Barrier(threads)
            results: list[Any] = []

            def worker() -> None:
                barrier.wait(timeout=10)
                try:
                    results.append(route.call(max_age, force))
                except AssumeRoleError as exc:
                    results.append(exc)

            pool = [threading.Thread(target=worker) for _ in range(threads)]
            for thread in pool:
                thread.start()
            for thread in pool:
                thread.join(timeout=30)
            world["latency"] = saved
            assert len(results) == threads
            requests = proxy.requests - before
            servable = entry is not None and caching and not force
            if servable and (now < entry.fresh_until(age) or (now < entry.floor_at and now < entry.retry_at)):
                assert requests == 0
                assert all(getattr(r, "access_key_id", None) == entry.access_key_id for r in results)
            elif self.mode in OK_MODES and servable and entry.expires_at <= now + route.duration:
                assert requests == 1, requests  # one refresh, shared
            elif self.mode in OK_MODES and caching and not force and entry is None:
                assert requests == 1, requests  # a cold entry: one fetch, every caller waits on it
            elif self.mode in OK_MODES and (not caching or force):
                assert requests == threads, requests  # no caching, or forced: every caller fetches
            elif self.mode == "refuse":
                assert requests == 0
            elif servable and now < entry.floor_at:
                assert requests == 1, requests  # one failed refresh, then the back-off: the others are served
            else:
                assert 1 <= requests <= threads, requests  # a failure is not cached: a late caller tries again
            for result in results:
                if isinstance(result, Credentials):
                    self.handed += 1
                    assert result.expiration.timestamp() - clock.t >= FLOOR_SECONDS
                    assert result.access_key_id in proxy.issued
                else:
                    assert isinstance(result, AssumeRoleError)
                    # A failure reaches a caller only when no still-valid credentials could serve.
                    assert not (servable and now < entry.floor_at)
            # Learn the entry the threads left behind, after checking it.
            actual = route.provider.cache.entries.get(route.key)
            if actual is None:
                held = self.model.get(route.key)
                if held is not None and route.holds(held.access_key_id):
                    held.evicted = True  # gone from the provider, still handed out by the layer
                else:
                    self.model.pop(route.key, None)
                return
            if entry is None or actual.credentials.access_key_id != entry.access_key_id:
                assert actual.fetched_at == now
                assert abs(actual.expires_at - (now + route.duration)) < EPS
                self._learn(route, actual.credentials, now)
            self.model[route.key].retry_at = actual.retry_at

        @invariant()
        def no_flight_left(self) -> None:
            for route in self.routes:
                assert route.provider.cache.flights == {}

        def check_rule_debug(self):
            pass

        def teardown(self) -> None:
            proxy.set_mode("pass")
            tally["credentials handed out"] += self.handed

    return CacheMachine


#: What the runs did, printed at the end of each test (``pytest -s``): the figures of docs/reliability.md.
STATS: Counter[str] = Counter()


def _run(proxy: Any, monkeypatch: pytest.MonkeyPatch, profile: str) -> None:
    STATS.clear()
    warnings = _Counter()
    logging.getLogger("powertools_sts").addHandler(warnings)
    machine = build_machine(proxy, warnings, monkeypatch)
    try:
        run_state_machine_as_test(machine, settings=settings(settings.get_profile(profile)))
    finally:
        logging.getLogger("powertools_sts").removeHandler(warnings)
        proxy.before_response = None
        proxy.clock = None
        print(f"\nproperty ({profile}): " + ", ".join(f"{k}: {v}" for k, v in sorted(STATS.items())))


def test_never_an_expired_credential(proxy, moto_sts, monkeypatch) -> None:
    """The CI run ("ci" profile): part of ``make test``."""
    _run(proxy, monkeypatch, "ci")


@pytest.mark.soak
@pytest.mark.timeout(3600)
@pytest.mark.skipif(not SOAK, reason="the soak run: make soak (HYPOTHESIS_PROFILE=soak)")
def test_never_an_expired_credential_soak(proxy, moto_sts, monkeypatch) -> None:
    """The long run ("soak" profile): ``make soak``."""
    _run(proxy, monkeypatch, "soak")
