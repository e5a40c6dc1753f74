"""The ``sts`` handler decorator: @middy/sts for Powertools.

Two paths, kept apart:

- When ``sts(...)`` is applied (import, the Lambda INIT phase): every option is validated
  (:mod:`powertools_sts.options`) and every entry is prefetched on background threads.
- Each invocation: one clock read against the layer's deadline, the earliest time any of its entries
  stops being fresh. Only past it, or when the layer links itself into the invocation's context
  (names resolve through it) or sets attributes on the Lambda context, does it take the whole step.

Example
-------
>>> from powertools_sts import sts, get_client
>>> @sts(fetch_data={"reports": "arn:aws:iam::111122223333:role/reports"})  # doctest: +SKIP
... def handler(event, context):
...     return get_client("reports", "s3").list_buckets()
"""

from __future__ import annotations

import concurrent.futures
import functools
import logging
import os
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Literal

# Imported at run time, not only for type checkers, so that typing.get_type_hints works on the public
# names: boto3 and botocore are loaded already (Powertools' provider base imports boto3).
import boto3
from aws_lambda_powertools.middleware_factory import lambda_handler_decorator
from botocore.config import Config

from . import _botocore, _clock, _state, background
from .credentials import Credentials
from .exceptions import AssumeRoleError, ConfigurationError, TenantError
from .execution import init_waits_for_prefetch
from .names import hub_entry, register_names
from .options import Options, entry_params
from .provider import FLOOR_SECONDS, STSProvider
from .sessions import SessionCache, value_key
from .tenants import Tagged, Tenant, Tenants, fetching, guard, tenant_of_invocation
from .tracing import OPENTELEMETRY, XRAY, capture_botocore, current_entity, run_traced
from .validation import cache_key_of

if TYPE_CHECKING:
    from aws_lambda_powertools.metrics import EphemeralMetrics, Metrics
    from mypy_boto3_sts import STSClient

    from .events import Deferred, RefreshObserver
else:  # the stubs are a development dependency; at run time the annotation resolves to botocore's client
    from botocore.client import BaseClient as STSClient

    EphemeralMetrics = Metrics = Any  # annotations only: powertools_sts.metrics is imported when metrics= is given

__all__ = ["sts"]

logger = logging.getLogger("powertools_sts")

_INF = float("inf")
# Chained layers of a handler not bound to their hub yet, and every sts layer of a handler (innermost
# first), as attributes of the decorated function: an outer layer binds and checks them when applied.
_CHAINED = "__powertools_sts_chained__"
_LAYERS = "__powertools_sts_layers__"


