"""Masking of STS secrets in botocore's DEBUG log of response bodies.

botocore logs every response body at DEBUG (``botocore.parsers``: "Response body"), and an
AssumeRole response body holds the SecretAccessKey and SessionToken. A user who turns on boto
debugging to chase an STS problem would copy live credentials into CloudWatch. The filter masks
those two elements, in XML and JSON bodies alike, and leaves every other byte of the record alone.
"""

from __future__ import annotations

import contextlib
import logging
import re
from typing import Any

__all__ = ["MASK", "SecretsFilter", "install", "mask_exception"]

#: What a masked value is replaced with.
MASK = "***"

# The closing tag or quote is not required: a truncated body must be masked too. The patterns are
# compiled on first use (re caches them): most processes never log a body, and import time is cold start.
_XML = rb"(<(?:SecretAccessKey|SessionToken)>)[^<]*"
_JSON = rb'("(?:SecretAccessKey|SessionToken)"\s*:\s*")(?:[^"\\]|\\.)*'
_MASK = MASK.encode()


def _mask(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        masked = re.sub(_XML, rb"\1" + _MASK, bytes(value))
        return re.sub(_JSON, rb"\1" + _MASK, masked)
    if isinstance(value, str) and ("SecretAccessKey" in value or "SessionToken" in value):
        return _mask(value.encode("utf-8", "surrogateescape")).decode("utf-8", "surrogateescape")
    return value


class SecretsFilter(logging.Filter):
    """A logging filter that masks ``SecretAccessKey`` and ``SessionToken`` values in a record.

    Example
    -------
    >>> body = (b"<SessionToken>t</SessionToken>",)
    >>> record = logging.LogRecord("botocore.parsers", 10, "", 0, "Response body: %r", body, None)
    >>> SecretsFilter().filter(record) and record.getMessage()
    "Response body: b'<SessionToken>***</SessionToken>'"
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Mask the secrets in ``record`` in place and let it through."""
        if isinstance(record.args, tuple):
            record.args = tuple(_mask(arg) for arg in record.args)
        elif isinstance(record.args, dict):
            record.args = {key: _mask(arg) for key, arg in record.args.items()}
        record.msg = _mask(record.msg)
        return True


def install() -> None:
    """Put the filter on the ``botocore.parsers`` logger, once.

    Example
    -------
    >>> install()
    >>> any(isinstance(f, SecretsFilter) for f in logging.getLogger("botocore.parsers").filters)
    True
    """
    target = logging.getLogger("botocore.parsers")
    if not any(isinstance(existing, SecretsFilter) for existing in target.filters):
        target.addFilter(SecretsFilter())


def mask_exception(exc: BaseException) -> None:
    """Mask the secrets in the messages of ``exc`` and of the exceptions chained to it, in place.

    Example
    -------
    >>> err = ValueError("invalid XML: <SessionToken>tok")
    >>> mask_exception(err); str(err)
    'invalid XML: <SessionToken>***'
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        current.args = tuple(_mask(arg) for arg in current.args)
        for name in ("msg", "message"):
            value = getattr(current, name, None)
            if isinstance(value, str):
                with contextlib.suppress(AttributeError):  # a read-only property
                    setattr(current, name, _mask(value))
        current = current.__cause__ or current.__context__
