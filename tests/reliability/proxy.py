"""A fault-injecting HTTP proxy between an STS client and moto's STS server, on 127.0.0.1.

Plain threads and sockets. Every request the client sends reaches the proxy, which, depending on its
current mode, forwards it to moto and relays the answer, or answers with a fault of its own. Every
answer carries ``Connection: close``, so botocore opens a new connection per attempt and a fault is
never hidden behind a pooled keep-alive connection.

Modes (``proxy.set_mode(name, **params)``, switchable at any time from any thread):

``pass``
    Forward to moto, relay the answer. With ``proxy.clock`` set, ``Expiration`` is rewritten to
    ``clock() + DurationSeconds`` of the request (3600 when the request has none), so that the
    credentials live on the test's fake clock.
``refuse``
    Nothing listens on the proxy's port: connection refused. The same port listens again as soon as
    another mode is set.
``reset``
    Forward to moto, send the status line, the headers and half of the body, then reset the connection
    (TCP RST): a connection reset mid-response.
``hang``
    Accept, read the request, never answer (until the mode changes or the proxy closes).
``slow``
    Wait ``delay`` seconds (real time), then forward; a request still waiting when the mode changes is
    dropped, never forwarded late.
``http500`` / ``http503``
    Answer HTTP 500 with an STS ``InternalFailure`` XML error (a plain-text body with ``plain=True``, as a
    load balancer would send) / HTTP 503 with an STS ``ServiceUnavailable`` XML error.
``throttle``
    Answer HTTP 400 with an STS ``Throttling`` error ("Rate exceeded") for the next ``n`` requests
    (all of them when ``n`` is None), then behave as ``pass``.
``denied``
    Answer HTTP 403 with an STS ``AccessDenied`` error.
``malformed``
    Answer HTTP 200 with a body that is not XML.
``truncated``
    Forward to moto and relay a body cut ``cut`` bytes after the opening tag ``at`` (default: 12 bytes
    into ``<SessionToken>``), with a Content-Length that matches the cut body: well-formed HTTP, broken
    XML holding part of the secrets.
``expired``
    Forward, and rewrite ``Expiration`` to ``now + offset`` (``offset`` seconds, negative for the past;
    ``now`` is ``proxy.clock`` or the real time).
``nocreds``
    Forward, and remove the ``Credentials`` element from the answer.

Counters: ``proxy.counts[mode]`` is the number of requests that arrived while ``mode`` decided their
fate (a ``throttle`` request past its ``n`` counts as ``pass``), ``proxy.requests`` their sum.
``proxy.issued`` maps every AccessKeyId that moto issued through the proxy to its (secret, token), and
``proxy.expirations`` to the Expiration (epoch seconds) of the answer the client received.
``proxy.before_response``, when set, is called in the request's thread before the answer is made (the
property test uses it to let fake time pass during a call).
"""

from __future__ import annotations

import contextlib
import http.client
import re
import select
import socket
import struct
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

MODES = (
    "pass",
    "refuse",
    "reset",
    "hang",
    "slow",
    "http500",
    "http503",
    "throttle",
    "denied",
    "malformed",
    "truncated",
    "expired",
    "nocreds",
)

THROTTLING_BODY = (
    b"<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message>"
    b"</Error><RequestId>7a62c49f-347e-4fc4-9331-6e8eEXAMPLE</RequestId></ErrorResponse>"
)
DENIED_BODY = (
    b"<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>User: "
    b"arn:aws:iam::123456789012:user/tester is not authorized to perform: sts:AssumeRole</Message>"
    b"</Error><RequestId>7a62c49f-347e-4fc4-9331-6e8eEXAMPLE</RequestId></ErrorResponse>"
)
INTERNAL_BODY = (
    b"<ErrorResponse><Error><Type>Receiver</Type><Code>InternalFailure</Code><Message>An internal error "
    b"occurred</Message></Error><RequestId>7a62c49f-347e-4fc4-9331-6e8eEXAMPLE</RequestId></ErrorResponse>"
)
UNAVAILABLE_BODY = (
    b"<ErrorResponse><Error><Type>Receiver</Type><Code>ServiceUnavailable</Code><Message>Service is "
    b"unavailable</Message></Error><RequestId>7a62c49f-347e-4fc4-9331-6e8eEXAMPLE</RequestId></ErrorResponse>"
)
MALFORMED_BODY = b"<AssumeRoleResponse><AssumeRoleResult><Credentials><AccessKeyId>ASIA&&<<not xml"

