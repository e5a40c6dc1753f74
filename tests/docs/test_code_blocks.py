"""Every fenced code block of the docs site comes from a file that a test runs or checks.

The rule, for every page mkdocs builds (every ``*.md`` under ``docs/`` but ``docs/_ext/``, the generated
``docs/benchmarks.md`` included):

(a) the body of every fenced block (```` ``` ```` or ``~~~``, indented ones inside admonitions, tabs and
    lists too) holds only pymdownx.snippets include lines: ``--8<-- "path"``, ``--8<-- "path:section"``,
    or a block list of paths between two ``--8<--`` lines; blank lines are allowed. A ``mermaid`` fence
    is no exception: a diagram is source too, and it lives in a file that a test checks;
(b) every included file exists (under the repository root, snippets' ``base_path``), and a named
    section exists in it (``# --8<-- [start:name]`` ... ``# --8<-- [end:name]``), as do line ranges;
(c) every included path appears literally, as a string in the code of at least one test module under
    ``tests/`` other than this one (docstrings do not count): that test is the one that runs or checks it.

Includes outside fences (a markdown table included whole, say) must meet (b) and (c) too, and an included
markdown file is checked like a page. Snippet syntax is read with pymdownx.snippets' own preprocessor, so
this test and the site agree on what is an include. Failures are reported all at once, as
``page:line: reason``, one test per page.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import markdown
import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
TESTS = ROOT / "tests"
CHECKER = Path(__file__).resolve()

PAGES = sorted(path for path in DOCS.rglob("*.md") if (DOCS / "_ext") not in path.parents)

# CommonMark/superfences fences: three or more backticks or tildes, indented or not; a backtick fence's
# info string holds no backtick (otherwise the line is inline code).
_OPEN = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>.*)$")


@dataclass(frozen=True)
class Include:
    """One snippet include: where it is, and what it names."""

    line: int
    spec: str


@cache
def _snippets() -> Any:
    """pymdownx.snippets' preprocessor, configured as mkdocs.yml configures it."""
    md = markdown.Markdown(
        extensions=["pymdownx.snippets"],
        extension_configs={"pymdownx.snippets": {"base_path": [str(ROOT)], "check_paths": True}},
    )
    return md.preprocessors["snippet"]


def _includes(lines: list[str], first: int = 1) -> tuple[list[Include], dict[int, str]]:
    """The includes of ``lines`` (numbered from ``first``), and every line that is snippet notation.

    Follows snippets' own parse: an unescaped ``--8<-- "path"`` line, or the paths between two bare
    ``--8<--`` lines (a path starting with ``;`` is commented out; ``;--8<--`` is escaped, so content).
    """
    pp = _snippets()
    found: list[Include] = []
    notation: dict[int, str] = {}
    block = False
    for number, line in enumerate(lines, first):
        match = pp.RE_ALL_SNIPPETS.match(line)
        if match and not match.group("escape"):
            notation[number] = "marker"
            if match.group("inline_marker"):
                if not block:
                    found.append(Include(number, match.group("snippet")[1:-1].strip()))
            else:
                block = not block
            continue
        if block:
            notation[number] = "path"
            path = line.strip()
            if path and not path.startswith(";"):
                found.append(Include(number, path))
    return found, notation


def _fences(lines: list[str]) -> list[tuple[int, int, str]]:
    """Every fenced block: (opening line, closing line or end, info string), numbered from 1."""
    fences = []
    index = 0
    while index < len(lines):
        match = _OPEN.match(lines[index])
        if not match or (match.group("fence")[0] == "`" and "`" in match.group("info")):
            index += 1
            continue
        fence = match.group("fence")
        close = re.compile(rf"^[ \t]*{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$")
        end = next((i for i in range(index + 1, len(lines)) if close.match(lines[i])), len(lines))
        fences.append((index + 1, end + 1, match.group("info").strip()))
        index = end + 1
    return fences


@cache
def _tested_strings() -> frozenset[str]:
    """Every string constant in the code of the test modules under tests/, but this one's (docstrings aside)."""
    strings: set[str] = set()
    for module in TESTS.rglob("*.py"):
        if module.resolve() == CHECKER:
            continue
        tree = ast.parse(module.read_text(encoding="utf-8"))
        docstrings = {
            id(node.value)
            for node in ast.walk(tree)
            if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
        }
        strings.update(
            node.value
            for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
        )
    return frozenset(strings)


def _named_by_a_test(path: str) -> bool:
    """Whether some test names ``path`` as a string: the whole string, or a word of it (a command line)."""
    pattern = re.compile(rf"(?<![\w./-]){re.escape(path)}(?![\w./-])")
    return any(text == path or pattern.search(text) for text in _tested_strings())


