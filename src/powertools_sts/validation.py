r"""The rules of STS's requests: its service model, plus what the model cannot say.

botocore checks only types and minimum lengths: the rest of what STS's model states would fail the
first invocation instead of the configuration. So each parameter is checked against its operation's
input shape in the installed botocore's STS model (each string's ``pattern``, length and ``enum``, each
list's item count, each integer's range, nested members, ``required`` members), read at first use
through the shared loader that the STS client reuses, never at import.

Each pattern of AssumeRole is one Java class and a quantifier. Its items are read into code point
ranges and ``\p{..}`` general categories (``unicodedata.category``: this Python's Unicode version).
Python's ``re`` has no ``\p{..}`` and takes 4 ms (8 ms negated) to compile the ARN class; the
``regex`` package has it but takes 25 ms to import (``python -X importtime -c "import regex"``). Any
other pattern is left to STS. ``\u10000`` (5 or 6 hex digits: U+10000..U+10FFFF) is one code point.

On top of the model: ``RoleArn`` is an IAM role ARN, each ``PolicyArns`` item an IAM policy ARN (at
most 10, each with ``arn``; ``ProvidedContexts`` items need both members); ``Tags`` keys are unique,
case-insensitively, and ``TransitiveTagKeys`` are ``Tags`` keys; ``Policy`` is a JSON object (a dict,
serialised compactly, or a string) of at most 2,048 characters, with no NaN or infinity, no integer
beyond +-(2**53 - 1) (RFC 8259's interoperable range) and no nesting deeper than 64. The MFA parameters
(``SerialNumber``, ``TokenCode``: a code cannot be refreshed unattended), unknown names and members of
the model missing from ``ASSUME_ROLE_PARAMETERS`` are refused. Each rule raises ``ConfigurationError``
naming the entry and the field, never echoing ``ExternalId`` or ``Policy``.

Parameters without ``RoleArn`` are GetScopedCredentials' (``SCOPED_PARAMETERS``): the caller's own
credentials, scoped down. They go through the same checks against their own input shape, and
:func:`validate_entry_params` picks the operation by the presence of ``RoleArn``.

Example
-------
>>> ASSUME_ROLE_PARAMETERS[:3], MAX_CHAINED_DURATION
(('RoleArn', 'RoleSessionName', 'DurationSeconds'), 3600)
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from .exceptions import ConfigurationError
from .freshness import FLOOR_SECONDS

__all__ = [
    *("ASSUME_ROLE_PARAMETERS", "MAX_CHAINED_DURATION", "SCOPED_PARAMETERS", "cache_key_of"),
    *("validate_assume_role_params", "validate_entry_params", "validate_scoped_params"),
    *("validate_max_age", "validate_refresh_margin"),
]

#: AssumeRole's parameters, in boto3's spelling, that an entry may carry.
ASSUME_ROLE_PARAMETERS: tuple[str, ...] = (
    *("RoleArn", "RoleSessionName", "DurationSeconds", "ExternalId", "Policy"),
    *("PolicyArns", "Tags", "TransitiveTagKeys", "SourceIdentity", "ProvidedContexts"),
)
#: GetScopedCredentials' parameters that an entry without ``RoleArn`` may carry (``MinimumSessionTokenSize``
#: pads the session token, as it would for AssumeRole: refused for both).
SCOPED_PARAMETERS: tuple[str, ...] = ("Policy", "DurationSeconds", "ScopedSessionDescription")
#: AWS caps a session assumed with assumed-role credentials (role chaining) at one hour.
MAX_CHAINED_DURATION = 3600

#: By STS operation: the parameters accepted, and the required ones the package supplies when absent.
_OPERATIONS = MappingProxyType(
    {"AssumeRole": (ASSUME_ROLE_PARAMETERS, ("RoleSessionName",)), "GetScopedCredentials": (SCOPED_PARAMETERS, ())}
)
#: The first botocore whose STS model has the operation: 1.44.7 (2026-11-19) has GetScopedCredentials, 1.44.6
#: has not (their wheels' botocore/data/sts/2011-06-15/service-2.json.gz, compared).
_SINCE = MappingProxyType({"GetScopedCredentials": "1.44.7"})
_MFA = ("SerialNumber", "TokenCode")
_SECRET = ("ExternalId", "Policy")  # their messages state the rule, never the value
#: Rules the model does not state, by field (a list's items share the list's field name). AWS: "You can
#: provide up to 10 managed policy ARNs"; session policies "can't exceed 2,048 characters".
_EXTRA_FORMAT = MappingProxyType(
    {
        "RoleArn": (
            r"(?a)arn:aws(?:-[a-z]+)*:iam::\d{12}:role/(?:[\x21-\x7e]+/)*[\w+=,.@-]{1,64}",
            "an IAM role ARN, arn:aws:iam::<12 digits>:role/<name>",
        ),
        "PolicyArns arn": (r"(?a)arn:aws(?:-[a-z]+)*:iam::(?:\d{12}|aws):policy/[\x21-\x7e]+", "an IAM policy ARN"),
    }
)
_EXTRA_REQUIRED = MappingProxyType({"PolicyArns": ("arn",), "ProvidedContexts": ("ProviderArn", "ContextAssertion")})
_EXTRA_MAX_ITEMS = MappingProxyType({"PolicyArns": 10})
_POLICY_MAX, _POLICY_INT_MAX, _POLICY_MAX_DEPTH = 2048, 2**53 - 1, 64
#: The model's integer shapes are 32-bit and its long shapes 64-bit, whatever range they state.
_INT_LIMIT = MappingProxyType({"integer": 2**31, "long": 2**63})

# -- the model's patterns ----------------------------------------------------------------------------

#: One item of a class: a general category, an escaped code point, an escaped character, a character.
_ITEM = (
    r"(?s)\\p\{(?:Is)?([CLMNPSZ][a-z]?)\}|\\p([CLMNPSZ])|\\x([0-9A-Fa-f]{2})"
    r"|\\u(10[0-9A-Fa-f]{4}|[1-9A-Fa-f][0-9A-Fa-f]{4}|[0-9A-Fa-f]{4})|\\(.)|(.)"
)
#: Java's ``\d``, ``\s`` and ``\w`` are ASCII (without UNICODE_CHARACTER_CLASS, which STS does not set).
_ASCII = MappingProxyType({"d": ((48, 57),), "s": ((9, 13), (32, 32)), "w": ((48, 57), (65, 90), (95, 95), (97, 122))})


@functools.cache
def _compiled(pattern: str) -> tuple[tuple[tuple[int, int], ...], frozenset[str], int, int | None] | None:
    """Read a pattern of one class and a quantifier: (code point ranges, categories, least, most); else None."""
    body = pattern.rstrip("*+")
    count = pattern[len(body) :]
    if not (body[:1] == "[" and body[1:2] not in "^]" and body[-1] == "]" and len(count) < 2):
        return None
    ranges: list[tuple[int, int]] = []
    categories: set[str] = set()
    dash = point_before = False  # an unescaped "-" after a code point makes a range with the next one
    for token in re.finditer(_ITEM, body[1:-1]):
        name, hexa, escaped, char = token[1] or token[2], token[3] or token[4], token[5], token[6]
        if name or escaped in _ASCII:
            categories.update([name] if name else [])
            ranges.extend(_ASCII.get(escaped, ()))
            dash = point_before = False  # a "-" next to a class is a literal (or a Java error)
            continue
        if char in ("[", "]") or (escaped or "-").isalnum():
            return None  # a nested class, another \p, a back-reference, \b, \Q, ...
        point = int(hexa, 16) if hexa else ord(escaped or char)
        if dash:
            ranges[-1], dash, point_before = (ranges[-1][0], point), False, False
        elif char == "-" and point_before and token.end() < len(body) - 2:
            dash = True
        else:
            ranges.append((point, point))
            point_before = True
    return tuple(ranges), frozenset(categories), int(count != "*"), None if count else 1


def _outside(pattern: str | None, value: str) -> int | None:
    """Return None if ``value`` matches ``pattern`` (or STS checks it), else where it does not (-1: as a whole)."""
    rule = None if pattern is None else _compiled(pattern)
    if rule is None:
        return None
    ranges, categories, least, most = rule
    bad = [char for char in set(value) if not any(low <= ord(char) <= high for low, high in ranges)]
    if bad and categories:
        import unicodedata  # at first use, for a class with \p: 0.4 ms of import time otherwise

        bad = [char for char in bad if not {unicodedata.category(char), unicodedata.category(char)[0]} & categories]
    if bad:
        return min(map(value.index, bad))
    return -1 if len(value) < least or (most is not None and len(value) > most) else None


# -- checking a value against its shape -----------------------------------------------------------------


@functools.cache
def _model() -> dict[str, Any]:
    """Return the installed botocore's STS model, asked as botocore's client creator asks (for its cache)."""
    from . import _state

    model: dict[str, Any] = _state.botocore_loader().load_service_model("sts", "service-2", api_version=None)
    return model


def _where(entry: str | None, field: str) -> str:
    return f"entry {entry!r}: {field}" if entry is not None else field


def _shown(value: Any) -> str:
    try:
        text = repr(value)
    except ValueError:  # an int beyond sys.get_int_max_str_digits() has no repr
        return f"an int of {value.bit_length()} bits"
    return text if len(text) <= 80 else text[:77] + "..."


def _string(shape: Mapping[str, Any], value: Any, entry: str | None, field: str) -> str:
    where, pattern = _where(entry, field), shape.get("pattern")
    low, high = shape.get("min", 0), shape.get("max")
    span = f"{low}-{high}" if high is not None else f"at least {low}"
    fits = isinstance(value, str) and low <= len(value) and (high is None or len(value) <= high)
    if field == "ExternalId":  # a shared secret of sorts: say what is wrong, never echo it, nor its length
        if not fits or _outside(pattern, value) is not None:
            raise ConfigurationError(f"{where} must be {span} characters matching {pattern}")
        return str(value)
    if not isinstance(value, str):
        raise ConfigurationError(f"{where} must be a string, got {type(value).__name__}")
    if not fits:
        raise ConfigurationError(f"{where} must be {span} characters long, got {len(value)}")
    bad = _outside(pattern, value)
    if bad is not None and field in _SECRET:
        at = f" at position {bad}" if bad >= 0 else ""
        raise ConfigurationError(f"{where} has a character outside STS's pattern {pattern}{at}")
    if bad is not None:
        char = f": {value[bad]!r} at position {bad} is not allowed" if bad >= 0 else ""
        raise ConfigurationError(f"{where} must match STS's pattern {pattern}, got {_shown(value)}{char}")
    if "enum" in shape and value not in shape["enum"]:
        raise ConfigurationError(f"{where} must be one of {', '.join(shape['enum'])}, got {_shown(value)}")
    extra = _EXTRA_FORMAT.get(field)
    if extra is not None and not re.fullmatch(extra[0], value):
        raise ConfigurationError(f"{where} must be {extra[1]}, got {_shown(value)}")
    return value


def _record(shapes: Mapping[str, Any], shape: Mapping[str, Any], value: Any, entry: str | None, field: str) -> Any:
    where, members = _where(entry, field), shape["members"]
    if not isinstance(value, Mapping):
        raise ConfigurationError(f"{where} items must be mappings, got {type(value).__name__}")
    unknown = sorted(str(k) for k in value if k not in members)
    if unknown:
        raise ConfigurationError(f"{where} items take only {', '.join(members)}; got {unknown}")
    missing = [
        k for k in dict.fromkeys([*shape.get("required", ()), *_EXTRA_REQUIRED.get(field, ())]) if k not in value
    ]
    if missing:
        raise ConfigurationError(f"{where} items need {', '.join(missing)}")
    return {k: _value(shapes, members[k]["shape"], value[k], entry, f"{field} {k}") for k in members if k in value}


def _value(shapes: Mapping[str, Any], name: str, value: Any, entry: str | None, field: str) -> Any:
    """Check ``value`` against the model's shape ``name``; return it normalised (plain lists and dicts)."""
    shape = shapes[name]
    kind, where = shape["type"], _where(entry, field)
    if kind == "string":
        return _string(shape, value, entry, field)
    if kind in _INT_LIMIT:
        low, high = shape.get("min", -_INT_LIMIT[kind]), shape.get("max", _INT_LIMIT[kind] - 1)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigurationError(f"{where} must be an int, got {type(value).__name__}")
        if not low <= value <= high:
            raise ConfigurationError(f"{where} must be in {low}..{high}, got {_shown(value)}")
    elif kind == "boolean" and not isinstance(value, bool):
        raise ConfigurationError(f"{where} must be a bool, got {type(value).__name__}")
    elif kind == "list":
        if not isinstance(value, (list, tuple)):
            raise ConfigurationError(f"{where} must be a list, got {type(value).__name__}")
        most = min((n for n in (shape.get("max"), _EXTRA_MAX_ITEMS.get(field)) if n is not None), default=None)
        if most is not None and len(value) > most:
            raise ConfigurationError(f"{where} takes at most {most} items, got {len(value)}")
        if len(value) < shape.get("min", 0):
            raise ConfigurationError(f"{where} takes at least {shape['min']} items, got {len(value)}")
        return [_value(shapes, shape["member"]["shape"], item, entry, field) for item in value]
    elif kind == "structure":
        return _record(shapes, shape, value, entry, field)
    return value  # botocore checks the types of the rest


