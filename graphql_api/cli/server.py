"""Commands that run the server or work on its database directly.

    strongroom serve [--host H] [--port P] [--workers N]
    strongroom migrate [--init]
    strongroom schema [-o FILE]
    strongroom token bootstrap [--init]
    strongroom rotation run-once [--init]

They read the server's configuration (graphql_api.settings), imported only
here and only when one of them runs: the client commands start without the
ORM. The database commands print which database they use, and refuse to
create a new SQLite database unless told to with `--init`, so that running
one from the wrong folder cannot silently make a fresh, empty one (and a
token for it).
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from graphql_api.cli.output import note

if TYPE_CHECKING:
    from graphql_api.settings import Settings

rotation_app = typer.Typer(help="Secret rotation.", no_args_is_help=True)

InitOption = Annotated[
    bool,
    typer.Option("--init", help="Create the database if it does not exist yet (otherwise that is refused)."),
]


def load_settings() -> Settings:
    # Imported here: the server's settings pull in the ORM, which client commands do not need.
    from graphql_api.settings import Settings

    return Settings.from_environ()


def configure_logging(settings: Settings, level: str | None = None) -> None:
    from graphql_api import logs

    logs.configure(settings.with_overrides(log_level=level) if level else settings)


def open_database(settings: Settings, init: bool) -> None:
    """Refuse a SQLite database that does not exist (unless `init`); say which database is used."""
    from graphql_api.database import sqlite_path
    from graphql_api.settings import ConfigError

    if settings.is_sqlite:
        path = sqlite_path(settings.database_url).resolve()
        if not path.is_file() and not init:
            explicit = bool((settings.environ.get("DATABASE_URL") or "").strip())
            variable = "DATABASE_URL" if explicit else "STRONGROOM_DATA_DIR"
            raise ConfigError(
                variable,
                f"there is no database at {path}; run this where the server runs, point {variable} at its "
                "database, or pass --init to create a new one",
            )
        note(f"database sqlite://{path}")
    else:
        note(f"database {settings.database_url_redacted}")


def bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound before anything else starts (ConfigError when the port is taken)."""
    from graphql_api.settings import ConfigError

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        where = f"[{host}]:{port}" if family == socket.AF_INET6 else f"{host}:{port}"
        reason = "is already in use" if exc.errno == errno.EADDRINUSE else f"cannot be bound ({exc.strerror or exc})"
        raise ConfigError(
            "STRONGROOM_PORT", f"{where} {reason} (--host/--port or STRONGROOM_HOST/STRONGROOM_PORT)"
        ) from None
    sock.set_inheritable(True)
    return sock


def serve(
    host: Annotated[str | None, typer.Option(help="Interface to bind (default STRONGROOM_HOST or 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port to bind (default STRONGROOM_PORT or 8000).")] = None,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes (PostgreSQL only: SQLite is one process).")] = 1,
) -> None:
    """Apply pending migrations, bootstrap the first superadmin, and serve the GraphQL API.

    The port is bound first: when it is taken, nothing else happens (the
    one-time bootstrap token is not used up). SIGTERM drains (graphql_api.drain)
    and exits 0.
    """
    from graphql_api import database, production, serving
    from graphql_api.app import create_app
    from graphql_api.settings import ConfigError

    settings = load_settings()
    overrides = {k: v for k, v in (("host", host), ("port", port)) if v is not None}
    settings = settings.with_overrides(**overrides)
    # STRONGROOM_ENV=production: refused before anything (a key file) is written.
    production.check_production(settings)
    if workers > 1 and settings.is_sqlite:
        raise ConfigError(
            "--workers", "needs PostgreSQL (DATABASE_URL=postgres://...); a SQLite database is served by one process"
        )
    # Check the database before anything writes to the data directory.
    asyncio.run(database.check_reachable(settings))
    sock = bind(settings.host, settings.port)
    try:
        configure_logging(settings)
        app = create_app(settings, migrate_on_start=False, handle_signals=True)
        asyncio.run(database.migrate(settings))
        logging.getLogger("strongroom.server").info(
            "serving on %s://%s:%d/graphql (database %s, backend %s%s)",
            serving.scheme(settings),
            settings.host,
            settings.port,
            settings.database_url_redacted,
            settings.encryption_backend,
            f", {workers} workers" if workers > 1 else "",
        )
        serving.run(app, settings, sock, workers)
    finally:
        sock.close()


