"""Options that need aws-xray-sdk are refused when ``sts(...)`` is applied, not at every invocation.

The SDK is hidden in two ways: in a fresh interpreter, by a ``sys.meta_path`` finder that refuses
``aws_xray_sdk`` (as if it were not installed; nothing of it is loaded there yet), and in this
process, by a ``find_spec`` that answers None for that one name only (the module caches are not
touched: the SDK may be loaded here already, by another test's Tracer).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import textwrap
import types
from typing import Any

import pytest

from powertools_sts import ConfigurationError, sts
from powertools_sts.tracing import capture_botocore, require_xray_sdk

from ..conftest import ROLE

TRACER_EXTRA = 'pip install "powertools-sts[tracer]"'

# Prepended to every script: aws_xray_sdk cannot be found nor imported, as if it were not installed.
HIDE_THE_SDK = """
import sys

class NoXRaySDK:
    def find_spec(self, name, path=None, target=None):
        if name == "aws_xray_sdk" or name.startswith("aws_xray_sdk."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, NoXRaySDK())
"""


def run_python(code: str, *, hide_sdk: bool = True, **env: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter with this process's environment (moto's STS endpoint included)."""
    script = "import sys\n" + (HIDE_THE_SDK if hide_sdk else "") + textwrap.dedent(code)
    environment = {k: v for k, v in os.environ.items() if not k.startswith("POWERTOOLS_TRACE")}
    environment.update(env)
    return subprocess.run(
        [sys.executable, "-c", script], env=environment, capture_output=True, text=True, timeout=60, check=False
    )


def test_trace_execution_without_the_sdk_is_refused_when_applied(moto_sts):
    result = run_python(
        f"""
        from powertools_sts import ConfigurationError, sts
        try:
            sts(fetch_data={{"r": {ROLE!r}}}, trace_execution=True)
        except ConfigurationError as exc:
            print("refused:", exc)
        print("loaded:", sorted(name for name in sys.modules if name.startswith("aws_xray_sdk")))
        """
    )

    assert result.returncode == 0, result.stderr
    refused = result.stdout.splitlines()[0]
    assert refused.startswith("refused: trace_execution=True needs aws-xray-sdk")
    assert TRACER_EXTRA in refused
    assert "trace_execution=False" in refused
    assert "loaded: []" in result.stdout
    assert moto_sts.assume_role_calls == 0  # refused before the layer prefetched anything


def test_the_environment_variable_is_named_when_it_asked_for_tracing(moto_sts):
    result = run_python(
        f"""
        from powertools_sts import ConfigurationError, get_credentials, sts
        try:
            sts(fetch_data={{"r": {ROLE!r}}}, disable_prefetch=True)
        except ConfigurationError as exc:
            print("refused:", exc)

        # An explicit trace_execution=False wins over the variable: applied, and the invocation runs.
        @sts(fetch_data={{"r": {ROLE!r}}}, trace_execution=False, disable_prefetch=True)
        def handler(event, context):
            return get_credentials("r").access_key_id

        print("invoked:", handler({{}}, None)[:4])
        """,
        POWERTOOLS_TRACE_MIDDLEWARES="true",
    )

    assert result.returncode == 0, result.stderr
    refused, invoked = result.stdout.splitlines()
    assert refused.startswith("refused: POWERTOOLS_TRACE_MIDDLEWARES=true (trace_execution=None) needs aws-xray-sdk")
    assert TRACER_EXTRA in refused
    assert invoked == "invoked: ASIA"
    assert moto_sts.assume_role_calls == 1