class _Slot:
    """One ``fetch_data`` entry of one layer: its parameters, key, and the credentials it last handed out."""

    __slots__ = (
        *("__weakref__", "key", "layer", "max_age", "name", "observer", "owner", "params", "provider", "sessions"),
        *("state", "tenant"),
    )

    def __init__(
        self, layer: _Layer, name: str, params: dict[str, Any], max_age: float | None, region: Any,
        tenant: str | None = None,
    ) -> None:  # fmt: skip
        self.layer = layer
        self.owner: Any = layer  # whose deadline an invalidation pulls in: the layer's, or its tenant's
        self.tenant = tenant
        self.observer: Any = (
            layer.observer if tenant is None or layer.observer is None else Tagged(layer.observer, tenant)
        )
        self.name = name
        self.params = params
        self.max_age = max_age
        self.provider: STSProvider | None = None
        self.key: tuple[Any, ...] = ()
        # (credentials, reusable until): one tuple, swapped whole, so a reader on another thread never
        # pairs new credentials with an old deadline.
        self.state: tuple[Credentials | None, float] = (None, -_INF)
        # The entry's clients heal: a call whose credentials AWS refuses drops them and is retried once.
        check = None if tenant is None else guard(tenant, name)
        self.sessions = SessionCache(
            self.credentials if check is None else _guarded(check, self.credentials), invalidate=self.invalidate,
            retried=self.report_retry, default_region=region, guard=check,
        )  # fmt: skip

    def credentials(self) -> Credentials:
        creds, until = self.state
        if creds is not None and _clock.now() < until:
            return creds
        return self.refresh()

    def refresh(self, background: bool = False) -> Credentials:
        if self.provider is None:
            raise ConfigurationError(
                f"entry {self.name!r}: aws_client_assume_role={self.layer.options.hub!r} is not bound to an outer "
                "sts layer yet; its credentials can be had inside the decorated handler only"
            )
        token = fetching.set(self.tenant) if self.tenant is not None else None
        try:
            creds, until = self.provider.cache.get(
                self.key, self.params, self.max_age, entry=self.name, background=background, observer=self.observer
            )
        finally:
            if token is not None:
                fetching.reset(token)
        if self.max_age == 0:
            # Not shared between invocations (the layer refetches at each one), but reused within one.
            until = creds.expiration.timestamp() - FLOOR_SECONDS
        self.state = (creds, until)
        return creds

    def cached(self) -> bool:
        """Whether the provider would serve this entry from its cache now, without waiting on STS."""
        return self.provider is not None and self.max_age != 0 and self.provider.cache.fresh(self.key, self.max_age)

    def _reset(self) -> None:
        self.state = (None, -_INF)

    def invalidate(self, access_key_id: str | None = None) -> None:
        """Make the next read fetch: drop the entry's credentials, only those of ``access_key_id`` if given."""
        # The provider's entry first: a reader who finds this slot reset must not bring the refused
        # credentials back from the provider's cache.
        if self.provider is not None:
            self.provider._invalidate_key(self.key, access_key_id)
        creds = self.state[0]
        if creds is not None and (access_key_id is None or creds.access_key_id == access_key_id):
            self.state = (None, -_INF)
            self.owner.wake()  # the next invocation prepares the entry again

    def report_retry(self) -> None:
        """Tell the layer's observers that one of the entry's calls was retried after a refusal."""
        if self.layer.observer is not None:
            self.observer.retried(self.name, self.params.get("RoleArn", "GetScopedCredentials"))


def _guarded(check: Callable[[], None], source: Callable[[], Credentials]) -> Callable[[], Credentials]:
    # A tenant's sessions read its credentials through the guard: a session kept from another
    # invocation hands out nothing inside another tenant's, whoever reads it (a signer or a library).
    def read() -> Credentials:
        check()
        return source()

    return read


class _ChainedProvider(STSProvider):
    """The provider of a chained layer: its STS client signs with the hub entry's current credentials."""

    def __init__(self, hub: _Slot, *, boto_config: Config | None, refresh_margin: float, shared_cache: bool) -> None:
        self.hub = hub
        super().__init__(boto_config=boto_config, refresh_margin=refresh_margin, shared_cache=shared_cache)

    def _build_client(self) -> STSClient:
        # Built with the client, so a reset or a fork, which drop the client, drop the session too.
        client: STSClient = _botocore.new_sts_client(self._config, source=self.hub.credentials)
        return client


