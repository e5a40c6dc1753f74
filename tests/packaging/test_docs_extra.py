"""The docs extra builds the site, and brings nothing of the dev toolchain (make docs installs it alone).

The closure of the extra is read from the metadata of the distributions installed here (the dev
environment, whose dev extra includes the docs extra); a requirement not installed here counts by its
name alone. powertools-sts's own requirements are read from pyproject.toml, never from a stale install.
"""

from __future__ import annotations

import ast
import importlib.metadata
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.packaging.helpers import ROOT, clean_env

tomllib = pytest.importorskip("tomllib")

PROJECT = canonicalize_name("powertools-sts")
#: What a site build must never pull in: the dev toolchain's heavy parts and the package's AWS extras.
HEAVY = {
    "matplotlib",
    "numpy",
    "atheris",
    "py-spy",
    "moto",
    "hypothesis",
    "pytest",
    "mypy",
    "cfn-lint",
    "awslambdaric",
    "boto3",
    "botocore",
    "aws-xray-sdk",
    "opentelemetry-api",
    "opentelemetry-sdk",
}


def pyproject() -> dict[str, Any]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def project_requirements(extras: set[str]) -> list[Requirement]:
    project = pyproject()["project"]
    listed = list(project["dependencies"])
    for extra in sorted(extras):
        listed += project["optional-dependencies"][extra]
    return [Requirement(text) for text in listed]


def closure(requirements: list[Requirement]) -> set[str]:
    """Every distribution that installing ``requirements`` brings, by canonical name (the project's own included)."""
    seen: set[tuple[str, frozenset[str]]] = set()
    names: set[str] = set()
    todo = list(requirements)
    while todo:
        requirement = todo.pop()
        name = canonicalize_name(requirement.name)
        key = (name, frozenset(requirement.extras))
        if key in seen:
            continue
        seen.add(key)
        names.add(name)
        if name == PROJECT:
            todo += project_requirements(set(requirement.extras))
            continue
        try:
            requires = importlib.metadata.distribution(name).requires or []
        except importlib.metadata.PackageNotFoundError:
            continue  # not installed here: its own name still counts
        for text in requires:
            child = Requirement(text)
            environments = [{"extra": extra} for extra in requirement.extras or {""}]
            if child.marker is None or any(child.marker.evaluate(env) for env in environments):
                todo.append(child)
    return names


def docs_closure() -> set[str]:
    return closure([Requirement("powertools-sts[docs]")])


def distribution_of(module: str) -> str:
    (name, *_) = importlib.metadata.packages_distributions()[module.split(".")[0]]
    return canonicalize_name(name)


class _MkdocsLoader(yaml.SafeLoader):
    """Reads mkdocs.yml's ``!!python/name:`` tags as the dotted names they are, importing nothing."""


_MkdocsLoader.add_multi_constructor("tag:yaml.org,2002:python/name:", lambda loader, suffix, node: suffix)


def mkdocs_config() -> dict[str, Any]:
    return yaml.load((ROOT / "mkdocs.yml").read_text(), Loader=_MkdocsLoader)  # a SafeLoader subclass


def names_of(entries: list[Any]) -> list[str]:
    return [entry if isinstance(entry, str) else next(iter(entry)) for entry in entries]


def test_the_docs_extra_brings_nothing_of_the_dev_toolchain():
    dev_own = {
        canonicalize_name(requirement.name)
        for requirement in project_requirements({"dev"})
        if canonicalize_name(requirement.name) != PROJECT
    } - {canonicalize_name(requirement.name) for requirement in project_requirements({"docs"})}
    brought = docs_closure()
    assert brought & HEAVY == set()
    assert brought & dev_own == set()


def test_the_dev_extra_includes_the_docs_extra():
    """make test builds the site in the dev environment (make docs-check): it must have what make docs has."""
    assert docs_closure() <= closure([Requirement("powertools-sts[dev]")])


def test_the_docs_extra_has_what_mkdocs_yml_and_docs_ext_use():
    config = mkdocs_config()
    brought = docs_closure()
    needed = {
        "theme": {
            canonicalize_name(ep.dist.name)
            for ep in importlib.metadata.entry_points(group="mkdocs.themes", name=config["theme"]["name"])
            if ep.dist
        }
    }
    for plugin in names_of(config["plugins"]):
        # mkdocs-material replaces mkdocs's own search plugin with material/search.
        found = importlib.metadata.entry_points(group="mkdocs.plugins", name=plugin)
        needed[plugin] = {canonicalize_name(ep.dist.name) for ep in found if ep.dist}
    for extension in names_of(config["markdown_extensions"]):
        # A bare name is one of Markdown's own extensions (markdown.extensions.<name>).
        needed[extension] = {distribution_of(extension if "." in extension else "markdown")}
    (superfences,) = [e for e in config["markdown_extensions"] if isinstance(e, dict) and "pymdownx.superfences" in e]
    for fence in superfences["pymdownx.superfences"]["custom_fences"]:
        needed[fence["format"]] = {distribution_of(fence["format"])}
    for handler in config["plugins"][1]["mkdocstrings"]["handlers"]:
        needed[f"mkdocstrings handler {handler}"] = {canonicalize_name(f"mkdocstrings-{handler}")}
    for path in sorted((ROOT / "docs" / "_ext").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            modules = [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            for module in modules:
                if module.split(".")[0] not in sys.stdlib_module_names and module != "__future__":
                    needed[f"{path.name}: import {module}"] = {distribution_of(module)}
    # separate_signature: mkdocstrings lays out signatures with black or ruff, and leaves them on one line without.
    needed["signature formatter"] = {"black", "ruff"}

    missing = {what: dists for what, dists in needed.items() if not dists & brought}
    assert missing == {}
    assert config["plugins"][1]["mkdocstrings"]["handlers"]["python"]["options"]["separate_signature"] is True


def make_dry_run(*targets: str, **variables: str) -> list[list[str]]:
    """The commands ``make -n`` would run for ``targets``, split as a shell does."""
    argv = ["make", "--no-print-directory", "-n", *targets, *(f"{k}={v}" for k, v in variables.items())]
    run = subprocess.run(argv, cwd=ROOT, env=clean_env(), capture_output=True, text=True, timeout=30, check=True)
    return [shlex.split(line) for line in run.stdout.splitlines() if line.strip()]


def test_make_docs_builds_in_a_venv_of_the_docs_extra_only(tmp_path: Path):
    docs_venv = tmp_path / "venv-docs"  # absent: make shows how it would create and fill it
    commands = make_dry_run("docs", DOCS_VENV=str(docs_venv))
    installs = [command for command in commands if command[1:4] == ["-m", "pip", "install"]]
    assert [command[0] for command in installs] == [f"{docs_venv}/bin/python"]
    assert installs[0][-2:] == ["-e", ".[docs]"]
    assert commands[-1][:3] == ["NO_MKDOCS_2_WARNING=1", f"{docs_venv}/bin/mkdocs", "build"]
    assert not any(".[dev]" in command for command in commands)


def test_make_clean_and_git_forget_the_docs_venv():
    (clean,) = make_dry_run("clean")
    assert ".venv-docs" in clean
    assert ".venv-docs/" in (ROOT / ".gitignore").read_text().splitlines()
