"""Helpers for tests that run `strongroom` as a real subprocess.

Each child gets a controlled environment: a copy of os.environ without any
variable the server reads (STRONGROOM_*, SECRET_*, DATABASE_URL, VAULT_*,
AWS_*), so neither the developer's shell nor CI configuration leaks in; and
the caller runs it in a temporary directory so that no `.env` is picked up.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx

CONTROLLED_PREFIXES = ("STRONGROOM_", "SECRET_", "VAULT_", "AWS_")
CONTROLLED_NAMES = ("DATABASE_URL",)
START_TIMEOUT_SECONDS = 20.0
STOP_TIMEOUT_SECONDS = 15.0
# A generated token: "sr_" + secrets.token_urlsafe(32) (43 characters).
GENERATED_TOKEN = re.compile(r"(?<![A-Za-z0-9_-])sr_[A-Za-z0-9_-]{43}(?![A-Za-z0-9_-])")


def strongroom_command() -> list[str]:
    """The `strongroom` console script of this interpreter's environment."""
    script = Path(sys.executable).with_name("strongroom")
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [sys.executable, "-m", "graphql_api.cli"]


def clean_environ(**extra: str) -> dict[str, str]:
    """os.environ minus every Strongroom-relevant variable, plus `extra`."""
    environ = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(CONTROLLED_PREFIXES) and name not in CONTROLLED_NAMES
    }
    environ["PYTHONUNBUFFERED"] = "1"
    environ.update(extra)
    return environ


def run_strongroom(
    args: Sequence[str], *, cwd: Path, env: Mapping[str, str] | None = None, timeout: float = 60.0
) -> subprocess.CompletedProcess[str]:
    """Run `strongroom ARGS` to completion; text output, never raises on failure."""
    return subprocess.run(
        [*strongroom_command(), *args],
        cwd=cwd,
        env=dict(env if env is not None else clean_environ()),
        capture_output=True,
        text=True,
        encoding="utf-8",
        errors="replace",
        timeout=timeout,
        check=False,
    )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def closed_port_url() -> str:
    """An http URL on loopback where nothing listens (connection refused)."""
    return f"http://127.0.0.1:{free_port()}"


@dataclass
class ServerProcess:
    """One `strongroom serve` child; stdout and stderr go to `log_path`."""

    process: subprocess.Popen[bytes]
    port: int
    log_path: Path
    _log: IO[bytes] = field(repr=False)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log_path.read_bytes().decode("utf-8", errors="replace")

    def client(self, token: str | None = None, **kwargs: Any) -> httpx.Client:
        headers = {"authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=10.0, **kwargs)

    def wait_healthy(self, timeout: float = START_TIMEOUT_SECONDS) -> None:
        deadline = time.monotonic() + timeout
        with httpx.Client(base_url=self.base_url, timeout=1.0) as client:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise AssertionError(
                        f"strongroom serve exited with {self.process.returncode} before answering "
                        f"/healthz; output:\n{self.output()}"
                    )
                try:
                    if client.get("/healthz").status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                time.sleep(0.1)
        raise AssertionError(
            f"strongroom serve did not answer /healthz within {timeout:.0f} s; output:\n{self.output()}"
        )

    def stop(self, timeout: float = STOP_TIMEOUT_SECONDS) -> int:
        """SIGTERM, then wait; returns the exit status (kills it if it hangs)."""
        try:
            if self.process.poll() is None:
                self.process.send_signal(signal.SIGTERM)
                try:
                    self.process.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    self.kill()
                    raise AssertionError(
                        f"strongroom serve ignored SIGTERM for {timeout:.0f} s; output:\n{self.output()}"
                    ) from None
            return int(self.process.returncode)
        finally:
            self._log.close()

    def kill(self) -> None:
        """Last resort, safe to call any number of times."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=STOP_TIMEOUT_SECONDS)
        self._log.close()


def start_server(
    *, cwd: Path, env: Mapping[str, str], log_path: Path, port: int | None = None, extra_args: Sequence[str] = ()
) -> ServerProcess:
    """Start `strongroom serve [extra_args]` on 127.0.0.1:<free port>; does not wait for it."""
    chosen = port if port is not None else free_port()
    log = log_path.open("wb")
    try:
        process = subprocess.Popen(
            [*strongroom_command(), "serve", "--host", "127.0.0.1", "--port", str(chosen), *extra_args],
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    except BaseException:
        log.close()
        raise
    return ServerProcess(process=process, port=chosen, log_path=log_path, _log=log)


def graphql(client: httpx.Client, query: str, variables: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """POST a GraphQL operation that must succeed; returns its data."""
    response = client.post("/graphql", json={"query": query, "variables": dict(variables or {})})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert not body.get("errors"), body["errors"]
    data: dict[str, Any] = body["data"]
    return data


def start_healthy(started: list[ServerProcess], cwd: Path, env: Mapping[str, str], log_name: str) -> ServerProcess:
    """Start a server into `started` (so the `served` fixture kills it) and wait for /healthz."""
    server = start_server(cwd=cwd, env=env, log_path=cwd / log_name)
    started.append(server)
    server.wait_healthy()
    return server
