"""powertools-sts: STS AssumeRole credentials for AWS Lambda Powertools (Python).

Example
-------
>>> from powertools_sts import STSProvider, assume_role, Credentials
"""

from __future__ import annotations

from .credentials import Credentials
from .exceptions import AssumeRoleError, ConfigurationError
from .middleware import sts
from .names import get_client, get_credentials, get_session, invalidate
from .provider import STSProvider, assume_role, clear_caches

__all__ = [
    "AssumeRoleError",
    "ConfigurationError",
    "Credentials",
    "STSProvider",
    "assume_role",
    "clear_caches",
    "get_client",
    "get_credentials",
    "get_session",
    "invalidate",
    "sts",
]
__version__ = "0.1.0"
