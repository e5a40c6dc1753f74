"""What STS answered to AssumeRole, as the package hands it on: ``Credentials``, or one ``AssumeRoleError``.

Credentials need every field a signer needs; an error is one line that names the entry and the role,
keeps STS's code, ends with the usual fix (:mod:`.remedies`) and never quotes a secret.

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
    """Return the ``AssumeRoleError`` of a failed AssumeRole call (to raise ``from exc``), ``exc`` masked first.

    botocore quotes a body it cannot parse in its message: a truncated answer would carry the secret.

    Example
    -------
    >>> error = error_from(TimeoutError("timed out"), "arn:aws:iam::111122223333:role/reports", None)
    >>> str(error).startswith("AssumeRole failed for role arn:aws:iam::111122223333:role/reports: TimeoutError")
    True
    """
    redaction.mask_exception(exc)
    error = _error(exc)
    code = str(error["Code"]) if error.get("Code") else None
    text = f"{code}: {error.get('Message') or exc}" if code else f"{type(exc).__name__}: {exc}"
    # One line, whatever botocore quoted (a malformed body spans lines): a log line stays one record.
    detail = " ".join(text.split())
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


def _error(exc: BaseException) -> Any:
    response = getattr(exc, "response", None)
    return response.get("Error", {}) if isinstance(response, dict) else {}


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
