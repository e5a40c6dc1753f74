"""The ``sts`` handler decorator: @middy/sts for Powertools, and the accessors a handler reads it with.

Two paths, kept apart:

- When ``sts(...)`` is applied (module import, the Lambda INIT phase): every option is validated, and
  every entry is prefetched concurrently on worker threads, so the import never waits on STS.
- Each invocation (``_middleware``'s step): one clock read against the layer's deadline, the earliest time any
  of its entries stops being fresh. Only past it does ``_Layer.prepare`` ask the provider.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import weakref
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.middleware_factory import lambda_handler_decorator
from aws_lambda_powertools.shared.functions import resolve_truthy_env_var_choice

from . import _clock
from .exceptions import AssumeRoleError, ConfigurationError
from .provider import FLOOR_SECONDS, Key, STSProvider, register_cache
from .sessions import Handles, refreshing_session
from .tracing import capture_botocore, current_entity, run_traced
from .validation import (
    MAX_CHAINED_DURATION,
    cache_key_of,
    validate_assume_role_params,
    validate_max_age,
    validate_refresh_margin,
)

if TYPE_CHECKING:
    import boto3
    from botocore.config import Config
    from mypy_boto3_sts import STSClient

    from .credentials import Credentials

__all__ = ["get_client", "get_credentials", "get_session", "sts"]

logger = logging.getLogger("powertools_sts")

_INF = float("inf")
# The scoped layers around the running invocation: (innermost, (next, (...))), or None.
Chain = tuple["_Layer", Any]
_current: ContextVar[Chain | None] = ContextVar("powertools_sts_layers", default=None)
_LAYERS: weakref.WeakSet[_Layer] = weakref.WeakSet()
_NAMED: dict[str, weakref.WeakSet[_Slot]] = {}
_UNIQUE: dict[str, weakref.ref[_Slot]] = {}
_REGISTRY_LOCK = threading.Lock()
_SHARED: dict[tuple[Any, ...], tuple[STSProvider, tuple[Any, ...]]] = {}
_POOL: list[ThreadPoolExecutor] = []
_POOL_LOCK = threading.Lock()
_CHAINED = "__powertools_sts_chained__"


class _Slot:
    """One ``fetch_data`` entry of one layer: its parameters, key, and the credentials it last handed out."""

    __slots__ = ("__weakref__", "handles", "key", "layer", "max_age", "name", "params", "provider", "state")

    def __init__(self, layer: _Layer, name: str, params: dict[str, Any], max_age: float | None) -> None:
        self.layer = layer
        self.name = name
        self.params = params
        self.max_age = max_age
        self.provider: STSProvider | None = None
        self.key: Key = ()
        # (credentials, reusable until): one tuple, swapped whole, so a reader on another thread never
        # pairs new credentials with an old deadline or the reverse.
        self.state: tuple[Credentials | None, float] = (None, -_INF)
        self.handles = Handles(self.credentials)

    def credentials(self) -> Credentials:
        creds, until = self.state
        if creds is not None and _clock.now() < until:
            return creds
        return self.refresh()

    def refresh(self, background: bool = False) -> Credentials:
        if self.provider is None:
            raise ConfigurationError(
                f"entry {self.name!r}: aws_client_assume_role={self.layer.hub_name!r} is not bound to an outer "
                "sts layer yet; its credentials can be had inside the decorated handler only"
            )
        creds, until = self.provider.credentials_for(
            self.key, self.params, self.max_age, entry=self.name, background=background
        )
        if self.max_age == 0:
            # Not shared between invocations (the layer refetches at each one), but reused within one.
            until = creds.expiration.timestamp() - FLOOR_SECONDS
        self.state = (creds, until)
        return creds

    def reset(self) -> None:
        self.state = (None, -_INF)


class _Layer:
    """The state of one applied ``sts(...)``."""

    __slots__ = (
        "__weakref__",
        "around",
        "boto_config",
        "cache_key",
        "capture",
        "context_names",
        "deadline",
        "dynamic",
        "hub",
        "hub_name",
        "refresh_margin",
        "scoped",
        "slots",
        "static_hub",
        "zero",
    )

    def __init__(
        self,
        entries: dict[str, dict[str, Any]],
        *,
        cache_key: str,
        max_age: float | None,
        refresh_margin: float,
        hub_name: str | None,
        capture: bool,
        set_to_context: bool,
        boto_config: Config | None,
    ) -> None:
        self.cache_key = cache_key
        self.refresh_margin = refresh_margin
        self.hub_name = hub_name
        self.hub: _Slot | None = None
        # static_hub: the hub entry of the outer layer this one was stacked in when both were applied.
        # dynamic: bound at an invocation instead, so each invocation checks it runs inside the same hub.
        self.static_hub: _Slot | None = None
        self.dynamic = False
        self.capture = capture
        self.boto_config = boto_config
        self.zero = max_age == 0
        self.deadline = -_INF
        self.slots = {name: _Slot(self, name, params, max_age) for name, params in entries.items()}
        self.context_names = (
            tuple((_identifier(name), slot) for name, slot in self.slots.items()) if set_to_context else ()
        )
        # scoped: one of this layer's names is borne by another entry configuration in the process, so
        # get_credentials must be told which layers surround the invocation (see _register). A name
        # borne by one configuration needs no scope, and a ContextVar set/reset per invocation would
        # cost more than the whole Powertools factory wrapper. around: scoped or set_to_context.
        self.scoped = False
        self.around = set_to_context
        _LAYERS.add(self)

    def run(self, handler: Callable[..., Any], event: Any, context: Any, kwargs: dict[str, Any]) -> Any:
        """Call the handler with the context attributes and the name scope this layer needs."""
        for attr, slot in self.context_names:
            setattr(context, attr, slot.state[0])
        if not self.scoped:
            return handler(event, context, **kwargs)
        token = _current.set((self, _current.get()))
        try:
            return handler(event, context, **kwargs)
        finally:
            _current.reset(token)

    def use(self, provider: STSProvider, identity: Any) -> None:
        for slot in self.slots.values():
            slot.provider = provider
            slot.key = (self.cache_key, identity, cache_key_of(slot.params))

    def bind_hub(self, hub: _Slot) -> None:
        """Sign this layer's AssumeRole with the current credentials of ``hub`` (role chaining)."""
        assert hub.provider is not None  # noqa: S101  # an outer layer's slots are bound when it is applied
        # Per hub slot, not per hub key: two slots of one key may differ in max_age, and the chained
        # client must sign with what this hub slot hands out.
        shared = ("chain", id(hub), id(self.boto_config), self.refresh_margin)
        found = _SHARED.get(shared)
        if found is None:
            # The session's credentials are refreshable and read the hub entry whenever they near their
            # end: a refreshed hub is used at the next fetch, a failed one is never remembered.
            session = refreshing_session(hub.credentials)
            provider = STSProvider(
                boto3_session=session, boto_config=self.boto_config, refresh_margin=self.refresh_margin
            )
            found = _SHARED[shared] = (provider, (hub, self.boto_config))
        self.use(found[0], ("chain", hub.key))
        self.hub = hub

    def prepare(self) -> None:
        """Make every entry usable for this invocation; raise one AssumeRoleError naming every failure."""
        if self.hub_name is not None and (self.hub is None or self.dynamic):
            self._check_hub()
        now = _clock.now()
        due = [slot for slot in self.slots.values() if self.zero or not now < slot.state[1]]
        failures: dict[str, AssumeRoleError] = {}
        if len(due) == 1:
            try:
                due[0].refresh()
            except AssumeRoleError as exc:
                failures[due[0].name] = exc
        elif due:
            entity = current_entity()
            futures = [(slot, _pool().submit(run_traced, entity, slot.refresh)) for slot in due]
            for slot, future in futures:
                try:
                    future.result()
                except AssumeRoleError as exc:
                    failures[slot.name] = exc
        if failures:
            first = next(iter(failures.values()))
            if len(failures) == 1:
                raise first
            detail = "; ".join(str(exc) for exc in failures.values())
            raise AssumeRoleError(
                f"AssumeRole failed for {len(failures)} entries: {detail}",
                role_arn=first.role_arn,
                code=first.code,
                entry=first.entry,
                failures=failures,
            ) from first
        self.deadline = -_INF if self.zero or self.dynamic else min(slot.state[1] for slot in self.slots.values())

    def _check_hub(self) -> None:
        hub = self.static_hub or _hub(_current.get(), self.hub_name or "")
        if self.hub is None:
            self.bind_hub(hub)
            self.dynamic = self.static_hub is None
        elif hub is not self.hub:
            raise ConfigurationError(_two_hubs(self.hub_name))

    def reset(self) -> None:
        self.deadline = -_INF
        for slot in self.slots.values():
            slot.reset()


