"""The wheel built from this checkout by the command the README and the home page give."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.packaging.helpers import ROOT, BuiltWheel, clean_env, commands


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
