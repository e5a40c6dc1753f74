"""docs/multi-tenant.md: its SAM template and IAM documents checked, its handlers run against the local moto server.

The handlers need tenant entries (``sts(tenant=...)``, ``fetch_data`` entries that are functions of the tenant id):
their tests are skipped until ``sts`` takes ``tenant``, and the scoped one until ``STSProvider`` has
``get_scoped_credentials``. The template, the IAM documents and the fleet table are checked now.
"""

from __future__ import annotations

import ast
import inspect
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cfnlint.api import lint_file
from cfnlint.decode import decode
from cfnlint.schema import PROVIDER_SCHEMA_MANAGER

from powertools_sts import ConfigurationError, STSProvider, get_client, sts

from .helpers import LambdaContext, client_as, import_file, package_calls, process_wiring_restored

ROOT = Path(__file__).resolve().parents[2]
MULTI_TENANT = ROOT / "examples" / "multi_tenant"
TEMPLATE = Path("examples/multi_tenant/template.yaml")
APP = Path("examples/multi_tenant/src/app.py")
POOL = Path("examples/multi_tenant/pool.py")
SCOPED = Path("examples/multi_tenant/scoped.py")
TRUST_POLICY = Path("examples/multi_tenant/tenant-role-trust-policy.json")
ROLE_POLICY = Path("examples/multi_tenant/tenant-role-policy.json")
TENANT_ROLE = "arn:aws:iam::111122223333:role/tenant"
TAG = "${aws:PrincipalTag/TenantID}"

# The tenant API, probed rather than versioned: these tests run as soon as it lands in src.
HAS_TENANTS = "tenant" in inspect.signature(sts).parameters
HAS_SCOPED = hasattr(STSProvider, "get_scoped_credentials")
needs_tenants = pytest.mark.skipif(not HAS_TENANTS, reason="sts(tenant=...) is not in src yet")
needs_scoped = pytest.mark.skipif(
    not (HAS_TENANTS and HAS_SCOPED), reason="tenant entries with GetScopedCredentials are not in src yet"
)


@dataclass
class TenantContext(LambdaContext):
    """A Lambda context in tenant isolation mode (``context.tenant_id``; None outside it)."""

    tenant_id: str | None = None


# -- the SAM template and the IAM documents ---------------------------------------------------------------


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    decoded, problems = decode(str(ROOT / TEMPLATE))
    assert not problems
    assert decoded is not None
    return dict(decoded)


def resources(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: resource["Properties"] for name, resource in template["Resources"].items()}


def document(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((ROOT / path).read_text())
    assert loaded["Version"] == "2012-10-17"
    return loaded


def test_cfn_lint_finds_nothing():
    assert [str(match) for match in lint_file(ROOT / TEMPLATE)] == []


def test_the_function_runs_in_tenant_isolation_mode(template):
    function = resources(template)["OrdersFunction"]
    assert function["TenancyConfig"] == {"TenantIsolationMode": "PER_TENANT"}
    # cfn-lint's SAM schema checks the property's name; the value is checked here against its Lambda schema.
    schema = PROVIDER_SCHEMA_MANAGER.get_resource_schema("us-east-1", "AWS::Lambda::Function").schema
    assert schema["definitions"]["TenancyConfig"]["properties"]["TenantIsolationMode"]["enum"] == ["PER_TENANT"]


def test_the_handler_is_the_page_handler_and_its_environment_is_set(template):
    function = resources(template)["OrdersFunction"]
    module, _, name = function["Handler"].rpartition(".")
    source = MULTI_TENANT / function["CodeUri"] / f"{module}.py"
    assert source.resolve() == (ROOT / APP).resolve()
    tree = ast.parse(source.read_text())
    assert name in {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
    assert "powertools-sts" in (source.parent / "requirements.txt").read_text()
    read = {
        node.slice.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Subscript) and ast.unparse(node.value) == "os.environ"
    }
    assert read == set(function["Environment"]["Variables"])
    assert function["Environment"]["Variables"]["TENANT_ROLE_ARN"] == {"Fn::GetAtt": ["TenantRole", "Arn"]}


def test_the_function_may_assume_the_tenant_role_with_a_tag(template):
    found = resources(template)
    assert found["OrdersFunction"]["Role"] == {"Fn::GetAtt": ["OrdersFunctionRole", "Arn"]}
    policy = found["AssumeTenantRolePolicy"]
    assert policy["Roles"] == [{"Ref": "OrdersFunctionRole"}]
    (statement,) = policy["PolicyDocument"]["Statement"]
    assert statement["Action"] == ["sts:AssumeRole", "sts:TagSession"]
    assert statement["Resource"] == {"Fn::GetAtt": ["TenantRole", "Arn"]}


def test_the_tenant_role_trusts_the_function_as_the_page_shows(template):
    (trust,) = resources(template)["TenantRole"]["AssumeRolePolicyDocument"]["Statement"]
    (shown,) = document(TRUST_POLICY)["Statement"]
    assert trust["Principal"] == {"AWS": {"Fn::GetAtt": ["OrdersFunctionRole", "Arn"]}}
    assert shown["Principal"]["AWS"].startswith("arn:aws:iam::")
    for field in ("Effect", "Action", "Condition"):
        assert trust[field] == shown[field]
    assert shown["Action"] == ["sts:AssumeRole", "sts:TagSession"]
    assert shown["Condition"] == {"StringLike": {"aws:RequestTag/TenantID": "?*"}}


def test_the_tenant_role_policy_is_the_pages_and_matches_the_tag(template):
    (role_policy,) = resources(template)["TenantRole"]["Policies"]
    deployed, shown = role_policy["PolicyDocument"]["Statement"], document(ROLE_POLICY)["Statement"]
    assert [(s["Effect"], s["Action"], s.get("Condition")) for s in deployed] == [
        (s["Effect"], s["Action"], s.get("Condition")) for s in shown
    ]
    s3, dynamodb = shown
    assert s3["Resource"].endswith(f"/tenants/{TAG}/*")
    # In the template, ${!...} is Fn::Sub's escape: IAM, not CloudFormation, fills in the tag.
    assert deployed[0]["Resource"] == {"Fn::Sub": "${TenantBucket.Arn}/tenants/${!aws:PrincipalTag/TenantID}/*"}
    assert dynamodb["Condition"] == {"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": [TAG]}}
    assert deployed[1]["Resource"] == {"Fn::GetAtt": ["TenantTable", "Arn"]}
    table = resources(template)["TenantTable"]
    assert table["KeySchema"][0] == {"AttributeName": "TenantID", "KeyType": "HASH"}


