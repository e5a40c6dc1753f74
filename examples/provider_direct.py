"""STSProvider and assume_role without the decorator: a script, a worker, or a handler of your own."""

from typing import Any

import boto3

from powertools_sts import STSProvider, assume_role

AUDIT_ROLE_ARN = "arn:aws:iam::444455556666:role/audit"

# One provider for the life of the process: its cache is what saves the STS calls.
provider = STSProvider(refresh_margin=600)
_clients: dict[str, Any] = {}


def audit_client() -> Any:
    creds = provider.get(AUDIT_ROLE_ARN, RoleSessionName="nightly-audit", ExternalId="audit-7f3a9c")
    # A boto3 client keeps the credentials it was built with: build a new one only when they change.
    # (Inside an sts-decorated handler, get_client does this for you, with self-refreshing clients.)
    client = _clients.get(creds.access_key_id)
    if client is None:
        _clients.clear()
        client = _clients[creds.access_key_id] = boto3.client("sts", **creds.as_boto3_kwargs())
    return client


def handler(event: dict, context: Any) -> dict:
    return {"audit_account": audit_client().get_caller_identity()["Account"]}


def main() -> dict:
    first = provider.get(AUDIT_ROLE_ARN, DurationSeconds=900)
    again = provider.get(AUDIT_ROLE_ARN, DurationSeconds=900)  # fresh: served from the cache, no STS call
    forced = provider.get(AUDIT_ROLE_ARN, DurationSeconds=900, force_fetch=True)  # always calls STS
    # The module-level function uses a default provider, like Powertools' get_parameter().
    default = assume_role(AUDIT_ROLE_ARN, max_age=60)
    return {
        "cache_hit": again is first,
        "forced_new": forced.access_key_id != first.access_key_id,
        "expires": default.expiration.isoformat(),
    }


if __name__ == "__main__":
    print(main())
