"""The pool model: every execution environment serves every tenant, named by the API Gateway authorizer."""

import json
import os
from typing import Any

from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent
from aws_lambda_powertools.utilities.typing import LambdaContext

from powertools_sts import get_client, sts

TENANT_ROLE_ARN = os.environ["TENANT_ROLE_ARN"]
TENANT_TABLE = os.environ["TENANT_TABLE"]


def tenant_from_authorizer(event: dict, context: Any) -> str | None:
    """The tenant the authorizer vouched for: never a header, a path or a body field the caller writes."""
    authorizer = APIGatewayProxyEvent(event).request_context.authorizer
    # A Cognito user pool authorizer passes the token's claims; a Lambda authorizer, the context it returned.
    return authorizer.claims.get("custom:tenant_id") or authorizer.get_context().get("tenant_id")


def tenant_session(tenant_id: str) -> dict:
    return {"RoleArn": TENANT_ROLE_ARN, "Tags": [{"Key": "TenantID", "Value": tenant_id}]}


@sts(fetch_data={"tenant": tenant_session}, tenant=tenant_from_authorizer)
def handler(event: dict, context: LambdaContext) -> dict:
    tenant_id = tenant_from_authorizer(event, context)
    orders = get_client("tenant", "dynamodb").query(
        TableName=TENANT_TABLE,
        KeyConditionExpression="TenantID = :tenant",
        ExpressionAttributeValues={":tenant": {"S": tenant_id}},
    )
    return {"statusCode": 200, "body": json.dumps({"tenant": tenant_id, "orders": orders["Count"]})}
