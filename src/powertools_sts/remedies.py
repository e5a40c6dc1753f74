"""The usual fix for a failed AssumeRole or GetScopedCredentials, which an ``AssumeRoleError`` message ends with.

STS's messages say what was refused, not what to change (the Troubleshooting page explains each fix).

Example
-------
>>> remedy("AccessDenied", None)[:40]
"the role's trust policy must name the fu"
>>> remedy("Throttling", None) is None
True
"""

from __future__ import annotations

from types import MappingProxyType

__all__ = ["remedy"]

_SIGNER = "the credentials that signed AssumeRole (the function's own, or boto3_session/boto3_client's)"

_BY_CODE = MappingProxyType(
    {
        "AccessDenied": (
            "the role's trust policy must name the function's role as a Principal allowed sts:AssumeRole (with "
            "sts:TagSession for Tags, sts:SetSourceIdentity for SourceIdentity), and the function's own policy must "
            "allow sts:AssumeRole on the role"
        ),
        "InvalidClientTokenId": (
            f"{_SIGNER} are not valid here: check them, and that the region's STS endpoint accepts them (an opt-in "
            "region needs the account's STS regional endpoint and version 2 session tokens)"
        ),
        "ExpiredToken": f"{_SIGNER} have expired: refresh them, or let botocore's refreshing credentials sign",
        "RegionDisabledException": (
            "activate STS for this region in the IAM console (account settings), or call another region's endpoint"
        ),
        "ValidationError": (
            "DurationSeconds must be at most the role's MaxSessionDuration (3600 s unless the role raises it, and "
            "3600 s for role chaining), and every parameter within STS's limits"
        ),
    }
)

# GetScopedCredentials' own codes, and AccessDenied, which means another thing there (no role, no trust policy).
_SCOPED_BY_CODE = MappingProxyType(
    {
        "AccessDenied": "the function's own policy must allow sts:GetScopedCredentials",
        "MalformedPolicyDocument": (
            "the Policy must be an IAM policy document STS accepts: Version 2012-10-17 and Statements with Effect, "
            "Action and Resource"
        ),
        "PackedPolicyTooLarge": "shorten the Policy: the session token it packs into is over STS's size limit",
        "InsufficientSessionLifetime": (
            "DurationSeconds is longer than the calling session has left: lower it, or leave it out to inherit the "
            "session's expiry"
        ),
        "InvalidSubjectCredentials": (
            "GetScopedCredentials needs valid temporary credentials to scope down (an assumed role's, as Lambda "
            "gives a function): not an IAM user's or the root user's, and not expired ones"
        ),
    }
)

# Connection failures carry no STS error code: their exception class says what happened.
_BY_EXCEPTION = MappingProxyType(
    {
        "ConnectTimeoutError": (
            "no route to STS: in a VPC, add an STS interface endpoint with private DNS, or a NAT gateway; check "
            "AWS_ENDPOINT_URL_STS and HTTPS_PROXY"
        ),
        "ResponseParserError": (
            "the endpoint did not answer as STS does: check AWS_ENDPOINT_URL_STS and HTTPS_PROXY (a proxy or captive "
            "portal answering instead)"
        ),
        "EndpointConnectionError": (
            "STS could not be reached: check AWS_ENDPOINT_URL_STS, the region, and, in a VPC, an STS interface "
            "endpoint or a NAT gateway"
        ),
    }
)


def remedy(code: str | None, exc: BaseException | None, *, scoped: bool = False) -> str | None:
    """Return the usual fix for an AssumeRole failure, or None when there is no single one.

    Parameters
    ----------
    code:
        STS's error code, when STS answered with one.
    exc:
        The exception botocore raised, for failures without a code.
    scoped:
        The failure is GetScopedCredentials', whose codes have fixes of their own.

    Returns
    -------
    str or None
        One sentence, with no secret in it.

    Example
    -------
    >>> remedy(None, TimeoutError())
    >>> remedy("ExpiredToken", None).startswith("the credentials that signed AssumeRole")
    True
    >>> remedy("AccessDenied", None, scoped=True)
    "the function's own policy must allow sts:GetScopedCredentials"
    """
    if code is not None:
        return (_SCOPED_BY_CODE.get(code) if scoped else None) or _BY_CODE.get(code)
    if exc is None:
        return None
    # By class name along the MRO: botocore's exceptions are imported only where botocore is.
    for cls in type(exc).__mro__:
        found = _BY_EXCEPTION.get(cls.__name__)
        if found is not None:
            return found
    return None
