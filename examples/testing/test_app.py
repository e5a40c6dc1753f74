import pytest
from app import REPORTS_ROLE_ARN, handler  # imported at collection: its sts layer is applied and prefetches now

from powertools_sts import AssumeRoleError


def test_link_is_signed_with_the_reports_role(sts_stub, lambda_context):
    response = handler({"report": "2026-11"}, lambda_context)

    assert response["statusCode"] == 200
    assert sts_stub.access_key_id_for(REPORTS_ROLE_ARN) in response["url"]
    [call] = sts_stub.calls  # exactly one AssumeRole, with the parameters of the sts entry
    assert call.role_arn == REPORTS_ROLE_ARN
    assert call.external_id == "orders-7f3a9c"
    assert call.duration_seconds == 900
    assert call.tags == {"caller": "orders"}


def test_warm_invocation_is_served_from_the_cache(sts_stub, lambda_context):
    handler({"report": "2026-11"}, lambda_context)
    handler({"report": "2026-12"}, lambda_context)

    # One call, not zero: the credentials the test above cached went with its fixture.
    assert sts_stub.role_arns == [REPORTS_ROLE_ARN]


def test_access_denied(sts_stub, lambda_context):
    sts_stub.fail(REPORTS_ROLE_ARN, code="AccessDenied")

    with pytest.raises(AssumeRoleError) as raised:
        handler({"report": "2026-11"}, lambda_context)

    assert raised.value.code == "AccessDenied"
    assert raised.value.entry == "reports"
