"""The `strongroom` command.

    strongroom serve [--host H] [--port P]   migrate, bootstrap, serve
    strongroom migrate                       apply pending migrations
    strongroom schema [--output FILE]        print the GraphQL schema (SDL)
    strongroom token bootstrap               a new superadmin token, straight in the database
    strongroom keys generate                 print a new Fernet key

Against a running server (STRONGROOM_URL, default http://127.0.0.1:8000, and
STRONGROOM_TOKEN), through graphql_api.client:

    strongroom principal create NAME [--role WORKSPACE:ROLE ...] [--superadmin]
    strongroom principal list [--workspace W]
    strongroom token create --principal ID --name NAME [--expires ISO8601]
    strongroom token list --principal ID
    strongroom token revoke TOKEN_ID
    strongroom role grant PRINCIPAL_ID WORKSPACE ROLE
    strongroom role revoke PRINCIPAL_ID WORKSPACE
    strongroom audit verify --workspace W
    strongroom audit tail --workspace W [--secret ID] [--json]

Bad configuration exits with status 2 and one line naming the variable; an
error answered by the server exits with status 1 and one line
`strongroom: CODE: message`. Nothing printed ever contains a secret value,
except the new token `token create` prints once.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from graphql_api.cli_admin import add_admin_commands
from graphql_api.client import (
    ApiToken,
    AuditEvent,
    ClientConfigError,
    Principal,
    StrongroomAPIError,
    StrongroomClient,
)

if TYPE_CHECKING:
    from graphql_api.settings import Settings

EXIT_API_ERROR = 1
EXIT_CONFIG = 2
ROLES = ("VIEWER", "READER", "WRITER", "AUDITOR", "ADMIN")


def _settings() -> Settings:
    # Imported here: the server's settings pull in the ORM, which the client
    # commands do not need (they start twice as fast without it).
    from graphql_api.settings import Settings

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

# -- commands against a running server (graphql_api.client) ---------------------


def _client() -> StrongroomClient:
    return StrongroomClient.from_environ()


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _role_binding(text: str) -> tuple[str, str]:
    workspace, sep, role = text.rpartition(":")
    if not sep or not workspace or role.upper() not in ROLES:
        raise argparse.ArgumentTypeError(f"expected WORKSPACE:ROLE with ROLE one of {', '.join(ROLES)}")
    return workspace, role.upper()


def _role(text: str) -> str:
    if text.upper() not in ROLES:
        raise argparse.ArgumentTypeError(f"must be one of {', '.join(ROLES)}")
    return text.upper()


def _timestamp(text: str) -> datetime:
    """ISO 8601; without an offset it is UTC."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError("expected an ISO 8601 time, e.g. 2030-01-31T12:00:00Z") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _when(moment: datetime | None, never: str = "never") -> str:
    if moment is None:
        return never
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _bindings(principal: Principal) -> str:
    return ", ".join(f"{b.workspace_id}:{b.role}" for b in principal.bindings) or "-"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


def _print_principal(principal: Principal) -> None:
    print(principal.id)
    print(f"  name: {principal.name}")
    print(f"  superadmin: {'yes' if principal.is_superadmin else 'no'}")
    print(f"  bindings: {_bindings(principal)}")


def cmd_principal_create(args: argparse.Namespace) -> int:
    with _client() as client:
        principal = client.create_principal(args.name, args.role or [], superadmin=args.superadmin)
    _print_principal(principal)
    return 0


def cmd_principal_list(args: argparse.Namespace) -> int:
    with _client() as client:
        principals = client.principals(args.workspace)
    _table(
        ("ID", "NAME", "SUPERADMIN", "BINDINGS"),
        [(p.id, p.name, "yes" if p.is_superadmin else "no", _bindings(p)) for p in principals],
    )
    return 0


def cmd_token_create(args: argparse.Namespace) -> int:
    with _client() as client:
        created = client.create_token(args.principal, args.name, args.expires)
    # The only secret the command line ever prints: alone on stdout, once.
    print(created.token, flush=True)
    row = created.api_token
    print(
        f"strongroom: token {row.id} ({row.name!r}, expires {_when(row.expires_at)}) for principal "
        f"{row.principal_id}; it is shown this once and only its hash is stored, so keep it now",
        file=sys.stderr,
    )
    return 0


def _token_row(token: ApiToken) -> tuple[str, ...]:
    return (
        token.id,
        token.name,
        token.prefix + "…",
        _when(token.created_at),
        _when(token.expires_at),
        _when(token.last_used_at),
        "yes" if token.revoked else "no",
    )


def cmd_token_list(args: argparse.Namespace) -> int:
    with _client() as client:
        tokens = client.tokens(args.principal)
    _table(("ID", "NAME", "PREFIX", "CREATED", "EXPIRES", "LAST USED", "REVOKED"), [_token_row(t) for t in tokens])
    return 0


def cmd_token_revoke(args: argparse.Namespace) -> int:
    with _client() as client:
        token = client.revoke_token(args.token_id)
    print(f"revoked token {token.id} ({token.name!r}, {token.prefix}…) of principal {token.principal_id}")
    return 0


def cmd_role_grant(args: argparse.Namespace) -> int:
    with _client() as client:
        principal = client.grant_role(args.principal_id, args.workspace, args.role)
    print(f"{principal.id} ({principal.name}): {_bindings(principal)}")
    return 0


def cmd_role_revoke(args: argparse.Namespace) -> int:
    with _client() as client:
        principal = client.revoke_role(args.principal_id, args.workspace)
    print(f"{principal.id} ({principal.name}): {_bindings(principal)}")
    return 0


