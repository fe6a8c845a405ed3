"""How the server process serves: uvicorn's options from Settings, the checks
the run itself, and the application factory that worker processes import.

`strongroom serve` (the CLI) calls `check_production(settings)`
(graphql_api.production) and then `run(...)`, so that every production-relevant knob of uvicorn (proxy headers,
header and websocket size limits, TLS, graceful shutdown) is decided here,
next to the settings, rather than scattered through the command line. The
drain on SIGTERM is graphql_api.drain.
"""

from __future__ import annotations

import signal
import socket
from types import FrameType
from typing import Any

from graphql_api.logs import uvicorn_log_config
from graphql_api.settings import Settings

# The factory uvicorn imports in each worker process (`--workers N`): settings
# are read again there from the same environment.
APP_FACTORY = "graphql_api.serving:create_app_from_environ"
WORKER_HEALTHCHECK_SECONDS = 30


def create_app_from_environ() -> Any:
    from graphql_api.app import create_app

    return create_app(Settings.from_environ(), migrate_on_start=False, handle_signals=True)


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for `uvicorn.run`/`uvicorn.Config` (without the app)."""
    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        # Never DEBUG for uvicorn: at DEBUG it logs request headers
        # (Authorization) and every websocket frame (tokens, values).
        "log_level": "info" if settings.log_level == "debug" else settings.log_level,
        "lifespan": "on",
        # uvicorn never rewrites the client address: the application decides
        # which X-Forwarded-For / Forwarded hops to believe, from
        # STRONGROOM_TRUSTED_PROXIES only (graphql_api.addresses), so the
        # same rule holds in-process and behind any server.
        "proxy_headers": False,
        "forwarded_allow_ips": [],
        "server_header": False,
        "date_header": True,
        # Access logs are off: the audit trail records every operation, and a
        # line per request costs a tenth of the read path's throughput.
        "access_log": False,
        "ws_max_size": 1 << 20,
        # The application drains first (graphql_api.drain, within the same
        # grace); this bounds uvicorn's own wait when a second Ctrl-C skips it.
        "timeout_graceful_shutdown": settings.shutdown_grace_seconds,
        # uvicorn's loggers propagate to the root handler set up by
        # graphql_api.logs.configure (level, format and scrubbing in one place).
        "log_config": uvicorn_log_config(),
    }
    if settings.tls_cert_file is not None and settings.tls_key_file is not None:
        options["ssl_certfile"] = str(settings.tls_cert_file)
        options["ssl_keyfile"] = str(settings.tls_key_file)
    return options


def scheme(settings: Settings) -> str:
    return "https" if settings.tls_cert_file is not None else "http"


def run(app: Any, settings: Settings, sock: socket.socket, workers: int = 1) -> None:
    """Serve on the bound `sock` until SIGTERM (or Ctrl-C), then drain and return.

    One process serves `app`; with `workers` > 1 uvicorn's supervisor starts
    that many processes, each building its app from APP_FACTORY and draining
    on its own when the supervisor passes SIGTERM on.
    """
    import uvicorn

    options = uvicorn_options(settings)
    # uvicorn re-raises the signal it stopped on once its handlers are gone,
    # so that the process dies of it (status -15). The drain has handled
    # SIGTERM by then; a clean stop is status 0 to a process manager, so the
    # re-raised signal lands here instead.
    previous = signal.signal(signal.SIGTERM, _handled_already)
    try:
        if workers == 1:
            uvicorn.Server(uvicorn.Config(app, **options)).run(sockets=[sock])
            return
        from uvicorn.supervisors import Multiprocess

        # A worker answers the supervisor's health pings only once it has
        # imported the application: uvicorn's 5 s kills and respawns workers
        # for ever on a busy or slow host.
        config = uvicorn.Config(
            APP_FACTORY, factory=True, workers=workers, timeout_worker_healthcheck=WORKER_HEALTHCHECK_SECONDS, **options
        )
        Multiprocess(config, sockets=[sock]).run()
    finally:
        signal.signal(signal.SIGTERM, previous)


def _handled_already(signum: int, frame: FrameType | None) -> None:
    """SIGTERM after the server has stopped: nothing is left to do."""
