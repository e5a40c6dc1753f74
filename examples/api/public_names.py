"""Every public name of powertools-sts: what ``from powertools_sts import ...`` offers."""

from __future__ import annotations

from powertools_sts import (
    AssumeRoleError,
    ConfigurationError,
    Credentials,
    STSProvider,
    TenantError,
    assume_role,
    clear_caches,
    get_client,
    get_credentials,
    get_session,
    invalidate,
    sts,
)

PUBLIC_NAMES = [
    AssumeRoleError,
    ConfigurationError,
    Credentials,
    STSProvider,
    TenantError,
    assume_role,
    clear_caches,
    get_client,
    get_credentials,
    get_session,
    invalidate,
    sts,
]
