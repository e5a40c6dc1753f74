"""Helpers shared by the reliability tests."""

from __future__ import annotations

import secrets
import threading
import types
import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from botocore.config import Config
from botocore.exceptions import ClientError
from botocore.hooks import HierarchicalEmitter

from powertools_sts import _state
from powertools_sts.provider import FLOOR_SECONDS, STSProvider

__all__ = ["FLOOR_SECONDS", "FakeSTS", "fast_config", "lambda_context", "layer_provider", "secrets_of"]


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


class FakeSTS:
    """An in-process STS client for runs of thousands of examples, where moto over HTTP is too slow.

    ``assume_role(**params)`` answers fresh random keys expiring ``DurationSeconds`` (3600 by default)
    after ``clock()``, and records the parameters behind each key in ``issued``: a test can say for
    whom any credentials handed out were issued. While ``failing`` is set it refuses every call with
    STS's Throttling error (a botocore ``ClientError``, as the real client raises). ``meta`` holds what
    the package reads of an STS client: an event emitter, a ``Config`` (the retry budget) and an
    endpoint URL. ``expirations`` keeps each key's Expiration (epoch seconds). Thread-safe.

    Example
    -------
    >>> sts = FakeSTS(lambda: 0.0)
    >>> key = sts.assume_role(RoleArn="arn:aws:iam::111122223333:role/r", RoleSessionName="s")
    >>> sts.issued[key["Credentials"]["AccessKeyId"]]["RoleSessionName"], sts.calls
    ('s', 1)
    """

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.meta = types.SimpleNamespace(
            events=HierarchicalEmitter(),
            config=Config(retries={"mode": "standard", "total_max_attempts": 1}, connect_timeout=1, read_timeout=1),
            endpoint_url="https://sts.fake.invalid",
            region_name="us-east-1",
        )
        self.issued: dict[str, dict[str, Any]] = {}
        self.expirations: dict[str, float] = {}  # AccessKeyId -> its Expiration, epoch seconds
        self.calls = 0
        self.failing = False
        self._lock = threading.Lock()

    def assume_role(self, **params: Any) -> dict[str, Any]:
        with self._lock:
            self.calls += 1
            if self.failing:
                error = {"Error": {"Code": "Throttling", "Message": "Rate exceeded"}}
                raise ClientError(error, "AssumeRole")  # type: ignore[arg-type]
            key = "ASIA" + secrets.token_hex(8).upper()
            self.issued[key] = params
            self.expirations[key] = self.clock() + params.get("DurationSeconds", 3600)
        expires = datetime.fromtimestamp(self.expirations[key], timezone.utc)
        session = params["RoleSessionName"]
        return {
            "Credentials": {
                "AccessKeyId": key,
                "SecretAccessKey": secrets.token_hex(20),
                "SessionToken": secrets.token_hex(32),
                "Expiration": expires,
            },
            "AssumedRoleUser": {
                "Arn": f"arn:aws:sts::111122223333:assumed-role/{params['RoleArn'].rsplit('/', 1)[1]}/{session}",
                "AssumedRoleId": f"AROAFAKE:{session}",
            },
        }

    def tag(self, access_key_id: str, key: str) -> str | None:
        """The value of the session tag ``key`` of the AssumeRole that issued ``access_key_id``, else None."""
        tags = self.issued[access_key_id].get("Tags", ())
        return next((tag["Value"] for tag in tags if tag["Key"] == key), None)
