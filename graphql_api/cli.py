"""The `strongroom` command.

    strongroom serve [--host H] [--port P]   migrate, bootstrap, serve
    strongroom migrate                       apply pending migrations
    strongroom schema [--output FILE]        print the GraphQL schema (SDL)
    strongroom token bootstrap               a new superadmin token, straight in the database
    strongroom keys generate                 print a new Fernet key

Bad configuration exits with status 2 and one line naming the variable.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from graphql_api.settings import ConfigError, Settings

EXIT_CONFIG = 2


def _settings() -> Settings:
    return Settings.from_environ()


def _configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from graphql_api import database
    from graphql_api.app import create_app

    settings = _settings()
    overrides = {k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
    settings = settings.with_overrides(**overrides)
    # Check the database before anything writes to the data directory.
    asyncio.run(database.check_reachable(settings))
    _configure_logging(settings.log_level)
    app = create_app(settings, migrate_on_start=False)
    asyncio.run(database.migrate(settings))
    logging.getLogger("strongroom").info(
        "serving on http://%s:%d/graphql (database %s, backend %s)",
        settings.host, settings.port, settings.database_url_redacted, settings.encryption_backend,
    )
    uvicorn.run(app, host=settings.host, port=settings.port, log_level=settings.log_level, lifespan="on")
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    from graphql_api import database

    settings = _settings()
    _configure_logging(settings.log_level)
    applied = asyncio.run(database.migrate(settings))
    print(f"applied {len(applied)} migration(s)" + (": " + ", ".join(applied) if applied else ""))
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    from graphql_api.schema import build_schema

    sdl = build_schema().as_str() + "\n"
    if args.output:
        Path(args.output).write_text(sdl, encoding="utf-8")
    else:
        sys.stdout.write(sdl)
    return 0


def cmd_token_bootstrap(args: argparse.Namespace) -> int:
    from graphql_api import database
    from graphql_api.services.bootstrap import reset_bootstrap_token

    settings = _settings()
    _configure_logging("warning")

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
    return 0


def cmd_keys_generate(args: argparse.Namespace) -> int:
    from cryptography.fernet import Fernet

    # Printed for the operator to put in SECRET_ENCRYPTION_KEY; never logged.
    print(Fernet.generate_key().decode("ascii"))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="strongroom", description="Strongroom secret-management server")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="migrate, bootstrap and serve the GraphQL API")
    serve.add_argument("--host", help="interface to bind (default STRONGROOM_HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to bind (default STRONGROOM_PORT or 8000)")
    serve.set_defaults(handler=cmd_serve)
    migrate = commands.add_parser("migrate", help="apply pending database migrations")
    migrate.set_defaults(handler=cmd_migrate)
    schema = commands.add_parser("schema", help="print the GraphQL schema (SDL)")
    schema.add_argument("--output", "-o", help="write to this file instead of standard output")
    schema.set_defaults(handler=cmd_schema)
    token = commands.add_parser("token", help="API tokens")
    token_commands = token.add_subparsers(dest="token_command", required=True)
    boot = token_commands.add_parser("bootstrap", help="a new superadmin token, written straight to the database")
    boot.set_defaults(handler=cmd_token_bootstrap)
    keys = commands.add_parser("keys", help="encryption keys")
    key_commands = keys.add_subparsers(dest="keys_command", required=True)
    generate = key_commands.add_parser("generate", help="print a new Fernet key for SECRET_ENCRYPTION_KEY")
    generate.set_defaults(handler=cmd_keys_generate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except ConfigError as exc:
        print(f"strongroom: configuration error: {exc.variable}: {exc.message}", file=sys.stderr)
        return EXIT_CONFIG
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
