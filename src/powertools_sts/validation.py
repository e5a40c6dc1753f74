"""The AssumeRole and option rules: STS's own service model, plus what the model cannot say.

botocore checks only types and minimum lengths before it sends a request: the patterns, maxima and
ranges of STS's service model would otherwise reach STS unchecked and fail at the first invocation
instead of when the configuration is given. So every AssumeRole parameter is checked against the
constraints of the ``AssumeRoleRequest`` shape of the STS model that the installed botocore ships:
each string's ``pattern``, ``min`` and ``max`` length, each list's ``min`` and ``max`` item count,
each integer's range, and the members and ``required`` members of nested structures (``Tags``,
``PolicyArns``, ``ProvidedContexts``). The model is read and its rules compiled at first use, through
the package's shared botocore loader (which the STS client reuses), never at import: import time is
cold start.

On top of the model, rules it cannot state:

- ``RoleArn`` is an IAM role ARN and each ``PolicyArns`` item an IAM policy ARN;
- at most 10 ``PolicyArns``; ``PolicyArns`` items need ``arn``, ``ProvidedContexts`` items both members;
- ``Tags`` keys are unique, case-insensitively, and every ``TransitiveTagKeys`` item is a ``Tags`` key;
- ``Policy`` is a JSON object (a dict, serialised compactly, or a string that parses to one) of at
  most 2,048 characters, with no NaN or infinite number, no integer beyond +-(2**53 - 1) (the range
  that RFC 8259, section 6, calls interoperable: a parser that reads numbers as IEEE doubles silently
  changes a larger one) and no arrays or objects nested more than 64 deep. Its serialised text must
  pass the model's pattern and length (a dict is serialised with non-ASCII characters escaped, so
  only a string can hold a character outside the pattern's U+0020-U+00FF);
- ``SerialNumber`` and ``TokenCode`` (MFA) are refused: an MFA code cannot be refreshed unattended;
  a member of the model that this package does not list in ``ASSUME_ROLE_PARAMETERS`` is refused too;
- unknown parameter names are refused, and ``ExternalId`` and ``Policy`` are never echoed in a message.

Every rule raises ``ConfigurationError`` naming the entry (when there is one) and the field.
"""

from __future__ import annotations

import bisect
import functools
import json
import math
import re
from collections.abc import Iterator, Mapping
from types import MappingProxyType
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
_MFA = ("SerialNumber", "TokenCode")
#: Fields whose value may be a secret: their messages state the rule, never the value.
_SECRET = ("ExternalId", "Policy")
#: Rules the model does not state, by field (a list's items share the list's field name).
_EXTRA_FORMAT = MappingProxyType(
    {
        "RoleArn": (_ROLE_ARN, "an IAM role ARN, arn:aws:iam::<12 digits>:role/<name>"),
        "PolicyArns arn": (_POLICY_ARN, "an IAM policy ARN"),
    }
)
_EXTRA_REQUIRED = MappingProxyType({"PolicyArns": ("arn",), "ProvidedContexts": ("ProviderArn", "ContextAssertion")})
#: AWS: "You can provide up to 10 managed policy ARNs"; the model states no maximum.
_EXTRA_MAX_ITEMS = MappingProxyType({"PolicyArns": 10})
#: AWS: "The plaintext that you use for both inline and managed session policies can't exceed 2,048
#: characters"; the model states only a minimum.
_POLICY_MAX = 2048
#: RFC 8259, section 6: integers in [-(2**53)+1, 2**53-1] are the ones every JSON parser reads exactly.
_POLICY_INT_MAX = 2**53 - 1
#: Arrays and objects nested deeper than this are refused: an IAM policy nests about 5 deep, and a
#: fixed bound keeps the answer from depending on how deep the caller's stack already is.
_POLICY_MAX_DEPTH = 64
#: Unicode's general categories and their one-letter groups, as ``\p{..}`` names them.
_GENERAL_CATEGORIES = frozenset(
    {
        *("L", "Lu", "Ll", "Lt", "Lm", "Lo", "M", "Mn", "Mc", "Me", "N", "Nd", "Nl", "No", "P", "Pc", "Pd", "Ps"),
        *("Pe", "Pi", "Pf", "Po", "S", "Sm", "Sc", "Sk", "So", "Z", "Zs", "Zl", "Zp", "C", "Cc", "Cf", "Cs", "Co"),
        "Cn",
    }
)
#: The model's integer shapes are 32-bit and its long shapes 64-bit, whatever range they state.
_INT_BITS = MappingProxyType({"integer": 32, "long": 64})


