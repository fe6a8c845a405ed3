"""`create_app(settings)`: the Starlette application over the services.

Nothing happens at import time. `create_app` wires the services
(graphql_api.services.wiring: plugin manager and encryption backends, so bad
configuration fails before serving) and builds the routes; the lifespan opens
the database, loads the server key, bootstraps the first superadmin and starts
the background work.
"""

from __future__ import annotations

import gc
import logging
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pluggy
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.types import Receive, Scope, Send

from graphql_api import database
from graphql_api.console import console_routes
from graphql_api.drain import Drain
from graphql_api.execution import Engine
from graphql_api.fast_path import plan_operation
from graphql_api.graphiql import graphiql_asset_routes, graphiql_response
from graphql_api.http import GraphQLHTTP
from graphql_api.metrics_server import MetricsListener, metrics_endpoint
from graphql_api.production import check_production
from graphql_api.request_ids import RequestIds
from graphql_api.schema import build_schema
from graphql_api.services.wiring import Clock, Services, build_services, utc_now
from graphql_api.settings import Settings
from graphql_api.websocket import GraphQLWebSocket

logger = logging.getLogger("strongroom.server")

__all__ = ["Services", "build_services", "create_app"]


class StrongroomApp(Starlette):
    """Starlette, with /graphql dispatched first.

    Why: the GraphQL endpoint is the hot path, and Starlette's routing and
    its two exception middlewares cost a tenth of a value read. The GraphQL
    transports handle their own errors (a fixed INTERNAL answer, logged), so
    they are called directly; every other route goes through Starlette.
    """

    graphql_http: GraphQLHTTP | None = None
    graphql_ws: GraphQLWebSocket | None = None
    drain: Drain | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Outermost: every response (errors, /metrics, /healthz) carries the id.
        self.request_ids = RequestIds(self.dispatch)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.request_ids(scope, receive, send)

    async def dispatch(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Draining (graphql_api.drain): new work refused, requests in flight counted.
        if self.drain is not None and scope["type"] != "lifespan":
            await self.drain.admit(scope, receive, send, self.route)
            return
        await self.route(scope, receive, send)

    async def route(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("path") == "/graphql":
            kind = scope["type"]
            if kind == "http" and self.graphql_http is not None:
                scope["app"] = self
                await self.graphql_http(scope, receive, send)
                return
            if kind == "websocket" and self.graphql_ws is not None:
                scope["app"] = self
                await self.graphql_ws(scope, receive, send)
                return
        await super().__call__(scope, receive, send)


def settle_garbage_collector() -> None:
    """Move everything loaded at start-up out of the collector's way.

    Why: a full collection walks every tracked object, and after importing
    Strawberry, graphql-core and Tortoise that is hundreds of thousands of
    long-lived objects: a pause of tens of milliseconds that lands on
    whichever requests are in flight (it was the p99 of the read benchmark).
    Frozen objects are never examined again; the thresholds make young
    collections rarer, since a request allocates many short-lived objects.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 50, 100)


def build_engine(settings: Settings) -> Engine:
    engine = Engine(
        build_schema(),
        max_depth=settings.max_query_depth,
        max_aliases=settings.max_aliases,
        max_tokens=settings.max_tokens,
        introspection=settings.introspection_enabled,
    )
    engine.set_planner(plan_operation)
    return engine


def create_app(
    settings: Settings,
    *,
    now: Clock = utc_now,
    plugins: pluggy.PluginManager | None = None,
    migrate_on_start: bool = True,
    announce: Callable[[str], None] | None = None,
    handle_signals: bool = False,
) -> Starlette:
    """The application; `handle_signals` (when uvicorn serves it): drain on SIGTERM (graphql_api.drain)."""
    check_production(settings)
    services = build_services(settings, now=now, plugins=plugins)
    engine = build_engine(settings)
    engine.operation_timer = services.metrics.operation_timer
    say = announce or _print_to_stderr
    # STRONGROOM_METRICS_ADDRESS: /metrics without a token on a listener of its own.
    metrics_listener = MetricsListener(services, *settings.metrics_address) if settings.metrics_address else None

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            token = await services.open(migrate=migrate_on_start)
            await services.start_background()
            if metrics_listener is not None:
                await metrics_listener.start()
            if token is not None:
                say(
                    "Created the superadmin principal 'admin'. Its API token is shown this once; "
                    f"store it now:\n\n    {token}\n\nUse it as `Authorization: Bearer <token>`."
                )
            if not settings.audit_enabled:
                logger.warning("ENABLE_SECRET_AUDIT_LOGGING=false: secret access is NOT audited (unsafe)")
            settle_garbage_collector()
            if handle_signals:
                drain.handle_signals()
            yield
        finally:
            drain.restore_signals()
            await drain.aclose()
            if metrics_listener is not None:
                await metrics_listener.stop()
            await services.close()

    graphql_http = GraphQLHTTP(services, engine, graphiql=graphiql_response if settings.graphiql_enabled else None)
    graphql_ws = GraphQLWebSocket(services, engine)
    drain = Drain(settings.shutdown_grace_seconds)
    drain.on_drain(graphql_ws.go_away)

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> JSONResponse:
        if drain.draining:
            # At once, before any check: the load balancer must stop sending now.
            draining = {"status": "draining", "reason": f"shutting down ({drain.reason})", "inFlight": drain.in_flight}
            return JSONResponse(draining, status_code=503)
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

    app = StrongroomApp(
        routes=[
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/metrics", metrics_endpoint),
            Route("/graphql", graphql_http, methods=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]),
            WebSocketRoute("/graphql", graphql_ws),
            *graphiql_asset_routes(),
            *(console_routes() if settings.console_enabled else []),
        ],
        lifespan=lifespan,
    )
    app.graphql_http = graphql_http
    app.graphql_ws = graphql_ws
    app.drain = drain
    app.state.drain = drain
    app.state.services = services
    app.state.engine = engine
    app.state.metrics_listener = metrics_listener
    return app


def _print_to_stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
