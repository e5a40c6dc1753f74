"""A Lambda Runtime API on 127.0.0.1 for the real runtime client, and the runtime process it serves.

The few routes awslambdaric 4.2.2 calls (``invocation/next``, ``.../response``, ``.../error``,
``init/error``), timed in this process: when each ``next`` arrived, when each event was written to
the runtime, when its response came back. ``next`` is held, as Lambda holds it, until an event is
queued. The integration tests have their own Runtime API (tests/integration/conftest.py); this one
is the benchmark's, with timestamps and a count of the ``next`` requests held (one per worker
process waiting for an invocation).
"""

from __future__ import annotations

import contextlib
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
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from _common import PYTHON

PREFIX = "/2018-06-01/runtime"
# What the runtime process must not inherit from the benchmark's own environment.
RUNTIME_DROP = (
    "_X_AMZN_TRACE_ID",
    "AWS_LAMBDA_INITIALIZATION_TYPE",
    "AWS_LAMBDA_MAX_CONCURRENCY",
    "AWS_EXECUTION_ENV",
    "POWERTOOLS_TRACE_MIDDLEWARES",
    "POWERTOOLS_STS_PREFETCH_TIMEOUT",
    "POWERTOOLS_STS_SHARED_CACHE",
    "_LAMBDA_TELEMETRY_LOG_FD_PROVIDER_SOCKET",
)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A runtime killed at the end of a run resets its keep-alive connections: not an error.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class RuntimeAPI:
    """Serve queued events to ``GET .../invocation/next`` in order; time every exchange.

    ``on_first_poll``, when set, runs in the server thread when the first ``next`` arrives, before
    anything is served (the provisioned-concurrency run freezes the runtime there).
    """

    def __init__(self) -> None:
        self.events: queue.Queue[tuple[str, Any]] = queue.Queue()
        self.changed = threading.Condition()
        self.polls: list[float] = []  # arrival of every ``next``
        self.held = 0  # ``next`` requests waiting for an event now
        self.served: dict[str, float] = {}  # request id -> the event written
        self.responded: dict[str, float] = {}  # request id -> its response arrived
        self.responses: dict[str, Any] = {}
        self.errors: dict[str, Any] = {}
        self.init_errors: list[Any] = []
        self.on_first_poll: Callable[[], None] | None = None
        self.closed = threading.Event()
        self._server = _Server(("127.0.0.1", 0), _handler(self))
        self.address = f"127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="runtime-api", daemon=True)
        self._thread.start()

    def invoke(self, event: Any) -> str:
        request_id = str(uuid.uuid4())
        self.events.put((request_id, event))
        return request_id

    def wait_for(self, predicate: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
        with self.changed:
            if not self.changed.wait_for(lambda: predicate() or bool(self.init_errors), timeout):
                raise RuntimeError(f"timed out after {timeout:g} s waiting for {what}")
            if self.init_errors:
                raise RuntimeError(f"the runtime reported an INIT error: {self.init_errors[0]}")

    def _note(self, update: Callable[[], None]) -> None:
        with self.changed:
            update()
            self.changed.notify_all()

    def _next_event(self) -> tuple[str, Any] | None:
        first = False

        def arrived() -> None:
            nonlocal first
            self.polls.append(time.perf_counter())
            self.held += 1
            first = len(self.polls) == 1

        self._note(arrived)
        if first and self.on_first_poll is not None:
            self.on_first_poll()
        item = None
        while not self.closed.is_set():
            try:
                item = self.events.get(timeout=0.5)
            except queue.Empty:
                continue
            break

        def left() -> None:
            self.held -= 1
            if item is not None:
                self.served[item[0]] = time.perf_counter()

        self._note(left)
        return item

    def close(self) -> None:
        self.closed.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> RuntimeAPI:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _handler(api: RuntimeAPI) -> type[BaseHTTPRequestHandler]:
    invocation = re.compile(re.escape(PREFIX) + r"/invocation/([^/]+)/(response|error)")

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:
            return None

        def reply(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def body(self) -> Any:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                data = b""
                while True:
                    size = int(self.rfile.readline().strip(), 16)
                    chunk = self.rfile.read(size + 2)[:size]
                    if not size:
                        break
                    data += chunk
            else:
                data = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            return json.loads(data) if data else None

        def do_GET(self) -> None:
            if self.path != PREFIX + "/invocation/next":
                self.reply(404)
                return
            item = api._next_event()
            if item is None:  # closing: drop the held request
                self.close_connection = True
                return
            request_id, event = item
            self.reply(
                200,
                json.dumps(event).encode(),
                {
                    "Content-Type": "application/json",
                    "Lambda-Runtime-Aws-Request-Id": request_id,
                    "Lambda-Runtime-Deadline-Ms": str(int((time.time() + 300) * 1000)),
                    "Lambda-Runtime-Invoked-Function-Arn": "arn:aws:lambda:us-east-1:111122223333:function:orders",
                    "Lambda-Runtime-Trace-Id": "Root=1-6745a1b2-0123456789abcdef01234567;Parent=53995c3f42cd8ad8;"
                    "Sampled=0",
                },
            )

        def do_POST(self) -> None:
            body = self.body()
            now = time.perf_counter()
            match = invocation.fullmatch(self.path)
            if match:
                request_id, kind = match.group(1), match.group(2)

                def record() -> None:
                    api.responded[request_id] = now
                    (api.responses if kind == "response" else api.errors)[request_id] = body

                api._note(record)
            elif self.path == PREFIX + "/init/error":
                api._note(lambda: api.init_errors.append(body))
            else:
                self.reply(404)
                return
            self.reply(202)

    return Handler


class Runtime:
    """``python -m awslambdaric <handler>`` in its own process group (its forked workers join it)."""

    def __init__(
        self, api: RuntimeAPI, handler: str, directory: Path, env: dict[str, str], settings: dict[str, str]
    ) -> None:
        environment = {k: v for k, v in env.items() if k not in RUNTIME_DROP}
        environment.update(
            AWS_LAMBDA_RUNTIME_API=api.address,
            AWS_LAMBDA_FUNCTION_NAME="orders",
            AWS_LAMBDA_FUNCTION_MEMORY_SIZE="512",
            AWS_LAMBDA_FUNCTION_VERSION="$LATEST",
            LAMBDA_TASK_ROOT=str(directory),
            POWERTOOLS_TRACE_DISABLED="true",
            PYTHONPATH=str(directory),
        )
        environment.update(settings)  # the run's own choices: execution model, the variant's switches
        self.log = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115  # closed in stop()
        self.started = time.perf_counter()
        self.process = subprocess.Popen(
            [PYTHON, "-m", "awslambdaric", handler],
            cwd=directory,
            env=environment,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def signal(self, signum: int) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, signum)

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read()[-4000:]

    def stop(self) -> None:
        """Kill this runtime's process group (the runtime and the workers it forked), frozen or not."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)
        self.log.close()

    def __enter__(self) -> Runtime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
