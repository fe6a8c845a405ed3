"""How the server process serves: uvicorn's options from Settings, and the
application factory that worker processes import.

`strongroom serve` (the CLI) calls `uvicorn_options(settings)` so that every
production-relevant knob of uvicorn (proxy headers, header and websocket size
limits, graceful shutdown) is decided here, next to the settings, rather than
scattered through the command line.
"""

from __future__ import annotations

from typing import Any

from graphql_api.logs import uvicorn_log_config
from graphql_api.settings import Settings

# The factory uvicorn imports in each worker process (`--workers N`): settings
# are read again there from the same environment.
APP_FACTORY = "graphql_api.serving:create_app_from_environ"


def create_app_from_environ() -> Any:
    from graphql_api.app import create_app

    return create_app(Settings.from_environ(), migrate_on_start=False)


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for `uvicorn.run`/`uvicorn.Config` (without the app)."""
    return {
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
        "timeout_graceful_shutdown": 15,
        # uvicorn's loggers propagate to the root handler set up by
        # graphql_api.logs.configure (level, format and scrubbing in one place).
        "log_config": uvicorn_log_config(),
    }