def _two_hubs(name: str | None) -> str:
    # One chained layer holds one set of credentials per entry: shared by two hubs, it would hand one
    # handler the credentials assumed for the other.
    return (
        f"aws_client_assume_role={name!r}: this chained sts layer runs inside two different outer entries "
        f"named {name!r}; apply a chained sts layer to one handler only (decorate each handler separately)"
    )


def _identifier(name: str) -> str:
    attr = re.sub(r"\W", "_", name, flags=re.ASCII)
    return f"_{attr}" if attr[:1].isdigit() else attr


def _pool() -> ThreadPoolExecutor:
    if not _POOL:
        with _POOL_LOCK:
            if not _POOL:
                _POOL.append(ThreadPoolExecutor(max_workers=16, thread_name_prefix="powertools-sts"))
    return _POOL[0]


def _within(chain: Chain | None, name: str) -> _Slot | None:
    while chain is not None:
        slot = chain[0].slots.get(name)
        if slot is not None:
            return slot
        chain = chain[1]
    return None


def _find(chain: Chain | None, name: str) -> _Slot:
    """Return the slot ``name`` of the layers around the invocation, innermost first, else the process's one."""
    slot = _within(chain, name)
    return slot if slot is not None else _outside(name)


def _hub(chain: Chain | None, name: str) -> _Slot:
    try:
        return _find(chain, name)
    except ConfigurationError as exc:
        raise ConfigurationError(
            f"aws_client_assume_role={name!r}: no outer sts layer defines an entry named {name!r}; "
            "put the sts layer whose fetch_data has it outside this one"
        ) from exc


