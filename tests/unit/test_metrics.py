"""``sts(..., metrics=...)``: the EMF that Powertools' real Metrics prints, read back from stdout.

STS is moto behind the fault proxy, whose answers expire on the fake clock; the handlers are wrapped
in the real ``log_metrics``, so every assertion is about the EMF blobs an invocation printed.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from aws_lambda_powertools.metrics import EphemeralMetrics, Metrics
from botocore.config import Config

from powertools_sts import AssumeRoleError, ConfigurationError, get_client, get_credentials, sts
from powertools_sts.metrics import (
    ASSUME_ROLE_CALLS,
    ASSUME_ROLE_FAILURES,
    ASSUME_ROLE_LATENCY,
    CREDENTIALS_RETRIED_AFTER_REFUSAL,
    CREDENTIALS_SERVED_STALE,
    MetricsObserver,
)
from powertools_sts.provider import BACKOFF_SECONDS, FLOOR_SECONDS

from ..conftest import OTHER_ROLE, ROLE
from ..reliability.proxy import FaultProxy
from .test_middleware import invoke, returns_credentials, unique

NAMESPACE = "PowertoolsSTSTest"
SERVICE = "reports"
# 299 s left of 3600 s credentials: in the refresh window whatever the jitter (300-375 s), above the floor.
IN_REFRESH_WINDOW = 3600 - 299
NO_METRICS = "No application metrics to publish"


@pytest.fixture
def proxy(moto_sts: Any, clock: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[FaultProxy]:
    """The fault proxy in front of moto, its credentials expiring on the fake clock (set to whole seconds)."""
    clock.time = float(int(clock.time))
    with FaultProxy(moto_sts.url, clock=clock) as fault_proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL_STS", fault_proxy.url)
        yield fault_proxy


@pytest.fixture(autouse=True)
def _powertools_metrics_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("POWERTOOLS_METRICS_DISABLED", "POWERTOOLS_DEV", "POWERTOOLS_METRICS_NAMESPACE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("AWS_LAMBDA_INITIALIZATION_TYPE", raising=False)
    monkeypatch.delenv("AWS_LAMBDA_MAX_CONCURRENCY", raising=False)
    # Metrics keeps its values in class attributes shared by every instance: none from another test.
    Metrics().clear_metrics()
    Metrics().clear_default_dimensions()
    yield
    Metrics().clear_metrics()
    Metrics().clear_default_dimensions()


@pytest.fixture(params=["Metrics", "EphemeralMetrics"])
def metrics(request: pytest.FixtureRequest) -> Metrics | EphemeralMetrics:
    kind = Metrics if request.param == "Metrics" else EphemeralMetrics
    return kind(namespace=NAMESPACE, service=SERVICE)


def quick() -> Config:
    """One attempt, short timeouts: a fault fails the fetch at once."""
    return Config(retries={"mode": "standard", "total_max_attempts": 1}, connect_timeout=1, read_timeout=2)


def blobs(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    """The EMF blobs printed on stdout since the last call."""
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]


def values(blob: dict[str, Any]) -> dict[str, list[float]]:
    """Metric name to its values, for every metric the blob defines."""
    (directive,) = blob["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == NAMESPACE
    return {metric["Name"]: blob[metric["Name"]] for metric in directive["Metrics"]}


def units(blob: dict[str, Any]) -> dict[str, str]:
    (directive,) = blob["_aws"]["CloudWatchMetrics"]
    return {metric["Name"]: metric["Unit"] for metric in directive["Metrics"]}


def dimensions(blob: dict[str, Any]) -> dict[str, str]:
    """The blob's dimensions and their values (one dimension set)."""
    (directive,) = blob["_aws"]["CloudWatchMetrics"]
    (names,) = directive["Dimensions"]
    return {name: blob[name] for name in names}


