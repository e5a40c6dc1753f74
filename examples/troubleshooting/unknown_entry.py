"""A handler that asks for an entry its sts layer does not define: "report" where fetch_data says "reports"."""

import os

from aws_lambda_powertools.utilities.typing import LambdaContext

from powertools_sts import get_client, sts


@sts(fetch_data={"reports": os.environ["REPORTS_ROLE_ARN"]})
def handler(event: dict, context: LambdaContext) -> dict:
    s3 = get_client("report", "s3")  # fetch_data names the entry "reports"
    s3.put_object(Bucket=os.environ["REPORTS_BUCKET"], Key="daily.json", Body=b"{}")
    return {"key": "daily.json"}
