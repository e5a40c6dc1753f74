"""The cold-start modules that docs/benchmarks.md shows: each imports and answers against moto's STS."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

RUN = """
import importlib, json, sys
module = importlib.import_module(sys.argv[1])
print(json.dumps({"key": module.handler({}, None), "phases": sorted(module.PHASES)}))
"""


@pytest.mark.parametrize("path", ["benchmarks/cold_start/cold_sts.py", "benchmarks/cold_start/cold_boto3.py"])
def test_cold_start_module_answers(moto_sts, path):
    module = ROOT / path
    env = dict(os.environ, PYTHONPATH=str(module.parent), AWS_ENDPOINT_URL_STS=moto_sts.url)
    out = subprocess.run(
        [sys.executable, "-c", RUN, module.stem], env=env, capture_output=True, text=True, check=True, timeout=60
    )
    result = json.loads(out.stdout)
    assert result["key"].startswith(("ASIA", "FSIA"))
    assert result["phases"] == ["imports_ms", "setup_ms"]
    assert moto_sts.assume_role_calls == 1