class _Layer:
    """The state of one applied ``sts(...)``."""

    __slots__ = (
        *("__weakref__", "context_names", "deadline", "handler_name", "hub", "hub_per_invocation"),
        *("alone", "choose", "observer", "options", "pending", "signing", "slots", "static_hub"),
        "tenants",
    )

    def __init__(self, options: Options) -> None:
        self.options = options
        # The hub entry that signs this layer's AssumeRole: static_hub, the outer layer's one when both
        # were applied to one handler; else bound at an invocation, and checked at each one.
        self.hub: _Slot | None = None
        self.static_hub: _Slot | None = None
        self.hub_per_invocation = False
        self.deadline = -_INF
        self.observer: Deferred | None = _observers(options)
        # The events the observers have not heard yet (the same list as the Deferred's): the warm path
        # reads only whether it is empty.
        self.pending: Any = self.observer.pending if self.observer is not None else ()
        region = getattr(options.boto3_session, "region_name", None)
        self.slots = {
            name: _Slot(self, name, params, options.max_age, region) for name, params in options.entries.items()
        }
        self.context_names = context_attributes(self.slots) if options.set_to_context else ()
        self.signing: tuple[Any, Any] = (None, None)  # (provider, signer) of the per-tenant slots to come
        self.tenants = Tenants(self, options.tenant_entries, options.max_tenants) if options.tenant_entries else None
        self.choose = options.tenant
        self.handler_name = "?"  # module.function of the handler, once the layer is applied
        self.alone = (self, None, None)  # its link when no other layer is around the invocation
        if self.observer is not None:
            self.observer.kept = self.wake
        _state.register(self)

    def wake(self) -> None:
        """Have the next invocation take the whole step (to deliver what an observer kept, say)."""
        self.deadline = -_INF
        if self.tenants is not None:
            self.tenants.last.deadline = -_INF  # its deadline holds the layer's too

    def use(self, provider: STSProvider, signer: Any) -> None:
        self.signing = (provider, signer)
        tenants = (
            [] if self.tenants is None else [t for tenant in self.tenants.lru.values() for t in tenant.slots.values()]
        )
        for slot in [*self.slots.values(), *tenants]:
            slot.provider = provider
            slot.key = (self.options.cache_key, signer, cache_key_of(slot.params))

    def tenant_slot(self, name: str, tenant_id: str, make: Callable[[str], Any]) -> _Slot:
        """Return a new slot of per-tenant entry ``name`` for ``tenant_id``: its parameters called and validated."""
        label = f"{name} (tenant {tenant_id!r})"
        try:
            spec = make(tenant_id)
        except Exception as exc:
            raise TenantError(f"entry {label}: its parameters callable raised {type(exc).__name__}: {exc}") from exc
        try:
            params = entry_params(spec, label, chained=self.options.hub is not None)
        except ConfigurationError as exc:
            raise TenantError(f"{exc} (no STS call was made)") from exc
        region = getattr(self.options.boto3_session, "region_name", None)
        slot = _Slot(self, name, params, self.options.max_age, region, tenant=tenant_id)
        provider, signer = self.signing
        if provider is not None:
            slot.provider = provider
            slot.key = (self.options.cache_key, signer, cache_key_of(params))
        return slot

    def bind_hub(self, hub: _Slot) -> None:
        """Sign this layer's AssumeRole with the current credentials of ``hub`` (role chaining)."""
        if hub.provider is None:
            raise ConfigurationError(
                f"entries {sorted(self.slots)} are chained to {hub.name!r} (aws_client_assume_role), which is itself "
                f"chained and not bound to its own signing entry {hub.layer.options.hub!r} yet: put the sts layer "
                f"that defines {hub.layer.options.hub!r} around both"
            )
        options = self.options
        # Per hub slot: two slots of one key may differ in max_age, and the client signs with this one's.
        config = value_key(options.boto_config, "boto_config")
        shared = ("chain", id(hub), config, options.refresh_margin, options.shared_cache)
        with _state.lock:
            provider = _state.shared_providers.get(shared)
            if provider is None:
                provider = _state.shared_providers[shared] = _ChainedProvider(
                    hub, boto_config=options.boto_config, refresh_margin=options.refresh_margin,
                    shared_cache=options.shared_cache,
                )  # fmt: skip
        self.use(provider, ("chain", hub.key))
        self.hub = hub

    def prepare(self, tenant: Tenant | None = None) -> None:
        """Make every entry usable for this invocation (``tenant``'s too); raise one AssumeRoleError naming every failure."""
        if self.options.hub is not None and (self.hub is None or self.hub_per_invocation):
            self._check_hub()
        every = self.options.max_age == 0
        if not _clock.now() < self.deadline:
            until = _ready(self.slots.values(), every)
            self.deadline = -_INF if every or self.hub_per_invocation else until
        if tenant is not None and not _clock.now() < tenant.deadline:
            until = _ready(tenant.slots.values(), every)
            # The tenant's deadline holds the layer's, so that its hot path reads one of them.
            tenant.deadline = -_INF if every or self.hub_per_invocation else min(until, self.deadline)

    def _check_hub(self) -> None:
        hub = self.static_hub or hub_entry(self.options.hub or "", sorted(self.slots))
        if self.hub is None:
            self.bind_hub(hub)
            self.hub_per_invocation = self.static_hub is None
        elif hub is not self.hub:
            raise ConfigurationError(_two_hubs(self.options.hub))

    def set_context(self, context: Any) -> None:
        """Set each entry's credentials on the Lambda context (``set_to_context``)."""
        try:
            for attr, slot in self.context_names:
                setattr(context, attr, slot.state[0])
        except (AttributeError, TypeError) as exc:
            kind = "an" if type(context).__name__[:1].lower() in "aeiou" else "a"
            raise ConfigurationError(
                f"set_to_context=True (handler {self.handler_name}): the Lambda context, {kind} {type(context).__name__}, "
                "cannot take attributes; read the credentials with get_credentials(name) instead"
            ) from exc

    def _reset(self) -> None:
        """Forget the credentials every entry last handed out (what ``clear_caches()`` does), and the tenants."""
        self.deadline = -_INF
        for slot in self.slots.values():
            slot._reset()
        if self.tenants is not None:
            self.tenants.clear()

    def _after_fork(self) -> None:
        """Entries keep credentials still fresh by the clock; only the locks are new."""
        if self.observer is not None:
            self.observer._after_fork()
        if self.tenants is not None:
            self.tenants.lock = threading.Lock()


