"""`make demo`: powertools-sts against an embedded local STS (moto's server on 127.0.0.1).

No AWS account and no network beyond loopback. It shows the provider (fetch, cache hit, force_fetch),
then a Powertools handler with two entries, one chained through the other, invoked while a simulated
clock moves through the refresh windows of both.
"""

from __future__ import annotations

import io
import logging
import os
import sys
import time
from datetime import datetime, timezone
from typing import Any

from moto.server import ThreadedMotoServer

HUB = "arn:aws:iam::111122223333:role/hub"
REPORTS = "arn:aws:iam::444455556666:role/reports"


class STSCounter:
    """Counts the AssumeRole requests that reach the local STS (read from the server side)."""

    def __init__(self, server: ThreadedMotoServer) -> None:
        self.calls = 0
        wsgi = server._server
        assert wsgi is not None
        app = wsgi.app

        def counted(environ: dict[str, Any], start_response: Any) -> Any:
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length) if length else b""
            environ["wsgi.input"] = io.BytesIO(body)
            self.calls += b"Action=AssumeRole" in body
            return app(environ, start_response)

        wsgi.app = counted


class SimulatedClock:
    """The clock powertools-sts reads, moved by hand (STS itself keeps real time)."""

    def __init__(self) -> None:
        self.start = self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def label(self) -> str:
        return f"+{int(self.now - self.start) // 60:d}m{int(self.now - self.start) % 60:02d}s"


def start_local_sts() -> tuple[ThreadedMotoServer, STSCounter]:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    counter = STSCounter(server)
    os.environ.update(
        AWS_ENDPOINT_URL_STS=f"http://{host}:{port}",
        AWS_ACCESS_KEY_ID="demo",
        AWS_SECRET_ACCESS_KEY="demo",  # a dummy key for the local STS
        AWS_DEFAULT_REGION="us-east-1",
        AWS_LAMBDA_FUNCTION_NAME="powertools-sts-demo",
        POWERTOOLS_TRACE_DISABLED="true",
        POWERTOOLS_LOG_LEVEL="WARNING",
    )
    return server, counter


def provider_part(counter: STSCounter) -> None:
    from powertools_sts import STSProvider

    provider = STSProvider()
    print("STSProvider")
    for label, kwargs in (("first get", {}), ("second get", {}), ("force_fetch=True", {"force_fetch": True})):
        before = counter.calls
        started = time.perf_counter()
        creds = provider.get(REPORTS, **kwargs)
        took = (time.perf_counter() - started) * 1000
        what = "fetch" if counter.calls > before else "cache hit"
        print(f"  {label:<18} {what:<10} sts calls: {counter.calls}  {took:7.2f} ms  {creds.access_key_id}")
    print()


def decorator_part(counter: STSCounter, clock: SimulatedClock) -> None:
    from aws_lambda_powertools import Logger

    from powertools_sts import get_client, get_credentials, sts

    logger = Logger(service="demo")
    seen: dict[str, str] = {}
    base = counter.calls

    @logger.inject_lambda_context
    @sts(fetch_data={"hub": {"RoleArn": HUB, "DurationSeconds": 3600}})
    @sts(fetch_data={"reports": {"RoleArn": REPORTS, "DurationSeconds": 900}}, aws_client_assume_role="hub")
    def handler(event: dict[str, Any], context: Any) -> dict[str, str]:
        get_client("reports", "s3")  # the same client object on every warm invocation
        return {name: get_credentials(name).access_key_id for name in ("hub", "reports")}

    class Context:
        function_name = "powertools-sts-demo"
        memory_limit_in_mb = 128
        invoked_function_arn = "arn:aws:lambda:us-east-1:111122223333:function:powertools-sts-demo"
        aws_request_id = "demo"

    # The hub's prefetch runs on a worker thread while the module is "imported": let it land.
    for _ in range(500):
        if counter.calls > base:
            break
        time.sleep(0.01)
    # Outside an invocation a name that exactly one entry bears resolves: the prefetched hub.
    seen["hub"] = get_credentials("hub").access_key_id
    print(f"sts decorator: hub prefetched while the module was imported ({counter.calls - base} STS call)")
    print(f"  {'inv':>3}  {'clock':>8}  {'entry':<8} {'result':<10} {'sts calls':>9}  {'took':>9}")
    steps = [0, 1, 10 * 60 + 30, 60, 45 * 60, 1]
    for number, step in enumerate(steps, start=1):
        clock.now += step
        before = counter.calls
        started = time.perf_counter()
        keys = handler({}, Context())
        took = (time.perf_counter() - started) * 1000
        for name in ("hub", "reports"):
            result = "cache hit" if seen.get(name) == keys[name] else "fetch"
            seen[name] = keys[name]
            label = str(number) if name == "hub" else ""
            shown = clock.label() if name == "hub" else ""
            calls = str(counter.calls - base) if name == "hub" else ""
            took_text = f"{took:7.2f} ms" if name == "hub" else ""
            # The reports row has no calls or time: its padding would end the line in blanks.
            print(f"  {label:>3}  {shown:>8}  {name:<8} {result:<10} {calls:>9}  {took_text:>9}".rstrip())
        assert counter.calls - before <= 2
    print()
    print("reports (900 s credentials) refreshes inside its window after ~10 min; hub (3600 s) after ~55 min,")
    print("and the chained reports fetch that follows is signed with the new hub credentials.")


def main() -> int:
    server, counter = start_local_sts()
    try:
        from powertools_sts import _clock

        clock = SimulatedClock()
        _clock.now = clock
        # The local STS issues its Expiration on the same simulated clock (moto runs in this process).
        import moto.sts.models

        moto.sts.models.utcnow = lambda: datetime.fromtimestamp(clock.now, timezone.utc).replace(tzinfo=None)
        provider_part(counter)
        decorator_part(counter, clock)
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
