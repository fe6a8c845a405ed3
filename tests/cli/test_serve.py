"""`strongroom serve --workers N` on PostgreSQL: one socket bound before
anything starts, N worker processes built by the application factory."""

from __future__ import annotations

import asyncio
import secrets
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from cryptography.fernet import Fernet

from tests import pg
from tests.process import clean_environ, free_port, strongroom_command


@pytest.mark.postgres
def test_workers_serve_one_port_from_several_processes(tmp_path: Path) -> None:
    asyncio.run(pg.require_postgres())
    name = asyncio.run(pg.create_database("sr_workers"))
    token = "sr_" + secrets.token_urlsafe(32)
    port = free_port()
    env = clean_environ(
        DATABASE_URL=pg.database_url(name),
        STRONGROOM_BOOTSTRAP_TOKEN=token,
        SECRET_ENCRYPTION_KEY=Fernet.generate_key().decode("ascii"),
        STRONGROOM_LOG_LEVEL="warning",
    )
    log = (tmp_path / "serve.log").open("wb")
    process = subprocess.Popen(
        [*strongroom_command(), "serve", "--port", str(port), "--workers", "2"],
        cwd=tmp_path,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=2) as client:
            while True:
                assert process.poll() is None, (tmp_path / "serve.log").read_text()
                try:
                    if client.get("/readyz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
                time.sleep(0.2)
            answered = {
                client.post(
                    "/graphql", json={"query": "{ viewer { name } }"}, headers={"authorization": f"Bearer {token}"}
                ).json()["data"]["viewer"]["name"]
                for _ in range(10)
            }
        assert answered == {"admin"}
        workers = Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text().split()
        assert len(workers) >= 2, workers  # (the spawn start method may add its resource tracker)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
        asyncio.run(pg.drop_database(name))
    assert process.returncode in (0, -signal.SIGTERM), (tmp_path / "serve.log").read_text()
    assert "Traceback" not in (tmp_path / "serve.log").read_text()


@pytest.mark.parametrize("url", ["sqlite:///tmp/x.db", ""])
def test_workers_are_refused_on_sqlite(tmp_path: Path, url: str) -> None:
    env = clean_environ(**({"DATABASE_URL": url} if url else {}))
    result = subprocess.run(
        [*strongroom_command(), "serve", "--workers", "3"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("strongroom: configuration error: --workers: needs PostgreSQL")
    assert len(result.stderr.splitlines()) == 1
