"""assume_role's default provider lives in Powertools' DEFAULT_PROVIDERS: choose its options, or seed it."""

from aws_lambda_powertools.utilities import parameters
from aws_lambda_powertools.utilities.parameters.base import DEFAULT_PROVIDERS

from powertools_sts import Credentials, STSProvider, assume_role

REPORTS_ROLE_ARN = "arn:aws:iam::111122223333:role/reports"


def seed(credentials: Credentials) -> bool:
    provider = STSProvider(refresh_margin=600)
    provider.add_to_cache(REPORTS_ROLE_ARN, credentials)  # (1)!
    DEFAULT_PROVIDERS["sts"] = provider
    served = assume_role(REPORTS_ROLE_ARN)  # from the seeded cache: no STS call
    parameters.clear_caches()  # the next assume_role builds a new provider
    return served is credentials
