"""The install line of the README and the home page, run against a wheel built from this checkout.

docs/snippets/install/wheel.sh is the one place the commands live: the home page includes it, the README
quotes it (checked here line for line), and the packaging tests run it: the build line and the install
line in the session fixtures of conftest.py (the install line in a fresh virtual environment, where pip
takes powertools-sts from the folder of the built wheel and its dependencies from the package registry).
"""

from __future__ import annotations

import subprocess
import zipfile
from email.parser import HeaderParser
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.packaging.conftest import readme_install_lines
from tests.packaging.helpers import ROOT, BuiltWheel, clean_env, commands, fenced_blocks, readme_section

WHEEL_SNIPPET = Path("docs/snippets/install/wheel.sh")
PYPI_SNIPPET = Path("docs/snippets/install/pypi.sh")


def metadata(wheel: Path) -> tuple[zipfile.ZipFile, str, list[str]]:
    archive = zipfile.ZipFile(wheel)
    (dist_info,) = {name.split("/")[0] for name in archive.namelist() if ".dist-info/" in name}
    return archive, dist_info, archive.read(f"{dist_info}/METADATA").decode().splitlines()


@pytest.mark.timeout(900)  # the first test to ask for the environment pays for pip's downloads
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


@pytest.mark.timeout(900)  # the first test to ask for the environment pays for pip's downloads
def test_the_installed_files_are_the_wheel_built_here(installed: Path, built_wheel: BuiltWheel):
    """pip took powertools-sts from the folder of the wheel, not from the package registry."""
    archive, dist_info, _ = metadata(built_wheel.path)
    (site_packages,) = installed.parents[1].glob("lib/python*/site-packages")
    installed_record = (site_packages / dist_info / "RECORD").read_text().splitlines()
    built_record = archive.read(f"{dist_info}/RECORD").decode().splitlines()
    # pip adds its own lines (INSTALLER, REQUESTED, the byte-compiled files) to the wheel's.
    assert set(built_record) - {f"{dist_info}/RECORD,,"} <= set(installed_record)


def test_the_wheel_carries_the_licence(built_wheel: BuiltWheel):
    archive, dist_info, lines = metadata(built_wheel.path)
    assert archive.read(f"{dist_info}/licenses/LICENSE") == (ROOT / "LICENSE").read_bytes()
    assert "License-Expression: MIT-0" in lines
    assert "License-File: LICENSE" in lines
    assert (ROOT / "LICENSE").read_text().startswith("MIT No Attribution\n\nCopyright 2026 powertools-sts developers\n")


def test_the_readme_quotes_the_install_snippets():
    blocks = fenced_blocks(readme_section("Install"))
    assert (ROOT / WHEEL_SNIPPET).read_text() in blocks
    assert (ROOT / PYPI_SNIPPET).read_text() in blocks


def test_the_home_page_includes_the_install_snippets():
    page = (ROOT / "docs/index.md").read_text()
    for snippet in (WHEEL_SNIPPET, PYPI_SNIPPET):
        assert f'--8<-- "{snippet.as_posix()}"' in page


def test_the_published_command_names_this_package_and_its_extras(built_wheel: BuiltWheel):
    """The PyPI line cannot run before the release: it is the line that runs, without ``--find-links dist``."""
    local, published = readme_install_lines()
    assert commands(WHEEL_SNIPPET)[1] == local
    assert commands(PYPI_SNIPPET) == [published]
    (pip, verb, requirement) = published
    assert (pip, verb) == ("pip", "install")
    headers = HeaderParser().parsestr("\n".join(metadata(built_wheel.path)[2]))
    assert canonicalize_name(Requirement(requirement).name) == canonicalize_name(headers["Name"])
    assert Requirement(requirement).extras <= set(headers.get_all("Provides-Extra"))
