"""Drop credentials AWS refused, so that the next get fetches new ones (and never serves those again)."""

from powertools_sts import STSProvider

REPORTS_ROLE_ARN = "arn:aws:iam::111122223333:role/reports"
provider = STSProvider()


def replace_refused_credentials() -> tuple[str, str]:
    creds = provider.get(REPORTS_ROLE_ARN, ExternalId="x-1234")
    ...  # AWS answers ExpiredToken to a call signed with creds
    provider.invalidate(REPORTS_ROLE_ARN, ExternalId="x-1234", access_key_id=creds.access_key_id)
    return creds.access_key_id, provider.get(REPORTS_ROLE_ARN, ExternalId="x-1234").access_key_id
