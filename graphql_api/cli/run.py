"""`strongroom run -w W [options] -- COMMAND ARGS...`: a command with the
workspace's secrets in its environment, and nothing written to disk.

The values come in one audited `secretValues` read, are added to the
environment the command inherits (names as stored, or with --prefix), and
the command runs under graphql_api.cli.supervisor (exit status passed
through, signals forwarded, orphans reaped: fit to be a container's PID 1).
STRONGROOM_TOKEN itself is not passed on unless --pass-token says so.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from graphql_api.cli import fallback as saved_values
from graphql_api.cli import output
from graphql_api.cli.output import CliError
from graphql_api.cli.session import SESSION, WorkspaceOption
from graphql_api.cli.supervisor import EXIT_NOT_FOUND, FORWARDED, SpawnError, Supervisor
from graphql_api.cli.watch import Watcher
from graphql_api.client import ClientConfigError, SecretValue, StrongroomAPIError
from graphql_api.client.config import TOKEN_VARIABLE, URL_VARIABLE
from graphql_api.client.environment import check_prefix, environment_variables
from graphql_api.client.errors import UNAVAILABLE

if TYPE_CHECKING:
    from graphql_api.client import AuditTail, Strongroom


def parse_signal(text: str) -> int:
    name = text.strip().upper()
    if name.isdigit():
        number = int(name)
        if number in {int(s) for s in signal.Signals}:
            return number
    else:
        try:
            return int(signal.Signals[name if name.startswith("SIG") else f"SIG{name}"])
        except KeyError:
            pass
    raise typer.BadParameter(f"{text!r} is not a signal (e.g. HUP, SIGUSR1, 10)")


@contextmanager
def _signals_blocked() -> Iterator[None]:
    """Threads started inside (websockets' reader) inherit the block, so signals stay with the main thread."""
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, (*FORWARDED, signal.SIGCHLD))
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _base_environment(pass_token: bool, url: str, token: str) -> dict[str, str]:
    environment = dict(os.environ)
    if pass_token:
        environment[URL_VARIABLE] = url
        environment[TOKEN_VARIABLE] = token
    else:
        environment.pop(TOKEN_VARIABLE, None)
    return environment


def _fetch(
    sr: Strongroom, workspace: str, only: Sequence[str] | None, fallback: Path | None, token: str
) -> list[SecretValue]:
    try:
        values = sr.secret_values(workspace, only)
    except StrongroomAPIError as exc:
        if exc.code != UNAVAILABLE or fallback is None:
            raise
        try:
            saved = saved_values.load(fallback, token, workspace)
        except saved_values.FallbackError as problem:
            raise CliError(UNAVAILABLE, f"{exc.message}; and --fallback: {problem}") from None
        values = saved.values
        if only:
            held = {v.name for v in values}
            missing = [name for name in only if name not in held]
            if missing:
                raise CliError(
                    UNAVAILABLE, f"{exc.message}; and --fallback {fallback} lacks {', '.join(missing)}"
                ) from None
            values = [v for v in values if v.name in set(only)]
        SESSION.hide(*(v.value for v in values))
        output.warn(
            f"{exc.code}: {exc.message}; using the values saved in {fallback} at {saved.saved_at}", SESSION.redactor
        )
        return values
    SESSION.hide(*(v.value for v in values))
    if fallback is not None:
        _save(fallback, token, workspace, values)
    return values


def _save(fallback: Path, token: str, workspace: str, values: Sequence[SecretValue]) -> None:
    try:
        saved_values.save(fallback, token, workspace, values)
    except OSError as exc:
        output.warn(f"--fallback: cannot write {fallback} ({exc.strerror or type(exc).__name__})", SESSION.redactor)


