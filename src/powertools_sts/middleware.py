"""The ``sts`` handler decorator: @middy/sts for Powertools.

Two paths, kept apart:

- When ``sts(...)`` is applied (module import, the Lambda INIT phase): every option is validated, and
  every entry is prefetched concurrently on worker threads, so the import never waits on STS.
- Each invocation (``_middleware``'s step): one clock read against the layer's deadline, the earliest time any
  of its entries stops being fresh. Only past it does ``_Layer.prepare`` ask the provider.

Which entry a name means inside the handler is :mod:`powertools_sts.names`' business.
"""

from __future__ import annotations

import concurrent.futures
import logging
import os
import re
import weakref
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Literal

# Imported at run time, not only for type checkers, so that typing.get_type_hints works on the public
# names: boto3 and botocore are loaded already (Powertools' provider base imports boto3).
import boto3
from aws_lambda_powertools.middleware_factory import lambda_handler_decorator
from aws_lambda_powertools.shared.functions import resolve_truthy_env_var_choice
from botocore.config import Config

from . import _botocore, _clock, _state
from .credentials import Credentials
from .events import Observers, RefreshObserver
from .exceptions import AssumeRoleError, ConfigurationError
from .execution import init_waits_for_prefetch, prefetch_timeout_from_env, shared_cache_from_env
from .names import hub_entry, register_names
from .otel import SpanObserver, capture_botocore_opentelemetry, current_context, run_in_context
from .provider import FLOOR_SECONDS, STSProvider
from .sessions import SessionCache, value_key
from .tracing import (
    OPENTELEMETRY,
    XRAY,
    capture_backend,
    capture_botocore,
    current_entity,
    require_xray_sdk,
    run_traced,
)
from .validation import (
    MAX_CHAINED_DURATION,
    cache_key_of,
    validate_assume_role_params,
    validate_max_age,
    validate_refresh_margin,
)

if TYPE_CHECKING:
    from concurrent.futures import Future

    from aws_lambda_powertools.metrics import EphemeralMetrics, Metrics
    from mypy_boto3_sts import STSClient
else:  # the stubs are a development dependency; at run time the annotation resolves to botocore's client
    from botocore.client import BaseClient as STSClient

    # Annotations only: powertools_sts.metrics is imported when metrics= is given.
    EphemeralMetrics = Metrics = Any

__all__ = ["sts"]

logger = logging.getLogger("powertools_sts")

_INF = float("inf")
_CHAINED = "__powertools_sts_chained__"
# Every sts layer applied to a handler, innermost first: an outer layer checks chaining against them.
_LAYERS = "__powertools_sts_layers__"


class _Slot:
    """One ``fetch_data`` entry of one layer: its parameters, key, and the credentials it last handed out."""

    __slots__ = ("__weakref__", "key", "layer", "max_age", "name", "params", "provider", "sessions", "state")

    def __init__(self, layer: _Layer, name: str, params: dict[str, Any], max_age: float | None) -> None:
        self.layer = layer
        self.name = name
        self.params = params
        self.max_age = max_age
        self.provider: STSProvider | None = None
        self.key: tuple[Any, ...] = ()
        # (credentials, reusable until): one tuple, swapped whole, so a reader on another thread never
        # pairs new credentials with an old deadline or the reverse.
        self.state: tuple[Credentials | None, float] = (None, -_INF)
        # The entry's clients heal: a call whose credentials AWS refuses drops them and is retried once.
        self.sessions = SessionCache(self.credentials, invalidate=self.invalidate, retried=self.report_retry)

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
        creds, until = self.provider._credentials_for(
            self.key, self.params, self.max_age, entry=self.name, background=background, observer=self.layer.observer
        )
        if self.max_age == 0:
            # Not shared between invocations (the layer refetches at each one), but reused within one.
            until = creds.expiration.timestamp() - FLOOR_SECONDS
        self.state = (creds, until)
        return creds

    def _reset(self) -> None:
        self.state = (None, -_INF)

    def invalidate(self, access_key_id: str | None = None) -> None:
        """Make the next read fetch: drop the entry's credentials, only those of ``access_key_id`` if given.

        Credentials a concurrent refresh already put in their place are kept, so any number of callers
        refused with the same credentials cause one AssumeRole.
        """
        # The provider's entry first: a reader who finds this slot's state reset must not find the
        # refused credentials in the provider's cache and bring them back.
        if self.provider is not None:
            self.provider._invalidate_key(self.key, access_key_id)
        creds = self.state[0]
        if creds is not None and (access_key_id is None or creds.access_key_id == access_key_id):
            self.state = (None, -_INF)
            # So that the next invocation prepares the entry again, and sets on the context what it fetched.
            self.layer.deadline = -_INF

    def report_retry(self) -> None:
        """Tell the layer's observer, if any, that one of the entry's calls was retried after a refusal."""
        observer = self.layer.observer
        if observer is not None:
            observer.retried(self.name, self.params["RoleArn"])