def one_latency(found: dict[str, list[float]]) -> float:
    (latency,) = found.pop(ASSUME_ROLE_LATENCY)
    assert 0 < latency < 10_000
    return latency


def handler_with(metrics: Any, name: str, **options: Any) -> Any:
    """A handler reading ``name``, under ``log_metrics`` (outermost) and ``sts``."""
    layer = sts(fetch_data={name: ROLE}, boto_config=quick(), metrics=metrics, **options)
    return metrics.log_metrics(layer(returns_credentials(name)))


# -- the metrics of each kind of invocation -------------------------------------------------------------


def test_fetch_hit_stale_floor_and_recovery(proxy, clock, metrics, capsys):
    name = unique("reports")
    handler = handler_with(metrics, name, disable_prefetch=True)
    expiry = clock.time + 3600

    # A fetch: one call, and how long it took.
    first = invoke(handler)
    (blob,) = blobs(capsys)
    found = values(blob)
    one_latency(found)
    assert found == {ASSUME_ROLE_CALLS: [1.0]}
    assert units(blob) == {ASSUME_ROLE_CALLS: "Count", ASSUME_ROLE_LATENCY: "Milliseconds"}
    assert dimensions(blob) == {"service": SERVICE}  # no entry, no role ARN
    assert proxy.requests == 1

    # A cache hit: nothing at all to publish.
    with pytest.warns(UserWarning, match=NO_METRICS):
        assert invoke(handler) is first
    assert blobs(capsys) == []
    assert proxy.requests == 1

    # In the refresh window with STS refusing: the cached credentials serve.
    clock.time = expiry - 299
    proxy.set_mode("denied")
    assert invoke(handler) is first
    (blob,) = blobs(capsys)
    assert values(blob) == {ASSUME_ROLE_CALLS: [1.0], ASSUME_ROLE_FAILURES: [1.0], CREDENTIALS_SERVED_STALE: [1.0]}
    assert proxy.requests == 2

    # Within the back-off the stale credentials serve without asking STS: no metric.
    clock.advance(BACKOFF_SECONDS / 2)
    with pytest.warns(UserWarning, match=NO_METRICS):
        assert invoke(handler) is first
    assert blobs(capsys) == []
    assert proxy.requests == 2

    # At the floor, STS unreachable: the invocation fails, and log_metrics still flushes.
    clock.time = expiry - FLOOR_SECONDS
    proxy.set_mode("refuse")
    with pytest.raises(AssumeRoleError):
        invoke(handler)
    (blob,) = blobs(capsys)
    assert values(blob) == {ASSUME_ROLE_CALLS: [1.0], ASSUME_ROLE_FAILURES: [1.0]}

    # STS back: a fetch again.
    proxy.set_mode("pass")
    assert invoke(handler) is not first
    found = values(*blobs(capsys))
    one_latency(found)
    assert found == {ASSUME_ROLE_CALLS: [1.0]}


def test_a_first_fetch_that_fails_is_a_failure_and_not_stale(proxy, clock, metrics, capsys):
    name = unique("reports")
    handler = handler_with(metrics, name, disable_prefetch=True)
    proxy.set_mode("http503")
    with pytest.raises(AssumeRoleError):
        invoke(handler)
    (blob,) = blobs(capsys)
    assert values(blob) == {ASSUME_ROLE_CALLS: [1.0], ASSUME_ROLE_FAILURES: [1.0]}


def test_each_assume_role_counts_once(proxy, clock, capsys):
    metrics = Metrics(namespace=NAMESPACE, service=SERVICE)
    names = [unique("a"), unique("b"), unique("c")]
    # a and c have the same role and parameters: one AssumeRole serves both.
    fetch_data = {names[0]: ROLE, names[1]: OTHER_ROLE, names[2]: ROLE}
    layer = sts(fetch_data=fetch_data, disable_prefetch=True, metrics=metrics)
    handler = metrics.log_metrics(layer(returns_credentials(*names)))
    invoke(handler)  # three entries due at once: fetched concurrently, on worker threads
    assert proxy.requests == 2
    found = values(*blobs(capsys))
    assert found[ASSUME_ROLE_CALLS] == [1.0, 1.0]
    assert len(found[ASSUME_ROLE_LATENCY]) == 2
    assert set(found) == {ASSUME_ROLE_CALLS, ASSUME_ROLE_LATENCY}


