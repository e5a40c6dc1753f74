"""Masking of credentials in botocore's DEBUG logs.

At DEBUG botocore logs AssumeRole's response body (the secret and the session token), the signed
requests (an ``X-Amz-Security-Token`` this package handed out) and each call's parameters (an
``ExternalId``): turning on boto debugging would copy them into CloudWatch. The filter masks those
values, whatever their form, and leaves everything else alone.
"""

from __future__ import annotations

import contextlib
import logging
import re
from typing import Any

__all__ = ["LOGGERS", "MASK", "SecretsFilter", "install", "mask_exception"]

#: What a masked value is replaced with.
MASK = "***"

# No closing tag or quote is required: a truncated body is masked too. Compiled on first use (re caches
# them): most processes never log a body, and import time is cold start.
_XML = rb"(<(?:SecretAccessKey|SessionToken|ExternalId)>)[^<]*"
_JSON = rb'("(?:SecretAccessKey|SessionToken)"\s*:\s*")(?:[^"\\]|\\.)*'
# X-Amz-Security-Token as a header, a canonical-request line or a query parameter.
_TOKEN = rb"""(?i)(x-amz-security-token['"]?\s*[:=]\s*(?:b?['"])?)[^'"\s,&}]+"""
# ExternalId in a dict repr or JSON (up to the quote it opened with), or as a form or query parameter:
# botocore logs only the dict today, the others should a version log a body. Case-sensitive, as the API
# spells it; validated before any call, so no STS message (which spells it "externalId") quotes one.
_EXTERNAL_ID_QUOTED = rb"""(ExternalId['"]\s*:\s*b?(['"]))(?:(?!\2)[^\\]|\\.)*"""
_EXTERNAL_ID_FORM = rb"""(ExternalId=)[^&'"\s]*"""
_MARKERS = ("SecretAccessKey", "SessionToken", "ecurity-token", "ecurity-Token", "ExternalId")
_MASK = MASK.encode()


def _mask(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        masked = re.sub(_XML, rb"\1" + _MASK, bytes(value))
        masked = re.sub(_JSON, rb"\1" + _MASK, masked)
        if b"ExternalId" in masked:  # only AssumeRole requests: every other record skips two passes
            masked = re.sub(_EXTERNAL_ID_QUOTED, rb"\1" + _MASK, masked)
            masked = re.sub(_EXTERNAL_ID_FORM, rb"\1" + _MASK, masked)
        return re.sub(_TOKEN, rb"\1" + _MASK, masked)
    if isinstance(value, str):
        if any(marker in value for marker in _MARKERS):
            return _mask(value.encode("utf-8", "surrogateescape")).decode("utf-8", "surrogateescape")
        return value
    if value is None or isinstance(value, (int, float)):
        return value
    # An object formatted into the message (an AWSPreparedRequest): only its text reaches the log.
    text = str(value)
    if not any(marker in text for marker in _MARKERS):
        return value
    masked = _mask(text)
    return masked if masked != text else value


class SecretsFilter(logging.Filter):
    """A logging filter that masks the secret, the session token and ``ExternalId`` in a record.

    Example
    -------
    >>> body = (b"<SessionToken>t</SessionToken>",)
    >>> record = logging.LogRecord("botocore.parsers", 10, "", 0, "Response body: %r", body, None)
    >>> SecretsFilter().filter(record) and record.getMessage()
    "Response body: b'<SessionToken>***</SessionToken>'"
    >>> params = ("AssumeRole", {"body": {"RoleArn": "arn:aws:iam::111122223333:role/r", "ExternalId": "x-1234"}})
    >>> record = logging.LogRecord("botocore.endpoint", 10, "", 0, "Making request for %s with params: %s", params, None)
    >>> SecretsFilter().filter(record) and record.getMessage()
    "Making request for AssumeRole with params: {'body': {'RoleArn': 'arn:aws:iam::111122223333:role/r', 'ExternalId': '***'}}"
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Mask the secrets in ``record`` in place and let it through."""
        if isinstance(record.args, tuple):
            record.args = tuple(_mask(arg) for arg in record.args)
        elif isinstance(record.args, dict):
            record.args = {key: _mask(arg) for key, arg in record.args.items()}
        record.msg = _mask(record.msg)
        return True


#: The botocore loggers that print these values at DEBUG, and the only ones (tests/reliability/test_secrets.py).
LOGGERS = ("botocore.parsers", "botocore.endpoint", "botocore.auth")


def install() -> None:
    """Put the filter on each of :data:`LOGGERS`, once: it runs only for the records they emit, at DEBUG.

    Example
    -------
    >>> install()
    >>> any(isinstance(f, SecretsFilter) for f in logging.getLogger("botocore.parsers").filters)
    True
    """
    for name in LOGGERS:
        target = logging.getLogger(name)
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