def _where(entry: str | None, field: str) -> str:
    return f"entry {entry!r}: {field}" if entry is not None else field


def _shown(value: Any) -> str:
    try:
        text = repr(value)
    except ValueError:  # an int beyond sys.get_int_max_str_digits() has no repr
        return f"an int of {value.bit_length()} bits"
    return text if len(text) <= 80 else text[:77] + "..."


# -- the model's rules -------------------------------------------------------------------------------


class _UntranslatableError(ValueError):
    """A model pattern this module cannot translate to Python exactly."""


_ALL = (0x80, 0x10FFFF)  # every non-ASCII code point
_ASCII_CLASSES = MappingProxyType(
    {
        "d": frozenset("0123456789"),
        "w": frozenset("0123456789_ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"),
        "s": frozenset(" \t\n\r\f\v"),
    }
)


def _in_category(char: str, categories: frozenset[str]) -> bool:
    import unicodedata  # on first use: 0.2 ms of import time otherwise

    category = unicodedata.category(char)
    return category in categories or category[0] in categories


class _Charset:
    r"""A character class of a model pattern: ASCII members, non-ASCII ranges, general categories.

    Checked with sets, bisection and ``unicodedata``, not with ``re``: Python's ``re`` has no
    ``\p{L}``, and compiling a class with ranges up to U+10FFFF costs about 2 ms (4 ms negated) of
    cold start per pattern.
    """

    __slots__ = ("ascii", "categories", "ranges", "starts")

    def __init__(self, ascii: frozenset[str], ranges: list[tuple[int, int]], categories: frozenset[str]) -> None:
        merged: list[tuple[int, int]] = []
        for low, high in sorted(ranges):
            if merged and low <= merged[-1][1] + 1:
                merged[-1] = (merged[-1][0], max(high, merged[-1][1]))
            else:
                merged.append((low, high))
        self.ascii = ascii | frozenset(chr(p) for p in range(128) if categories and _in_category(chr(p), categories))
        self.ranges = tuple(merged)
        self.starts = tuple(low for low, _ in merged)
        self.categories = categories

    def allows(self, char: str) -> bool:
        """Return whether ``char`` is in the class."""
        if char.isascii():
            return char in self.ascii
        index = bisect.bisect_right(self.starts, ord(char)) - 1
        if index >= 0 and ord(char) <= self.ranges[index][1]:
            return True
        return bool(self.categories) and _in_category(char, self.categories)

    def first_outside(self, value: str) -> int | None:
        """Return the index of the first character of ``value`` outside the class, or None."""
        chars = set(value)
        if chars <= self.ascii or all(self.allows(char) for char in chars - self.ascii):
            return None
        return next(i for i, char in enumerate(value) if not self.allows(char))

    def regex(self) -> str:
        r"""Return the class for Python's ``re``; a ``\p`` item widens it to every non-ASCII character."""
        ranges = [*self.ranges, _ALL] if self.categories else self.ranges
        items = [_code(ord(c)) for c in sorted(self.ascii)] + [f"{_code(a)}-{_code(b)}" for a, b in ranges]
        return f"[{''.join(items)}]" if items else "[^\\x00-\\U0010ffff]"


def _code(point: int) -> str:
    return f"\\U{point:08x}"