# -- Policy, names and the whole request ------------------------------------------------------------


def _number(text: str) -> float:
    """Parse a JSON number of a policy, refusing what a JSON parser reading doubles would change."""
    if text in ("NaN", "Infinity", "-Infinity"):
        raise ConfigurationError(f"holds {text}, which JSON does not allow")
    number = int(text) if text.lstrip("-").isdigit() else float(text)
    if abs(number) > _POLICY_INT_MAX and isinstance(number, int):
        raise ConfigurationError("holds an integer beyond +-(2**53 - 1), which a JSON parser reading doubles changes")
    if not math.isfinite(number):
        raise ConfigurationError("holds a number beyond the range of a double")
    return number


def _policy(shape: Mapping[str, Any], value: Any, entry: str | None) -> str:
    where = _where(entry, "Policy")
    if isinstance(value, Mapping):
        try:
            text = json.dumps(value, separators=(",", ":"), sort_keys=True, allow_nan=False)
        except (TypeError, ValueError, RecursionError) as exc:
            raise ConfigurationError(f"{where} is not serialisable to JSON: {type(exc).__name__}: {exc}") from exc
    elif isinstance(value, str):
        text = value
    else:
        raise ConfigurationError(f"{where} must be a JSON string or a dict, got {type(value).__name__}")
    low, high = shape.get("min", 0), min(shape.get("max", _POLICY_MAX), _POLICY_MAX)
    if not low <= len(text) <= high:
        raise ConfigurationError(f"{where} must be {low}-{high} characters long, got {len(text)}")
    _string(shape, text, entry, "Policy")
    depth = deepest = 0  # of arrays and objects, brackets in strings aside: refused when deeper, not parsed
    if text.count("[") + text.count("{") > _POLICY_MAX_DEPTH:
        for char in re.sub(r'"(?:\\.|[^"\\])*"', "", text):
            depth += (char in "[{") - (char in "]}")
            deepest = max(deepest, depth)
    if deepest > _POLICY_MAX_DEPTH:
        raise ConfigurationError(f"{where} nests arrays and objects more than {_POLICY_MAX_DEPTH} deep")
    try:
        document = json.loads(text, parse_float=_number, parse_int=_number, parse_constant=_number)
    except ConfigurationError as exc:
        raise ConfigurationError(f"{where} {exc}") from None
    except RecursionError:  # pragma: no cover - only with a stack within 64 frames of the limit
        raise ConfigurationError(f"{where} nests arrays and objects too deeply") from None
    except ValueError as exc:
        raise ConfigurationError(f"{where} is not valid JSON: {exc}") from None
    if not isinstance(document, dict):
        kinds = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
        raise ConfigurationError(
            f"{where} must be a JSON object (a policy document), got {kinds.get(type(document), 'a number')}"
        )
    return text


