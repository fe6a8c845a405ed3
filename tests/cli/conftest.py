"""One real `strongroom serve` (SQLite) for the command-line tests of this
package, and a helper that runs `strongroom` against it as a subprocess,
exactly as a person or a CI job would. Each test makes its own workspace."""

from __future__ import annotations

import os
import secrets
import subprocess
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from graphql_api.client import Strongroom
from tests.process import ServerProcess, clean_environ, start_server, strongroom_command


@dataclass
class Live:
    process: ServerProcess
    token: str
    cwd: Path

    @property
    def url(self) -> str:
        # The URL exactly as `strongroom serve` prints it: the client must take it.
        return f"{self.process.base_url}/graphql"

    def env(self, token: str | None = None, **extra: str) -> dict[str, str]:
        return clean_environ(**{"STRONGROOM_URL": self.url, "STRONGROOM_TOKEN": token or self.token, **extra})

    def client(self, token: str | None = None) -> Strongroom:
        return Strongroom(self.url, token or self.token, timeout=10.0)

    def workspace(self, prefix: str = "ws") -> str:
        name = f"{prefix}-{uuid.uuid4().hex[:10]}"
        with self.client() as client:
            client.create_workspace(name)
        return name

    def cli(
        self,
        *args: str,
        token: str | None = None,
        input: str | bytes | None = None,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        timeout: float = 60.0,
    ) -> subprocess.CompletedProcess[str]:
        return run(
            args, env=env if env is not None else self.env(token), input=input, cwd=cwd or self.cwd, timeout=timeout
        )


def run(
    args: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: Path,
    input: str | bytes | None = None,
    timeout: float = 60.0,
) -> subprocess.CompletedProcess[str]:
    """`strongroom ARGS`, stdin from `input` (bytes kept exact), output as text."""
    data = input.encode("utf-8") if isinstance(input, str) else input
    completed = subprocess.run(
        [*strongroom_command(), *args],
        cwd=cwd,
        env=dict(env),
        input=data if data is not None else b"",
        capture_output=True,
        timeout=timeout,
        check=False,
    )
    return subprocess.CompletedProcess(
        completed.args,
        completed.returncode,
        completed.stdout.decode("utf-8", errors="replace"),
        completed.stderr.decode("utf-8", errors="replace"),
    )


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert "Traceback" not in result.stdout + result.stderr, result.stderr
    return result.stdout


def one_error_line(result: subprocess.CompletedProcess[str], code: str, exit_status: int = 1) -> str:
    combined = result.stdout + result.stderr
    assert result.returncode == exit_status, f"exit {result.returncode}\n{combined}"
    assert "Traceback" not in combined, combined
    lines = result.stderr.splitlines()
    assert len(lines) == 1, f"expected one line on stderr:\n{result.stderr}"
    assert lines[0].startswith(f"strongroom: {code}: "), lines[0]
    return lines[0]


@pytest.fixture(scope="session")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    cwd = tmp_path_factory.mktemp("cli_live")
    token = "sr_" + secrets.token_urlsafe(32)
    env = clean_environ(
        STRONGROOM_DATA_DIR=str(cwd / "data"),
        STRONGROOM_BOOTSTRAP_TOKEN=token,
        SECRET_ENCRYPTION_KEY=Fernet.generate_key().decode("ascii"),
        STRONGROOM_LOG_LEVEL="warning",
    )
    server = start_server(cwd=cwd, env=env, log_path=cwd / "server.log")
    try:
        server.wait_healthy()
        yield Live(server, token, cwd)
        server.stop()
    finally:
        server.kill()


@pytest.fixture
def here(tmp_path: Path) -> Path:
    """A working directory of the test's own (no .env of anyone's)."""
    os.chmod(tmp_path, 0o700)
    return tmp_path
