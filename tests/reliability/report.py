"""The figures of docs/reliability.md, measured: run the reliability suite and print what it did.

Usage (from the repository root)::

    .venv/bin/python -m tests.reliability.report            # the make test run (about a minute)
    .venv/bin/python -m tests.reliability.report --soak     # the make soak run (about ten minutes)
    .venv/bin/python -m tests.reliability.report --write    # the same, and the page's snippets rewritten

It runs ``pytest tests/reliability -q -s -p no:cacheprovider`` (but this report's own test,
``test_report.py``, which checks what the run writes; with ``--soak``: ``HYPOTHESIS_PROFILE=soak`` and
``-m soak``, what ``make soak`` runs) in a subprocess, keeps the figure lines the tests print
(``property``, ``load``, ``back-off``, ``bad input``, ``atheris``, ``secrets``, ``secret scan``), counts
the tests of each module from a JUnit XML report, and prints them. Hypothesis draws new examples at
every run, as in ``make test``, so the property-based figures (and the secret scan's counts, the wall
time, atheris' coverage) differ from run to run; the sizes of the load, back-off and bad-input tests
do not.

``--write`` stores the figures in ``docs/snippets/reliability/make-test.txt`` (or ``soak.txt``) and
renders from both files the summary table ``summary-table.txt``; the fault table
(``faults-table.txt``), the edges table (``edges-table.txt``) and the suite's parameters (``parameters.txt``) are rendered from the test
modules themselves. The tables are markdown in ``.txt`` files: mkdocs would build a ``.md`` file
under ``docs/`` as a page of its own. The page includes these files;
``tests/reliability/test_report.py`` checks them against the code.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ElementTree
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SNIPPETS = ROOT / "docs" / "snippets" / "reliability"
OPTIONS = ["-q", "-s", "-p", "no:cacheprovider"]
# This report's own test checks what the run writes: it is not part of the run.
COMMAND = ["-m", "pytest", "tests/reliability", "--ignore=tests/reliability/test_report.py", *OPTIONS]
FIGURES = ("property", "load:", "back-off:", "bad input:", "atheris:", "secrets:", "secret scan:")
RUNS = {"make test": "make-test.txt", "make soak": "soak.txt"}


def run(soak: bool) -> list[str]:
    """Run the suite as ``make test`` (or ``make soak``) does, and return the figure lines it printed."""
    env = {**os.environ, "HYPOTHESIS_PROFILE": "soak" if soak else "ci"}
    with tempfile.TemporaryDirectory() as tmp:
        junit = Path(tmp) / "junit.xml"
        command = [sys.executable, *COMMAND, *(["-m", "soak"] if soak else []), f"--junitxml={junit}"]
        result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            sys.stderr.write(result.stdout[-5000:] + result.stderr[-5000:])
            raise SystemExit(f"the reliability suite failed (exit status {result.returncode})")
        tests = tests_per_module(junit.read_text())
    lines = [line.rstrip() for line in result.stdout.splitlines()]
    figures = [line for line in lines if line.startswith(FIGURES)]
    summary = next(line for line in reversed(lines) if re.search(r"\d+ passed", line))
    counted = ", ".join(f"{module} {count}" for module, count in sorted(tests.items()))
    return [f"tests: {summary.strip('= ')} ({counted})", *sorted(figures, key=_figure_order)]


def _figure_order(line: str) -> int:
    return next(i for i, prefix in enumerate(FIGURES) if line.startswith(prefix))


def tests_per_module(junit_xml: str) -> dict[str, int]:
    """How many tests of each module ran and passed, from pytest's JUnit XML."""
    counts: Counter[str] = Counter()
    for case in ElementTree.fromstring(junit_xml).iter("testcase"):
        if any(child.tag in ("skipped", "failure", "error") for child in case):
            continue
        counts[case.get("classname", "").rsplit(".", 1)[-1] + ".py"] += 1
    return dict(counts)


# -- reading the figures back -----------------------------------------------------------------------


def parse(lines: list[str]) -> dict[str, Any]:
    """The figures of one run, by name, read back from the lines ``run`` returned."""
    found: dict[str, Any] = {}
    for line in lines:
        head, _, rest = line.partition(": ")
        if head == "tests":
            counts = {word: int(number) for number, word in re.findall(r"(\d+) (passed|skipped|deselected)", rest)}
            found["passed"] = counts.get("passed", 0)
            found["skipped"] = counts.get("skipped", 0)
            found["seconds"] = float(re.findall(r" in ([\d.]+)s", rest)[0])
            found["modules"] = {m: int(n) for m, n in re.findall(r"(test_\w+\.py) (\d+)", rest)}
        elif head.startswith("property"):
            # Outcome names hold commas and dashes ("fetched, not cached", "served stale in the back-off").
            found["property"] = {key: int(value) for key, value in re.findall(r"(?:^|, )([^:]+?): (\d+)", rest)}
        elif head in ("load", "back-off", "bad input", "atheris", "secrets", "secret scan"):
            found[head] = [int(number) for number in re.findall(r"\d+", rest.split(", #")[0])]
        found.setdefault("lines", []).append(line)
    return found


