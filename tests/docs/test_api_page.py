"""docs/api.md shows the public API and nothing else, and no docstring example imports a private name.

The public API is ``powertools_sts.__all__`` plus the public module ``powertools_sts.testing`` (its own
``__all__``). The page is rendered by mkdocstrings: this test builds it (api.md alone, with mkdocs.yml's
configuration) and reads the anchors of every object the page renders.
"""

from __future__ import annotations

import ast
import re
import runpy
import shutil
from pathlib import Path

import pytest

import powertools_sts
import powertools_sts.testing

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "powertools_sts"
PUBLIC_NAMES = "examples/api/public_names.py"
API_PAGE = "docs/api.md"

#: What may be imported from where: the package's names, and the testing module's.
EXPORTED = {
    "powertools_sts": set(powertools_sts.__all__),
    "powertools_sts.testing": set(powertools_sts.testing.__all__),
}


def test_the_page_imports_every_public_name() -> None:
    tree = ast.parse((ROOT / PUBLIC_NAMES).read_text())
    imported = [
        alias.name
        for node in tree.body
        if isinstance(node, ast.ImportFrom) and node.module == "powertools_sts"
        for alias in node.names
    ]
    assert sorted(imported) == sorted(powertools_sts.__all__)
    names = runpy.run_path(str(ROOT / PUBLIC_NAMES))["PUBLIC_NAMES"]
    assert names == [getattr(powertools_sts, name) for name in imported]


def test_the_page_renders_the_package_and_the_testing_module() -> None:
    directives = re.findall(r"^::: *(\S+)", (ROOT / API_PAGE).read_text(), re.MULTILINE)
    assert directives == ["powertools_sts", "powertools_sts.testing"]


@pytest.fixture(scope="module")
def rendered_ids(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """The anchors of the objects mkdocstrings renders on api.md, built with mkdocs.yml's configuration."""
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
    html = (site / "api" / "index.html").read_text()
    return sorted(set(re.findall(r'id="(powertools_sts(?:\.[\w]+)*)"', html)))


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
    rendered = set(rendered_ids)
    expected = {f"powertools_sts.{name}" for name in powertools_sts.__all__}
    expected |= {f"powertools_sts.testing.{name}" for name in powertools_sts.testing.__all__}
    assert expected - rendered == set()


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