class _ChainedProvider(STSProvider):
    """The provider of a chained layer: its STS client signs with the hub entry's current credentials.

    The client's session is built with the client, so a reset or a fork, which drop the client, drop
    it too. Its credentials are refreshable and read the hub entry whenever they change: a refreshed
    hub is used at the next fetch, a failed one is never remembered.
    """

    def __init__(self, hub: _Slot, *, boto_config: Config | None, refresh_margin: float, shared_cache: bool) -> None:
        self.hub = hub
        super().__init__(boto_config=boto_config, refresh_margin=refresh_margin, shared_cache=shared_cache)

    def _build_client(self) -> STSClient:
        client: STSClient = _botocore.new_sts_client(self._config, source=self.hub.credentials)
        return client


class _Layer:
    """The state of one applied ``sts(...)``."""

    __slots__ = (
        "__weakref__",
        "boto_config",
        "cache_key",
        "capture",
        "code",
        "context_names",
        "deadline",
        "fetch_every_invocation",
        "handler_name",
        "hub",
        "hub_name",
        "hub_per_invocation",
        "observer",
        "refresh_margin",
        "shared_cache",
        "slots",
        "static_hub",
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
        shared_cache: bool,
    ) -> None:
        self.cache_key = cache_key
        self.shared_cache = shared_cache
        # Metrics and tracing of this layer's fetches (events.py); None: nobody observes them.
        self.observer: RefreshObserver | None = None
        self.refresh_margin = refresh_margin
        self.hub_name = hub_name
        self.hub: _Slot | None = None
        # static_hub: the hub entry of the outer layer this one was stacked in when both were applied.
        # hub_per_invocation: bound at an invocation instead, so each invocation checks it runs inside
        # the same hub.
        self.static_hub: _Slot | None = None
        self.hub_per_invocation = False
        self.capture = capture
        self.boto_config = boto_config
        self.fetch_every_invocation = max_age == 0
        self.deadline = -_INF
        self.slots = {name: _Slot(self, name, params, max_age) for name, params in entries.items()}
        self.context_names = context_attributes(self.slots) if set_to_context else ()
        self.handler_name = "?"  # module.function of the handler, once the layer is applied
        self.code: Any = None  # the code object of this layer's middleware step
        _state.register(self)

    def set_context(self, context: Any) -> None:
        """Set each entry's credentials on the Lambda context (``set_to_context``)."""
        try:
            for attr, slot in self.context_names:
                setattr(context, attr, slot.state[0])
        except (AttributeError, TypeError) as exc:
            raise ConfigurationError(
                f"set_to_context=True (handler {self.handler_name}): the Lambda context, a {type(context).__name__}, "
                "cannot take attributes; read the credentials with get_credentials(name) instead"
            ) from exc

    def use(self, provider: STSProvider, signer: Any) -> None:
        for slot in self.slots.values():
            slot.provider = provider
            slot.key = (self.cache_key, signer, cache_key_of(slot.params))

    def bind_hub(self, hub: _Slot) -> None:
        """Sign this layer's AssumeRole with the current credentials of ``hub`` (role chaining)."""
        if hub.provider is None:
            raise ConfigurationError(
                f"entries {sorted(self.slots)} are chained to {hub.name!r} (aws_client_assume_role), which is itself "
                f"chained and not bound to its own signing entry {hub.layer.hub_name!r} yet: put the sts layer "
                f"that defines {hub.layer.hub_name!r} around both"
            )
        # Per hub slot, not per hub key: two slots of one key may differ in max_age, and the chained
        # client must sign with what this hub slot hands out.
        shared = ("chain", id(hub), value_key(self.boto_config, "boto_config"), self.refresh_margin, self.shared_cache)
        with _state.lock:
            provider = _state.shared_providers.get(shared)
            if provider is None:
                provider = _state.shared_providers[shared] = _ChainedProvider(
                    hub,
                    boto_config=self.boto_config,
                    refresh_margin=self.refresh_margin,
                    shared_cache=self.shared_cache,
                )
        self.use(provider, ("chain", hub.key))
        self.hub = hub

    def prepare(self) -> None:
        """Make every entry usable for this invocation; raise one AssumeRoleError naming every failure."""
        if self.hub_name is not None and (self.hub is None or self.hub_per_invocation):
            self._check_hub()
        now = _clock.now()
        due = [slot for slot in self.slots.values() if self.fetch_every_invocation or not now < slot.state[1]]
        failures: dict[str, AssumeRoleError] = {}
        if len(due) == 1:
            try:
                due[0].refresh()
            except AssumeRoleError as exc:
                failures[due[0].name] = exc
        elif due:
            entity, otel_context = current_entity(), current_context()
            futures = [(slot, _state.start_worker(_traced_refresh(entity, otel_context, slot))) for slot in due]
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
        self.deadline = (
            -_INF
            if self.fetch_every_invocation or self.hub_per_invocation
            else min(slot.state[1] for slot in self.slots.values())
        )

    def _check_hub(self) -> None:
        hub = self.static_hub or hub_entry(self.hub_name or "", sorted(self.slots))
        if self.hub is None:
            self.bind_hub(hub)
            self.hub_per_invocation = self.static_hub is None
        elif hub is not self.hub:
            raise ConfigurationError(_two_hubs(self.hub_name))

    def _reset(self) -> None:
        """Forget the credentials every entry last handed out (what ``clear_caches()`` does)."""
        self.deadline = -_INF
        for slot in self.slots.values():
            slot._reset()

    def _after_fork(self) -> None:
        """Nothing to do: entries keep credentials still fresh by the clock, and a layer has no lock."""


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


