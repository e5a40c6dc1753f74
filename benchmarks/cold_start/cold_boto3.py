"""The cold-start module of the benchmark's section 7: the same function written by hand with boto3."""

import time

_start = time.perf_counter()
import datetime  # noqa: E402

import boto3  # noqa: E402
from aws_lambda_powertools import Logger  # noqa: E402

_imported = time.perf_counter()
ROLE = "arn:aws:iam::111122223333:role/bench-models-cold"
logger = Logger(service="orders")
sts_client = boto3.client("sts")
credentials = None
_set_up = time.perf_counter()


def handler(event, context):
    global credentials
    now = datetime.datetime.now(datetime.timezone.utc)
    if credentials is None or credentials["Expiration"] - now < datetime.timedelta(minutes=5):
        credentials = sts_client.assume_role(RoleArn=ROLE, RoleSessionName="orders")["Credentials"]
    return credentials["AccessKeyId"]


PHASES = {"imports_ms": (_imported - _start) * 1e3, "setup_ms": (_set_up - _imported) * 1e3}
