"""sts with Logger, Tracer, Metrics, Idempotency and Parameters: the order of the decorators, and why."""

import functools
import os

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer, idempotent
from aws_lambda_powertools.utilities.parameters import SSMProvider
from aws_lambda_powertools.utilities.typing import LambdaContext

from powertools_sts import get_client, sts

logger = Logger(service="reports")
tracer = Tracer(service="reports")
metrics = Metrics(namespace="Reports", service="reports")
# The idempotency table is in the function's own account: its client signs with the function's role.
persistence = DynamoDBPersistenceLayer(table_name=os.environ["IDEMPOTENCY_TABLE"])
copy_config_to_registered_loggers(source_logger=logger, include={"powertools_sts"})


@functools.cache
def config() -> SSMProvider:
    # Powertools Parameters in the config account, on the entry's client (its credentials refresh themselves).
    return SSMProvider(boto3_client=get_client("config", "ssm"))


@logger.inject_lambda_context  # 1. outermost: every record below carries the invocation's keys
@tracer.capture_lambda_handler  # 2. "## handler" holds everything below, STS calls included
@metrics.log_metrics  # 3. above sts: AssumeRole metrics are flushed even when sts raises
@idempotent(persistence_store=persistence)  # 4. above sts: a repeated event never waits on STS
@sts(  # 5. innermost: its step runs only for an invocation that runs the handler
    fetch_data={
        "reports": "arn:aws:iam::111122223333:role/reports",
        "config": "arn:aws:iam::444455556666:role/config-reader",
    },
    metrics=metrics,
)
def handler(event: dict, context: LambdaContext) -> dict:
    bucket = config().get("/shared/reports/bucket", max_age=300)
    key = f"reports/{event['order_id']}.json"
    get_client("reports", "s3").put_object(Bucket=bucket, Key=key, Body=b"{}")
    logger.info("Report stored", extra={"bucket": bucket, "key": key})
    return {"bucket": bucket, "key": key}
