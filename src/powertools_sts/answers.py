"""What STS answered to AssumeRole or GetScopedCredentials, as the package hands it on: ``Credentials``, or one ``AssumeRoleError``.

Credentials need every field a signer needs; an error is one line that names the entry and the role,
keeps STS's code, ends with the usual fix (:mod:`.remedies`) and never quotes a secret. A ``role_arn``
of None stands for GetScopedCredentials, which scopes down the caller's own credentials: no role.

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

__all__ = ["SCOPED", "call_of", "credentials_from", "error_from", "where"]

#: How messages name a GetScopedCredentials call, where an AssumeRole one names its role.
SCOPED = "GetScopedCredentials"


def where(role_arn: str | None, entry: str | None) -> str:
    """Name an AssumeRole call in a message: the entry and its role, or the role alone (None: GetScopedCredentials).

    Example
    -------
    >>> where("arn:aws:iam::111122223333:role/reports", "reports")
    "entry 'reports' (role arn:aws:iam::111122223333:role/reports)"
    >>> where(None, "reports"), where(None, None)
    ("entry 'reports' (GetScopedCredentials)", 'GetScopedCredentials')
    """
    target = f"role {role_arn}" if role_arn is not None else SCOPED
    return f"entry {entry!r} ({target})" if entry is not None else target


def call_of(role_arn: str | None, entry: str | None) -> str:
    """Name the STS call itself in a message: ``AssumeRole for <where>``, or ``GetScopedCredentials [for <entry>]``.

    Example
    -------
    >>> call_of("arn:aws:iam::111122223333:role/reports", None)
    'AssumeRole for role arn:aws:iam::111122223333:role/reports'
    >>> call_of(None, "reports")
    "GetScopedCredentials for entry 'reports'"
    """
    if role_arn is not None:
        return f"AssumeRole for {where(role_arn, entry)}"
    return SCOPED if entry is None else f"{SCOPED} for entry {entry!r}"


def error_from(exc: BaseException, role_arn: str | None, entry: str | None) -> AssumeRoleError:
    """Return the ``AssumeRoleError`` of a failed STS call (to raise ``from exc``), ``exc`` masked first.

    botocore quotes a body it cannot parse in its message: a truncated answer would carry the secret.

    Example
    -------
    >>> error = error_from(TimeoutError("timed out"), "arn:aws:iam::111122223333:role/reports", None)
    >>> str(error).startswith("AssumeRole failed for role arn:aws:iam::111122223333:role/reports: TimeoutError")
    True
    >>> str(error_from(TimeoutError("timed out"), None, "reports"))
    "GetScopedCredentials failed for entry 'reports': TimeoutError: timed out"
    """
    redaction.mask_exception(exc)
    error = _error(exc)
    code = str(error["Code"]) if error.get("Code") else None
    text = f"{code}: {error.get('Message') or exc}" if code else f"{type(exc).__name__}: {exc}"
    # One line, whatever botocore quoted (a malformed body spans lines): a log line stays one record.
    detail = " ".join(text.split())
    fix = remedy(code, exc, scoped=role_arn is None)
    if role_arn is not None:
        failed = f"AssumeRole failed for {where(role_arn, entry)}"
    else:
        failed = f"{SCOPED} failed" + (f" for entry {entry!r}" if entry is not None else "")
    return AssumeRoleError(
        f"{failed}: {detail}" + (f" (fix: {fix})" if fix else ""),
        role_arn=role_arn,
        code=code,
        entry=entry,
    )


def credentials_from(response: Any, role_arn: str | None, entry: str | None) -> Credentials:
    """Return the credentials of an AssumeRole or GetScopedCredentials response; raise ``AssumeRoleError`` if none usable.

    ``assumed_role_arn`` is ``AssumedRoleUser.Arn``, or GetScopedCredentials' ``SessionInfo.Arn`` (the caller's own).

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
            f"{call_of(role_arn, entry)} returned a response without usable Credentials ({type(exc).__name__})",
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
    user = response.get("AssumedRoleUser") or response.get("SessionInfo")
    return Credentials(
        access_key_id=raw["AccessKeyId"],
        secret_access_key=raw["SecretAccessKey"],
        session_token=raw["SessionToken"],
        expiration=expiration,
        assumed_role_arn=user.get("Arn") if isinstance(user, dict) else None,
    )
