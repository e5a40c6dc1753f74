"""Lambda Durable Functions: ``sts`` inside ``@durable_execution``, on the SDK's own local runner, against moto.

aws-durable-execution-sdk-python 3.0 and its local runner (``DurableFunctionTestRunner`` of
aws-durable-execution-sdk-python-testing 1.4) run the handler in this process, once per invocation: the
first, and one more after each wait, which replays the handler from the start while completed steps
return their checkpointed results. What the SDK does with threads, as these tests see it:

- ``@durable_execution`` runs the function it wraps on a fresh ``dex-handler`` worker thread per
  invocation, with no copy of the invoking thread's context (there are no plugins here), so an ``sts``
  layer placed inside it runs on that thread, and a step runs there too;
- ``context.map`` and ``context.parallel`` run their branches on pools of their own, also without a
  copy of the context (the SDK copies it only when plugins are configured).

So what a name means in a branch, or in the wrong order (``@sts`` outside), is what it means in any
thread outside an invocation: the entry of the only configuration in the process that bears it. Alone
in its process (``names.relink``), a layer's names resolve anywhere; that case runs durable_app.py in a
fresh interpreter. Beside another layer (the ``beside`` fixture), every layer links itself into the
context of the thread it runs on. A step's result is checkpointed by the SDK's encoder, which refuses a
``Credentials`` with the class's str (credentials.py): what to return instead, and never the secret.
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("aws_durable_execution_sdk_python_testing", reason="the Durable Execution SDK needs Python 3.11+")

from aws_durable_execution_sdk_python import DurableContext, StepContext, durable_execution
from aws_durable_execution_sdk_python.lambda_service import InvocationStatus
from aws_durable_execution_sdk_python_testing.runner import DurableFunctionTestRunner

import powertools_sts
from powertools_sts import Credentials, get_credentials, sts

from ..conftest import OTHER_ROLE, ROLE
from .durable_app import branches, handed, replay, run, wrong

APP = Path(__file__).with_name("durable_app.py")
REPORTS = "arn:aws:sts::111122223333:assumed-role/reports/"
#: What a step that returns Credentials is told (credentials.py), after the SDK's "Unsupported type: ".
NEVER_CHECKPOINTED = (
    "Unsupported type: powertools_sts.Credentials, which is never checkpointed (the checkpoint would keep its "
    "secret): have the step return what you fetched with the credentials instead, and call get_credentials(name) "
    "again in the step that needs them"
)


def unique(prefix: str) -> str:
    """An entry name no other test uses: layers of earlier tests may still be alive."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def beside() -> Iterator[Callable[[dict[str, str]], None]]:
    """Apply an sts layer beside the one under test, for the test's time."""
    kept: list[Any] = []

    def apply(fetch_data: dict[str, str]) -> None:
        kept.append(sts(fetch_data=fetch_data, disable_prefetch=True)(lambda event, context: None))

    yield apply
    kept.clear()
    gc.collect()


def run_alone(scenario: str) -> tuple[dict[str, Any], list[str]]:
    """Run a scenario of durable_app.py in a fresh interpreter, its sts layer alone in the process."""
    env = dict(os.environ)
    env.pop("AWS_LAMBDA_INITIALIZATION_TYPE", None)
    completed = subprocess.run(
        [sys.executable, str(APP), scenario], env=env, capture_output=True, text=True, timeout=90, check=False
    )
    assert completed.returncode == 0, completed.stderr
    summary, seen = completed.stdout.strip().splitlines()[-2:]
    found: dict[str, Any] = json.loads(summary)
    return found, json.loads(seen)


def identities(result: Any) -> list[dict[str, Any]]:
    assert result.status is InvocationStatus.SUCCEEDED, result.error
    output: dict[str, Any] = json.loads(result.result)
    assert output.get("errors", []) == []
    return [output["before"], output["after"]] if "before" in output else [*output["map"], *output["parallel"]]


# -- across a wait and its replay ----------------------------------------------------------------------