def _config(slot: _Slot) -> Any:
    # Slots with the same provider, key and max_age hand out the same credentials.
    return (id(slot.provider), slot.key, slot.max_age) if slot.provider is not None else id(slot)


def _register(layer: _Layer) -> None:
    with _REGISTRY_LOCK:
        for name, slot in layer.slots.items():
            group = _NAMED.setdefault(name, weakref.WeakSet())
            group.add(slot)
            _UNIQUE.pop(name, None)
            bearers = list(group)
            if len({_config(other) for other in bearers}) > 1:
                # The name is ambiguous in the process: from now on these layers tell get_credentials
                # which of them surround the invocation.
                for other in bearers:
                    other.layer.scoped = other.layer.around = True


def _outside(name: str) -> _Slot:
    # Outside an invocation (a worker thread, say) a name resolves when exactly one entry configuration
    # in the process bears it; anything else would risk handing out another handler's credentials.
    ref = _UNIQUE.get(name)
    slot = ref() if ref is not None else None
    if slot is not None:
        return slot
    with _REGISTRY_LOCK:
        bearers = list(_NAMED.get(name, ()))
        if len({_config(other) for other in bearers}) == 1:
            _UNIQUE[name] = weakref.ref(bearers[0])
            return bearers[0]
    reason = "no sts layer has an entry" if not bearers else f"{len(bearers)} different sts entries are"
    raise ConfigurationError(
        f"{reason} named {name!r} for this call: outside an sts-decorated invocation (a worker thread, say) a "
        "name resolves only when exactly one entry in the process bears it. Read the credentials inside the "
        "handler with get_credentials(name) and pass them on explicitly, e.g. "
        "boto3.client('s3', **creds.as_boto3_kwargs())"
    )


def _slot(name: str) -> _Slot:
    return _find(_current.get(), name)


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
    return _slot(name).credentials()


def get_session(name: str, *, region_name: str | None = None) -> boto3.session.Session:
    """Return a boto3 session of entry ``name`` whose credentials refresh themselves.

    Cached per entry and region: the same object on every warm invocation, usable across refreshes
    and through a 15-minute invocation.

    Example
    -------
    >>> from powertools_sts import get_session
    >>> table = get_session("reports", region_name="eu-west-1").resource("dynamodb").Table("t")  # doctest: +SKIP
    """
    return _slot(name).handles.session(region_name)


def get_client(name: str, service_name: str, **client_kwargs: Any) -> Any:
    """Return a boto3 client of ``service_name`` signed with entry ``name``'s credentials.

    Cached per entry, service and arguments: the same object on every warm invocation, where building
    one costs milliseconds. Its credentials refresh themselves.

    Example
    -------
    >>> from powertools_sts import get_client
    >>> get_client("reports", "s3").put_object(Bucket="b", Key="k", Body=b"...")  # doctest: +SKIP
    """
    return _slot(name).handles.client(service_name, **client_kwargs)


def _middleware(layer: _Layer, traced: bool) -> Callable[..., Any]:
    """Return the Powertools factory middleware of ``layer``: the per-invocation step."""

    def sts(handler: Callable[..., Any], event: Any, context: Any, **kwargs: Any) -> Any:
        # The hot path: one clock read against the earliest end of freshness of the layer's entries.
        if not _clock.now() < layer.deadline:
            layer.prepare()
        if layer.around:
            return layer.run(handler, event, context, kwargs)
        return handler(event, context, **kwargs)

    # The factory names its "## <name>" subsegment and its log lines after the middleware's __qualname__.
    sts.__qualname__ = "sts"
    middleware: Callable[..., Any] = lambda_handler_decorator(sts, trace_execution=traced)
    return middleware