def run_command(
    workspace: WorkspaceOption,
    command: Annotated[list[str], typer.Argument(metavar="-- COMMAND [ARGS]...", help="The command to run.")],
    only: Annotated[list[str] | None, typer.Option(metavar="NAME", help="Only this secret, repeatable.")] = None,
    prefix: Annotated[str, typer.Option(metavar="P", help="Put P before each name, e.g. SECRET_.")] = "",
    watch: Annotated[
        bool, typer.Option(help="Restart the command when a value it received changes (pushed by the server).")
    ] = False,
    reload_signal: Annotated[
        str | None, typer.Option(metavar="SIG", help="With --watch: send SIG (e.g. HUP) instead of restarting.")
    ] = None,
    grace: Annotated[
        float, typer.Option(min=0, metavar="SECONDS", help="How long a restart waits after SIGTERM before SIGKILL.")
    ] = 10.0,
    fallback: Annotated[
        Path | None,
        typer.Option(
            metavar="FILE", help="Keep the last values here, encrypted (0600); use them when the server is unreachable."
        ),
    ] = None,
    pass_token: Annotated[
        bool, typer.Option(help="Also give the command STRONGROOM_URL and STRONGROOM_TOKEN (withheld otherwise).")
    ] = False,
) -> None:
    """Run COMMAND with the workspace's secrets added to its environment.

    Its exit status is strongroom's; SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1
    and SIGUSR2 are forwarded; stdin, stdout and stderr are its own; it can be
    a container's PID 1. Nothing is written to disk in plaintext.
    """
    signum = parse_signal(reload_signal) if reload_signal is not None else None
    if signum is not None and not watch:
        raise CliError("BAD_USER_INPUT", "--reload-signal goes with --watch", exit_code=output.EXIT_USAGE)
    try:
        check_prefix(prefix)
    except ClientConfigError as exc:
        raise typer.BadParameter(exc.message, param_hint="--prefix") from None
    settings = SESSION.settings()
    supervisor = Supervisor(command, grace=grace)
    base = _base_environment(pass_token, settings.url, settings.token)
    from graphql_api.client import Strongroom  # httpx only for commands that talk to a server

    with Strongroom(settings.url, settings.token) as sr:
        tail = _open_stream(sr, workspace, fallback) if watch else None
        watcher = None
        try:
            values = _fetch(sr, workspace, only, fallback, settings.token)
            environment = base | environment_variables(values, prefix)
            supervisor.install()
            supervisor.start(environment)
            if watch:

                def changed(latest: list[SecretValue]) -> None:
                    SESSION.hide(*(v.value for v in latest))
                    if signum is not None:
                        supervisor.reload(signum)
                    else:
                        supervisor.restart(base | environment_variables(latest, prefix))

                def refreshed(latest: list[SecretValue]) -> None:
                    if fallback is not None:
                        _save(fallback, settings.token, workspace, latest)

                watcher = Watcher(
                    sr,
                    workspace,
                    only,
                    values,
                    on_change=changed,
                    on_values=refreshed,
                    tail=tail,
                    warn=lambda message: output.warn(message, SESSION.redactor),
                )
                watcher.start()
            status = supervisor.wait()
        except SpawnError as exc:
            code = "NOT_FOUND" if exc.exit_code == EXIT_NOT_FOUND else "FORBIDDEN"
            raise CliError(code, exc.message, exit_code=exc.exit_code) from None
        finally:
            if watcher is not None:
                watcher.stop()
            elif tail is not None:
                tail.close()
            # The signals stay blocked: the process ends now, with the command's status, even if a
            # second SIGTERM is still pending (unblocking would let it kill us with its own status).
    raise typer.Exit(status)


def _open_stream(sr: Strongroom, workspace: str, fallback: Path | None) -> AuditTail | None:
    """The change subscription, open before the values are read (no change
    slips between). It needs only the right to list the workspace's secrets,
    which reading its values implies."""
    tail = sr.watch_changes(workspace)
    try:
        with _signals_blocked():
            tail.open()
    except StrongroomAPIError as exc:
        tail.close()
        if exc.code == UNAVAILABLE and fallback is not None:
            return None  # the watcher connects when the server is back
        raise
    return tail
