"""A loopback STS for tests: GetScopedCredentials answered here (moto has none), every other request forwarded to moto.

It records, by access key id, what each credential it handed out was issued for: the parameters of the
GetScopedCredentials it answered, and the Tags, Policy and RoleSessionName of each AssumeRole that moto
answered through it. So a test can check, credential by credential, "issued for tenant T".
"""

from __future__ import annotations

import json
import re
import secrets
import threading
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from xml.sax.saxutils import escape

_NS = "https://sts.amazonaws.com/doc/2011-06-15/"
_SIGNER = re.compile(r"Credential=([^/,\s]+)/")
#: Forwarded as they came: what moto needs to read and check the request.
_HEADERS = ("Content-Type", "Authorization", "X-Amz-Date", "X-Amz-Security-Token", "Host", "User-Agent")


@dataclass(frozen=True)
class Issued:
    """One credential handed out: the operation, the request's parameters, who signed it, the session's ARN."""

    action: str
    params: dict[str, str] = field(default_factory=dict)
    signed_with: str | None = None
    arn: str | None = None

    @property
    def policy(self) -> str | None:
        return self.params.get("Policy")

    @property
    def duration_seconds(self) -> int | None:
        value = self.params.get("DurationSeconds")
        return None if value is None else int(value)

    @property
    def scoped_session_description(self) -> str | None:
        return self.params.get("ScopedSessionDescription")

    @property
    def role_arn(self) -> str | None:
        return self.params.get("RoleArn")

    @property
    def role_session_name(self) -> str | None:
        return self.params.get("RoleSessionName")

    @property
    def tags(self) -> dict[str, str]:
        """Session tags of an AssumeRole, from its ``Tags.member.N.Key`` and ``.Value`` fields."""
        numbers = sorted({int(m[1]) for key in self.params if (m := re.fullmatch(r"Tags\.member\.(\d+)\.Key", key))})
        return {self.params[f"Tags.member.{n}.Key"]: self.params.get(f"Tags.member.{n}.Value", "") for n in numbers}


class FakeSTS:
    """The server, its record (``issued``, ``actions``) and its knobs (``lifetime``, ``fail``)."""

    def __init__(self, upstream: str, *, caller_arn: str = "arn:aws:sts::123456789012:assumed-role/fn/fake") -> None:
        self.upstream = upstream
        self.caller_arn = caller_arn  # SessionInfo.Arn when the signer is no credential issued here
        self.lifetime = 3600  # seconds the calling session has left: DurationSeconds' default and maximum
        self.issued: dict[str, Issued] = {}
        self.actions: list[str] = []  # the Action of every request, answered or forwarded, oldest first
        self._failures: list[list[Any]] = []  # [code, message, times left]
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, headers, answer = fake._handle(body, self.path, self.headers)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: Any) -> None:  # quiet, as moto's werkzeug logger is
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, name="fake-sts", daemon=True).start()

    def fail(self, code: str = "MalformedPolicyDocument", message: str | None = None, *, times: int | None = 1) -> None:
        """Answer the next ``times`` GetScopedCredentials (None: all) with the error ``code`` (HTTP 400)."""
        with self._lock:
            self._failures.append([code, message or f"{code} (fake_sts)", times])

    def count(self, action: str) -> int:
        """The number of ``action`` requests received."""
        return self.actions.count(action)

    def reset(self) -> None:
        with self._lock:
            self.issued.clear()
            self.actions.clear()
            self._failures.clear()
        self.lifetime = 3600

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _handle(self, body: bytes, path: str, headers: Any) -> tuple[int, dict[str, str], bytes]:
        form = {key: values[0] for key, values in urllib.parse.parse_qs(body.decode(), keep_blank_values=True).items()}
        action = form.pop("Action", "")
        form.pop("Version", None)
        signer = _SIGNER.search(headers.get("Authorization", ""))
        with self._lock:
            self.actions.append(action)
        if action == "GetScopedCredentials":
            status, xml = self._scoped(form, signer[1] if signer else None)
            return status, {"Content-Type": "text/xml"}, xml.encode()
        status, answer = self._forward(body, path, headers)
        key, arn = re.search(rb"<AccessKeyId>(\w+)<", answer), re.search(rb"<Arn>([^<]+)<", answer)
        if action == "AssumeRole" and status == 200 and key:
            issued = Issued(action, form, signer[1] if signer else None, arn[1].decode() if arn else None)
            with self._lock:
                self.issued[key[1].decode()] = issued
        return status, {"Content-Type": "text/xml"}, answer

    def _forward(self, body: bytes, path: str, headers: Any) -> tuple[int, bytes]:
        request = urllib.request.Request(self.upstream + path, data=body, method="POST")
        for name in _HEADERS:
            if headers.get(name) is not None:
                request.add_header(name, headers[name])
        try:
            with urllib.request.urlopen(request, timeout=10) as response:  # loopback: moto's server
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def _scoped(self, form: dict[str, str], signer: str | None) -> tuple[int, str]:
        with self._lock:
            failure = next((f for f in self._failures if f[2] is None or f[2] > 0), None)
            if failure is not None and failure[2] is not None:
                failure[2] -= 1
        if failure is not None:
            return _error(failure[0], failure[1])
        if "Policy" not in form and "DurationSeconds" not in form:
            return _error("ValidationError", "A request must provide at least one of Policy or DurationSeconds")
        try:
            if "Policy" in form and not isinstance(json.loads(form["Policy"]), dict):
                raise ValueError("not an object")
        except ValueError:
            return _error("MalformedPolicyDocument", "The policy is not in the valid JSON format.")
        duration = int(form.get("DurationSeconds", self.lifetime))
        if duration > self.lifetime:
            return _error("InsufficientSessionLifetime", "DurationSeconds exceeds the calling session's lifetime")
        key = "ASIA" + secrets.token_hex(8).upper()
        parent = self.issued.get(signer or "")
        arn = parent.arn if parent is not None and parent.arn else self.caller_arn
        with self._lock:
            self.issued[key] = Issued("GetScopedCredentials", form, signer, arn)
        expiration = datetime.now(timezone.utc) + timedelta(seconds=duration)
        result = (
            f"<Credentials><AccessKeyId>{key}</AccessKeyId><SecretAccessKey>{secrets.token_urlsafe(30)}"
            f"</SecretAccessKey><SessionToken>FwoGZXIvYXdzE{secrets.token_urlsafe(90)}</SessionToken>"
            f"<Expiration>{expiration.strftime('%Y-%m-%dT%H:%M:%SZ')}</Expiration></Credentials>"
            f"<SessionInfo><ScopedSessionId>AROAFAKESTSSESSION:{key}</ScopedSessionId><Arn>{escape(arn)}</Arn>"
            f"</SessionInfo><ScopedPoliciesCount>{int('Policy' in form)}</ScopedPoliciesCount>"
        )
        return 200, _document(
            "GetScopedCredentialsResponse", f"<GetScopedCredentialsResult>{result}</GetScopedCredentialsResult>"
        )


def _document(root: str, inner: str) -> str:
    request_id = f"<ResponseMetadata><RequestId>{secrets.token_hex(16)}</RequestId></ResponseMetadata>"
    return f'<{root} xmlns="{_NS}">{inner}{request_id}</{root}>'


def _error(code: str, message: str) -> tuple[int, str]:
    error = f"<Error><Type>Sender</Type><Code>{escape(code)}</Code><Message>{escape(message)}</Message></Error>"
    return 400, f'<ErrorResponse xmlns="{_NS}">{error}<RequestId>{secrets.token_hex(16)}</RequestId></ErrorResponse>'
