"""Credentials read with get_credentials, for a client you build yourself: invalidate them when AWS refuses them."""

import boto3
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError

from powertools_sts import get_credentials, invalidate, sts


@sts(fetch_data={"reports": "arn:aws:iam::111122223333:role/reports"})
def handler(event: dict, context: LambdaContext) -> dict:
    creds = get_credentials("reports")
    try:
        buckets = boto3.client("s3", **creds.as_boto3_kwargs()).list_buckets()["Buckets"]
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "ExpiredToken":
            invalidate("reports", access_key_id=creds.access_key_id)  # the next read fetches new ones
        raise
    return {"buckets": [bucket["Name"] for bucket in buckets]}