def _check_include(page: str, include: Include, seen: set[Path]) -> list[str]:
    where = f"{page}:{include.line}"
    target = _snippets().parse_snippet_target(include.spec)
    if target is None:
        return [f"{where}: an include without a path: {include.spec!r}"]
    if target["path"].lower().startswith(("http://", "https://")):
        return [f"{where}: {target['path']} is a URL: include a file of the repository"]
    path = ROOT / target["path"]
    if not path.is_file():
        return [f"{where}: {target['path']} does not exist"]
    problems = []
    lines = path.read_text(encoding="utf-8").splitlines()
    if target["section"]:
        try:
            section = _snippets().extract_section(target["section"], lines)
        except Exception as exc:  # snippets' SnippetMissingError: the section markers are not there
            problems.append(f"{where}: {target['path']}: {exc}")
        else:
            if not any(line.strip() for line in section):
                problems.append(f"{where}: section {target['section']!r} of {target['path']} is empty")
    for start, end in zip(target["start"], target["end"], strict=True):
        if (start or 0) >= len(lines) or (end or 0) > len(lines):
            problems.append(f"{where}: lines {include.spec} are past the end of {target['path']}")
    if not _named_by_a_test(target["path"]):
        problems.append(f"{where}: {target['path']} is named by no test under tests/ (as a string)")
    if path.suffix == ".md" and path.resolve() not in seen:
        problems += _check_page(path, seen | {path.resolve()})
    return problems


def _check_page(path: Path, seen: set[Path] | None = None) -> list[str]:
    page = str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else path.name
    lines = path.read_text(encoding="utf-8").splitlines()
    includes, notation = _includes(lines)
    problems = []
    # A mermaid fence is held to the rule too: its diagram comes from a file, like code.
    for start, end, info in _fences(lines):
        if end > len(lines):
            problems.append(f"{page}:{start}: the fence is never closed")
        body = range(start + 1, min(end, len(lines) + 1))
        stray = [n for n in body if lines[n - 1].strip() and n not in notation]
        if stray:
            first = lines[stray[0] - 1].strip()
            problems.append(
                f"{page}:{stray[0]}: a fenced block ({info or 'no language'}, line {start}) holds "
                f"{len(stray)} line(s) that are not a snippet include, first {first[:60]!r}"
            )
        elif not any(n in notation for n in body):
            problems.append(f"{page}:{start}: an empty fenced block")
    for include in includes:
        problems += _check_include(page, include, seen or {path.resolve()})
    return problems


@pytest.mark.parametrize("page", PAGES, ids=lambda path: str(path.relative_to(DOCS)))
def test_every_code_block_is_an_included_file_that_a_test_checks(page: Path) -> None:
    problems = _check_page(page)
    assert not problems, "\n".join(["", *problems])


# -- the checker itself, on pages written for it ------------------------------------------------------


def _problems_of(tmp_path: Path, text: str) -> list[str]:
    """The problems of a page written outside the repository, without their ``page:line: `` prefix."""
    page = tmp_path / "page.md"
    page.write_text(text, encoding="utf-8")
    return [problem.split(": ", 1)[1] for problem in _check_page(page)]


def test_the_checker_accepts_includes_in_fences_and_admonitions(tmp_path: Path) -> None:
    text = (
        '```json title="x"\n--8<-- "examples/iam/function-role-policy.json"\n```\n\n'
        '=== "Tab"\n\n    ~~~python\n    --8<--\n    examples/iam/hub-role-policy.json\n    --8<--\n    ~~~\n'
    )
    assert _problems_of(tmp_path, text) == []


def test_the_checker_refuses_inline_code_a_missing_file_and_a_missing_section(tmp_path: Path) -> None:
    text = (
        "```python\nprint('inline')\n```\n"
        '```text\n;--8<-- "examples/iam/hub-role-policy.json"\n```\n'
        '```text\n--8<-- "examples/nothing-here.py"\n```\n'
        '```text\n--8<-- "examples/iam/hub-role-policy.json:nosuch"\n```\n'
        "```mermaid\ngraph LR\n```\n"
    )
    problems = _problems_of(tmp_path, text)
    assert problems[0].startswith("a fenced block (python, line 1) holds 1 line(s)")
    assert problems[1].startswith("a fenced block (text, line 4) holds 1 line(s)")  # an escaped include is content
    assert problems[2].startswith("a fenced block (mermaid, line 13) holds 1 line(s)")
    assert problems[3] == "examples/nothing-here.py does not exist"
    assert "nosuch" in problems[4]
    assert len(problems) == 5


def test_the_checker_refuses_a_file_no_test_names(tmp_path: Path) -> None:
    # This module is a file of the repository that no other test names, and its own strings do not count.
    assert not _named_by_a_test("tests/docs/test_code_blocks.py")
    assert _problems_of(tmp_path, '```python\n--8<-- "tests/docs/test_code_blocks.py"\n```\n') == [
        "tests/docs/test_code_blocks.py is named by no test under tests/ (as a string)"
    ]