@pytest.mark.parametrize("value", ["True", "'xray'"])
def test_capture_without_the_sdk_names_the_extra_and_the_other_backend(moto_sts, value):
    result = run_python(
        f"""
        from powertools_sts import ConfigurationError, sts
        try:
            sts(fetch_data={{"r": {ROLE!r}}}, aws_client_capture={value})
        except ConfigurationError as exc:
            print("refused:", exc)
        """
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("refused: aws_client_capture=True (X-Ray) needs aws-xray-sdk")
    assert TRACER_EXTRA in result.stdout
    assert 'aws_client_capture="opentelemetry"' in result.stdout
    assert "aws_client_capture=False" in result.stdout
    assert moto_sts.assume_role_calls == 0


def test_with_the_sdk_installed_the_check_imports_nothing_of_it(moto_sts):
    result = run_python(
        f"""
        from powertools_sts import sts

        sts(fetch_data={{"r": {ROLE!r}}}, trace_execution=True, disable_prefetch=True)
        print("loaded:", sorted(name for name in sys.modules if name.startswith("aws_xray_sdk")))
        """,
        hide_sdk=False,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "loaded: []"


def test_trace_disabled_leaves_botocore_unpatched_and_the_sdk_unimported(moto_sts):
    result = run_python(
        f"""
        import boto3
        from powertools_sts import get_client, sts

        @sts(fetch_data={{"r": {ROLE!r}}}, aws_client_capture=True, disable_prefetch=True)
        def handler(event, context):
            return get_client("r", "sts").get_caller_identity()["Account"]

        print(handler({{}}, None))
        print("loaded:", sorted(name for name in sys.modules if name.startswith("aws_xray_sdk")))
        """,
        hide_sdk=False,
        POWERTOOLS_TRACE_DISABLED="true",
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["111122223333", "loaded: []"]
    assert "segment" not in result.stderr


# -- in this process: find_spec answers None for aws_xray_sdk only -------------------------------------


@pytest.fixture
def sdk_not_found(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec

    def find_spec(name: str, package: str | None = None) -> Any:
        return None if name == "aws_xray_sdk" else real(name, package)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)


@pytest.mark.usefixtures("sdk_not_found")
def test_in_process_trace_execution_is_refused_before_any_fetch(moto_sts):
    with pytest.raises(ConfigurationError, match=r"^trace_execution=True needs aws-xray-sdk") as raised:
        sts(fetch_data={"r": ROLE}, trace_execution=True)

    assert TRACER_EXTRA in str(raised.value)
    assert moto_sts.assume_role_calls == 0


@pytest.mark.usefixtures("sdk_not_found")
def test_in_process_capture_is_refused(moto_sts):
    with pytest.raises(ConfigurationError, match=r"^aws_client_capture=True \(X-Ray\) needs aws-xray-sdk"):
        capture_botocore()


@pytest.mark.usefixtures("sdk_not_found")
def test_in_process_trace_execution_false_needs_nothing(moto_sts, monkeypatch):
    monkeypatch.setenv("POWERTOOLS_TRACE_MIDDLEWARES", "true")
    sts(fetch_data={"r": ROLE}, trace_execution=False, disable_prefetch=True)  # no error


def test_a_failing_lookup_counts_as_missing_and_a_loaded_module_as_present(monkeypatch):
    def raises(error: type[Exception]) -> Any:
        def find_spec(name: str, package: str | None = None) -> Any:
            raise error(name)

        return find_spec

    monkeypatch.setattr(importlib.util, "find_spec", raises(ImportError))
    monkeypatch.setitem(sys.modules, "aws_xray_sdk", None)
    with pytest.raises(ConfigurationError, match="needs aws-xray-sdk"):
        require_xray_sdk("trace_execution=True", "trace_execution=False")
    # A module loaded without a spec (find_spec raises ValueError for it) is there: nothing to refuse.
    monkeypatch.setattr(importlib.util, "find_spec", raises(ValueError))
    monkeypatch.setitem(sys.modules, "aws_xray_sdk", types.ModuleType("aws_xray_sdk"))
    require_xray_sdk("trace_execution=True", "trace_execution=False")


def test_in_process_capture_with_tracing_on_reaches_the_patch(monkeypatch):
    from aws_xray_sdk import global_sdk_config

    monkeypatch.delenv("POWERTOOLS_TRACE_DISABLED", raising=False)
    enabled = global_sdk_config.sdk_enabled()
    # Switched off, the SDK skips the patch: no other test's boto3 calls start reporting a missing context.
    global_sdk_config.set_sdk_enabled(False)
    try:
        capture_botocore()
    finally:
        global_sdk_config.set_sdk_enabled(enabled)
    assert "aws_xray_sdk.core" in sys.modules
