"""`create_app(settings)`: the Starlette application and the services behind it.

Nothing happens at import time. `create_app` builds the plugin manager and
the encryption backends (so bad configuration fails before serving); the
lifespan applies migrations, opens the database and bootstraps the first
superadmin.
"""

from __future__ import annotations

import ipaddress
import logging
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pluggy
from starlette.applications import Starlette
from starlette.requests import HTTPConnection, Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL

from graphql_api import database
from graphql_api.context import Context, build_loaders
from graphql_api.events import EventBus, LocalPublisher, PostgresNotifier, PostgresRelay
from graphql_api.graphiql import graphiql_asset_routes, render_graphiql_page
from graphql_api.jobs import PeriodicJob
from graphql_api.metrics import metrics_endpoint
from graphql_api.schema import build_schema
from graphql_api.services.access import Authorizer, DenialRecorder
from graphql_api.services.audit import AuditListener, AuditLog
from graphql_api.services.audit_reader import AuditReader
from graphql_api.services.audit_retention import AuditRetention
from graphql_api.services.audit_sinks import SinkDispatcher
from graphql_api.services.bootstrap import bootstrap
from graphql_api.services.envelope import Backends, Envelope
from graphql_api.services.importer import DotenvImporter
from graphql_api.services.key_rotation import KeyRotationService
from graphql_api.services.notifications import NotificationOutbox
from graphql_api.services.principals import PrincipalService
from graphql_api.services.rotation import RotationService
from graphql_api.services.secrets import SecretService
from graphql_api.services.statistics import StatisticsService
from graphql_api.services.tokens import TokenAuthenticator
from graphql_api.services.workspaces import WorkspaceService
from graphql_api.settings import ConfigError, Settings
from plugins.interfaces import BackendStatus, PluginConfig
from plugins.manager import (
    build_plugin_manager,
    collect_audit_sinks,
    collect_encryption_backends,
    collect_rotation_notifiers,
    collect_value_generators,
)

logger = logging.getLogger("strongroom")

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Services:
    settings: Settings
    plugins: pluggy.PluginManager
    backends: Backends
    audit: AuditLog
    bus: EventBus
    sinks: SinkDispatcher
    retention: AuditRetention
    denials: DenialRecorder
    audit_reader: AuditReader
    secrets: SecretService
    importer: DotenvImporter
    key_rotation: KeyRotationService
    rotation: RotationService
    workspaces: WorkspaceService
    principals: PrincipalService
    statistics: StatisticsService
    authenticator: TokenAuthenticator
    authorizer: Authorizer
    now: Clock

    async def encryption_health(self) -> list[tuple[str, BackendStatus, datetime]]:
        checked = []
        for name, backend in self.backends.items():
            try:
                status = await backend.health()
            except Exception as exc:  # a health probe reports, it does not fail the query
                status = BackendStatus(healthy=False, key_id=None, error=type(exc).__name__)
            checked.append((name, status, self.now()))
        return checked


def build_services(
    settings: Settings,
    *,
    now: Clock = utc_now,
    plugins: pluggy.PluginManager | None = None,
) -> Services:
    """Every service, wired; raises ConfigError for bad configuration."""
    manager = plugins or build_plugin_manager()
    config = PluginConfig(environ=settings.environ, data_dir=settings.data_dir, settings=settings)
    try:
        available = collect_encryption_backends(manager, config)
    except ValueError as exc:
        variable, _, message = str(exc).partition(": ")
        raise ConfigError(variable if message else "SECRET_ENCRYPTION_BACKEND", message or str(exc)) from None
    if settings.encryption_backend not in available:
        names = ", ".join(sorted(available)) or "none"
        raise ConfigError(
            "SECRET_ENCRYPTION_BACKEND",
            f"backend {settings.encryption_backend!r} is not available (configured backends: {names})",
        )
    backends = Backends(available, settings.encryption_backend)
    try:
        sinks = SinkDispatcher(collect_audit_sinks(manager, config))
        generators = collect_value_generators(manager, config)
        notifiers = collect_rotation_notifiers(manager, config)
    except ValueError as exc:
        variable, _, message = str(exc).partition(": ")
        raise ConfigError(variable, message or str(exc)) from None
    bus = EventBus()
    # SQLite is one process: publish after commit. PostgreSQL may be many
    # replicas: NOTIFY in the transaction, and every replica's relay publishes.
    publisher: AuditListener = LocalPublisher(bus) if settings.is_sqlite else PostgresNotifier()
    audit = AuditLog(enabled=settings.audit_enabled, now=now, listeners=[publisher, sinks])
    envelope = Envelope(backends)
    secrets = SecretService(envelope=envelope, audit=audit, default_rotation_days=settings.rotation_days, now=now)
    return Services(
        settings=settings,
        plugins=manager,
        backends=backends,
        audit=audit,
        bus=bus,
        sinks=sinks,
        retention=AuditRetention(retention_days=settings.audit_retention_days, now=now),
        denials=DenialRecorder(audit),
        audit_reader=AuditReader(),
        secrets=secrets,
        importer=DotenvImporter(secrets=secrets, envelope=envelope, audit=audit),
        key_rotation=KeyRotationService(backends=backends, audit=audit, now=now, batch=settings.key_rotation_batch),
        rotation=RotationService(
            secrets=secrets,
            envelope=envelope,
            audit=audit,
            outbox=NotificationOutbox(notifiers=notifiers, audit=audit, now=now),
            generators=generators,
            now=now,
        ),
        workspaces=WorkspaceService(audit),
        principals=PrincipalService(audit, now),
        statistics=StatisticsService(now),
        authenticator=TokenAuthenticator(now),
        authorizer=Authorizer(),
        now=now,
    )


