"""Secrets: no secret access key or session token in any log record, exception message or repr.

Every logger at DEBUG (``powertools_sts``, ``botocore`` with its "Response body" records, ``urllib3``,
Powertools' own package logger) writes into one capturing handler, and a real Powertools ``Logger``
(JSON, with ``inject_lambda_context`` around the ``sts`` handler) writes into a buffer. Through the
fault proxy, so that every (key, secret, token) moto issues is known, the run fetches, hits the cache,
refreshes, serves stale credentials through an outage, fails below the floor, meets a truncated body
that holds the secret, a reset mid-response, a denied call, and recovers; the handler logs its
credentials, its Lambda context (with ``set_to_context``), and every exception with its traceback.
Then no secret or token of any issued credentials may appear in anything captured.

A control run first shows the capture would see a leak: without the package's filter, botocore's DEBUG
record of the response body holds the secret.
"""

from __future__ import annotations

import io
import logging
import traceback
from collections.abc import Iterator
from typing import Any

import pytest
from aws_lambda_powertools import Logger

from powertools_sts import AssumeRoleError, STSProvider, get_client, get_credentials, get_session, sts
from powertools_sts.redaction import MASK, SecretsFilter

from ..conftest import OTHER_ROLE, ROLE
from .helpers import fast_config, lambda_context, secrets_of
from .proxy import FaultProxy

LOGGERS = ("powertools_sts", "botocore", "urllib3", "boto3", "aws_lambda_powertools")


class Capture(logging.Handler):
    """Keeps every record, formatted with its traceback (chained causes included)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self.texts: list[str] = []
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        self.texts.append(self.format(record))


@pytest.fixture
def capture() -> Iterator[Capture]:
    handler = Capture()
    root = logging.getLogger()
    saved = {name: logging.getLogger(name).level for name in (*LOGGERS, "")}
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    # Powertools' package logger does not propagate: it gets the handler itself.
    logging.getLogger("aws_lambda_powertools").addHandler(handler)
    for name in LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        logging.getLogger("aws_lambda_powertools").removeHandler(handler)
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)


def _leaks(secrets: list[str], texts: list[str]) -> list[str]:
    return [f"{secret[:6]}... in {text[:160]!r}" for text in texts for secret in secrets if secret in text]


def _exception_texts(exc: BaseException) -> list[str]:
    return [str(exc), repr(exc), "".join(traceback.format_exception(exc))]


@pytest.mark.leaks_on_purpose
def test_the_capture_sees_a_leak_without_the_filter(proxy: FaultProxy, moto_sts, capture: Capture, monkeypatch) -> None:
    """The control: botocore at DEBUG really logs the secrets when the package's filter is off."""
    from powertools_sts import redaction

    redaction.install()
    parsers = logging.getLogger("botocore.parsers")
    filters = [f for f in parsers.filters if isinstance(f, SecretsFilter)]
    assert filters, "the package installs its filter on botocore.parsers"
    for found in filters:
        parsers.removeFilter(found)
    monkeypatch.setattr(redaction, "install", lambda: None)  # the new STS client would put it back
    try:
        STSProvider(boto_config=fast_config()).get(ROLE)
    finally:
        for found in filters:
            parsers.addFilter(found)
    secrets = secrets_of(proxy.issued)
    assert len(secrets) == 2
    assert len(_leaks(secrets, capture.texts)) >= 2


