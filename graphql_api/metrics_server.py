"""`GET /metrics`, and the separate metrics listener.

The exposition names workspaces (`secret_rotation_due_count{workspace}`),
so by default it is served on the API's port for a superadmin bearer token
only (Prometheus: `authorization: {credentials: <token>}`): 401 with
`WWW-Authenticate: Bearer realm="strongroom"` without a valid token, 403 for
a token that is not a superadmin's, 429 when the address failed to
authenticate too often (the API's own throttle).

Two ways to scrape without a token, for operators who keep the port private:

- `STRONGROOM_METRICS_PUBLIC=true`: `/metrics` on the API's port answers anyone.
- `STRONGROOM_METRICS_ADDRESS=host:port`: a second listener, started and
  stopped with the application, serving `/metrics` (and nothing else) to
  anyone who can reach it; `/metrics` on the API's port keeps its token.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Iterator
from typing import TYPE_CHECKING

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from graphql_api.addresses import client_address
from graphql_api.errors import Forbidden, RateLimited, Unauthenticated
from graphql_api.settings import ConfigError

if TYPE_CHECKING:
    from graphql_api.services.wiring import Services

logger = logging.getLogger("strongroom.metrics")

WWW_AUTHENTICATE = 'Bearer realm="strongroom"'
STARTUP_TIMEOUT = 10.0


async def scrape(request: Request, services: Services) -> Response:
    body, content_type = await services.metrics.scrape(request.headers.get("accept"))
    return Response(body, media_type=content_type, headers={"cache-control": "no-store"})


async def refusal(request: Request, services: Services) -> Response | None:
    """The answer refusing this request, or None for a superadmin's."""
    authorization = request.headers.get("authorization")
    peer = request.client.host if request.client else None
    address = client_address(peer, request.headers.raw, services.settings.trusted_proxies)
    try:
        identity = await services.authenticator.authenticate(authorization, address)
        services.authorizer.require_superadmin(identity, "read metrics")
    except Unauthenticated as exc:
        # RFC 6750: no error code when no credentials were sent.
        challenge = WWW_AUTHENTICATE + (', error="invalid_token"' if authorization else "")
        return PlainTextResponse(exc.message + "\n", status_code=401, headers={"www-authenticate": challenge})
    except RateLimited as exc:
        return PlainTextResponse(exc.message + "\n", status_code=429)
    except Forbidden as exc:
        challenge = WWW_AUTHENTICATE + ', error="insufficient_scope"'
        return PlainTextResponse(exc.message + "\n", status_code=403, headers={"www-authenticate": challenge})
    return None


async def metrics_endpoint(request: Request) -> Response:
    """`/metrics` on the API's port: a superadmin's token, unless STRONGROOM_METRICS_PUBLIC."""
    services: Services = request.app.state.services
    if not services.settings.metrics_public:
        refused = await refusal(request, services)
        if refused is not None:
            return refused
    return await scrape(request, services)


def public_app(services: Services) -> Starlette:
    """The separate listener's application: `/metrics` without a token, nothing else."""

    async def public_metrics(request: Request) -> Response:
        return await scrape(request, services)

    return Starlette(routes=[Route("/metrics", public_metrics, methods=["GET", "HEAD"])])


class _EmbeddedServer(uvicorn.Server):
    """uvicorn inside the application's event loop: the signals stay the main server's."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        # uvicorn's own serve() without its "Started/Finished server process"
        # lines, which would repeat the main server's for the same process.
        if not self.config.loaded:
            self.config.load()
        self.lifespan = self.config.lifespan_class(self.config)
        await self.startup(sockets=sockets)
        if not self.should_exit:
            await self.main_loop()
        if self.started:
            await self.shutdown(sockets=sockets)


def bind(host: str, port: int) -> socket.socket:
    """The listening socket for STRONGROOM_METRICS_ADDRESS (ConfigError when it cannot be bound).

    SO_REUSEPORT lets every worker of `strongroom serve --workers N` bind the
    same address (the kernel hands each scrape to one of them), as it does
    for the API's port."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if hasattr(socket, "SO_REUSEPORT"):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(
            "STRONGROOM_METRICS_ADDRESS", f"{host}:{port} cannot be bound ({exc.strerror or exc})"
        ) from None
    sock.setblocking(False)
    return sock


class MetricsListener:
    """The separate metrics listener of STRONGROOM_METRICS_ADDRESS: `start` in
    the application's lifespan, `stop` when it ends."""

    def __init__(self, services: Services, host: str, port: int) -> None:
        self._services = services
        self._host = host
        self._port = port
        self._socket: socket.socket | None = None
        self._server: _EmbeddedServer | None = None
        self._task: asyncio.Task[None] | None = None
        self.address: tuple[str, int] | None = None

    async def start(self) -> None:
        sock = bind(self._host, self._port)
        config = uvicorn.Config(
            public_app(self._services),
            lifespan="off",
            http="h11",
            # The application's logging stays as it is: no dictConfig, no
            # levels set on uvicorn's loggers (access logs are off, as on the API's port).
            log_config=None,
            log_level=None,
            access_log=False,
            timeout_graceful_shutdown=5,
            proxy_headers=False,
            server_header=False,
        )
        server = _EmbeddedServer(config)
        self._socket, self._server = sock, server
        self._task = asyncio.create_task(server.serve(sockets=[sock]))
        try:
            async with asyncio.timeout(STARTUP_TIMEOUT):
                while not server.started:
                    if self._task.done():
                        self._task.result()  # raises what stopped it
                        raise RuntimeError("the metrics listener stopped while starting")
                    await asyncio.sleep(0.01)
        except BaseException:
            await self.stop()
            raise
        host, port = sock.getsockname()[:2]
        self.address = (str(host), int(port))
        logger.info("metrics served without a token on http://%s:%d/metrics", self._host, self.address[1])

    async def stop(self) -> None:
        server, task = self._server, self._task
        self._server = self._task = None
        if server is not None:
            server.should_exit = True
        if task is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, STARTUP_TIMEOUT)
        if self._socket is not None:
            self._socket.close()
            self._socket = None