def client_address(connection: HTTPConnection, trusted_proxies: Sequence[str]) -> str | None:
    """The client's IP; X-Forwarded-For is believed only from trusted proxies."""
    peer = connection.client.host if connection.client else None
    if not trusted_proxies or peer is None:
        return peer
    networks = [ipaddress.ip_network(p, strict=False) for p in trusted_proxies]

    def trusted(address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in networks)

    if not trusted(peer):
        return peer
    hops = [h.strip() for h in connection.headers.get("x-forwarded-for", "").split(",") if h.strip()]
    for hop in reversed(hops):
        if not trusted(hop):
            return hop
    return hops[0] if hops else peer


class StrongroomGraphQL(GraphQL):
    def __init__(self, services: Services, **kwargs: Any) -> None:
        self.services = services
        super().__init__(build_schema(services.settings), **kwargs)

    async def get_context(self, request: Request | WebSocket, response: Response | WebSocket) -> Context:  # type: ignore[override]
        settings = self.services.settings
        return Context(
            services=self.services,
            connection=request,
            authorization=request.headers.get("authorization"),
            ip_address=client_address(request, settings.trusted_proxies),
            user_agent=(request.headers.get("user-agent") or None),
            loaders=build_loaders(self.services),
        )

    async def render_graphql_ide(self, request: Request) -> HTMLResponse:
        return HTMLResponse(render_graphiql_page())


def create_app(
    settings: Settings,
    *,
    now: Clock = utc_now,
    plugins: pluggy.PluginManager | None = None,
    migrate_on_start: bool = True,
    announce: Callable[[str], None] | None = None,
) -> Starlette:
    services = build_services(settings, now=now, plugins=plugins)
    say = announce or _print_to_stderr

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if migrate_on_start:
            await database.migrate(settings)
        await database.connect(settings)
        relay = None if settings.is_sqlite else PostgresRelay(database.asyncpg_dsn(settings.database_url), services.bus)
        purge = PeriodicJob("audit-retention", settings.audit_purge_interval_seconds, services.retention.purge)
        resume = PeriodicJob("key-rotation-resume", 30, services.key_rotation.resume_abandoned, first_delay=1)
        scheduler = PeriodicJob("rotation-scheduler", settings.rotation_interval_seconds, services.rotation.run_once)
        try:
            await services.sinks.start()
            if relay is not None:
                await relay.start()
            token = await bootstrap(
                services.workspaces, settings.bootstrap_token.reveal() if settings.bootstrap_token else None
            )
            if token is not None:
                say(
                    "Created the superadmin principal 'admin'. Its API token is shown this once; "
                    f"store it now:\n\n    {token}\n\nUse it as `Authorization: Bearer <token>`."
                )
            if not settings.audit_enabled:
                logger.warning("ENABLE_SECRET_AUDIT_LOGGING=false: secret access is NOT audited (unsafe)")
            for job in (purge, resume, scheduler):
                job.start()
            yield
        finally:
            for job in (purge, resume, scheduler):
                await job.stop()
            await services.key_rotation.stop()
            await services.audit.drain()
            if relay is not None:
                await relay.stop()
            await services.sinks.stop()
            await services.rotation.outbox.aclose()
            await services.backends.aclose()
            await database.close()

    graphql = StrongroomGraphQL(
        services,
        graphql_ide="graphiql" if settings.graphiql_enabled else None,
        allow_queries_via_get=False,
    )

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> JSONResponse:
        report: dict[str, Any] = {"database": "ok", "backends": {}}
        ready = True
        try:
            await database.ping()
        except Exception as exc:
            report["database"] = f"unavailable ({type(exc).__name__})"
            ready = False
        for name, status, _ in await services.encryption_health():
            report["backends"][name] = "ok" if status.healthy else f"unavailable ({status.error})"
            ready = ready and (status.healthy or name != services.backends.default_name)
        report["status"] = "ready" if ready else "not ready"
        return JSONResponse(report, status_code=200 if ready else 503)

    app = Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/metrics", metrics_endpoint),
            Route("/graphql", graphql, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql),
            *graphiql_asset_routes(),
        ],
        lifespan=lifespan,
    )
    app.state.services = services
    return app


def _print_to_stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
