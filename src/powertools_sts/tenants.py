"""Per-tenant entries: an entry of ``fetch_data`` that is a callable ``(tenant_id) -> parameters``.

Each invocation of a layer with such an entry names its tenant (``context.tenant_id``, or the layer's
``tenant`` callable). The callable is called once per tenant while the tenant stays among the layer's
``max_tenants`` most recently used, and what it returns is validated before any STS call. A tenant's
credentials, sessions and clients are its own: its clients refuse to sign inside another tenant's
invocation.

Example
-------
>>> from powertools_sts import sts, get_client
>>> @sts(fetch_data={"data": lambda tenant_id: {  # doctest: +SKIP
...     "RoleArn": "arn:aws:iam::111122223333:role/tenant-data",
...     "Tags": [{"Key": "TenantID", "Value": tenant_id}],
... }})
... def handler(event, context):
...     return get_client("data", "s3").list_objects_v2(Bucket="data", Prefix=f"{context.tenant_id}/")
"""

from __future__ import annotations

import sys
import threading
from collections import OrderedDict
from collections.abc import Callable
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from . import _state
from .exceptions import TenantError

if TYPE_CHECKING:
    from .middleware import _Layer, _Slot

__all__ = ["Marker", "Tagged", "Tenant", "Tenants", "annotate", "fetching", "guard", "running", "tenant_of_invocation"]

_INF = float("inf")
#: The tenant whose credentials this context is fetching (an annotation of the X-Ray STS subsegment).
fetching: ContextVar[str | None] = ContextVar("powertools_sts_fetching_tenant", default=None)


def tenant_of_invocation(choose: Callable[[Any, Any], Any] | None, event: Any, context: Any, handler: str) -> str:
    """Return the invocation's tenant id: ``choose(event, context)``, else ``context.tenant_id``; refuse none.

    Example
    -------
    >>> tenant_of_invocation(lambda event, context: event["tenant"], {"tenant": "acme"}, None, "app.handler")
    'acme'
    """
    if choose is None:
        tenant = getattr(context, "tenant_id", None)
    else:
        try:
            tenant = choose(event, context)
        except Exception as exc:  # an event without the field it reads: no tenant, refused as one
            raise TenantError(
                f"handler {handler} has per-tenant entries, and the tenant= callable raised {type(exc).__name__}: "
                f"{exc}: an invocation needs a tenant; no credentials were fetched"
            ) from exc
    if type(tenant) is not str or not tenant:
        where = "the tenant= callable returned" if choose is not None else "context.tenant_id is"
        raise TenantError(
            f"handler {handler} has per-tenant entries, and {where} {tenant!r}: an invocation needs a tenant (a "
            "non-empty string). Invoke the function with a tenant id (tenant isolation mode), or pass "
            "tenant=lambda event, context: ... to sts(...) to take it from the event; no credentials were fetched"
        )
    return tenant


class Tenant:
    """One tenant of a layer: a slot per per-tenant entry, and the earliest end of their freshness."""

    __slots__ = ("alone", "deadline", "id", "slots")

    def __init__(self, layer: _Layer, tenant_id: str, slots: dict[str, _Slot]) -> None:
        self.id = tenant_id
        self.slots = slots
        self.deadline = -_INF
        self.alone = (layer, None, self)  # its link when no other layer is around the invocation

    def wake(self) -> None:
        """Have its next invocation take the whole step (an entry of it was invalidated)."""
        self.deadline = -_INF


class Marker:
    """A per-tenant entry in the registry of names: it resolves only inside an invocation, with its tenant."""

    __slots__ = ("__weakref__", "layer", "name")
    per_tenant = True
    provider = None

    def __init__(self, layer: Any, name: str) -> None:
        self.layer, self.name = layer, name


#: The last tenant of a layer before any: no id, never fresh (the hot path then needs no None check).
_NOBODY = Tenant(None, "", {})  # type: ignore[arg-type]


