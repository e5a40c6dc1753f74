"""The wheel built from this checkout by the command the README and the home page give, and a fresh
virtual environment where the README's install line installed it."""

from __future__ import annotations

import shlex
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from tests.packaging.helpers import ROOT, BuiltWheel, clean_env, commands, fenced_blocks, readme_section


@pytest.fixture(scope="session")
def built_wheel(tmp_path_factory: pytest.TempPathFactory) -> BuiltWheel:
    """Runs the build line of docs/snippets/install/wheel.sh, with its -w dist pointed at a temporary folder."""
    build = commands(Path("docs/snippets/install/wheel.sh"))[0]
    assert build[:5] == ["python", "-m", "pip", "wheel", "--no-deps"], build
    assert build[-3:] == ["-w", "dist", "."], build
    dist = tmp_path_factory.mktemp("dist")
    argv = [sys.executable, *build[1:-2], str(dist), "."]
    run = subprocess.run(argv, cwd=ROOT, env=clean_env(), capture_output=True, text=True, timeout=300, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    (wheel,) = dist.glob("*.whl")
    return BuiltWheel(path=wheel, directory=dist)


def readme_install_lines() -> tuple[list[str], list[str]]:
    """The two ``pip install`` lines of the README's Install section: from the local wheel, and from PyPI.

    They must be one line: the PyPI one, with ``--find-links dist`` (the folder the build line writes)
    added for as long as the package is not published.
    """
    lines = [
        shlex.split(line)
        for block in fenced_blocks(readme_section("Install"), "bash")
        for line in block.splitlines()
        if line.startswith("pip install ")
    ]
    local = [line for line in lines if "--find-links" in line]
    published = [line for line in lines if "--find-links" not in line]
    assert len(local) == 1, lines
    assert len(published) == 1, lines
    assert [word for word in local[0] if word not in ("--find-links", "dist")] == published[0]
    assert local[0][local[0].index("--find-links") + 1] == "dist"
    return local[0], published[0]


@pytest.fixture(scope="session")
def installed(built_wheel: BuiltWheel, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The python of a fresh virtual environment where the README's install line installed the wheel.

    The line runs as the README gives it, but for its ``dist``, the folder the wheel was built in: pip
    takes powertools-sts from there and its dependencies from the package registry.
    """
    local, _ = readme_install_lines()
    home = tmp_path_factory.mktemp("venv")
    venv.EnvBuilder(with_pip=True).create(home)
    python = home / "bin" / "python"
    argv = [str(built_wheel.directory) if word == "dist" else word for word in local]
    run = subprocess.run(
        [str(python), "-m", *argv],
        cwd=home,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    return python
