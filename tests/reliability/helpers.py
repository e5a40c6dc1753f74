"""Helpers shared by the reliability tests."""

from __future__ import annotations

import types
import uuid
from typing import Any

from botocore.config import Config

from powertools_sts import _state
from powertools_sts.provider import FLOOR_SECONDS, STSProvider

__all__ = ["FLOOR_SECONDS", "fast_config", "lambda_context", "layer_provider", "secrets_of"]


def fast_config(**overrides: Any) -> Config:
    """Small client timeouts so that a hung STS fails in about a second; a new object every time.

    Only the timeouts: the library's own defaults (standard retries, 3 attempts) are merged under it.
    """
    options: dict[str, Any] = {"connect_timeout": 1, "read_timeout": 0.5, **overrides}
    return Config(**options)


def lambda_context(name: str = "reliability") -> types.SimpleNamespace:
    """A minimal Lambda context object (what Powertools' inject_lambda_context reads)."""
    return types.SimpleNamespace(
        function_name=name,
        function_version="$LATEST",
        memory_limit_in_mb=128,
        invoked_function_arn=f"arn:aws:lambda:us-east-1:111122223333:function:{name}",
        aws_request_id=str(uuid.uuid4()),
        get_remaining_time_in_millis=lambda: 30_000,
    )


def layer_provider(marker: Any) -> STSProvider:
    """Return the STSProvider that an ``sts`` layer applied with ``marker`` (its boto_config or client) uses."""
    for provider in list(_state.shared_providers.values()):
        if provider._boto3_client is marker or provider._boto_config is marker:
            return provider
    raise LookupError("no sts layer uses this object")


def secrets_of(issued: dict[str, tuple[str, str]]) -> list[str]:
    """Every secret access key and session token in ``issued`` (AccessKeyId -> (secret, token))."""
    return [value for pair in issued.values() for value in pair]
