"""docs/migration.md: its @middy/sts example, its option table, and the claims of its rows."""

from __future__ import annotations

import inspect
import re
import shutil
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import pytest

from powertools_sts import get_credentials, sts
from powertools_sts.middleware import context_attributes

from ..conftest import ROLE

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "migration.md"
MIDDY_EXAMPLE = Path("examples/migration/middy_sts.mjs")
# Every option of @middy/sts 7.8.0: the properties of its optionSchema (packages/sts/index.js).
MIDDY_OPTIONS = {
    "AwsClient",
    "awsClientOptions",
    "awsClientAssumeRole",
    "awsClientCapture",
    "fetchData",
    "disablePrefetch",
    "cacheKey",
    "cacheKeyExpiry",
    "cacheExpiry",
    "setToContext",
}


def table_rows(heading: str) -> list[list[str]]:
    """The body rows of the first table after ``heading`` on the page, as lists of cells."""
    text = PAGE.read_text()
    section = text[text.index(heading) :]
    rows = []
    for line in section.splitlines()[1:]:
        if line.startswith("#"):
            break
        if line.startswith("|") and not line.startswith("|---"):
            rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    return rows[1:]  # without the header


def middy_option_names() -> set[str]:
    """The first column of the Options table: the @middy/sts names it maps."""
    return {match for row in table_rows("## Options") for match in re.findall(r"^`(\w+)`$", row[0])}


def test_the_middy_example_is_valid_javascript():
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    result = subprocess.run([node, "--check", str(ROOT / MIDDY_EXAMPLE)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


def test_every_option_the_middy_example_uses_is_in_the_table():
    source = (ROOT / MIDDY_EXAMPLE).read_text()
    start = source.index(".use(sts({")
    options = source[start : source.index("}))", start)]
    used = set(re.findall(r"^    (\w+):", options, flags=re.MULTILINE))
    assert used == {"fetchData", "cacheExpiry", "setToContext"}
    assert used <= middy_option_names()


def test_every_middy_option_has_a_row():
    assert middy_option_names() == MIDDY_OPTIONS


def test_every_sts_option_has_a_row():
    """The third column names every keyword of sts(...), and nothing else."""
    named = {name for row in table_rows("## Options") for name in re.findall(r"`(\w+)`", row[2])}
    assert named == set(inspect.signature(sts).parameters)


def middy_sanitize_key(key: str) -> str:
    """@middy/util 7.8.0's sanitizeKey: its two regular expressions, applied in its order."""
    return re.sub(r"[^a-zA-Z0-9]+", "_", re.sub(r"^([0-9])", r"_\1", key))


def test_context_attribute_names_are_those_of_the_table():
    rows = table_rows("### Context attribute names")
    assert len(rows) == 5
    for name, middy, ours in rows:
        entry = name.strip("`")
        (mapped,) = context_attributes({entry: None})  # type: ignore[dict-item]
        assert f"`{mapped[0]}`" == ours, entry
        assert f"`{middy_sanitize_key(entry)}`" == middy, entry


def test_two_names_middy_merges_are_refused_here():
    from powertools_sts import ConfigurationError

    assert middy_sanitize_key("reports-eu") == middy_sanitize_key("reports_eu")
    with pytest.raises(ConfigurationError, match=r"both map to context\.reports_eu"):
        sts(fetch_data={"reports-eu": ROLE, "reports_eu": ROLE}, set_to_context=True)


def test_an_absolute_cache_expiry_divided_by_1000_is_56_years_that_change_nothing(moto_sts, clock):
    cache_expiry = 1795000000000  # the page's example: above 86,400,000, so a unix time in ms for middy
    assert datetime.fromtimestamp(cache_expiry / 1000, timezone.utc).strftime("%B %Y") == "November 2026"
    assert round(cache_expiry / 1000 / (365.25 * 86400), 1) == 56.9

    @sts(fetch_data={"reports": ROLE}, max_age=cache_expiry / 1000, disable_prefetch=True)
    def handler(event, context):
        return get_credentials("reports").access_key_id

    first = handler({}, None)
    clock.advance(3200)  # fresh until 3225-3300 s of 3600 s credentials, whatever the jitter
    assert handler({}, None) == first
    assert moto_sts.assume_role_calls == 1
    clock.advance(200)  # 3400 s: in the refresh window, as with max_age=None
    assert handler({}, None) != first
    assert moto_sts.assume_role_calls == 2