class Tenants:
    """The tenants of one layer, least recently used first, at most ``max_tenants`` of them.

    A tenant pushed out drops its sessions and clients and its credentials from the provider's cache:
    memory stays bounded however many tenants come by. The tenant of the last invocation is kept
    at hand, so that an environment of one tenant (tenant isolation mode) skips the look-up.

    Example
    -------
    >>> tenants = Tenants(None, {}, max_tenants=2)  # doctest: +SKIP
    """

    __slots__ = ("admitting", "factories", "last", "layer", "lock", "lru", "markers", "max_tenants")

    def __init__(self, layer: _Layer, factories: dict[str, Callable[[str], Any]], max_tenants: int) -> None:
        self.layer = layer
        self.factories = factories
        # What bears a per-tenant name in the process's registry of names (names.py).
        self.markers = {name: Marker(layer, name) for name in factories}
        self.max_tenants = max_tenants
        self.lru: OrderedDict[str, Tenant] = OrderedDict()
        self.lock = threading.Lock()
        self.admitting: dict[str, threading.Lock] = {}
        self.last = _NOBODY

    def get(self, tenant_id: str) -> Tenant:
        """Return the tenant ``tenant_id``, admitting it (its parameters called and validated) if new."""
        last = self.last
        if last.id == tenant_id:
            return last
        with self.lock:
            tenant = self.lru.get(tenant_id)
            if tenant is not None:
                self.lru.move_to_end(tenant_id)
        if tenant is None:
            with self.lock:  # one admission per tenant at a time: its callable is called once
                admitting = self.admitting.setdefault(tenant_id, threading.Lock())
            with admitting:  # the user's callables run outside the layer's lock
                tenant = self.lru.get(tenant_id) or self._admit(tenant_id)
            with self.lock:
                self.admitting.pop(tenant_id, None)
        self.last = tenant
        return tenant

    def _admit(self, tenant_id: str) -> Tenant:
        slots = {name: self.layer.tenant_slot(name, tenant_id, make) for name, make in self.factories.items()}
        tenant = Tenant(self.layer, tenant_id, slots)
        for slot in slots.values():
            slot.owner = tenant
        evicted: list[Tenant] = []
        with self.lock:
            raced = self.lru.get(tenant_id)
            if raced is not None:  # another thread admitted it meanwhile: one set of slots per tenant
                self.lru.move_to_end(tenant_id)
                return raced
            self.lru[tenant_id] = tenant
            while len(self.lru) > self.max_tenants:
                evicted.append(self.lru.popitem(last=False)[1])
                if self.last is evicted[-1]:
                    self.last = _NOBODY
        for gone in evicted:
            _drop(gone)
        return tenant

    def clear(self) -> None:
        """Forget every tenant (``clear_caches()``, a fork): they are admitted again at their next invocation."""
        with self.lock:
            gone, self.lru, self.last = list(self.lru.values()), OrderedDict(), _NOBODY
        for tenant in gone:
            for slot in tenant.slots.values():
                slot.sessions._reset()


class Tagged:
    """The layer's observers, hearing a tenant's refreshes with the tenant on them (a span attribute).

    Example
    -------
    >>> Tagged(None, "acme").tenant
    'acme'
    """

    __slots__ = ("observer", "tenant")

    def __init__(self, observer: Any, tenant: str) -> None:
        self.observer, self.tenant = observer, tenant

    def refreshed(self, event: Any) -> None:
        """Pass ``event`` on with the tenant."""
        self.observer.refreshed(event._replace(tenant=self.tenant))

    def retried(self, entry: str | None, role_arn: str) -> None:
        """Pass the retry on."""
        self.observer.retried(entry, role_arn)


def _drop(tenant: Tenant) -> None:
    for slot in tenant.slots.values():
        slot.sessions._reset()
        if slot.provider is not None:
            slot.provider.cache.invalidate(slot.key, None)


def running() -> Tenant | None:
    """Return the tenant of the innermost invocation with one that runs in this context, or None.

    Example
    -------
    >>> running() is None  # outside any invocation
    True
    """
    around = _state.invocation.get()
    node = around.layers if around is not None else None
    while node is not None:
        if node[2] is not None:
            tenant: Tenant = node[2]
            return tenant
        node = node[1]
    return None


def guard(tenant_id: str, name: str) -> Callable[..., None]:
    """Return a ``before-sign`` handler that refuses to sign for ``tenant_id`` inside another tenant's invocation.

    A thread the handler started without a copy of the invocation's context has no tenant: it signs.

    Example
    -------
    >>> check = guard("acme", "data"); check()  # outside any invocation: it signs
    """

    def check(**kwargs: Any) -> None:
        tenant = running()
        if tenant is not None and tenant.id != tenant_id:
            raise TenantError(
                f"a client or session of entry {name!r} for tenant {tenant_id!r} was used inside an invocation of "
                f"tenant {tenant.id!r}: nothing was sent. Get the client in the invocation that uses it, with "
                f"get_client({name!r}, ...), which answers for the invocation's tenant; do not keep a tenant's "
                "client in a global"
            )

    return check


def annotate(**kwargs: Any) -> None:
    """Annotate the X-Ray subsegment of an STS call made for a tenant with ``powertools_sts_tenant``.

    A ``before-call`` handler of the package's STS clients; X-Ray only where aws-xray-sdk is loaded.

    Example
    -------
    >>> annotate()  # no tenant is being fetched for: nothing to do
    """
    tenant = fetching.get()
    recorder = sys.modules.get("aws_xray_sdk.core")
    if tenant is None or recorder is None:
        return
    subsegment = recorder.xray_recorder.current_subsegment()
    if subsegment is not None:
        subsegment.put_annotation("powertools_sts_tenant", tenant)
