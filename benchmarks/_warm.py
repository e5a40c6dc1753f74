"""(1) Warm overhead per invocation, each sts variant in a process of its own, and (2) getting a client."""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import boto3
from _common import Context, roles, rotated, summary
from _loopback import STSProxy
from aws_lambda_powertools.metrics import EphemeralMetrics
from aws_lambda_powertools.middleware_factory import lambda_handler_decorator
from aws_lambda_powertools.utilities.parameters.base import BaseProvider
from botocore.config import Config

from powertools_sts import clear_caches, get_client, get_credentials, sts

BENCHMARKS = os.path.dirname(os.path.abspath(__file__))

EVENT: dict[str, Any] = {"path": "/orders", "httpMethod": "GET"}


def make_context() -> Any:
    # tenant_id: what Lambda's tenant isolation mode sets; only the per-tenant variant reads it.
    return SimpleNamespace(
        function_name="bench", aws_request_id="00000000-0000-0000-0000-000000000000", tenant_id="bench-tenant"
    )


def bare(event: Any, context: Any) -> Any:
    return None


@lambda_handler_decorator
def noop(handler: Callable[..., Any], event: Any, context: Any) -> Any:
    return handler(event, context)


class TrivialProvider(BaseProvider):  # type: ignore[misc]
    """A Powertools parameter provider whose fetch returns a constant: ``get`` measures its cache."""

    def _get(self, name: str, **sdk_options: Any) -> str:
        return "value"

    def _get_multiple(self, path: str, **sdk_options: Any) -> dict[str, str]:
        return {}


def _per_call_us(handler: Callable[..., Any], calls: int, context: Any, repeat: int) -> float:
    """The best of ``repeat`` back-to-back batches of ``calls`` invocations (the best drops the batches another tenant
    of the machine interrupted; the rounds still show the spread), in us per invocation."""
    event, loop, best = EVENT, range(calls), float("inf")
    for _ in range(repeat):
        start = time.perf_counter_ns()
        for _ in loop:
            handler(event, context)
        best = min(best, time.perf_counter_ns() - start)
    return best / calls / 1000.0


WARM_VARIANTS = {
    "bare": "bare handler",
    "noop": "no-op lambda_handler_decorator middleware",
    "sts_1": "sts, 1 fresh entry",
    "sts_10": "sts, 10 fresh entries",
    "sts_1_shared_name": "sts, 1 fresh entry whose name another layer also uses",
    "sts_1_metrics": "sts, 1 fresh entry, metrics= a Powertools EphemeralMetrics",
    "sts_1_otel": "sts, 1 fresh entry, aws_client_capture='opentelemetry'",
    "sts_tenant": "sts, 1 fresh per-tenant entry, the invocation's context.tenant_id cached",
    "provider_get": "Powertools BaseProvider.get cache hit",
    "assume_role_each": "sts_client.assume_role on every invocation (moto)",
}


# Each sts variant runs in a process of its own beside the bare handler and the no-op middleware, as a Lambda
# function's one handler does. The shared-name variant has two layers with one name in its process.
PROCESSES = (("sts_1",), ("sts_10",), ("sts_1_shared_name",), ("sts_1_metrics",), ("sts_1_otel",), ("sts_tenant",))
PROCESSES += (("provider_get", "assume_role_each"),)
KEPT: list[Any] = []


def build_warm_handlers(
    variants: tuple[str, ...], sts_client: Any, direct_client: Any
) -> dict[str, Callable[..., Any]]:
    """The bare and no-op handlers and ``variants``; entry names unique in the process but in the shared-name one."""
    arn = roles(1)["entry0"]

    def layer(fetch_data: dict[str, str], cache_key: str, **options: Any) -> Any:
        return sts(fetch_data=fetch_data, boto3_client=sts_client, cache_key=cache_key, **options)

    def build(name: str) -> Callable[..., Any]:
        if name == "sts_1_shared_name":
            # The other layer with that name, kept alive: two layers in the process link into the context.
            KEPT.append(layer({"shared": roles(2)["entry1"]}, "bench-warm-shared-other")(bare))
            return layer({"shared": arn}, "bench-warm-shared")(bare)  # type: ignore[no-any-return]
        if name == "sts_1_metrics":
            metrics = EphemeralMetrics(namespace="bench", service="bench")
            return layer(roles(1, "warm_metrics"), "bench-warm-m", metrics=metrics)(bare)  # type: ignore[no-any-return]
        if name == "sts_1_otel":
            try:  # OpenTelemetry capture, or a plain layer when the otel extra is missing
                import opentelemetry.instrumentation.botocore  # noqa: F401

                otel: dict[str, Any] = {"aws_client_capture": "opentelemetry"}
            except ImportError:
                otel = {}
            return layer(roles(1, "warm_otel"), "bench-warm-o", **otel)(bare)  # type: ignore[no-any-return]
        if name == "sts_tenant":
            # A per-tenant entry: the tenant in a session tag; every invocation is of the context's tenant.
            tagged = {
                "warm_tenant": lambda tenant_id: {"RoleArn": arn, "Tags": [{"Key": "tenant", "Value": tenant_id}]}
            }
            return layer(tagged, "bench-warm-tenant")(bare)  # type: ignore[no-any-return]
        if name == "provider_get":
            provider = TrivialProvider()
            return lambda event, context: provider.get("name")
        if name == "assume_role_each":
            return lambda event, context: direct_client.assume_role(RoleArn=arn, RoleSessionName="bench")
        count = int(name.removeprefix("sts_"))
        return layer(roles(count, f"warm_{count}"), f"bench-warm-{count}")(bare)  # type: ignore[no-any-return]

    handlers = {"bare": bare, "noop": noop(bare), **{name: build(name) for name in variants}}
    context = make_context()
    for handler in handlers.values():  # the first invocation waits for the prefetch; then all are warm
        handler(EVENT, context)
    return handlers


