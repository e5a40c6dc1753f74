"""Two roles in two accounts, one sts layer: both are prefetched at import and refreshed independently."""

from aws_lambda_powertools.utilities.typing import LambdaContext

from powertools_sts import get_client, get_credentials, sts

REPORTS_ROLE_ARN = "arn:aws:iam::111122223333:role/reports"
AUDIT_ROLE_ARN = "arn:aws:iam::444455556666:role/audit"


@sts(
    fetch_data={
        # A bare string is short for {"RoleArn": ...}.
        "reports": REPORTS_ROLE_ARN,
        # Any AssumeRole parameter, in boto3's spelling; all of them are validated at import.
        "audit": {
            "RoleArn": AUDIT_ROLE_ARN,
            "RoleSessionName": "orders-audit",
            "ExternalId": "audit-7f3a9c",
            "DurationSeconds": 900,
        },
    },
)
def handler(event: dict, context: LambdaContext) -> dict:
    reports = get_client("reports", "sts").get_caller_identity()
    audit = get_client("audit", "sts").get_caller_identity()
    return {
        "reports_account": reports["Account"],
        "audit_account": audit["Account"],
        # Credentials for code that does not take a boto3 client: at least 60 s left, often much more.
        "audit_expires": get_credentials("audit").expiration.isoformat(),
    }
