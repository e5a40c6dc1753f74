"""botocore's DEBUG log of an AssumeRole with an ExternalId, and of a call signed with its credentials.

It turns botocore's loggers to DEBUG: the records show what powertools-sts masks (the ExternalId, the
SecretAccessKey, the SessionToken, the X-Amz-Security-Token) and what it leaves as is.
"""

from __future__ import annotations

import logging

import boto3

from powertools_sts import STSProvider

AUDIT_ROLE = "arn:aws:iam::444455556666:role/audit"


def main() -> None:
    logging.basicConfig(format="%(name)s %(levelname)s %(message)s")
    logging.getLogger("botocore").setLevel(logging.DEBUG)

    creds = STSProvider().get(AUDIT_ROLE, ExternalId="audit-7f3a9c")
    # A call signed with the assumed credentials: its request carries their session token.
    boto3.client("sts", **creds.as_boto3_kwargs()).get_caller_identity()


if __name__ == "__main__":
    main()
