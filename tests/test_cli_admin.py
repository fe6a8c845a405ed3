"""Operator commands against a real server: keys rotate, keys health, and
rotation run-once on the server's database."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.process import ServerProcess, clean_environ, graphql, run_strongroom, start_server

TOKEN = "sr_cli-admin-token-0123456789abcdefghijklmnop"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[ServerProcess, dict[str, str]]]:
    env = clean_environ(STRONGROOM_DATA_DIR=str(tmp_path / "data"), STRONGROOM_BOOTSTRAP_TOKEN=TOKEN)
    server = start_server(cwd=tmp_path, env=env, log_path=tmp_path / "server.log")
    try:
        server.wait_healthy()
        yield server, {**env, "STRONGROOM_URL": server.base_url, "STRONGROOM_TOKEN": TOKEN}
    finally:
        server.kill()


def test_keys_rotate_follows_the_job_to_the_end(served: tuple[ServerProcess, dict[str, str]], tmp_path: Path) -> None:
    server, env = served
    with server.client(TOKEN) as client:
        for i in range(12):
            graphql(
                client,
                'mutation($n: String!) { createSecret(workspaceId: "default", input: {name: $n, secretType: GENERIC, value: "v"}) { id } }',
                {"n": f"K{i}"},
            )
    result = run_strongroom(["keys", "rotate"], cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    assert "12/12" in result.stdout and "done: every data key is under fernet key fernet-" in result.stdout
    with sqlite3.connect(tmp_path / "data" / "strongroom.db") as db:
        key_ids = {row[0] for row in db.execute("SELECT key_id FROM secret_version")}
    assert len(key_ids) == 1 and next(iter(key_ids)) in result.stdout

    health = run_strongroom(["keys", "health"], cwd=tmp_path, env=env)
    assert health.returncode == 0, health.stderr
    assert health.stdout.startswith("* fernet") and "healthy" in health.stdout


def test_keys_commands_need_a_superadmin(served: tuple[ServerProcess, dict[str, str]], tmp_path: Path) -> None:
    _, env = served
    result = run_strongroom(["keys", "health"], cwd=tmp_path, env={**env, "STRONGROOM_TOKEN": "sr_not-a-token"})
    assert result.returncode == 1 and "UNAUTHENTICATED" in result.stderr and "Traceback" not in result.stderr


def test_rotation_run_once_notifies_what_is_due(served: tuple[ServerProcess, dict[str, str]], tmp_path: Path) -> None:
    server, env = served
    with server.client(TOKEN) as client:
        graphql(
            client,
            'mutation { createSecret(workspaceId: "default", input: {name: "OLD_KEY", secretType: API_KEY, value: "v", rotationPolicy: AUTO_30_DAYS}) { id } }',
        )
        graphql(
            client,
            'mutation { createSecret(workspaceId: "default", input: {name: "OLD_JWT", secretType: JWT_SECRET, value: "v", rotationPolicy: AUTO_30_DAYS}) { id } }',
        )
    with sqlite3.connect(tmp_path / "data" / "strongroom.db") as db:
        db.execute("UPDATE secret SET rotation_due_at = '2000-01-01 00:00:00+00:00'")
    cron_env = {k: v for k, v in env.items() if k not in ("STRONGROOM_URL", "STRONGROOM_TOKEN")}
    first = run_strongroom(["rotation", "run-once"], cwd=tmp_path, env=cron_env)
    assert first.returncode == 0, first.stderr
    assert "rotated 1, failed 0, due notices 1" in first.stdout
    second = run_strongroom(["rotation", "run-once"], cwd=tmp_path, env=cron_env)
    assert "rotated 0, failed 0, due notices 0" in second.stdout
    with server.client(TOKEN) as client:
        jwt = graphql(client, '{ secretByName(workspaceId: "default", name: "OLD_JWT") { currentVersion } }')
        events = graphql(client, '{ workspaceAudit(workspaceId: "default", action: ROTATION_DUE) { totalCount } }')
    assert jwt["secretByName"]["currentVersion"] == 2
    assert events["workspaceAudit"]["totalCount"] == 1
