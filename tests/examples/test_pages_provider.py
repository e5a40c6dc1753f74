"""docs/provider.md: every file its code blocks include, run against the local moto server or checked."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import boto3
import pytest
from aws_lambda_powertools.utilities.parameters.base import DEFAULT_PROVIDERS

from powertools_sts import Credentials, STSProvider
from powertools_sts.freshness import FLOOR_SECONDS, JITTER_FRACTION, CachedEntry

from .helpers import import_file, package_calls

ROOT = Path(__file__).resolve().parents[2]
REPORTS_ROLE = "arn:aws:iam::111122223333:role/reports"
CONFIG_ROLE = "arn:aws:iam::444455556666:role/config-reader"
SSM_CROSS_ACCOUNT = Path("examples/ssm_cross_account.py")
DEFAULT_PROVIDER = Path("examples/provider/default_provider.py")
INVALIDATE = Path("examples/provider/invalidate.py")
REFRESH_MARGIN = Path("docs/snippets/provider/refresh_margin.txt")


def test_ssm_parameters_of_another_account_through_an_ssm_provider(moto_sts, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL_SSM", moto_sts.url)
    creds = boto3.client("sts").assume_role(RoleArn=CONFIG_ROLE, RoleSessionName="test-setup")["Credentials"]
    boto3.client(
        "ssm",
        endpoint_url=moto_sts.url,
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    ).put_parameter(Name="/shared/orders/table-name", Value="orders-prod", Type="String")
    example = import_file(SSM_CROSS_ACCOUNT)

    assert example.handler_with_parameters({}, None) == {"table": "orders-prod"}
    provider = example.config_parameters()
    assert example.handler_with_parameters({}, None) == {"table": "orders-prod"}
    assert example.config_parameters() is provider  # one SSMProvider, built at the first invocation
    assert example.handler({}, None) == {"table": "orders-prod", "version": 1}
    assert package_calls(moto_sts) == 1  # both layers share one entry
    own = boto3.client("ssm", endpoint_url=moto_sts.url)  # the function's own credentials, own account
    with pytest.raises(own.exceptions.ParameterNotFound):
        own.get_parameter(Name="/shared/orders/table-name")


def test_seeding_the_default_provider(moto_sts):
    example = import_file(DEFAULT_PROVIDER)
    credentials = STSProvider().get(REPORTS_ROLE)
    assert package_calls(moto_sts) == 1

    assert example.seed(credentials) is True
    assert package_calls(moto_sts) == 1  # assume_role was served from the seeded cache
    assert "sts" not in DEFAULT_PROVIDERS  # Powertools' clear_caches dropped it


def test_invalidate_replaces_the_refused_credentials(moto_sts):
    example = import_file(INVALIDATE)

    refused, replaced = example.replace_refused_credentials()

    assert refused != replaced
    assert package_calls(moto_sts) == 2


def formula() -> str:
    """The page's formula as a Python expression."""
    text = (ROOT / REFRESH_MARGIN).read_text().strip()
    assert text.startswith("m = ")
    return text.removeprefix("m = ").replace("\N{MULTIPLICATION SIGN}", "*")


@pytest.mark.parametrize("refresh_margin", [0, 300, 600, 3000])
@pytest.mark.parametrize("u", [0.0, 0.5, 0.999])
@pytest.mark.parametrize("duration", [900, 3600, 43200])
def test_the_refresh_margin_formula_is_the_codes(refresh_margin, u, duration):
    numbers = {float(n) for n in re.findall(r"\d+(?:\.\d+)?", formula())}
    assert JITTER_FRACTION in numbers
    assert FLOOR_SECONDS in numbers

    fetched_at = 1_800_000_000.0
    expiration = datetime.fromtimestamp(fetched_at, timezone.utc) + timedelta(seconds=duration)
    credentials = Credentials("ASIAEXAMPLE", "secret", "token", expiration, REPORTS_ROLE)
    entry = CachedEntry(credentials, fetched_at, refresh_margin * (1 + JITTER_FRACTION * u), 0)

    variables = {"refresh_margin": refresh_margin, "u": u, "lifetime": duration}
    page = eval(formula(), {"max": max, "min": min}, variables)  # the page's own formula
    assert entry.expires_at - entry.refresh_at == pytest.approx(page)


def test_provider_direct_example(moto_sts):
    example = import_file(Path("examples/provider_direct.py"))

    summary = example.main()

    assert summary["cache_hit"] is True
    assert summary["forced_new"] is True
    assert package_calls(moto_sts) == 3  # the first get, force_fetch, and assume_role's default provider
