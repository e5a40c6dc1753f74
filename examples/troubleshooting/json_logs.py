"""The package's warnings in Logger's JSON: Logger's handler copied to the "powertools_sts" logger."""

import os

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.utilities.typing import LambdaContext

from powertools_sts import get_client, sts  # the import creates the "powertools_sts" logger

logger = Logger(service="reports")
# Before @sts(...) is applied: its prefetch may log from INIT on.
copy_config_to_registered_loggers(source_logger=logger, include={"powertools_sts"})


@logger.inject_lambda_context
@sts(fetch_data={"reports": os.environ["REPORTS_ROLE_ARN"]})
def handler(event: dict, context: LambdaContext) -> dict:
    s3 = get_client("reports", "s3")
    s3.put_object(Bucket=os.environ["REPORTS_BUCKET"], Key="daily.json", Body=b"{}")
    return {"key": "daily.json"}