def read(name: str) -> dict[str, Any] | None:
    """The stored figures of a run, or None if that run was never stored."""
    path = SNIPPETS / RUNS[name]
    figures = parse(path.read_text().splitlines()) if path.exists() else {}
    return figures if "modules" in figures else None


# -- rendering --------------------------------------------------------------------------------------


def _n(value: float) -> str:
    return f"{value:,}"


def _cells(figures: dict[str, Any] | None) -> dict[str, str]:
    """The table cells of one run's figures; "-" where the run did not do it."""
    if figures is None:
        return {}
    cells: dict[str, str] = {}
    modules = figures["modules"]
    prop = figures.get("property")
    if prop:
        cells["property"] = (
            f"{_n(prop['examples'])} examples: {_n(prop['calls'])} calls + {_n(prop['concurrent calls'])} "
            f"concurrent calls, {_n(prop['credentials handed out'])} credentials handed out"
        )
    if "test_faults.py" in modules:
        cells["faults"] = f"{modules['test_faults.py']} tests"
    if "load" in figures:
        threads, invocations, calls, least, jumps, assume_role, below = figures["load"]
        cells["load"] = (
            f"{threads} threads: {_n(invocations)} invocations, {_n(calls)} calls (at least {_n(least)} per thread), "
            f"{jumps} clock jumps, {assume_role} AssumeRole calls, {below} reads below the floor"
        )
    if "back-off" in figures:
        rounds, threads, calls, attempts = figures["back-off"]
        cells["back-off"] = f"{rounds} rounds of {threads} threads x {calls} calls: at most {attempts} attempt"
    if "bad input" in figures:
        cells["bad input"] = f"{figures['bad input'][0]} configurations"
    fuzz = []
    if "test_bad_input.py" in modules and "bad input" in figures:
        fuzz.append("hypothesis (2 fuzz tests)")
    if "atheris" in figures:
        fuzz.append(f"atheris {_n(figures['atheris'][0])} runs")
    if fuzz:
        cells["fuzz"] = ", ".join(fuzz)
    if "secret scan" in figures:
        tests, issued, records, found = figures["secret scan"]
        cells["secrets"] = (
            f"{tests} tests, {_n(issued)} credentials issued, {_n(records)} records: **{found} secrets found**"
        )
    cells["suite"] = f"{figures['passed']} passed, {figures['skipped']} skipped, {figures['seconds']:.0f} s"
    return cells


ROWS = [
    (
        "Network and STS faults through the provider and the decorator (`test_faults.py`)",
        "faults",
        "every caller gets an `AssumeRoleError` naming role (and entry), code, cause; no secret in it; "
        "nothing cached; the next call succeeds; stale on error in the refresh window, never below the floor",
    ),
    (
        "Property-based cache model (`test_property.py`, a hypothesis state machine)",
        "property",
        "every credential had at least the floor left when handed out; STS requests exactly as the rules require",
    ),
    (
        "Load: threads through the `sts` handler (`test_load.py`)",
        "load",
        "no exception, no torn or mixed credentials, AssumeRole calls = entries x (clock jumps + 1)",
    ),
    ("Back-off under contention (STS down)", "back-off", "one AssumeRole attempt per back-off"),
    (
        "Invalid configurations (`test_bad_input.py`)",
        "bad input",
        "each a `ConfigurationError` (`TypeError` for an unknown keyword) naming entry and field, no STS call",
    ),
    ("Fuzzing of the validation entry points", "fuzz", "only `ConfigurationError`/`TypeError`, no STS call"),
    ("Secret scan of every log record at DEBUG", "secrets", "no secret in any record"),
    ("The whole run", "suite", "every test passed"),
]


def render_summary(test: dict[str, Any] | None, soak: dict[str, Any] | None) -> str:
    """The page's summary table, from the figures of a make test run and of a make soak run."""
    left, right = _cells(test), _cells(soak)
    lines = ["| What was tried | `make test` | `make soak` | What held |", "|---|---|---|---|"]
    for title, key, held in ROWS:
        lines.append(f"| {title} | {left.get(key, '-')} | {right.get(key, '-')} | {held} |")
    for name, figures in (("make test", test), ("make soak", soak)):
        if figures and figures.get("property"):
            counts = figures["property"]
            outcomes = "; ".join(f"{outcome}: {_n(counts[outcome])}" for outcome in OUTCOMES if outcome in counts)
            evicted = _n(counts.get("evicted past the floor", 0))
            lines += [
                "",
                f"The calls of the `{name}` property run, by outcome: {outcomes}. "
                f"Entries evicted past their floor on the way: {evicted}.",
            ]
    return "\n".join(lines) + "\n"


