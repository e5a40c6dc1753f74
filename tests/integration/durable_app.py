"""Durable handlers for test_durable.py, each with an ``sts`` layer of one entry (``ledger`` unless told).

The tests import them and run them beside a second ``sts`` layer; ``python durable_app.py SCENARIO``
runs one on the SDK's local runner in a fresh interpreter, where its layer is alone in its process, and prints
what it saw as JSON. ``AWS_ENDPOINT_URL_STS`` points at moto, as in the tests. Each builder takes
``sts``'s options, and appends to ``seen`` a line per run of the handler and of a step's body.

Scenarios:
    replay      two steps around a wait: the handler is replayed after it
    branches    a step in each branch of a map and of a parallel
    handed      the branches of a map use a client the handler took
    wrong       ``@sts`` outside ``@durable_execution``: a step reads the entry
"""

from __future__ import annotations

import gc
import json
import sys
import threading
from collections.abc import Callable
from typing import Any

import boto3
from aws_durable_execution_sdk_python import DurableContext, StepContext, durable_execution
from aws_durable_execution_sdk_python.config import Duration
from aws_durable_execution_sdk_python_testing.runner import DurableFunctionTestResult, DurableFunctionTestRunner

from powertools_sts import _state, get_client, get_credentials, sts

ROLE = "arn:aws:iam::111122223333:role/reports"


def identity(name: str) -> dict[str, Any]:
    """Who the entry's credentials are, asked twice: through get_client, and through get_credentials."""
    client = get_client(name, "sts")
    creds = get_credentials(name)
    plain = boto3.client("sts", **creds.as_boto3_kwargs())
    return {
        "key": creds.access_key_id,  # not a secret: CloudTrail records it
        "arn": client.get_caller_identity()["Arn"],
        "arn_of_credentials": plain.get_caller_identity()["Arn"],
        "thread": threading.current_thread().name,
        # Whether this thread runs in a context where an sts layer linked itself (names.py).
        "in_context": _state.invocation.get() is not None,
    }


def replay(seen: list[str], name: str = "ledger", **options: Any) -> Callable[..., Any]:
    """Two steps around a wait: the handler ends at the wait, and is replayed after it."""

    @durable_execution
    @sts(fetch_data={name: ROLE}, **options)
    def handler(event: dict[str, Any], context: DurableContext) -> dict[str, Any]:
        seen.append(f"handler on {threading.current_thread().name}")

        def before(step: StepContext) -> dict[str, Any]:
            seen.append("before")
            return identity(name)

        def after(step: StepContext) -> dict[str, Any]:
            seen.append("after")
            return identity(name)

        first = context.step(before, name="before")
        context.wait(Duration.from_minutes(10), name="pause")
        return {"before": first, "after": context.step(after, name="after")}

    return handler


def branches(seen: list[str], name: str = "ledger", **options: Any) -> Callable[..., Any]:
    """A step in each branch of a map over three items and of a parallel of two."""

    def branch(context: DurableContext, label: str) -> dict[str, Any]:
        seen.append(f"branch {label} on {threading.current_thread().name}")
        return context.step(lambda step: identity(name), name=f"identity {label}")

    @durable_execution
    @sts(fetch_data={name: ROLE}, **options)
    def handler(event: dict[str, Any], context: DurableContext) -> dict[str, Any]:
        seen.append(f"handler on {threading.current_thread().name}")
        mapped = context.map(["a", "b", "c"], lambda child, item, index, items: branch(child, item), name="map")
        parallel = context.parallel([lambda child: branch(child, "x"), lambda child: branch(child, "y")], name="par")
        return {
            "map": mapped.get_results(),
            "parallel": parallel.get_results(),
            "errors": [error.message for error in [*mapped.get_errors(), *parallel.get_errors()] if error is not None],
        }

    return handler


def handed(seen: list[str], name: str = "ledger", **options: Any) -> Callable[..., Any]:
    """The branches of a map use a client the handler took, on its own thread, before the map."""

    @durable_execution
    @sts(fetch_data={name: ROLE}, **options)
    def handler(event: dict[str, Any], context: DurableContext) -> dict[str, Any]:
        seen.append(f"handler on {threading.current_thread().name}")
        client = get_client(name, "sts")  # its credentials refresh themselves, in any thread

        def branch(child: DurableContext, item: str) -> str:
            arn: str = child.step(lambda step: client.get_caller_identity()["Arn"], name=f"identity {item}")
            return arn

        mapped = context.map(["a", "b"], lambda child, item, index, items: branch(child, item), name="map")
        return {"map": mapped.get_results(), "errors": [error.message for error in mapped.get_errors() if error]}

    return handler


def wrong(seen: list[str], name: str = "ledger", **options: Any) -> Callable[..., Any]:
    """``@sts`` outside ``@durable_execution``: the layer runs on the invoking thread, the steps on the SDK's."""

    @sts(fetch_data={name: ROLE}, **options)
    @durable_execution
    def handler(event: dict[str, Any], context: DurableContext) -> dict[str, Any]:
        seen.append(f"handler on {threading.current_thread().name}")
        return context.step(lambda step: identity(name), name="identity")

    return handler


SCENARIOS = {"replay": replay, "branches": branches, "handed": handed, "wrong": wrong}


def run(handler: Callable[..., Any]) -> DurableFunctionTestResult:
    """Run ``handler`` to its end on the SDK's local runner (waits are skipped, not slept)."""
    with DurableFunctionTestRunner(handler=handler) as runner:
        return runner.run(input=json.dumps({"day": "2026-12-01"}), execution_timeout=60)


if __name__ == "__main__":
    seen: list[str] = []
    handler = SCENARIOS[sys.argv[1]](seen)
    gc.collect()
    result = run(handler)
    error = result.error.message if result.error is not None else None
    print(json.dumps({"status": result.status.value, "result": result.result, "error": error}))
    print(json.dumps(seen))
