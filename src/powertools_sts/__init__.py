"""powertools-sts: STS AssumeRole credentials for AWS Lambda Powertools (Python).

Every name below is importable from ``powertools_sts``, and nothing else is public: the ``sts`` handler
decorator, and ``get_client``, ``get_session``, ``get_credentials`` and ``invalidate`` that read its
entries; ``STSProvider`` and ``assume_role`` for code without a handler to decorate; ``Credentials``;
``clear_caches``; and the exceptions.

Example
-------
>>> from powertools_sts import STSProvider, assume_role, Credentials
"""

from __future__ import annotations

import importlib
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .credentials import Credentials
    from .exceptions import AssumeRoleError, ConfigurationError, TenantError
    from .middleware import sts
    from .names import get_client, get_credentials, get_session, invalidate
    from .provider import STSProvider, assume_role, clear_caches

__all__ = [
    "AssumeRoleError",
    "ConfigurationError",
    "Credentials",
    "STSProvider",
    "TenantError",
    "assume_role",
    "clear_caches",
    "get_client",
    "get_credentials",
    "get_session",
    "invalidate",
    "sts",
]
__version__ = "0.1.0"

# Which module defines each public name.
_HOMES = MappingProxyType(
    {
        "Credentials": ".credentials",
        "AssumeRoleError": ".exceptions",
        "ConfigurationError": ".exceptions",
        "TenantError": ".exceptions",
        "sts": ".middleware",
        "get_client": ".names",
        "get_credentials": ".names",
        "get_session": ".names",
        "invalidate": ".names",
        "STSProvider": ".provider",
        "assume_role": ".provider",
        "clear_caches": ".provider",
    }
)


def __getattr__(name: str) -> Any:
    """Import a public name when it is first used (PEP 562).

    The pytest plugin :mod:`powertools_sts.testing`, loaded in every pytest run of a project that installs
    the package, then imports no botocore or Powertools.
    """
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(home, __name__), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
