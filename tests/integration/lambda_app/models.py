"""A function module run by test_execution_models.py under awslambdaric, in each execution model (issue 11).

Configured by the environment, so that one module serves as several functions:

``MODEL_ROLES``
    Comma-separated role ARNs; each is an entry of one ``sts`` layer, named after the role.
``MODEL_EXTERNAL_ID`` / ``MODEL_SESSION_NAME``
    When set, the ExternalId / RoleSessionName of every entry (the parameters two functions differ by).

The module counts the AssumeRole calls its own process makes (botocore logs each call it makes at
DEBUG on ``botocore.endpoint``, "Making request for OperationModel(name=AssumeRole) ..."), by the
name of the thread that made it: the prefetch and the refresh ahead run on the package's named
background threads, a fetch for an invocation on the main thread or the package's per-entry workers.
``INIT_CALLS`` is the count when the import (INIT) ended, so a response says whether its process
called STS after INIT, and on which threads. STS is moto on 127.0.0.1 (``AWS_ENDPOINT_URL_STS``).
"""

from __future__ import annotations

import logging
import os
import threading
from collections import Counter

from powertools_sts import get_credentials, sts


class _AssumeRoleCounter(logging.Handler):
    """Counts botocore's "Making request for OperationModel(name=AssumeRole)" records, per thread name."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.by_thread: Counter[str] = Counter()
        self.guard = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith("Making request for OperationModel(name=AssumeRole)"):
            with self.guard:
                self.by_thread[record.threadName or "?"] += 1

    def snapshot(self) -> dict[str, int]:
        with self.guard:
            return dict(self.by_thread)


COUNTER = _AssumeRoleCounter()
_endpoint_logger = logging.getLogger("botocore.endpoint")
_endpoint_logger.setLevel(logging.DEBUG)
_endpoint_logger.addHandler(COUNTER)
_endpoint_logger.propagate = False  # counted, not printed: the runtime's log stays readable

ROLES = [arn for arn in os.environ.get("MODEL_ROLES", "").split(",") if arn]
_extra = {
    field: os.environ[variable]
    for field, variable in (("ExternalId", "MODEL_EXTERNAL_ID"), ("RoleSessionName", "MODEL_SESSION_NAME"))
    if os.environ.get(variable)
}
ENTRIES = {arn.rsplit("/", 1)[1]: {"RoleArn": arn, **_extra} for arn in ROLES}


@sts(fetch_data=ENTRIES)
def handler(event, context):
    return {
        "request_id": context.aws_request_id,
        "n": (event or {}).get("n"),
        "pid": os.getpid(),
        "keys": {name: get_credentials(name).access_key_id for name in ENTRIES},
        "init_calls": INIT_CALLS,
        "calls": COUNTER.snapshot(),
    }


#: AssumeRole calls of this process, by thread, when INIT (this import) ended.
INIT_CALLS = COUNTER.snapshot()
