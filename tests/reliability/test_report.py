"""The figures of docs/reliability.md are those of the current code, as ``tests.reliability.report`` prints them.

- the tables the page includes are rendered from the stored figures and from the test modules, as the
  report renders them now;
- what is deterministic in the stored figures of the make test run is what the code gives: the sizes
  from the test modules' constants, the number of tests from a collection; the property-based run's
  outcomes (hypothesis draws anew at every run) add up to its calls;
- every number in the page's prose is one that the report's output holds;
- the commands the page names exist (make targets, the report's options).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.reliability import report, test_bad_input, test_load

ROOT = Path(__file__).resolve().parents[2]
PAGE = Path("docs/reliability.md")
MAKE_TEST = Path("docs/snippets/reliability/make-test.txt")
SOAK = Path("docs/snippets/reliability/soak.txt")
SUMMARY = Path("docs/snippets/reliability/summary-table.txt")
FAULTS = Path("docs/snippets/reliability/faults-table.txt")
PARAMETERS = Path("docs/snippets/reliability/parameters.txt")
EDGES = Path("docs/snippets/reliability/edges-table.txt")
RUNNING = Path("docs/snippets/reliability/running.sh")


def _text(path: Path) -> str:
    return (ROOT / path).read_text()


def test_the_report_writes_where_the_page_reads() -> None:
    assert report.SNIPPETS / report.RUNS["make test"] == ROOT / MAKE_TEST
    assert report.SNIPPETS / report.RUNS["make soak"] == ROOT / SOAK


def test_the_summary_is_rendered_from_the_stored_figures() -> None:
    assert _text(SUMMARY) == report.render_summary(report.read("make test"), report.read("make soak"))


def test_the_fault_table_is_the_one_the_fault_tests_assert() -> None:
    assert _text(FAULTS) == report.render_faults()


def test_the_edges_table_is_the_list_and_every_test_it_names_exists() -> None:
    from tests.reliability import edges

    assert _text(EDGES) == report.render_edges()
    for edge in edges.EDGES:
        path, name = edge.test.split("::")
        source = (ROOT / path).read_text()
        assert re.search(rf"^def {name}\(", source, re.MULTILINE), edge.test


def test_the_parameters_are_those_of_the_test_modules() -> None:
    assert _text(PARAMETERS) == report.render_parameters()


def test_the_deterministic_figures_of_make_test_are_what_the_code_gives() -> None:
    figures = report.parse(_text(MAKE_TEST).splitlines())
    assert figures["bad input"] == [len(test_bad_input.CASES)]
    threads, _, _, _, jumps, assume_role, below = figures["load"]
    assert (threads, jumps, below) == (test_load.THREADS, test_load.EPOCHS, 0)
    assert assume_role == len(test_load.ENTRIES) * (test_load.EPOCHS + 1)
    rounds, threads, calls, attempts = figures["back-off"]
    assert (rounds, threads, calls, attempts) == (20, 32, 20, 1)
    assert figures["secret scan"][-1] == 0
    assert figures["secrets"][-1] == 0
    assert figures["property"]["examples"] >= 80  # the ci profile's, plus the examples hypothesis adds
    # As many tests passed (and skipped) as the command collects today.
    collected = subprocess.run(
        [sys.executable, *report.COMMAND, "--collect-only"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    total = int(re.search(r"(\d+) tests? collected", collected)[1])  # type: ignore[index]
    assert figures["passed"] + figures["skipped"] == total
    assert sum(figures["modules"].values()) == figures["passed"]


def test_the_property_figures_are_a_whole_run_of_the_model() -> None:
    """Hypothesis draws anew at every run, so the counts vary; what they add up to does not."""
    figures = dict(report.parse(_text(MAKE_TEST).splitlines())["property"])
    calls = figures.pop("calls")
    handed = figures.pop("credentials handed out")
    for count in ("examples", "concurrent calls", "evicted past the floor"):
        figures.pop(count, None)
    assert set(figures) <= set(report.OUTCOMES)
    assert sum(figures.values()) == calls  # every call of one thread had exactly one outcome
    assert handed >= calls - figures["failed"]  # and the concurrent calls handed out more


def test_the_soak_figures_are_of_a_soak_run() -> None:
    figures = report.parse(_text(SOAK).splitlines())
    assert figures["property"]["examples"] >= 1000  # the soak profile's
    assert figures["secret scan"][-1] == 0
    assert figures["back-off"][-1] == 1


def _numbers(text: str) -> set[str]:
    return {number.replace(",", "") for number in re.findall(r"(?<![\w.])\d[\d,]*(?:\.\d+)?(?![\w])", text)}


def test_every_number_in_the_page_is_one_the_report_prints() -> None:
    """Numbers in the prose, outside code spans, links and includes, must be in the report's output."""
    prose = []
    for line in _text(PAGE).split("---", 2)[2].splitlines():
        if "--8<--" in line:
            continue
        line = re.sub(r"`[^`]*`", "", line)  # code: values and names, not figures
        line = re.sub(r"\]\([^)]*\)", "]", line)  # link targets
        line = re.sub(r"^\s*\d+\. ", "", line)  # the numbers of a numbered list
        line = re.sub(r"\b[0-9a-f]{7}\b", "", line)  # commits
        prose.append(line)
    printed = _numbers("\n".join(_text(path) for path in (MAKE_TEST, SOAK, SUMMARY, FAULTS, PARAMETERS, EDGES)))
    unprinted = sorted(_numbers("\n".join(prose)) - printed, key=float)
    assert unprinted == []


def test_the_commands_the_page_names_exist() -> None:
    lines = [line.split("#")[0].strip() for line in _text(RUNNING).splitlines() if line.strip()]
    for line in lines:
        words = line.split()
        if words[0] == "make":
            dry = subprocess.run(["make", "-n", *words[1:]], cwd=ROOT, capture_output=True, text=True, check=False)
            assert dry.returncode == 0, dry.stderr
            if words[1:] == ["soak"]:
                assert "HYPOTHESIS_PROFILE=soak" in dry.stdout
                assert "-m soak" in dry.stdout
                assert "tests/reliability" in dry.stdout
        else:
            assert words[:3] == [".venv/bin/python", "-m", "tests.reliability.report"], line
            assert (ROOT / ".venv/bin/python").exists()
            report.build_parser().parse_args(words[3:])  # exits on an unknown option
    assert {line.split()[0] for line in lines} == {"make", ".venv/bin/python"}