def test_no_secret_anywhere(proxy: FaultProxy, moto_sts, capture: Capture, clock) -> None:
    clock.time = float(int(clock.time))
    proxy.clock = clock
    buffer = io.StringIO()
    handler_out = logging.StreamHandler(buffer)
    logger = Logger(service="secrets-test", level="DEBUG", logger_handler=handler_out)
    exceptions: list[BaseException] = []

    @logger.inject_lambda_context(log_event=True)
    @sts(
        fetch_data={"reports": ROLE, "audit": {"RoleArn": OTHER_ROLE, "ExternalId": "partner-1234"}},
        boto_config=fast_config(),
        set_to_context=True,
    )
    def handler(event: dict[str, Any], context: Any) -> str:
        creds = get_credentials("reports")
        logger.info("credentials", extra={"credentials": creds, "context": vars(context)})
        logger.debug("credentials %s / %r", creds, creds)
        client = get_client("audit", "s3")
        logger.debug("client", extra={"client": repr(client), "session": repr(get_session("reports"))})
        return creds.access_key_id

    def invoke() -> None:
        try:
            handler({"path": "/orders"}, lambda_context())
        except AssumeRoleError as exc:
            logger.exception("invocation failed")
            exceptions.append(exc)

    provider = STSProvider(boto_config=fast_config())

    def direct(**options: Any) -> None:
        try:
            creds = provider.get(ROLE, RoleSessionName="secrets-direct", **options)
            logger.info("direct", extra={"credentials": creds})
        except AssumeRoleError as exc:
            logger.exception("direct call failed")
            exceptions.append(exc)

    # Fetch (and the decorator's prefetch), cache hits, force_fetch.
    for _ in range(3):
        invoke()
        direct()
    direct(force_fetch=True)
    # Into the refresh window: one refresh, then an outage of several kinds, served stale with warnings.
    clock.advance(3600 - 200)
    invoke()
    direct()
    clock.advance(3600 - 200)
    for mode, params in (("truncated", {}), ("truncated", {"at": "SecretAccessKey", "cut": 20}), ("reset", {})):
        proxy.set_mode(mode, **params)
        invoke()
        direct()
        clock.advance(10)
    proxy.set_mode("denied")
    invoke()
    direct()
    # Down to the floor: failures, with tracebacks logged.
    clock.advance(200)
    proxy.set_mode("truncated")
    invoke()
    direct()
    proxy.set_mode("http503")
    invoke()
    direct()
    # Failed first fetches, recovery.
    provider.clear_cache()
    direct()
    proxy.set_mode("pass")
    invoke()
    direct()

    secrets = secrets_of(proxy.issued)
    texts = capture.texts + buffer.getvalue().splitlines()
    for exc in exceptions:
        texts += _exception_texts(exc)
    assert len(proxy.issued) >= 8  # what moto issued: fetches, refreshes and the broken answers' credentials
    assert len(exceptions) == 5  # below the floor: 2 x (handler, provider); a failed first fetch
    assert any(r.levelno == logging.WARNING and r.name == "powertools_sts" for r in capture.records)
    bodies = [r.getMessage() for r in capture.records if r.name == "botocore.parsers" and "Response body" in r.msg]
    assert len(bodies) >= len(proxy.issued)
    assert _leaks(secrets, texts) == []
    print(
        f"\nsecrets: {len(proxy.issued)} credentials issued, {len(capture.records)} log records, "
        f"{len(buffer.getvalue().splitlines())} Powertools Logger lines, {len(exceptions)} exceptions: "
        f"{len(_leaks(secrets, texts))} secrets found"
    )


def test_botocore_response_bodies_show_the_mask(proxy: FaultProxy, moto_sts, capture: Capture) -> None:
    creds = STSProvider(boto_config=fast_config()).get(ROLE)
    bodies = [r.getMessage() for r in capture.records if r.name == "botocore.parsers" and "Response body" in r.msg]
    assert len(bodies) == 1
    body = bodies[0]
    assert f"<SecretAccessKey>{MASK}</SecretAccessKey>" in body
    assert f"<SessionToken>{MASK}</SessionToken>" in body
    assert f"<AccessKeyId>{creds.access_key_id}</AccessKeyId>" in body  # everything else is left alone
    assert creds.secret_access_key not in body
    assert creds.session_token not in body


