"""The README's "What make demo prints" block is what examples/demo.py prints, timings and key ids aside."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.packaging.helpers import ROOT, clean_env

DEMO = Path("examples/demo.py")
HEADING = "## What `make demo` prints"


def normalised(text: str) -> str:
    """Only what varies from run to run: the milliseconds and the access key ids STS draws."""
    text = re.sub(r" *\d+\.\d\d ms", " #.## ms", text)
    return re.sub(r"\bASIA[A-Z0-9]{16}\b", "ASIA################", text)


def readme_block() -> str:
    section = (ROOT / "README.md").read_text().split(HEADING, 1)[1]
    match = re.search(r"^```text\n(.*?)^```$", section, re.M | re.S)
    assert match is not None, f"no text block under {HEADING!r}"
    return match.group(1)


def test_the_readme_shows_what_the_demo_prints():
    run = subprocess.run(
        [sys.executable, str(DEMO)], cwd=ROOT, env=clean_env(), capture_output=True, text=True, timeout=120, check=False
    )
    assert run.returncode == 0, run.stderr
    assert [line for line in run.stdout.splitlines() if line != line.rstrip()] == []
    assert normalised(run.stdout) == normalised(readme_block())


def test_the_readme_says_the_clock_is_simulated_and_the_count_cumulative():
    section = (ROOT / "README.md").read_text().split(HEADING, 1)[1].split("\n## ", 1)[0]
    prose = re.sub(r"^```.*?^```$", "", section, flags=re.M | re.S)
    assert "simulated" in prose
    assert "cumulative" in prose
