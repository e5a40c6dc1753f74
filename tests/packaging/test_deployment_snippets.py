"""The commands and files docs/deployment.md includes, checked against examples/sam (no AWS here).

The sam commands cannot run without an AWS account: their names are checked against the template and
the example's README. The layer build runs for real, on a copy of examples/sam/src, with the wheel
built from the checkout.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cfnlint.api import lint_file
from cfnlint.decode import decode
from cfnlint.decode.cfn_yaml import loads

from tests.packaging.helpers import ROOT, BuiltWheel, clean_env, commands

SAM = ROOT / "examples" / "sam"
TEMPLATE = Path("examples/sam/template.yaml")
DEPLOY = Path("docs/snippets/deployment/sam_deploy.sh")
INVOKE = Path("docs/snippets/deployment/sam_invoke.sh")
TREE = Path("docs/snippets/deployment/tree.txt")
LAYER_MAKEFILE = Path("docs/snippets/deployment/layer/Makefile")
LAYER_TEMPLATE = Path("docs/snippets/deployment/layer/template.yaml")


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    decoded, problems = decode(str(ROOT / TEMPLATE))
    assert not problems
    assert decoded is not None
    return dict(decoded)


def option(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


def test_the_deploy_commands_build_the_example(template):
    (cd, build, deploy) = commands(DEPLOY)
    assert cd[0] == "cd"
    assert (ROOT / cd[1] / "template.yaml").is_file()
    assert build == ["sam", "build"]
    assert deploy == ["sam", "deploy", "--guided"]


def test_the_invoke_commands_name_the_function_and_one_stack(template):
    functions = {name for name, r in template["Resources"].items() if r["Type"] == "AWS::Serverless::Function"}
    invoke, logs = commands(INVOKE)
    assert invoke[:3] == ["sam", "remote", "invoke"]
    assert invoke[3] in functions
    assert isinstance(json.loads(option(invoke, "--event")), dict)
    assert logs[:2] == ["sam", "logs"]
    assert option(logs, "--name") in functions
    assert "--tail" in logs
    stack = option(invoke, "--stack-name")
    assert option(logs, "--stack-name") == stack
    # The stack name is the one sam deploy --guided is given in the example's own README.
    assert f"`{stack}`" in (SAM / "README.md").read_text()


def test_the_tree_lists_every_file_of_the_example():
    listed = set()
    folders: list[str] = []
    for line in (ROOT / TREE).read_text().splitlines()[1:]:
        name = line.lstrip("│├└─ ").split()[0]
        depth = (len(line) - len(line.lstrip("│├└─ "))) // 4
        folders = folders[: depth - 1]
        if name.endswith("/"):
            folders.append(name)
        else:
            listed.add("".join(folders) + name)
    present = {
        path.relative_to(SAM).as_posix()
        for path in SAM.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and ".aws-sam" not in path.parts
    }
    assert listed == present


def test_the_layer_template_lines_lint_clean_in_the_example(template, tmp_path):
    fragment = loads((ROOT / LAYER_TEMPLATE).read_text())
    function = template["Resources"]["ReportsFunction"]
    change = fragment["Resources"]["ReportsFunction"]
    assert set(change) == {"Metadata", "Properties"}
    merged = json.loads(json.dumps(template))
    merged["Resources"]["ReportsFunction"]["Metadata"] = dict(change["Metadata"])
    merged["Resources"]["ReportsFunction"]["Properties"].update(change["Properties"])
    assert merged["Resources"]["ReportsFunction"]["Metadata"] == {"BuildMethod": "makefile"}
    path = tmp_path / "template.json"
    path.write_text(json.dumps(merged))
    assert [str(match) for match in lint_file(path)] == []
    # The layer is Powertools v3 for the runtime and architecture the function has.
    (layer,) = change["Properties"]["Layers"]
    arn = layer["Fn::Sub"]
    runtime = template["Globals"]["Function"]["Runtime"].replace(".", "")
    (architecture,) = template["Globals"]["Function"]["Architectures"]
    assert f":017000801446:layer:AWSLambdaPowertoolsPythonV3-{runtime}-{architecture}:" in arn
    assert function["Properties"]["CodeUri"] == "src/"


def test_the_layer_build_installs_powertools_sts_alone(built_wheel: BuiltWheel, tmp_path):
    source = tmp_path / "src"
    shutil.copytree(SAM / "src", source, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / LAYER_MAKEFILE, source / "Makefile")
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir()
    env = clean_env()
    # sam build runs the target with the python of the PATH: this one, offline, with the checkout's wheel.
    env.update(
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}",
        PIP_NO_INDEX="1",
        PIP_FIND_LINKS=str(built_wheel.directory),
    )
    run = subprocess.run(
        ["make", "--no-print-directory", "build-ReportsFunction", f"ARTIFACTS_DIR={artifacts}"],
        cwd=source,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    built = {path.name for path in artifacts.iterdir()}
    assert {"app.py", "powertools_sts", "powertools_sts-0.1.0.dist-info"} <= built
    assert not {name for name in built if name.startswith(("aws_lambda_powertools", "boto3", "botocore"))}
    assert not {name for name in built if name.startswith("aws_xray_sdk")}
