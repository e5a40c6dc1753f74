"""Logger and Tracer stacked around sts, with the sts step traced as its own subsegment."""

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.utilities.typing import LambdaContext

from powertools_sts import get_client, sts

REPORTS_ROLE_ARN = "arn:aws:iam::111122223333:role/reports"
REPORTS_BUCKET = "example-reports-bucket"

logger = Logger(service="reports")
tracer = Tracer(service="reports")  # patches botocore: every STS call is a subsegment already
# powertools-sts logs through the standard logger "powertools_sts"; give its records Logger's JSON and keys.
copy_config_to_registered_loggers(source_logger=logger, include={"powertools_sts"})


@tracer.capture_method
def list_reports(prefix: str) -> list[str]:
    listing = get_client("reports", "s3").list_objects_v2(Bucket=REPORTS_BUCKET, Prefix=prefix)
    return [item["Key"] for item in listing.get("Contents", [])]


@logger.inject_lambda_context  # outermost: every log line below carries the Lambda context
@tracer.capture_lambda_handler  # the "## handler" subsegment holds the sts step and the handler
@sts(fetch_data={"reports": REPORTS_ROLE_ARN}, trace_execution=True)  # adds a "## sts" subsegment
def handler(event: dict, context: LambdaContext) -> dict:
    keys = list_reports(event.get("prefix", "reports/"))
    logger.info("Listed reports", extra={"count": len(keys)})
    return {"keys": keys}
