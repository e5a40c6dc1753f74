"""A small HTTP proxy in front of moto on 127.0.0.1: it counts AssumeRole calls, can hold every
answer until a fixed time after its request arrived (STS latency), and can rewrite ``Expiration``
relative to a fake clock, or to a fixed lifetime from the real time.

moto computes ``Expiration`` from the real time, so a simulation that moves a fake clock through
24 hours would see credentials that never expire (or expire at once). The proxy replaces the value
with ``clock() + DurationSeconds`` (3600 when the request has none, as STS does), and leaves the
rest of the exchange real: botocore signs and sends, moto answers, botocore parses.
"""

from __future__ import annotations

import collections
import http.client
import re
import sys
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # The default backlog (5) drops the SYNs of 10 concurrent fetches: the client retries after 1 s.
    request_queue_size = 128

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A runtime killed at the end of a run resets its keep-alive connections: not an error.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


_EXPIRATION = re.compile(rb"<Expiration>[^<]*</Expiration>")
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length"}


class STSProxy:
    """Forward every request to ``upstream``, answering ``delay`` seconds after it arrived; count AssumeRole per RoleArn.

    Parameters
    ----------
    upstream:
        Base URL of the moto server, ``http://127.0.0.1:PORT``.
    delay:
        Seconds from a request's arrival to its answer (injected STS latency), moto's own time included.
    clock:
        When given, ``Expiration`` of every AssumeRole response is rewritten to ``clock() + DurationSeconds``.
    lifetime:
        When given (and no ``clock``), ``Expiration`` is rewritten to ``time.time() + lifetime``, in milliseconds.

    ``log`` holds one ``(arrived, answered, RoleArn, RoleSessionName)`` per AssumeRole, times in
    ``time.perf_counter()`` seconds.
    """

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
        self.delay = delay
        self.clock = clock
        self.lifetime = lifetime
        self.calls: collections.Counter[str] = collections.Counter()
        self.log: list[tuple[float, float, str, str]] = []
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), self._handler_class())
        self._thread = threading.Thread(target=self._server.serve_forever, name="sts-proxy", daemon=True)
        host, port = self._server.server_address[:2]
        self.url = f"http://{host}:{port}"

    def __enter__(self) -> STSProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    @property
    def total_calls(self) -> int:
        with self._lock:
            return sum(self.calls.values())

    def reset(self) -> None:
        with self._lock:
            self.calls.clear()
            self.log.clear()

    def _record(self, body: bytes) -> tuple[int, str, str] | None:
        """Count an AssumeRole request; return its DurationSeconds, RoleArn and RoleSessionName (None for others)."""
        if b"Action=AssumeRole" not in body:
            return None
        form = parse_qs(body.decode("ascii", "replace"))
        if form.get("Action") != ["AssumeRole"]:
            return None
        role = form.get("RoleArn", ["?"])[0]
        with self._lock:
            self.calls[role] += 1
        return int(form.get("DurationSeconds", ["3600"])[0]), role, form.get("RoleSessionName", ["?"])[0]

    def _rewrite(self, payload: bytes, duration: int) -> bytes:
        if self.clock is not None:
            expiration = datetime.fromtimestamp(self.clock() + duration, timezone.utc)
            stamp = expiration.strftime("%Y-%m-%dT%H:%M:%SZ").encode()
        else:
            assert self.lifetime is not None
            expiration = datetime.fromtimestamp(time.time() + self.lifetime, timezone.utc)
            stamp = (expiration.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z").encode()
        return _EXPIRATION.sub(b"<Expiration>" + stamp + b"</Expiration>", payload, count=1)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive: botocore reuses its connections, as with STS
            disable_nagle_algorithm = True  # headers and body go in two writes: no 40 ms delayed-ACK stall

            def do_POST(self) -> None:
                self._forward()

            def do_GET(self) -> None:
                self._forward()

            def _forward(self) -> None:
                arrived = time.perf_counter()
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                recorded = proxy._record(body)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
                upstream = http.client.HTTPConnection(*proxy.upstream, timeout=30)
                try:
                    upstream.request(self.command, self.path, body=body, headers=headers)
                    response = upstream.getresponse()
                    payload = response.read()
                    status, reason, answer_headers = response.status, response.reason, response.getheaders()
                finally:
                    upstream.close()
                rewrite = proxy.clock is not None or proxy.lifetime is not None
                if recorded is not None and rewrite and status == 200:
                    payload = proxy._rewrite(payload, recorded[0])
                if proxy.delay:
                    # The answer leaves ``delay`` after the request arrived, moto's own time included:
                    # concurrent requests, which one moto process serves one at a time, then take as
                    # long as one, as they would at STS.
                    time.sleep(max(0.0, arrived + proxy.delay - time.perf_counter()))
                if recorded is not None:
                    with proxy._lock:
                        proxy.log.append((arrived, time.perf_counter(), recorded[1], recorded[2]))
                self.send_response(status, reason)
                for key, value in answer_headers:
                    if key.lower() not in _HOP_BY_HOP and key.lower() not in ("server", "date"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: object) -> None:
                pass

        return Handler