@pytest.mark.parametrize(("at", "cut"), [("SecretAccessKey", 20), ("SessionToken", 100), ("SessionToken", 0)])
def test_a_truncated_body_is_masked_too(at: str, cut: int, proxy: FaultProxy, moto_sts, capture: Capture) -> None:
    """A body cut inside a secret: the part that arrived is masked in the log and in the error."""
    proxy.set_mode("truncated", at=at, cut=cut)
    with pytest.raises(AssumeRoleError) as caught:
        STSProvider(boto_config=fast_config()).get(ROLE)
    ((secret, token),) = proxy.issued.values()
    partial = (secret if at == "SecretAccessKey" else token)[:cut]
    texts = capture.texts + _exception_texts(caught.value)
    assert any(f"<{at}>{MASK}" in text for text in texts)
    if partial:
        assert not any(partial in text for text in texts)
    assert _leaks([secret, token], texts) == []


def test_a_record_without_secrets_is_left_unchanged(capture: Capture) -> None:
    parsers = logging.getLogger("botocore.parsers")
    body = (
        b'<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult>'
        b"<Arn>arn:aws:iam::111122223333:user/u</Arn><UserId>AIDA</UserId><Account>111122223333</Account>"
        b"</GetCallerIdentityResult></GetCallerIdentityResponse>"
    )
    parsers.debug("Response body:\n%r", body)
    parsers.debug("SessionToken expired for %s", "the caller")  # the word alone is no secret
    parsers.debug({"SecretAccessKey": "not-a-body-record"})  # a non-string msg passes through
    first, second, third = capture.records[-3:]
    assert first.args == (body,)
    assert first.getMessage() == f"Response body:\n{body!r}"
    assert second.getMessage() == "SessionToken expired for the caller"
    assert third.msg == {"SecretAccessKey": "not-a-body-record"}


# Found by this suite: a request signed with an entry's credentials carries the session token in its
# X-Amz-Security-Token header, which botocore logs at DEBUG (botocore.endpoint "Sending http request",
# botocore.auth "CanonicalRequest"); the filter masks those too since 2a47432.


def _token_records(capture: Capture, token: str) -> list[str]:
    return sorted({r.name for r, text in zip(capture.records, capture.texts) if token in text})


def test_a_client_of_an_entry_does_not_log_its_session_token(moto_sts, capture: Capture) -> None:
    @sts(fetch_data={"reports": ROLE}, boto_config=fast_config(), disable_prefetch=True)
    def handler(event: dict[str, Any], context: Any) -> Any:
        get_client("reports", "s3", endpoint_url=moto_sts.url).list_buckets()  # moto serves S3 too
        return get_credentials("reports")

    creds = handler({}, lambda_context())
    assert _token_records(capture, creds.session_token) == []


def test_a_chained_assume_role_does_not_log_the_hub_token(moto_sts, capture: Capture) -> None:
    @sts(fetch_data={"hub": ROLE}, boto_config=fast_config(), disable_prefetch=True)
    @sts(fetch_data={"target": OTHER_ROLE}, aws_client_assume_role="hub", boto_config=fast_config())
    def handler(event: dict[str, Any], context: Any) -> Any:
        return get_credentials("hub"), get_credentials("target")

    hub, target = handler({}, lambda_context())
    assert moto_sts.assume_role_calls == 2
    assert target.access_key_id != hub.access_key_id
    assert _token_records(capture, hub.session_token) == []


# -- ExternalId -------------------------------------------------------------------------------------------
# Found by this test: botocore.endpoint's "Making request for OperationModel(name=AssumeRole) with params"
# record holds the request dict, ExternalId included (one record per AssumeRole call, retries or not).
# Searched for in every record of every logger: that record is the only one that holds it.

EXTERNAL_ID = "partner-external-id-42"


@pytest.fixture
def every_logger(capture: Capture) -> Iterator[Capture]:
    """Every logger that exists (moto's werkzeug, urllib3, botocore's each) at DEBUG, into ``capture``."""
    loggers = [logger for logger in logging.Logger.manager.loggerDict.values() if isinstance(logger, logging.Logger)]
    saved = [(logger, logger.level) for logger in loggers]
    apart = [logger for logger in loggers if not logger.propagate and capture not in logger.handlers]
    for logger in loggers:
        logger.setLevel(logging.DEBUG)
    for logger in apart:
        logger.addHandler(capture)
    try:
        yield capture
    finally:
        for logger in apart:
            logger.removeHandler(capture)
        for logger, level in saved:
            logger.setLevel(level)


