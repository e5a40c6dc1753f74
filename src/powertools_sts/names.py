"""Which ``sts`` entry a name means: ``get_credentials``, ``get_session``, ``get_client``, ``invalidate``.

Each layer links itself into ``_state.invocation`` (a ``ContextVar``) around its handler. So a name
resolves inside the handler and whatever it calls, and in threads and branches that run in a copy of
the invocation's context (``contextvars.copy_context()``; the Durable Execution SDK's ``map`` and
``parallel`` only with plugins), only to the entries of those layers: a handler never gets another
handler's entry. Outside an invocation a name resolves when exactly one entry configuration in the
process bears it.

Example
-------
>>> from powertools_sts import get_credentials
>>> get_credentials("nobody")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
powertools_sts.exceptions.ConfigurationError: no sts layer has an entry named 'nobody' ...
"""

from __future__ import annotations

import weakref
from typing import Any

import boto3

from . import _state
from .credentials import Credentials
from .exceptions import ConfigurationError, TenantError

__all__ = ["get_client", "get_credentials", "get_session", "hub_entry", "invalidate", "register_names"]


def _around() -> list[Any]:
    around = _state.invocation.get()
    return list(around) if around is not None else []  # innermost first


def _names_of(layers: list[Any]) -> list[str]:
    names: list[str] = []
    for layer in layers:
        tenant_names = layer.tenants.factories if layer.tenants is not None else ()
        names.extend(name for name in [*layer.slots, *tenant_names] if name not in names)
    return names


def _close(name: str, names: list[str]) -> str:
    import difflib  # only on an error: import time is cold start

    match = difflib.get_close_matches(name, names, n=1)
    return f"; did you mean {match[0]!r}?" if match else ""


def register_names(layer: Any) -> None:
    """Record the entry names of an applied layer, for the resolution outside an invocation."""
    with _state.lock:
        markers = layer.tenants.markers if layer.tenants is not None else {}
        for name, slot in [*layer.slots.items(), *markers.items()]:
            _state.names.setdefault(name, weakref.WeakSet()).add(slot)
            _state.unique_names.pop(name, None)
        for name in [name for name, group in _state.names.items() if not group]:
            del _state.names[name]  # the layers that bore it are gone


def _configuration(slot: Any) -> Any:
    # Entries with the same provider, key and max_age hand out the same credentials.
    return (id(slot.provider), slot.key, slot.max_age) if slot.provider is not None else id(slot)


def _only_bearer(name: str) -> tuple[Any, list[str]]:
    """Return the one entry configuration in the process that bears ``name`` (or None), and every name."""
    ref = _state.unique_names.get(name)
    slot = ref() if ref is not None else None
    if slot is not None:
        return slot, []
    with _state.lock:
        bearers = list(_state.names.get(name, ()))
        if len({_configuration(other) for other in bearers}) == 1:
            _state.unique_names[name] = weakref.ref(bearers[0])
            return bearers[0], []
        return None, sorted(other for other, group in _state.names.items() if group)


def _outside(name: str) -> Any:
    slot, known = _only_bearer(name)
    if getattr(slot, "per_tenant", False):
        raise TenantError(
            f"entry {name!r} is per tenant, and the call is outside any invocation of its sts layer (handler "
            f"{slot.layer.handler_name}), so there is no tenant to answer for: call it inside the handler, or in a "
            "thread that runs in a copy of the invocation's context (contextvars.copy_context())"
        )
    if slot is not None:
        return slot
    bearers = len(_state.names.get(name, ()))
    reason = "no sts layer has an entry" if not bearers else f"{bearers} different sts entries are"
    raise ConfigurationError(
        f"{reason} named {name!r} (the call is outside any sts-decorated invocation, where a name resolves only "
        f"when exactly one entry in the process bears it; names in the process: {known or 'none'}"
        f"{_close(name, known)}). Read the credentials inside the handler with get_credentials(name) and pass them "
        "on explicitly, e.g. boto3.client('s3', **creds.as_boto3_kwargs()), or run the thread in a copy of the "
        "invocation's context (contextvars.copy_context()); with Durable Functions, put @sts inside @durable_execution, "
        "and in map and parallel branches use a client the handler took with get_client(name, ...)"
    )


