"""The shape a reviewer holds the package to (issue 19): no class over 300 lines of code, no function over
60, no frame walking, and private botocore attributes touched in one module only.

Lines of code are the lines of a definition that are neither blank, nor comments, nor docstrings.
"""

from __future__ import annotations

import ast
import io
import tokenize
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "powertools_sts"
MODULES = sorted(SRC.glob("*.py"))
MAX_CLASS, MAX_FUNCTION = 300, 60


def code_lines(source: str, node: ast.AST, comments: set[int]) -> int:
    """Lines of ``node`` that hold code: not blank, not only a comment, not part of a docstring."""
    docstrings: set[int] = set()
    for inner in ast.walk(node):
        body = getattr(inner, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr):
            value = body[0].value
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                docstrings.update(range(body[0].lineno, (body[0].end_lineno or body[0].lineno) + 1))
    lines = source.splitlines()[node.lineno - 1 : node.end_lineno]  # type: ignore[attr-defined]
    count = 0
    for offset, line in enumerate(lines):
        number = node.lineno + offset  # type: ignore[attr-defined]
        stripped = line.strip()
        if not stripped or number in docstrings or (stripped.startswith("#") and number in comments):
            continue
        count += 1
    return count


def definitions() -> list[tuple[str, str, int]]:
    found = []
    for path in MODULES:
        source = path.read_text()
        tokens = tokenize.generate_tokens(io.StringIO(source).readline)
        comments = {token.start[0] for token in tokens if token.type == tokenize.COMMENT}
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                kind = "class" if isinstance(node, ast.ClassDef) else "function"
                found.append((kind, f"{path.name}:{node.name}", code_lines(source, node, comments)))
    return found


def test_no_class_over_300_lines_of_code_and_no_function_over_60():
    too_long = [
        f"{kind} {name}: {lines} lines of code"
        for kind, name, lines in definitions()
        if lines > (MAX_CLASS if kind == "class" else MAX_FUNCTION)
    ]
    assert too_long == []


@pytest.mark.parametrize("path", MODULES, ids=lambda path: path.name)
def test_no_frame_walking(path):
    source = path.read_text()
    for marker in ("sys._getframe", "inspect.currentframe", "inspect.stack(", ".f_back", "__code__"):
        assert marker not in source, f"{path.name} walks frames ({marker}): the invocation is a ContextVar"
