"""The botocore internals the package relies on: each test fails naming what botocore changed.

Two private names (see the docstring of powertools_sts._botocore), and two behaviours of botocore's
public surface that are easy to lose without an error: ``after-call-error`` emitted inside
``_make_api_call`` for an answer that cannot be parsed, and a session's ``credential_provider``
component being what its clients sign with.
"""

from __future__ import annotations

import inspect
from datetime import datetime, timezone
from typing import Any

import botocore.session
import pytest
from botocore.awsrequest import AWSResponse
from botocore.client import BaseClient
from botocore.config import Config
from botocore.parsers import ResponseParserError

from powertools_sts import Credentials, _botocore

CUT = (
    b'<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult><Credentials>'
    b"<AccessKeyId>ASIAEXAMPLE</AccessKeyId><SecretAccessKey>wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY</SecretAccessKey>"
    b"<SessionToken>FQoGZXIvYXdz"
)


def test_base_client_make_api_call_is_the_entry_point_of_every_call() -> None:
    method = getattr(BaseClient, "_make_api_call", None)
    assert callable(method), "botocore.client.BaseClient._make_api_call is gone: update _botocore.api_call_patch"
    parameters = list(inspect.signature(method).parameters)
    assert parameters == ["self", "operation_name", "api_params"], (
        f"BaseClient._make_api_call now takes {parameters}: update _botocore.api_call_patch"
    )


def test_config_user_provided_options_holds_what_a_config_was_given() -> None:
    config = Config(retries={"max_attempts": 2}, region_name="eu-west-1")
    given = getattr(config, "_user_provided_options", None)
    assert given == {"retries": {"max_attempts": 2}, "region_name": "eu-west-1"}, (
        "botocore.config.Config._user_provided_options changed: update _botocore.given_options"
    )
    assert getattr(Config(), "_user_provided_options", None) == {}


def test_given_options_falls_back_to_every_value_without_the_private_name(monkeypatch: pytest.MonkeyPatch) -> None:
    config = Config(retries={"max_attempts": 2})
    monkeypatch.delattr(config, "_user_provided_options")
    options = _botocore.given_options(config)
    assert options["retries"] == {"max_attempts": 2}
    assert set(options) == set(Config.OPTION_DEFAULTS)


def test_an_unreadable_answer_is_masked_before_it_leaves_make_api_call() -> None:
    client = _botocore.new_sts_client(Config(region_name="eu-west-1"))
    seen: list[str] = []

    def answer(**kwargs: Any) -> AWSResponse:
        return AWSResponse("https://sts.eu-west-1.amazonaws.com/", 200, {}, _Raw(CUT))

    original = BaseClient._make_api_call  # type: ignore[attr-defined]

    def observed(self: Any, operation_name: str, api_params: Any) -> Any:  # what OpenTelemetry's wrapper sees
        try:
            return original(self, operation_name, api_params)
        except Exception as exc:
            seen.append(str(exc))
            raise

    client.meta.events.register("before-send", answer)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(BaseClient, "_make_api_call", observed)
        with pytest.raises(ResponseParserError):
            client.assume_role(RoleArn="arn:aws:iam::111122223333:role/r", RoleSessionName="session")
    assert len(seen) == 1
    assert "wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY" not in seen[0], (
        "botocore no longer emits after-call-error inside _make_api_call for a parse error: _botocore.protect masks too late"
    )
    assert "FQoGZXIvYXdz" not in seen[0]


def test_a_session_signs_with_its_credential_provider_component() -> None:
    core = botocore.session.get_session()
    creds = Credentials("ASIAFROMSOURCE", "secret", "token", datetime(2030, 1, 1, tzinfo=timezone.utc))
    _botocore.use_credentials(core, lambda: creds, None)
    client = core.create_client("sts", region_name="eu-west-1")
    assert _botocore.client_access_key(client) == "ASIAFROMSOURCE", (
        "botocore.session.Session no longer signs with its 'credential_provider' component: update _botocore.use_credentials"
    )


class _Raw:
    """The raw body of an AWSResponse: botocore reads it whole."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **kwargs: Any) -> Any:
        yield self._body
