"""docs/api.md is built from the docstrings alone: it shows every public name, documented by its docstring, and
nothing else; and no docstring example imports a private name.

The public API is ``powertools_sts.__all__`` plus the public module ``powertools_sts.testing`` (its own
``__all__``). The page is rendered by mkdocstrings: this test builds it (api.md alone, with mkdocs.yml's
configuration) and reads what it renders for every object.
"""

from __future__ import annotations

import ast
import html
import inspect
import re
import shutil
from pathlib import Path

import pytest

import powertools_sts
import powertools_sts.testing

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "powertools_sts"
API_PAGE = "docs/api.md"

#: What may be imported from where: the package's names, and the testing module's.
EXPORTED = {
    "powertools_sts": set(powertools_sts.__all__),
    "powertools_sts.testing": set(powertools_sts.testing.__all__),
}
#: Every public object, by the anchor mkdocstrings gives it.
PUBLIC = {
    f"{module}.{name}": getattr(powertools_sts.testing if module.endswith("testing") else powertools_sts, name)
    for module, names in EXPORTED.items()
    for name in sorted(names)
}


def test_the_page_is_the_two_directives_and_nothing_else() -> None:
    """No listing, no include, no prose that could drift from the code: headings and ``:::`` directives only."""
    text = (ROOT / API_PAGE).read_text()
    body = text.split("\n---\n", 1)[1]  # after the front matter
    assert re.findall(r"^::: *(\S+)", body, re.MULTILINE) == ["powertools_sts", "powertools_sts.testing"]
    content = [
        line
        for line in body.splitlines()
        if line.strip() and not line.startswith(("#", ":::", "    "))  # headings, directives, their options
    ]
    assert content == []
    assert "--8<--" not in body
    assert "```" not in body


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The HTML mkdocstrings renders for api.md, built with mkdocs.yml's configuration."""
    from mkdocs.commands.build import build
    from mkdocs.config import load_config

    docs = tmp_path_factory.mktemp("docs")
    site = tmp_path_factory.mktemp("site")
    shutil.copy(ROOT / API_PAGE, docs / "api.md")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(ROOT)  # snippets' base_path and the griffe extension's path are relative to the root
        patch.setenv("NO_MKDOCS_2_WARNING", "1")
        config = load_config(
            str(ROOT / "mkdocs.yml"), docs_dir=str(docs), site_dir=str(site), nav=[{"API": "api.md"}], strict=False
        )
        build(config)
    return (site / "api" / "index.html").read_text()


@pytest.fixture(scope="module")
def rendered_ids(rendered: str) -> list[str]:
    """The anchors of the objects mkdocstrings renders on api.md."""
    return sorted(set(re.findall(r'id="(powertools_sts(?:\.[\w]+)*)"', rendered)))


def _exported(identifier: str) -> bool:
    parts = identifier.split(".")
    if any(part.startswith("_") for part in parts):
        return False
    if parts[:2] == ["powertools_sts", "testing"]:
        return len(parts) == 2 or parts[2] in EXPORTED["powertools_sts.testing"]
    return len(parts) >= 2 and parts[1] in EXPORTED["powertools_sts"]


def test_every_rendered_name_is_public_and_exported(rendered_ids: list[str]) -> None:
    assert rendered_ids, "the page rendered no object"
    assert [identifier for identifier in rendered_ids if not _exported(identifier)] == []


def test_every_exported_name_is_rendered(rendered_ids: list[str]) -> None:
    assert set(PUBLIC) - set(rendered_ids) == set()


def _plain(text: str) -> str:
    """Text without markup or whitespace: reStructuredText roles and literals, or HTML tags and entities."""
    text = re.sub(r":\w+:`([^`]*)`", r"\1", text).replace("`", "")
    text = html.unescape(re.sub(r"<[^>]+>", "", text))
    return re.sub(r"\s+", "", text)


@pytest.mark.parametrize("anchor", sorted(PUBLIC))
def test_every_public_name_is_documented_by_its_docstring(rendered: str, anchor: str) -> None:
    """The first paragraph under each public name's heading is the summary of its docstring."""
    docstring = inspect.getdoc(PUBLIC[anchor])
    assert docstring, f"{anchor} has no docstring"
    summary = docstring.split("\n\n", 1)[0]
    heading = rendered.index(f'id="{anchor}"')
    contents = rendered.index('<div class="doc doc-contents', heading)
    first = re.search(r"<p>(.*?)</p>", rendered[contents:], re.S)
    assert first is not None, f"nothing is rendered under {anchor}"
    assert _plain(first.group(1)) == _plain(summary)


_IMPORT = re.compile(r"^\s*>>> (from (?P<module>[\w.]+) import (?P<names>.+)|import (?P<plain>[\w.]+))")


def _docstring_imports() -> list[tuple[str, int, str, list[str]]]:
    """Every ``>>> from powertools_sts... import`` of a docstring in src/: (file, line, module, names)."""
    found = []
    for module in sorted(SRC.rglob("*.py")):
        tree = ast.parse(module.read_text())
        for node in ast.walk(tree):
            if not isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            docstring = ast.get_docstring(node, clean=False)
            if not docstring or not node.body:
                continue
            first = node.body[0].lineno
            lines = docstring.splitlines()
            for offset, line in enumerate(lines):
                match = _IMPORT.match(line)
                if not match:
                    continue
                target = match.group("module") or match.group("plain")
                if not target.startswith("powertools_sts"):
                    continue
                names = match.group("names") or ""
                # A parenthesised import goes on over "..." lines.
                rest = iter(lines[offset + 1 :])
                while names.count("(") > names.count(")"):
                    names += next(rest, ")").strip().removeprefix("...")
                listed = [name.split(" as ")[0].strip() for name in names.strip("() ").split(",") if name.strip()]
                found.append((str(module.relative_to(ROOT)), first + offset, target, listed))
    return found


def test_docstring_examples_import_only_exported_names() -> None:
    imports = _docstring_imports()
    assert len(imports) >= 10  # the parse finds the examples
    bad = [
        f"{path}:{line}: from {module} import {', '.join(names)}"
        for path, line, module, names in imports
        if module not in EXPORTED or not set(names) <= EXPORTED[module]
    ]
    assert bad == [], "\n".join(["", *bad])