def cmd_audit_verify(args: argparse.Namespace) -> int:
    with _client() as client:
        integrity = client.audit_integrity(args.workspace)
    if integrity.valid:
        print(f"valid: {integrity.checked_events} events checked, head {integrity.head_hash or 'none'}")
        return 0
    print(f"INVALID: first bad event {integrity.first_invalid_event_id} after {integrity.checked_events} events")
    return EXIT_API_ERROR


def _event_line(event: AuditEvent) -> str:
    return " ".join(
        (
            _when(event.created_at),
            event.action,
            "ok" if event.success else "FAILED",
            f"user={event.user_id or '-'}",
            f"ip={event.ip_address or '-'}",
            f"secret={event.secret_id or '-'}",
            json.dumps(event.details, sort_keys=True, ensure_ascii=False),
        )
    )


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def cmd_audit_tail(args: argparse.Namespace) -> int:
    # SIGTERM (a supervisor, `timeout`) ends the tail as cleanly as Ctrl-C.
    signal.signal(signal.SIGTERM, _interrupt)
    with _client() as client:
        events = client.tail_audit(args.workspace, args.secret)
        try:
            for event in events:
                line = json.dumps(event.to_json(), ensure_ascii=False) if args.json else _event_line(event)
                print(line, flush=True)
        except KeyboardInterrupt:
            return 0
        except BrokenPipeError:
            # The reader went away (`| head`): stop quietly, without a flush error at exit.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 0
        finally:
            events.close()
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
    token_create = token_commands.add_parser("create", help="a new API token for a principal, printed once")
    token_create.add_argument("--principal", required=True, metavar="ID", help="the principal's id")
    token_create.add_argument("--name", required=True, help="what the token is for")
    token_create.add_argument(
        "--expires", type=_timestamp, metavar="ISO8601", help="expiry time (UTC when it has no offset)"
    )
    token_create.set_defaults(handler=cmd_token_create)
    token_list = token_commands.add_parser("list", help="a principal's API tokens (never their values)")
    token_list.add_argument("--principal", required=True, metavar="ID", help="the principal's id")
    token_list.set_defaults(handler=cmd_token_list)
    token_revoke = token_commands.add_parser("revoke", help="revoke an API token")
    token_revoke.add_argument("token_id", metavar="TOKEN_ID")
    token_revoke.set_defaults(handler=cmd_token_revoke)
    principal = commands.add_parser("principal", help="principals (users and services)")
    principal_commands = principal.add_subparsers(dest="principal_command", required=True)
    principal_create = principal_commands.add_parser("create", help="a new principal")
    principal_create.add_argument("name", metavar="NAME")
    principal_create.add_argument(
        "--role", action="append", type=_role_binding, metavar="WORKSPACE:ROLE",
        help=f"a role binding, repeatable; ROLE is one of {', '.join(ROLES)}",
    )
    principal_create.add_argument("--superadmin", action="store_true", help="may do everything (superadmin only)")
    principal_create.set_defaults(handler=cmd_principal_create)
    principal_list = principal_commands.add_parser("list", help="principals, all or of one workspace")
    principal_list.add_argument("--workspace", metavar="W", help="only those bound to this workspace")
    principal_list.set_defaults(handler=cmd_principal_list)
    role = commands.add_parser("role", help="role bindings")
    role_commands = role.add_subparsers(dest="role_command", required=True)
    grant = role_commands.add_parser("grant", help="give a principal a role in a workspace (replacing its role there)")
    grant.add_argument("principal_id", metavar="PRINCIPAL_ID")
    grant.add_argument("workspace", metavar="WORKSPACE")
    grant.add_argument("role", type=_role, metavar="ROLE", help=", ".join(ROLES))
    grant.set_defaults(handler=cmd_role_grant)
    revoke = role_commands.add_parser("revoke", help="remove a principal's role in a workspace")
    revoke.add_argument("principal_id", metavar="PRINCIPAL_ID")
    revoke.add_argument("workspace", metavar="WORKSPACE")
    revoke.set_defaults(handler=cmd_role_revoke)
    audit = commands.add_parser("audit", help="the audit trail")
    audit_commands = audit.add_subparsers(dest="audit_command", required=True)
    verify = audit_commands.add_parser("verify", help="check a workspace's hash chain")
    verify.add_argument("--workspace", required=True, metavar="W")
    verify.set_defaults(handler=cmd_audit_verify)
    tail = audit_commands.add_parser("tail", help="stream a workspace's audit events as they happen")
    tail.add_argument("--workspace", required=True, metavar="W")
    tail.add_argument("--secret", metavar="ID", help="only this secret's events")
    tail.add_argument("--json", action="store_true", help="one JSON object a line")
    tail.set_defaults(handler=cmd_audit_tail)
    keys = commands.add_parser("keys", help="encryption keys")
    key_commands = keys.add_subparsers(dest="keys_command", required=True)
    generate = key_commands.add_parser("generate", help="print a new Fernet key for SECRET_ENCRYPTION_KEY")
    generate.set_defaults(handler=cmd_keys_generate)
    add_admin_commands(commands, key_commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except ClientConfigError as exc:
        print(f"strongroom: configuration error: {exc.variable}: {exc.message}", file=sys.stderr)
        return EXIT_CONFIG
    except StrongroomAPIError as exc:
        print(f"strongroom: {exc.code}: {_one_line(exc.message)}", file=sys.stderr)
        return EXIT_API_ERROR
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        from graphql_api.settings import ConfigError

        if not isinstance(exc, ConfigError):
            raise
        print(f"strongroom: configuration error: {exc.variable}: {exc.message}", file=sys.stderr)
        return EXIT_CONFIG

if __name__ == "__main__":
    sys.exit(main())