def _ready(slots: Iterable[_Slot], every: bool) -> float:
    """Refresh the slots that are due (concurrently, those not cached); return the earliest end of freshness."""
    now = _clock.now()
    due = [slot for slot in slots if every or not now < slot.state[1]]
    failures: dict[str, AssumeRoleError] = {}
    # An entry its provider serves from the cache is read here; the others are fetched concurrently.
    fetched = [slot for slot in due if not slot.cached()]
    inline = due if len(fetched) <= 1 else [slot for slot in due if slot not in fetched]
    for slot in inline:
        try:
            slot.refresh()
        except AssumeRoleError as exc:
            failures[slot.name] = exc
    if len(fetched) > 1:
        entity = current_entity()
        futures = [(slot, background.run(_traced(entity, slot.refresh), "refresh")) for slot in fetched]
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
    return min((slot.state[1] for slot in slots), default=_INF)


def _observers(options: Options) -> Deferred | None:
    """Return the layer's observers (spans, metrics) behind a Deferred that delivers on the invocation's thread."""
    from .events import Deferred  # only where something observes the layer

    observers: list[RefreshObserver] = []
    if options.capture == OPENTELEMETRY:
        from .otel import SpanObserver

        observers.append(SpanObserver())
    if options.metrics is not None:
        from .metrics import MetricsObserver

        observers.append(MetricsObserver(options.metrics, entry_dimension=options.metrics_entry_dimension))
    return Deferred(observers) if observers else None


def _two_hubs(name: str | None) -> str:
    # One chained layer holds one set of credentials per entry: shared by two hubs, it would hand one
    # handler the credentials assumed for the other.
    return (
        f"aws_client_assume_role={name!r}: this chained sts layer runs inside two different outer entries "
        f"named {name!r}; apply a chained sts layer to one handler only (decorate each handler separately)"
    )


# The attributes of the Lambda context that an entry set on it must not replace: Powertools'
# LambdaContext's, and the runtime's (awslambdaric 4.2's, not importable outside the runtime).
_RUNTIME_CONTEXT = (
    "aws_request_id", "client_context", "function_name", "function_version", "get_remaining_time_in_millis",
    "identity", "invoked_function_arn", "log", "log_group_name", "log_stream_name", "memory_limit_in_mb",
    "tenant_id", "w3c", "_epoch_deadline_time_in_ms", "_extract_and_strip_w3c", "_w3c_fields",
)  # fmt: skip


