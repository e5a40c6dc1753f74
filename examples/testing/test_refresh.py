from app import REPORTS_ROLE_ARN, handler


def test_credentials_are_refreshed_before_they_expire(sts_stub, lambda_context):
    handler({"report": "2026-11"}, lambda_context)  # DurationSeconds=900: one AssumeRole

    sts_stub.advance(300)  # 5 minutes later: still fresh, served from the cache
    handler({"report": "2026-11"}, lambda_context)
    assert sts_stub.role_arns == [REPORTS_ROLE_ARN]

    sts_stub.advance(400)  # 700 s into a 900 s session: within the refresh margin
    handler({"report": "2026-12"}, lambda_context)
    assert sts_stub.role_arns == [REPORTS_ROLE_ARN, REPORTS_ROLE_ARN]