_EXPIRATION = re.compile(rb"<Expiration>[^<]*</Expiration>")
_CREDENTIALS = re.compile(rb"<Credentials>.*?</Credentials>", re.DOTALL)
_TRIPLE = re.compile(
    rb"<AccessKeyId>([^<]+)</AccessKeyId>\s*<SecretAccessKey>([^<]+)</SecretAccessKey>\s*"
    rb"<SessionToken>([^<]+)</SessionToken>"
)
_HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te"}


def iso(epoch: float) -> bytes:
    """Return ``epoch`` as STS writes an Expiration (UTC, milliseconds)."""
    text = datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    return text.encode()


def dead_port() -> int:
    """Return a loopback port on which nothing listens (bound, then closed)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Request:
    __slots__ = ("body", "headers", "method", "path")

    def __init__(self, method: str, path: str, headers: list[tuple[str, str]], body: bytes) -> None:
        self.method = method
        self.path = path
        self.headers = headers
        self.body = body

    def form(self) -> dict[str, str]:
        return dict(urllib.parse.parse_qsl(self.body.decode("utf-8", "replace")))


class FaultProxy:
    """The proxy; see the module docstring. Use as a context manager or call ``close()``."""

    def __init__(self, upstream: str, *, clock: Callable[[], float] | None = None) -> None:
        parsed = urllib.parse.urlsplit(upstream)
        assert parsed.hostname == "127.0.0.1", "the proxy only ever forwards to loopback"
        self.upstream = (parsed.hostname, parsed.port or 80)
        self.clock = clock
        self.before_response: Callable[[], None] | None = None
        self.counts: Counter[str] = Counter()
        self.issued: dict[str, tuple[str, str]] = {}
        self.expirations: dict[str, float] = {}
        self.mode = "pass"
        self.params: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._release = threading.Event()  # set to wake hanging and slow requests
        self._closed = False
        self._conns: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self._listener: socket.socket | None = self._listen(0)
        self.port = int(self._listener.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self._acceptor = threading.Thread(target=self._accept_loop, name="fault-proxy-accept", daemon=True)
        self._acceptor.start()

    # -- control --------------------------------------------------------------------------------

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def requests(self) -> int:
        """Requests that reached the proxy since the last ``reset_counts``."""
        return sum(self.counts.values())

    def reset_counts(self) -> None:
        with self._lock:
            self.counts.clear()

    def set_mode(self, mode: str, **params: Any) -> None:
        """Switch to ``mode``; hanging requests are let go (their connection is closed)."""
        assert mode in MODES, mode
        with self._lock:
            old, self.mode, self.params = self.mode, mode, dict(params)
            release, self._release = self._release, threading.Event()
            if mode == "refuse" and self._listener is not None:
                self._stop_listening()
            elif mode != "refuse" and self._listener is None:
                self._listener = self._listen(self.port)
        if old != mode:
            release.set()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            if self._listener is not None:
                self._stop_listening()
            self._release.set()
            conns = list(self._conns)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.close()
        self._acceptor.join(timeout=5)
        for thread in list(self._threads):
            thread.join(timeout=5)

    # -- serving --------------------------------------------------------------------------------

    def _stop_listening(self) -> None:
        # shutdown() first: it stops the listening at once, even while the accept thread is inside
        # select() on the socket (a bare close() would leave it listening until select() returns).
        assert self._listener is not None
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        self._listener = None

    @staticmethod
    def _listen(port: int) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        sock.listen(128)
        return sock

    def _accept_loop(self) -> None:
        while not self._closed:
            listener = self._listener
            if listener is None:
                time.sleep(0.01)
                continue
            try:
                ready, _, _ = select.select([listener], [], [], 0.05)
                if not ready:
                    continue
                conn, _ = listener.accept()
            except (OSError, ValueError):
                continue  # the listener was closed under us (refuse mode, or close())
            with self._lock:
                if self._closed:
                    conn.close()
                    return
                self._conns.add(conn)
                thread = threading.Thread(target=self._serve, args=(conn,), name="fault-proxy-conn", daemon=True)
                self._threads = [t for t in self._threads if t.is_alive()]
                self._threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            conn.settimeout(10)
            request = self._read_request(conn)
            if request is None:
                return
            with self._lock:
                mode, params, release = self.mode, dict(self.params), self._release
                if mode == "throttle":
                    left = params.get("n")
                    if left is not None and left <= 0:
                        mode = "pass"
                    elif left is not None:
                        self.params["n"] = left - 1
                self.counts[mode] += 1
            if self.before_response is not None:
                self.before_response()
            self._answer(conn, mode, params, release, request)
        except OSError:
            pass  # the client gave up (a timeout) or the proxy closed
        finally:
            with self._lock:
                self._conns.discard(conn)
            with contextlib.suppress(OSError):
                conn.close()

    @staticmethod
    def _read_request(conn: socket.socket) -> _Request | None:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                return None
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        method, path, _ = lines[0].split(" ", 2)
        headers = []
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers.append((name.strip(), value.strip()))
        length = int(next((v for k, v in headers if k.lower() == "content-length"), "0"))
        while len(body) < length:
            chunk = conn.recv(65536)
            if not chunk:
                return None
            body += chunk
        return _Request(method, path, headers, body)

    def _forward(self, request: _Request) -> tuple[int, str, list[tuple[str, str]], bytes]:
        upstream = http.client.HTTPConnection(*self.upstream, timeout=10)
        try:
            headers = {k: v for k, v in request.headers if k.lower() not in _HOP_BY_HOP}
            upstream.request(request.method, request.path, body=request.body, headers=headers)
            response = upstream.getresponse()
            body = response.read()
            kept = [(k, v) for k, v in response.getheaders() if k.lower() not in _HOP_BY_HOP | {"content-length"}]
            return response.status, response.reason, kept, body
        finally:
            upstream.close()

    def _record(self, body: bytes) -> None:
        found = _TRIPLE.search(body)
        if found:
            key, secret, token = (part.decode() for part in found.groups())
            with self._lock:
                self.issued[key] = (secret, token)

    def _record_expiration(self, body: bytes) -> None:
        key, stamp = re.search(rb"<AccessKeyId>([^<]+)<", body), _EXPIRATION.search(body)
        if key and stamp:
            text = stamp.group(0)[len(b"<Expiration>") : -len(b"</Expiration>")].decode()
            when = datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
            with self._lock:
                self.expirations[key.group(1).decode()] = when

    def _now(self) -> float:
        return self.clock() if self.clock is not None else time.time()

    def _answer(
        self, conn: socket.socket, mode: str, params: dict[str, Any], release: threading.Event, request: _Request
    ) -> None:
        if mode == "hang":
            release.wait(30)  # bounded, so that a forgotten hang cannot block the suite
            return
        if mode == "slow" and release.wait(float(params.get("delay", 0.5))):
            return  # the mode changed (or the proxy closed) while waiting: drop the request, as "hang" does
        canned = {
            "http500": (500, "Internal Server Error", "text/xml", INTERNAL_BODY),
            "http503": (503, "Service Unavailable", "text/xml", UNAVAILABLE_BODY),
            "throttle": (400, "Bad Request", "text/xml", THROTTLING_BODY),
            "denied": (403, "Forbidden", "text/xml", DENIED_BODY),
            "malformed": (200, "OK", "text/xml", MALFORMED_BODY),
        }
        if mode == "http500" and params.get("plain"):
            canned["http500"] = (500, "Internal Server Error", "text/plain", b"Internal Server Error")
        if mode in canned:
            status, reason, content_type, body = canned[mode]
            self._send(conn, status, reason, [("Content-Type", content_type)], body)
            return
        status, reason, headers, body = self._forward(request)
        self._record(body)
        if status == 200:
            if self.clock is not None:
                duration = float(request.form().get("DurationSeconds", "3600"))
                body = _EXPIRATION.sub(b"<Expiration>" + iso(self.clock() + duration) + b"</Expiration>", body)
            if mode == "expired":
                stamp = iso(self._now() + float(params.get("offset", -10)))
                body = _EXPIRATION.sub(b"<Expiration>" + stamp + b"</Expiration>", body)
            elif mode == "nocreds":
                body = _CREDENTIALS.sub(b"", body)
            elif mode == "truncated":
                tag = str(params.get("at", "SessionToken")).encode()
                start = body.find(b"<" + tag + b">")
                assert start >= 0, body
                body = body[: start + len(tag) + 2 + int(params.get("cut", 12))]
        if status == 200:
            self._record_expiration(body)
        if mode == "reset":
            head = self._head(status, reason, headers, len(body))
            conn.sendall(head + body[: len(body) // 2])
            # SO_LINGER with a zero timeout: close() sends a RST instead of a FIN.
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.close()
            return
        self._send(conn, status, reason, headers, body)

    @staticmethod
    def _head(status: int, reason: str, headers: list[tuple[str, str]], length: int) -> bytes:
        lines = [f"HTTP/1.1 {status} {reason}"]
        lines += [f"{k}: {v}" for k, v in headers]
        lines += [f"Content-Length: {length}", "Connection: close", "", ""]
        return "\r\n".join(lines).encode("latin-1")

    def _send(self, conn: socket.socket, status: int, reason: str, headers: list[tuple[str, str]], body: bytes) -> None:
        conn.sendall(self._head(status, reason, headers, len(body)) + body)
        with contextlib.suppress(OSError):
            conn.shutdown(socket.SHUT_WR)
