"""Per-tenant entries against moto's STS server: each tenant's credentials are its own, and never cross.

A per-tenant entry of ``fetch_data`` is a callable ``(tenant_id) -> parameters``; here it puts the tenant
in a session tag (``TenantID``). moto does not keep session tags, so the ``issued`` fixture records, at
moto's WSGI app, the AssumeRole parameters behind every AccessKeyId moto answers, and every request
that reaches the server (AssumeRole and S3 alike, with the key that signed it): "issued for tenant T"
and "nothing was sent" are read there. The Lambda context is awslambdaric's ``LambdaContext`` with its
``tenant_id``; time moves only through the ``clock`` fixture.
"""

from __future__ import annotations

import contextvars
import gc
import io
import re
import tempfile
import threading
import time
import weakref
from collections import Counter
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs

import pytest
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent
from awslambdaric.lambda_context import LambdaContext

import powertools_sts
from powertools_sts import ConfigurationError, TenantError, get_client, get_credentials, get_session, sts

from ..conftest import OTHER_ROLE, ROLE
from .test_execution_models import managed_instances, quick
from .test_middleware import PAST_REFRESH, drain_prefetches, returns_credentials, unique

TAG = "TenantID"


# -- helpers -------------------------------------------------------------------------------------------


def tenant_context(tenant_id: Any, request_id: str = "req-1") -> LambdaContext:
    """awslambdaric's context of an invocation of ``tenant_id`` (tenant isolation mode), or of none."""
    deadline_ms = int((time.time() + 300) * 1000)
    arn = "arn:aws:lambda:us-east-1:111122223333:function:orders"
    return LambdaContext(request_id, None, None, deadline_ms, arn, tenant_id=tenant_id)


def invoke_as(handler: Callable[..., Any], tenant_id: Any, event: Any = None) -> Any:
    return handler({"source": "test"} if event is None else event, tenant_context(tenant_id))


class TenantRoles:
    """A per-tenant entry: ``ROLE`` with the tenant in a session tag (and, if asked, in RoleSessionName).

    Counts its calls per tenant.
    """

    def __init__(self, *, session_name: Callable[[str], str] | None = None) -> None:
        self.calls: Counter[str] = Counter()
        self.session_name = session_name

    def __call__(self, tenant_id: str) -> dict[str, Any]:
        self.calls[tenant_id] += 1
        params: dict[str, Any] = {"RoleArn": ROLE, "Tags": [{"Key": TAG, "Value": tenant_id}]}
        if self.session_name is not None:
            params["RoleSessionName"] = self.session_name(tenant_id)
        return params


class Issued:
    """What moto's server received and answered since the fixture started."""

    def __init__(self) -> None:
        self.forms: dict[str, dict[str, str]] = {}  # AccessKeyId -> the AssumeRole form that got it
        self.requests: list[tuple[str, str]] = []  # (service, access key id that signed it), every request
        self.lock = threading.Lock()

    def tenant(self, access_key_id: str) -> str | None:
        """The TenantID session tag of the AssumeRole that issued ``access_key_id``."""
        form = self.forms[access_key_id]
        index = next(key.split(".")[2] for key, value in form.items() if key.endswith(".Key") and value == TAG)
        return form[f"Tags.member.{index}.Value"]

    def of(self, service: str) -> list[str]:
        """The access key ids that signed the requests to ``service``, in order."""
        return [key for name, key in self.requests if name == service]


_SCOPE = re.compile(r"Credential=([^/]+)/[^/]+/[^/]+/([^/]+)/")
_KEY = re.compile(rb"<AccessKeyId>([^<]+)</AccessKeyId>")


@pytest.fixture
def issued(moto_sts: Any) -> Iterator[Issued]:
    """Record at moto's WSGI app every request (its service and signer) and the form behind every issued key."""
    wsgi = moto_sts.server._server
    app, record = wsgi.app, Issued()

    def recording(environ: dict[str, Any], start_response: Any) -> Any:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        scope = _SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
        with record.lock:
            record.requests.append((scope.group(2), scope.group(1)) if scope else ("?", ""))
        chunks = list(app(environ, start_response))
        form = {key: values[0] for key, values in parse_qs(body.decode()).items()}
        found = _KEY.search(b"".join(chunks))
        if form.get("Action") == "AssumeRole" and found:
            with record.lock:
                record.forms[found.group(1).decode()] = form
        return chunks

    wsgi.app = recording
    yield record
    wsgi.app = app


