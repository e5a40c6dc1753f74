"""Which ``sts`` entry a name means: ``get_credentials``, ``get_session``, ``get_client``, and the errors that say why not.

Inside an invocation a name is looked up in the ``sts`` layers around it, innermost first, and only
there: whatever else the process imports meanwhile, a handler never gets another handler's entry.
Outside an invocation (a worker thread, say) a name resolves when exactly one entry configuration in
the process bears it.

Which layers surround the call is read off the call stack, when a name is resolved: each layer's
middleware step runs a code object of its own (``_state.layer_codes`` maps it to the layer), and
the handler runs inside that step's frame. So the warm path pays nothing for it (a ContextVar set
and reset per invocation cost more than the Powertools factory's own wrapper), and a look-up walks
the few frames between the call and the innermost layer.

The registry itself lives in :mod:`powertools_sts._state`; entries and layers are reached by duck
typing (a layer has ``slots`` and ``handler_name``; an entry has ``layer``, ``provider``, ``key``,
``max_age``, ``sessions``, ``credentials()`` and ``invalidate()``).
"""

from __future__ import annotations

import sys
import weakref
from typing import Any

import boto3

from . import _state
from .credentials import Credentials
from .exceptions import ConfigurationError

__all__ = ["get_client", "get_credentials", "get_session", "hub_entry", "invalidate", "register_names"]


def _layers_around(frame: Any) -> list[Any]:
    """Every sts layer whose middleware step is on the stack at ``frame`` or below it, innermost first."""
    codes = _state.layer_codes
    layers = []
    while frame is not None:
        ref = codes.get(id(frame.f_code))
        layer = ref() if ref is not None else None
        if layer is not None:
            layers.append(layer)
        frame = frame.f_back
    return layers


def _names_of(layers: list[Any]) -> list[str]:
    names: list[str] = []
    for layer in layers:
        names.extend(name for name in layer.slots if name not in names)
    return names


def _close(name: str, names: list[str]) -> str:
    import difflib  # only on an error: import time is cold start

    match = difflib.get_close_matches(name, names, n=1)
    return f"; did you mean {match[0]!r}?" if match else ""


def hub_entry(name: str, entries: list[str]) -> Any:
    """Return the entry ``name`` of the layers around this one that signs a chained layer's AssumeRole.

    Called from the chained layer's own step, so the layers found on the stack are that layer and
    the ones around it.

    Raises
    ------
    ConfigurationError
        When no layer around the chained one (``entries`` are its names) defines ``name``.
    """
    around = _layers_around(sys._getframe(1))
    for layer in around:
        slot = layer.slots.get(name)
        if slot is not None:
            return slot
    scope = [other for other in _names_of(around) if other not in entries]
    raise ConfigurationError(
        f"aws_client_assume_role={name!r} (entries {entries}): no sts layer around this one defines an entry "
        f"named {name!r} (the layers around define {scope or 'nothing'}{_close(name, scope)}); put the sts "
        f"layer whose fetch_data has {name!r} outside this one"
    )


def _configuration(slot: Any) -> Any:
    # Entries with the same provider, key and max_age hand out the same credentials.
    return (id(slot.provider), slot.key, slot.max_age) if slot.provider is not None else id(slot)


def register_names(layer: Any) -> None:
    """Record the entry names of an applied layer, for the resolution outside an invocation."""
    with _state.lock:
        for name, slot in layer.slots.items():
            _state.names.setdefault(name, weakref.WeakSet()).add(slot)
            _state.unique_names.pop(name, None)
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
        known = sorted(other for other, group in _state.names.items() if group)
    reason = "no sts layer has an entry" if not bearers else f"{len(bearers)} different sts entries are"
    raise ConfigurationError(
        f"{reason} named {name!r} (the call is outside any sts-decorated invocation: a worker thread, say, where "
        f"a name resolves only when exactly one entry in the process bears it; names in the process: "
        f"{known or 'none'}{_close(name, known)}). Read the credentials inside the handler with "
        "get_credentials(name) and pass them on explicitly, e.g. boto3.client('s3', **creds.as_boto3_kwargs())"
    )


def _entry(name: str) -> Any:
    # The frame of the accessor's caller (get_credentials -> _entry): the walk starts there.
    frame: Any = sys._getframe(2)
    codes = _state.layer_codes
    innermost = None
    while frame is not None:
        ref = codes.get(id(frame.f_code))
        layer = ref() if ref is not None else None
        if layer is not None:
            slot = layer.slots.get(name)
            if slot is not None:
                return slot
            innermost = innermost or layer
        frame = frame.f_back
    if innermost is None:
        return _outside(name)
    scope = _names_of(_layers_around(sys._getframe(2)))
    raise ConfigurationError(
        f"no entry named {name!r} in the sts layers around this invocation of handler {innermost.handler_name} "
        f"(names in scope: {scope}{_close(name, scope)})"
    )


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


def invalidate(name: str, *, access_key_id: str | None = None) -> None:
    """Mark the credentials of entry ``name`` unusable: the next read of the entry fetches new ones.

    For credentials AWS refused (revoked, or their session expired early): the entry drops them,
    and so does the provider's cache behind it, so that neither serves them again, not even as stale
    ones when the next fetch fails. The clients of ``get_client`` and ``get_session`` do this by
    themselves for a call refused with ``ExpiredToken`` and its kin, and retry it once.

    Parameters
    ----------
    name:
        An entry name of ``fetch_data``, resolved as ``get_credentials`` resolves it.
    access_key_id:
        Drop the credentials only if they are still these (the ones that were refused): credentials a
        concurrent refresh put in their place are kept. None: whatever the entry holds.

    Raises
    ------
    ConfigurationError
        As ``get_credentials``, for a name that resolves to no entry.

    Example
    -------
    >>> from botocore.exceptions import ClientError
    >>> from powertools_sts import get_credentials, invalidate
    >>> creds = get_credentials("reports")  # doctest: +SKIP
    >>> try:  # doctest: +SKIP
    ...     boto3.client("s3", **creds.as_boto3_kwargs()).list_buckets()
    ... except ClientError as exc:
    ...     if exc.response["Error"]["Code"] == "ExpiredToken":
    ...         invalidate("reports", access_key_id=creds.access_key_id)
    """
    _entry(name).invalidate(access_key_id)