def test_the_users_own_metrics_share_the_blob(proxy, clock, capsys):
    metrics = Metrics(namespace=NAMESPACE, service=SERVICE)
    name = unique("reports")

    @metrics.log_metrics
    @sts(fetch_data={name: ROLE}, disable_prefetch=True, metrics=metrics)
    def handler(event, context):
        metrics.add_metric(name="ReportsWritten", unit="Count", value=1)

    invoke(handler)
    found = values(*blobs(capsys))
    assert set(found) == {"ReportsWritten", ASSUME_ROLE_CALLS, ASSUME_ROLE_LATENCY}
    invoke(handler)
    assert values(*blobs(capsys)) == {"ReportsWritten": [1.0]}


# -- the entry as a dimension ----------------------------------------------------------------------------


def test_entry_dimension_prints_a_blob_per_attempt(proxy, clock, capsys):
    metrics = Metrics(namespace=NAMESPACE, service=SERVICE)
    metrics.set_default_dimensions(environment="test")
    names = sorted([unique("a"), unique("b")])
    layer = sts(
        fetch_data={names[0]: ROLE, names[1]: OTHER_ROLE},
        boto_config=quick(),
        disable_prefetch=True,
        metrics=metrics,
        metrics_entry_dimension=True,
    )
    handler = metrics.log_metrics(layer(returns_credentials(*names)))
    expiry = clock.time + 3600

    invoke(handler)
    printed = blobs(capsys)
    per_entry = sorted((blob for blob in printed if "entry" in blob), key=lambda blob: blob["entry"])
    (aggregate,) = [blob for blob in printed if "entry" not in blob]
    assert [dimensions(blob) for blob in per_entry] == [
        {"environment": "test", "service": SERVICE, "entry": name} for name in names
    ]
    for blob in per_entry:
        found = values(blob)
        one_latency(found)
        assert found == {ASSUME_ROLE_CALLS: [1.0]}
    # The metrics without the entry are there too: an alarm on them works whatever the option.
    assert dimensions(aggregate) == {"environment": "test", "service": SERVICE}
    assert values(aggregate)[ASSUME_ROLE_CALLS] == [1.0, 1.0]
    assert ROLE not in json.dumps(printed)
    assert OTHER_ROLE not in json.dumps(printed)

    with pytest.warns(UserWarning, match=NO_METRICS):
        invoke(handler)
    assert blobs(capsys) == []

    clock.time = expiry - 299
    proxy.set_mode("denied")
    invoke(handler)
    printed = blobs(capsys)
    assert sorted(blob.get("entry", "") for blob in printed) == ["", *names]
    for blob in printed:
        assert values(blob) == {
            ASSUME_ROLE_CALLS: [1.0] if "entry" in blob else [1.0, 1.0],
            ASSUME_ROLE_FAILURES: [1.0] if "entry" in blob else [1.0, 1.0],
            CREDENTIALS_SERVED_STALE: [1.0] if "entry" in blob else [1.0, 1.0],
        }


# -- the prefetch at INIT ----------------------------------------------------------------------------------


