"""The Credentials value: frozen, with a repr that never shows a secret."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

__all__ = ["Credentials"]

#: What ``str(Credentials)`` says, and so what a Durable Functions step that returns one is told.
_NEVER_CHECKPOINTED = (
    "powertools_sts.Credentials, which is never checkpointed (the checkpoint would keep its secret): have the step "
    "return what you fetched with the credentials instead, and call get_credentials(name) again in the step that "
    "needs them"
)


class _NeverCheckpointed(type):
    # The Durable Execution SDK (aws-durable-execution-sdk-python 3.0) checkpoints a step's result with
    # its own encoder, which calls nothing on an object it does not know: it refuses it with
    # f"Unsupported type: {type(obj)}", which formats the class with str(). So the class's str says what
    # to do (tests/integration/test_durable.py fails if the SDK words it otherwise); its repr is type's.
    def __str__(cls) -> str:
        return _NEVER_CHECKPOINTED


# eq=False, with __eq__ and __hash__ written out: dataclasses builds its methods with exec, at cold start.
@dataclass(frozen=True, repr=False, eq=False)
class Credentials(metaclass=_NeverCheckpointed):
    """Temporary credentials of an assumed role: frozen, so the key, secret and token always belong together.

    ``repr()`` and ``str()`` show the access key id (CloudTrail records it), the expiry and the role, never a secret.
    A Durable Functions step that returns one fails with a message that says what to return instead.

    Parameters
    ----------
    access_key_id:
        ``AccessKeyId`` of the AssumeRole response.
    secret_access_key, session_token:
        ``SecretAccessKey`` and ``SessionToken``; kept out of repr, str and logs.
    expiration:
        ``Expiration`` as a timezone-aware UTC datetime.
    assumed_role_arn:
        ``AssumedRoleUser.Arn`` of the response, or None.

    Example
    -------
    >>> from datetime import datetime, timezone
    >>> creds = Credentials("ASIAEXAMPLE", "secret", "token", datetime(2030, 1, 1, tzinfo=timezone.utc))
    >>> creds
    Credentials(access_key_id='ASIAEXAMPLE', expiration='2030-01-01T00:00:00+00:00', assumed_role_arn=None)
    >>> sorted(creds.as_boto3_kwargs())
    ['aws_access_key_id', 'aws_secret_access_key', 'aws_session_token']
    """

    access_key_id: str
    secret_access_key: str
    session_token: str
    expiration: datetime
    assumed_role_arn: str | None = None

    def _fields(self) -> tuple[str, str, str, datetime, str | None]:
        return (self.access_key_id, self.secret_access_key, self.session_token, self.expiration, self.assumed_role_arn)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._fields() == other._fields()

    def __hash__(self) -> int:
        return hash(self._fields())

    def __repr__(self) -> str:
        return (
            f"Credentials(access_key_id={self.access_key_id!r}, "
            f"expiration={self.expiration.isoformat()!r}, assumed_role_arn={self.assumed_role_arn!r})"
        )

    __str__ = __repr__

    def as_boto3_kwargs(self) -> dict[str, str]:
        """Return the keyword arguments of ``boto3.Session`` and ``boto3.client`` for these credentials.

        Returns
        -------
        dict[str, str]
            ``aws_access_key_id``, ``aws_secret_access_key`` and ``aws_session_token``.

        Example
        -------
        >>> import boto3
        >>> from powertools_sts import assume_role
        >>> creds = assume_role("arn:aws:iam::111122223333:role/reports")  # doctest: +SKIP
        >>> s3 = boto3.client("s3", **creds.as_boto3_kwargs())  # doctest: +SKIP
        """
        return {
            "aws_access_key_id": self.access_key_id,
            "aws_secret_access_key": self.secret_access_key,
            "aws_session_token": self.session_token,
        }