@pytest.fixture(autouse=True)
def _no_prefetch_left_running(moto_sts: Any) -> Iterator[None]:
    drain_prefetches()
    moto_sts.reset()
    powertools_sts.clear_caches()
    yield
    drain_prefetches()


@pytest.fixture
def private_tmp(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A temporary directory of the test's own, where the shared cache of Managed Instances keeps its files."""
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr(tempfile, "tempdir", None)  # tempfile caches gettempdir(): read TMPDIR again
    yield tmp_path
    tempfile.tempdir = None


@pytest.fixture
def s3_at_moto(moto_sts: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", moto_sts.url)  # moto's server answers S3 too


# -- each tenant its own credentials, cached per tenant ---------------------------------------------------


def test_each_tenant_is_handed_credentials_issued_for_it_and_cached_per_tenant(moto_sts, issued):
    name, roles = unique("data"), TenantRoles(session_name=lambda tenant: f"tenant-{tenant}")
    handler = sts(fetch_data={name: roles})(returns_credentials(name))

    first = {tenant: invoke_as(handler, tenant) for tenant in ("acme", "globex")}
    again = {tenant: invoke_as(handler, tenant) for tenant in ("globex", "acme", "globex")}

    assert first["acme"].access_key_id != first["globex"].access_key_id
    assert all(again[tenant] is first[tenant] for tenant in first)  # cached per tenant
    for tenant, creds in first.items():
        assert issued.tenant(creds.access_key_id) == tenant
        assert creds.assumed_role_arn == f"arn:aws:sts::111122223333:assumed-role/reports/tenant-{tenant}"
    assert moto_sts.assume_role_calls == 2
    assert roles.calls == {"acme": 1, "globex": 1}


def test_the_parameters_callable_is_called_once_per_tenant_while_it_stays_admitted(moto_sts, issued, clock):
    name, roles = unique("data"), TenantRoles()
    handler = sts(fetch_data={name: roles})(returns_credentials(name))

    before = [invoke_as(handler, tenant) for _ in range(5) for tenant in ("acme", "globex")]
    clock.advance(PAST_REFRESH)  # into the refresh window: each tenant's credentials are fetched again
    after = [invoke_as(handler, tenant) for _ in range(5) for tenant in ("acme", "globex")]

    assert roles.calls == {"acme": 1, "globex": 1}  # the parameters are the tenant's, refreshes or not
    assert moto_sts.assume_role_calls == 4
    assert len({creds.access_key_id for creds in before + after}) == 4
    assert [issued.tenant(creds.access_key_id) for creds in after[:2]] == ["acme", "globex"]

    powertools_sts.clear_caches()  # every tenant is forgotten: admitted again at its next invocation
    invoke_as(handler, "acme")
    assert roles.calls == {"acme": 2, "globex": 1}
    assert moto_sts.assume_role_calls == 5


# -- refusals: no tenant, or one STS would refuse ----------------------------------------------------------


NO_TENANT = {
    "context.tenant_id None": (None, lambda: tenant_context(None)),
    "context.tenant_id ''": (None, lambda: tenant_context("")),
    "a context without tenant_id": (None, lambda: SimpleNamespace(function_name="orders")),
    "no context at all": (None, lambda: None),
    "tenant= returns None": (lambda event, context: None, lambda: tenant_context("acme")),
    "tenant= returns ''": (lambda event, context: "", lambda: tenant_context("acme")),
    "tenant= returns an int": (lambda event, context: 42, lambda: tenant_context("acme")),
    "tenant= returns bytes": (lambda event, context: b"acme", lambda: tenant_context("acme")),
}


@pytest.mark.parametrize("case", list(NO_TENANT))
def test_an_invocation_without_a_tenant_is_refused_before_the_handler_and_any_sts_call(moto_sts, case):
    choose, context_of = NO_TENANT[case]
    name, roles, ran = unique("data"), TenantRoles(), []
    static = unique("static")

    @sts(fetch_data={name: roles, static: OTHER_ROLE}, tenant=choose, disable_prefetch=True)
    def handler(event: Any, context: Any) -> Any:
        ran.append(context)
        return get_credentials(name)

    # A tenant served first: a refused invocation must not be handed its credentials (nor untenanted ones).
    served = handler({}, tenant_context("acme")) if choose is None else None
    calls = moto_sts.assume_role_calls

    with pytest.raises(TenantError, match=r"an invocation needs a tenant .* no credentials were fetched") as refused:
        handler({}, context_of())

    assert isinstance(refused.value, ConfigurationError)
    assert len(ran) == (1 if served is not None else 0)  # the refused invocation never reached the handler
    assert moto_sts.assume_role_calls == calls  # not even the layer's static entry was fetched
    assert roles.calls == ({"acme": 1} if served is not None else {})


def in_tag(tenant_id: str) -> dict[str, Any]:
    return {"RoleArn": ROLE, "Tags": [{"Key": TAG, "Value": tenant_id}]}


def in_session_name(tenant_id: str) -> dict[str, Any]:
    return {"RoleArn": ROLE, "RoleSessionName": tenant_id}


@pytest.mark.parametrize(
    ("where", "tenant_id", "says"),
    [
        (in_tag, 'ten"ant', "Tags Value"),  # a quote: an ABAC policy's condition could be broken out of
        (in_tag, "t" * 257, "Tags Value"),  # over 256 characters
        (in_tag, "ten\u200bant", "Tags Value"),  # ZERO WIDTH SPACE: looks like "tenant" in a log
        (in_tag, "ten\u202eant", "Tags Value"),  # RIGHT-TO-LEFT OVERRIDE
        (in_tag, "ten\tant", "Tags Value"),
        (in_session_name, "acme corp", "RoleSessionName"),  # a space: fine in a tag, not in a session name
        (in_session_name, "a", "RoleSessionName"),  # under 2 characters
        (in_session_name, "t" * 65, "RoleSessionName"),  # over 64
    ],
    ids=["quote", "257-chars", "zero-width-space", "rtl-override", "tab", "space", "1-char", "65-chars"],
)
def test_a_tenant_id_sts_would_refuse_where_the_entry_puts_it_is_refused_before_sts(moto_sts, where, tenant_id, says):
    name, ran = unique("data"), []

    @sts(fetch_data={name: where})
    def handler(event: Any, context: Any) -> Any:
        ran.append(context.tenant_id)
        return get_credentials(name)

    with pytest.raises(TenantError, match=rf"^entry [\"']{name} \(tenant .*{says}.*\(no STS call was made\)$") as e:
        invoke_as(handler, tenant_id)

    assert str(e.value).isprintable()  # the tenant id is quoted with its invisible characters escaped
    assert ran == []
    assert moto_sts.assume_role_calls == 0
    assert invoke_as(handler, "acme-42").access_key_id  # the layer serves the next tenant as usual
    assert moto_sts.assume_role_calls == 1


def test_the_longest_tag_value_sts_takes_is_a_tenant_id(moto_sts, issued):
    name = unique("data")
    handler = sts(fetch_data={name: in_tag})(returns_credentials(name))

    creds = invoke_as(handler, "t" * 256)

    assert issued.tenant(creds.access_key_id) == "t" * 256
    assert moto_sts.assume_role_calls == 1


def test_a_parameters_callable_that_raises_is_a_tenant_error_without_any_sts_call(moto_sts):
    name, ran = unique("data"), []

    def unknown_tenant(tenant_id: str) -> dict[str, Any]:
        raise LookupError(f"no role for tenant {tenant_id}")

    @sts(fetch_data={name: unknown_tenant})
    def handler(event: Any, context: Any) -> Any:
        ran.append(context)

    with pytest.raises(TenantError, match=r"its parameters callable raised LookupError: no role for tenant acme") as e:
        invoke_as(handler, "acme")

    assert isinstance(e.value.__cause__, LookupError)
    assert ran == []
    assert moto_sts.assume_role_calls == 0


def test_a_tenant_callable_that_raises_is_a_tenant_error_without_any_sts_call(moto_sts):
    name, roles, ran = unique("data"), TenantRoles(), []

    @sts(fetch_data={name: roles}, tenant=lambda event, context: event["requestContext"]["authorizer"]["tenant"])
    def handler(event: Any, context: Any) -> Any:
        ran.append(context)

    with pytest.raises(TenantError, match=r"the tenant= callable raised KeyError: 'requestContext'") as refused:
        handler({"path": "/orders"}, tenant_context(None))

    assert isinstance(refused.value.__cause__, KeyError)
    assert ran == []
    assert roles.calls == {}
    assert moto_sts.assume_role_calls == 0


# -- tenant= from the event ------------------------------------------------------------------------------


def cognito_tenant(event: Any, context: Any) -> Any:
    """The tenant of a REST API request: the custom claim a Cognito user pool authorizer passed on."""
    return APIGatewayProxyEvent(event).request_context.authorizer.claims.get("custom:tenant_id")


def api_gateway_event(claims: dict[str, str]) -> dict[str, Any]:
    return {
        "resource": "/orders",
        "path": "/orders",
        "httpMethod": "GET",
        "headers": {"Authorization": "eyJraWQiOi..."},
        "requestContext": {"resourcePath": "/orders", "httpMethod": "GET", "authorizer": {"claims": claims}},
        "body": None,
    }


def test_tenant_from_an_api_gateway_authorizer_claim(moto_sts, issued):
    name, roles = unique("data"), TenantRoles()
    handler = sts(fetch_data={name: roles}, tenant=cognito_tenant)(returns_credentials(name))

    # tenant= wins over the context's tenant_id.
    acme = handler(api_gateway_event({"sub": "user-1", "custom:tenant_id": "acme"}), tenant_context("globex"))
    globex = handler(api_gateway_event({"sub": "user-2", "custom:tenant_id": "globex"}), tenant_context(None))

    assert (issued.tenant(acme.access_key_id), issued.tenant(globex.access_key_id)) == ("acme", "globex")
    assert roles.calls == {"acme": 1, "globex": 1}
    with pytest.raises(TenantError, match="the tenant= callable returned None"):
        handler(api_gateway_event({"sub": "user-3"}), tenant_context("acme"))  # no claim: no tenant
    assert moto_sts.assume_role_calls == 2


# -- a tenant's clients refuse to sign inside another tenant's invocation --------------------------------------


def test_a_client_kept_from_another_tenant_is_refused_naming_both_and_sends_nothing(moto_sts, issued, s3_at_moto):
    name, kept = unique("data"), {}

    @sts(fetch_data={name: in_tag})
    def handler(event: Any, context: Any) -> Any:
        kept.setdefault(context.tenant_id, (get_client(name, "s3"), get_session(name)))
        client, session = kept[event["use"]]
        if event.get("session"):
            return session.client("s3").list_buckets()["Buckets"]
        return client.list_buckets()["Buckets"]

    assert invoke_as(handler, "acme", {"use": "acme"}) == []
    assert invoke_as(handler, "globex", {"use": "globex"}) == []
    sent = len(issued.requests)

    for event in ({"use": "acme"}, {"use": "acme", "session": True}):
        with pytest.raises(TenantError) as refused:
            invoke_as(handler, "globex", event)
        refusal = str(refused.value)
        assert "for tenant 'acme' was used inside an invocation of tenant 'globex': nothing was sent" in refusal
    with pytest.raises(TenantError, match="for tenant 'globex' was used inside an invocation of tenant 'acme'"):
        invoke_as(handler, "acme", {"use": "globex"})

    assert len(issued.requests) == sent  # nothing reached the server
    assert invoke_as(handler, "acme", {"use": "acme"}) == []  # in its own tenant's invocation the client works
    assert issued.tenant(issued.of("s3")[-1]) == "acme"  # signed with acme's credentials


def test_a_thread_the_handler_starts_without_a_context_copy_keeps_signing(moto_sts, issued, s3_at_moto):
    name = unique("data")

    @sts(fetch_data={name: in_tag})
    def handler(event: Any, context: Any) -> Any:
        client, answers = get_client(name, "s3"), []
        worker = threading.Thread(target=lambda: answers.append(client.list_buckets()["Buckets"]))
        worker.start()  # a plain thread: no copy of the invocation's context, so no tenant to guard
        worker.join(30)
        return answers, get_credentials(name)

    answers, creds = invoke_as(handler, "globex")

    assert answers == [[]]
    assert issued.of("s3") == [creds.access_key_id]  # signed in the thread with the invocation's tenant's keys
    assert issued.tenant(creds.access_key_id) == "globex"


def test_a_copy_of_the_invocation_context_in_a_thread_answers_for_the_invocations_tenant(moto_sts, issued, s3_at_moto):
    name, kept = unique("data"), {}

    @sts(fetch_data={name: in_tag})
    def handler(event: Any, context: Any) -> Any:
        kept.setdefault(context.tenant_id, get_client(name, "s3"))
        copied, results = contextvars.copy_context(), {}

        def in_copy() -> None:
            results["creds"] = copied.run(get_credentials, name)
            results["own client"] = copied.run(lambda: get_client(name, "s3")) is kept[context.tenant_id]
            for tenant, client in kept.items():
                try:
                    results[tenant] = copied.run(client.list_buckets)["Buckets"]
                except TenantError as exc:
                    results[tenant] = exc
            try:
                get_credentials(name)  # outside the copy: no invocation, no tenant
            except TenantError as exc:
                results["outside the copy"] = exc

        worker = threading.Thread(target=in_copy)
        worker.start()
        worker.join(30)
        return results, get_credentials(name)

    invoke_as(handler, "acme")
    results, creds = invoke_as(handler, "globex")

    assert results["creds"] is creds
    assert issued.tenant(creds.access_key_id) == "globex"
    assert results["own client"] is True
    assert results["globex"] == []
    assert isinstance(results["acme"], TenantError)  # the copy carries the invocation's tenant: the guard sees it
    assert "is per tenant, and the call is outside any invocation" in str(results["outside the copy"])
    # acme's invocation signed with acme's client in its copy; globex's with globex's only.
    assert [issued.tenant(key) for key in issued.of("s3")] == ["acme", "globex"]


def test_outside_any_invocation_a_per_tenant_name_is_a_tenant_error(moto_sts):
    name = unique("data")
    handler = sts(fetch_data={name: in_tag})(returns_credentials(name))
    invoke_as(handler, "acme")  # a tenant with credentials cached: still not an answer outside its invocation

    for ask in (get_credentials, get_session, lambda entry: get_client(entry, "s3")):
        with pytest.raises(TenantError, match=rf"^entry '{name}' is per tenant, and the call is outside any"):
            ask(name)
    assert moto_sts.assume_role_calls == 1


# -- max_tenants -----------------------------------------------------------------------------------------------


def test_max_tenants_evicts_the_least_recently_used_tenant_and_readmits_it_afresh(moto_sts, issued):
    name, roles = unique("data"), TenantRoles()

    @sts(fetch_data={name: roles}, max_tenants=2)
    def handler(event: Any, context: Any) -> Any:
        return get_credentials(name), weakref.ref(get_client(name, "s3"))

    first, first_client = invoke_as(handler, "acme")
    invoke_as(handler, "globex")
    invoke_as(handler, "initech")  # a third tenant: acme, the least recently used, is evicted
    assert (moto_sts.assume_role_calls, roles.calls) == (3, {"acme": 1, "globex": 1, "initech": 1})
    gc.collect()
    assert first_client() is None  # its sessions and clients went with it

    invoke_as(handler, "globex")
    invoke_as(handler, "initech")
    assert moto_sts.assume_role_calls == 3  # the two admitted tenants are served from the cache

    again, _ = invoke_as(handler, "acme")  # admitted again: its callable called, a new AssumeRole (globex out)
    assert roles.calls == {"acme": 2, "globex": 1, "initech": 1}
    assert moto_sts.assume_role_calls == 4
    assert again.access_key_id != first.access_key_id
    assert issued.tenant(again.access_key_id) == "acme"


def test_max_tenants_counts_recent_use_not_admission(moto_sts):
    name, roles = unique("data"), TenantRoles()
    handler = sts(fetch_data={name: roles}, max_tenants=2)(returns_credentials(name))

    for tenant in ("acme", "globex", "acme", "initech"):  # acme used again before initech: globex goes
        invoke_as(handler, tenant)
    invoke_as(handler, "acme")
    assert roles.calls == {"acme": 1, "globex": 1, "initech": 1}
    invoke_as(handler, "globex")
    assert roles.calls == {"acme": 1, "globex": 2, "initech": 1}
    assert moto_sts.assume_role_calls == 4


# -- options refused when sts(...) is applied ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "says"),
    [
        ({"tenant": "tenant_id"}, r"^tenant must be a callable \(event, context\) -> tenant id, or None, got"),
        ({"tenant": 42}, r"^tenant must be a callable"),
        ({"static_only": True, "tenant": lambda event, context: "acme"}, r"fetch_data has none"),
        ({"max_tenants": 0}, r"^max_tenants must be a whole number of tenants in 1..1000000, got 0$"),
        ({"max_tenants": True}, r"^max_tenants must be .* got True$"),
        ({"max_tenants": 1.5}, r"^max_tenants must be .* got 1.5$"),
        ({"max_tenants": -1}, r"^max_tenants must be .* got -1$"),
        ({"max_tenants": "100"}, r"^max_tenants must be .* got '100'$"),
        ({"max_tenants": None}, r"^max_tenants must be .* got None$"),
        ({"max_tenants": 1_000_001}, r"^max_tenants must be .* got 1000001$"),
        ({"set_to_context": True}, r"^set_to_context=True cannot set per-tenant entries \['data-"),
    ],
    ids=lambda value: repr(value) if not isinstance(value, dict) else ",".join(f"{k}={v!r}" for k, v in value.items()),
)
def test_tenant_options_are_refused_when_applied(moto_sts, options, says):
    options = dict(options)
    static_only = options.pop("static_only", False)
    fetch_data: dict[str, Any] = {unique("static"): ROLE} if static_only else {unique("data"): in_tag}

    with pytest.raises(ConfigurationError, match=says) as refused:
        sts(fetch_data=fetch_data, **options)

    assert not isinstance(refused.value, TenantError)  # a mistake of the code, not of an invocation
    drain_prefetches()
    assert moto_sts.assume_role_calls == 0


@pytest.mark.parametrize("max_tenants", [1, 1_000_000])
def test_max_tenants_bounds_are_taken(moto_sts, max_tenants):
    name = unique("data")
    handler = sts(fetch_data={name: in_tag}, max_tenants=max_tenants)(returns_credentials(name))
    assert invoke_as(handler, "acme").access_key_id


# -- INIT --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("initialization", ["on-demand", "provisioned-concurrency"])
def test_tenant_entries_are_never_prefetched_at_init(moto_sts, monkeypatch, initialization):
    monkeypatch.setenv("AWS_LAMBDA_INITIALIZATION_TYPE", initialization)  # provisioned: INIT waits for a prefetch
    roles, mixed_roles = TenantRoles(), TenantRoles()

    sts(fetch_data={unique("data"): roles})(returns_credentials())
    drain_prefetches()
    assert moto_sts.assume_role_calls == 0  # no tenant at INIT: nothing to fetch

    static = unique("static")
    sts(fetch_data={unique("data"): mixed_roles, static: OTHER_ROLE})(returns_credentials())
    drain_prefetches()
    assert moto_sts.assume_role_calls == 1  # the static entry only
    assert roles.calls == mixed_roles.calls == {}


# -- STS calls: one per tenant per credential lifetime ----------------------------------------------------------


def test_n_tenants_m_invocations_make_n_assume_role_calls_per_credential_lifetime(moto_sts, issued, clock):
    tenants, rounds = [f"tenant-{n}" for n in range(7)], 20
    name, roles = unique("data"), TenantRoles()
    handler = sts(fetch_data={name: roles})(returns_credentials(name))

    def run() -> dict[str, set[str]]:
        keys: dict[str, set[str]] = {tenant: set() for tenant in tenants}
        for _ in range(rounds):
            for tenant in tenants:
                creds = invoke_as(handler, tenant)
                assert issued.tenant(creds.access_key_id) == tenant
                keys[tenant].add(creds.access_key_id)
        return keys

    first = run()
    assert moto_sts.assume_role_calls == len(tenants)  # 7 tenants x 20 invocations: 7 AssumeRole calls
    clock.advance(PAST_REFRESH)  # every tenant's credentials are due
    second = run()
    assert moto_sts.assume_role_calls == 2 * len(tenants)  # exactly 7 more
    assert all(len(first[t]) == len(second[t]) == 1 and first[t] != second[t] for t in tenants)
    assert roles.calls == dict.fromkeys(tenants, 1)


# -- thread mode --------------------------------------------------------------------------------------------------


THREADS, ROUNDS = 8, 25


@pytest.mark.timeout(90)
@pytest.mark.parametrize("model", ["on-demand", "managed-instances"])
def test_threads_running_invocations_of_different_tenants_never_cross(
    model, moto_sts, issued, monkeypatch, private_tmp
):
    if model == "managed-instances":
        managed_instances(monkeypatch, workers=THREADS)  # the shared /tmp cache and refresh ahead are on
    tenants = [f"tenant-{n}" for n in range(THREADS)]
    name, roles = unique("data"), TenantRoles()

    @sts(fetch_data={name: roles})
    def handler(event: Any, context: Any) -> tuple[str, str, str]:
        creds = get_credentials(name)
        assert issued.tenant(creds.access_key_id) == context.tenant_id  # checked in the invocation itself
        signing = get_client(name, "s3")._request_signer._credentials.get_frozen_credentials()
        return context.tenant_id, creds.access_key_id, signing.access_key

    start = threading.Barrier(THREADS, timeout=30)
    results: list[tuple[str, str, str, str]] = []
    errors: list[BaseException] = []

    def invoking(n: int) -> None:
        try:
            for r in range(ROUNDS):
                tenant = tenants[(n + r) % THREADS]  # a new tenant every round; all 8 at once in each
                start.wait()
                results.append((tenant, *handler({}, tenant_context(tenant, f"req-{n}-{r}"))))
        except BaseException as exc:
            errors.append(exc)
            start.abort()

    threads = [threading.Thread(target=invoking, args=(n,), daemon=True) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert errors == []
    assert len(results) == THREADS * ROUNDS
    for tenant, seen_tenant, key, signing in results:
        assert seen_tenant == tenant
        assert issued.tenant(key) == tenant
        assert signing == key  # the client signs with the invocation's tenant's credentials
    assert moto_sts.assume_role_calls == THREADS  # one per tenant, however many threads asked at once
    assert roles.calls == dict.fromkeys(tenants, 1)


# -- Managed Instances: the /tmp cache shared by the workers keys by tenant ---------------------------------------


def shared_files(directory: Any) -> list[str]:
    return sorted(path.name for path in directory.rglob("*.json"))


def test_the_shared_cache_of_managed_instances_keeps_one_file_per_tenant(moto_sts, issued, monkeypatch, private_tmp):
    managed_instances(monkeypatch)
    name = unique("data")
    # Two layers with their own STS clients (another user agent each) stand for two worker processes.
    workers = [
        sts(fetch_data={name: in_tag}, shared_cache=True, boto_config=quick(user_agent_extra=f"worker-{n}"))(
            returns_credentials(name)
        )
        for n in range(2)
    ]

    first = {tenant: invoke_as(workers[0], tenant) for tenant in ("acme", "globex")}
    assert moto_sts.assume_role_calls == 2
    assert len(shared_files(private_tmp)) == 2  # a file per tenant

    second = {tenant: invoke_as(workers[1], tenant) for tenant in ("globex", "acme")}
    assert moto_sts.assume_role_calls == 2  # the other worker read each tenant's own file: no AssumeRole
    for tenant in ("acme", "globex"):
        assert second[tenant].access_key_id == first[tenant].access_key_id
        assert issued.tenant(second[tenant].access_key_id) == tenant
    assert len(shared_files(private_tmp)) == 2