def _entry(name: str) -> Any:
    around = _state.invocation.get()
    node = around.layers if around is not None else None
    if node is None:
        return _outside(name)
    layers = []
    while node is not None:
        layer, node, tenant = node
        slot = layer.slots.get(name)
        if slot is None and tenant is not None:
            slot = tenant.slots.get(name)  # a per-tenant entry: the invocation's tenant's
        if slot is not None:
            return slot
        layers.append(layer)
    scope = _names_of(layers)
    raise ConfigurationError(
        f"no entry named {name!r} in the sts layers around this invocation of handler {layers[0].handler_name} "
        f"(names in scope: {scope}{_close(name, scope)})"
    )


def hub_entry(name: str, entries: list[str]) -> Any:
    """Return the entry ``name`` that signs a chained layer's AssumeRole (``aws_client_assume_role``).

    Looked up in the layers around the chained one, else the one entry in the process that bears it.

    Raises
    ------
    ConfigurationError
        When neither has it (``entries`` are the chained layer's own names, left out of the message).
    """
    layers = _around()
    for layer in layers:
        slot = layer.slots.get(name)
        if slot is not None:
            return slot
    slot, _ = _only_bearer(name)
    if getattr(slot, "per_tenant", False):
        raise ConfigurationError(
            f"aws_client_assume_role={name!r} (entries {entries}) names a per-tenant entry: a chained layer is signed "
            "by one entry's credentials, not a tenant's; make the chained entries per tenant instead"
        )
    if slot is not None:
        return slot
    scope = [other for other in _names_of(layers) if other not in entries]
    raise ConfigurationError(
        f"aws_client_assume_role={name!r} (entries {entries}): no sts layer around this one defines an entry "
        f"named {name!r} (the layers around define {scope or 'nothing'}{_close(name, scope)}), and "
        f"{'no entry' if slot is None and not _state.names.get(name) else 'more than one entry'} in the process "
        f"bears that name; put the sts layer whose fetch_data has {name!r} outside this one"
    )


def get_credentials(name: str) -> Credentials:
    """Return the current credentials of entry ``name`` of the ``sts`` layers around this invocation.

    A cache hit costs no STS call; the credentials have at least the floor (60 s) left.

    Raises
    ------
    ConfigurationError
        When no layer around the invocation defines ``name`` (outside an invocation: when not exactly
        one entry in the process bears it).
    AssumeRoleError
        When the credentials had to be refreshed and could not be.

    Example
    -------
    >>> from powertools_sts import sts, get_credentials
    >>> @sts(fetch_data={"reports": "arn:aws:iam::111122223333:role/reports"})  # doctest: +SKIP
    ... def handler(event, context):
    ...     return get_credentials("reports").access_key_id
    """
    credentials: Credentials = _entry(name).credentials()
    return credentials


def get_session(name: str, *, region_name: str | None = None) -> boto3.session.Session:
    """Return a boto3 session of entry ``name`` whose credentials refresh themselves.

    The same object on every warm invocation, per entry and region. With no ``region_name``, the
    region of the ``boto3_session`` given to ``sts``, else botocore's default.

    Example
    -------
    >>> from powertools_sts import get_session
    >>> table = get_session("reports", region_name="eu-west-1").resource("dynamodb").Table("t")  # doctest: +SKIP
    """
    session: boto3.session.Session = _entry(name).sessions.session(region_name)
    return session


def get_client(name: str, service_name: str, **client_kwargs: Any) -> Any:
    """Return a boto3 client of ``service_name`` signed with entry ``name``'s refreshing credentials.

    The same object on every warm invocation for equal arguments, even a ``config=Config(...)`` written
    inline (clients are cached by the value of their arguments).

    Raises
    ------
    ConfigurationError
        For an argument with no stable value to cache by (anything but plain values, lists, dicts and
        botocore ``Config`` objects).

    Example
    -------
    >>> from powertools_sts import get_client
    >>> get_client("reports", "s3").put_object(Bucket="b", Key="k", Body=b"...")  # doctest: +SKIP
    """
    return _entry(name).sessions.client(service_name, **client_kwargs)


def invalidate(name: str, *, access_key_id: str | None = None) -> None:
    """Mark the credentials of entry ``name`` unusable: the next read fetches new ones.

    For credentials AWS refused: the entry and the provider's cache drop them, so neither serves them
    again, not even stale. ``access_key_id``: only if they are still these (a concurrent refresh's are
    kept). The clients of ``get_client``/``get_session`` do this themselves for ``ExpiredToken`` and kin.

    Example
    -------
    >>> from powertools_sts import get_credentials, invalidate
    >>> creds = get_credentials("reports")  # doctest: +SKIP
    >>> invalidate("reports", access_key_id=creds.access_key_id)  # doctest: +SKIP
    """
    _entry(name).invalidate(access_key_id)
