"""The cold-start module of the benchmark's section 7: one entry, through the package."""

import time

_start = time.perf_counter()
from aws_lambda_powertools import Logger  # noqa: E402

from powertools_sts import get_credentials, sts  # noqa: E402

_imported = time.perf_counter()
logger = Logger(service="orders")
with_role = sts(fetch_data={"reports": "arn:aws:iam::111122223333:role/bench-models-cold"})
_set_up = time.perf_counter()


@with_role
def handler(event, context):
    return get_credentials("reports").access_key_id


PHASES = {"imports_ms": (_imported - _start) * 1e3, "setup_ms": (_set_up - _imported) * 1e3}