def _complement(ascii: frozenset[str], ranges: list[tuple[int, int]]) -> tuple[frozenset[str], list[tuple[int, int]]]:
    out: list[tuple[int, int]] = []
    start = 0x80
    for low, high in sorted(ranges):
        if low > start:
            out.append((start, low - 1))
        start = max(start, high + 1)
    if start <= 0x10FFFF:
        out.append((start, 0x10FFFF))
    return frozenset(chr(p) for p in range(128)) - ascii, out


def _unicode_escape(pattern: str, i: int) -> tuple[int, int]:
    r"""Read ``\uXXXX`` at ``pattern[i]`` (the ``u``); return the code point and the next index.

    The STS model writes code points above U+FFFF with five or six hex digits (``\u10000-\u10FFFF``,
    the XML ``Char`` production), which Java would read as ``\u1000`` then ``0``. AWS means the code
    points, so a run of 5 or 6 hex digits in U+10000..U+10FFFF is read as one.
    """
    digits = re.match(r"[0-9a-fA-F]{4,6}", pattern[i + 1 : i + 7])
    if digits is None:
        raise _UntranslatableError(f"bad \\u escape at {i}")
    text = digits.group()
    if len(text) > 4 and 0x10000 <= int(text, 16) <= 0x10FFFF:
        return int(text, 16), i + 1 + len(text)
    return int(text[:4], 16), i + 5


def _escape(pattern: str, i: int) -> tuple[int | _Charset, int]:
    r"""Translate the escape at ``pattern[i]`` (the backslash): a code point or a class; and the next index."""
    if i + 1 >= len(pattern):
        raise _UntranslatableError("trailing backslash")
    char = pattern[i + 1]
    if char == "u":
        return _unicode_escape(pattern, i + 1)
    if char == "x":
        digits = re.match(r"\{([0-9a-fA-F]{1,6})\}|([0-9a-fA-F]{2})", pattern[i + 2 :])
        if digits is None:
            raise _UntranslatableError(f"bad \\x escape at {i}")
        return int(digits.group(1) or digits.group(2), 16), i + 2 + digits.end()
    if char == "p":
        name = re.match(r"\{(?:Is|gc=|General_Category=)?([A-Z][a-z]?)\}|([A-Z])", pattern[i + 2 :])
        category = name and (name.group(1) or name.group(2))
        if name is None or category not in _GENERAL_CATEGORIES:
            raise _UntranslatableError(f"unsupported \\p class at {i}")
        return _Charset(frozenset(), [], frozenset({category})), i + 2 + name.end()
    if char.lower() in _ASCII_CLASSES:  # Java's \d, \w, \s are ASCII unless UNICODE_CHARACTER_CLASS
        members, ranges = _ASCII_CLASSES[char.lower()], list[tuple[int, int]]()
        if char.isupper():
            members, ranges = _complement(members, [])
        return _Charset(members, ranges, frozenset()), i + 2
    controls = {"t": 9, "n": 10, "r": 13, "f": 12, "a": 7, "e": 27}
    if char in controls:
        return controls[char], i + 2
    if not char.isalnum():
        return ord(char), i + 2
    raise _UntranslatableError(f"unsupported escape \\{char} at {i}")


def _class(pattern: str, i: int) -> tuple[_Charset, int]:
    """Translate the class whose ``[`` is at ``pattern[i]``; return it and the next index."""
    i += 1
    negated = pattern.startswith("^", i)
    i += negated
    ascii: set[str] = set()
    ranges: list[tuple[int, int]] = []
    categories: set[str] = set()
    empty = True

    def add(low: int, high: int) -> None:
        ascii.update(chr(p) for p in range(low, min(high, 0x7F) + 1))
        if high >= 0x80:
            ranges.append((max(low, 0x80), high))

    while True:
        if i >= len(pattern):
            raise _UntranslatableError("unterminated class")
        if pattern[i] == "]" and not empty:
            break
        if pattern[i] == "[" or pattern.startswith("&&", i):
            raise _UntranslatableError("nested classes and intersections")
        if pattern[i] == "\\":
            item, i = _escape(pattern, i)
        else:
            item, i = ord(pattern[i]), i + 1
        empty = False
        if isinstance(item, _Charset):
            ascii |= item.ascii
            ranges.extend(item.ranges)
            categories |= item.categories
            continue
        low = high = item
        if pattern.startswith("-", i) and i + 1 < len(pattern) and pattern[i + 1] != "]":
            end, i = _escape(pattern, i + 1) if pattern[i + 1] == "\\" else (ord(pattern[i + 1]), i + 2)
            if isinstance(end, _Charset) or end < low:
                raise _UntranslatableError("bad range")
            high = end
        add(low, high)
    if negated:
        if categories:
            raise _UntranslatableError("negated class with \\p items")
        return _Charset(*_complement(frozenset(ascii), ranges), frozenset()), i + 1
    return _Charset(frozenset(ascii), ranges, frozenset(categories)), i + 1


