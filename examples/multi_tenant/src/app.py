"""Tenant isolation mode: each execution environment serves one tenant, with that tenant's session of one role.

The role's policy matches the TenantID session tag with ${aws:PrincipalTag/TenantID}, so a session tagged "blue"
reaches blue's prefix of the bucket and blue's items of the table, and nothing of another tenant's.
"""

import json
import os

from aws_lambda_powertools.utilities.typing import LambdaContext

from powertools_sts import get_client, sts

TENANT_ROLE_ARN = os.environ["TENANT_ROLE_ARN"]  # e.g. arn:aws:iam::111122223333:role/tenant
TENANT_BUCKET = os.environ["TENANT_BUCKET"]
TENANT_TABLE = os.environ["TENANT_TABLE"]


def tenant_session(tenant_id: str) -> dict:
    """The AssumeRole parameters of one tenant: called once per tenant, checked before any STS call."""
    return {"RoleArn": TENANT_ROLE_ARN, "Tags": [{"Key": "TenantID", "Value": tenant_id}]}


# No tenant= : the tenant is context.tenant_id, which Lambda sets from the invoker's --tenant-id.
@sts(fetch_data={"tenant": tenant_session})
def handler(event: dict, context: LambdaContext) -> dict:
    tenant_id, order_id = context.tenant_id, context.aws_request_id
    key = f"tenants/{tenant_id}/orders/{order_id}.json"
    get_client("tenant", "s3").put_object(Bucket=TENANT_BUCKET, Key=key, Body=json.dumps(event).encode())
    get_client("tenant", "dynamodb").put_item(
        TableName=TENANT_TABLE, Item={"TenantID": {"S": tenant_id}, "OrderId": {"S": order_id}}
    )
    return {"tenant": tenant_id, "key": key}
