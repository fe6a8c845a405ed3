"""The `strongroom` command: every subcommand, and the one place errors end.

Exit statuses: 0 success; 1 an error (from the server: `strongroom: CODE:
message`, CODE its `extensions.code`, UNAVAILABLE when it cannot be reached);
2 bad usage or configuration (`strongroom: configuration error: VARIABLE:
message`); 130 interrupted; `run` passes its command's status through. Every
error is one line on stderr, never a traceback, never a token or a value.
"""

from __future__ import annotations

import os
import signal
import sys
import traceback
from collections.abc import Sequence
from typing import Annotated

import typer

from graphql_api import __version__
from graphql_api.cli import access, audit, diff, keys, run, secrets, server, transfer
from graphql_api.cli.output import EXIT_ERROR, EXIT_USAGE, CliError, error_line, one_line
from graphql_api.cli.session import SESSION
from graphql_api.client import ClientConfigError, StrongroomAPIError

EXIT_INTERRUPTED = 130
DEBUG_VARIABLE = "STRONGROOM_DEBUG"

app = typer.Typer(
    name="strongroom",
    help=(
        "Strongroom: secrets encrypted at rest, rotated, audited, served over GraphQL.\n\n"
        "Client commands talk to STRONGROOM_URL (default http://127.0.0.1:8000) with STRONGROOM_TOKEN, "
        "or to the server and token of a --profile. serve, migrate, schema, token bootstrap and "
        "rotation run-once work on the server's own configuration and database."
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(requested: bool) -> None:
    if requested:
        print(f"strongroom {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    profile: Annotated[
        str | None,
        typer.Option(
            envvar="STRONGROOM_PROFILE",
            metavar="NAME|FILE",
            help="Server and token from this profile (TOML: url, token) instead of STRONGROOM_URL/STRONGROOM_TOKEN.",
        ),
    ] = None,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    SESSION.profile = profile


app.command("serve")(server.serve)
app.command("migrate")(server.migrate)
app.command("schema")(server.schema)
app.command("run", context_settings={"allow_interspersed_args": False})(run.run_command)
app.command("import")(transfer.import_command)
app.command("export")(transfer.export_command)
app.command("diff")(diff.diff_command)
app.add_typer(secrets.secrets_app, name="secrets")
audit.audit_app.command("rechain-legacy")(server.audit_rechain_legacy)
app.add_typer(audit.audit_app, name="audit")
app.add_typer(keys.keys_app, name="keys")
access.token_app.command("bootstrap")(server.token_bootstrap)
app.add_typer(access.token_app, name="token")
app.add_typer(access.principal_app, name="principal")
app.add_typer(access.role_app, name="role")
app.add_typer(access.workspace_app, name="workspace")
app.add_typer(server.rotation_app, name="rotation")


def _fail(code: str, message: str, exit_code: int) -> int:
    print(error_line(code, message, SESSION.redactor), file=sys.stderr, flush=True)
    return exit_code


def main(argv: Sequence[str] | None = None) -> int:
    # Ctrl-C works even when SIGINT was inherited as ignored (nohup, `cmd &` in a script).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    command = typer.main.get_command(app)
    try:
        result = command.main(
            args=list(argv) if argv is not None else None, prog_name="strongroom", standalone_mode=False
        )
    except CliError as exc:
        return _fail(exc.code, exc.message, exc.exit_code)
    except StrongroomAPIError as exc:
        return _fail(exc.code, exc.message, EXIT_ERROR)
    except ClientConfigError as exc:
        return _fail("configuration error", f"{exc.variable}: {exc.message}", EXIT_USAGE)
    except typer.Abort:
        return EXIT_INTERRUPTED
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (`| head`): no flush error at exit either.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_ERROR
    except typer.TyperException as exc:  # click's usage errors
        return _usage_error(exc)
    except Exception as exc:
        return _unexpected(exc)
    return result if isinstance(result, int) else 0


def _usage_error(exc: typer.TyperException) -> int:
    format_message = getattr(exc, "format_message", None)
    message = format_message() if callable(format_message) else str(exc)
    context = getattr(exc, "ctx", None)
    if type(exc).__name__ == "NoArgsIsHelpError" and context is not None:
        print(context.get_help())
        return EXIT_USAGE
    hint = f" (see `{context.command_path} --help`)" if context is not None else ""
    return _fail("usage error", f"{one_line(message)}{hint}", int(getattr(exc, "exit_code", EXIT_USAGE)))


def _unexpected(exc: Exception) -> int:
    from graphql_api.cli.fallback import FallbackError

    config_error = _server_class("graphql_api.settings", "ConfigError")
    if config_error is not None and isinstance(exc, config_error):
        return _fail("configuration error", f"{exc.variable}: {exc.message}", EXIT_USAGE)  # type: ignore[attr-defined]  # class found by name
    domain_error = _server_class("graphql_api.errors", "StrongroomError")
    if domain_error is not None and isinstance(exc, domain_error):
        # A server command met a domain error (e.g. AUDIT_UNAVAILABLE): its message is safe by contract.
        return _fail(exc.code, exc.message, EXIT_ERROR)  # type: ignore[attr-defined]  # class found by name: mypy sees Exception
    if isinstance(exc, FallbackError):
        return _fail("BAD_USER_INPUT", str(exc), EXIT_ERROR)
    if os.environ.get(DEBUG_VARIABLE):
        traceback.print_exc()
    # The type only: an exception's text may hold whatever it was handed.
    return _fail("INTERNAL", f"unexpected {type(exc).__name__} (set {DEBUG_VARIABLE}=1 to see where)", EXIT_ERROR)


def _server_class(module_name: str, name: str) -> type[Exception] | None:
    # Only when a server command loaded that module: client commands never import the server.
    module = sys.modules.get(module_name)
    found = getattr(module, name, None) if module is not None else None
    return found if isinstance(found, type) and issubclass(found, Exception) else None
