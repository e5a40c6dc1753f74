"""The function's own credentials, scoped down per tenant with STS GetScopedCredentials: no role to assume."""

import json
import os
import re

from aws_lambda_powertools.utilities.typing import LambdaContext

from powertools_sts import get_client, sts

TENANT_BUCKET = os.environ["TENANT_BUCKET"]


# --8<-- [start:policy]
# What a tenant id may hold here: IAM reads * and ? in a Resource as wildcards, and ${...} as a policy variable.
TENANT_ID = re.compile(r"[A-Za-z0-9-]{1,64}")


def tenant_policy(tenant_id: str) -> str:
    """The tenant's prefix of the bucket and nothing else, as JSON that json.dumps writes."""
    if not TENANT_ID.fullmatch(tenant_id):
        raise ValueError(f"not a tenant id: {tenant_id!r}")
    statement = {
        "Effect": "Allow",
        "Action": ["s3:GetObject", "s3:PutObject"],
        "Resource": f"arn:aws:s3:::{TENANT_BUCKET}/tenants/{tenant_id}/*",
    }
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


# --8<-- [end:policy]


def tenant_scope(tenant_id: str) -> dict:
    # No RoleArn: GetScopedCredentials narrows the function's own credentials to the tenant's policy.
    return {
        "Policy": tenant_policy(tenant_id),
        "DurationSeconds": 900,
        "ScopedSessionDescription": f"orders of tenant {tenant_id}",  # logged by CloudTrail
    }


@sts(fetch_data={"tenant": tenant_scope})
def handler(event: dict, context: LambdaContext) -> dict:
    key = f"tenants/{context.tenant_id}/orders/{context.aws_request_id}.json"
    get_client("tenant", "s3").put_object(Bucket=TENANT_BUCKET, Key=key, Body=json.dumps(event).encode())
    return {"tenant": context.tenant_id, "key": key}
