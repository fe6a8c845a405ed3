"""The command line as a whole, without a real server: help for every command,
usage errors, configuration errors, and the promise that every error is one
line naming a code, with no traceback and no token or value in it even when
a server echoes them back."""

from __future__ import annotations

import json
import signal
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import typer

from graphql_api.cli import app, main
from tests.cli.conftest import one_error_line, run
from tests.process import clean_environ, closed_port_url, strongroom_command

TOKEN = "sr_" + "C" * 43


def _paths(command: Any, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    yield prefix
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        yield from _paths(sub, (*prefix, name))


COMMANDS = list(_paths(typer.main.get_command(app)))


def test_the_command_tree_is_the_documented_one() -> None:
    names = {" ".join(p) for p in COMMANDS}
    assert names >= {
        "serve",
        "migrate",
        "schema",
        "run",
        "import",
        "export",
        "diff",
        "secrets list",
        "secrets get",
        "secrets set",
        "secrets rotate",
        "secrets rollback",
        "secrets delete",
        "secrets restore",
        "secrets history",
        "audit tail",
        "audit verify",
        "audit checkpoint",
        "keys generate",
        "keys rotate",
        "keys health",
        "token bootstrap",
        "token create",
        "token list",
        "token revoke",
        "principal create",
        "principal list",
        "role grant",
        "role revoke",
        "workspace list",
        "workspace create",
        "rotation run-once",
    }


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p) or "strongroom")
def test_every_command_has_accurate_help(path: tuple[str, ...], capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*path, "--help"]) == 0
    text = capsys.readouterr().out
    assert text.startswith(f"Usage: {' '.join(('strongroom', *path))}"), text
    command = typer.main.get_command(app)
    context = None
    for name in path:
        command = command.commands[name]  # type: ignore[attr-defined]
    assert (command.help or "").strip(), f"{path} has no description"
    for param in command.params:
        if param.param_type_name == "option" and not getattr(param, "hidden", False):
            assert (getattr(param, "help", "") or "").strip(), f"{path}: {param.name} has no help"
    del context


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("strongroom 0.")


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["frobnicate"], "No such command 'frobnicate'"),
        (["secrets", "get"], "Missing argument 'NAME'"),
        (["role", "grant", "p", "w", "OWNER"], "'OWNER' is not one of"),
        (["principal", "create", "x", "--role", "default-READER"], "WORKSPACE:ROLE"),
        (["run", "-w", "default"], "Missing argument"),
        (["run", "-w", "default", "--reload-signal", "NOPE", "--", "true"], "'NOPE' is not a signal"),
        (["run", "-w", "default", "--prefix", "1X", "--", "true"], "--prefix"),
        (["import", "-w", "default"], "give a FILE or --from-env"),
        (["export", "-w", "default", "--format", "xml"], "'xml' is not one of"),
        (["token", "create", "--principal", "p", "--name", "n", "--expires", "soon"], "ISO 8601"),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(argv: list[str], expected: str, tmp_path: Path) -> None:
    result = run(argv, env=clean_environ(STRONGROOM_TOKEN=TOKEN, STRONGROOM_URL=closed_port_url()), cwd=tmp_path)
    line = one_error_line(result, "usage error" if "give a FILE" not in expected else "BAD_USER_INPUT", 2)
    assert expected in line, line


def test_missing_token_names_the_variable(tmp_path: Path) -> None:
    result = run(["secrets", "list", "-w", "default"], env=clean_environ(), cwd=tmp_path)
    line = one_error_line(result, "configuration error", 2)
    assert "STRONGROOM_TOKEN" in line and result.stdout == ""


def test_an_unreachable_server_is_unavailable(tmp_path: Path) -> None:
    result = run(
        ["workspace", "list"], env=clean_environ(STRONGROOM_TOKEN=TOKEN, STRONGROOM_URL=closed_port_url()), cwd=tmp_path
    )
    line = one_error_line(result, "UNAVAILABLE")
    assert TOKEN not in line


class _Echo(BaseHTTPRequestHandler):
    """A hostile GraphQL endpoint: its error messages repeat whatever it was sent."""

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers["content-length"])).decode()
        message = f"refused {self.headers['authorization']} with {body}"
        answer = json.dumps({"data": None, "errors": [{"message": message, "extensions": {"code": "BAD_USER_INPUT"}}]})
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.end_headers()
        self.wfile.write(answer.encode())

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def echo_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/graphql"
    finally:
        server.shutdown()
        server.server_close()


def test_errors_never_carry_the_token_or_a_value_even_when_the_server_echoes_them(
    echo_url: str, tmp_path: Path
) -> None:
    env = clean_environ(STRONGROOM_TOKEN=TOKEN, STRONGROOM_URL=echo_url)
    value = "sk_live_" + "v" * 20
    refused = run(["secrets", "set", "STRIPE_API_KEY", "-w", "acme"], env=env, cwd=tmp_path, input=value + "\n")
    line = one_error_line(refused, "BAD_USER_INPUT")
    assert TOKEN not in line and value not in line and "**********" in line
    dotenv = tmp_path / "app.env"
    dotenv.write_text(f"API_KEY='{value}-from-file'\n")
    imported = run(["import", str(dotenv), "-w", "acme"], env=env, cwd=tmp_path)
    line = one_error_line(imported, "BAD_USER_INPUT")
    assert TOKEN not in line and value not in line


def test_ctrl_c_works_even_when_sigint_was_inherited_as_ignored(tmp_path: Path) -> None:
    # A server that accepts the connection and never answers: the command blocks.
    import socket

    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        process = subprocess.Popen(
            [*strongroom_command(), "audit", "tail", "-w", "default"],
            cwd=tmp_path,
            env=clean_environ(STRONGROOM_TOKEN=TOKEN, STRONGROOM_URL=url),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),  # noqa: PLW1509 - no threads here
        )
        try:
            connection, _ = silent.accept()
            connection.settimeout(10)
            assert connection.recv(65536), "the command connected but sent no request"  # now it waits on us
            process.send_signal(signal.SIGINT)
            _, stderr = process.communicate(timeout=10)
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate()
            connection.close()
    assert process.returncode in (0, 130)
    assert b"Traceback" not in stderr
