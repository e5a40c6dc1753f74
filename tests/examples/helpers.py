"""What the example and page tests share: importing an example afresh, a Lambda context, set-up clients."""

from __future__ import annotations

import contextlib
import importlib.util
import itertools
import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3

ROOT = Path(__file__).resolve().parents[2]
_loaded = itertools.count()


def import_file(path: Path, name: str | None = None) -> ModuleType:
    """Import the file at ``path`` (absolute, or relative to the repository) afresh, as module ``name``.

    Its sts layers are applied (and prefetch) now. Without ``name`` each import gets a name of its own.
    """
    spec = importlib.util.spec_from_file_location(name or f"example_{path.stem}_{next(_loaded)}", ROOT / path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclass
class LambdaContext:
    """What Powertools' Logger and Idempotency read of the Lambda context."""

    function_name: str = "orders"
    memory_limit_in_mb: int = 128
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:orders"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def get_remaining_time_in_millis(self) -> int:
        return 300_000


def client_as(moto_sts: Any, role_arn: str, service: str) -> Any:
    """A client signed as ``role_arn`` (moto puts its resources in that role's account), built without the package."""
    creds = boto3.client("sts").assume_role(RoleArn=role_arn, RoleSessionName="test-setup")["Credentials"]
    return boto3.client(
        service,
        endpoint_url=moto_sts.url,
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )


def package_calls(moto_sts: Any) -> int:
    """AssumeRole requests the package made (the tests' own set-up calls, made by ``client_as``, are left out)."""
    return sum(b"RoleSessionName=test-setup" not in body for body in moto_sts.calls)


@contextlib.contextmanager
def process_wiring_restored() -> Iterator[None]:
    """Give the next tests the X-Ray SDK, the Tracer and the package's logger that an example may rewire.

    A disabled Tracer switches the X-Ray SDK off for the whole process, and
    ``copy_config_to_registered_loggers`` (examples/logger_tracer.py) rewires the package's logger.
    """
    from aws_lambda_powertools import Tracer
    from aws_xray_sdk import global_sdk_config

    enabled = global_sdk_config.sdk_enabled()
    package_logger = logging.getLogger("powertools_sts")
    wiring = (package_logger.level, package_logger.propagate, list(package_logger.handlers))
    try:
        yield
    finally:
        global_sdk_config.set_sdk_enabled(enabled)
        Tracer._reset_config()
        package_logger.setLevel(wiring[0])
        package_logger.propagate = wiring[1]
        package_logger.handlers = wiring[2]
