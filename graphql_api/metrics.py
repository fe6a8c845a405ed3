"""Prometheus metrics: one registry per `Services`, rendered by prometheus-client.

Why a registry of our own rather than prometheus-client's global one: tests
(and a process that builds several apps) create many `Services` in one
process, and the global registry refuses a second metric of the same name.
The process, platform and GC collectors are registered on it too. Counters
and histograms of the hot path are graphql_api.instruments' (lock-free, for
the event loop's thread), exposed through the same registry.

What is measured where (each hook costs at most a dictionary lookup and an
`observe`/`inc` of a child resolved once, never a label dict per request):

- GraphQL operations: `Engine` resolves one histogram child per operation
  of a prepared document (`operation_timer`), the transports observe it
  around the fast path or the executor.
- Audit events and secret access failures: `AuditCounters`, an audit
  listener, counts events as they commit (both group commit and the events
  of a mutation's own transaction).
- Group commit: `AuditLog.on_batch` reports each committed batch's size and
  its requests' enqueue times.
- Encryption backends: `Envelope.observe` reports each wrap/unwrap.
- Values that live elsewhere (rotation due counts, backend health, live
  subscribers, audit sink drops) are read when scraped (`LiveCollector`).

Labels are bounded: operations are named by their root field in the schema
(never by the client's operationName), workspaces appear only on the
rotation gauge, codes and actions come from fixed enumerations. No label,
help text or value ever carries a secret, a token or a client's string.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from graphql import FieldNode, OperationDefinitionNode
from prometheus_client import CollectorRegistry, GCCollector, PlatformCollector, ProcessCollector
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric

from graphql_api import errors
from graphql_api.instruments import CounterChild, CounterFamily, HistogramChild, HistogramFamily, Instruments
from models import AuditAction

if TYPE_CHECKING:
    from tortoise.backends.base.client import BaseDBAsyncClient

    from graphql_api.events import EventBus
    from graphql_api.services.audit import AuditLog, CommittedEvent
    from graphql_api.services.audit_sinks import SinkDispatcher
    from graphql_api.services.envelope import Backends
    from graphql_api.services.rotation import RotationService
    from plugins.interfaces import EncryptionBackend

logger = logging.getLogger("strongroom.metrics")


class MetricSources(Protocol):
    """What the metrics read at scrape time: the parts of
    graphql_api.services.wiring.Services they need, named here so that the
    wiring (which builds the metrics) is not imported back by them."""

    @property
    def audit(self) -> AuditLog: ...

    @property
    def bus(self) -> EventBus: ...

    @property
    def sinks(self) -> SinkDispatcher: ...

    @property
    def backends(self) -> Backends: ...

    @property
    def rotation(self) -> RotationService: ...


# Backend health is probed at most this often, each probe bounded, so a
# scrape every few seconds never turns into a call to KMS or Vault each time.
HEALTH_CACHE_SECONDS = 15.0
HEALTH_TIMEOUT_SECONDS = 5.0

OPERATION_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BACKEND_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
BATCH_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 512, 1000, 2500)

# Actions that read secrets or their metadata: a committed event of one of
# them with success=false is a failed secret access.
READ_ACTIONS = frozenset({AuditAction.ACCESSED, AuditAction.VIEWED, AuditAction.LISTED, AuditAction.COMPARED})
# Denials of these permissions are refused secret accesses (`details.permission`).
READ_PERMISSIONS = frozenset({"READ_VALUES", "LIST_SECRETS"})
# The codes a failure is labelled with; anything else is OTHER.
KNOWN_CODES = frozenset(
    {cls.code for cls in vars(errors).values() if isinstance(cls, type) and issubclass(cls, errors.StrongroomError)}
)
OTHER = "OTHER"


def operation_label(operation: OperationDefinitionNode) -> tuple[str, str]:
    """(operation, type) for an operation of a validated document.

    The operation is named by its root field, which the schema defines (so
    the label set is bounded by the schema), never by the client's
    operationName: "multiple" when it selects several root fields, "other"
    when the root is a fragment.
    """
    kind = operation.operation.value
    selections = operation.selection_set.selections
    names = {selection.name.value for selection in selections if isinstance(selection, FieldNode)}
    if not names or any(not isinstance(selection, FieldNode) for selection in selections):
        return "other", kind
    if len(names) > 1:
        return "multiple", kind
    return next(iter(names)), kind


class AuditCounters:
    """An audit listener counting committed events by action, and failed or
    refused secret accesses by action and code.

    `secret_access_failure_total` counts, once each as they commit:
    events of a read action (ACCESSED, VIEWED, LISTED, COMPARED) with
    success=false, labelled with the error code the audit trail recorded;
    and ACCESS_DENIED events for the READ_VALUES or LIST_SECRETS permission,
    labelled FORBIDDEN. A request whose token is not valid names no principal
    and records no event: it is not counted here.
    """

    def __init__(self, events: CounterFamily, failures: CounterFamily) -> None:
        self._events = {action: events.labels(action.value) for action in AuditAction}
        self._failure_metric = failures
        self._failures: dict[tuple[AuditAction, str], CounterChild] = {}
        # Present from the start, at zero: a rate over it exists before the first refusal.
        self._failure(AuditAction.ACCESS_DENIED, "FORBIDDEN")
        self._failure(AuditAction.ACCESSED, "NOT_FOUND")

    def _failure(self, action: AuditAction, code: str) -> CounterChild:
        child = self._failures.get((action, code))
        if child is None:
            child = self._failures[(action, code)] = self._failure_metric.labels(action.value, code)
        return child

    async def before_commit(self, events: Sequence[CommittedEvent], connection: BaseDBAsyncClient) -> None:
        return None

    def after_commit(self, events: Sequence[CommittedEvent]) -> None:
        counts: dict[AuditAction, int] = {}
        for event in events:
            action = event.action
            counts[action] = counts.get(action, 0) + 1
            if not event.success:
                code = failure_code(event.action, event.details)
                if code is not None:
                    self._failure(action, code).inc()
        for action, count in counts.items():
            self._events[action].inc(count)


def failure_code(action: AuditAction, details: Mapping[str, Any]) -> str | None:
    """The code of a failed event that is a failed secret access, or None."""
    if action is AuditAction.ACCESS_DENIED:
        return "FORBIDDEN" if details.get("permission") in READ_PERMISSIONS else None
    if action in READ_ACTIONS:
        code = details.get("error")
        return code if isinstance(code, str) and code in KNOWN_CODES else OTHER
    return None


@dataclass
class HealthCache:
    """Backend health as last probed, probed again when older than `max_age`.

    Concurrent scrapes share one probe; each backend's probe is bounded by
    `timeout` (a backend that does not answer in time is unhealthy).
    """

    probe: Callable[[], Awaitable[dict[str, bool]]]
    max_age: float = HEALTH_CACHE_SECONDS
    clock: Callable[[], float] = time.monotonic
    _value: dict[str, bool] = field(default_factory=dict)
    _at: float | None = None
    _pending: asyncio.Task[dict[str, bool]] | None = None

    async def get(self) -> dict[str, bool]:
        if self._at is not None and self.clock() - self._at < self.max_age:
            return self._value
        if self._pending is None:
            self._pending = asyncio.ensure_future(self.probe())
        pending = self._pending
        try:
            value = await asyncio.shield(pending)
        finally:
            if pending.done() and self._pending is pending:
                self._pending = None
        self._value, self._at = value, self.clock()
        return value


@dataclass
class Snapshot:
    """What the scrape read before rendering (the collector is synchronous)."""

    due: Mapping[str, int] | None = None
    health: Mapping[str, bool] = field(default_factory=dict)


class LiveCollector:
    """Gauges and counters whose values live in the services, read at scrape time."""

    def __init__(self, services: MetricSources, snapshot: Callable[[], Snapshot]) -> None:
        self._services = services
        self._snapshot = snapshot

    def describe(self) -> Iterable[Metric]:
        return list(self._families(Snapshot(), describe=True))

    def collect(self) -> Iterable[Metric]:
        return list(self._families(self._snapshot(), describe=False))

    def _families(self, snapshot: Snapshot, *, describe: bool) -> Iterator[Metric]:
        services = self._services
        due = GaugeMetricFamily(
            "secret_rotation_due_count",
            "Active secrets past their rotation due date, per workspace (name kept from 0.1).",
            labels=["workspace"],
        )
        for workspace, count in sorted((snapshot.due or {}).items()):
            due.add_metric([workspace], count)
        yield due
        health = GaugeMetricFamily(
            "encryption_backend_health",
            f"1 when the encryption backend answered its health probe (probed at most every {HEALTH_CACHE_SECONDS:g}s).",
            labels=["backend"],
        )
        for backend, healthy in sorted(snapshot.health.items()):
            health.add_metric([backend], 1.0 if healthy else 0.0)
        yield health
        yield GaugeMetricFamily(
            "strongroom_subscriptions_active",
            "Live GraphQL subscriptions (auditEvents, secretChanges) on this process.",
            value=0 if describe else services.bus.subscriber_count,
        )
        audit = services.audit
        yield CounterMetricFamily(
            "strongroom_audit_batches",
            "Group-commit batches of audit events committed.",
            value=0 if describe else audit.batches_committed,
        )
        yield CounterMetricFamily(
            "strongroom_audit_batched_events",
            "Audit events committed through group commit.",
            value=0 if describe else audit.batched_events_committed,
        )
        yield CounterMetricFamily(
            "strongroom_audit_batches_split",
            "Group-commit batches that failed and were retried request by request.",
            value=0 if describe else audit.batches_split,
        )
        dropped = CounterMetricFamily(
            "strongroom_audit_sink_dropped", "Events a slow audit sink could not queue.", labels=["sink"]
        )
        for sink, count in sorted(services.sinks.dropped.items()):
            dropped.add_metric([sink], count)
        yield dropped


class Metrics:
    """The registry and the instruments of one `Services`."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        self.operations = HistogramFamily(
            "strongroom_graphql_operation_duration_seconds",
            "GraphQL operations (queries and mutations, over HTTP and the websocket) by root field and type.",
            ["operation", "type"],
            buckets=OPERATION_BUCKETS,
        )
        self.audit_events = CounterFamily("secret_audit_log_events", "Audit events committed, by action.", ["action"])
        self.access_failures = CounterFamily(
            "secret_access_failure",
            "Failed or refused secret accesses recorded in the audit trail, by action and error code.",
            ["action", "code"],
        )
        self.audit_batch_size = HistogramFamily(
            "strongroom_audit_batch_events", "Audit events per committed group-commit batch.", buckets=BATCH_BUCKETS
        )
        self.audit_wait = HistogramFamily(
            "strongroom_audit_commit_wait_seconds",
            "Time from a request's audit events joining the group-commit queue to their commit.",
            buckets=OPERATION_BUCKETS,
        )
        self.backend_calls = HistogramFamily(
            "strongroom_encryption_backend_call_duration_seconds",
            "Calls to encryption backends (wrap, unwrap, health), by backend and call.",
            ["backend", "call"],
            buckets=BACKEND_BUCKETS,
        )
        instruments = Instruments()
        for family in (
            self.operations,
            self.audit_events,
            self.access_failures,
            self.audit_batch_size,
            self.audit_wait,
            self.backend_calls,
        ):
            instruments.add(family)
        self.registry.register(instruments)
        # Unlabelled: resolved once.
        self._batch_size: HistogramChild = self.audit_batch_size.labels()
        self._wait: HistogramChild = self.audit_wait.labels()
        self.audit_counters = AuditCounters(self.audit_events, self.access_failures)
        self._backend_children: dict[tuple[str, str], HistogramChild] = {}
        self._snapshot = Snapshot()
        self._services: MetricSources | None = None
        self._health: HealthCache | None = None

    def __repr__(self) -> str:
        return "<Metrics>"

    def watch(self, services: MetricSources) -> None:
        """Read the services' own values at scrape time."""
        self._services = services
        self._health = HealthCache(lambda: self._probe(services))
        self.registry.register(LiveCollector(services, lambda: self._snapshot))

    # ---- hooks (hot paths) ------------------------------------------------------

    def operation_timer(self, operation: OperationDefinitionNode) -> Callable[[float], None]:
        """`observe(seconds)` of the histogram child of `operation`, resolved once per prepared document."""
        return self.operations.labels(*operation_label(operation)).observe

    def backend_call(self, backend: str, call: str, seconds: float) -> None:
        child = self._backend_children.get((backend, call))
        if child is None:
            child = self._backend_children[(backend, call)] = self.backend_calls.labels(backend, call)
        child.observe(seconds)

    def audit_batch(self, events: int, enqueued: Sequence[float]) -> None:
        """A group-commit batch committed `events` events; its requests were
        queued at `enqueued` (time.perf_counter)."""
        try:
            if events:
                self._batch_size.observe(events)
            now = time.perf_counter()
            observe = self._wait.observe
            for started in enqueued:
                observe(now - started)
        except Exception as exc:  # called inside the flush: a metric must never keep a batch's callers waiting
            logger.error("audit batch metrics failed: %s", type(exc).__name__)

    # ---- scraping ---------------------------------------------------------------

    async def _probe(self, services: MetricSources) -> dict[str, bool]:
        async def one(backend: EncryptionBackend) -> bool:
            started = time.perf_counter()
            try:
                status = await asyncio.wait_for(backend.health(), HEALTH_TIMEOUT_SECONDS)
            except Exception as exc:  # a probe reports, it does not fail the scrape
                logger.warning("health probe of encryption backend %r failed: %s", backend.name, type(exc).__name__)
                return False
            finally:
                self.backend_call(backend.name, "health", time.perf_counter() - started)
            return bool(status.healthy)

        backends = services.backends.items()
        results = await asyncio.gather(*(one(backend) for _, backend in backends))
        return {name: healthy for (name, _), healthy in zip(backends, results, strict=True)}

    async def scrape(self, accept: str | None = None) -> tuple[bytes, str]:
        """The exposition (body, content type), in the format `accept` asks for."""
        services = self._services
        due: dict[str, int] | None = None
        health: dict[str, bool] = {}
        if services is not None:
            try:
                due = await services.rotation.due_counts()
            except Exception as exc:  # the database is down: the rest is still worth reading
                logger.warning("rotation due counts unavailable for metrics: %s", type(exc).__name__)
            assert self._health is not None
            health = await self._health.get()
        encoder, content_type = choose_encoder(accept or "")
        # No await from here on: the collector reads exactly this snapshot.
        self._snapshot = Snapshot(due, health)
        return encoder(self.registry), content_type
