"""A pytest plugin to test handlers decorated with ``sts`` without AWS, moto or a network.

``sts_stub`` answers every AssumeRole and GetScopedCredentials with fake credentials (:class:`STSStub`); ``lambda_context`` is a
:class:`FakeLambdaContext`. pytest loads the plugin in every run of a project that installs the package,
so it imports only the standard library and pytest: the fixtures import the rest.

Example
-------
>>> from powertools_sts.testing import FakeLambdaContext
>>> FakeLambdaContext().function_name
'test'
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import os
import threading
import weakref
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from types import MappingProxyType
from typing import Any

import pytest

__all__ = ["AssumeRoleCall", "FakeLambdaContext", "STSStub", "lambda_context", "sts_stub"]

_PARAMS = "powertools_sts_stub_params"  # the call's parameters, from before-parameter-build to before-call
_CREDENTIAL_SOURCES = (  # would make botocore look for credentials elsewhere than the fixture's dummy keys
    *("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"),
    *("AWS_ROLE_ARN", "AWS_ROLE_SESSION_NAME", "AWS_WEB_IDENTITY_TOKEN_FILE"),
    *("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI"),
    *("AWS_CONTAINER_AUTHORIZATION_TOKEN", "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"),
)
_REQUEST_ID = "00000000-0000-4000-8000-000000000000"
#: The operations answered; GetScopedCredentials is named by this in ``fail`` and ``only``, where AssumeRole names a role.
_OPERATIONS = ("AssumeRole", "GetScopedCredentials")
_SCOPED = "GetScopedCredentials"
_STATUS = MappingProxyType(  # the HTTP status of STS's error codes; 400 for the others
    {"AccessDenied": 403, "RegionDisabledException": 403, "ExpiredToken": 400, "ServiceUnavailable": 503}
)


@dataclass(frozen=True)
class AssumeRoleCall:
    """One AssumeRole (or GetScopedCredentials) the code made while :func:`sts_stub` was active.

    Parameters
    ----------
    role_arn:
        ``RoleArn`` of the call; ``""`` for GetScopedCredentials, which assumes no role.
    params:
        Every parameter of the call, as botocore received it.
    access_key_id, error_code:
        What the call was answered with: the ``AccessKeyId`` served, or the error code (the other is None).
    signed_with:
        The access key id that would have signed the request (for a chained layer, the outer role's fake key).
    operation:
        ``"AssumeRole"`` or ``"GetScopedCredentials"``.

    Example
    -------
    >>> params = {"RoleSessionName": "orders-1a2b", "ExternalId": "x-1", "Tags": [{"Key": "team", "Value": "orders"}]}
    >>> call = AssumeRoleCall("arn:aws:iam::111122223333:role/reports", params)
    >>> (call.operation, call.role_session_name, call.external_id, call.tags, call.duration_seconds, call.policy)
    ('AssumeRole', 'orders-1a2b', 'x-1', {'team': 'orders'}, None, None)
    >>> scoped = AssumeRoleCall("", {"DurationSeconds": 900, "ScopedSessionDescription": "nightly"}, operation="GetScopedCredentials")
    >>> (scoped.duration_seconds, scoped.scoped_session_description)
    (900, 'nightly')
    """

    role_arn: str
    params: Mapping[str, Any] = field(default_factory=dict)
    access_key_id: str | None = None
    error_code: str | None = None
    signed_with: str | None = None
    operation: str = "AssumeRole"

    @property
    def role_session_name(self) -> str | None:
        """``RoleSessionName`` of the call."""
        return None if (value := self.params.get("RoleSessionName")) is None else str(value)

    @property
    def external_id(self) -> str | None:
        """``ExternalId`` of the call, or None."""
        return None if (value := self.params.get("ExternalId")) is None else str(value)

    @property
    def duration_seconds(self) -> int | None:
        """``DurationSeconds`` of the call, or None (STS then grants 3600 s)."""
        return None if (value := self.params.get("DurationSeconds")) is None else int(value)

    @property
    def tags(self) -> dict[str, str]:
        """The session ``Tags`` of the call as a dict of key to value (empty without tags)."""
        return {str(tag["Key"]): str(tag["Value"]) for tag in self.params.get("Tags", ())}

    @property
    def policy(self) -> str | None:
        """The inline session ``Policy`` (a JSON document) of the call, or None."""
        return None if (value := self.params.get("Policy")) is None else str(value)

    @property
    def scoped_session_description(self) -> str | None:
        """``ScopedSessionDescription`` of a GetScopedCredentials call, or None."""
        return None if (value := self.params.get("ScopedSessionDescription")) is None else str(value)


@dataclass
class FakeLambdaContext:
    """A Lambda context for tests: Powertools' ``LambdaContext`` is a type, whose properties fail outside Lambda.

    Parameters
    ----------
    function_name, function_version, memory_limit_in_mb, invoked_function_arn, aws_request_id, log_group_name, log_stream_name:
        As the runtime's context (every field Powertools' Logger reads), as plain attributes.
    remaining_time_in_millis:
        What :meth:`get_remaining_time_in_millis` returns.

    Example
    -------
    >>> context = FakeLambdaContext(function_name="orders")
    >>> (context.function_name, context.memory_limit_in_mb, context.get_remaining_time_in_millis())
    ('orders', 128, 300000)
    """

    function_name: str = "test"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 128
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:test"
    aws_request_id: str = "52fdfc07-2182-154f-163f-5f0f9a621d72"
    log_group_name: str = "/aws/lambda/test"
    log_stream_name: str = "2026/01/01/[$LATEST]0123456789abcdef0123456789abcdef"
    remaining_time_in_millis: int = 300_000

    def get_remaining_time_in_millis(self) -> int:
        """Return ``remaining_time_in_millis``: the time left before the invocation times out."""
        return self.remaining_time_in_millis


@dataclass
class _Failure:
    role_arn: str | None
    code: str
    message: str | None
    status: int
    times: int | None


def _digest(role_arn: str, purpose: str) -> bytes:
    return hashlib.sha256(f"{purpose}\0{role_arn}".encode()).digest()


class STSStub:
    """What the ``sts_stub`` fixture yields: the answers to AssumeRole and GetScopedCredentials, and the record of the calls.

    Each role gets the same fake credentials every time, and so do equal GetScopedCredentials parameters;
    their secret and token are never shown. ``fail`` and ``only`` name GetScopedCredentials (which assumes
    no role) ``"GetScopedCredentials"``.

    Attributes
    ----------
    calls:
        Every call answered, oldest first, as :class:`AssumeRoleCall` (its ``operation`` says which);
        ``calls.clear()`` starts again.
    lifetime:
        How far ahead ``Expiration`` is; None: ``DurationSeconds`` of the call, else 3600 s, as STS grants.
    account_id:
        The caller's account in the default ``AccessDenied`` message.

    Example
    -------
    >>> stub = STSStub()
    >>> key = stub.access_key_id_for("arn:aws:iam::111122223333:role/reports")
    >>> (key[:4], len(key), key == STSStub().access_key_id_for("arn:aws:iam::111122223333:role/reports"))
    ('ASIA', 20, True)
    >>> stub.fail("arn:aws:iam::111122223333:role/audit", code="AccessDenied")
    >>> stub.fail(code="Throttling", times=1)
    >>> stub.only("arn:aws:iam::111122223333:role/reports")
    >>> stub
    STSStub(calls=0, failures=2, only=['arn:aws:iam::111122223333:role/reports'])
    >>> (stub.role_arns, stub.calls_for("arn:aws:iam::111122223333:role/reports"), stub.scoped_calls)
    ([], [], [])
    """

    def __init__(self, *, lifetime: timedelta | None = None, account_id: str = "123456789012") -> None:
        self.calls: list[AssumeRoleCall] = []
        self.lifetime = lifetime
        self.account_id = account_id
        self._failures: list[_Failure] = []
        self._only: frozenset[str] | None = None
        self._lock = threading.Lock()
        self._active = False
        self._earlier: frozenset[threading.Thread] = frozenset()  # refused: a prefetch begun at collection
        self._clients: weakref.WeakSet[Any] = weakref.WeakSet()
        self._offset = 0.0

    def __repr__(self) -> str:
        only = None if self._only is None else sorted(self._only)
        return f"{type(self).__name__}(calls={len(self.calls)}, failures={len(self._failures)}, only={only})"

    def fail(
        self,
        role_arn: str | None = None,
        *,
        code: str = "AccessDenied",
        message: str | None = None,
        status: int | None = None,
        times: int | None = None,
    ) -> None:
        """Answer AssumeRole of ``role_arn`` with an STS error; botocore does not retry it.

        Parameters
        ----------
        role_arn:
            The role to refuse, or ``"GetScopedCredentials"``; None: every call. A rule for a role wins
            over one for every call.
        code:
            The error code (``AccessDenied``, ``ExpiredToken``, ``Throttling`` ...).
        message, status:
            The error message and HTTP status; by default STS's for ``code``, else ``"<code> (sts_stub)"`` and 400.
        times:
            Answer this many calls with the error, then serve credentials again; None: every call.

        Raises
        ------
        ValueError
            When ``times`` is not a whole number >= 1.
        """
        if times is not None and (type(times) is not int or times < 1):
            raise ValueError(f"times must be a whole number >= 1 or None, got {times!r}")
        failure = _Failure(role_arn, code, message, status or _STATUS.get(code, 400), times)
        with self._lock:
            self._failures.append(failure)

    def advance(self, seconds: float) -> None:
        """Move the package's clock ``seconds`` forward: cached credentials age, and refreshes come due.

        The stub's answers are dated by the same clock. A test that replaces the clock itself after
        the stub started moves its own instead.

        Raises
        ------
        ValueError
            When ``seconds`` is not a number >= 0.

        Example
        -------
        >>> def test_credentials_are_refreshed_before_they_expire(sts_stub):  # doctest: +SKIP
        ...     first = STSProvider().get("arn:aws:iam::111122223333:role/reports")
        ...     sts_stub.advance(3600 - 299)  # in the refresh window
        ...     assert STSProvider().get("arn:aws:iam::111122223333:role/reports") is not first
        """
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not 0 <= seconds < float("inf"):
            raise ValueError(f"seconds must be a number >= 0, got {seconds!r}")
        with self._lock:
            self._offset += seconds

    def only(self, *role_arns: str) -> None:
        """Serve credentials for these roles only (``"GetScopedCredentials"``: that too); any other is ``AccessDenied``."""
        with self._lock:
            self._only = frozenset(role_arns)

    def access_key_id_for(self, role_arn: str) -> str:
        """Return the ``AccessKeyId`` the stub serves for ``role_arn``: ``ASIA`` and 16 characters."""
        return "ASIA" + base64.b32encode(_digest(role_arn, "key")).decode()[:16]

    @property
    def role_arns(self) -> list[str]:
        """The ``RoleArn`` of every recorded AssumeRole, oldest first."""
        return [call.role_arn for call in self.calls if call.operation == "AssumeRole"]

    @property
    def scoped_calls(self) -> list[AssumeRoleCall]:
        """The recorded GetScopedCredentials calls, oldest first."""
        return [call for call in self.calls if call.operation == _SCOPED]

    def calls_for(self, role_arn: str) -> list[AssumeRoleCall]:
        """Return the recorded calls that assumed ``role_arn``, oldest first."""
        return [call for call in self.calls if call.role_arn == role_arn]

    def start(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Set dummy credentials and a region, empty the caches, and answer every STS client's AssumeRole and GetScopedCredentials."""
        from . import _botocore, _clock, _state, clear_caches

        earlier = _clock.now  # a clock the test set before the stub started: advance moves it on
        monkeypatch.setattr(_clock, "now", lambda: earlier() + self._offset)

        def attach(client: Any, operation_name: str) -> None:
            # At call time, not at creation: a client built before the test (at import) is answered too.
            if operation_name in _OPERATIONS and client not in self._clients and _is_sts(client):
                self._attach(client)

        self._earlier = frozenset(t for t in threading.enumerate() if t.name.startswith("powertools-sts"))
        # Before the dummy credentials are set: from here on no AssumeRole goes out, whatever it signs with.
        # botocore's one entry point of every API call, a private name (see _botocore.api_call_patch).
        monkeypatch.setattr(*_botocore.api_call_patch(attach))
        self._active = True
        monkeypatch.setattr(_state, "stubbed", True)  # no /tmp shared cache: the stub's answers stay in the test
        for name in _CREDENTIAL_SOURCES:
            monkeypatch.delenv(name, raising=False)
        # botocore's credential chain stops here: no profile, container endpoint or instance metadata is asked.
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
        monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
        monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
        region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
        monkeypatch.setenv("AWS_DEFAULT_REGION", os.environ.get("AWS_DEFAULT_REGION") or region)
        monkeypatch.setenv("AWS_REGION", os.environ.get("AWS_REGION") or region)
        clear_caches()  # what a prefetch at collection cached is not the stub's

    def stop(self) -> None:
        """Stop answering, detach from every client, and empty the package's caches again (the fixture's end)."""
        from . import background, clear_caches

        background.stop()  # the package's threads of this test end here, answered by the stub, not in the next
        self._active = False
        for client in list(self._clients):
            events = client.meta.events
            for operation in _OPERATIONS:
                events.unregister(
                    f"before-parameter-build.sts.{operation}", unique_id=self._unique_id(f"params-{operation}")
                )
                events.unregister(f"before-call.sts.{operation}", unique_id=self._unique_id(f"call-{operation}"))
        self._clients = weakref.WeakSet()
        clear_caches()

    def _attach(self, client: Any) -> None:
        events = client.meta.events
        for operation in _OPERATIONS:
            events.register(
                f"before-parameter-build.sts.{operation}",
                self._remember,
                unique_id=self._unique_id(f"params-{operation}"),
            )
            events.register_first(
                f"before-call.sts.{operation}", self._answer, unique_id=self._unique_id(f"call-{operation}")
            )
        self._clients.add(client)

    def _unique_id(self, what: str) -> str:
        return f"powertools-sts-stub-{what}-{id(self)}"

    def _remember(self, params: Mapping[str, Any], context: dict[str, Any], **_: Any) -> None:
        context[_PARAMS] = copy.deepcopy(dict(params))

    def _answer(
        self, request_signer: Any, context: dict[str, Any], model: Any, **_: Any
    ) -> tuple[Any, dict[str, Any]] | None:
        if not self._active:  # pragma: no cover - a call in flight when the test ended: as without the stub
            return None
        params: dict[str, Any] = context.get(_PARAMS, {})
        scoped = model.name == _SCOPED
        role_arn = "" if scoped else str(params.get("RoleArn", ""))
        if threading.current_thread() in self._earlier:
            return _error(400, "DiscardedByStub", "a fetch started before the sts_stub fixture; it is not recorded")
        from ._botocore import signer_access_key

        signed_with = signer_access_key(request_signer)
        # Equal GetScopedCredentials parameters get equal credentials, as a role does.
        identity = f"{_SCOPED}\0{json.dumps(params, sort_keys=True, default=str)}" if scoped else role_arn
        with self._lock:
            failure = self._failure_for(_SCOPED if scoped else role_arn)
            served, code = (self.access_key_id_for(identity), None) if failure is None else (None, failure.code)
            self.calls.append(AssumeRoleCall(role_arn, params, served, code, signed_with, model.name))
        if failure is None:
            response = self._credentials_response(identity, params)
            return _http(200), self._scoped_response(response, params) if scoped else response
        caller = f"arn:aws:sts::{self.account_id}:assumed-role/test/sts-stub"
        message = failure.message or (
            f"User: {caller} is not authorized to perform: sts:{model.name} on resource: {role_arn or caller}"
            if failure.code == "AccessDenied"
            else f"{failure.code} (sts_stub)"
        )
        return _error(failure.status, failure.code, message)

    def _failure_for(self, role_arn: str) -> _Failure | None:
        for wanted in (role_arn, None):
            for failure in self._failures:
                if failure.role_arn == wanted and failure.times != 0:
                    if failure.times is not None:
                        failure.times -= 1
                    return failure
        if self._only is not None and role_arn not in self._only:
            return _Failure(role_arn, "AccessDenied", None, 403, None)
        return None

    def _credentials_response(self, role_arn: str, params: Mapping[str, Any]) -> dict[str, Any]:
        from . import _clock

        lifetime = self.lifetime or timedelta(seconds=int(params.get("DurationSeconds") or 3600))
        expiration = datetime.fromtimestamp(int(_clock.now()), timezone.utc) + lifetime  # whole seconds, as STS's
        session = str(params.get("RoleSessionName", "session"))
        parts = role_arn.split(":", 5) if role_arn.count(":") >= 5 else ["arn", "aws", "", "", "", "role"]
        partition, account, role_name = parts[1], parts[4] or self.account_id, parts[5].rsplit("/", 1)[-1]
        role_id = "AROA" + base64.b32encode(_digest(role_arn, "role")).decode()[:17]
        arn = f"arn:{partition}:sts::{account}:assumed-role/{role_name}/{session}"
        response: dict[str, Any] = {
            "Credentials": {
                "AccessKeyId": self.access_key_id_for(role_arn),
                "SecretAccessKey": base64.b64encode(_digest(role_arn, "secret")).decode()[:40],
                "SessionToken": "FwoGZXIvYXdzE" + base64.b64encode(_digest(role_arn, "token") * 4).decode(),
                "Expiration": expiration,
            },
            "AssumedRoleUser": {"AssumedRoleId": f"{role_id}:{session}", "Arn": arn},
            "ResponseMetadata": _metadata(200),
        }
        if "Policy" in params or "PolicyArns" in params:
            response["PackedPolicySize"] = 0
        if "SourceIdentity" in params:
            response["SourceIdentity"] = params["SourceIdentity"]
        return response

    def _scoped_response(self, assumed: dict[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
        """GetScopedCredentials' answer: the caller's own identity (the stub's default caller), scoped down."""
        caller = {
            "ScopedSessionId": "AROASTSSTUBCALLER0000:sts-stub",
            "Arn": f"arn:aws:sts::{self.account_id}:assumed-role/test/sts-stub",
        }
        scopes = int("Policy" in params)
        return {
            "Credentials": assumed["Credentials"],
            "SessionInfo": caller,
            "ScopedPoliciesCount": scopes,
            "ResponseMetadata": _metadata(200),
        }


def _is_sts(client: Any) -> bool:
    return bool(client.meta.service_model.service_name == "sts")


def _metadata(status: int) -> dict[str, Any]:
    return {"RequestId": _REQUEST_ID, "HTTPStatusCode": status, "HTTPHeaders": {}, "RetryAttempts": 0}


def _http(status: int) -> Any:
    from botocore.awsrequest import AWSResponse, HTTPHeaders

    return AWSResponse("https://sts.amazonaws.com/", status, HTTPHeaders(), None)


def _error(status: int, code: str, message: str) -> tuple[Any, dict[str, Any]]:
    error = {"Type": "Sender", "Code": code, "Message": message}
    return _http(status), {"Error": error, "ResponseMetadata": _metadata(status)}


@pytest.fixture
def sts_stub(monkeypatch: pytest.MonkeyPatch) -> Iterator[STSStub]:
    """Answer every AssumeRole and GetScopedCredentials with fake credentials and record the calls; restore everything afterwards.

    Yields
    ------
    STSStub
        To choose failures (``fail``, ``only``) and read the record (``calls``, ``role_arns``, ``scoped_calls``).

    Example
    -------
    >>> def test_handler_assumes_reports(sts_stub, lambda_context):  # doctest: +SKIP
    ...     handler({}, lambda_context)
    ...     assert sts_stub.role_arns == ["arn:aws:iam::111122223333:role/reports"]
    >>> def test_scoped_down(sts_stub):  # doctest: +SKIP
    ...     creds = STSProvider().get_scoped_credentials(DurationSeconds=900)
    ...     [call] = sts_stub.scoped_calls
    ...     assert (call.operation, call.duration_seconds, call.access_key_id) == (
    ...         "GetScopedCredentials", 900, creds.access_key_id)
    """
    stub = STSStub()
    stub.start(monkeypatch)
    try:
        yield stub
    finally:
        stub.stop()


@pytest.fixture
def lambda_context() -> FakeLambdaContext:
    """Return a :class:`FakeLambdaContext` with its defaults; a fixture of yours with this name wins.

    Example
    -------
    >>> def test_handler(lambda_context):  # doctest: +SKIP
    ...     assert handler({}, lambda_context)["statusCode"] == 200
    """
    return FakeLambdaContext()