def child(arguments: str) -> None:
    """In a process of its own: time the bare handler, the no-op middleware and the variants; print JSON."""
    plan = json.loads(arguments)
    sts_client = boto3.client("sts", endpoint_url=plan["proxy"])
    calls = [0]
    sts_client.meta.events.register("before-call.sts.*", lambda **_: calls.__setitem__(0, calls[0] + 1))
    handlers = build_warm_handlers(tuple(plan["variants"]), sts_client, boto3.client("sts", endpoint_url=plan["moto"]))
    context, names = make_context(), list(handlers)
    per_call: dict[str, list[float]] = {name: [] for name in names}
    sts_during = {name: 0 for name in names if name.startswith("sts_")}
    gc.collect()
    for index in range(plan["rounds"]):
        gc.disable()
        try:
            for name in rotated(names, index):
                before, each = calls[0], name == "assume_role_each"
                count = plan["sts_calls"] if each else plan["calls"]
                per_call[name].append(_per_call_us(handlers[name], count, context, 1 if each else 3))
                if name in sts_during:
                    sts_during[name] += calls[0] - before
        finally:
            gc.enable()
    print(json.dumps({"per_call_us": per_call, "sts_during": sts_during}))


def measure_warm(ctx: Context, *, rounds: int, calls: int, sts_calls: int) -> dict[str, Any]:
    """Per process, round and variant in turn (order rotated); overhead = variant minus bare of that round."""
    per_call: dict[str, list[float]] = {}
    overhead: dict[str, list[float]] = {}
    ratio: dict[str, list[float]] = {}
    sts_during: dict[str, int] = {}
    with STSProxy(ctx.moto) as proxy:
        # The sts layers sign through the proxy; the assume_role-per-invocation handler talks to moto directly.
        for variants in PROCESSES:
            plan = {"variants": variants, "rounds": rounds, "calls": calls, "sts_calls": sts_calls}
            plan |= {"proxy": proxy.url, "moto": ctx.moto}
            env = dict(ctx.env, PYTHONPATH=os.pathsep.join(filter(None, (BENCHMARKS, ctx.env.get("PYTHONPATH")))))
            code = "import sys, _warm; _warm.child(sys.argv[1])"
            done = subprocess.run(
                [sys.executable, "-c", code, json.dumps(plan)], env=env, capture_output=True, text=True, check=True
            )
            run = json.loads(done.stdout.splitlines()[-1])
            times, sts_during = run["per_call_us"], sts_during | run["sts_during"]
            base = times["bare"]
            for name in ("noop", *variants):
                over = [v - b for v, b in zip(times[name], base, strict=True)]
                noop_over = [v - b for v, b in zip(times["noop"], base, strict=True)]
                overhead.setdefault(name, []).extend(over)
                if name != "noop":
                    ratio[name] = [v / o for v, o in zip(over, noop_over, strict=True)]
            for name in ("bare", "noop", *variants):
                per_call.setdefault(name, []).extend(times[name])
    return {
        "labels": WARM_VARIANTS,
        "rounds": rounds,
        "processes": [list(variants) for variants in PROCESSES],
        "calls_per_round": calls,
        "sts_calls_per_round": sts_calls,
        "per_call_us": {name: summary(values) for name, values in per_call.items()},
        "overhead_us": {name: summary(values) for name, values in overhead.items()},
        "ratio_to_noop": {name: summary(values) for name, values in ratio.items()},
        "sts_calls_during_timing": sts_during,  # AssumeRole requests the sts layers made while timed
        "raw": {"per_call_us": per_call},
    }