def _quantifier(pattern: str, i: int) -> tuple[tuple[int, int | None], int]:
    """Read the quantifier at ``pattern[i]`` (lazy or possessive alike): its (min, max) and the next index."""
    found = re.match(r"(?:([*+?])|\{(\d+)(?:(,)(\d*))?\})[?+]?", pattern[i:])
    if found is None:
        raise _UntranslatableError(f"bad quantifier at {i}")
    sign, low, comma, high = found.groups()
    if sign is not None:
        count: tuple[int, int | None] = {"*": (0, None), "+": (1, None), "?": (0, 1)}[sign]
    else:
        count = (int(low), (int(high) if high else None) if comma else int(low))
    return count, i + found.end()


def _compile_pattern(pattern: str) -> dict[str, Any]:
    r"""Translate a model pattern (Java's regex syntax, matching the whole value) for Python.

    Python's ``re`` cannot read the model's patterns as AWS means them: it has no ``\p{L}``,
    ``\p{Z}``, ``\p{N}`` (Unicode general categories), reads ``\u10000`` as U+1000 then ``0``, and its
    ``\w``, ``\d`` are Unicode where Java's are ASCII. The ``regex`` package reads ``\p``, but it is
    not a dependency, and enumerating the categories into explicit classes costs about 50 ms of cold
    start. So a pattern that is one class and a quantifier (every STS pattern but one, and every
    pattern of AssumeRole) becomes a :class:`_Charset` and a count, checked with sets and with
    ``unicodedata.category`` (this Python's Unicode version, which may lag the JVM's by a few
    recently assigned characters). Any other pattern becomes Python ``re`` text, compiled at first
    use; a ``\p`` item in one is widened to every non-ASCII character (``exact`` is False).
    """
    out: list[str] = []
    atoms: list[_Charset | None] = []  # a class, or None for any other atom
    counts: list[tuple[int, int | None]] = []
    i = 0
    while i < len(pattern):
        char, start = pattern[i], i
        if char == "[" or (char == "\\" and pattern[i + 1 : i + 2] in tuple("pdwsDWS")):
            charset, i = _class(pattern, i) if char == "[" else _escape(pattern, i)
            if not isinstance(charset, _Charset):  # pragma: no cover - those escapes are classes
                raise _UntranslatableError(pattern)
            atoms.append(charset)
            out.append(charset.regex())
        elif char == "\\":
            point, i = _escape(pattern, i)
            atoms.append(None)
            out.append(_code(point) if isinstance(point, int) else point.regex())
        elif char in "*+?{":
            count, i = _quantifier(pattern, i)
            counts.append(count)
            out.append(pattern[start:i])
        elif char == "(":
            if pattern.startswith("(?", i) and not pattern.startswith("(?:", i):
                raise _UntranslatableError("group constructs other than (?:")
            atoms.append(None)
            out.append("(?:" if pattern.startswith("(?:", i) else "(")
            i += len(out[-1])
        else:
            atoms.append(None)
            if char == ".":  # Java's dot excludes every line terminator, Python's only \n
                out.append("[^\\n\\r\\x85\\u2028\\u2029]")
            else:
                out.append(char if char in ")|^$" else _code(ord(char)))
            i += 1
    if len(atoms) == 1 and atoms[0] is not None and len(counts) <= 1:
        return {"pattern": pattern, "charset": atoms[0], "count": counts[0] if counts else (1, 1)}
    return {"pattern": pattern, "regex": "".join(out), "exact": "\\p" not in pattern}


