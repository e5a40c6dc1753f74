"""What STS answered to AssumeRole, as the package hands it on: ``Credentials``, or one ``AssumeRoleError``.

A response becomes :class:`~powertools_sts.credentials.Credentials` only when every field a signer
needs is there (an aware UTC ``Expiration``, non-empty keys); a failure becomes an
:class:`~powertools_sts.exceptions.AssumeRoleError` of one line that names the entry and the role,
keeps STS's error code, ends with the usual fix (:mod:`powertools_sts.remedies`) and never carries
a secret that botocore quoted from a malformed body. What is fresh enough to hand out is the
provider's to decide, not this module's.

Example
-------
>>> from datetime import datetime, timezone
>>> response = {"Credentials": {"AccessKeyId": "ASIAEXAMPLE", "SecretAccessKey": "secret",
...     "SessionToken": "token", "Expiration": datetime(2030, 1, 1, tzinfo=timezone.utc)}}
>>> credentials_from(response, "arn:aws:iam::111122223333:role/reports", "reports").access_key_id
'ASIAEXAMPLE'
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from . import redaction
from .credentials import Credentials
from .exceptions import AssumeRoleError
from .remedies import remedy

__all__ = ["credentials_from", "error_from", "where"]


def where(role_arn: str, entry: str | None) -> str:
    """Name an AssumeRole call in a message: the entry and its role, or the role alone.

    Example
    -------
    >>> where("arn:aws:iam::111122223333:role/reports", "reports")
    "entry 'reports' (role arn:aws:iam::111122223333:role/reports)"
    """
    return f"entry {entry!r} (role {role_arn})" if entry is not None else f"role {role_arn}"


def error_from(exc: BaseException, role_arn: str, entry: str | None) -> AssumeRoleError:
    """Return the ``AssumeRoleError`` of a failed AssumeRole call (to raise ``from exc``).

    ``exc`` is masked first: botocore puts a body it cannot parse into the exception's message, and a
    truncated AssumeRole answer would carry the secret into this message, the chained cause and the
    traceback.

    Example
    -------
    >>> error = error_from(TimeoutError("timed out"), "arn:aws:iam::111122223333:role/reports", None)
    >>> str(error).startswith("AssumeRole failed for role arn:aws:iam::111122223333:role/reports: TimeoutError")
    True
    """
    redaction.mask_exception(exc)
    code = _error_code(exc)
    # One line, whatever botocore quoted (a malformed body spans lines): a log line stays one record.
    detail = " ".join((f"{code}: {_error_message(exc)}" if code else f"{type(exc).__name__}: {exc}").split())
    fix = remedy(code, exc)
    return AssumeRoleError(
        f"AssumeRole failed for {where(role_arn, entry)}: {detail}" + (f" (fix: {fix})" if fix else ""),
        role_arn=role_arn,
        code=code,
        entry=entry,
    )


def credentials_from(response: Any, role_arn: str, entry: str | None) -> Credentials:
    """Return the credentials of an AssumeRole response; raise ``AssumeRoleError`` if it has none usable.

    Example
    -------
    >>> credentials_from({"Credentials": {}}, "arn:aws:iam::111122223333:role/reports", None)
    Traceback (most recent call last):
    ...
    powertools_sts.exceptions.AssumeRoleError: AssumeRole for role arn:aws:iam::111122223333:role/reports returned a response without usable Credentials (KeyError)
    """
    try:
        return _parse(response)
    except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as exc:
        # OverflowError: an Expiration such as 9999-12-31T23:59:59-14:00 has no UTC datetime.
        raise AssumeRoleError(
            f"AssumeRole for {where(role_arn, entry)} returned a response without usable Credentials "
            f"({type(exc).__name__})",
            role_arn=role_arn,
            entry=entry,
        ) from exc


def _error_code(exc: BaseException) -> str | None:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        return str(code) if code else None
    return None


def _error_message(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    message = response.get("Error", {}).get("Message") if isinstance(response, dict) else None
    return str(message or exc)


def _parse(response: dict[str, Any]) -> Credentials:
    raw = response["Credentials"]
    expiration = raw["Expiration"]
    if not isinstance(expiration, datetime):
        raise TypeError("Expiration is not a datetime")
    # botocore answers with the host's local timezone; the cache compares aware UTC only.
    expiration = expiration.astimezone(timezone.utc) if expiration.tzinfo else expiration.replace(tzinfo=timezone.utc)
    for field in ("AccessKeyId", "SecretAccessKey", "SessionToken"):
        if not isinstance(raw[field], str) or not raw[field]:
            raise ValueError(f"{field} is empty")
    user = response.get("AssumedRoleUser")
    return Credentials(
        access_key_id=raw["AccessKeyId"],
        secret_access_key=raw["SecretAccessKey"],
        session_token=raw["SessionToken"],
        expiration=expiration,
        assumed_role_arn=user.get("Arn") if isinstance(user, dict) else None,
    )
