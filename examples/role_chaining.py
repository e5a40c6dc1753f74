"""Role chaining: the workload role is assumed with the credentials of a hub role.

The outer layer assumes the hub role with the function's own credentials; the inner layer signs its
AssumeRole with the hub entry's current credentials, so it follows the hub's refreshes.
"""

from aws_lambda_powertools.utilities.typing import LambdaContext

from powertools_sts import get_client, sts

HUB_ROLE_ARN = "arn:aws:iam::111122223333:role/hub"
WORKLOAD_ROLE_ARN = "arn:aws:iam::444455556666:role/workload"


@sts(fetch_data={"hub": HUB_ROLE_ARN})
@sts(
    fetch_data={"workload": {"RoleArn": WORKLOAD_ROLE_ARN, "DurationSeconds": 3600}},  # chained: at most one hour
    aws_client_assume_role="hub",
)
def handler(event: dict, context: LambdaContext) -> dict:
    identity = get_client("workload", "sts").get_caller_identity()
    return {"account": identity["Account"], "arn": identity["Arn"]}
