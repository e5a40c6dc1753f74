"""A function module whose handler forks a worker process, run by test_fork.py under awslambdaric.

At import, ``sts`` is applied to ``handler`` with two entries, so their prefetch runs on the package's
worker threads. Each invocation forks (multiprocessing, fork context) a child that calls ``work``, whose
two entries have not been fetched yet (no prefetch): both are due in the child. The handler waits for
the child a bounded time and answers with what it reported, so a child that hangs shows up in the
response instead of hanging the invocation. STS is moto's server on 127.0.0.1 (``AWS_ENDPOINT_URL_STS``).
"""

from __future__ import annotations

import multiprocessing
import os

from powertools_sts import get_credentials, sts

REPORTS_ROLE = os.environ.get("REPORTS_ROLE_ARN", "arn:aws:iam::111122223333:role/reports")
AUDIT_ROLE = os.environ.get("AUDIT_ROLE_ARN", "arn:aws:iam::444455556666:role/audit")
#: How long the handler waits for its forked child (the test's own wait on the response is longer).
CHILD_TIMEOUT = float(os.environ.get("CHILD_TIMEOUT", "15"))


@sts(fetch_data={"worker-reports": REPORTS_ROLE, "worker-audit": AUDIT_ROLE}, cache_key="worker", disable_prefetch=True)
def work(event, context):
    return [get_credentials("worker-reports").access_key_id, get_credentials("worker-audit").access_key_id]


def _child(connection, event, context):
    try:
        connection.send({"ok": True, "keys": work(event, context), "pid": os.getpid()})
    except BaseException as exc:
        connection.send({"ok": False, "error": f"{type(exc).__name__}: {exc}"})
    finally:
        connection.close()


@sts(fetch_data={"reports": REPORTS_ROLE, "audit": AUDIT_ROLE})
def handler(event, context):
    fork = multiprocessing.get_context("fork")
    reader, writer = fork.Pipe(duplex=False)
    child = fork.Process(target=_child, args=(writer, event, context), name="sts-worker")
    child.start()
    writer.close()
    if reader.poll(CHILD_TIMEOUT):
        report = reader.recv()
    else:
        report = {"ok": False, "error": f"the forked child did not answer within {CHILD_TIMEOUT:.0f} s"}
        child.kill()
    child.join(10)
    return {
        "child": report,
        "child_exitcode": child.exitcode,
        "parent_pid": os.getpid(),
        "parent_keys": [get_credentials("reports").access_key_id, get_credentials("audit").access_key_id],
    }