class _Rule:
    """The constraints of one shape of the model, compiled.

    A plain class: a dataclass or a NamedTuple would cost 0.3-1.3 ms when this module is imported.
    """

    __slots__ = (
        *("charset", "count", "enum", "exact", "high", "kind", "low"),
        *("member", "members", "pattern", "regex", "required"),
    )

    def __init__(
        self,
        kind: str,  # string | integer | long | boolean | list | structure | other
        low: int | None = None,
        high: int | None = None,
        *,
        pattern: str | None = None,  # the model's text, for messages
        charset: _Charset | None = None,  # a pattern that is one class and a quantifier: the class
        count: tuple[int, int | None] = (0, None),  # and the quantifier's (min, max)
        regex: str | None = None,  # any other pattern, as Python re text
        exact: bool = True,  # False: the pattern is checked as a superset, or not at all
        enum: tuple[str, ...] = (),
        member: _Rule | None = None,
        members: Mapping[str, _Rule] | None = None,
        required: tuple[str, ...] = (),
    ) -> None:
        self.kind, self.low, self.high = kind, low, high
        self.pattern, self.charset, self.count, self.regex, self.exact = pattern, charset, count, regex, exact
        self.enum, self.member, self.required = enum, member, required
        self.members: Mapping[str, _Rule] = MappingProxyType({}) if members is None else members

    def _replace(self, **changes: Any) -> _Rule:
        """Return a copy with ``changes`` (as ``NamedTuple._replace``): for tests."""
        fields = {name: getattr(self, name) for name in self.__slots__}
        kind, low, high = (changes.pop(name, fields.pop(name)) for name in ("kind", "low", "high"))
        return _Rule(kind, low, high, **{**fields, **changes})

    def __repr__(self) -> str:
        return f"_Rule({self.kind!r}, {self.low!r}, {self.high!r}, pattern={self.pattern!r}, exact={self.exact!r})"


def _compile_shape(shapes: Mapping[str, Any], name: str, seen: tuple[str, ...] = ()) -> _Rule:
    shape = shapes[name]
    kind = shape.get("type", "other")
    low, high = shape.get("min"), shape.get("max")
    if kind == "string":
        fields: dict[str, Any] = {}
        if "pattern" in shape:
            try:
                fields = _compile_pattern(shape["pattern"])
            except _UntranslatableError:
                # Left to STS rather than refusing every value; the model test fails on it.
                fields = {"pattern": shape["pattern"], "exact": False}
        return _Rule("string", low, high, enum=tuple(shape.get("enum", ())), **fields)
    if kind in _INT_BITS:
        bits = _INT_BITS[kind] - 1
        return _Rule(kind, -(2**bits) if low is None else low, 2**bits - 1 if high is None else high)
    if kind == "list":
        member = shape["member"]["shape"]
        return _Rule("list", low, high, member=_compile_shape(shapes, member, (*seen, name)))
    if kind == "structure":
        if name in seen:  # a recursive shape: not in AssumeRoleRequest, and not followed
            return _Rule("other", exact=False)
        members = _MemberRules(shapes, {m: s["shape"] for m, s in shape["members"].items()}, (*seen, name))
        return _Rule("structure", members=members, required=tuple(shape.get("required", ())))
    if kind == "boolean":
        return _Rule("boolean")
    return _Rule("other", exact=False)  # botocore checks the types of the rest


