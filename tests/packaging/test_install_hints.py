"""Every pip command the package and its pages show quotes a requirement with extras one way, in double quotes.

As in ``pip install "powertools-sts[otel]"``: zsh needs a requirement with extras quoted (it reads the
brackets as a pattern), and double quotes work in every shell.
"""

from __future__ import annotations

import re
from pathlib import Path

from tests.packaging.helpers import ROOT

#: A pip install whose requirement has extras; group 1 is that requirement as written, quotes included.
HINT = re.compile(r"pip install (?:-[-\w]+ +)*([^\s`]*\[[^\s`]*)")


def shown_files() -> list[Path]:
    """What users read: the package's messages and docstrings, the pages and their snippets, the examples."""
    return [
        *ROOT.glob("src/**/*.py"),
        *ROOT.glob("docs/**/*.md"),
        *(path for path in ROOT.glob("docs/snippets/**/*") if path.is_file()),
        *(path for path in ROOT.glob("examples/**/*") if path.is_file() and "__pycache__" not in path.parts),
        ROOT / "README.md",
    ]


def test_every_pip_hint_quotes_its_requirement_in_double_quotes():
    hints = {
        f"{path.relative_to(ROOT)}: {match.group(0)}": match.group(1)
        for path in shown_files()
        for match in HINT.finditer(path.read_text(errors="replace"))
    }
    assert any("src/powertools_sts/otel.py" in where for where in hints)
    assert any("src/powertools_sts/tracing.py" in where for where in hints)
    assert {where for where, requirement in hints.items() if not re.fullmatch(r'"[^"\']+\]"\W*', requirement)} == set()