def _validate(operation: str, params: Mapping[Any, Any], entry: str | None) -> dict[str, Any]:
    """Check ``params`` against ``operation``'s input shape in the STS model and the rules above."""
    (accepted, supplied), shapes = _OPERATIONS[operation], _model()["shapes"]
    if operation not in _model()["operations"]:
        import botocore

        raise ConfigurationError(
            f"{_where(entry, operation)} is not in the STS model of the installed botocore {botocore.__version__}: "
            f"it needs botocore {_SINCE[operation]} or later (pip install --upgrade boto3 botocore)"
        )
    request = shapes[_model()["operations"][operation]["input"]["shape"]]
    members, a = request["members"], "an" if operation[0] in "AEIOU" else "a"
    for name in params:
        if name in _MFA:
            raise ConfigurationError(
                f"{_where(entry, name)} is not supported: an MFA token code is valid for one use and "
                "cannot be refreshed unattended, so credentials that need it cannot be cached or refreshed"
            )
        if name not in accepted:
            known = name in members
            what = f"{a} {operation} parameter that powertools_sts does not support" if known else None
            kind = what or f"not {a} {operation} parameter"
            raise ConfigurationError(f"{_where(entry, repr(name))} is {kind}; accepted: {', '.join(accepted)}")
        if name not in members:
            import botocore

            raise ConfigurationError(
                f"{_where(entry, name)} is not in the STS model of the installed botocore {botocore.__version__}; "
                "a newer boto3 supports it"
            )
    for name in request.get("required", ()):
        if name not in params and name not in supplied:
            raise ConfigurationError(f"{_where(entry, name)} is required")
    out: dict[str, Any] = {
        name: _policy(shapes[members[name]["shape"]], value, entry)
        if name == "Policy"
        else _value(shapes, members[name]["shape"], value, entry, name)
        for name, value in params.items()
    }
    keys: set[str] = set()  # STS compares tag keys case-insensitively
    for key in (tag["Key"] for tag in out.get("Tags", ())):
        if key.lower() in keys:
            raise ConfigurationError(f"{_where(entry, 'Tags')} has the key {key!r} more than once")
        keys.add(key.lower())
    for key in out.get("TransitiveTagKeys", ()):
        if key.lower() not in keys:
            raise ConfigurationError(f"{_where(entry, 'TransitiveTagKeys')} names {key!r}, which is not in Tags")
    return out


