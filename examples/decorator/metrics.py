"""AssumeRole metrics in your Powertools Metrics, flushed by its log_metrics with the invocation's own."""

import os

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.utilities.typing import LambdaContext

from powertools_sts import get_client, sts

metrics = Metrics(namespace="Reports", service="reports")


@metrics.log_metrics  # above sts: a failed AssumeRole is still flushed with this invocation
@sts(
    fetch_data={"reports": os.environ["REPORTS_ROLE_ARN"]},
    metrics=metrics,
)
def handler(event: dict, context: LambdaContext) -> dict:
    get_client("reports", "s3").put_object(Bucket=os.environ["REPORTS_BUCKET"], Key="k", Body=b"...")
    return {"stored": "k"}
