"""Griffe extension for the API reference: render the package's numpy ``Example`` sections as code.

The package's docstrings title their examples ``Example`` (as Powertools' own do); griffe's numpy
parser knows only ``Examples`` and renders the singular as plain text, so the ``>>>`` lines become
nested quotes. This extension renames the section, and drops two things that only make sense to
doctest or Sphinx: ``# doctest: +SKIP`` directives and the ``:class:``/``:func:`` roles.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_EXAMPLE = re.compile(r"^(?P<indent>[ \t]*)Example\n(?P=indent)-{7}[ \t]*$", re.MULTILINE)
_SKIP = re.compile(r"[ \t]*# doctest: \+SKIP")
_ROLE = re.compile(r":(?:class|func|meth|attr|mod|data|exc):(`[^`]+`)")


class NumpyExamples(griffe.Extension):
    """Rewrite every docstring before it is parsed."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        """Rename ``Example`` to ``Examples`` and drop doctest directives and Sphinx roles in ``obj``'s docstring."""
        docstring = obj.docstring
        if docstring is None:
            return
        text = _EXAMPLE.sub(lambda m: f"{m['indent']}Examples\n{m['indent']}--------", docstring.value)
        docstring.value = _ROLE.sub(r"\1", _SKIP.sub("", text))
