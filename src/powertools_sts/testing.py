"""Unit-test handlers decorated with ``sts`` without AWS, moto or a network: a pytest plugin.

pytest loads this module in every run of a project that installs the package (the ``pytest11`` entry
point), so it imports nothing but the standard library and pytest: botocore and the rest of the
package are imported by the fixtures that need them, and a test that uses no fixture of this module
runs exactly as without it.

Fixtures
--------
``sts_stub``
    An :class:`STSStub`: every AssumeRole the code makes while the test runs is answered with
    deterministic fake credentials (or a chosen error) and recorded with its parameters.
``lambda_context``
    A :class:`FakeLambdaContext`, the dataclass Powertools' own docs use for Logger and Tracer tests.

A fixture of the same name defined in your ``conftest.py`` or test module overrides the plugin's one,
as pytest always lets a closer fixture override a plugin's.

How the stub intercepts: the package's own code (validation, cache, single flight, error handling)
runs for real; only the HTTP round trip to STS is replaced. While the fixture is active, every STS
client that makes a call (the package's, built before the test or during it, and any of yours) gets
a ``before-call.sts.AssumeRole`` handler on its event emitter, and botocore skips the request when a
``before-call`` handler answers. botocore's parameter validation runs before that handler, so a call
botocore would refuse is refused here too. Other STS operations and other services are untouched.

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

# Where the before-parameter-build handler leaves the call's parameters for the before-call handler.
_PARAMS = "powertools_sts_stub_params"
# Environment variables that would make botocore look for credentials anywhere but the dummy keys the
# fixture sets: a profile, a web identity, a container credentials endpoint.
_CREDENTIAL_SOURCES = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_ROLE_ARN",
    "AWS_ROLE_SESSION_NAME",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
)
# The HTTP status STS answers an error code with; 400 for the others.
_STATUS = MappingProxyType(
    {"AccessDenied": 403, "RegionDisabledException": 403, "ExpiredToken": 400, "ServiceUnavailable": 503}
)


@dataclass(frozen=True)
class AssumeRoleCall:
    """One AssumeRole the code made while :func:`sts_stub` was active.

    Parameters
    ----------
    role_arn:
        ``RoleArn`` of the call.
    params:
        Every parameter of the call, as botocore received it (``RoleSessionName``, ``ExternalId``,
        ``DurationSeconds``, ``Tags``, ``Policy``, ``PolicyArns``, ``SourceIdentity`` ...).
    access_key_id:
        ``AccessKeyId`` of the credentials served, or None when the call was answered with an error.
    error_code:
        The error code the call was answered with, or None when credentials were served.
    signed_with:
        The access key id that would have signed the request: the fixture's dummy key, or, for a
        chained ``sts`` layer (``aws_client_assume_role``), the fake key served for the outer role.

    Example
    -------
    >>> call = AssumeRoleCall("arn:aws:iam::111122223333:role/reports", {"ExternalId": "x-1", "DurationSeconds": 900})
    >>> (call.external_id, call.duration_seconds, call.tags)
    ('x-1', 900, {})
    """

    role_arn: str
    params: Mapping[str, Any] = field(default_factory=dict)
    access_key_id: str | None = None
    error_code: str | None = None
    signed_with: str | None = None

    @property
    def role_session_name(self) -> str | None:
        """``RoleSessionName`` of the call.

        Example
        -------
        >>> AssumeRoleCall("arn:aws:iam::1:role/r", {"RoleSessionName": "orders-1a2b"}).role_session_name
        'orders-1a2b'
        """
        value = self.params.get("RoleSessionName")
        return None if value is None else str(value)

    @property
    def external_id(self) -> str | None:
        """``ExternalId`` of the call, or None.

        Example
        -------
        >>> AssumeRoleCall("arn:aws:iam::1:role/r").external_id is None
        True
        """
        value = self.params.get("ExternalId")
        return None if value is None else str(value)

    @property
    def duration_seconds(self) -> int | None:
        """``DurationSeconds`` of the call, or None (STS then grants 3600 s).

        Example
        -------
        >>> AssumeRoleCall("arn:aws:iam::1:role/r", {"DurationSeconds": 900}).duration_seconds
        900
        """
        value = self.params.get("DurationSeconds")
        return None if value is None else int(value)

    @property
    def tags(self) -> dict[str, str]:
        """The session ``Tags`` of the call as a dict of key to value (empty without tags).

        Example
        -------
        >>> AssumeRoleCall("arn:aws:iam::1:role/r", {"Tags": [{"Key": "team", "Value": "orders"}]}).tags
        {'team': 'orders'}
        """
        return {str(tag["Key"]): str(tag["Value"]) for tag in self.params.get("Tags", ())}

    @property
    def policy(self) -> str | None:
        """The inline session ``Policy`` (a JSON document) of the call, or None.

        Example
        -------
        >>> AssumeRoleCall("arn:aws:iam::1:role/r", {"Policy": "{}"}).policy
        '{}'
        """
        value = self.params.get("Policy")
        return None if value is None else str(value)


@dataclass
class FakeLambdaContext:
    """A Lambda context for tests: the dataclass Powertools' docs use, plus the rest of the runtime's fields.

    Powertools' ``LambdaContext`` (``aws_lambda_powertools.utilities.typing``) is a type for
    annotations: its properties read private attributes that only the runtime sets, so an instance
    built in a test raises ``AttributeError`` on the first one read. This dataclass has every field
    Powertools' Logger reads (``function_name``, ``memory_limit_in_mb``, ``invoked_function_arn``,
    ``aws_request_id``) and the others handlers commonly read; fields are plain attributes, so
    ``set_to_context=True`` can set entries on it.

    Parameters
    ----------
    function_name, function_version, memory_limit_in_mb, invoked_function_arn, aws_request_id,
    log_group_name, log_stream_name:
        As the Lambda runtime's context.
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
        """Return ``remaining_time_in_millis``: the time left before the invocation times out.

        Example
        -------
        >>> FakeLambdaContext(remaining_time_in_millis=1000).get_remaining_time_in_millis()
        1000
        """
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
    """What the ``sts_stub`` fixture yields: the answers to AssumeRole, and the record of the calls.

    Each role gets the same fake credentials every time (derived from its ARN): an ``AccessKeyId``
    of ``ASIA`` and 16 more characters, a 40-character secret, a session token, and an
    ``Expiration`` ``lifetime`` ahead (``DurationSeconds`` of the call, else 3600 s, as STS grants).
    The secret and the token never appear in a repr, a record or a log line.

    Attributes
    ----------
    calls:
        Every AssumeRole answered while the fixture was active, oldest first, as
        :class:`AssumeRoleCall` values. A plain list: ``calls.clear()`` starts counting again.
    lifetime:
        When set, the ``Expiration`` of every credential served is this far ahead, whatever the
        call's ``DurationSeconds``.
    account_id:
        The caller's account in the default ``AccessDenied`` message (the fake ``AssumedRoleUser`` is in
        the role's own account).

    Example
    -------
    >>> stub = STSStub()
    >>> stub.access_key_id_for("arn:aws:iam::111122223333:role/reports").startswith("ASIA")
    True
    >>> stub.fail("arn:aws:iam::111122223333:role/audit", code="AccessDenied")
    >>> stub
    STSStub(calls=0, failures=1, only=None)
    """

    def __init__(self, *, lifetime: timedelta | None = None, account_id: str = "123456789012") -> None:
        self.calls: list[AssumeRoleCall] = []
        self.lifetime = lifetime
        self.account_id = account_id
        self._failures: list[_Failure] = []
        self._only: frozenset[str] | None = None
        self._lock = threading.Lock()
        self._active = False
        # Threads of the package that were running when the fixture started: a prefetch begun when the
        # handler module was imported (at collection). What they fetch is discarded by the fixture's
        # clear_caches(); they are refused rather than recorded, so the record holds the test's calls only.
        self._earlier: frozenset[threading.Thread] = frozenset()
        self._clients: weakref.WeakSet[Any] = weakref.WeakSet()

    def __repr__(self) -> str:
        only = None if self._only is None else sorted(self._only)
        return f"{type(self).__name__}(calls={len(self.calls)}, failures={len(self._failures)}, only={only})"

    # -- what the test chooses -----------------------------------------------------------------------

    def fail(
        self,
        role_arn: str | None = None,
        *,
        code: str = "AccessDenied",
        message: str | None = None,
        status: int | None = None,
        times: int | None = None,
    ) -> None:
        """Answer AssumeRole of ``role_arn`` (of every role when None) with an STS error.

        The package turns it into an ``AssumeRoleError`` whose ``code`` is ``code``, as it does a real
        STS error response. The answer is final: botocore's retries are not involved, so a
        ``Throttling`` is one recorded call, not three.

        Parameters
        ----------
        role_arn:
            The role to refuse; None: every role. A rule for a role wins over one for every role.
        code:
            The error code (``AccessDenied``, ``ExpiredToken``, ``RegionDisabledException``,
            ``Throttling``, ``ValidationError`` ...).
        message:
            The error message; by default, for ``AccessDenied``, one worded as STS words it ("User: ...
            is not authorized to perform: sts:AssumeRole on resource: <role>"), else ``"<code> (sts_stub)"``.
        status:
            The HTTP status; by default 403 for ``AccessDenied`` and ``RegionDisabledException``, 503
            for ``ServiceUnavailable``, else 400.
        times:
            Answer this many calls with the error, then serve credentials again; None: every call.

        Example
        -------
        >>> stub = STSStub()
        >>> stub.fail("arn:aws:iam::111122223333:role/audit")
        >>> stub.fail(code="Throttling", times=1)
        """
        if times is not None and (type(times) is not int or times < 1):
            raise ValueError(f"times must be a whole number >= 1 or None, got {times!r}")
        failure = _Failure(role_arn, code, message, status or _STATUS.get(code, 400), times)
        with self._lock:
            self._failures.append(failure)

    def only(self, *role_arns: str) -> None:
        """Serve credentials for these roles only; AssumeRole of any other role is refused with ``AccessDenied``.

        Example
        -------
        >>> stub = STSStub()
        >>> stub.only("arn:aws:iam::111122223333:role/reports")
        """
        with self._lock:
            self._only = frozenset(role_arns)

    def access_key_id_for(self, role_arn: str) -> str:
        """Return the ``AccessKeyId`` the stub serves for ``role_arn``: ``ASIA`` and 16 characters.

        Example
        -------
        >>> key = STSStub().access_key_id_for("arn:aws:iam::111122223333:role/reports")
        >>> (len(key), key == STSStub().access_key_id_for("arn:aws:iam::111122223333:role/reports"))
        (20, True)
        """
        return "ASIA" + base64.b32encode(_digest(role_arn, "key")).decode()[:16]

    @property
    def role_arns(self) -> list[str]:
        """The ``RoleArn`` of every recorded call, oldest first.

        Example
        -------
        >>> STSStub().role_arns
        []
        """
        return [call.role_arn for call in self.calls]

    def calls_for(self, role_arn: str) -> list[AssumeRoleCall]:
        """Return the recorded calls that assumed ``role_arn``, oldest first.

        Example
        -------
        >>> STSStub().calls_for("arn:aws:iam::111122223333:role/reports")
        []
        """
        return [call for call in self.calls if call.role_arn == role_arn]

    # -- the fixture's life ----------------------------------------------------------------------------

    def start(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Set dummy credentials and a region, empty the package's caches, and answer every STS client's AssumeRole.

        What the ``sts_stub`` fixture does before the test; ``monkeypatch`` undoes the environment
        and the patch after it. Use the fixture rather than calling this yourself.

        Example
        -------
        >>> def test_report(sts_stub):  # the fixture calls start() and stop()
        ...     ...
        """
        from . import _botocore, _state, clear_caches

        def attach(client: Any, operation_name: str) -> None:
            # At call time, not at creation: a client built before the test (at import) is answered too.
            if operation_name == "AssumeRole" and client not in self._clients and _is_sts(client):
                self._attach(client)

        self._earlier = frozenset(t for t in threading.enumerate() if t.name.startswith("powertools-sts"))
        # Before the dummy credentials are set: from here on no AssumeRole goes out, whatever it signs with.
        # botocore's one entry point of every API call, a private name (see _botocore.api_call_patch).
        monkeypatch.setattr(*_botocore.api_call_patch(attach))
        self._active = True
        # Nothing is read from or written to the /tmp shared cache meanwhile: a stub's answers and failures
        # must not reach the next test, nor another pytest session (POWERTOOLS_STS_SHARED_CACHE=true).
        monkeypatch.setattr(_state, "stubbed", True)
        for name in _CREDENTIAL_SOURCES:
            monkeypatch.delenv(name, raising=False)
        # Signing credentials come from these, so botocore's credential chain stops at the environment:
        # no profile file, no container endpoint, no instance metadata service is asked.
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
        monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
        monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
        region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
        monkeypatch.setenv("AWS_DEFAULT_REGION", os.environ.get("AWS_DEFAULT_REGION") or region)
        monkeypatch.setenv("AWS_REGION", os.environ.get("AWS_REGION") or region)
        # Credentials cached before the test (a prefetch at collection) are not the stub's: fetch again.
        clear_caches()

    def stop(self) -> None:
        """Stop answering, detach from every client, and empty the package's caches again.

        Example
        -------
        >>> STSStub().stop()
        """
        from . import clear_caches

        self._active = False
        for client in list(self._clients):
            events = client.meta.events
            events.unregister("before-parameter-build.sts.AssumeRole", unique_id=self._unique_id("params"))
            events.unregister("before-call.sts.AssumeRole", unique_id=self._unique_id("call"))
        self._clients = weakref.WeakSet()
        # Credentials, sessions and clients built on the fake credentials go with the test.
        clear_caches()

    # -- botocore's side -----------------------------------------------------------------------------

    def _attach(self, client: Any) -> None:
        events = client.meta.events
        events.register("before-parameter-build.sts.AssumeRole", self._remember, unique_id=self._unique_id("params"))
        events.register_first("before-call.sts.AssumeRole", self._answer, unique_id=self._unique_id("call"))
        self._clients.add(client)

    def _unique_id(self, what: str) -> str:
        return f"powertools-sts-stub-{what}-{id(self)}"

    def _remember(self, params: Mapping[str, Any], context: dict[str, Any], **_: Any) -> None:
        context[_PARAMS] = copy.deepcopy(dict(params))

    def _answer(self, request_signer: Any, context: dict[str, Any], **_: Any) -> tuple[Any, dict[str, Any]] | None:
        if not self._active:  # pragma: no cover - a call in flight when the test ended: as without the stub
            return None
        params: dict[str, Any] = context.get(_PARAMS, {})
        role_arn = str(params.get("RoleArn", ""))
        if threading.current_thread() in self._earlier:
            return _error(400, "DiscardedByStub", "a fetch started before the sts_stub fixture; it is not recorded")
        from ._botocore import signer_access_key

        signed_with = signer_access_key(request_signer)
        with self._lock:
            failure = self._failure_for(role_arn)
            if failure is not None:
                self.calls.append(AssumeRoleCall(role_arn, params, None, failure.code, signed_with))
        if failure is not None:
            message = failure.message or (
                f"User: arn:aws:sts::{self.account_id}:assumed-role/test/sts-stub is not authorized to perform: "
                f"sts:AssumeRole on resource: {role_arn}"
                if failure.code == "AccessDenied"
                else f"{failure.code} (sts_stub)"
            )
            return _error(failure.status, failure.code, message)
        response = self._credentials_response(role_arn, params)
        with self._lock:
            self.calls.append(
                AssumeRoleCall(role_arn, params, response["Credentials"]["AccessKeyId"], None, signed_with)
            )
        return _http(200), response

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
        # Whole seconds, as STS answers; on the package's clock, so a test that moves it stays consistent.
        expiration = datetime.fromtimestamp(int(_clock.now()), timezone.utc) + lifetime
        session = str(params.get("RoleSessionName", "session"))
        parts = role_arn.split(":", 5)
        partition = parts[1] if len(parts) == 6 else "aws"
        account = parts[4] if len(parts) == 6 and parts[4] else self.account_id
        role_name = parts[5].rsplit("/", 1)[-1] if len(parts) == 6 else "role"
        role_id = "AROA" + base64.b32encode(_digest(role_arn, "role")).decode()[:17]
        response: dict[str, Any] = {
            "Credentials": {
                "AccessKeyId": self.access_key_id_for(role_arn),
                "SecretAccessKey": base64.b64encode(_digest(role_arn, "secret")).decode()[:40],
                "SessionToken": "FwoGZXIvYXdzE" + base64.b64encode(_digest(role_arn, "token") * 4).decode(),
                "Expiration": expiration,
            },
            "AssumedRoleUser": {
                "AssumedRoleId": f"{role_id}:{session}",
                "Arn": f"arn:{partition}:sts::{account}:assumed-role/{role_name}/{session}",
            },
            "PackedPolicySize": 0 if "Policy" in params or "PolicyArns" in params else None,
            "ResponseMetadata": _metadata(200),
        }
        if "SourceIdentity" in params:
            response["SourceIdentity"] = params["SourceIdentity"]
        if response["PackedPolicySize"] is None:
            del response["PackedPolicySize"]
        return response


def _is_sts(client: Any) -> bool:
    return bool(client.meta.service_model.service_name == "sts")


def _metadata(status: int) -> dict[str, Any]:
    return {
        "RequestId": "00000000-0000-4000-8000-000000000000",
        "HTTPStatusCode": status,
        "HTTPHeaders": {},
        "RetryAttempts": 0,
    }


def _http(status: int) -> Any:
    from botocore.awsrequest import AWSResponse, HTTPHeaders

    return AWSResponse("https://sts.amazonaws.com/", status, HTTPHeaders(), None)


def _error(status: int, code: str, message: str) -> tuple[Any, dict[str, Any]]:
    return _http(status), {
        "Error": {"Type": "Sender", "Code": code, "Message": message},
        "ResponseMetadata": _metadata(status),
    }


@pytest.fixture
def sts_stub(monkeypatch: pytest.MonkeyPatch) -> Iterator[STSStub]:
    """Answer every AssumeRole with fake credentials, record the calls, and restore everything afterwards.

    Before the test: dummy ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``, no profile or config
    file, the instance metadata service disabled, a region (yours, else ``us-east-1``), the package's
    caches emptied (``clear_caches()``), and the AssumeRole calls of every STS client (built before
    the test or during it) answered by the stub. After it: the caches emptied again, the handlers
    taken off the clients, the environment and botocore restored. Works whatever the import order: a handler module imported at collection, its ``sts``
    layer applied and its prefetch started, gets its credentials from the stub at its first
    invocation in the test.

    Yields
    ------
    STSStub
        To choose failures (``fail``, ``only``) and read the record (``calls``, ``role_arns``).

    Example
    -------
    >>> def test_handler_assumes_reports(sts_stub, lambda_context):  # doctest: +SKIP
    ...     handler({}, lambda_context)
    ...     assert sts_stub.role_arns == ["arn:aws:iam::111122223333:role/reports"]
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
