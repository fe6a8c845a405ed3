"""`strongroom audit checkpoint` and `audit verify --checkpoint`: a signed
checkpoint kept outside the server catches a trail cut back to an old
backup, and an altered checkpoint file is refused."""

from __future__ import annotations

import json
import secrets
import shutil
import signal
import sqlite3
import subprocess
from pathlib import Path

from cryptography.fernet import Fernet

from graphql_api.client import Strongroom
from tests.cli.conftest import Live, ok, one_error_line, run
from tests.process import ServerProcess, clean_environ, start_healthy


def test_checkpoint_then_verify(live: Live, here: Path) -> None:
    w = live.workspace()
    with live.client() as client:
        client.create_secret(w, "A", "1")
        client.create_secret(w, "B", "2")
    saved = here / "checkpoint.json"
    ok(live.cli("audit", "checkpoint", "-w", w, "-o", str(saved)))
    document = json.loads(saved.read_text())
    assert document["format"] == "strongroom-audit-checkpoint/1" and document["workspaceId"] == w
    with live.client() as client:
        client.create_secret(w, "C", "3")  # the trail moves on; the checkpoint stays reachable
    out = ok(live.cli("audit", "verify", "-w", w, "--checkpoint", str(saved)))
    assert out.startswith("valid: ") and f"reaches checkpoint seq {document['seq']}" in out

    forged = here / "forged.json"
    forged.write_text(json.dumps({**document, "seq": document["seq"] + 1}))
    altered = live.cli("audit", "verify", "-w", w, "--checkpoint", str(forged))
    assert altered.returncode == 1 and altered.stdout.startswith("INVALID: checkpoint ")
    assert "does not verify" in altered.stdout

    other = live.workspace()
    one_error_line(live.cli("audit", "verify", "-w", other, "--checkpoint", str(saved)), "BAD_USER_INPUT")
    garbage = here / "garbage.json"
    garbage.write_text("{")
    one_error_line(live.cli("audit", "verify", "-w", w, "--checkpoint", str(garbage)), "BAD_USER_INPUT")


def test_a_trail_cut_back_to_an_old_backup_no_longer_reaches_the_checkpoint(
    served: list[ServerProcess], tmp_path: Path
) -> None:
    token = "sr_" + secrets.token_urlsafe(32)
    env = clean_environ(
        STRONGROOM_DATA_DIR=str(tmp_path / "data"),
        STRONGROOM_BOOTSTRAP_TOKEN=token,
        SECRET_ENCRYPTION_KEY=Fernet.generate_key().decode("ascii"),
        STRONGROOM_LOG_LEVEL="warning",
    )
    server = start_healthy(served, tmp_path, env, "first.log")

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return run(args, env=clean_environ(STRONGROOM_URL=server.base_url, STRONGROOM_TOKEN=token), cwd=tmp_path)

    with Strongroom(server.base_url, token) as client:
        client.create_secret("default", "A", "1")
    database = tmp_path / "data" / "strongroom.db"
    backup = tmp_path / "backup.db"
    with sqlite3.connect(database) as source, sqlite3.connect(backup) as copy:
        source.backup(copy)
    with Strongroom(server.base_url, token) as client:
        client.create_secret("default", "B", "2")
        client.create_secret("default", "C", "3")
    saved = tmp_path / "checkpoint.json"
    ok(cli("audit", "checkpoint", "-w", "default", "-o", str(saved)))
    assert server.stop() in (0, -signal.SIGTERM)  # uvicorn re-raises the signal it caught

    # Someone restores the old backup: every event after it is gone, the chain itself is intact.
    for suffix in ("-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(backup, database)
    server = start_healthy(served, tmp_path, env, "second.log")
    ok(cli("audit", "verify", "-w", "default"))  # alone, the trail looks fine
    caught = cli("audit", "verify", "-w", "default", "--checkpoint", str(saved))
    assert caught.returncode == 1, caught
    lines = caught.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith("INVALID: "), lines
