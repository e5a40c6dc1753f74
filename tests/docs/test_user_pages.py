"""The pages a user reads name none of the project's own test or benchmark files.

A user page says what the package does and how to use it; which test checks a claim is the project's
business, told on the pages about the project itself: Reliability, Benchmarks and the Changelog. Paths
under ``examples/`` are the user's to copy and stay welcome, as snippet titles too.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"

#: The pages about the project itself, which may name its tests and benchmarks.
PROJECT_PAGES = {"reliability.md", "benchmarks.md", "changelog.md"}
#: Pages that still name a test file, each owned by a change under way elsewhere: remove the entry with the path.
PENDING: dict[str, str] = {}

USER_PAGES = sorted(
    [ROOT / "README.md"]
    + [path for path in DOCS.rglob("*.md") if (DOCS / "_ext") not in path.parents and path.name not in PROJECT_PAGES]
)

# A path that starts at tests/ or benchmarks/: in prose, in code, in a link or in a snippet's title.
_PROJECT_PATH = re.compile(r"(?<![\w./-])(?:tests|benchmarks)/[\w./-]*")


def _named(text: str) -> list[str]:
    """Every project path of a page, as ``line: path``."""
    return [
        f"{number}: {match.group(0)}"
        for number, line in enumerate(text.splitlines(), 1)
        for match in _PROJECT_PATH.finditer(line)
    ]


@pytest.mark.parametrize(
    "page",
    [
        pytest.param(path, marks=pytest.mark.xfail(strict=True, reason=PENDING[path.name]))
        if path.name in PENDING
        else path
        for path in USER_PAGES
    ],
    ids=lambda path: str(path.relative_to(ROOT)),
)
def test_a_user_page_names_no_test_or_benchmark_file(page: Path) -> None:
    assert _named(page.read_text(encoding="utf-8")) == []


def test_the_pattern_finds_paths_and_leaves_examples_alone() -> None:
    text = (
        '```python title="tests/examples/test_app.py"\n'
        "Checked by `tests/unit/test_sessions.py` and benchmarks/run.py.\n"
        '```python title="examples/quick_start.py"\n'
        "See [Benchmarks](benchmarks.md), docs/benchmarks.md, and examples/testing/test_app.py.\n"
    )
    assert _named(text) == ["1: tests/examples/test_app.py", "2: tests/unit/test_sessions.py", "2: benchmarks/run.py."]