def validate_assume_role_params(params: Any, *, entry: str | None = None) -> dict[str, Any]:
    """Check AssumeRole parameters against STS's model and the rules above; return them normalised.

    A ``Policy`` dict becomes compact JSON and lists become lists of plain dicts, in a new dict safe to
    send to ``sts.assume_role(**params)``. ``RoleSessionName``, which the model requires, is supplied by
    the package. ``entry`` names the entry in the messages.

    Raises
    ------
    ConfigurationError
        For a parameter STS would refuse, an unknown parameter name, and the MFA parameters.

    Example
    -------
    >>> validate_assume_role_params({"RoleArn": "arn:aws:iam::111122223333:role/r", "DurationSeconds": 900})
    {'RoleArn': 'arn:aws:iam::111122223333:role/r', 'DurationSeconds': 900}
    >>> validate_assume_role_params({"RoleArn": "arn:aws:iam::111122223333:role/r", "Policy": "42"})
    Traceback (most recent call last):
    powertools_sts.exceptions.ConfigurationError: Policy must be a JSON object (a policy document), got a number
    """
    if not isinstance(params, Mapping):
        where = f"entry {entry!r}" if entry is not None else "AssumeRole parameters"
        raise ConfigurationError(
            f"{where} must be a mapping of AssumeRole parameters or a RoleArn string, got {type(params).__name__}"
        )
    return _validate("AssumeRole", params, entry)