def context_attributes(slots: Mapping[str, _Slot]) -> tuple[tuple[str, _Slot], ...]:
    """Map entry names to the context attributes ``set_to_context`` sets; refuse shadowing and collisions."""
    from aws_lambda_powertools.utilities.typing import LambdaContext

    public = {name for name in dir(LambdaContext) if not name.startswith("__")}
    reserved = public | {f"_{name}" for name in public} | set(_RUNTIME_CONTEXT) | set(dir(object))
    mapped: dict[str, str] = {}
    for name in slots:
        attr = re.sub(r"\W", "_", name, flags=re.ASCII)
        attr = f"_{attr}" if attr[:1].isdigit() else attr
        if attr in reserved or (attr.startswith("__") and attr.endswith("__")):
            raise ConfigurationError(
                f"set_to_context=True: entry {name!r} would replace context.{attr}, an attribute of the Lambda "
                "context; rename the entry"
            )
        if attr in mapped:
            raise ConfigurationError(
                f"set_to_context=True: entries {mapped[attr]!r} and {name!r} both map to context.{attr}; rename one"
            )
        mapped[attr] = name
    return tuple((attr, slots[name]) for attr, name in mapped.items())


def _middleware(layer: _Layer) -> Callable[..., Any]:
    """Return the Powertools factory middleware of ``layer``: the per-invocation step."""
    current = _state.invocation.get

    def sts(handler: Callable[..., Any], event: Any, context: Any, **kwargs: Any) -> Any:
        # The hot paths: every entry fresh (one clock read against the earliest end of freshness of the
        # layer's entries; an observer's event pulls it in), and nothing to set on the Lambda context.
        now = _clock.now()
        if now < layer.deadline:
            around = current()
            if around is not None and not layer.context_names:
                outer = around.layers
                around.layers = layer.alone if outer is None else (layer, outer, None)
                try:
                    return handler(event, context, **kwargs) if kwargs else handler(event, context)
                finally:
                    around.layers = outer
        return _step(layer, handler, event, context, kwargs)

    tenants, choose = layer.tenants, layer.options.tenant

    def sts_tenant(handler: Callable[..., Any], event: Any, context: Any, **kwargs: Any) -> Any:
        # The hot path of a layer with per-tenant entries (set_to_context is refused there): the same
        # tenant as the last invocation (tenant isolation mode: always), its entries and the layer's fresh.
        now = _clock.now()
        tenant = tenants.last  # type: ignore[union-attr]  # never None: at first a tenant of no one, never fresh
        if now < tenant.deadline:  # which holds the layer's deadline too (prepare, wake)
            try:  # a context without one takes the whole step, which refuses it
                same = tenant.id == (context.tenant_id if choose is None else choose(event, context))
            except AttributeError:
                same = False
            around = current()
            if same and around is not None:
                outer = around.layers
                around.layers = tenant.alone if outer is None else (layer, outer, tenant)
                try:
                    return handler(event, context, **kwargs) if kwargs else handler(event, context)
                finally:
                    around.layers = outer
        return _step(layer, handler, event, context, kwargs)

    if tenants is not None:
        sts = sts_tenant
    sts.__qualname__ = "sts"  # the factory names its "## sts" subsegment and its log lines after it
    middleware: Callable[..., Any] = lambda_handler_decorator(sts, trace_execution=layer.options.traced)
    return middleware