# The attributes of the Lambda context that an entry set on it must not replace: Powertools'
# LambdaContext (what tests and typed handlers use) and the runtime's (awslambdaric 4.2's, which is
# not importable outside the runtime), public and the private ones their properties read.
_RUNTIME_CONTEXT = (
    "aws_request_id", "client_context", "function_name", "function_version", "get_remaining_time_in_millis",
    "identity", "invoked_function_arn", "log", "log_group_name", "log_stream_name", "memory_limit_in_mb",
    "tenant_id", "w3c", "_epoch_deadline_time_in_ms", "_extract_and_strip_w3c", "_w3c_fields",
)  # fmt: skip


def _reserved_context_attributes() -> set[str]:
    from aws_lambda_powertools.utilities.typing import LambdaContext

    public = {name for name in dir(LambdaContext) if not name.startswith("__")}
    return public | {f"_{name}" for name in public} | set(_RUNTIME_CONTEXT)


def context_attributes(slots: Mapping[str, _Slot]) -> tuple[tuple[str, _Slot], ...]:
    """Map entry names to the context attributes ``set_to_context`` sets; refuse shadowing and collisions.

    Raises
    ------
    ConfigurationError
        For a name that would replace an attribute of the Lambda context, or two names that map to one
        attribute (``"a-b"`` and ``"a_b"`` are both ``context.a_b``: one role's credentials would
        silently stand in for the other's).
    """
    reserved = _reserved_context_attributes()
    mapped: dict[str, str] = {}
    for name in slots:
        attr = _identifier(name)
        if attr in reserved:
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


def _middleware(layer: _Layer, traced: bool) -> Callable[..., Any]:
    """Return the Powertools factory middleware of ``layer``: the per-invocation step."""

    def sts(handler: Callable[..., Any], event: Any, context: Any, **kwargs: Any) -> Any:
        # The hot path: one clock read against the earliest end of freshness of the layer's entries.
        if not _clock.now() < layer.deadline:
            layer.prepare()
        if layer.context_names:
            layer.set_context(context)
        return handler(event, context, **kwargs) if kwargs else handler(event, context)

    # Which layers surround an invocation is read off the call stack when a name is resolved (names.py),
    # not set per invocation: a ContextVar set and reset here cost more than the factory's own wrapper.
    # A code object of its own per layer lets a frame say which layer it belongs to.
    sts.__code__ = sts.__code__.replace()
    layer.code = sts.__code__
    _state.layer_codes[id(layer.code)] = weakref.ref(layer)
    weakref.finalize(layer, _state.layer_codes.pop, id(layer.code), None)
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


