"""Durable Functions: @durable_execution outermost, @sts on the function it wraps.

Each day's export is a step in a map branch; after the wait, Lambda replays the handler, the map
returns its checkpointed keys, and a last step reads the objects back with the same entry.
"""

import json
import os
from typing import Any

from aws_durable_execution_sdk_python import DurableContext, StepContext, durable_execution, durable_step
from aws_durable_execution_sdk_python.config import Duration

from powertools_sts import get_client, sts

REPORTS_ROLE_ARN = os.environ["REPORTS_ROLE_ARN"]  # e.g. arn:aws:iam::111122223333:role/reports
REPORTS_BUCKET = os.environ["REPORTS_BUCKET"]


@durable_step
def export(step: StepContext, s3: Any, day: str) -> str:
    key = f"exports/{day}.json"
    s3.put_object(Bucket=REPORTS_BUCKET, Key=key, Body=json.dumps({"day": day}).encode())
    return key  # checkpointed: what the step did, never the credentials


@durable_step
def total_size(step: StepContext, keys: list[str]) -> int:
    s3 = get_client("reports", "s3")  # in a step on the handler's thread: the layer around it decides
    return sum(s3.head_object(Bucket=REPORTS_BUCKET, Key=key)["ContentLength"] for key in keys)


@durable_execution
@sts(fetch_data={"reports": REPORTS_ROLE_ARN})
def handler(event: dict, context: DurableContext) -> dict:
    # Taken on the handler's thread and handed to the branches, which run on threads of their own.
    s3 = get_client("reports", "s3")
    exports = context.map(event["days"], lambda branch, day, index, days: branch.step(export(s3, day)), name="exports")
    exports.throw_if_error()
    keys = exports.get_results()
    # The invocation ends here, and Lambda replays the handler an hour later: the map returns its
    # checkpointed keys without running again, and the entry's credentials come from the process's
    # cache (or, in a new execution environment, from a new AssumeRole).
    context.wait(Duration.from_hours(1), name="settle")
    return {"keys": keys, "bytes": context.step(total_size(keys))}
