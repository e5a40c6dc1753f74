"""Clients that heal, and ``invalidate``: against moto's S3 behind a loopback proxy that refuses given keys.

moto serves S3 at the same address as STS. ``RefusingProxy`` stands in front of it for S3 only
(``AWS_ENDPOINT_URL_S3``): a request whose Authorization header carries a revoked access key id is
answered with an S3 XML error, as AWS answers a revoked or expired session, and every other request
is relayed to moto. Every request is recorded with the access key id that signed it, so a test sees
which credentials each attempt used; moto counts the AssumeRole calls.
"""

from __future__ import annotations

import http.client
import http.server
import logging
import re
import tempfile
import threading
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

import powertools_sts
from powertools_sts import AssumeRoleError, ConfigurationError, STSProvider, _state, get_client, get_credentials, sts
from powertools_sts.events import Refresh
from powertools_sts.sessions import HEAL_BACKOFF_SECONDS

from ..conftest import ROLE
from ..reliability.helpers import lambda_context

_CREDENTIAL = re.compile(r"Credential=([^/]+)/")

# (HTTP status, error code, message) of the refusals, as S3 and the other services send them.
EXPIRED = (400, "ExpiredToken", "The provided token has expired.")
REFUSALS = {
    "ExpiredToken": EXPIRED,
    "ExpiredTokenException": (400, "ExpiredTokenException", "The security token included in the request is expired"),
    "InvalidClientTokenId": (403, "InvalidClientTokenId", "The security token included in the request is invalid."),
    "RequestExpired": (400, "RequestExpired", "Request has expired."),
    "Signature expired": (
        403,
        "InvalidSignatureException",
        "Signature expired: 20300101T000000Z is now earlier than 20300101T000500Z (20300101T001000Z - 5 min.)",
    ),
}
DENIED = (403, "AccessDenied", "Access Denied")
THROTTLED = (400, "Throttling", "Rate exceeded")