def _shared_provider(
    boto3_session: Any, boto3_client: Any, boto_config: Any, refresh_margin: float, shared_cache: bool
) -> STSProvider:
    # Layers with the same signing configuration share one provider, and so one STS client (about
    # 50 ms each at cold start); their entries stay apart through the key's cache_key and parameters.
    # A session or client is keyed by identity: the provider keeps it alive, so its id cannot be reused
    # while the provider is registered. A Config is keyed by value: an equal one shares the provider.
    shared = (id(boto3_session), id(boto3_client), value_key(boto_config, "boto_config"), refresh_margin, shared_cache)
    with _state.lock:
        provider = _state.shared_providers.get(shared)
        if provider is None:
            provider = _state.shared_providers[shared] = STSProvider(
                boto3_session=boto3_session,
                boto3_client=boto3_client,
                boto_config=boto_config,
                refresh_margin=refresh_margin,
                shared_cache=shared_cache,
            )
    shared_provider: STSProvider = provider
    return shared_provider


def _seconds(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 900:
        raise ConfigurationError(f"{name} must be a number of seconds in 0..900, got {value!r}")
    return float(value)


def _wait_for_prefetch(layer: _Layer, prefetches: list[Future[None]], timeout: float | None) -> None:
    """Wait, within the budget, for the prefetch: INIT then ends with the credentials cached."""
    if timeout is None:
        provider = next(iter(layer.slots.values())).provider
        timeout = provider.retry_budget() if provider is not None else 0.0
    _, pending = concurrent.futures.wait(prefetches, timeout=timeout)
    if pending:
        # Never an INIT failure: the first invocation joins the fetches still in flight, or fetches.
        logger.warning(
            "Prefetching %d of %d entries did not finish within %.0f s at INIT; the first invocation waits for them",
            len(pending),
            len(prefetches),
            timeout,
        )


def _snap_start() -> bool:
    # Credentials fetched before a snapshot could be restored hours later, in many copies: no prefetch.
    return os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE") == "snap-start"


def _prefetcher(slot: _Slot) -> Callable[[], None]:
    # The OpenTelemetry context where sts(...) is applied: a span open around the import parents the
    # prefetch's spans; with none, they start traces of their own.
    otel_context = current_context()

    def prefetch() -> None:
        try:
            run_in_context(otel_context, lambda: run_traced(None, lambda: slot.refresh(background=True)))
        except Exception as exc:  # an import must never fail because STS is unreachable
            logger.warning("Prefetching entry %r failed; the first invocation fetches it again: %s", slot.name, exc)

    return prefetch


def _traced_refresh(entity: Any, otel_context: Any, slot: _Slot) -> Callable[[], Credentials]:
    return lambda: run_in_context(otel_context, lambda: run_traced(entity, slot.refresh))


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
        Capture the STS calls: ``True`` or ``"xray"``, as X-Ray subsegments (needs the ``tracer``
        extra); ``"opentelemetry"``, as OpenTelemetry spans, with a ``powertools_sts.refresh`` span per
        AssumeRole attempt (needs the ``otel`` extra; see :mod:`powertools_sts.otel`).
        (``awsClientCapture``)
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
        Needs aws-xray-sdk (the ``tracer`` extra): without it, ``True`` (set or read) is refused.
    prefetch_timeout:
        Under provisioned concurrency and on Managed Instances, applying ``sts(...)`` waits for the
        prefetch so that INIT ends with the credentials cached: at most this many seconds (0: never
        wait). None reads ``POWERTOOLS_STS_PREFETCH_TIMEOUT``, else the STS client's retry budget
        (35 s with the defaults). A failure or a spent budget never fails INIT: it is logged, and the
        first invocation fetches. On-demand INIT never waits.
    shared_cache:
        Share credentials with the other worker processes of this execution environment through
        files in ``/tmp``, so that each role is assumed once per environment. None reads
        ``POWERTOOLS_STS_SHARED_CACHE``, else on Lambda Managed Instances only.
    metrics:
        A Powertools ``Metrics`` or ``EphemeralMetrics``: each AssumeRole attempt of this layer adds
        ``AssumeRoleCalls``, ``AssumeRoleFailures``, ``CredentialsServedStale`` and
        ``AssumeRoleLatency`` to it, and each call retried after its credentials were refused
        ``CredentialsRetriedAfterRefusal`` (see :mod:`powertools_sts.metrics`); its ``log_metrics``
        flushes them, a prefetch's with the first invocation's. An invocation served from the cache adds
        nothing.
    metrics_entry_dimension:
        Also print each attempt at once as an EMF blob of its own with an ``entry`` dimension (more
        metrics to pay for: five per entry at most). Needs ``metrics``.

    Raises
    ------
    ConfigurationError
        For any invalid option, naming the entry and the field (an unknown option is a TypeError);
        for ``aws_client_capture=True`` or ``trace_execution=True`` without aws-xray-sdk installed,
        naming the option and the ``pip install`` command.

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
    capture = capture_backend(aws_client_capture)
    prefetch = not _flag(disable_prefetch, "disable_prefetch")
    _flag(set_to_context, "set_to_context")
    if trace_execution is not None:
        _flag(trace_execution, "trace_execution")
    seconds = validate_max_age(max_age)
    margin = validate_refresh_margin(refresh_margin)
    per_entry = _flag(metrics_entry_dimension, "metrics_entry_dimension")
    if per_entry and metrics is None:
        raise ConfigurationError("metrics_entry_dimension=True needs metrics= (a Powertools Metrics instance)")
    watcher = None
    if metrics is not None:
        from .metrics import MetricsObserver, check_metrics

        watcher = MetricsObserver(check_metrics(metrics), entry_dimension=per_entry)
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
    if capture == XRAY:
        capture_botocore()
    elif capture == OPENTELEMETRY:
        capture_botocore_opentelemetry()

    traced = resolve_truthy_env_var_choice(
        env=os.getenv("POWERTOOLS_TRACE_MIDDLEWARES", "false"), choice=trace_execution
    )
    if traced:
        # The factory builds a Tracer at every invocation, which imports aws-xray-sdk there: refuse now,
        # before the layer is built or anything prefetched, rather than fail every invocation.
        require_xray_sdk(
            "trace_execution=True" if trace_execution else "POWERTOOLS_TRACE_MIDDLEWARES=true (trace_execution=None)",
            'set trace_execution=False (the STS calls can still be traced with aws_client_capture="opentelemetry")',
        )
    # An explicit argument wins over the environment variable; both are checked here, at import.
    wait = prefetch_timeout_from_env() if prefetch_timeout is None else _seconds(prefetch_timeout, "prefetch_timeout")
    sharing = shared_cache_from_env() if shared_cache is None else _flag(shared_cache, "shared_cache")
    layer = _Layer(
        entries,
        cache_key=cache_key,
        max_age=seconds,
        refresh_margin=margin,
        hub_name=aws_client_assume_role,
        capture=capture is not None,
        set_to_context=set_to_context,
        boto_config=boto_config,
        shared_cache=sharing,
    )
    if capture == OPENTELEMETRY:
        # Set before the prefetch starts, so that its fetches are spans too; beside any other observer.
        spans = SpanObserver()
        layer.observer = spans if layer.observer is None else Observers([layer.observer, spans])
    if watcher is not None:
        # Set before the prefetch starts, so that its fetches are counted too; beside another observer
        # of this layer (tracing), not instead of it.
        layer.observer = watcher if layer.observer is None else Observers([layer.observer, watcher])
    if aws_client_assume_role is None:
        layer.use(_shared_provider(boto3_session, boto3_client, boto_config, margin, sharing), None)
    register_names(layer)
    if aws_client_assume_role is None and prefetch and seconds != 0 and not _snap_start():
        prefetches = [
            _state.start_worker(_prefetcher(slot), name="powertools-sts-prefetch") for slot in layer.slots.values()
        ]
        if init_waits_for_prefetch():
            _wait_for_prefetch(layer, prefetches, wait)

    middleware = _middleware(layer, traced)

    def apply(handler: Callable[..., Any]) -> Callable[..., Any]:
        inside: list[_Layer] = list(getattr(handler, _LAYERS, ()))
        if aws_client_assume_role is not None:
            _refuse_hub_inside(layer, aws_client_assume_role, inside)
        layer.handler_name = f"{getattr(handler, '__module__', '?')}.{getattr(handler, '__qualname__', '?')}"
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
        setattr(wrapped, _LAYERS, [*inside, layer])
        return wrapped

    return apply


def _refuse_hub_inside(layer: _Layer, hub_name: str, inside: list[_Layer]) -> None:
    """Refuse a chained layer whose signing entry is defined only inside it (a cycle, or a reversed stack)."""
    for inner in inside:
        if hub_name not in inner.slots:
            continue
        mine = sorted(layer.slots)
        if inner.hub_name is not None and inner.hub_name in layer.slots:
            raise ConfigurationError(
                f"a chaining cycle: entries {mine} are signed by {hub_name!r} (aws_client_assume_role), and "
                f"{hub_name!r}, in an sts layer inside this one, is signed by {inner.hub_name!r} of this layer; "
                "one of them must be assumed with the function's own credentials"
            )
        raise ConfigurationError(
            f"aws_client_assume_role={hub_name!r} (entries {mine}): {hub_name!r} is defined by an sts layer "
            "inside this one; the signing entry must come from a layer outside (put that layer first)"
        )
