"""The install line of the README and the home page, run against a wheel built from this checkout.

docs/snippets/install/wheel.sh is the one place the commands live: the home page includes it, the README
quotes it (checked here line for line), and this module runs it: the build line in the session fixture
of conftest.py, the install line in a fresh virtual environment with the aws-sdk extra, which pip fills
from the package registry.
"""

from __future__ import annotations

import re
import subprocess
import venv
import zipfile
from email.parser import HeaderParser
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.packaging.helpers import ROOT, BuiltWheel, clean_env, commands

WHEEL_SNIPPET = Path("docs/snippets/install/wheel.sh")
PYPI_SNIPPET = Path("docs/snippets/install/pypi.sh")


def fenced_blocks(markdown: str) -> list[str]:
    """The text of every fenced code block of a Markdown file."""
    return [match.group(1) for match in re.finditer(r"^```[^\n]*\n(.*?)^```$", markdown, re.M | re.S)]


def metadata(wheel: Path) -> tuple[zipfile.ZipFile, str, list[str]]:
    archive = zipfile.ZipFile(wheel)
    (dist_info,) = {name.split("/")[0] for name in archive.namelist() if ".dist-info/" in name}
    return archive, dist_info, archive.read(f"{dist_info}/METADATA").decode().splitlines()


@pytest.fixture(scope="module")
def installed(built_wheel: BuiltWheel, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment where the README's install line installed the wheel with its extra."""
    install = commands(WHEEL_SNIPPET)[1]
    assert install[:2] == ["pip", "install"], install
    (target,) = install[2:]
    requirement = target.replace("dist/", f"{built_wheel.directory}/", 1)
    assert Path(requirement.split("[")[0]) == built_wheel.path, "the README names another file than pip builds"
    home = tmp_path_factory.mktemp("venv")
    venv.EnvBuilder(with_pip=True).create(home)
    python = home / "bin" / "python"
    run = subprocess.run(
        [str(python), "-m", *install[:2], requirement],
        cwd=home,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    return python


def test_the_installed_wheel_imports_and_runs(installed: Path):
    check = (
        "import importlib.metadata, boto3, powertools_sts; from powertools_sts import sts; "
        "print(importlib.metadata.version('powertools-sts'), powertools_sts.__file__, callable(sts))"
    )
    run = subprocess.run(
        [str(installed), "-c", check],
        cwd=installed.parent,
        env=clean_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    version, location, is_callable = run.stdout.split()
    assert version == "0.1.0"
    # The package came from the new environment, not from the checkout's src/.
    assert Path(location).is_relative_to(installed.parents[1])
    assert is_callable == "True"


def test_the_wheel_carries_the_licence(built_wheel: BuiltWheel):
    archive, dist_info, lines = metadata(built_wheel.path)
    assert archive.read(f"{dist_info}/licenses/LICENSE") == (ROOT / "LICENSE").read_bytes()
    assert "License-Expression: MIT-0" in lines
    assert "License-File: LICENSE" in lines
    assert (ROOT / "LICENSE").read_text().startswith("MIT No Attribution\n\nCopyright 2026 powertools-sts developers\n")


def test_the_readme_quotes_the_install_snippets():
    blocks = fenced_blocks((ROOT / "README.md").read_text())
    assert (ROOT / WHEEL_SNIPPET).read_text() in blocks
    assert (ROOT / PYPI_SNIPPET).read_text() in blocks


def test_the_home_page_includes_the_install_snippets():
    page = (ROOT / "docs/index.md").read_text()
    for snippet in (WHEEL_SNIPPET, PYPI_SNIPPET):
        assert f'--8<-- "{snippet.as_posix()}"' in page


def test_the_published_command_names_this_package_and_its_extra(built_wheel: BuiltWheel):
    """The PyPI line cannot run before the release: it must ask for the same distribution and extras as the wheel line."""
    ((pip, verb, published),) = commands(PYPI_SNIPPET)
    assert (pip, verb) == ("pip", "install")
    from_pypi = Requirement(published)
    from_wheel = Requirement("powertools-sts" + "[" + commands(WHEEL_SNIPPET)[1][2].split("[", 1)[1])
    headers = HeaderParser().parsestr("\n".join(metadata(built_wheel.path)[2]))
    assert canonicalize_name(from_pypi.name) == canonicalize_name(headers["Name"])
    assert from_pypi.extras == from_wheel.extras == {"aws-sdk"}
    assert from_pypi.extras <= set(headers.get_all("Provides-Extra"))