def _record_texts(capture: Capture) -> list[tuple[str, str]]:
    """(logger, text) for each record: its formatted message and traceback, its msg and its args."""
    return [
        (record.name, part)
        for record, text in zip(capture.records, capture.texts)
        for part in (text, repr(record.msg), repr(record.args))
    ]


def test_the_external_id_is_in_no_log_record(proxy: FaultProxy, moto_sts, every_logger: Capture) -> None:
    provider = STSProvider(boto_config=fast_config())
    provider.get(ROLE, ExternalId=EXTERNAL_ID)
    proxy.set_mode("denied")  # an error answer, and its records, too
    with pytest.raises(AssumeRoleError) as caught:
        provider.get(ROLE, ExternalId=EXTERNAL_ID, force_fetch=True)
    proxy.set_mode("pass")

    @sts(fetch_data={"audit": {"RoleArn": OTHER_ROLE, "ExternalId": EXTERNAL_ID}}, boto_config=fast_config())
    def handler(event: dict[str, Any], context: Any) -> Any:
        return get_client("audit", "sts", endpoint_url=moto_sts.url).get_caller_identity()

    assert "assumed-role/audit/" in handler({}, lambda_context())["Arn"]

    texts = _record_texts(every_logger)
    assert [(name, text[:200]) for name, text in texts if EXTERNAL_ID in text] == []
    assert EXTERNAL_ID not in "".join(_exception_texts(caught.value))
    # The records were there, masked: one "Making request" per AssumeRole sent (the prefetch at decoration).
    masked = [text for name, text in texts if name == "botocore.endpoint" and f"'ExternalId': '{MASK}'" in text]
    assert len(masked) >= 3
    assert proxy.counts["pass"] + proxy.counts["denied"] >= 3


@pytest.mark.parametrize(
    ("logged", "shown"),
    [
        ({"body": {"Action": "AssumeRole", "ExternalId": EXTERNAL_ID}}, "'ExternalId': '***'"),
        (f'{{"ExternalId": "{EXTERNAL_ID}", "RoleArn": "{ROLE}"}}', '"ExternalId": "***"'),
        (f"Action=AssumeRole&ExternalId={EXTERNAL_ID}&RoleArn=x", "&ExternalId=***&RoleArn=x"),
        (f"Action=AssumeRole&ExternalId={EXTERNAL_ID}".encode(), "&ExternalId=***'"),
        (f"<ExternalId>{EXTERNAL_ID}</ExternalId>", "<ExternalId>***</ExternalId>"),
        (f"{{'ExternalId': '{EXTERNAL_ID[:9]}", "'ExternalId': '***"),  # cut off in the middle
    ],
    ids=["dict", "json", "form", "form-bytes", "xml", "cut-off"],
)
def test_the_external_id_is_masked_in_every_form(logged: Any, shown: str, capture: Capture) -> None:
    logging.getLogger("botocore.endpoint").debug("Making request for %s with params: %s", "AssumeRole", logged)
    message = capture.records[-1].getMessage()
    assert shown in message
    assert EXTERNAL_ID[:9] not in message


def test_around_an_external_id_nothing_is_masked(capture: Capture) -> None:
    """A policy, tags and the role are no secrets: they stay readable beside a masked ExternalId."""
    policy = '{"Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}'
    params = {"RoleArn": ROLE, "ExternalId": EXTERNAL_ID, "Policy": policy, "Tags": [{"Key": "team", "Value": "red"}]}
    # As botocore.endpoint logs it: two arguments, the second the request dict.
    logging.getLogger("botocore.endpoint").debug(
        "Making request for %s with params: %s", "AssumeRole", {"body": params}
    )
    message = capture.records[-1].getMessage()
    assert message == "Making request for AssumeRole with params: " + str({"body": {**params, "ExternalId": MASK}})