def _step(layer: _Layer, handler: Callable[..., Any], event: Any, context: Any, kwargs: dict[str, Any]) -> Any:
    """Run the whole step: link the layer into the invocation's context, prepare its entries, deliver events."""
    tenant = None
    if layer.tenants is not None:  # refused here, before any STS call, without a tenant
        tenant = layer.tenants.get(tenant_of_invocation(layer.options.tenant, event, context, layer.handler_name))
    around = _state.invocation.get()
    if around is None:
        around = _state.Around()
        _state.invocation.set(around)  # once per thread or context, not per invocation
    outer = around.layers
    around.layers = (layer.alone if tenant is None else tenant.alone) if outer is None else (layer, outer, tenant)
    try:
        if not (_clock.now() < layer.deadline and (tenant is None or _clock.now() < tenant.deadline)):
            layer.prepare(tenant)
        if layer.context_names:
            layer.set_context(context)
        return handler(event, context, **kwargs) if kwargs else handler(event, context)
    finally:
        # What the observers heard (a prefetch, a refresh, a healed call) reaches the user's Metrics
        # here, on the invocation's thread, before log_metrics flushes, even when the step failed. An
        # event kept while no invocation of the layer takes this path pulls its deadline in: the next does.
        if layer.pending:
            layer.observer.deliver()  # type: ignore[union-attr]  # pending is () without observers
        around.layers = outer


def _shared_provider(options: Options) -> STSProvider:
    # Layers with the same signing configuration share one provider, and so one STS client (about
    # 50 ms each at cold start); their entries stay apart through the key's cache_key and parameters.
    # A session or client is keyed by identity (the provider keeps it alive, so its id is not reused),
    # a Config by value.
    session, client, config = options.boto3_session, options.boto3_client, options.boto_config
    shared = (id(session), id(client), value_key(config, "boto_config"), options.refresh_margin, options.shared_cache)
    with _state.lock:
        provider = _state.shared_providers.get(shared)
        if provider is None:
            provider = _state.shared_providers[shared] = STSProvider(
                boto3_session=session, boto3_client=client, boto_config=config,
                refresh_margin=options.refresh_margin, shared_cache=options.shared_cache,
            )  # fmt: skip
    shared_provider: STSProvider = provider
    return shared_provider


def _traced(entity: Any, function: Callable[[], Credentials]) -> Callable[[], Credentials]:
    # X-Ray keeps its entities in thread-locals, not in the context that background threads copy.
    return lambda: run_traced(entity, function)


def _prefetch(layer: _Layer) -> None:
    """Fetch every entry in the background; under provisioned concurrency and on Managed Instances, wait."""

    def prefetch(slot: _Slot) -> None:
        try:
            run_traced(None, lambda: slot.refresh(background=True))
        except Exception as exc:  # an import must never fail because STS is unreachable
            logger.warning("Prefetching entry %r failed; the first invocation fetches it again: %s", slot.name, exc)

    futures = [background.run(functools.partial(prefetch, slot), "prefetch") for slot in layer.slots.values()]
    if not futures or not init_waits_for_prefetch():  # no futures: only per-tenant entries, never prefetched
        return
    timeout = layer.options.prefetch_timeout
    if timeout is None:
        provider = next(iter(layer.slots.values())).provider
        timeout = provider.retry_budget() if provider is not None else 0.0
    _, pending = concurrent.futures.wait(futures, timeout=timeout)
    if pending:
        # Never an INIT failure: the first invocation joins the fetches still in flight, or fetches.
        logger.warning(
            "Prefetching %d of %d entries did not finish within %.0f s at INIT; the first invocation waits for them",
            len(pending),
            len(futures),
            timeout,
        )