class _MemberRules(Mapping[str, _Rule]):
    """A structure's members and their rules, each compiled when first looked up.

    An entry names two or three of AssumeRole's 15 parameters: compiling only those leaves most
    patterns (the tag and context ones with Unicode categories) untranslated at cold start. Read-only;
    two threads that look up one member at once may both compile it, to the same rule.
    """

    __slots__ = ("_compiled", "_names", "_seen", "_shapes")

    def __init__(self, shapes: Mapping[str, Any], names: Mapping[str, str], seen: tuple[str, ...]) -> None:
        self._shapes, self._names, self._seen = shapes, names, seen
        self._compiled: dict[str, _Rule] = {}

    def __getitem__(self, member: str) -> _Rule:
        rule = self._compiled.get(member)
        if rule is None:
            rule = self._compiled[member] = _compile_shape(self._shapes, self._names[member], self._seen)
        return rule

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def __contains__(self, member: object) -> bool:
        return member in self._names


@functools.cache
def _rules() -> _Rule:
    """Return the rules of the ``AssumeRoleRequest`` shape of the installed botocore's STS model.

    Read and compiled once, at first use. The model is read through the shared loader, which keeps
    it for the STS client: a client built later does not read it again, and one built before leaves
    only the compiling to do. ``functools.cache``
    holds it: the model is packaged data and never changes within a process, so neither a reset nor a
    fork need forget it.
    """
    from . import _state

    # Asked exactly as botocore's client creator asks (the loader's cache is keyed by the arguments'
    # form), so the STS client built next takes the model from the cache.
    model = _state.botocore_loader().load_service_model("sts", "service-2", api_version=None)
    name = model["operations"]["AssumeRole"]["input"]["shape"]
    return _compile_shape(model["shapes"], name)


# -- checking a value against a rule ---------------------------------------------------------------


@functools.cache
def _regex(text: str) -> re.Pattern[str] | None:
    """Compile a translated pattern at first use; None if this Python's ``re`` cannot (left to STS)."""
    try:
        return re.compile(text, re.ASCII)
    except re.error:
        return None


def _where_bad(rule: _Rule, value: str) -> int | None:
    """Return None when ``value`` matches the rule's pattern, else the index of a bad character (-1: unknown)."""
    if rule.charset is not None:
        bad = rule.charset.first_outside(value)
        if bad is not None:
            return bad
        low, high = rule.count
        return -1 if len(value) < low or (high is not None and len(value) > high) else None
    compiled = _regex(rule.regex) if rule.regex is not None else None
    return -1 if compiled is not None and compiled.fullmatch(value) is None else None


def _span(rule: _Rule, high: int | None) -> str:
    return f"{rule.low or 0}-{high}" if high is not None else f"at least {rule.low or 0}"


def _fits(rule: _Rule, size: int, high: int | None) -> bool:
    return (rule.low or 0) <= size and (high is None or size <= high)


def _string(rule: _Rule, value: Any, entry: str | None, field: str) -> str:
    if field == "ExternalId":
        # ExternalId is a shared secret of sorts: say what is wrong, never echo it, nor its length.
        if not isinstance(value, str) or not _fits(rule, len(value), rule.high) or _where_bad(rule, value) is not None:
            raise ConfigurationError(
                f"{_where(entry, field)} must be {_span(rule, rule.high)} characters matching {rule.pattern}"
            )
        return value
    if not isinstance(value, str):
        raise ConfigurationError(f"{_where(entry, field)} must be a string, got {type(value).__name__}")
    if not _fits(rule, len(value), rule.high):
        raise ConfigurationError(
            f"{_where(entry, field)} must be {_span(rule, rule.high)} characters long, got {len(value)}"
        )
    bad = _where_bad(rule, value)
    if bad is not None:
        if field in _SECRET:
            at = f" at position {bad}" if bad >= 0 else ""
            raise ConfigurationError(f"{_where(entry, field)} has a character outside STS's pattern {rule.pattern}{at}")
        char = f": {value[bad]!r} at position {bad} is not allowed" if bad >= 0 else ""
        raise ConfigurationError(
            f"{_where(entry, field)} must match STS's pattern {rule.pattern}, got {_shown(value)}{char}"
        )
    if rule.enum and value not in rule.enum:
        raise ConfigurationError(f"{_where(entry, field)} must be one of {', '.join(rule.enum)}, got {_shown(value)}")
    extra = _EXTRA_FORMAT.get(field)
    if extra is not None and not re.fullmatch(extra[0], value):
        raise ConfigurationError(f"{_where(entry, field)} must be {extra[1]}, got {_shown(value)}")
    return value