# -- the handlers, against moto ------------------------------------------------------------------------------


@pytest.fixture
def tenant_env(moto_sts: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """The environment the template gives the function, and its bucket and table in the tenant role's account."""
    for service in ("S3", "DYNAMODB"):
        monkeypatch.setenv(f"AWS_ENDPOINT_URL_{service}", moto_sts.url)
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "orders")
    environment = {"TENANT_ROLE_ARN": TENANT_ROLE, "TENANT_BUCKET": "orders-tenant-data", "TENANT_TABLE": "orders"}
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    s3 = client_as(moto_sts, TENANT_ROLE, "s3")
    s3.create_bucket(Bucket=environment["TENANT_BUCKET"])
    dynamodb = client_as(moto_sts, TENANT_ROLE, "dynamodb")
    dynamodb.create_table(
        TableName=environment["TENANT_TABLE"],
        KeySchema=[{"AttributeName": "TenantID", "KeyType": "HASH"}, {"AttributeName": "OrderId", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "TenantID", "AttributeType": "S"},
            {"AttributeName": "OrderId", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    with process_wiring_restored():
        yield {"s3": s3, "dynamodb": dynamodb, **environment}


def tagged(moto_sts: Any, tenant: str) -> int:
    """AssumeRole calls of the package whose TenantID session tag is ``tenant``."""
    return sum(f"Tags.member.1.Value={tenant}&".encode() in body + b"&" for body in moto_sts.calls)


@needs_tenants
def test_tenant_isolation_handler_assumes_the_role_once_per_tenant_with_its_tag(moto_sts, tenant_env):
    app = import_file(APP)
    assert package_calls(moto_sts) == 0  # tenant entries are never prefetched: no tenant at INIT

    first = app.handler({"n": 1}, TenantContext(tenant_id="blue"))
    app.handler({"n": 2}, TenantContext(tenant_id="blue"))
    app.handler({"n": 3}, TenantContext(tenant_id="green"))

    assert (tagged(moto_sts, "blue"), tagged(moto_sts, "green"), package_calls(moto_sts)) == (1, 1, 2)
    assert first["key"].startswith("tenants/blue/orders/")
    body = tenant_env["s3"].get_object(Bucket=tenant_env["TENANT_BUCKET"], Key=first["key"])["Body"].read()
    assert json.loads(body) == {"n": 1}
    items = tenant_env["dynamodb"].scan(TableName=tenant_env["TENANT_TABLE"])["Items"]
    assert sorted(item["TenantID"]["S"] for item in items) == ["blue", "blue", "green"]


@needs_tenants
def test_an_invocation_without_a_tenant_is_refused_before_the_handler_runs(moto_sts, tenant_env):
    app = import_file(APP)
    with pytest.raises(ConfigurationError):
        app.handler({"n": 1}, TenantContext(tenant_id=None))
    assert package_calls(moto_sts) == 0
    assert "Contents" not in tenant_env["s3"].list_objects_v2(Bucket=tenant_env["TENANT_BUCKET"])


@needs_tenants
@pytest.mark.parametrize("tenant_id", ['blue"', "", "x" * 257, "blue\u200b"], ids=["quote", "empty", "257", "zwsp"])
def test_a_tenant_id_sts_would_refuse_as_a_tag_is_refused_without_a_call(moto_sts, tenant_env, tenant_id):
    app = import_file(APP)
    with pytest.raises(ConfigurationError):
        app.handler({"n": 1}, TenantContext(tenant_id=tenant_id))
    assert package_calls(moto_sts) == 0


@needs_tenants
def test_a_client_kept_from_one_tenant_refuses_to_sign_for_another(moto_sts, tenant_env):
    app, kept = import_file(APP), []

    @sts(fetch_data={"tenant": app.tenant_session})
    def keeps_its_client(event: Any, context: Any) -> None:
        if not kept:
            kept.append(get_client("tenant", "s3"))  # the mistake: a tenant's client outliving its invocation
        kept[0].list_objects_v2(Bucket=tenant_env["TENANT_BUCKET"])

    keeps_its_client({}, TenantContext(tenant_id="blue"))
    with pytest.raises(Exception) as raised:
        keeps_its_client({}, TenantContext(tenant_id="green"))
    assert "blue" in str(raised.value)
    assert "green" in str(raised.value)


def api_event(authorizer: dict[str, Any]) -> dict[str, Any]:
    return {"resource": "/orders", "httpMethod": "GET", "requestContext": {"authorizer": authorizer}}


@needs_tenants
def test_pool_handler_takes_the_tenant_from_the_authorizer(moto_sts, tenant_env):
    tenant_env["dynamodb"].put_item(
        TableName=tenant_env["TENANT_TABLE"], Item={"TenantID": {"S": "blue"}, "OrderId": {"S": "o-1"}}
    )
    pool = import_file(POOL)
    cognito = api_event({"claims": {"sub": "u-1", "custom:tenant_id": "blue"}})
    lambda_authorizer = api_event({"principalId": "u-2", "tenant_id": "green"})

    answers = [json.loads(pool.handler(event, LambdaContext())["body"]) for event in (cognito, lambda_authorizer)]
    pool.handler(cognito, LambdaContext())

    assert answers == [{"tenant": "blue", "orders": 1}, {"tenant": "green", "orders": 0}]
    assert (tagged(moto_sts, "blue"), tagged(moto_sts, "green"), package_calls(moto_sts)) == (1, 1, 2)
    with pytest.raises(ConfigurationError):
        pool.handler(api_event({}), LambdaContext())  # no authorizer on the route: no tenant
    assert package_calls(moto_sts) == 2


@needs_scoped
def test_scoped_handler_narrows_the_functions_credentials_with_the_tenants_policy(moto_sts, tenant_env, monkeypatch):
    # moto has no GetScopedCredentials: it is answered here, every other call goes to moto.
    from datetime import datetime, timedelta, timezone

    from botocore.client import BaseClient

    scoped, real = [], BaseClient._make_api_call

    def api_call(self: Any, operation: str, params: dict[str, Any]) -> Any:
        if operation != "GetScopedCredentials":
            return real(self, operation, params)
        scoped.append(params)
        expiration = datetime.now(timezone.utc) + timedelta(seconds=params.get("DurationSeconds", 3600))
        creds = {"AccessKeyId": "ASIASCOPED", "SecretAccessKey": "s", "SessionToken": "t", "Expiration": expiration}
        return {"Credentials": creds, "ScopedPoliciesCount": 1}

    monkeypatch.setattr(BaseClient, "_make_api_call", api_call)
    example = import_file(SCOPED)
    result = example.handler({"n": 1}, TenantContext(tenant_id="blue"))
    example.handler({"n": 2}, TenantContext(tenant_id="blue"))

    (params,) = scoped
    assert "RoleArn" not in params
    assert params["Policy"] == example.tenant_policy("blue")
    assert params["DurationSeconds"] == 900
    assert result["key"].startswith("tenants/blue/")
    assert package_calls(moto_sts) == 0  # no AssumeRole at all


@needs_scoped
def test_the_scope_down_policy_keeps_the_tenant_id_a_string_and_refuses_wildcards(tenant_env):
    example = import_file(SCOPED)
    (statement,) = json.loads(example.tenant_policy("blue"))["Statement"]
    assert statement["Resource"] == "arn:aws:s3:::orders-tenant-data/tenants/blue/*"
    # A quote closes the string of a policy written with an f-string, then "Resource": "*" follows; *, ? and ${...}
    # are IAM's wildcards and policy variables inside the string.
    for tenant_id in ['x", "Resource": "*', "*", "a?", "${aws:username}", ""]:
        with pytest.raises(ValueError):
            example.tenant_policy(tenant_id)