def test_across_a_wait_and_its_replay_the_role_is_assumed_once_and_steps_sign_with_get_client_and_get_credentials(
    moto_sts, beside
):
    seen: list[str] = []
    name = unique("ledger")
    handler = replay(seen, name)
    beside({unique("audit"): OTHER_ROLE})

    before, after = identities(run(handler))

    # Two invocations: the wait ended the first, the second replayed the handler from the start, and the
    # first step's body did not run again (its checkpointed result came back). Each invocation ran on a
    # fresh worker thread of the SDK, and so did the steps: inside the layer's context.
    assert [line.partition(" on ")[0] for line in seen] == ["handler", "before", "handler", "after"]
    assert all(line.partition(" on ")[2].startswith("dex-handler") for line in seen if " on " in line)
    assert before["thread"].startswith("dex-handler")
    assert before["in_context"]
    assert after["in_context"]
    # Both ways of reading the entry sign as the role, before the wait and after the replay, with the same
    # credentials: the process's cache, one AssumeRole, not one per replay.
    for found in (before, after):
        assert found["arn"] == found["arn_of_credentials"]
        assert found["arn"].startswith(REPORTS)
    assert before["key"] == after["key"]
    assert moto_sts.assume_role_calls == 1


def test_a_replay_in_a_new_execution_environment_assumes_the_role_again(moto_sts, beside):
    # Nothing of the credentials is in the checkpoints: an invocation in a fresh process (here, the
    # package's caches emptied before each one) assumes the role itself.
    seen: list[str] = []
    inner = replay(seen, unique("ledger"), disable_prefetch=True)
    beside({unique("audit"): OTHER_ROLE})

    def in_a_new_environment(event: Any, context: Any) -> Any:
        powertools_sts.clear_caches()
        return inner(event, context)

    before, after = identities(run(in_a_new_environment))

    assert before["key"] != after["key"]
    assert after["arn"].startswith(REPORTS)
    assert moto_sts.assume_role_calls == 2


def test_alone_in_its_process_the_layer_holds_across_the_wait_and_its_replay(moto_sts):
    found, seen = run_alone("replay")

    assert found["status"] == "SUCCEEDED", found
    assert [line.partition(" on ")[0] for line in seen] == ["handler", "before", "handler", "after"]
    output = json.loads(found["result"])
    assert output["before"]["key"] == output["after"]["key"]
    assert output["after"]["arn"] == output["after"]["arn_of_credentials"]
    assert output["after"]["arn"].startswith(REPORTS)
    assert moto_sts.assume_role_calls == 1


# -- map and parallel ----------------------------------------------------------------------------------


def test_in_map_and_parallel_branches_a_name_borne_by_one_entry_in_the_process_resolves(moto_sts, beside):
    seen: list[str] = []
    handler = branches(seen, unique("ledger"))
    beside({unique("audit"): OTHER_ROLE})

    found = identities(run(handler))

    assert len(found) == 5  # three items, two branches
    assert {identity["arn"] for identity in found} == {identity["arn_of_credentials"] for identity in found}
    assert all(identity["arn"].startswith(REPORTS) for identity in found)
    assert len({identity["key"] for identity in found}) == 1
    # The branches ran on the SDK's pools, in no copy of the handler's context: the name resolved
    # because exactly one entry configuration in the process bears it.
    assert not any(identity["thread"].startswith("dex-handler") or identity["in_context"] for identity in found)
    assert moto_sts.assume_role_calls == 1


def test_in_branches_a_name_borne_by_two_entries_is_refused_and_a_client_the_handler_took_works(moto_sts, beside):
    # Beside a layer whose entry of the same name is another role, a branch cannot tell which one it
    # means (SDK 3.0 runs branches in no copy of the context): ConfigurationError in each branch.
    name = unique("ledger")
    handler = branches([], name)
    beside({name: OTHER_ROLE})

    result = run(handler)

    output = json.loads(result.result)
    assert output["map"] == output["parallel"] == []
    assert output["errors"]  # the SDK's default completion ends a map or a parallel at its first failed branch
    assert all(f"2 different sts entries are named {name!r}" in error for error in output["errors"])
    # A client taken in the handler, where the layer's context is, serves every branch.
    handed_result = run(handed([], name))
    assert handed_result.status is InvocationStatus.SUCCEEDED, handed_result.error
    output = json.loads(handed_result.result)
    assert output["errors"] == []
    assert len(output["map"]) == 2
    assert all(arn.startswith(REPORTS) for arn in output["map"])
    assert moto_sts.assume_role_calls == 1


def test_alone_in_its_process_names_resolve_in_map_and_parallel_branches(moto_sts):
    found, _ = run_alone("branches")

    assert found["status"] == "SUCCEEDED", found
    output = json.loads(found["result"])
    assert output["errors"] == []
    every = [*output["map"], *output["parallel"]]
    assert len(every) == 5
    assert all(identity["arn"].startswith(REPORTS) for identity in every)
    assert moto_sts.assume_role_calls == 1