def sts(
    *,
    fetch_data: Mapping[str, Any],
    boto3_session: boto3.session.Session | None = None,
    boto3_client: STSClient | None = None,
    boto_config: Config | None = None,
    aws_client_capture: bool | Literal["xray", "opentelemetry"] = False,
    aws_client_assume_role: str | None = None,
    disable_prefetch: bool = False,
    cache_key: str = "powertools_sts",
    max_age: float | None = None,
    set_to_context: bool = False,
    refresh_margin: float = 300,
    trace_execution: bool | None = None,
    prefetch_timeout: float | None = None,
    shared_cache: bool | None = None,
    metrics: Metrics | EphemeralMetrics | None = None,
    metrics_entry_dimension: bool = False,
    tenant: Callable[[Any, Any], str] | None = None,
    max_tenants: int = 10,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Give a Lambda handler the credentials of other IAM roles, assumed through STS and cached.

    Options are validated and entries prefetched when ``sts(...)`` is applied; each invocation then
    makes sure every entry has usable credentials, from the cache while they are fresh.

    Parameters
    ----------
    fetch_data:
        Entry name to AssumeRole parameters (boto3 spelling); a bare string is short for
        ``{"RoleArn": s}``; without ``RoleArn``, GetScopedCredentials' (the function's own credentials
        scoped down). A callable ``(tenant_id) -> parameters`` is a per-tenant entry: called once per
        tenant, never prefetched. (@middy/sts: ``fetchData``)
    boto3_session, boto3_client, boto_config:
        As in :class:`STSProvider`. ``get_session(name)`` without a region takes ``boto3_session``'s
        region. (``AwsClient``, ``awsClientOptions``)
    aws_client_capture:
        ``True`` or ``"xray"``: X-Ray subsegments of the STS calls (the ``tracer`` extra);
        ``"opentelemetry"``: spans, plus a ``powertools_sts.refresh`` span per AssumeRole (the ``otel``
        extra). (``awsClientCapture``)
    aws_client_assume_role:
        An entry of an outer ``sts`` layer whose credentials sign this layer's AssumeRole (role
        chaining); a chained layer does not prefetch. (``awsClientAssumeRole``)
    disable_prefetch:
        Do not fetch when the decorator is applied. (``disablePrefetch``)
    cache_key:
        Namespace of this layer's entries, which are also keyed by their parameters. (``cacheKey``)
    max_age:
        Seconds an entry stays fresh at most; None or -1: until the refresh window; 0: a fetch at every
        invocation, nothing cached. (``cacheExpiry``, in milliseconds there)
    set_to_context:
        Also set each entry's Credentials on the Lambda context, under the name with non-identifier
        characters replaced by ``_``. Discouraged: contexts are often logged. (``setToContext``)
    refresh_margin:
        As in :class:`STSProvider`.
    trace_execution:
        A ``## sts`` X-Ray subsegment per invocation; None reads ``POWERTOOLS_TRACE_MIDDLEWARES``.
    prefetch_timeout:
        Under provisioned concurrency and on Managed Instances, INIT waits this many seconds at most
        for the prefetch (0: never). None: ``POWERTOOLS_STS_PREFETCH_TIMEOUT``, else the STS client's
        retry budget (35 s). A failure never fails INIT. On-demand INIT never waits.
    shared_cache:
        Share credentials with the other worker processes of the environment through ``/tmp``: each
        role assumed once per environment. None: ``POWERTOOLS_STS_SHARED_CACHE``, else on Managed
        Instances only.
    metrics:
        A Powertools ``Metrics`` or ``EphemeralMetrics``: each AssumeRole attempt adds
        ``AssumeRoleCalls``, ``AssumeRoleFailures``, ``CredentialsServedStale``, ``AssumeRoleLatency``,
        and a call retried after a refusal ``CredentialsRetriedAfterRefusal``, always on the thread
        of an invocation of this layer (a background fetch's at the next one), so ``log_metrics``
        flushes them safely.
    metrics_entry_dimension:
        Also print each attempt at once as an EMF blob with an ``entry`` dimension. Needs ``metrics``.
    tenant:
        ``(event, context) -> tenant id`` of an invocation, for per-tenant entries; None:
        ``context.tenant_id`` (Lambda's tenant isolation mode). An invocation without one is refused.
    max_tenants:
        The tenants each per-tenant entry keeps (least recently used out), with their sessions and
        clients: about 6 KiB a tenant for credentials alone, 12 MiB with an S3 client.

    Raises
    ------
    ConfigurationError
        For any invalid option, naming it (an unknown option is a TypeError); for an X-Ray option
        without aws-xray-sdk installed, with the ``pip install`` command.

    Example
    -------
    >>> from powertools_sts import sts, get_client
    >>> @sts(fetch_data={"reports": {"RoleArn": "arn:aws:iam::111122223333:role/reports"}})  # doctest: +SKIP
    ... def handler(event, context):
    ...     get_client("reports", "s3").put_object(Bucket="b", Key="k", Body=b"...")
    """
    options = Options.of(
        fetch_data=fetch_data, boto3_session=boto3_session, boto3_client=boto3_client, boto_config=boto_config,
        aws_client_capture=aws_client_capture, aws_client_assume_role=aws_client_assume_role,
        disable_prefetch=disable_prefetch, cache_key=cache_key, max_age=max_age, set_to_context=set_to_context,
        refresh_margin=refresh_margin, trace_execution=trace_execution, prefetch_timeout=prefetch_timeout,
        shared_cache=shared_cache, metrics=metrics, metrics_entry_dimension=metrics_entry_dimension,
        tenant=tenant, max_tenants=max_tenants,
    )  # fmt: skip
    if options.capture == XRAY:
        capture_botocore()
    elif options.capture == OPENTELEMETRY:
        from .otel import capture_botocore_opentelemetry

        capture_botocore_opentelemetry()
    layer = _Layer(options)
    if options.hub is None:
        layer.use(_shared_provider(options), None)
    register_names(layer)
    if options.hub is None and options.prefetch and options.max_age != 0 and not _snap_start():
        _prefetch(layer)
    return functools.partial(_apply, layer, _middleware(layer))


def _snap_start() -> bool:
    # Credentials fetched before a snapshot could be restored hours later, in many copies: no prefetch.
    return os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE") == "snap-start"


def _apply(layer: _Layer, middleware: Callable[..., Any], handler: Callable[..., Any]) -> Callable[..., Any]:
    """Decorate ``handler``; bind the chained layers inside it whose signing entry this layer defines."""
    inside: list[_Layer] = list(getattr(handler, _LAYERS, ()))
    if layer.options.hub is not None:
        _refuse_hub_inside(layer, layer.options.hub, inside)
    layer.handler_name = f"{getattr(handler, '__module__', '?')}.{getattr(handler, '__qualname__', '?')}"
    wrapped: Callable[..., Any] = middleware(handler)
    outer = []
    for inner in getattr(handler, _CHAINED, ()):
        hub = layer.slots.get(inner.options.hub or "")
        if layer.tenants is not None and inner.options.hub in layer.tenants.factories:
            raise ConfigurationError(
                f"aws_client_assume_role={inner.options.hub!r} names a per-tenant entry: a chained layer is signed "
                "by one entry's credentials, not a tenant's; make the chained entries per tenant instead"
            )
        if hub is None:
            outer.append(inner)  # its hub is further out, or found at the first invocation
        elif inner.static_hub is None and inner.hub is None:
            inner.static_hub = hub
            if hub.provider is not None:  # a hub that is itself chained binds at the first invocation
                inner.bind_hub(hub)
        elif (inner.static_hub or inner.hub) is not hub:
            raise ConfigurationError(_two_hubs(inner.options.hub))
    if layer.options.hub is not None:
        outer.append(layer)
    setattr(wrapped, _CHAINED, outer)
    setattr(wrapped, _LAYERS, [*inside, layer])
    return wrapped


def _refuse_hub_inside(layer: _Layer, hub_name: str, inside: list[_Layer]) -> None:
    """Refuse a chained layer whose signing entry is defined only inside it (a cycle, or a reversed stack)."""
    for inner in inside:
        if hub_name not in inner.slots:
            continue
        mine = sorted(layer.slots)
        if inner.options.hub is not None and inner.options.hub in layer.slots:
            raise ConfigurationError(
                f"a chaining cycle: entries {mine} are signed by {hub_name!r} (aws_client_assume_role), and "
                f"{hub_name!r}, in an sts layer inside this one, is signed by {inner.options.hub!r} of this layer; "
                "one of them must be assumed with the function's own credentials"
            )
        raise ConfigurationError(
            f"aws_client_assume_role={hub_name!r} (entries {mine}): {hub_name!r} is defined by an sts layer "
            "inside this one; the signing entry must come from a layer outside (put that layer first)"
        )
