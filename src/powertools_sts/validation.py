"""The AssumeRole and option rules, with AWS's limits.

botocore checks only types and minimum lengths: the patterns and maxima below would otherwise reach
STS unchecked and fail at the first invocation instead of at import. Every rule raises
``ConfigurationError`` naming the entry (when there is one) and the field.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

from .exceptions import ConfigurationError

__all__ = [
    "ASSUME_ROLE_PARAMETERS",
    "MAX_CHAINED_DURATION",
    "cache_key_of",
    "validate_assume_role_params",
    "validate_max_age",
    "validate_refresh_margin",
]

#: AssumeRole's parameters, in boto3's spelling, that an entry may carry.
ASSUME_ROLE_PARAMETERS: tuple[str, ...] = (
    "RoleArn",
    "RoleSessionName",
    "DurationSeconds",
    "ExternalId",
    "Policy",
    "PolicyArns",
    "Tags",
    "TransitiveTagKeys",
    "SourceIdentity",
    "ProvidedContexts",
)
#: AWS caps a session assumed with assumed-role credentials (role chaining) at one hour.
MAX_CHAINED_DURATION = 3600

# Compiled on first use by re (which caches them), not at import: import time is cold start.
_ROLE_ARN = r"(?a)arn:aws(?:-[a-z]+)*:iam::\d{12}:role/(?:[\x21-\x7e]+/)*[\w+=,.@-]{1,64}"
_POLICY_ARN = r"(?a)arn:aws(?:-[a-z]+)*:iam::(?:\d{12}|aws):policy/[\x21-\x7e]+"
_SESSION_NAME = r"(?a)[\w+=,.@-]{2,64}"
_EXTERNAL_ID = r"(?a)[\w+=,.@:/-]{2,1224}"
_MFA = ("SerialNumber", "TokenCode")


def _where(entry: str | None, field: str) -> str:
    return f"entry {entry!r}: {field}" if entry is not None else field


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _string(value: Any, entry: str | None, field: str, pattern: str | None, rule: str) -> str:
    if not isinstance(value, str):
        raise ConfigurationError(f"{_where(entry, field)} must be a string, got {type(value).__name__}")
    if pattern is not None and not re.fullmatch(pattern, value):
        raise ConfigurationError(f"{_where(entry, field)} must be {rule}, got {_shown(value)}")
    return value


def _length(value: Any, entry: str | None, field: str, low: int, high: int) -> str:
    if not isinstance(value, str):
        raise ConfigurationError(f"{_where(entry, field)} must be a string, got {type(value).__name__}")
    if not low <= len(value) <= high:
        raise ConfigurationError(f"{_where(entry, field)} must be {low}-{high} characters long, got {len(value)}")
    return value


def _items(value: Any, entry: str | None, field: str, most: int) -> list[Any]:
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, (list, tuple)):
        raise ConfigurationError(f"{_where(entry, field)} must be a list, got {type(value).__name__}")
    if len(value) > most:
        raise ConfigurationError(f"{_where(entry, field)} takes at most {most} items, got {len(value)}")
    return list(value)


def _record(value: Any, entry: str | None, field: str, keys: tuple[str, ...], required: tuple[str, ...]) -> None:
    if not isinstance(value, Mapping):
        raise ConfigurationError(f"{_where(entry, field)} items must be mappings, got {type(value).__name__}")
    unknown = sorted(str(k) for k in value if k not in keys)
    if unknown:
        raise ConfigurationError(f"{_where(entry, field)} items take only {', '.join(keys)}; got {unknown}")
    missing = [k for k in required if k not in value]
    if missing:
        raise ConfigurationError(f"{_where(entry, field)} items need {', '.join(missing)}")


def _policy(value: Any, entry: str | None) -> str:
    if isinstance(value, Mapping):
        try:
            text = json.dumps(value, separators=(",", ":"), sort_keys=True)
        except (TypeError, ValueError) as exc:
            raise ConfigurationError(f"{_where(entry, 'Policy')} is not serialisable to JSON: {exc}") from exc
    elif isinstance(value, str):
        try:
            json.loads(value)
        except ValueError as exc:
            raise ConfigurationError(f"{_where(entry, 'Policy')} is not valid JSON: {exc}") from exc
        text = value
    else:
        raise ConfigurationError(
            f"{_where(entry, 'Policy')} must be a JSON string or a dict, got {type(value).__name__}"
        )
    return _length(text, entry, "Policy", 1, 2048)


def _tags(value: Any, entry: str | None) -> list[dict[str, str]]:
    tags = []
    seen: set[str] = set()
    for tag in _items(value, entry, "Tags", 50):
        _record(tag, entry, "Tags", ("Key", "Value"), ("Key", "Value"))
        key = _length(tag["Key"], entry, "Tags Key", 1, 128)
        _length(tag["Value"], entry, "Tags Value", 0, 256)
        # STS compares tag keys case-insensitively and refuses duplicates.
        if key.lower() in seen:
            raise ConfigurationError(f"{_where(entry, 'Tags')} has the key {key!r} more than once")
        seen.add(key.lower())
        tags.append({"Key": key, "Value": tag["Value"]})
    return tags


def _duration(value: Any, entry: str | None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigurationError(f"{_where(entry, 'DurationSeconds')} must be an int, got {type(value).__name__}")
    if not 900 <= value <= 43200:
        raise ConfigurationError(f"{_where(entry, 'DurationSeconds')} must be in 900..43200, got {value}")
    return value


def validate_assume_role_params(params: Any, *, entry: str | None = None) -> dict[str, Any]:
    """Check AssumeRole parameters against AWS's rules and return them normalised.

    ``Policy`` given as a dict is serialised to compact JSON; list parameters become lists of plain
    dicts. ``RoleArn`` is required.

    Parameters
    ----------
    params:
        AssumeRole's parameters in boto3's spelling.
    entry:
        The entry name, for the error message.

    Returns
    -------
    dict[str, Any]
        A new dict, safe to send to ``sts.assume_role(**params)``.

    Raises
    ------
    ConfigurationError
        For any parameter that STS would refuse, any unknown parameter name, and the MFA parameters.

    Example
    -------
    >>> validate_assume_role_params({"RoleArn": "arn:aws:iam::111122223333:role/r", "DurationSeconds": 900})
    {'RoleArn': 'arn:aws:iam::111122223333:role/r', 'DurationSeconds': 900}
    """
    if not isinstance(params, Mapping):
        where = f"entry {entry!r}" if entry is not None else "AssumeRole parameters"
        raise ConfigurationError(
            f"{where} must be a mapping of AssumeRole parameters or a RoleArn string, got {type(params).__name__}"
        )
    for name in params:
        if name in _MFA:
            raise ConfigurationError(
                f"{_where(entry, str(name))} is not supported: an MFA token code is valid for one use and "
                "cannot be refreshed unattended, so credentials that need it cannot be cached or refreshed"
            )
        if name not in ASSUME_ROLE_PARAMETERS:
            raise ConfigurationError(
                f"{_where(entry, repr(name))} is not an AssumeRole parameter; accepted: "
                f"{', '.join(ASSUME_ROLE_PARAMETERS)}"
            )
    if "RoleArn" not in params:
        raise ConfigurationError(f"{_where(entry, 'RoleArn')} is required")
    out: dict[str, Any] = {}
    for name, value in params.items():
        if name == "RoleArn":
            out[name] = _string(value, entry, name, _ROLE_ARN, "an IAM role ARN, arn:aws:iam::<12 digits>:role/<name>")
        elif name in ("RoleSessionName", "SourceIdentity"):
            out[name] = _string(value, entry, name, _SESSION_NAME, "2-64 characters of [A-Za-z0-9_+=,.@-]")
        elif name == "ExternalId":
            if not isinstance(value, str) or not re.fullmatch(_EXTERNAL_ID, value):
                # ExternalId is a shared secret of sorts: say what is wrong, never echo it.
                raise ConfigurationError(f"{_where(entry, name)} must be 2-1224 characters of [A-Za-z0-9_+=,.@:/-]")
            out[name] = value
        elif name == "DurationSeconds":
            out[name] = _duration(value, entry)
        elif name == "Policy":
            out[name] = _policy(value, entry)
        elif name == "PolicyArns":
            arns = []
            for item in _items(value, entry, name, 10):
                _record(item, entry, name, ("arn",), ("arn",))
                arns.append({"arn": _string(item["arn"], entry, "PolicyArns arn", _POLICY_ARN, "an IAM policy ARN")})
            out[name] = arns
        elif name == "Tags":
            out[name] = _tags(value, entry)
        elif name == "TransitiveTagKeys":
            out[name] = [_length(key, entry, name, 1, 128) for key in _items(value, entry, name, 50)]
        else:  # ProvidedContexts
            contexts = []
            for item in _items(value, entry, name, 5):
                _record(item, entry, name, ("ProviderArn", "ContextAssertion"), ("ProviderArn", "ContextAssertion"))
                contexts.append(
                    {
                        "ProviderArn": _length(item["ProviderArn"], entry, "ProvidedContexts ProviderArn", 20, 2048),
                        "ContextAssertion": _length(
                            item["ContextAssertion"], entry, "ProvidedContexts ContextAssertion", 4, 2048
                        ),
                    }
                )
            out[name] = contexts
    if "TransitiveTagKeys" in out:
        tagged = {tag["Key"].lower() for tag in out.get("Tags", [])}
        for key in out["TransitiveTagKeys"]:
            if key.lower() not in tagged:
                raise ConfigurationError(f"{_where(entry, 'TransitiveTagKeys')} names {key!r}, which is not in Tags")
    return out


def cache_key_of(params: Mapping[str, Any]) -> str:
    """Return the canonical text of validated AssumeRole parameters, used as a cache key.

    Every parameter takes part, so two parameter sets that differ in anything (a RoleSessionName, an
    ExternalId, a tag) never share credentials; Powertools' own ``BaseProvider`` key ignores them.

    Example
    -------
    >>> cache_key_of({"RoleArn": "arn:aws:iam::111122223333:role/r"})
    '{"RoleArn":"arn:aws:iam::111122223333:role/r"}'
    """
    return json.dumps(params, sort_keys=True, separators=(",", ":"))


def _seconds(value: Any, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigurationError(f"{field} must be a number of seconds, got {_shown(value)}")
    try:
        seconds = float(value)
    except OverflowError:  # an int beyond float range
        seconds = math.inf
    if not math.isfinite(seconds):
        raise ConfigurationError(f"{field} must be a finite number of seconds, got {_shown(value)}")
    return seconds


def validate_max_age(max_age: Any, *, entry: str | None = None) -> float | None:
    """Return ``max_age`` as seconds, or None for "until the refresh window".

    ``None`` and ``-1`` (@middy/sts's "forever") both mean: fresh until the refresh window.
    ``0`` means no caching.

    Example
    -------
    >>> validate_max_age(-1) is None, validate_max_age(60)
    (True, 60.0)
    """
    if max_age is None:
        return None
    seconds = _seconds(max_age, _where(entry, "max_age"))
    if seconds == -1:
        return None
    if seconds < 0:
        raise ConfigurationError(f"{_where(entry, 'max_age')} must be None, -1 or >= 0 seconds, got {max_age}")
    return seconds


def validate_refresh_margin(refresh_margin: Any) -> float:
    """Return ``refresh_margin`` as seconds, refusing negative and non-numeric values.

    Example
    -------
    >>> validate_refresh_margin(300)
    300.0
    """
    seconds = _seconds(refresh_margin, "refresh_margin")
    if not 0 <= seconds <= 43200:
        raise ConfigurationError(
            f"refresh_margin must be a number of seconds >= 0, at most 43200, got {refresh_margin}"
        )
    return seconds
