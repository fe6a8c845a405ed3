"""Key rotation survives a crash: `strongroom serve` is SIGKILLed in the middle
of rotateEncryptionKey and restarted on the same data; calling the mutation
again resumes the job and completes it, without rotating the key a second time.

A real server subprocess (tests/process.py), batches of 5 versions, the job
watched from the test through the database (sqlite3, or asyncpg on
PostgreSQL) so that the kill lands after a chosen, seeded-random number of
rewrapped versions.
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from plugins.builtin.fernet import fernet_key_id
from tests import pg
from tests.process import ServerProcess, clean_environ, graphql, start_healthy

TOKEN = "sr_key-rotation-process-test-token-0123456789abcdef"
BATCH = 5
SECRETS = 200
VERSIONS = 2
PER_REQUEST = 20  # the server allows 30 aliases per document
ROTATE = "mutation { rotateEncryptionKey { backend keyId rewrapped remaining } }"

# (status, rewrapped, target_key_id) of the only job, or None before it exists.
Progress = tuple[str, int, str] | None
JOB_QUERY = "SELECT status, rewrapped, target_key_id FROM key_rotation_job"
VERSIONS_QUERY = (
    "SELECT backend, key_id, count(*) FROM secret_version WHERE ciphertext IS NOT NULL GROUP BY backend, key_id"
)


def value_for(i: int, version: int) -> str:
    return f'process-{i}-v{version} "quoted" \\ 🔐 ünï\r\nline two {(i * 7919 + version) % 100_003}'


# ---- databases, seen from the test -------------------------------------------------------


class Database:
    """Reads the server's database while it runs (and after it died)."""

    def __init__(self, query: Callable[[str], list[tuple[Any, ...]]], close: Callable[[], None]) -> None:
        self.query = query
        self.close = close

    def job(self) -> Progress:
        rows = self.query(JOB_QUERY)
        assert len(rows) <= 1, rows
        if not rows:
            return None
        status, rewrapped, key_id = rows[0]
        return str(status), int(rewrapped), str(key_id)

    def jobs(self) -> int:
        return int(self.query("SELECT count(*) FROM key_rotation_job")[0][0])

    def keys(self) -> dict[tuple[str, str], int]:
        return {(str(b), str(k)): int(n) for b, k, n in self.query(VERSIONS_QUERY)}


@contextmanager
def sqlite_database(path: Path) -> Iterator[Database]:
    connection: sqlite3.Connection | None = None

    def query(sql: str) -> list[tuple[Any, ...]]:
        nonlocal connection
        if connection is None:  # the server creates the file on its first start
            connection = sqlite3.connect(path, timeout=5, isolation_level=None)
        return connection.execute(sql).fetchall()

    def close() -> None:
        if connection is not None:
            connection.close()

    database = Database(query, close)
    try:
        yield database
    finally:
        database.close()


@contextmanager
def postgres_database(url: str) -> Iterator[Database]:
    loop = asyncio.new_event_loop()
    connection = loop.run_until_complete(pg.connect(url))

    def query(sql: str) -> list[tuple[Any, ...]]:
        return [tuple(row) for row in loop.run_until_complete(connection.fetch(sql))]

    def close() -> None:
        loop.run_until_complete(connection.close())

    try:
        yield Database(query, close)
    finally:
        close()
        loop.close()


# ---- the server ---------------------------------------------------------------------------


def create_secrets(client: httpx.Client) -> dict[str, list[str]]:
    """SECRETS secrets with VERSIONS versions, PER_REQUEST per GraphQL document."""
    values: dict[str, list[str]] = {}
    for start_at in range(0, SECRETS, PER_REQUEST):
        numbers = range(start_at, min(start_at + PER_REQUEST, SECRETS))
        declared = ", ".join(f"$v{i}: String!" for i in numbers)
        fields = " ".join(
            f's{i}: createSecret(workspaceId: "default", input: {{name: "PROC_{i}", secretType: GENERIC, value: $v{i}}}) {{ id }}'
            for i in numbers
        )
        data = graphql(client, f"mutation({declared}) {{ {fields} }}", {f"v{i}": value_for(i, 1) for i in numbers})
        for i in numbers:
            values[data[f"s{i}"]["id"]] = [value_for(i, 1)]
    ids = list(values)
    for version in range(2, VERSIONS + 1):
        for start_at in range(0, SECRETS, PER_REQUEST):
            numbers = range(start_at, min(start_at + PER_REQUEST, SECRETS))
            declared = ", ".join(f"$id{i}: ID!, $v{i}: String!" for i in numbers)
            fields = " ".join(
                f'u{i}: updateSecret(workspaceId: "default", id: $id{i}, input: {{value: $v{i}}}) {{ currentVersion }}'
                for i in numbers
            )
            variables: dict[str, Any] = {}
            for i in numbers:
                variables[f"id{i}"], variables[f"v{i}"] = ids[i], value_for(i, version)
            data = graphql(client, f"mutation({declared}) {{ {fields} }}", variables)
            for i in numbers:
                assert data[f"u{i}"]["currentVersion"] == version
                values[ids[i]].append(value_for(i, version))
    return values


