"""Where the warm invocation's time goes: py-spy samples of a loop of warm invocations, per source line.

Run by ``run.py`` only when a warm-overhead target is missed, and only where py-spy is installed
(``pip install py-spy``); the page then shows the table.
"""

from __future__ import annotations

import collections
import linecache
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from _common import PYTHON, ROLE_TEMPLATE

TARGET = """
import time
from aws_lambda_powertools.middleware_factory import lambda_handler_decorator
from powertools_sts import sts


def bare(event, context):
    return None


handler = sts(fetch_data={{"profiled": {role!r}}})(bare)
handler({{}}, None)  # waits for the prefetch: every call below is warm
for _ in range({calls}):
    handler({{}}, None)  # PROFILED-LOOP
"""

_FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^()]*):(?P<line>\d+)\)$")


def _py_spy() -> str | None:
    local = Path(PYTHON).parent / "py-spy"
    return str(local) if local.exists() else shutil.which("py-spy")


def _source(file: str, line: int) -> str:
    for base in sys.path:
        path = os.path.join(base, file)
        if os.path.exists(path):
            return linecache.getline(path, line).strip()
    return linecache.getline(file, line).strip()


def profile_warm(moto_url: str, *, quick: bool) -> dict[str, Any]:
    spy = _py_spy()
    if spy is None:
        return {"available": False, "hint": "pip install py-spy, then run make bench again"}
    calls = 300_000 if quick else 3_000_000
    with tempfile.TemporaryDirectory(prefix="powertools-sts-profile-") as tmp:
        script = Path(tmp) / "profiled_handler.py"
        script.write_text(TARGET.format(role=ROLE_TEMPLATE.format("profiled"), calls=calls))
        raw = Path(tmp) / "samples.txt"
        env = dict(os.environ, AWS_ENDPOINT_URL_STS=moto_url)
        command = [spy, "record", "--rate", "997", "--format", "raw", "--output", str(raw), "--", PYTHON, str(script)]
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600, check=False)
        if done.returncode != 0 or not raw.exists():
            return {"available": False, "hint": f"py-spy failed: {done.stderr.strip()[-300:]}"}
        script_lines = script.read_text().splitlines()
        loop_line = next(i for i, text in enumerate(script_lines, 1) if "PROFILED-LOOP" in text)
        leaves: collections.Counter[tuple[str, str, int]] = collections.Counter()
        total = 0
        for record in raw.read_text().splitlines():
            stack, _, count = record.rpartition(" ")
            frames = [_FRAME.match(frame) for frame in stack.split(";")]
            inside = [
                i
                for i, m in enumerate(frames)
                if m and m["file"].endswith("profiled_handler.py") and int(m["line"]) == loop_line
            ]
            if not inside:
                continue
            leaf = frames[-1]
            if leaf is None:
                continue
            total += int(count)
            leaves[(leaf["function"], leaf["file"], int(leaf["line"]))] += int(count)
    rows = []
    for (function, file, line), count in leaves.most_common(12):
        mine = file.endswith("profiled_handler.py")
        source = script_lines[line - 1].split("#")[0].strip() if mine else _source(file, line)
        rows.append(
            {
                "function": function,
                "file": "(the profiled script)" if mine else file,
                "line": line,
                "source": source,
                "share": count / total,
            }
        )
    return {"available": True, "tool": "py-spy", "invocations": calls, "samples": total, "lines": rows}
