"""Every service, wired together, and their start and stop.

This is the composition root of the domain: the web application
(graphql_api.app) builds its routes on a `Services`, and so do the commands
that work on the database without serving (`strongroom rotation run-once`).
Nothing here knows about HTTP or GraphQL.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pluggy

from graphql_api import database
from graphql_api.errors import BadUserInput
from graphql_api.events import (
    AUTHORITY_CHANNEL,
    SECRET_CHANNEL,
    EventBus,
    LocalPublisher,
    PostgresListener,
    PostgresNotifier,
)
from graphql_api.jobs import PeriodicJob
from graphql_api.metrics import Metrics
from graphql_api.services.access import Authorizer, DenialRecorder
from graphql_api.services.audit import AuditListener, AuditLog
from graphql_api.services.audit_index import AuditIndex
from graphql_api.services.audit_reader import AuditReader
from graphql_api.services.audit_retention import AuditRetention
from graphql_api.services.audit_sinks import SinkDispatcher
from graphql_api.services.authority import AuthorityWatch
from graphql_api.services.bootstrap import bootstrap
from graphql_api.services.checkpoints import DUE_CHECK_SECONDS, CheckpointService
from graphql_api.services.envelope import Backends, DataKeyCache, Envelope
from graphql_api.services.importer import DotenvImporter
from graphql_api.services.key_rotation import KeyRotationService
from graphql_api.services.notifications import NotificationOutbox
from graphql_api.services.planner_statistics import PlannerStatistics
from graphql_api.services.principals import PrincipalService
from graphql_api.services.read_cache import CommittedChanges, ReadCache
from graphql_api.services.rotation import RotationService
from graphql_api.services.secret_reads import SecretReader
from graphql_api.services.secret_store import KeyStore, SecretStore
from graphql_api.services.secrets import SecretService
from graphql_api.services.server_keys import ServerKeys
from graphql_api.services.statistics import StatisticsService
from graphql_api.services.tokens import TokenAuthenticator, TokenPolicy
from graphql_api.services.value_reads import ValueReader
from graphql_api.services.workspaces import WorkspaceService
from graphql_api.settings import ConfigError, Settings
from graphql_api.sql import Sql
from graphql_api.wal_checkpoints import WalCheckpointer
from models import SecretAudit
from plugins.interfaces import BackendStatus, PluginConfig, RotatableBackend
from plugins.manager import (
    build_plugin_manager,
    collect_audit_sinks,
    collect_encryption_backends,
    collect_rotation_notifiers,
    collect_value_generators,
)

logger = logging.getLogger("strongroom.server")

Clock = Callable[[], datetime]

# How often live subscriptions re-check their authority when nothing was
# announced. PostgreSQL announces every change through triggers, so its tick
# is only a backstop; an SQLite file can be edited by another process unseen.
AUTHORITY_TICK_SQLITE = 0.5
AUTHORITY_TICK_POSTGRES = 5.0
# How often the tables Strongroom fills are analyzed on PostgreSQL (graphql_api.services.planner_statistics).
STATISTICS_INTERVAL = 3600.0
# How often every workspace's per-secret audit index is brought up to its head
# (this process's own appends start a pass sooner: graphql_api.services.audit_index).
AUDIT_INDEX_INTERVAL = 10.0


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Services:
    settings: Settings
    plugins: pluggy.PluginManager
    backends: Backends
    sql: Sql
    server_keys: ServerKeys
    audit: AuditLog
    bus: EventBus
    sinks: SinkDispatcher
    retention: AuditRetention
    denials: DenialRecorder
    audit_reader: AuditReader
    checkpoints: CheckpointService
    secret_reads: SecretReader
    secrets: SecretService
    importer: DotenvImporter
    key_rotation: KeyRotationService
    rotation: RotationService
    workspaces: WorkspaceService
    principals: PrincipalService
    statistics: StatisticsService
    authenticator: TokenAuthenticator
    authorizer: Authorizer
    authority: AuthorityWatch
    values: ValueReader
    read_cache: ReadCache
    planner_statistics: PlannerStatistics
    audit_index: AuditIndex
    now: Clock
    metrics: Metrics = field(default_factory=Metrics, repr=False)
    _listener: PostgresListener | None = field(default=None, repr=False)
    _wal_checkpoints: WalCheckpointer | None = field(default=None, repr=False)
    _jobs: list[PeriodicJob] = field(default_factory=list, repr=False)

    async def encryption_health(self) -> list[tuple[str, BackendStatus, datetime]]:
        checked = []
        for name, backend in self.backends.items():
            try:
                status = await backend.health()
            except Exception as exc:  # a health probe reports, it does not fail the query
                status = BackendStatus(healthy=False, key_id=None, error=type(exc).__name__)
            checked.append((name, status, self.now()))
        return checked

    async def generate_encryption_key(self, backend: str | None) -> tuple[str, str]:
        """(backend name, fresh key material) for the named (default: current)
        backend; BadUserInput for a backend that keeps its keys itself."""
        chosen = self.backends.for_write(backend, "backend")
        material = await chosen.generate_key_material() if isinstance(chosen, RotatableBackend) else None
        if material is None:
            raise BadUserInput(
                "backend", f"backend {chosen.name!r} keeps its keys itself; rotate them with rotateEncryptionKey"
            )
        return chosen.name, material

    async def open(self, *, migrate: bool, bootstrap_admin: bool = True) -> str | None:
        """Open the database and load the server key; then bootstrap the first
        superadmin (the server does; a command working on the database, which
        could not show the token to anyone, does not).

        Returns the bootstrap token to show once, if one was generated.
        """
        settings = self.settings
        if migrate:
            await database.migrate(settings)
        await database.connect(settings)
        await self.server_keys.load(on_create=self._warn_of_an_older_trail)
        if not bootstrap_admin:
            await self.workspaces.ensure_default()
            return None
        return await bootstrap(self.workspaces, settings.bootstrap_token.reveal() if settings.bootstrap_token else None)

    async def _warn_of_an_older_trail(self, connection: object, keys: object) -> None:
        """A new server key over an existing audit trail: its events cannot be
        verified under the new key. Nothing is re-chained automatically (that
        would let anyone who deletes the key row launder a rewritten trail);
        the operator decides (`strongroom audit rechain-legacy`)."""
        if await SecretAudit.exists():
            logger.error(
                "a new server key was created, but the audit trail already holds events: they were written "
                "before the keyed chain (an upgrade from Strongroom 0.1: run `strongroom audit rechain-legacy` "
                "once) or under a server key that was lost or deleted (restore the server_key row from a backup); "
                "until then auditIntegrity reports them invalid"
            )

    async def rechain_legacy_audit(self) -> int:
        """Re-chain, under the server key, every trail written before the keyed
        chain that still verifies under the unkeyed hash; returns how many
        events. An operator's decision, run once after upgrading from 0.1."""
        from tortoise.transactions import in_transaction

        async with in_transaction() as connection:
            return await self.audit_reader.upgrade_legacy_chains(connection, self.server_keys.keys)

    async def start_background(self) -> None:
        """The sinks, the cross-replica listener, the authority watch and the periodic jobs."""
        settings = self.settings
        await self.sinks.start()
        if not settings.is_sqlite:
            listener = PostgresListener(database.asyncpg_dsn(settings.database_url), self.bus, self.sql)
            listener.on(AUTHORITY_CHANNEL, self.authority.changed_text)
            listener.on(SECRET_CHANNEL, self.read_cache.forget_secret_text)
            # Notifications sent while the connection was down are lost.
            listener.on_reconnect(self.read_cache.reconnected)
            listener.on_reconnect(self.authority.recheck_all)
            self._listener = listener
            await listener.start()
        else:
            self._wal_checkpoints = WalCheckpointer(database.sqlite_path(settings.database_url), self.sql)
            await self._wal_checkpoints.start()
        await self.authority.start()
        self._jobs = [
            PeriodicJob("audit-retention", settings.audit_purge_interval_seconds, self.retention.purge),
            PeriodicJob("audit-index", AUDIT_INDEX_INTERVAL, self.audit_index.catch_up_all, first_delay=1),
            PeriodicJob("audit-checkpoints", DUE_CHECK_SECONDS, self.checkpoints.publish_due),
            PeriodicJob("key-rotation-resume", 30, self.key_rotation.resume_abandoned, first_delay=1),
            PeriodicJob("rotation-scheduler", settings.rotation_interval_seconds, self.rotation.run_once),
        ]
        if self.planner_statistics.applies:
            self._jobs.append(PeriodicJob("planner-statistics", STATISTICS_INTERVAL, self.planner_statistics.refresh))
        for job in self._jobs:
            job.start()

    async def close(self) -> None:
        # Together: each lets a run under way finish (graphql_api/jobs.py).
        await asyncio.gather(*(job.stop() for job in self._jobs))
        self._jobs = []
        await self.authority.stop()
        await self.key_rotation.stop()
        await self.audit.drain()
        await self.audit_index.drain()
        await self.planner_statistics.settled()
        if self._listener is not None:
            await self._listener.stop()
            self._listener = None
        if self._wal_checkpoints is not None:
            await self._wal_checkpoints.stop()
            self._wal_checkpoints = None
        await self.sinks.stop()
        await self.rotation.outbox.aclose()
        await self.backends.aclose()
        self.sql.close()
        await database.close()


