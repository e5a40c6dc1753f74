"""No text file of the repository names the placeholder home the project never had.

A repository named powertools-sts under a GitHub owner of that name, and that owner's github.io site,
do not exist: the site, the package metadata and the pages publish no address until the project has one.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

from tests.packaging.helpers import ROOT

# Written so that this file does not match them itself.
PLACEHOLDERS = re.compile(
    r"github\.com/powertools-sts\b|powertools-sts\.github\.io|powertools-sts/(?:powertools-sts)\b"
)
#: What is not the repository's own text: build output, caches, virtual environments (every dot-directory).
NOT_SOURCE = {"site", "build", "dist", "htmlcov", "__pycache__"}


def text_files(root: Path) -> Iterator[Path]:
    for folder, subfolders, files in os.walk(root):
        subfolders[:] = [
            name
            for name in subfolders
            if not name.startswith(".") and name not in NOT_SOURCE and not name.endswith(".egg-info")
        ]
        for name in files:
            path = Path(folder, name)
            data = path.read_bytes()
            if b"\0" not in data:
                yield path


def test_no_text_file_names_the_placeholder_home():
    found = {
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in text_files(ROOT)
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1)
        if PLACEHOLDERS.search(line)
    }
    assert found == set()


def test_the_pattern_catches_each_placeholder():
    host, owner = "github.com", "powertools-sts"
    for text in (
        f"https://{host}/{owner}/{owner}",
        f"https://{owner}.github.io/{owner}/",
        f"repo_name: {owner}/{owner}",
    ):
        assert PLACEHOLDERS.search(text), text
    assert not PLACEHOLDERS.search("pip install powertools-sts")
