"""Which ``sts`` entry a name means: ``get_credentials``, ``get_session``, ``get_client``, and the errors that say why not.

Inside an invocation a name is looked up in the ``sts`` layers around it, innermost first. A layer
pays for telling the accessors which layers surround the invocation (a ContextVar set and reset per
invocation) only while one of its names is borne by another entry configuration in the process:
a name borne by one configuration resolves through the registry alone. Outside an invocation (a
worker thread, say) a name resolves when exactly one entry configuration in the process bears it.

The registry itself lives in :mod:`powertools_sts._state`; entries and layers are reached by duck
typing (a layer has ``slots``, ``scoped`` and ``wraps_call``; an entry has ``layer``, ``provider``,
``key``, ``max_age``, ``sessions`` and ``credentials()``).
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any

from . import _state
from .exceptions import ConfigurationError

if TYPE_CHECKING:
    import boto3

    from .credentials import Credentials

__all__ = ["get_client", "get_credentials", "get_session", "hub_entry", "register_names"]


def _within(chain: tuple[Any, Any] | None, name: str) -> Any:
    while chain is not None:
        slot = chain[0].slots.get(name)
        if slot is not None:
            return slot
        chain = chain[1]
    return None


def _find(chain: tuple[Any, Any] | None, name: str) -> Any:
    """Return the entry ``name`` of the layers around the invocation, innermost first, else the process's one."""
    slot = _within(chain, name)
    return slot if slot is not None else _outside(name)


def hub_entry(name: str) -> Any:
    """Return the entry ``name`` that signs a chained layer's AssumeRole, as seen from this invocation.

    Raises
    ------
    ConfigurationError
        When no outer layer defines ``name``.
    """
    try:
        return _find(_state.current_layers.get(), name)
    except ConfigurationError as exc:
        raise ConfigurationError(
            f"aws_client_assume_role={name!r}: no outer sts layer defines an entry named {name!r}; "
            "put the sts layer whose fetch_data has it outside this one"
        ) from exc


def _configuration(slot: Any) -> Any:
    # Entries with the same provider, key and max_age hand out the same credentials.
    return (id(slot.provider), slot.key, slot.max_age) if slot.provider is not None else id(slot)


def register_names(layer: Any) -> None:
    """Record the entry names of an applied layer; scope the layers whose names became ambiguous."""
    with _state.lock:
        for name, slot in layer.slots.items():
            group = _state.names.setdefault(name, weakref.WeakSet())
            group.add(slot)
            _state.unique_names.pop(name, None)
            bearers = list(group)
            if len({_configuration(other) for other in bearers}) > 1:
                # The name is ambiguous in the process: from now on these layers tell the accessors
                # which of them surround the invocation.
                for other in bearers:
                    other.layer.scoped = other.layer.wraps_call = True
        for name in [name for name, group in _state.names.items() if not group]:
            del _state.names[name]  # the layers that bore it are gone


def _outside(name: str) -> Any:
    # Outside an invocation (a worker thread, say) a name resolves when exactly one entry configuration
    # in the process bears it; anything else would risk handing out another handler's credentials.
    ref = _state.unique_names.get(name)
    slot = ref() if ref is not None else None
    if slot is not None:
        return slot
    with _state.lock:
        bearers = list(_state.names.get(name, ()))
        if len({_configuration(other) for other in bearers}) == 1:
            _state.unique_names[name] = weakref.ref(bearers[0])
            return bearers[0]
    reason = "no sts layer has an entry" if not bearers else f"{len(bearers)} different sts entries are"
    raise ConfigurationError(
        f"{reason} named {name!r} for this call: outside an sts-decorated invocation (a worker thread, say) a "
        "name resolves only when exactly one entry in the process bears it. Read the credentials inside the "
        "handler with get_credentials(name) and pass them on explicitly, e.g. "
        "boto3.client('s3', **creds.as_boto3_kwargs())"
    )


def _entry(name: str) -> Any:
    return _find(_state.current_layers.get(), name)


def get_credentials(name: str) -> Credentials:
    """Return the current credentials of entry ``name`` of the ``sts`` layers around this invocation.

    A cache hit costs no STS call; the credentials have at least the floor (60 s) left.

    Parameters
    ----------
    name:
        An entry name of ``fetch_data``.

    Raises
    ------
    ConfigurationError
        When no layer around the invocation defines ``name`` (and, outside an invocation, when not
        exactly one entry in the process bears it).
    AssumeRoleError
        When the credentials had to be refreshed and could not be.

    Example
    -------
    >>> from powertools_sts import sts, get_credentials
    >>> @sts(fetch_data={"reports": "arn:aws:iam::111122223333:role/reports"})  # doctest: +SKIP
    ... def handler(event, context):
    ...     creds = get_credentials("reports")
    ...     return creds.access_key_id
    """
    credentials: Credentials = _entry(name).credentials()
    return credentials


def get_session(name: str, *, region_name: str | None = None) -> boto3.session.Session:
    """Return a boto3 session of entry ``name`` whose credentials refresh themselves.

    Cached per entry and region: the same object on every warm invocation, usable across refreshes
    and through a 15-minute invocation.

    Example
    -------
    >>> from powertools_sts import get_session
    >>> table = get_session("reports", region_name="eu-west-1").resource("dynamodb").Table("t")  # doctest: +SKIP
    """
    session: boto3.session.Session = _entry(name).sessions.session(region_name)
    return session


def get_client(name: str, service_name: str, **client_kwargs: Any) -> Any:
    """Return a boto3 client of ``service_name`` signed with entry ``name``'s credentials.

    Cached per entry, service and the value of the arguments: the same object on every warm
    invocation, where building one costs milliseconds, even for a ``config=Config(...)`` written
    inline. Its credentials refresh themselves.

    Raises
    ------
    ConfigurationError
        For an argument with no stable value to cache the client by (anything but plain values,
        lists, dicts and botocore ``Config`` objects).

    Example
    -------
    >>> from powertools_sts import get_client
    >>> get_client("reports", "s3").put_object(Bucket="b", Key="k", Body=b"...")  # doctest: +SKIP
    """
    return _entry(name).sessions.client(service_name, **client_kwargs)
