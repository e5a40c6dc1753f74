import boto3
import pytest
import requests
from moto import mock_aws  # moto first: botocore clients built after this import can be mocked

from powertools_sts import clear_caches

REPORTS_ROLE_ARN = "arn:aws:iam::111122223333:role/reports-reader"
REPORTS_BUCKET = "reports-111122223333"


@pytest.fixture
def aws(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        # Credentials cached by an earlier test came from another mock: start from an empty cache.
        clear_caches()
        yield
    clear_caches()


def client_as(role_arn, service):
    """A client signed as the role, built without the package: moto keeps resources per account."""
    creds = boto3.client("sts").assume_role(RoleArn=role_arn, RoleSessionName="test-setup")["Credentials"]
    return boto3.client(
        service,
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )


def test_link_downloads_the_report(aws, lambda_context):
    s3 = client_as(REPORTS_ROLE_ARN, "s3")
    s3.create_bucket(Bucket=REPORTS_BUCKET)
    s3.put_object(Bucket=REPORTS_BUCKET, Key="reports/2026-11.csv", Body=b"month,total\n2026-11,42\n")
    from app import handler  # inside the test, inside mock_aws: the prefetch at import goes to moto

    response = handler({"report": "2026-11"}, lambda_context)

    assert requests.get(response["url"], timeout=5).content == b"month,total\n2026-11,42\n"  # moto answers it
