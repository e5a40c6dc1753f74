"""Fixtures of the integration tests: an X-Ray daemon stand-in and a Lambda Runtime API on 127.0.0.1."""

from __future__ import annotations

import json
import queue
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


class XRayDaemon:
    """A UDP socket on loopback that receives what aws-xray-sdk's emitter sends to the daemon."""

    def __init__(self) -> None:
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.socket.bind(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self.socket.getsockname()[1]}"

    def documents(self, timeout: float = 10.0) -> list[dict[str, Any]]:
        """Every document received up to the sender's closing ``END`` datagram (bounded wait)."""
        self.socket.settimeout(timeout)
        found: list[dict[str, Any]] = []
        while True:
            data = self.socket.recv(65536)
            if data == b"END":
                return found
            header, _, document = data.partition(b"\n")
            assert json.loads(header) == {"format": "json", "version": 1}
            found.append(json.loads(document))

    def close(self) -> None:
        self.socket.close()


@pytest.fixture
def xray_daemon() -> Iterator[XRayDaemon]:
    daemon = XRayDaemon()
    yield daemon
    daemon.close()


class RuntimeAPI:
    """The few routes of the Lambda Runtime API that awslambdaric calls, served on 127.0.0.1.

    Events queued with ``invoke`` are served, in order, to ``GET .../invocation/next``; with none
    queued, that request is held (as Lambda holds it) until one is or the server closes. ``gate``,
    when set, runs once, before the first event is served, and its result is kept in ``gate_result``.

    Several runtimes (the worker processes of Lambda Managed Instances) may poll at once: each held
    ``next`` takes one event. ``polls`` counts the ``next`` requests received, ``served`` the events
    handed out, so ``waiting()`` is the number of requests held now (one per idle worker).
    """

    PREFIX = "/2018-06-01/runtime"

    def __init__(self) -> None:
        self.events: queue.Queue[tuple[str, Any]] = queue.Queue()
        self.responses: dict[str, Any] = {}
        self.errors: dict[str, dict[str, Any]] = {}
        self.init_errors: list[dict[str, Any]] = []
        self.restores = 0
        self.gate: Callable[[], Any] | None = None
        self.gate_result: Any = None
        self._gate_lock = threading.Lock()
        self._gate_ran = False
        self.served = 0
        self.polls = 0
        self.changed = threading.Condition()
        self.closed = threading.Event()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _runtime_handler(self))
        self.server.daemon_threads = True
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
            assert self.changed.wait_for(predicate, timeout), f"timed out waiting for {what}"

    def waiting(self) -> int:
        """The ``next`` requests held now, waiting for an event."""
        return self.polls - self.served

    def next_event(self) -> tuple[str, Any] | None:
        def polled() -> None:
            self.polls += 1

        self.record(polled)
        if self.gate is not None:
            with self._gate_lock:  # a poller arriving meanwhile waits for the gate to end
                if not self._gate_ran and self.served == 0:
                    self._gate_ran = True
                    self.gate_result = self.gate()
        while not self.closed.is_set():
            try:
                item = self.events.get(timeout=0.05)
            except queue.Empty:
                continue

            def served() -> None:
                self.served += 1

            self.record(served)
            return item
        return None

    def close(self) -> None:
        self.closed.set()
        self.server.shutdown()
        self.server.server_close()


def _runtime_handler(api: RuntimeAPI) -> type[BaseHTTPRequestHandler]:
    invocation = re.compile(re.escape(RuntimeAPI.PREFIX) + r"/invocation/([^/]+)/(response|error)")

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # quiet: the test reads what it needs
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
            if self.path == RuntimeAPI.PREFIX + "/invocation/next":
                item = api.next_event()
                if item is None:  # the server is closing: drop the held request
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
            elif self.path == RuntimeAPI.PREFIX + "/restore/next":

                def restored() -> None:
                    api.restores += 1

                api.record(restored)
                self.reply(200)
            else:
                self.reply(404)

        def do_POST(self) -> None:
            body = self.body()
            match = invocation.fullmatch(self.path)
            if match and match.group(2) == "response":
                api.record(lambda: api.responses.__setitem__(match.group(1), body))
            elif match:
                error = {"body": body, "type": self.headers.get("Lambda-Runtime-Function-Error-Type")}
                api.record(lambda: api.errors.__setitem__(match.group(1), error))
            elif self.path in (RuntimeAPI.PREFIX + "/init/error", RuntimeAPI.PREFIX + "/restore/error"):
                api.record(lambda: api.init_errors.append(body))
            else:
                self.reply(404)
                return
            self.reply(202)

    return Handler


@pytest.fixture
def runtime_api() -> Iterator[RuntimeAPI]:
    api = RuntimeAPI()
    yield api
    api.close()
