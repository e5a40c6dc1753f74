"""A name that the sts layers around the invocation do not define: a ConfigurationError that says so."""

from aws_lambda_powertools.utilities.typing import LambdaContext

from powertools_sts import get_client, sts


@sts(
    fetch_data={
        "reports": "arn:aws:iam::111122223333:role/reports",
        "audit": "arn:aws:iam::444455556666:role/audit",
    }
)
def handler(event: dict, context: LambdaContext) -> dict:
    s3 = get_client("report", "s3")  # a typo: the entry is "reports"
    return {"buckets": len(s3.list_buckets()["Buckets"])}