def _integer(rule: _Rule, value: Any, entry: str | None, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigurationError(f"{_where(entry, field)} must be an int, got {type(value).__name__}")
    if (rule.low is not None and value < rule.low) or (rule.high is not None and value > rule.high):
        raise ConfigurationError(f"{_where(entry, field)} must be in {rule.low}..{rule.high}, got {_shown(value)}")
    return value


def _items(rule: _Rule, value: Any, entry: str | None, field: str) -> list[Any]:
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, (list, tuple)):
        raise ConfigurationError(f"{_where(entry, field)} must be a list, got {type(value).__name__}")
    limits = [x for x in (rule.high, _EXTRA_MAX_ITEMS.get(field)) if x is not None]
    if limits and len(value) > min(limits):
        raise ConfigurationError(f"{_where(entry, field)} takes at most {min(limits)} items, got {len(value)}")
    if rule.low is not None and len(value) < rule.low:
        raise ConfigurationError(f"{_where(entry, field)} takes at least {rule.low} items, got {len(value)}")
    return list(value)


def _record(rule: _Rule, value: Any, entry: str | None, field: str) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise ConfigurationError(f"{_where(entry, field)} items must be mappings, got {type(value).__name__}")
    keys = tuple(rule.members)
    unknown = sorted(str(k) for k in value if k not in keys)
    if unknown:
        raise ConfigurationError(f"{_where(entry, field)} items take only {', '.join(keys)}; got {unknown}")
    required = (*rule.required, *(k for k in _EXTRA_REQUIRED.get(field, ()) if k not in rule.required))
    missing = [k for k in required if k not in value]
    if missing:
        raise ConfigurationError(f"{_where(entry, field)} items need {', '.join(missing)}")
    return {k: _checked(rule.members[k], value[k], entry, f"{field} {k}") for k in keys if k in value}


def _checked(rule: _Rule, value: Any, entry: str | None, field: str) -> Any:
    """Check ``value`` against ``rule``; return it normalised (lists and records as plain lists and dicts)."""
    if rule.kind == "string":
        return _string(rule, value, entry, field)
    if rule.kind in _INT_BITS:
        return _integer(rule, value, entry, field)
    if rule.kind == "boolean":
        if not isinstance(value, bool):
            raise ConfigurationError(f"{_where(entry, field)} must be a bool, got {type(value).__name__}")
        return value
    if rule.kind == "list" and rule.member is not None:
        member = rule.member
        return [_checked(member, item, entry, field) for item in _items(rule, value, entry, field)]
    if rule.kind == "structure":
        return _record(rule, value, entry, field)
    return value


class _NotJSONError(ValueError):
    pass


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise _NotJSONError("holds a number beyond the range of a double")
    return number


def _exact(text: str) -> int:
    number = int(text)
    if abs(number) > _POLICY_INT_MAX:
        raise _NotJSONError("holds an integer beyond +-(2**53 - 1), which a JSON parser reading doubles changes")
    return number


def _no_constant(text: str) -> Any:
    raise _NotJSONError(f"holds {text}, which JSON does not allow")


