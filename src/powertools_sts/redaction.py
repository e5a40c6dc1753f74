"""Masking of credentials in botocore's DEBUG logs.

botocore logs every response body at DEBUG (``botocore.parsers``: "Response body"), and an
AssumeRole response body holds the SecretAccessKey and SessionToken. It also logs every request it
signs (``botocore.endpoint``: "Sending http request", ``botocore.auth``: "CanonicalRequest"), with
the session token of the signing credentials in the ``X-Amz-Security-Token`` header: for a client of
``get_client`` or a chained AssumeRole, a token this package handed out. And it logs the parameters of
every call before it sends it (``botocore.endpoint``: "Making request ... with params"), an
AssumeRole's ``ExternalId`` among them. A user who turns on boto debugging to chase an STS problem
would copy live credentials, and the shared secret of a third-party role, into CloudWatch. The filter
masks those values, in XML, JSON, dict, form, header and canonical-request form, and leaves
everything else alone.
"""

from __future__ import annotations

import contextlib
import logging
import re
from typing import Any

__all__ = ["LOGGERS", "MASK", "SecretsFilter", "install", "mask_exception"]

#: What a masked value is replaced with.
MASK = "***"

# The closing tag or quote is not required: a truncated body must be masked too. The patterns are
# compiled on first use (re caches them): most processes never log a body, and import time is cold start.
_XML = rb"(<(?:SecretAccessKey|SessionToken|ExternalId)>)[^<]*"
_JSON = rb'("(?:SecretAccessKey|SessionToken)"\s*:\s*")(?:[^"\\]|\\.)*'
# X-Amz-Security-Token as a header ({'X-Amz-Security-Token': b'...'}), a canonical-request line
# (x-amz-security-token:...) or a query parameter (X-Amz-Security-Token=...).
_TOKEN = rb"""(?i)(x-amz-security-token['"]?\s*[:=]\s*(?:b?['"])?)[^'"\s,&}]+"""
# ExternalId as the key of a dict repr or of JSON ('ExternalId': '...', up to the quote it opened
# with) or as a form-encoded or query parameter (ExternalId=...&); as an XML element, in _XML. botocore
# logs only the dict today (the params of "Making request"); the others are the forms the same value
# takes in a request body, a query string or a SigV2 string to sign, should a botocore version log one.
# Case-sensitive, as the API spells the parameter: the package validates the value before any call,
# so no STS validation message (which spells it "externalId") ever quotes one.
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
    # An object botocore formats into the message (an AWSPreparedRequest and its headers): only its
    # text reaches the log, so a text with a token in it stands in for it.
    text = str(value)
    if not any(marker in text for marker in _MARKERS):
        return value
    masked = _mask(text)
    return masked if masked != text else value


class SecretsFilter(logging.Filter):
    """A logging filter that masks ``SecretAccessKey``, ``SessionToken``, ``X-Amz-Security-Token`` and ``ExternalId`` values in a record.

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


#: The botocore loggers that print response bodies, signed requests or a call's parameters at DEBUG: with
#: every logger at DEBUG, no other one holds any of the values masked here (tests/reliability/test_secrets.py).
LOGGERS = ("botocore.parsers", "botocore.endpoint", "botocore.auth")


def install() -> None:
    """Put the filter on each of :data:`LOGGERS`, once.

    A logger runs its filters only for records it is enabled to emit, so with botocore at its usual
    level the filter costs nothing.

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
