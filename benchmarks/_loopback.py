"""Stand-ins on 127.0.0.1, one copy for the benchmark and the integration tests (so nothing of the benchmark's is
imported here): a Lambda Runtime API with the runtime process it serves, and a proxy in front of moto's STS.

The Runtime API holds ``next``, as Lambda does, until an event is queued; each held ``next`` (one per idle worker of
Managed Instances) takes one event. ``served_at`` and ``responded_at`` time every exchange. ``gate``, when set, runs
once when the first ``next`` arrives, before any event is served (a test waits there for the prefetch; the benchmark
freezes the runtime), its result kept in ``gate_result``.

The proxy counts and logs AssumeRole calls, answers ``delay`` s after a request arrived (STS latency, moto's time
included: concurrent requests take as long as one, as at STS) and rewrites ``Expiration``, which moto stamps from the
real time: to ``clock() + DurationSeconds`` on a fake clock, or to ``time.time() + lifetime``.
"""

from __future__ import annotations

import collections
import contextlib
import http.client
import json
import os
import queue
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True
    # The default backlog (5) drops the SYNs of 10 concurrent connections: the client retries after 1 s.
    request_queue_size = 128

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A runtime killed at the end of a run resets its keep-alive connections: not an error.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class RuntimeAPI:
    """Serve queued events to ``GET .../invocation/next`` in order; record and time every exchange."""

    PREFIX = "/2018-06-01/runtime"

    def __init__(self) -> None:
        self.events: queue.Queue[tuple[str, Any]] = queue.Queue()
        self.responses: dict[str, Any] = {}
        self.errors: dict[str, dict[str, Any]] = {}
        self.init_errors: list[Any] = []
        self.restores = 0
        self.polls = 0  # ``next`` requests received
        self.served = 0  # events handed out
        self.served_at: dict[str, float] = {}  # request id -> its event written (time.perf_counter())
        self.responded_at: dict[str, float] = {}  # request id -> its response or error arrived
        self.gate: Callable[[], Any] | None = None
        self.gate_result: Any = None
        self._gate_lock = threading.Lock()
        self._gate_ran = False
        self.changed = threading.Condition()
        self.closed = threading.Event()
        self.server = QuietServer(("127.0.0.1", 0), _runtime_handler(self))
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, name="runtime-api", daemon=True)
        self.thread.start()

    def invoke(self, event: Any) -> str:
        """Queue an invocation; return its request id."""
        request_id = str(uuid.uuid4())
        self.events.put((request_id, event))
        return request_id

    def record(self, update: Callable[[], None]) -> None:
        with self.changed:
            update()
            self.changed.notify_all()

    def wait_for(self, predicate: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
        with self.changed:
            if not self.changed.wait_for(predicate, timeout):
                raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")

    def waiting(self) -> int:
        """The ``next`` requests held now, waiting for an event (one per idle worker)."""
        return self.polls - self.served

    def next_event(self) -> tuple[str, Any] | None:
        self.record(lambda: setattr(self, "polls", self.polls + 1))
        if self.gate is not None:
            with self._gate_lock:  # a poller arriving meanwhile waits for the gate to end
                if not self._gate_ran and self.served == 0:
                    self._gate_ran = True
                    self.gate_result = self.gate()
        item = None
        while item is None and not self.closed.is_set():
            with contextlib.suppress(queue.Empty):
                item = self.events.get(timeout=0.5)
        if item is None:
            return None

        def served() -> None:
            self.served += 1
            self.served_at[item[0]] = time.perf_counter()

        self.record(served)
        return item

    def close(self) -> None:
        self.closed.set()
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> RuntimeAPI:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _runtime_handler(api: RuntimeAPI) -> type[BaseHTTPRequestHandler]:
    invocation = re.compile(re.escape(RuntimeAPI.PREFIX) + r"/invocation/([^/]+)/(response|error)")
    headers = {
        "Content-Type": "application/json",
        "Lambda-Runtime-Invoked-Function-Arn": "arn:aws:lambda:us-east-1:111122223333:function:orders",
        "Lambda-Runtime-Trace-Id": "Root=1-6745a1b2-0123456789abcdef01234567;Parent=53995c3f42cd8ad8;Sampled=0",
    }

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:
            return None

        def reply(self, status: int, body: bytes = b"", extra: dict[str, str] | None = None) -> None:
            self.send_response(status)
            for name, value in (extra or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def body(self) -> Any:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                data = b""
                while size := int(self.rfile.readline().strip(), 16):
                    data += self.rfile.read(size + 2)[:size]
                self.rfile.readline()
            else:
                data = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            return json.loads(data) if data else None

        def do_GET(self) -> None:
            if self.path == RuntimeAPI.PREFIX + "/invocation/next":
                item = api.next_event()
                if item is None:  # the server is closing: drop the held request
                    self.close_connection = True
                    return
                deadline = str(int((time.time() + 300) * 1000))
                extra = {**headers, "Lambda-Runtime-Aws-Request-Id": item[0], "Lambda-Runtime-Deadline-Ms": deadline}
                self.reply(200, json.dumps(item[1]).encode(), extra)
            elif self.path == RuntimeAPI.PREFIX + "/restore/next":
                api.record(lambda: setattr(api, "restores", api.restores + 1))
                self.reply(200)
            else:
                self.reply(404)

        def do_POST(self) -> None:
            body = self.body()
            now = time.perf_counter()
            match = invocation.fullmatch(self.path)
            if match:
                request_id, kind = match.group(1), match.group(2)
                error = {"body": body, "type": self.headers.get("Lambda-Runtime-Function-Error-Type")}

                def answered() -> None:
                    api.responded_at[request_id] = now
                    if kind == "response":
                        api.responses[request_id] = body
                    else:
                        api.errors[request_id] = error

                api.record(answered)
            elif self.path in (RuntimeAPI.PREFIX + "/init/error", RuntimeAPI.PREFIX + "/restore/error"):
                api.record(lambda: api.init_errors.append(body))
            else:
                self.reply(404)
                return
            self.reply(202)

    return Handler


# What the runtime process must not inherit from the benchmark's own environment: Lambda's variables, the package's.
RUNTIME_DROP = ("_X_AMZN_", "_LAMBDA_", "AWS_LAMBDA_", "AWS_EXECUTION_ENV", "POWERTOOLS_STS_", "POWERTOOLS_TRACE_")


class Runtime:
    """``python -m awslambdaric <handler>`` in its own process group (its forked workers join it), for the benchmark;
    ``settings`` (the execution model, the variant's switches) over ``env``."""

    def __init__(
        self, api: RuntimeAPI, handler: str, directory: Path, env: dict[str, str], settings: dict[str, str]
    ) -> None:
        self.api = api
        environment = {k: v for k, v in env.items() if not k.startswith(RUNTIME_DROP)}
        environment.update(
            AWS_LAMBDA_RUNTIME_API=api.address,
            AWS_LAMBDA_FUNCTION_NAME="orders",
            AWS_LAMBDA_FUNCTION_MEMORY_SIZE="512",
            AWS_LAMBDA_FUNCTION_VERSION="$LATEST",
            LAMBDA_TASK_ROOT=str(directory),
            POWERTOOLS_TRACE_DISABLED="true",
            PYTHONPATH=os.pathsep.join(filter(None, [str(directory), env.get("PYTHONPATH")])),
            **settings,
        )
        self.log = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115  # closed in stop()
        self.started = time.perf_counter()
        command = [sys.executable, "-m", "awslambdaric", handler]
        self.process = subprocess.Popen(
            command, cwd=directory, env=environment, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def signal(self, signum: int) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, signum)

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read()[-4000:]

    def wait(self, predicate: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
        """Wait for ``predicate``; fail with the runtime's output on a timeout or an INIT error."""
        try:
            self.api.wait_for(lambda: predicate() or bool(self.api.init_errors), what, timeout)
        except TimeoutError as exc:
            raise RuntimeError(f"{exc}\n{self.output()}") from None
        if self.api.init_errors:
            raise RuntimeError(f"the runtime reported an INIT error: {self.api.init_errors[0]}\n{self.output()}")

    def response(self, request: str) -> Any:
        if request in self.api.errors:
            raise RuntimeError(f"the handler failed: {self.api.errors[request]}\n{self.output()}")
        return self.api.responses[request]

    def __enter__(self) -> Runtime:
        return self

    def __exit__(self, *exc: object) -> None:
        """Kill this runtime's process group (the runtime and the workers it forked), frozen or not."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)
        self.log.close()


# -- the STS proxy --------------------------------------------------------------------------------------------

_EXPIRATION = re.compile(rb"<Expiration>[^<]*</Expiration>")
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length"}


class STSProxy:
    """``calls`` counts AssumeRole per RoleArn; ``log`` holds ``(arrived, answered, RoleArn, RoleSessionName)`` per
    AssumeRole, in ``time.perf_counter()`` seconds."""

    def __init__(
        self,
        upstream: str,
        *,
        delay: float = 0.0,
        clock: Callable[[], float] | None = None,
        lifetime: float | None = None,
    ) -> None:
        parts = urlsplit(upstream)
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.delay, self.clock, self.lifetime = delay, clock, lifetime
        self.calls: collections.Counter[str] = collections.Counter()
        self.log: list[tuple[float, float, str, str]] = []
        self.lock = threading.Lock()
        self._server = QuietServer(("127.0.0.1", 0), _proxy_handler(self))
        self._thread = threading.Thread(target=self._server.serve_forever, name="sts-proxy", daemon=True)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> STSProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    @property
    def total_calls(self) -> int:
        with self.lock:
            return sum(self.calls.values())

    def reset(self) -> None:
        with self.lock:
            self.calls.clear()
            self.log.clear()

    def record(self, body: bytes) -> tuple[int, str, str] | None:
        """Count an AssumeRole request; return its DurationSeconds, RoleArn and RoleSessionName (None for others)."""
        form = parse_qs(body.decode("ascii", "replace")) if b"Action=AssumeRole" in body else {}
        if form.get("Action") != ["AssumeRole"]:
            return None
        role = form.get("RoleArn", ["?"])[0]
        with self.lock:
            self.calls[role] += 1
        return int(form.get("DurationSeconds", ["3600"])[0]), role, form.get("RoleSessionName", ["?"])[0]

    def rewrite(self, payload: bytes, duration: int) -> bytes:
        if self.clock is not None:
            stamp = datetime.fromtimestamp(self.clock() + duration, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        elif self.lifetime is not None:
            stamp = datetime.fromtimestamp(time.time() + self.lifetime, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")
            stamp = stamp[:-3] + "Z"
        else:
            return payload
        return _EXPIRATION.sub(b"<Expiration>" + stamp.encode() + b"</Expiration>", payload, count=1)


def _proxy_handler(proxy: STSProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive: botocore reuses its connections, as with STS
        disable_nagle_algorithm = True  # headers and body go in two writes: no 40 ms delayed-ACK stall

        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            arrived = time.perf_counter()
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            recorded = proxy.record(body)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
            upstream = http.client.HTTPConnection(*proxy.upstream, timeout=30)
            try:
                upstream.request(self.command, self.path, body=body, headers=headers)
                response = upstream.getresponse()
                payload, status, reason, answer = (
                    response.read(),
                    response.status,
                    response.reason,
                    response.getheaders(),
                )
            finally:
                upstream.close()
            if recorded is not None and status == 200:
                payload = proxy.rewrite(payload, recorded[0])
            if proxy.delay:
                time.sleep(max(0.0, arrived + proxy.delay - time.perf_counter()))
            if recorded is not None:
                with proxy.lock:
                    proxy.log.append((arrived, time.perf_counter(), recorded[1], recorded[2]))
            self.send_response(status, reason)
            for key, value in answer:
                if key.lower() not in _HOP_BY_HOP | {"server", "date"}:
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def do_GET(self) -> None:
            self.do_POST()

    return Handler