def measure_clients(ctx: Context, *, rounds: int, calls: int, reused: int, new: int) -> dict[str, Any]:
    """get_client warm against a new Session plus client, and a client on a reused Session."""
    counts = {"get_client": calls, "session_client": reused, "new_session_client": new}
    results: dict[str, list[float]] = {name: [] for name in counts}
    with STSProxy(ctx.moto) as proxy:
        client = boto3.client("sts", endpoint_url=proxy.url)

        @sts(fetch_data=roles(1, "clients"), boto3_client=client, cache_key="bench-clients")
        def handler(event: Any, context: Any) -> Any:
            creds = get_credentials("clients0")
            session = boto3.Session(**creds.as_boto3_kwargs())
            get_client("clients0", "s3"), session.client("s3")  # built once, before the rounds
            for index in range(rounds):
                for name in rotated(list(results), index):
                    start = time.perf_counter_ns()
                    if name == "get_client":
                        for _ in range(calls):
                            get_client("clients0", "s3")
                    elif name == "session_client":
                        for _ in range(reused):
                            session.client("s3")
                    else:
                        for _ in range(new):
                            boto3.Session(**creds.as_boto3_kwargs()).client("s3")
                    results[name].append((time.perf_counter_ns() - start) / counts[name] / 1000.0)
            return get_client("clients0", "s3") is get_client("clients0", "s3")

        same_object = handler(EVENT, make_context())
    fast = results["get_client"]
    return {
        "rounds": rounds,
        "calls_per_round": counts,
        "per_call_us": {name: summary(values) for name, values in results.items()},
        "speedup_of_get_client": {
            name: summary(o / f for o, f in zip(results[name], fast, strict=True))
            for name in ("session_client", "new_session_client")
        },
        "get_client_returns_same_object": same_object,
        "raw": {"per_call_us": results},
    }


def _timed_us(calls_of: Callable[[int], None], calls: int, budget_s: float) -> tuple[float, int]:
    """Microseconds per call of ``calls_of(n)`` (n calls in a row), over ``calls`` calls or ``budget_s`` at most, in
    batches doubling in size: a variant of milliseconds per call stops near the budget, a fast one runs long batches."""
    done, spent, batch, budget_ns = 0, 0, 1, budget_s * 1e9
    while done < calls:
        count = min(batch, calls - done)
        if done and spent + spent / done * count > budget_ns:
            break
        start = time.perf_counter_ns()
        calls_of(count)
        spent += time.perf_counter_ns() - start
        done, batch = done + count, batch * 2
    return spent / done / 1000.0, done


INLINE_VARIANTS = {
    "get_client": "`get_client(name, 's3')`, warm",
    "shared_config": "`get_client(name, 's3', config=SHARED)`, one Config built at import",
    "inline_config": "`get_client(name, 's3', config=Config(retries={'max_attempts': 2}))`, the Config built per call",
    "config_alone": "`Config(retries={'max_attempts': 2})` alone",
}


def _inline_loops(name: str) -> dict[str, Callable[[int], None]]:
    """A loop of n calls per variant, each written out: a call through a lambda would add its own cost."""
    shared = Config(retries={"max_attempts": 2})

    def plain(count: int) -> None:
        for _ in range(count):
            get_client(name, "s3")

    def shared_config(count: int) -> None:
        for _ in range(count):
            get_client(name, "s3", config=shared)

    def inline(count: int) -> None:
        for _ in range(count):
            get_client(name, "s3", config=Config(retries={"max_attempts": 2}))

    def config_alone(count: int) -> None:
        for _ in range(count):
            Config(retries={"max_attempts": 2})

    return {"get_client": plain, "shared_config": shared_config, "inline_config": inline, "config_alone": config_alone}


def measure_inline_config(ctx: Context, *, rounds: int, calls: int, budget_s: float) -> dict[str, Any]:
    """get_client with a Config written inline against get_client without, and the Config's own cost."""
    names = list(INLINE_VARIANTS)
    results: dict[str, list[float]] = {name: [] for name in names}
    counts: dict[str, list[int]] = {name: [] for name in names}

    client = boto3.client("sts", endpoint_url=ctx.moto)

    @sts(fetch_data=roles(1, "inline"), boto3_client=client, cache_key="bench-inline-config")
    def handler(event: Any, context: Any) -> tuple[int, int]:
        loops = _inline_loops("inline0")
        for loop in loops.values():  # the first client of each kind is built here, before the rounds
            loop(1)
        for index in range(rounds):
            for name in rotated(names, index):
                per_call, done = _timed_us(loops[name], calls, budget_s)
                results[name].append(per_call)
                counts[name].append(done)
        # Distinct clients returned by up to 1,000 inline-Config calls (references kept: no id is reused).
        seen: dict[int, Any] = {}
        deadline, done = time.perf_counter() + budget_s, 0
        while done < min(calls, 1000) and time.perf_counter() < deadline:
            client = get_client("inline0", "s3", config=Config(retries={"max_attempts": 2}))
            seen[id(client)], done = client, done + 1
        return len(seen), done

    try:
        built, calls_counted = handler(EVENT, make_context())
    finally:
        clear_caches()  # a client per call would otherwise stay in memory for the rest of the benchmark
    # The package's share: the inline call less the Config it is given, per round; "as fast as without": against
    # the same call with a Config built once, at import.
    share = [i - c for i, c in zip(results["inline_config"], results["config_alone"], strict=True)]
    return {
        "labels": INLINE_VARIANTS,
        "rounds": rounds,
        "calls_per_round": calls,
        "budget_s": budget_s,
        "calls_done": {name: summary(values) for name, values in counts.items()},
        "per_call_us": {name: summary(values) for name, values in results.items()},
        "package_share_us": summary(share),
        "share_over_get_client": summary(s / g for s, g in zip(share, results["shared_config"], strict=True)),
        "clients_built": built,
        "calls_counted": calls_counted,
        "raw": {"per_call_us": results, "calls_done": counts},
    }
