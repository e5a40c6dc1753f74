"""An example function module, run by test_runtime.py under the real Lambda runtime client (awslambdaric).

STS is moto's server on 127.0.0.1: boto3 reads its address from ``AWS_ENDPOINT_URL_STS``.
"""

from __future__ import annotations

import os

from powertools_sts import get_client, get_credentials, sts

REPORTS_ROLE = os.environ.get("REPORTS_ROLE_ARN", "arn:aws:iam::111122223333:role/reports")


@sts(fetch_data={"reports": REPORTS_ROLE})
def handler(event, context):
    client = get_client("reports", "sts")
    return {
        "request_id": context.aws_request_id,
        "client_id": id(client),
        "access_key_id": get_credentials("reports").access_key_id,
        "caller": client.get_caller_identity()["Arn"],
    }
