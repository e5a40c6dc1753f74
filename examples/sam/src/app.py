"""Quick start: a Powertools handler that writes to a bucket through a role assumed with STS.

The role and the bucket come from the function's environment (the SAM template in examples/sam sets
them); examples/sam/src/app.py is this same file.
"""

import json
import os

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

from powertools_sts import get_client, sts

REPORTS_ROLE_ARN = os.environ["REPORTS_ROLE_ARN"]  # e.g. arn:aws:iam::111122223333:role/reports
REPORTS_BUCKET = os.environ["REPORTS_BUCKET"]

logger = Logger()
tracer = Tracer()


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@sts(fetch_data={"reports": {"RoleArn": REPORTS_ROLE_ARN}})
def handler(event: dict, context: LambdaContext) -> dict:
    key = f"reports/{context.aws_request_id}.json"
    # The same client object on every warm invocation; its credentials refresh themselves.
    get_client("reports", "s3").put_object(Bucket=REPORTS_BUCKET, Key=key, Body=json.dumps(event).encode())
    logger.info("Report stored", extra={"bucket": REPORTS_BUCKET, "key": key})
    return {"bucket": REPORTS_BUCKET, "key": key}
