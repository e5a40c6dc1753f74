"""Exceptions raised by powertools-sts."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

__all__ = ["AssumeRoleError", "ConfigurationError", "SharedBackoffError", "TenantError", "copy_error"]


class ConfigurationError(ValueError):
    """An invalid option or AssumeRole parameter, raised before any STS call.

    Example
    -------
    >>> from powertools_sts import STSProvider, ConfigurationError
    >>> try:
    ...     STSProvider(refresh_margin=-1)
    ... except ConfigurationError as exc:
    ...     print(exc)
    refresh_margin must be a number of seconds >= 0, at most 43200, got -1
    """


class TenantError(ConfigurationError):
    """An invocation of a layer with per-tenant entries that cannot be served for its tenant, with no STS call.

    It has no tenant, its tenant id is one STS would refuse where the entry puts it, or a client of
    one tenant was used inside an invocation of another.

    Example
    -------
    >>> from powertools_sts import TenantError, ConfigurationError
    >>> issubclass(TenantError, ConfigurationError)
    True
    """


class AssumeRoleError(GetParameterError):
    """STS AssumeRole (or GetScopedCredentials) failed, or answered with credentials that cannot be used.

    A Powertools ``GetParameterError``, so code that handles parameter failures handles this one too.

    Parameters
    ----------
    message:
        What went wrong, naming the entry and the role, never a secret.
    role_arn:
        The role that could not be assumed (the first one, when several entries failed); None for
        GetScopedCredentials, which assumes no role.
    code:
        The STS error code (``AccessDenied``, ``Throttling`` ...), or None (a timeout, a malformed response).
    entry:
        The name of the ``sts`` entry, when the failure happened for one.
    failures:
        When several entries of an invocation failed: entry name to its own error.

    Example
    -------
    >>> from powertools_sts import AssumeRoleError
    >>> err = AssumeRoleError("denied", role_arn="arn:aws:iam::111122223333:role/r", code="AccessDenied")
    >>> (err.code, err.role_arn)
    ('AccessDenied', 'arn:aws:iam::111122223333:role/r')
    """

    def __init__(
        self,
        message: str,
        *,
        role_arn: str | None = None,
        code: str | None = None,
        entry: str | None = None,
        failures: dict[str, AssumeRoleError] | None = None,
    ) -> None:
        super().__init__(message)
        self.role_arn = role_arn
        self.code = code
        self.entry = entry
        self.failures: dict[str, AssumeRoleError] = dict(failures or {})

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only fields are not in args: without this, unpickling (multiprocessing) would fail.
        return (_rebuild, (str(self), self.role_arn, self.code, self.entry, self.failures))


def _rebuild(
    message: str, role_arn: str | None, code: str | None, entry: str | None, failures: dict[str, AssumeRoleError]
) -> AssumeRoleError:
    return AssumeRoleError(message, role_arn=role_arn, code=code, entry=entry, failures=failures)


class SharedBackoffError(AssumeRoleError):
    """Another process of this environment failed to assume the role ``age`` seconds ago; no call was made.

    The back-off is shared through the ``/tmp`` cache, so that N processes do not each retry a throttled call.

    Example
    -------
    >>> err = SharedBackoffError("failed 2 s ago", role_arn="arn:aws:iam::111122223333:role/r", code="Throttling", age=2.0)
    >>> (isinstance(err, AssumeRoleError), err.code, err.age)
    (True, 'Throttling', 2.0)
    """

    def __init__(self, message: str, *, role_arn: str | None = None, code: str | None = None, age: float = 0.0) -> None:
        super().__init__(message, role_arn=role_arn, code=code)
        self.age = age

    def __reduce__(self) -> tuple[Any, ...]:
        # The base class rebuilds an AssumeRoleError: keep the subclass and the age through pickling.
        return (_rebuild_backoff, (str(self), self.role_arn, self.code, self.age))


def _rebuild_backoff(message: str, role_arn: str | None, code: str | None, age: float) -> SharedBackoffError:
    return SharedBackoffError(message, role_arn=role_arn, code=code, age=age)


def copy_error(error: AssumeRoleError) -> AssumeRoleError:
    """Return a new AssumeRoleError like ``error``, chained to it, for each waiter of a failed fetch to raise.

    One exception object raised in several threads would grow one traceback with every raise.

    Example
    -------
    >>> original = AssumeRoleError("denied", role_arn="arn:aws:iam::111122223333:role/r", code="AccessDenied")
    >>> copy = copy_error(original)
    >>> (copy is original, copy.__cause__ is original, copy.code, str(copy))
    (False, True, 'AccessDenied', 'denied')
    """
    copy = _rebuild(str(error), error.role_arn, error.code, error.entry, error.failures)
    copy.__cause__ = error
    return copy