def _flag(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigurationError(f"{name} must be True or False, got {type(value).__name__}")
    return value


def _entries(fetch_data: Any, chained: bool) -> dict[str, dict[str, Any]]:
    if not isinstance(fetch_data, Mapping) or not fetch_data:
        raise ConfigurationError(
            "fetch_data must be a non-empty mapping of entry name to AssumeRole parameters (or a RoleArn string)"
        )
    entries = {}
    for name, spec in fetch_data.items():
        if not isinstance(name, str) or not name:
            raise ConfigurationError(f"fetch_data: entry names must be non-empty strings, got {name!r}")
        params = validate_assume_role_params({"RoleArn": spec} if isinstance(spec, str) else spec, entry=name)
        if chained and params.get("DurationSeconds", 0) > MAX_CHAINED_DURATION:
            raise ConfigurationError(
                f"entry {name!r}: DurationSeconds {params['DurationSeconds']} is over {MAX_CHAINED_DURATION}: AWS caps "
                "a session assumed with assumed-role credentials (role chaining) at one hour"
            )
        entries[name] = params
    return entries


def _shared_provider(boto3_session: Any, boto3_client: Any, boto_config: Any, refresh_margin: float) -> STSProvider:
    # Layers with the same signing configuration share one provider, and so one STS client (about
    # 50 ms each at cold start); their entries stay apart through the key's cache_key and parameters.
    shared = (id(boto3_session), id(boto3_client), id(boto_config), refresh_margin)
    found = _SHARED.get(shared)
    if found is None:
        provider = STSProvider(
            boto3_session=boto3_session,
            boto3_client=boto3_client,
            boto_config=boto_config,
            refresh_margin=refresh_margin,
        )
        # The objects ride along so that their ids, the key, cannot be reused while the entry lives.
        found = _SHARED[shared] = (provider, (boto3_session, boto3_client, boto_config))
    return found[0]


def _snap_start() -> bool:
    # Credentials fetched before a snapshot could be restored hours later, in many copies: no prefetch.
    return os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE") == "snap-start"


def _prefetch(slot: _Slot) -> None:
    try:
        run_traced(None, lambda: slot.refresh(background=True))
    except Exception as exc:  # an import must never fail because STS is unreachable
        logger.warning("Prefetching entry %r failed; the first invocation fetches it again: %s", slot.name, exc)


def sts(
    *,
    fetch_data: Mapping[str, Any],
    boto3_session: boto3.session.Session | None = None,
    boto3_client: STSClient | None = None,
    boto_config: Config | None = None,
    aws_client_capture: bool = False,
    aws_client_assume_role: str | None = None,
    disable_prefetch: bool = False,
    cache_key: str = "powertools_sts",
    max_age: float | None = None,
    set_to_context: bool = False,
    refresh_margin: float = 300,
    trace_execution: bool | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Give a Lambda handler the credentials of other IAM roles, assumed through STS and cached.

    Validation and the prefetch happen when ``sts(...)`` is applied; each invocation then makes sure
    every entry has credentials usable for it, from the cache while they are fresh.

    Parameters
    ----------
    fetch_data:
        Entry name to AssumeRole parameters (boto3 spelling, ``RoleArn`` required); a bare string is
        short for ``{"RoleArn": s}``. (@middy/sts: ``fetchData``)
    boto3_session, boto3_client, boto_config:
        As in :class:`STSProvider`. (``AwsClient``, ``awsClientOptions``)
    aws_client_capture:
        Capture the STS calls as X-Ray subsegments (needs the ``tracer`` extra). (``awsClientCapture``)
    aws_client_assume_role:
        Name of an entry of an outer ``sts`` layer whose credentials sign this layer's AssumeRole
        (role chaining). A chained layer does not prefetch. (``awsClientAssumeRole``)
    disable_prefetch:
        Do not fetch when the decorator is applied. (``disablePrefetch``)
    cache_key:
        Namespace of this layer's entries; entries are also keyed by their parameters, so two layers
        are never handed each other's credentials. (``cacheKey``)
    max_age:
        Seconds an entry stays fresh at most; None or -1: until the refresh window; 0: a fetch at
        every invocation. (``cacheExpiry``, which is in milliseconds)
    set_to_context:
        Also set each entry's Credentials on the Lambda context, under the name with non-identifier
        characters replaced by ``_``. Discouraged: context objects are often logged. (``setToContext``)
    refresh_margin:
        As in :class:`STSProvider`.
    trace_execution:
        Open a ``## sts`` X-Ray subsegment per invocation; None reads ``POWERTOOLS_TRACE_MIDDLEWARES``.

    Raises
    ------
    ConfigurationError
        For any invalid option, naming the entry and the field (an unknown option is a TypeError).

    Example
    -------
    >>> from powertools_sts import sts, get_client
    >>> @sts(fetch_data={"reports": {"RoleArn": "arn:aws:iam::111122223333:role/reports"}})  # doctest: +SKIP
    ... def handler(event, context):
    ...     get_client("reports", "s3").put_object(Bucket="b", Key="k", Body=b"...")
    """
    if aws_client_assume_role is not None and (
        not isinstance(aws_client_assume_role, str) or not aws_client_assume_role
    ):
        raise ConfigurationError(f"aws_client_assume_role must be an entry name, got {aws_client_assume_role!r}")
    entries = _entries(fetch_data, chained=aws_client_assume_role is not None)
    if aws_client_assume_role in entries:
        raise ConfigurationError(
            f"aws_client_assume_role={aws_client_assume_role!r} names an entry of this same layer: the entry that "
            "signs must come from an outer sts layer"
        )
    if not isinstance(cache_key, str) or not cache_key:
        raise ConfigurationError(f"cache_key must be a non-empty string, got {cache_key!r}")
    capture = _flag(aws_client_capture, "aws_client_capture")
    prefetch = not _flag(disable_prefetch, "disable_prefetch")
    _flag(set_to_context, "set_to_context")
    if trace_execution is not None:
        _flag(trace_execution, "trace_execution")
    seconds = validate_max_age(max_age)
    margin = validate_refresh_margin(refresh_margin)
    from botocore.config import Config as BotoConfig  # loaded already: Powertools' provider base imports boto3

    if boto_config is not None and not isinstance(boto_config, BotoConfig):
        raise ConfigurationError(f"boto_config must be a botocore.config.Config, got {type(boto_config).__name__}")
    if boto3_session is not None and not callable(getattr(boto3_session, "client", None)):
        raise ConfigurationError(f"boto3_session must be a boto3 Session, got {type(boto3_session).__name__}")
    if boto3_client is not None and not callable(getattr(boto3_client, "assume_role", None)):
        raise ConfigurationError(f"boto3_client must be a boto3 STS client, got {type(boto3_client).__name__}")
    if aws_client_assume_role is not None and (boto3_session is not None or boto3_client is not None):
        raise ConfigurationError(
            "boto3_session and boto3_client cannot be combined with aws_client_assume_role: a chained layer's "
            "STS client is signed with the hub entry's credentials (boto_config still applies)"
        )
    if capture:
        capture_botocore()

    layer = _Layer(
        entries,
        cache_key=cache_key,
        max_age=seconds,
        refresh_margin=margin,
        hub_name=aws_client_assume_role,
        capture=capture,
        set_to_context=set_to_context,
        boto_config=boto_config,
    )
    if aws_client_assume_role is None:
        layer.use(_shared_provider(boto3_session, boto3_client, boto_config, margin), None)
    _register(layer)
    if aws_client_assume_role is None and prefetch and seconds != 0 and not _snap_start():
        for slot in layer.slots.values():
            _pool().submit(_prefetch, slot)

    traced = resolve_truthy_env_var_choice(
        env=os.getenv("POWERTOOLS_TRACE_MIDDLEWARES", "false"), choice=trace_execution
    )
    middleware = _middleware(layer, traced)

    def apply(handler: Callable[..., Any]) -> Callable[..., Any]:
        wrapped: Callable[..., Any] = middleware(handler)
        # Chained layers inside this one whose signing entry this layer defines are bound to it now, at
        # import; the others wait for an outer layer, or the first invocation.
        outer = []
        for inner in getattr(handler, _CHAINED, ()):
            hub = layer.slots.get(inner.hub_name or "")
            if hub is None:
                outer.append(inner)
            elif inner.static_hub is None and inner.hub is None:
                inner.static_hub = hub
                if hub.provider is not None:  # a hub that is itself chained binds at the first invocation
                    inner.bind_hub(hub)
            elif (inner.static_hub or inner.hub) is not hub:
                raise ConfigurationError(_two_hubs(inner.hub_name))
        if aws_client_assume_role is not None:
            outer.append(layer)
        setattr(wrapped, _CHAINED, outer)
        return wrapped

    return apply


def _reset_all() -> None:
    for layer in list(_LAYERS):
        layer.reset()


register_cache(_reset_all)