@pytest.mark.parametrize("per_entry", [False, True], ids=["aggregate", "entry-dimension"])
def test_a_prefetch_is_flushed_with_the_first_invocation(proxy, clock, capsys, monkeypatch, per_entry):
    # Under provisioned concurrency, applying sts(...) waits for the prefetch: it has landed on return.
    monkeypatch.setenv("AWS_LAMBDA_INITIALIZATION_TYPE", "provisioned-concurrency")
    metrics = Metrics(namespace=NAMESPACE, service=SERVICE)
    name = unique("reports")
    handler = handler_with(metrics, name, metrics_entry_dimension=per_entry)
    assert proxy.requests == 1
    # Nothing is printed nor added at INIT: the user's Metrics are touched on an invocation's thread only.
    assert blobs(capsys) == []
    assert metrics.metric_set == {}

    invoke(handler)
    assert proxy.requests == 1
    printed = blobs(capsys)
    if per_entry:
        (blob,) = [blob for blob in printed if "entry" in blob]
        assert values(blob)[ASSUME_ROLE_CALLS] == [1.0]
    found = values(*[blob for blob in printed if "entry" not in blob])
    one_latency(found)
    assert found == {ASSUME_ROLE_CALLS: [1.0]}


class ThreadRecordingMetrics(Metrics):
    """The user's real Powertools Metrics, recording on which thread each metric is added."""

    def add_metric(self, *args: Any, **kwargs: Any) -> None:
        self.threads.append(threading.current_thread())
        super().add_metric(*args, **kwargs)


def test_metrics_are_added_on_the_invocation_thread_only_and_a_background_fetch_at_the_next_invocation(
    proxy, clock, capsys
):
    # Issue 18, item 7: the prefetch and the refresh of several due entries run on other threads, and
    # Powertools Metrics are not thread-safe: log_metrics flushes on the invocation's thread unguarded.
    metrics = ThreadRecordingMetrics(namespace=NAMESPACE, service=SERVICE)
    metrics.threads = []
    names = [unique("a"), unique("b")]
    layer = sts(fetch_data={names[0]: ROLE, names[1]: OTHER_ROLE}, boto_config=quick(), metrics=metrics)
    handler = metrics.log_metrics(layer(returns_credentials(*names)))
    # The prefetch (two background threads) lands: nothing is added to the user's Metrics meanwhile.
    for _ in range(200):
        if proxy.requests == 2 and not [t for t in threading.enumerate() if t.name == "powertools-sts-prefetch"]:
            break
        time.sleep(0.01)
    assert proxy.requests == 2
    assert metrics.threads == []
    assert metrics.metric_set == {}

    invoke(handler)  # the prefetch's measurements are added at this invocation, not lost
    found = values(*blobs(capsys))
    assert found[ASSUME_ROLE_CALLS] == [1.0, 1.0]
    # Both entries due at once: refreshed on two worker threads, added on the invocation's.
    clock.time += 3600 - 299
    invoke(handler)
    assert proxy.requests == 4
    assert values(*blobs(capsys))[ASSUME_ROLE_CALLS] == [1.0, 1.0]
    assert set(metrics.threads) == {threading.main_thread()}


class RaisingObserver:
    def refreshed(self, event: Any) -> None:
        raise RuntimeError("an observer's bug")

    def retried(self, entry: Any, role_arn: str) -> None:
        raise RuntimeError("an observer's bug")


def test_one_failing_observer_does_not_silence_the_others(caplog):
    # Issue 18, item 8 (end to end with a failing OpenTelemetry pipeline: tests/integration/test_otel.py).
    from powertools_sts.events import Deferred, Refresh

    metrics = EphemeralMetrics(namespace=NAMESPACE, service=SERVICE)
    deferred = Deferred([RaisingObserver(), MetricsObserver(metrics)])
    deferred.refreshed(Refresh("reports", ROLE, "fetched", 0.01, 3540.0, None))
    deferred.retried("reports", ROLE)
    deferred.deliver()
    assert sorted(metrics.metric_set) == [ASSUME_ROLE_CALLS, ASSUME_ROLE_LATENCY, CREDENTIALS_RETRIED_AFTER_REFUSAL]
    assert caplog.text.count("Observer RaisingObserver of powertools_sts failed") == 2


# -- retried after a refusal -------------------------------------------------------------------------------