def validate_scoped_params(params: Any, *, entry: str | None = None) -> dict[str, Any]:
    """Check GetScopedCredentials parameters against STS's model and the rules above; return them normalised.

    GetScopedCredentials narrows the caller's own temporary credentials (a Lambda function's, for
    instance) with a scope-down ``Policy``, a shorter ``DurationSeconds``, or both; STS refuses a request
    with neither, and so does this check. ``DurationSeconds`` must also be above ``FLOOR_SECONDS`` (60):
    the package never serves credentials that expire sooner, so shorter ones could never serve. The
    installed botocore must know the operation (1.44.7 or later). ``entry`` names the entry in the messages.

    Raises
    ------
    ConfigurationError
        For a parameter STS would refuse, neither ``Policy`` nor ``DurationSeconds``, a parameter of
        AssumeRole only (an entry without ``RoleArn``), or a botocore without GetScopedCredentials.

    Example
    -------
    >>> validate_scoped_params({"Policy": {"Version": "2012-10-17", "Statement": []}, "DurationSeconds": 900})
    {'Policy': '{"Statement":[],"Version":"2012-10-17"}', 'DurationSeconds': 900}
    >>> validate_scoped_params({"ScopedSessionDescription": "nightly"}, entry="reports")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    powertools_sts.exceptions.ConfigurationError: entry 'reports': GetScopedCredentials needs Policy, DurationSeconds or both ...
    """
    if not isinstance(params, Mapping):
        where = f"entry {entry!r}" if entry is not None else "GetScopedCredentials parameters"
        raise ConfigurationError(
            f"{where} must be a mapping of GetScopedCredentials parameters, got {type(params).__name__}"
        )
    assume_only = [str(name) for name in params if name in ASSUME_ROLE_PARAMETERS and name not in SCOPED_PARAMETERS]
    if assume_only:
        what = "is an AssumeRole parameter" if len(assume_only) == 1 else "are AssumeRole parameters"
        raise ConfigurationError(
            f"{_where(entry, ', '.join(assume_only))} {what}, but there is no RoleArn: without one, the parameters "
            f"scope down the function's own credentials with GetScopedCredentials, which takes only "
            f"{', '.join(SCOPED_PARAMETERS)}; add RoleArn to assume a role"
        )
    out = _validate("GetScopedCredentials", params, entry)
    if "Policy" not in out and "DurationSeconds" not in out:
        raise ConfigurationError(
            f"{_where(entry, 'GetScopedCredentials')} needs Policy, DurationSeconds or both (STS refuses a request "
            "with neither): add a scope-down Policy, a DurationSeconds to shorten the session, or a RoleArn to "
            "assume a role instead"
        )
    if out.get("DurationSeconds", FLOOR_SECONDS + 1) <= FLOOR_SECONDS:
        raise ConfigurationError(
            f"{_where(entry, 'DurationSeconds')} must be more than {FLOOR_SECONDS:.0f} s: credentials that expire "
            f"sooner are never served, got {out['DurationSeconds']}"
        )
    return out