# -- the wrong order: @sts outside @durable_execution --------------------------------------------------


def test_sts_outside_durable_execution_works_alone_in_its_process(moto_sts):
    found, seen = run_alone("wrong")

    assert found["status"] == "SUCCEEDED", found
    assert json.loads(found["result"])["arn"].startswith(REPORTS)
    assert seen[0].partition(" on ")[2].startswith("dex-handler")  # the SDK's thread, not the layer's
    assert moto_sts.assume_role_calls == 1


def test_sts_outside_durable_execution_works_beside_layers_with_other_names(moto_sts, beside):
    handler = wrong([], unique("ledger"))
    beside({unique("audit"): OTHER_ROLE})

    result = run(handler)

    assert result.status is InvocationStatus.SUCCEEDED, result.error
    found = json.loads(result.result)
    assert found["arn"].startswith(REPORTS)
    assert not found["in_context"]  # the step ran outside the layer's context: the name's only bearer
    assert moto_sts.assume_role_calls == 1


def test_sts_outside_durable_execution_beside_another_entry_of_the_name_says_to_put_it_inside(moto_sts, beside):
    name = unique("ledger")
    handler = wrong([], name)
    beside({name: OTHER_ROLE})

    result = run(handler)

    assert result.status is InvocationStatus.FAILED
    assert result.error.type == "aws_durable_execution_sdk_python.exceptions.StepError"
    assert f"2 different sts entries are named {name!r}" in result.error.message
    assert "with Durable Functions, put @sts inside @durable_execution" in result.error.message


# -- credentials are never checkpointed ----------------------------------------------------------------


def leaky(name: str, where: str, handed_out: list[Credentials]) -> Callable[..., Any]:
    """A durable handler whose step (or map branch) returns the entry's Credentials, as such or in a dict or list."""

    def credentials() -> Credentials:
        creds = get_credentials(name)
        handed_out.append(creds)
        return creds

    @durable_execution
    @sts(fetch_data={name: ROLE})
    def handler(event: dict[str, Any], context: DurableContext) -> str:
        if where == "step":
            context.step(lambda step: credentials(), name="credentials")
        elif where == "step, in a dict":
            context.step(lambda step: {"creds": credentials()}, name="credentials")
        elif where == "step, in a list":
            context.step(lambda step: ["data", credentials()], name="credentials")
        else:
            context.map([1], lambda child, item, index, items: credentials(), name="map").throw_if_error()
        return "unreachable"

    return handler


@pytest.mark.parametrize("where", ["step", "step, in a dict", "step, in a list", "map branch"])
def test_a_step_that_returns_credentials_fails_saying_what_to_return_and_the_secret_is_nowhere(
    moto_sts, where, caplog, capsys
):
    handed_out: list[Credentials] = []
    handler = leaky(unique("ledger"), where, handed_out)

    with DurableFunctionTestRunner(handler=handler) as runner:
        arn = runner.run_async(input="{}", execution_timeout=60)
        result = runner.wait_for_result(arn, timeout=60)
        history = runner.get_execution_history(arn, include_execution_data=True)

    assert result.status is InvocationStatus.FAILED
    assert result.error.type == "aws_durable_execution_sdk_python.exceptions.SerDesError"
    assert result.error.message == NEVER_CHECKPOINTED
    # Nothing the runner kept, nothing logged or printed, holds the secret or the token.
    [creds] = handed_out
    captured = capsys.readouterr()
    for text in (repr(result), repr(history), caplog.text, captured.out, captured.err):
        assert creds.secret_access_key not in text
        assert creds.session_token not in text


def test_the_pattern_of_the_message_works_return_the_data_and_read_the_credentials_again(moto_sts):
    name = unique("ledger")

    @durable_execution
    @sts(fetch_data={name: ROLE})
    def handler(event: dict[str, Any], context: DurableContext) -> str:
        def fetch(step: StepContext) -> str:
            return get_credentials(name).assumed_role_arn or ""  # what was fetched, not the credentials

        def use(step: StepContext) -> str:
            return f"{fetched} read again: {get_credentials(name).access_key_id}"

        fetched = context.step(fetch, name="fetch")
        return context.step(use, name="use")

    result = run(handler)

    assert result.status is InvocationStatus.SUCCEEDED, result.error
    assert json.loads(result.result).startswith(REPORTS)
