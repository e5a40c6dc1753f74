"""A download link for a report kept in another account: the app the "Testing your code" page tests."""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from powertools_sts import get_client, sts

logger = Logger(service="report-links")

REPORTS_ROLE_ARN = os.environ.get("REPORTS_ROLE_ARN", "arn:aws:iam::111122223333:role/reports-reader")
REPORTS_BUCKET = os.environ.get("REPORTS_BUCKET", "reports-111122223333")


@logger.inject_lambda_context
@sts(
    fetch_data={
        "reports": {
            "RoleArn": REPORTS_ROLE_ARN,
            "ExternalId": "orders-7f3a9c",
            "DurationSeconds": 900,
            "Tags": [{"Key": "caller", "Value": "orders"}],
        }
    }
)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    key = f"reports/{event['report']}.csv"
    # An S3 client signed with the reports role's credentials, refreshed whenever they are.
    s3 = get_client("reports", "s3")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": REPORTS_BUCKET, "Key": key}, ExpiresIn=300)
    logger.info("Issued a download link", extra={"bucket": REPORTS_BUCKET, "key": key})
    return {"statusCode": 200, "url": url}
