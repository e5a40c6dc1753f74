import urllib.request

import boto3
import pytest
from moto.server import ThreadedMotoServer

from powertools_sts import clear_caches

REPORTS_ROLE_ARN = "arn:aws:iam::111122223333:role/reports-reader"
REPORTS_BUCKET = "reports-111122223333"


@pytest.fixture
def moto_server(monkeypatch):
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)  # port 0: any free port
    server.start()
    host, port = server.get_host_and_port()
    for service in ("STS", "S3"):
        monkeypatch.setenv(f"AWS_ENDPOINT_URL_{service}", f"http://{host}:{port}")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    # The package builds its STS and S3 clients again, from this environment: on this test's server.
    clear_caches()
    yield
    clear_caches()
    server.stop()


def client_as(role_arn, service):
    """A client signed as the role, built without the package: moto keeps resources per account."""
    creds = boto3.client("sts").assume_role(RoleArn=role_arn, RoleSessionName="test-setup")["Credentials"]
    return boto3.client(
        service,
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )


@pytest.mark.parametrize("report", ["2026-11", "2026-12"])  # two tests, two servers
def test_link_downloads_the_report(moto_server, lambda_context, report):
    s3 = client_as(REPORTS_ROLE_ARN, "s3")
    s3.create_bucket(Bucket=REPORTS_BUCKET)
    s3.put_object(Bucket=REPORTS_BUCKET, Key=f"reports/{report}.csv", Body=f"month,total\n{report},42\n".encode())
    from app import handler  # inside the test: the environment above is in place

    response = handler({"report": report}, lambda_context)

    with urllib.request.urlopen(response["url"]) as download:  # the moto server, on 127.0.0.1
        assert download.read() == f"month,total\n{report},42\n".encode()