def migrate(init: InitOption = False) -> None:
    """Apply pending database migrations."""
    from graphql_api import database

    settings = load_settings()
    open_database(settings, init)
    configure_logging(settings)
    applied = asyncio.run(database.migrate(settings))
    print(f"applied {len(applied)} migration(s)" + (": " + ", ".join(applied) if applied else ""))


def schema(
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write to this file instead of stdout.")] = None,
) -> None:
    """Print the GraphQL schema (SDL) this code serves."""
    from graphql_api.schema import build_schema

    sdl = build_schema().as_str() + "\n"
    if output is not None:
        output.write_text(sdl, encoding="utf-8")
    else:
        sys.stdout.write(sdl)


def token_bootstrap(init: InitOption = False) -> None:
    """Write a new superadmin token straight into the database and print it (once).

    For when the bootstrap token is lost; it needs the server's configuration
    and database, not a running server. With STRONGROOM_BOOTSTRAP_TOKEN set,
    that token is made valid instead and nothing is printed.
    """
    from graphql_api import database
    from graphql_api.services.bootstrap import reset_bootstrap_token

    settings = load_settings()
    open_database(settings, init)
    configure_logging(settings, "warning")

    async def run() -> str:
        await database.migrate(settings)
        await database.connect(settings)
        try:
            fixed = settings.bootstrap_token.reveal() if settings.bootstrap_token else None
            return await reset_bootstrap_token(fixed)
        finally:
            await database.close()

    token = asyncio.run(run())
    if settings.bootstrap_token:
        print("the STRONGROOM_BOOTSTRAP_TOKEN token is valid for the superadmin 'admin'")
    else:
        print(token)


@rotation_app.command("run-once")
def rotation_run_once(init: InitOption = False) -> None:
    """One scheduler pass on the database: rotate or notify what is due (for cron).

    Builds the services from the same configuration as `serve`, so cron can
    run it beside (or instead of) the server's own scheduler: claims are
    conditional, replicas never double-notify.
    """
    settings = load_settings()
    open_database(settings, init)
    configure_logging(settings, "warning")

    async def run() -> str:
        from graphql_api.services.wiring import build_services

        services = build_services(settings)
        # Opens the database and loads the server key the audit trail is written with.
        await services.open(migrate=True, bootstrap_admin=False)
        try:
            report = await services.rotation.run_once()
        finally:
            await services.close()
        return (
            f"rotated {report.rotated}, failed {report.failed}, due notices {report.notified}, "
            f"notifications delivered {report.delivered}"
        )

    print(asyncio.run(run()))


def audit_rechain_legacy(init: InitOption = False) -> None:
    """Re-chain audit trails written by Strongroom 0.1 under the server key (run once after upgrading).

    Every trail that still verifies under 0.1's unkeyed hash is re-chained
    under the keyed one; a trail that does not verify is left as it is, and
    keeps being reported invalid. Run it only on a database you trust: it
    vouches for what it re-chains.
    """
    settings = load_settings()
    open_database(settings, init)
    configure_logging(settings, "warning")

    async def run() -> int:
        from graphql_api.services.wiring import build_services

        services = build_services(settings)
        await services.open(migrate=True, bootstrap_admin=False)
        try:
            return await services.rechain_legacy_audit()
        finally:
            await services.close()

    print(f"re-chained {asyncio.run(run())} audit event(s) under the server key")