def assert_all_values(client: httpx.Client, values: dict[str, list[str]]) -> None:
    """Every version of every secret, by number, reads back exactly."""
    wanted = [(sid, number, value) for sid, expected in values.items() for number, value in enumerate(expected, 1)]
    for start_at in range(0, len(wanted), PER_REQUEST):
        chunk = wanted[start_at : start_at + PER_REQUEST]
        declared = ", ".join(f"$id{k}: ID!, $n{k}: Int" for k in range(len(chunk)))
        fields = " ".join(
            f'r{k}: secretValue(workspaceId: "default", id: $id{k}, version: $n{k}) {{ version value }}'
            for k in range(len(chunk))
        )
        variables: dict[str, Any] = {}
        for k, (sid, number, _value) in enumerate(chunk):
            variables[f"id{k}"], variables[f"n{k}"] = sid, number
        data = graphql(client, f"query({declared}) {{ {fields} }}", variables)
        for k, (sid, number, value) in enumerate(chunk):
            assert data[f"r{k}"] == {"version": number, "value": value}, (sid, number)


def keyring(data_dir: Path) -> list[str]:
    return [
        fernet_key_id(line.strip())
        for line in (data_dir / "fernet.keys").read_text("ascii").splitlines()
        if line.strip()
    ]


class Request(threading.Thread):
    """rotateEncryptionKey in a thread: it answers within 20 s, or never (the server dies)."""

    def __init__(self, server: ServerProcess) -> None:
        super().__init__(name="rotate-encryption-key", daemon=True)
        self.base_url = server.base_url
        self.outcome: Any = None

    def run(self) -> None:
        try:
            with httpx.Client(
                base_url=self.base_url, headers={"authorization": f"Bearer {TOKEN}"}, timeout=60
            ) as client:
                self.outcome = client.post("/graphql", json={"query": ROTATE}).json()
        except httpx.TransportError as exc:
            self.outcome = exc


# ---- the test -----------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("dialect", pg.DIALECTS)
def test_rotation_killed_mid_batch_resumes_after_restart(
    tmp_path: Path, served: list[ServerProcess], dialect: str
) -> None:
    data_dir = tmp_path / "data"
    env = clean_environ(
        STRONGROOM_DATA_DIR=str(data_dir), STRONGROOM_BOOTSTRAP_TOKEN=TOKEN, STRONGROOM_KEY_ROTATION_BATCH=str(BATCH)
    )
    with _database(dialect, env, data_dir) as database:
        total = SECRETS * VERSIONS
        # A kill after a seeded-random number of committed batches, well before the end.
        threshold = random.Random(f"key-rotation-kill-{dialect}").randrange(1, total // BATCH // 2) * BATCH

        first = start_healthy(served, tmp_path, env, "run1.log")
        with first.client(TOKEN) as client:
            values = create_secrets(client)
        old_key = keyring(data_dir)[0]
        assert database.keys() == {("fernet", old_key): total}

        request = Request(first)
        request.start()
        deadline = time.monotonic() + 30
        seen: Progress = None
        while seen is None or seen[1] < threshold:
            assert time.monotonic() < deadline, f"the rotation did not reach {threshold} rewrapped versions: {seen}"
            assert request.outcome is None, f"rotateEncryptionKey answered before the kill: {request.outcome}"
            time.sleep(0.002)
            seen = database.job()
        first.process.kill()  # SIGKILL: no shutdown, the batch under way is lost
        first.kill()
        request.join(timeout=30)
        assert isinstance(request.outcome, httpx.TransportError), request.outcome

        killed = database.job()
        assert killed is not None
        status, rewrapped, key_id = killed
        print(f"\n{dialect}: killed at {rewrapped}/{total} rewrapped versions (threshold {threshold}, batch {BATCH})")
        assert status == "RUNNING" and threshold <= rewrapped < total, killed
        assert keyring(data_dir) == [key_id, old_key]
        assert database.keys() == {("fernet", key_id): rewrapped, ("fernet", old_key): total - rewrapped}

        second = start_healthy(served, tmp_path, env, "run2.log")
        with second.client(TOKEN) as client:
            deadline = time.monotonic() + 60
            while True:
                result = graphql(client, ROTATE)["rotateEncryptionKey"]
                if result["remaining"] == 0:
                    break
                assert time.monotonic() < deadline, result
            assert result == {"backend": "fernet", "keyId": key_id, "rewrapped": total, "remaining": 0}
            assert database.job() == ("COMPLETED", total, key_id)
            assert database.jobs() == 1
            assert keyring(data_dir) == [key_id, old_key], "the key was rotated once"
            assert database.keys() == {("fernet", key_id): total}
            assert_all_values(client, values)
        code = second.stop()
        assert code in (0, -15), second.output()
        assert "Traceback" not in second.output(), second.output()


@contextmanager
def _database(dialect: str, env: dict[str, str], data_dir: Path) -> Iterator[Database]:
    """The database the servers use (set in `env`), readable from the test."""
    if dialect == "sqlite":
        with sqlite_database(data_dir / "strongroom.db") as database:
            yield database
        return
    asyncio.run(pg.require_postgres())
    name = asyncio.run(pg.create_database("sr_rot"))
    url = pg.database_url(name)
    env["DATABASE_URL"] = url
    try:
        with postgres_database(url) as database:
            yield database
    finally:
        asyncio.run(pg.drop_database(name))