@pytest.mark.parametrize("per_entry", [False, True], ids=["aggregate", "entry-dimension"])
def test_a_retry_after_a_refusal_counts(capsys, per_entry):
    metrics = EphemeralMetrics(namespace=NAMESPACE, service=SERVICE)
    MetricsObserver(metrics, entry_dimension=per_entry).retried("reports", ROLE)
    printed = blobs(capsys)
    metrics.flush_metrics()
    (aggregate,) = blobs(capsys)
    assert values(aggregate) == {CREDENTIALS_RETRIED_AFTER_REFUSAL: [1.0]}
    if per_entry:
        (blob,) = printed
        assert dimensions(blob) == {"service": SERVICE, "entry": "reports"}
        assert values(blob) == {CREDENTIALS_RETRIED_AFTER_REFUSAL: [1.0]}
    else:
        assert printed == []


def test_a_healed_call_counts_its_retry_and_its_refetch(moto_sts, monkeypatch, capsys):
    # S3 behind the healing tests' refusing proxy: the entry's first credentials are refused once.
    from .test_healing import EXPIRED, RefusingProxy

    refusing = RefusingProxy(moto_sts.url)
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", refusing.url)
    metrics = Metrics(namespace=NAMESPACE, service=SERVICE)
    name, bucket = unique("reports"), unique("bucket")

    @metrics.log_metrics
    @sts(fetch_data={name: ROLE}, disable_prefetch=True, metrics=metrics)
    def handler(event, context):
        s3 = get_client(name, "s3")
        s3.create_bucket(Bucket=bucket)
        refusing.revoked[get_credentials(name).access_key_id] = EXPIRED
        s3.put_object(Bucket=bucket, Key="k", Body=b"healed")

    try:
        invoke(handler)
    finally:
        refusing.close()
    found = values(*blobs(capsys))
    assert len(found.pop(ASSUME_ROLE_LATENCY)) == 2
    assert found == {ASSUME_ROLE_CALLS: [1.0, 1.0], CREDENTIALS_RETRIED_AFTER_REFUSAL: [1.0]}


# -- options refused when sts(...) is applied ------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [NAMESPACE, {"namespace": NAMESPACE}, object(), Metrics, EphemeralMetrics, True],
    ids=["str", "dict", "object", "Metrics-class", "EphemeralMetrics-class", "bool"],
)
def test_a_bad_metrics_value_is_refused_at_apply(moto_sts, value):
    with pytest.raises(ConfigurationError, match=r"^metrics must be an instance"):
        sts(fetch_data={unique(): ROLE}, metrics=value)
    assert moto_sts.assume_role_calls == 0


def test_metrics_without_a_namespace_are_refused_unless_disabled(moto_sts, monkeypatch):
    with pytest.raises(ConfigurationError, match=r"metrics has no namespace.*POWERTOOLS_METRICS_NAMESPACE"):
        sts(fetch_data={unique(): ROLE}, metrics=Metrics())
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", NAMESPACE)
    sts(fetch_data={unique(): ROLE}, metrics=Metrics(), disable_prefetch=True)
    monkeypatch.delenv("POWERTOOLS_METRICS_NAMESPACE")
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    sts(fetch_data={unique(): ROLE}, metrics=EphemeralMetrics(), disable_prefetch=True)
    assert moto_sts.assume_role_calls == 0


def test_metrics_entry_dimension_is_checked(moto_sts):
    with pytest.raises(ConfigurationError, match="metrics_entry_dimension must be True or False"):
        sts(fetch_data={unique(): ROLE}, metrics=Metrics(namespace=NAMESPACE), metrics_entry_dimension="yes")
    with pytest.raises(ConfigurationError, match=r"metrics_entry_dimension=True needs metrics="):
        sts(fetch_data={unique(): ROLE}, metrics_entry_dimension=True)
    assert moto_sts.assume_role_calls == 0