def validate_entry_params(params: Any, *, entry: str | None = None) -> dict[str, Any]:
    """Check the parameters of one entry: AssumeRole's with a ``RoleArn``, GetScopedCredentials' without.

    A string is short for ``{"RoleArn": string}``, as in ``fetch_data``.

    Example
    -------
    >>> validate_entry_params({"RoleArn": "arn:aws:iam::111122223333:role/r"})
    {'RoleArn': 'arn:aws:iam::111122223333:role/r'}
    >>> validate_entry_params({"DurationSeconds": 900})
    {'DurationSeconds': 900}
    """
    if isinstance(params, str):
        return validate_assume_role_params({"RoleArn": params}, entry=entry)
    if isinstance(params, Mapping) and "RoleArn" not in params:
        return validate_scoped_params(params, entry=entry)
    return validate_assume_role_params(params, entry=entry)


def cache_key_of(params: Mapping[str, Any]) -> str:
    """Return the canonical text of validated AssumeRole or GetScopedCredentials parameters, used as a cache key.

    Every parameter takes part, so two parameter sets that differ in anything (a RoleSessionName, an
    ExternalId, a tag) never share credentials; Powertools' own ``BaseProvider`` key ignores them.
    AssumeRole's always hold ``RoleArn`` and GetScopedCredentials' never do: their keys never meet.

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


def validate_clients(boto3_session: Any, boto3_client: Any, boto_config: Any) -> None:
    """Refuse a ``boto3_session``, ``boto3_client`` or ``boto_config`` that could never sign an STS call.

    botocore checks a ``Config``'s timeouts and region only when a client is built, at the first fetch:
    each is checked here, when the provider or the ``sts`` layer is built.

    Example
    -------
    >>> from botocore.config import Config
    >>> validate_clients(None, None, Config(connect_timeout=-1))
    Traceback (most recent call last):
    ...
    powertools_sts.exceptions.ConfigurationError: boto_config: connect_timeout must be a number of seconds > 0, got -1
    """
    from botocore.config import Config  # loaded already: Powertools' provider base imports boto3

    if boto3_session is not None and not callable(getattr(boto3_session, "client", None)):
        raise ConfigurationError(f"boto3_session must be a boto3 Session, got {type(boto3_session).__name__}")
    if boto3_client is not None and not callable(getattr(boto3_client, "assume_role", None)):
        raise ConfigurationError(f"boto3_client must be a boto3 STS client, got {type(boto3_client).__name__}")
    if boto_config is None:
        return
    if not isinstance(boto_config, Config):
        raise ConfigurationError(f"boto_config must be a botocore.config.Config, got {type(boto_config).__name__}")
    for field in ("connect_timeout", "read_timeout"):
        value = getattr(boto_config, field)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < math.inf:
            raise ConfigurationError(f"boto_config: {field} must be a number of seconds > 0, got {value!r}")
    region = getattr(boto_config, "region_name", None)  # set by Config's constructor; the stubs do not know it
    if region is not None:
        from botocore.exceptions import InvalidRegionError
        from botocore.utils import validate_region_name

        try:
            validate_region_name(region)
        except InvalidRegionError:
            raise ConfigurationError(f"boto_config: region_name {region!r} is not a region name") from None
