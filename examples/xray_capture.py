"""X-Ray subsegments of the STS calls, without Powertools' Tracer (needs the tracer extra)."""

from aws_lambda_powertools.utilities.typing import LambdaContext

from powertools_sts import get_client, sts

REPORTS_ROLE_ARN = "arn:aws:iam::111122223333:role/reports"


@sts(
    fetch_data={"reports": REPORTS_ROLE_ARN},
    aws_client_capture=True,  # patches botocore, process-wide: the S3 call below is traced too
)
def handler(event: dict, context: LambdaContext) -> dict:
    buckets = get_client("reports", "s3").list_buckets()["Buckets"]
    return {"buckets": [bucket["Name"] for bucket in buckets]}