#: The outcomes the property model tells apart, in the order of its rules (``test_property.py``).
OUTCOMES = (
    "served fresh from the cache",
    "served stale in the back-off",
    "refreshed",
    "fetched, not cached",
    "fetched, a newer entry kept",
    "stale on error",
    "failed",
)


def render_faults() -> str:
    """The fault table, from the cases of ``test_faults.py`` (what each test asserts)."""
    from tests.reliability.test_faults import FAULTS

    lines = ["| Fault (test id) | Proxy mode | Requests | `.code` | `__cause__` |", "|---|---|---|---|---|"]
    for param in FAULTS:
        fault = param.values[0]
        mode = fault.mode + "".join(f", {key}={value!r}" for key, value in sorted(fault.params.items()))
        code = f"`{fault.code}`" if fault.code else "None"
        cause = f"`{fault.cause.__name__}`" if fault.cause else "none"
        lines.append(f"| {param.id.replace('-', ' ')} | `{mode}` | {fault.requests} | {code} | {cause} |")
    return "\n".join(lines) + "\n"


def render_edges() -> str:
    """The edges table, from ``tests/reliability/edges.py``: each promise of issue 18 and its test."""
    from tests.reliability.edges import EDGES

    lines = ["| Fault | Before | Now | Test |", "|---|---|---|---|"]
    for edge in EDGES:
        path, name = edge.test.split("::")
        lines.append(f"| {edge.fault} | {edge.before} | {edge.now} | `{path.rsplit('/', 1)[-1]}::{name}` |")
    return "\n".join(lines) + "\n"


def render_parameters() -> str:
    """The suite's parameters, read from the test modules: the sizes the page's prose quotes."""
    from hypothesis import settings

    from powertools_sts.provider import BACKOFF_SECONDS, FLOOR_SECONDS, JITTER_FRACTION
    from tests.reliability import test_bad_input, test_faults, test_load
    from tests.reliability.helpers import fast_config

    config = fast_config()
    ci, soak = settings.get_profile("ci"), settings.get_profile("soak")
    fuzz = [
        test_bad_input.test_fuzz_validate_assume_role_params,
        test_bad_input.test_fuzz_sts_fetch_data,
    ]
    examples = [f._hypothesis_internal_use_settings.max_examples for f in fuzz]  # type: ignore[attr-defined]
    durations = sorted({int(spec.get("DurationSeconds", 3600)) for spec in test_load.ENTRIES.values()})
    return (
        "\n".join(
            [
                f"cache rules: floor {FLOOR_SECONDS:g} s, back-off {BACKOFF_SECONDS:g} s, jitter {JITTER_FRACTION:g}",
                f"client: connect_timeout {config.connect_timeout:g} s, read_timeout {config.read_timeout:g} s",
                f"hypothesis profiles: ci {ci.max_examples} examples of up to {ci.stateful_step_count} steps, "
                f"soak {soak.max_examples} examples of up to {soak.stateful_step_count} steps",
                f"faults: {len(test_faults.FAULTS)} faults x 2 paths; outages {', '.join(test_faults.OUTAGES)}, "
                f"clock steps of {test_faults.STEP:g} s",
                f"load: {test_load.THREADS} threads, {len(test_load.ENTRIES)} entries (DurationSeconds "
                f"{', '.join(map(str, durations))}), {test_load.EPOCHS} clock jumps, "
                f"at least {test_load.PER_EPOCH} invocations per thread per epoch",
                f"bad input: {len(test_bad_input.CASES)} invalid configurations; hypothesis fuzzers of "
                f"{' and '.join(map(str, examples))} examples",
            ]
        )
        + "\n"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tests.reliability.report", description=__doc__.splitlines()[0])
    parser.add_argument("--soak", action="store_true", help="the make soak run (HYPOTHESIS_PROFILE=soak, -m soak)")
    parser.add_argument("--write", action="store_true", help="store the figures in docs/snippets/reliability/")
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    lines = run(args.soak)
    print("\n".join(lines))
    if args.write:
        SNIPPETS.mkdir(parents=True, exist_ok=True)
        (SNIPPETS / RUNS["make soak" if args.soak else "make test"]).write_text("\n".join(lines) + "\n")
        (SNIPPETS / "summary-table.txt").write_text(render_summary(read("make test"), read("make soak")))
        (SNIPPETS / "faults-table.txt").write_text(render_faults())
        (SNIPPETS / "edges-table.txt").write_text(render_edges())
        (SNIPPETS / "parameters.txt").write_text(render_parameters())
        print(f"written: {', '.join(sorted(p.name for p in SNIPPETS.iterdir()))}")


if __name__ == "__main__":
    main()
