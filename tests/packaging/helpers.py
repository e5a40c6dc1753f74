"""What the packaging tests share: the checkout, the commands of a snippet, a clean environment for children."""

from __future__ import annotations

import os
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"


def commands(path: Path) -> list[list[str]]:
    """The commands of a docs/snippets shell file: its lines that are not comments, split as a shell does."""
    return [shlex.split(line) for line in (ROOT / path).read_text().splitlines() if line and not line.startswith("#")]


def fenced_blocks(markdown: str, language: str = "") -> list[str]:
    """The text of every fenced code block of a Markdown text (of one language, when given)."""
    info = re.escape(language) + r"\b" if language else ""
    return [match.group(1) for match in re.finditer(rf"^```{info}[^\n]*\n(.*?)^```$", markdown, re.M | re.S)]


def readme_section(heading: str) -> str:
    """The text of one ``## heading`` section of the README, up to the next section of that level."""
    text = README.read_text()
    assert f"\n## {heading}\n" in text, f"the README has no section {heading!r}"
    return text.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]


def clean_env() -> dict[str, str]:
    """The environment of a child that must see only its own virtual environment, not this one or the checkout."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


@dataclass(frozen=True)
class BuiltWheel:
    path: Path
    directory: Path