class RefusingProxy:
    """A loopback HTTP proxy in front of moto that refuses requests signed with revoked access key ids.

    ``revoked`` maps an access key id to the (status, code, message) its requests are answered with;
    ``every_key``, when set, answers every signed request so; ``script`` answers the next requests in
    order, one entry each (None: relay), before those rules apply. ``gate``, when set, is called with
    each refusal's number (0, 1, ...) before it is answered, so that a test decides when concurrent
    callers are answered. ``requests`` records the signing access key id of every request.
    """

    def __init__(self, upstream: str) -> None:
        host, port = upstream.removeprefix("http://").split(":")
        assert host == "127.0.0.1", "only ever loopback"
        self.upstream = (host, int(port))
        self.revoked: dict[str, tuple[int, str, str]] = {}
        self.every_key: tuple[int, str, str] | None = None
        self.script: deque[tuple[int, str, str] | None] = deque()
        self.gate: Callable[[int], None] | None = None
        self.requests: list[str | None] = []
        self._refusals = 0
        self._lock = threading.Lock()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            # HTTP/1.1 answers botocore's "Expect: 100-continue" (a PutObject), which it would wait 1 s for.
            protocol_version = "HTTP/1.1"

            def do_request(self) -> None:
                proxy.handle(self)

            do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = do_request  # noqa: N815  # http.server's names

            def log_message(self, format: str, *args: Any) -> None:
                pass

        class Server(http.server.ThreadingHTTPServer):
            request_queue_size = 64  # 16 callers connect at once: a backlog of 5 would drop SYNs (1 s each)

        self.server = Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(
            target=self.server.serve_forever, args=(0.05,), name="refusing-proxy", daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def keys(self) -> list[str | None]:
        with self._lock:
            return list(self.requests)

    def clear(self) -> None:
        with self._lock:
            self.requests.clear()

    def _answer(self, key: str | None) -> tuple[tuple[int, str, str], int] | None:
        with self._lock:
            self.requests.append(key)
            if self.script:
                refusal = self.script.popleft()
            elif key is not None:
                refusal = self.every_key or self.revoked.get(key)
            else:
                refusal = None
            if refusal is None:
                return None
            self._refusals += 1
            return refusal, self._refusals - 1

    def handle(self, request: http.server.BaseHTTPRequestHandler) -> None:
        length = int(request.headers.get("Content-Length") or 0)
        body = request.rfile.read(length) if length else b""
        match = _CREDENTIAL.search(request.headers.get("Authorization") or "")
        answer = self._answer(match.group(1) if match else None)
        if answer is not None:
            (status, code, message), number = answer
            gate = self.gate
            if gate is not None:
                gate(number)
            payload = (
                f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{message}</Message>'
                f"<RequestId>{uuid.uuid4().hex}</RequestId></Error>"
            ).encode()
            request.send_response(status)
            request.send_header("Content-Type", "application/xml")
            request.send_header("Content-Length", str(len(payload)))
            request.send_header("Connection", "close")
            request.end_headers()
            if request.command != "HEAD":
                request.wfile.write(payload)
            return
        upstream = http.client.HTTPConnection(*self.upstream, timeout=10)
        try:
            headers = {
                name: value for name, value in request.headers.items() if name.lower() not in ("connection", "expect")
            }
            upstream.request(request.command, request.path, body=body, headers=headers)
            answer = upstream.getresponse()
            data = answer.read()
        finally:
            upstream.close()
        request.send_response(answer.status)
        for name, value in answer.getheaders():
            if name.lower() not in ("connection", "transfer-encoding", "content-length", "server", "date"):
                request.send_header(name, value)
        request.send_header("Content-Length", str(len(data)))
        request.send_header("Connection", "close")
        request.end_headers()
        if request.command != "HEAD":
            request.wfile.write(data)


@pytest.fixture
def proxy(moto_sts: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[RefusingProxy]:
    refusing = RefusingProxy(moto_sts.url)
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", refusing.url)
    yield refusing
    refusing.close()


class Observer:
    """Records what an sts layer reports: its refreshes and its retried calls."""

    def __init__(self, fail: bool = False) -> None:
        self.refreshes: list[Refresh] = []
        self.retries: list[tuple[str | None, str]] = []
        self.fail = fail

    def refreshed(self, event: Refresh) -> None:
        self.refreshes.append(event)

    def retried(self, entry: str | None, role_arn: str) -> None:
        self.retries.append((entry, role_arn))
        if self.fail:
            raise RuntimeError("an observer's bug")


def unique(prefix: str = "healing") -> str:
    """A name no other test uses (entry names, bucket names): layers of earlier tests may be alive."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def decorated(name: str, body: Callable[[], Any], **options: Any) -> Callable[..., Any]:
    """A handler with an sts layer of one entry ``name`` (the role ROLE) that returns ``body()``."""

    @sts(fetch_data={name: ROLE}, disable_prefetch=True, **options)
    def handler(event: Any, context: Any) -> Any:
        return body()

    return handler


def invoke(handler: Callable[..., Any]) -> Any:
    return handler({}, lambda_context())


def observe(name: str, observer: Any) -> None:
    """Set ``observer`` on the layer of entry ``name``."""
    for slot in _state.names[name]:
        slot.layer.observer = slot.observer = observer


def key_of(name: str) -> str:
    return get_credentials(name).access_key_id


# -- a refused call is retried once with new credentials -----------------------------------------------


@pytest.mark.parametrize("refusal", list(REFUSALS), ids=list(REFUSALS))
def test_a_refused_call_is_retried_once_with_new_credentials(moto_sts, proxy, refusal):
    name, bucket = unique(), unique("bucket")

    def body() -> Any:
        s3 = get_client(name, "s3")
        s3.create_bucket(Bucket=bucket)
        refused, calls = key_of(name), moto_sts.assume_role_calls
        proxy.revoked[refused] = REFUSALS[refusal]
        proxy.clear()

        s3.put_object(Bucket=bucket, Key="k", Body=b"healed")

        assert moto_sts.assume_role_calls == calls + 1  # one AssumeRole for the new credentials
        assert proxy.keys() == [refused, key_of(name)]  # the retry signed with them
        assert key_of(name) != refused
        assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"healed"

    invoke(decorated(name, body))


def test_the_clients_of_a_session_heal_too(moto_sts, proxy):
    name, bucket = unique(), unique("bucket")

    def body() -> Any:
        session = powertools_sts.get_session(name)
        s3 = session.client("s3")
        s3.create_bucket(Bucket=bucket)
        refused, calls = key_of(name), moto_sts.assume_role_calls
        proxy.revoked[refused] = EXPIRED
        proxy.clear()

        s3.put_object(Bucket=bucket, Key="k", Body=b"healed")

        assert moto_sts.assume_role_calls == calls + 1
        assert proxy.keys() == [refused, key_of(name)]
        # A resource is built on a client of the same session: it heals as well.
        proxy.revoked[key_of(name)] = EXPIRED
        proxy.clear()
        assert [item.key for item in session.resource("s3").Bucket(bucket).objects.all()] == ["k"]
        assert moto_sts.assume_role_calls == calls + 2
        assert len(proxy.keys()) == 2

    invoke(decorated(name, body))


def test_concurrent_refused_calls_make_one_assume_role(moto_sts, proxy):
    name, bucket, threads = unique(), unique("bucket"), 16
    observer = Observer()

    def body() -> Any:
        s3 = get_client(name, "s3")
        s3.create_bucket(Bucket=bucket)
        refused, calls = key_of(name), moto_sts.assume_role_calls
        proxy.revoked[refused] = EXPIRED
        # Every caller is refused before any is answered: all 16 signed with the revoked key.
        refused_all = threading.Barrier(threads, timeout=10)

        def gate(number: int) -> None:
            refused_all.wait()

        proxy.gate = gate
        proxy.clear()
        start = threading.Barrier(threads)
        errors: list[BaseException] = []

        def call(index: int) -> None:
            start.wait()
            try:
                s3.put_object(Bucket=bucket, Key=f"k{index}", Body=b"x")
            except BaseException as exc:
                errors.append(exc)

        workers = [threading.Thread(target=call, args=(index,)) for index in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(30)

        assert errors == []
        assert moto_sts.assume_role_calls == calls + 1
        fresh = key_of(name)
        assert sorted(proxy.keys(), key=lambda key: key != refused) == [refused] * threads + [fresh] * threads
        assert len(s3.list_objects_v2(Bucket=bucket)["Contents"]) == threads

    handler = decorated(name, body)
    observe(name, observer)
    invoke(handler)
    assert observer.retries == [(name, ROLE)] * threads


def test_a_refusal_answered_after_the_refresh_makes_no_second_assume_role(moto_sts, proxy):
    # Two calls signed with the revoked key; the second refusal is answered only once the first call
    # has healed. Its invalidation must not throw away the credentials that healing stored.
    name, bucket = unique(), unique("bucket")

    def body() -> Any:
        s3 = get_client(name, "s3")
        s3.create_bucket(Bucket=bucket)
        refused, calls = key_of(name), moto_sts.assume_role_calls
        proxy.revoked[refused] = EXPIRED
        both_refused, first_healed = threading.Barrier(2, timeout=10), threading.Event()

        def gate(number: int) -> None:
            both_refused.wait()
            if number == 1:
                first_healed.wait(10)

        proxy.gate = gate
        proxy.clear()
        errors: list[BaseException] = []

        def call(index: int) -> None:
            try:
                s3.put_object(Bucket=bucket, Key=f"k{index}", Body=b"x")
            except BaseException as exc:
                errors.append(exc)
            first_healed.set()

        workers = [threading.Thread(target=call, args=(index,)) for index in range(2)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(30)

        assert errors == []
        fresh = key_of(name)
        assert proxy.keys() == [refused, refused, fresh, fresh]
        assert moto_sts.assume_role_calls == calls + 1

    invoke(decorated(name, body))


def test_a_second_refusal_is_raised_as_botocore_raised_it(moto_sts, proxy):
    name, bucket = unique(), unique("bucket")

    def body() -> Any:
        s3 = get_client(name, "s3")
        s3.create_bucket(Bucket=bucket)
        refused, calls = key_of(name), moto_sts.assume_role_calls
        proxy.every_key = EXPIRED
        proxy.clear()

        with pytest.raises(ClientError) as raised:
            s3.put_object(Bucket=bucket, Key="k", Body=b"x")

        assert raised.value.response["Error"]["Code"] == "ExpiredToken"
        assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
        assert proxy.keys() == [refused, key_of(name)]  # exactly 2 requests, the second with new credentials
        assert moto_sts.assume_role_calls == calls + 1

    invoke(decorated(name, body))


def test_access_denied_is_never_retried(moto_sts, proxy):
    name, bucket = unique(), unique("bucket")

    def body() -> Any:
        s3 = get_client(name, "s3")
        s3.create_bucket(Bucket=bucket)
        key, calls = key_of(name), moto_sts.assume_role_calls
        proxy.revoked[key] = DENIED
        proxy.clear()

        with pytest.raises(ClientError) as raised:
            s3.put_object(Bucket=bucket, Key="k", Body=b"x")

        assert raised.value.response["Error"]["Code"] == "AccessDenied"
        assert proxy.keys() == [key]
        assert moto_sts.assume_role_calls == calls
        assert key_of(name) == key  # the credentials are kept
        # The same client heals a refusal of its credentials: what spared AccessDenied was the code.
        proxy.revoked[key] = EXPIRED
        proxy.clear()
        s3.put_object(Bucket=bucket, Key="k", Body=b"x")
        assert proxy.keys() == [key, key_of(name)]
        assert moto_sts.assume_role_calls == calls + 1

    invoke(decorated(name, body))


def test_throttling_is_left_to_botocores_own_retries(moto_sts, proxy):
    name, bucket = unique(), unique("bucket")

    def body() -> Any:
        once = get_client(name, "s3", config=Config(retries={"mode": "standard", "total_max_attempts": 1}))
        retrying = get_client(name, "s3", config=Config(retries={"mode": "standard", "total_max_attempts": 3}))
        once.create_bucket(Bucket=bucket)
        key, calls = key_of(name), moto_sts.assume_role_calls

        # botocore's retries off: a throttled call is one request, and no AssumeRole.
        proxy.script.extend([THROTTLED])
        proxy.clear()
        with pytest.raises(ClientError) as raised:
            once.put_object(Bucket=bucket, Key="k", Body=b"x")
        assert raised.value.response["Error"]["Code"] == "Throttling"
        assert proxy.keys() == [key]

        # botocore's retries on: they retry throttling as before, with the same credentials.
        proxy.script.extend([THROTTLED, THROTTLED])
        proxy.clear()
        retrying.put_object(Bucket=bucket, Key="k", Body=b"x")
        assert proxy.keys() == [key] * 3
        assert moto_sts.assume_role_calls == calls

        # Both in one call: botocore retries the throttling, this package heals the refusal.
        proxy.script.extend([THROTTLED, EXPIRED])
        proxy.clear()
        retrying.put_object(Bucket=bucket, Key="k", Body=b"x")
        assert proxy.keys() == [key, key, key_of(name)]
        assert moto_sts.assume_role_calls == calls + 1

    invoke(decorated(name, body))


def test_a_failed_refresh_raises_the_refusal_and_the_next_call_the_assume_role_error(moto_sts, proxy):
    name, bucket = unique(), unique("bucket")

    def body() -> Any:
        s3 = get_client(name, "s3")
        s3.create_bucket(Bucket=bucket)
        refused = key_of(name)
        proxy.revoked[refused] = EXPIRED
        proxy.clear()
        moto_sts.enable_iam()  # from now on STS refuses the function's dummy credentials

        with pytest.raises(ClientError) as raised:
            s3.put_object(Bucket=bucket, Key="k", Body=b"x")
        assert raised.value.response["Error"]["Code"] == "ExpiredToken"
        assert proxy.keys() == [refused]
        # The refused credentials are gone, even as stale ones: the next call says why there are none.
        with pytest.raises(AssumeRoleError):
            s3.put_object(Bucket=bucket, Key="k", Body=b"x")

    invoke(decorated(name, body))


def test_the_observer_counts_each_healing_retry(moto_sts, proxy):
    name, bucket = unique(), unique("bucket")
    observer = Observer()

    def body() -> Any:
        s3 = get_client(name, "s3")
        s3.create_bucket(Bucket=bucket)
        proxy.revoked[key_of(name)] = EXPIRED
        s3.put_object(Bucket=bucket, Key="k", Body=b"x")
        assert observer.retries == [(name, ROLE)]
        s3.put_object(Bucket=bucket, Key="k", Body=b"x")  # not refused: no retry
        proxy.every_key = EXPIRED
        with pytest.raises(ClientError):
            s3.put_object(Bucket=bucket, Key="k", Body=b"x")
        assert observer.retries == [(name, ROLE)] * 2  # the retry of the call refused twice counts once
        # And the refetches were reported as refreshes, as any other.
        assert [event.outcome for event in observer.refreshes] == ["fetched"] * 3

    handler = decorated(name, body)
    observe(name, observer)
    invoke(handler)


def test_an_observer_that_fails_does_not_fail_the_call(moto_sts, proxy):
    name, bucket = unique(), unique("bucket")
    observer = Observer(fail=True)

    def body() -> Any:
        s3 = get_client(name, "s3")
        s3.create_bucket(Bucket=bucket)
        refused = key_of(name)
        proxy.revoked[refused] = EXPIRED
        proxy.clear()
        s3.put_object(Bucket=bucket, Key="k", Body=b"x")
        assert proxy.keys() == [refused, key_of(name)]
        assert observer.retries == [(name, ROLE)]

    handler = decorated(name, body)
    observe(name, observer)
    invoke(handler)


def test_a_refusal_new_credentials_cannot_cure_is_not_healed_again_for_a_while(moto_sts, proxy, clock):
    # A Region the account has not enabled, a skewed clock: every credential is refused alike.
    name, bucket = unique(), unique("bucket")
    observer = Observer()

    def body() -> Any:
        s3 = get_client(name, "s3")
        s3.create_bucket(Bucket=bucket)
        calls = moto_sts.assume_role_calls
        proxy.every_key = REFUSALS["InvalidClientTokenId"]
        proxy.clear()

        for _ in range(10):
            with pytest.raises(ClientError, match="InvalidClientTokenId"):
                s3.put_object(Bucket=bucket, Key="k", Body=b"x")

        assert moto_sts.assume_role_calls == calls + 1  # one heal, which did not help
        assert len(proxy.keys()) == 11  # its two requests, then one per call
        assert observer.retries == [(name, ROLE)]

        clock.advance(HEAL_BACKOFF_SECONDS + 1)  # the back-off is over: one more try
        proxy.clear()
        with pytest.raises(ClientError, match="InvalidClientTokenId"):
            s3.put_object(Bucket=bucket, Key="k", Body=b"x")
        assert len(proxy.keys()) == 2
        assert moto_sts.assume_role_calls == calls + 2

    handler = decorated(name, body)
    observe(name, observer)
    invoke(handler)


def test_a_call_refused_with_the_credentials_of_a_heal_still_on_trial_heals_nothing(moto_sts, proxy):
    # Found attacking the back-off: a call first signed with the credentials a heal had just got, refused
    # while the healed call's retry was still out, dropped them and fetched again: 2 heals, not 1.
    name, bucket = unique(), unique("bucket")

    def body() -> Any:
        s3 = get_client(name, "s3")
        s3.create_bucket(Bucket=bucket)
        calls = moto_sts.assume_role_calls
        proxy.every_key = REFUSALS["InvalidClientTokenId"]
        retry_out, go_on = threading.Event(), threading.Event()

        def gate(number: int) -> None:
            if number == 1:  # the healed call's retry: held until the second call was refused
                retry_out.set()
                go_on.wait(10)

        proxy.gate = gate
        proxy.clear()

        def healed_call() -> None:
            with pytest.raises(ClientError, match="InvalidClientTokenId"):
                s3.put_object(Bucket=bucket, Key="a", Body=b"x")

        first = threading.Thread(target=healed_call)
        first.start()
        assert retry_out.wait(10)
        with pytest.raises(ClientError, match="InvalidClientTokenId"):
            s3.put_object(Bucket=bucket, Key="b", Body=b"x")  # signed with the heal's credentials
        go_on.set()
        first.join(10)
        assert moto_sts.assume_role_calls == calls + 1  # one heal
        assert len(proxy.keys()) == 3

    invoke(decorated(name, body))


def test_a_client_with_keys_of_its_own_is_not_healed(moto_sts, proxy, caplog):
    name, bucket, own = unique(), unique("bucket"), "AKIDOWNKEYS000000001"
    observer = Observer()

    def body() -> Any:
        s3 = get_client(name, "s3", aws_access_key_id=own, aws_secret_access_key="its-own-secret")
        s3.create_bucket(Bucket=bucket)
        calls = moto_sts.assume_role_calls
        proxy.revoked[own] = EXPIRED
        proxy.clear()

        with pytest.raises(ClientError, match="ExpiredToken"):
            s3.put_object(Bucket=bucket, Key="k", Body=b"x")

        assert proxy.keys() == [own]  # not sent again with the same keys
        assert moto_sts.assume_role_calls == calls
        assert observer.retries == []
        assert "retrying it once" not in caplog.text

    handler = decorated(name, body)
    observe(name, observer)
    caplog.set_level(logging.INFO, "powertools_sts")
    invoke(handler)


# -- invalidate ----------------------------------------------------------------------------------------


def test_invalidate_makes_the_next_read_fetch(moto_sts):
    name = unique()

    def body() -> Any:
        first = get_credentials(name)
        calls = moto_sts.assume_role_calls
        powertools_sts.invalidate(name)

        second = get_credentials(name)
        assert second.access_key_id != first.access_key_id
        assert moto_sts.assume_role_calls == calls + 1
        assert get_credentials(name) is second  # cached again
        assert moto_sts.assume_role_calls == calls + 1

    invoke(decorated(name, body))


def test_invalidate_keeps_credentials_a_refresh_put_in_place_of_the_refused_ones(moto_sts):
    name = unique()

    def body() -> Any:
        first = get_credentials(name)
        powertools_sts.invalidate(name)
        second = get_credentials(name)
        calls = moto_sts.assume_role_calls

        powertools_sts.invalidate(name, access_key_id=first.access_key_id)  # late: already replaced

        assert get_credentials(name) is second
        assert moto_sts.assume_role_calls == calls
        powertools_sts.invalidate(name, access_key_id=second.access_key_id)
        assert get_credentials(name).access_key_id not in (first.access_key_id, second.access_key_id)

    invoke(decorated(name, body))


def test_invalidated_credentials_are_never_served_stale(moto_sts, clock):
    name = unique()

    def body() -> Any:
        get_credentials(name)
        moto_sts.enable_iam()  # STS refuses from now on
        powertools_sts.invalidate(name)
        with pytest.raises(AssumeRoleError):
            get_credentials(name)

    invoke(decorated(name, body))


def test_invalidate_reaches_the_next_invocation(moto_sts):
    # The layer prepares the entry again at the next invocation: set_to_context sets what it fetched.
    name = unique("healing").replace("-", "_")  # the context attribute of that name
    seen: list[Any] = []

    def body() -> Any:
        seen.append(get_credentials(name))
        return None

    @sts(fetch_data={name: ROLE}, disable_prefetch=True, set_to_context=True)
    def handler(event: Any, context: Any) -> Any:
        seen.append(getattr(context, name))
        return body()

    invoke(handler)
    powertools_sts.invalidate(name)  # outside an invocation: the only entry of that name
    invoke(handler)

    assert seen[0] is seen[1]
    assert seen[2] is not None
    assert seen[2] is seen[3]
    assert seen[2].access_key_id != seen[0].access_key_id


def test_invalidate_an_unknown_name_is_a_configuration_error():
    with pytest.raises(ConfigurationError, match="no sts layer has an entry named"):
        powertools_sts.invalidate(unique("nobody"))


def test_provider_invalidate_makes_the_next_get_fetch(moto_sts):
    provider = STSProvider()
    first = provider.get(ROLE, ExternalId="x-1234")
    calls = moto_sts.assume_role_calls

    provider.invalidate(ROLE, ExternalId="x-1234")

    second = provider.get(ROLE, ExternalId="x-1234")
    assert second.access_key_id != first.access_key_id
    assert moto_sts.assume_role_calls == calls + 1
    assert provider.get(ROLE, ExternalId="x-1234") is second
    assert moto_sts.assume_role_calls == calls + 1


def test_provider_invalidate_leaves_other_and_newer_entries_alone(moto_sts):
    provider = STSProvider()
    first = provider.get(ROLE, ExternalId="x-1234")
    provider.invalidate(ROLE, ExternalId="x-1234")
    second = provider.get(ROLE, ExternalId="x-1234")
    calls = moto_sts.assume_role_calls

    provider.invalidate(ROLE)  # another entry, never fetched: a no-op
    provider.invalidate(ROLE, access_key_id=first.access_key_id, ExternalId="x-1234")  # replaced already

    assert provider.get(ROLE, ExternalId="x-1234") is second
    assert moto_sts.assume_role_calls == calls
    with pytest.raises(ConfigurationError, match="RoleArn is given twice"):
        provider.invalidate(ROLE, RoleArn=ROLE)
    with pytest.raises(ConfigurationError):
        provider.invalidate(ROLE, DurationSeconds=5)  # what get would refuse


def test_provider_invalidate_never_takes_the_refused_credentials_back_from_the_shared_cache(
    moto_sts, tmp_path, monkeypatch
):
    # Two providers on one shared cache stand for two processes of one execution environment.
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    refusing, other = STSProvider(shared_cache=True), STSProvider(shared_cache=True)
    refused = refusing.get(ROLE)
    assert other.get(ROLE) == refused  # from the shared file
    assert moto_sts.assume_role_calls == 1

    refusing.invalidate(ROLE)
    fresh = refusing.get(ROLE)

    assert fresh.access_key_id != refused.access_key_id  # not the refused ones from the file
    assert moto_sts.assume_role_calls == 2
    # The other process finds out when its own call is refused: it takes the new ones from the file.
    other.invalidate(ROLE, access_key_id=refused.access_key_id)
    assert other.get(ROLE) == fresh
    assert moto_sts.assume_role_calls == 2
