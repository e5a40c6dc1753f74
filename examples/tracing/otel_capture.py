"""OpenTelemetry spans of the STS calls and refreshes (needs the otel extra, and a tracer provider: ADOT's, or yours)."""

from aws_lambda_powertools.utilities.typing import LambdaContext

from powertools_sts import get_client, sts


@sts(
    fetch_data={"reports": "arn:aws:iam::111122223333:role/reports"},
    aws_client_capture="opentelemetry",
)
def handler(event: dict, context: LambdaContext) -> dict:
    get_client("reports", "s3").put_object(Bucket="reports", Key="daily.csv", Body=b"...")
    return {"stored": "daily.csv"}
