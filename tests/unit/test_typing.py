"""typing.get_type_hints works on every public name (runtime type checkers call it)."""

from __future__ import annotations

import inspect
import typing

import pytest

import powertools_sts


def public_callables() -> list[tuple[str, object]]:
    found: list[tuple[str, object]] = []
    for name in powertools_sts.__all__:
        obj = getattr(powertools_sts, name)
        if inspect.isclass(obj):
            found.append((name, obj))
            found.extend(
                (f"{name}.{attr}", member)
                for attr, member in vars(obj).items()
                if inspect.isfunction(member) and (not attr.startswith("_") or attr == "__init__")
            )
        elif callable(obj):
            found.append((name, obj))
    return found


@pytest.mark.parametrize(("name", "obj"), public_callables(), ids=[name for name, _ in public_callables()])
def test_get_type_hints_resolves(name, obj):
    typing.get_type_hints(obj)