def _depth(text: str) -> int:
    """Return how deep the arrays and objects of the JSON ``text`` nest (strings skipped)."""
    if text.count("[") + text.count("{") <= _POLICY_MAX_DEPTH:
        return 0  # cannot be deeper: no need to scan
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            escaped, in_string = (False, True) if escaped else (char == "\\", char != '"')
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def _policy(rule: _Rule, value: Any, entry: str | None) -> str:
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
    high = _POLICY_MAX if rule.high is None else min(rule.high, _POLICY_MAX)
    if not _fits(rule, len(text), high):
        raise ConfigurationError(f"{where} must be {_span(rule, high)} characters long, got {len(text)}")
    _string(rule, text, entry, "Policy")
    if _depth(text) > _POLICY_MAX_DEPTH:
        raise ConfigurationError(f"{where} nests arrays and objects more than {_POLICY_MAX_DEPTH} deep")
    try:
        document = json.loads(text, parse_float=_finite, parse_int=_exact, parse_constant=_no_constant)
    except _NotJSONError as exc:
        raise ConfigurationError(f"{where} {exc}") from None
    except RecursionError:  # pragma: no cover - only with a stack within 64 frames of the limit
        raise ConfigurationError(f"{where} nests arrays and objects too deeply") from None
    except ValueError as exc:
        raise ConfigurationError(f"{where} is not valid JSON: {exc}") from None
    if not isinstance(document, dict):
        kinds = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
        kind = kinds.get(type(document), "a number")
        raise ConfigurationError(f"{where} must be a JSON object (a policy document), got {kind}")
    return text


def _tags(tags: list[dict[str, str]], entry: str | None) -> list[dict[str, str]]:
    seen: set[str] = set()
    for tag in tags:
        # STS compares tag keys case-insensitively and refuses duplicates.
        key = tag["Key"]
        if key.lower() in seen:
            raise ConfigurationError(f"{_where(entry, 'Tags')} has the key {key!r} more than once")
        seen.add(key.lower())
    return tags


def _unsupported(name: Any, entry: str | None, request: _Rule) -> None:
    if name in _MFA:
        raise ConfigurationError(
            f"{_where(entry, str(name))} is not supported: an MFA token code is valid for one use and "
            "cannot be refreshed unattended, so credentials that need it cannot be cached or refreshed"
        )
    accepted = ", ".join(ASSUME_ROLE_PARAMETERS)
    if name not in ASSUME_ROLE_PARAMETERS and name in request.members:
        raise ConfigurationError(
            f"{_where(entry, repr(name))} is an AssumeRole parameter that powertools_sts does not support; "
            f"accepted: {accepted}"
        )
    if name not in ASSUME_ROLE_PARAMETERS:
        raise ConfigurationError(f"{_where(entry, repr(name))} is not an AssumeRole parameter; accepted: {accepted}")
    import botocore

    raise ConfigurationError(
        f"{_where(entry, str(name))} is not in the STS model of the installed botocore {botocore.__version__}; "
        "a newer boto3 supports it"
    )


def validate_assume_role_params(params: Any, *, entry: str | None = None) -> dict[str, Any]:
    """Check AssumeRole parameters against STS's service model and rules, and return them normalised.

    Every constraint of the ``AssumeRoleRequest`` shape of the installed botocore's STS model is
    checked (patterns, lengths, item counts, ranges, nested members), plus the rules the model cannot
    state (see the module's documentation). ``Policy`` given as a dict is serialised to compact JSON;
    list parameters become lists of plain dicts. ``RoleArn`` is required; ``RoleSessionName``, which
    the model requires, is supplied by the package when absent. The first call reads the model.

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
    >>> validate_assume_role_params({"RoleArn": "arn:aws:iam::111122223333:role/r", "Policy": "42"})
    Traceback (most recent call last):
    powertools_sts.exceptions.ConfigurationError: Policy must be a JSON object (a policy document), got a number
    """
    if not isinstance(params, Mapping):
        where = f"entry {entry!r}" if entry is not None else "AssumeRole parameters"
        raise ConfigurationError(
            f"{where} must be a mapping of AssumeRole parameters or a RoleArn string, got {type(params).__name__}"
        )
    request = _rules()
    for name in params:
        if name not in ASSUME_ROLE_PARAMETERS or name not in request.members:
            _unsupported(name, entry, request)
    if "RoleArn" not in params:
        raise ConfigurationError(f"{_where(entry, 'RoleArn')} is required")
    out: dict[str, Any] = {}
    for name, value in params.items():
        rule = request.members[name]
        if name == "Policy":
            out[name] = _policy(rule, value, entry)
        elif name == "Tags":
            out[name] = _tags(_checked(rule, value, entry, name), entry)
        else:
            out[name] = _checked(rule, value, entry, name)
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
