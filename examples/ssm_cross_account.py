"""Read a parameter from another account's SSM Parameter Store with get_client."""

import functools

from aws_lambda_powertools.utilities.parameters import SSMProvider
from aws_lambda_powertools.utilities.typing import LambdaContext

from powertools_sts import get_client, sts

CONFIG_ROLE_ARN = "arn:aws:iam::444455556666:role/config-reader"
PARAMETER_NAME = "/shared/orders/table-name"


@sts(fetch_data={"config": CONFIG_ROLE_ARN})
def handler(event: dict, context: LambdaContext) -> dict:
    ssm = get_client("config", "ssm")
    parameter = ssm.get_parameter(Name=PARAMETER_NAME, WithDecryption=True)["Parameter"]
    return {"table": parameter["Value"], "version": parameter["Version"]}


@functools.cache
def config_parameters() -> SSMProvider:
    # Built once, at the first invocation: the client is the entry's own and refreshes its credentials,
    # so the provider (and its parameter cache) can live as long as the execution environment.
    return SSMProvider(boto3_client=get_client("config", "ssm"))


@sts(fetch_data={"config": CONFIG_ROLE_ARN})
def handler_with_parameters(event: dict, context: LambdaContext) -> dict:
    # Powertools' parameters utility on top: the value is cached for 5 minutes as well.
    return {"table": config_parameters().get(PARAMETER_NAME, max_age=300)}