def build_services(
    settings: Settings,
    *,
    now: Clock = utc_now,
    plugins: pluggy.PluginManager | None = None,
) -> Services:
    """Every service, wired; raises ConfigError for bad configuration."""
    manager = plugins or build_plugin_manager()
    config = PluginConfig(environ=settings.environ, data_dir=settings.data_dir, settings=settings)
    # A plugin's ConfigError (or PluginFailed, naming the plugin) passes through as is.
    available = collect_encryption_backends(manager, config)
    if settings.encryption_backend not in available:
        names = ", ".join(sorted(available)) or "none"
        raise ConfigError(
            "SECRET_ENCRYPTION_BACKEND",
            f"backend {settings.encryption_backend!r} is not available (configured backends: {names})",
        )
    backends = Backends(available, settings.encryption_backend)
    sinks = SinkDispatcher(collect_audit_sinks(manager, config))
    generators = collect_value_generators(manager, config)
    notifiers = collect_rotation_notifiers(manager, config)
    sql = Sql(
        database.connection_name(settings.database_url),
        str(database.sqlite_path(settings.database_url)) if settings.is_sqlite else None,
    )
    server_keys = ServerKeys(backends, now)
    bus = EventBus()
    # SQLite is one process: publish after commit. PostgreSQL may be many
    # replicas: NOTIFY in the transaction, and every replica's listener publishes.
    publisher: AuditListener = LocalPublisher(bus) if settings.is_sqlite else PostgresNotifier()
    # PostgreSQL: what value reads need, kept per replica and forgotten by push
    # (read_cache's docstring); only while the listener is connected.
    holder: dict[str, Services] = {}
    read_cache = ReadCache(
        enabled=not settings.is_sqlite,
        connected=lambda: (listener := holder["services"]._listener) is not None and listener.connected,
    )
    metrics = Metrics()
    audit_index = AuditIndex(sql)
    audit = AuditLog(
        enabled=settings.audit_enabled,
        now=now,
        server_keys=server_keys,
        listeners=[publisher, sinks, CommittedChanges(read_cache), metrics.audit_counters, audit_index],
        connection_name=database.connection_name(settings.database_url),
        sql_read=sql.read,
    )
    envelope = Envelope(
        backends,
        DataKeyCache(frozenset(settings.dek_cache_backends), settings.dek_cache_seconds, settings.dek_cache_uses),
    )
    audit.on_batch = metrics.audit_batch
    envelope.observe = metrics.backend_call
    secret_reads = SecretReader(envelope=envelope, audit=audit, now=now, sql=sql)
    secret_store = SecretStore(sql)
    secrets = SecretService(
        reads=secret_reads,
        store=secret_store,
        envelope=envelope,
        audit=audit,
        default_rotation_days=settings.rotation_days,
        now=now,
    )
    planner_statistics = PlannerStatistics(sql)
    authenticator = TokenAuthenticator(now, sql, TokenPolicy(settings.max_token_ttl), audit.touch_token)
    authority = AuthorityWatch(
        authenticator,
        now,
        tick_seconds=AUTHORITY_TICK_SQLITE if settings.is_sqlite else AUTHORITY_TICK_POSTGRES,
    )
    audit_reader = AuditReader(server_keys, sql)
    denials = DenialRecorder(audit)
    authorizer = Authorizer(sql)
    if not settings.is_sqlite:
        authenticator.cache = read_cache
        secret_reads.cache = read_cache
        authorizer.cache = read_cache
        authority.on_change.append(read_cache.forget_principal)
    services = Services(
        settings=settings,
        plugins=manager,
        backends=backends,
        sql=sql,
        server_keys=server_keys,
        audit=audit,
        bus=bus,
        sinks=sinks,
        retention=AuditRetention(retention_days=settings.audit_retention_days, now=now, server_keys=server_keys),
        denials=denials,
        audit_reader=audit_reader,
        checkpoints=CheckpointService(server_keys, audit_reader, now),
        secret_reads=secret_reads,
        secrets=secrets,
        importer=DotenvImporter(
            reads=secret_reads,
            envelope=envelope,
            audit=audit,
            store=secret_store,
            default_rotation_days=settings.rotation_days,
            now=now,
            statistics=planner_statistics,
        ),
        key_rotation=KeyRotationService(
            backends=backends,
            audit=audit,
            now=now,
            keys=KeyStore(sql),
            server_keys=server_keys,
            batch=settings.key_rotation_batch,
        ),
        rotation=RotationService(
            secrets=secrets,
            reads=secret_reads,
            store=secret_store,
            envelope=envelope,
            audit=audit,
            outbox=NotificationOutbox(notifiers=notifiers, audit=audit, now=now),
            generators=generators,
            now=now,
        ),
        workspaces=WorkspaceService(audit),
        principals=PrincipalService(audit, now, TokenPolicy(settings.max_token_ttl), authority),
        statistics=StatisticsService(now),
        authenticator=authenticator,
        authorizer=authorizer,
        authority=authority,
        values=ValueReader(
            sql=sql,
            authenticator=authenticator,
            authorizer=authorizer,
            denials=denials,
            secrets=secret_reads,
            cache=read_cache if not settings.is_sqlite else None,
        ),
        read_cache=read_cache,
        planner_statistics=planner_statistics,
        audit_index=audit_index,
        now=now,
        metrics=metrics,
    )
    metrics.watch(services)
    holder["services"] = services
    return services
