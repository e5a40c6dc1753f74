"""The SAM example: cfn-lint finds nothing, and the template's handler is the code in examples/sam."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest
from cfnlint.api import lint_file
from cfnlint.decode import decode

SAM = Path(__file__).resolve().parents[2] / "examples" / "sam"
TEMPLATE = SAM / "template.yaml"
# The handler that docs/deployment.md shows, and that the tests below check against the template.
APP = Path(__file__).resolve().parents[2] / "examples/sam/src/app.py"


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    decoded, problems = decode(str(TEMPLATE))
    assert not problems
    assert decoded is not None
    return dict(decoded)


def functions(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each AWS::Serverless::Function's properties, with the template's Globals under them."""
    defaults = template.get("Globals", {}).get("Function", {})
    found = {}
    for name, resource in template["Resources"].items():
        if resource["Type"] == "AWS::Serverless::Function":
            merged = {**defaults, **resource["Properties"]}
            variables = {
                **defaults.get("Environment", {}).get("Variables", {}),
                **resource["Properties"].get("Environment", {}).get("Variables", {}),
            }
            merged["Environment"] = {"Variables": variables}
            found[name] = merged
    return found


def test_cfn_lint_finds_nothing():
    assert [str(match) for match in lint_file(TEMPLATE)] == []


def test_handler_points_at_a_function_of_the_code(template):
    found = functions(template)
    assert found
    for properties in found.values():
        module, _, function = properties["Handler"].rpartition(".")
        source = SAM / properties["CodeUri"] / (module.replace(".", "/") + ".py")
        assert source.is_file(), f"{properties['Handler']} has no module {source}"
        tree = ast.parse(source.read_text())
        defined = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
        assert function in defined, f"{source} defines no function {function}"
        assert (source.parent / "requirements.txt").is_file()
        assert "powertools-sts" in (source.parent / "requirements.txt").read_text()
    # The one function of the template is the handler that docs/deployment.md shows.
    assert [(SAM / p["CodeUri"] / (p["Handler"].rpartition(".")[0] + ".py")).resolve() for p in found.values()] == [
        APP.resolve()
    ]


def test_environment_has_what_the_handler_reads(template):
    for properties in functions(template).values():
        module = properties["Handler"].rpartition(".")[0]
        tree = ast.parse((SAM / properties["CodeUri"] / f"{module}.py").read_text())
        read = {
            node.slice.value
            for node in ast.walk(tree)
            if isinstance(node, ast.Subscript)
            and ast.unparse(node.value) == "os.environ"
            and isinstance(node.slice, ast.Constant)
        }
        assert read
        assert read <= set(properties["Environment"]["Variables"])


def test_function_may_assume_the_role_it_is_given(template):
    resources = template["Resources"]
    (function,) = functions(template).values()
    role_ref = function["Environment"]["Variables"]["REPORTS_ROLE_ARN"]
    assert role_ref == {"Fn::GetAtt": ["ReportsRole", "Arn"]}
    policy = resources["AssumeReportsRolePolicy"]["Properties"]
    assert policy["Roles"] == [{"Ref": "ReportsFunctionRole"}]
    (statement,) = policy["PolicyDocument"]["Statement"]
    assert (statement["Action"], statement["Resource"]) == ("sts:AssumeRole", role_ref)
    trust = resources["ReportsRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert [s["Principal"] for s in trust] == [{"AWS": {"Fn::GetAtt": ["ReportsFunctionRole", "Arn"]}}]
    assert function["Role"] == {"Fn::GetAtt": ["ReportsFunctionRole", "Arn"]}
