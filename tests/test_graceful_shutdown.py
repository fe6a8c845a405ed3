"""SIGTERM on a real `strongroom serve`: the drain (graphql_api.drain).

What a client was answered before the exit is durable, write and audit event
alike; what arrives after the drain began is refused cleanly (503 or no
connection), never half-done; live subscriptions are closed with 1012;
/readyz fails at once while /healthz stays up; the process exits 0. On SQLite
and on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import json
import random
import secrets
import signal
import sqlite3
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from graphql_api.drain import CLOSE_CODE
from tests import pg
from tests.process import ServerProcess, clean_environ, graphql, start_healthy, start_server

WORKSPACE = "default"
CLIENTS = 32
# Of which these read with a VIEWER token: refused, their ACCESS_DENIED events
# queued without waiting (the batch the shutdown must still commit).
VIEWERS = 4
# Acknowledged operations before SIGTERM is sent (the load is then in full swing).
SIGTERM_AFTER = 240
EXIT_TIMEOUT = 60.0

CREATE = """
mutation($name: String!, $value: String!) {
  createSecret(workspaceId: "default", input: {name: $name, secretType: GENERIC, value: $value}) { id currentVersion }
}
"""
ROTATE = """
mutation($id: ID!, $value: String!) {
  rotateSecret(workspaceId: "default", id: $id, newValue: $value) { id currentVersion }
}
"""
READ = 'query($id: ID!) { secretValue(workspaceId: "default", id: $id) { secretId version value } }'
READ_VERSION = (
    'query($id: ID!, $v: Int!) { secretValue(workspaceId: "default", id: $id, version: $v) { version value } }'
)
VIEWER_PRINCIPAL = """
mutation { createPrincipal(name: "viewer", bindings: [{workspaceId: "default", role: VIEWER}]) { id } }
"""
VIEWER_TOKEN = 'mutation($id: ID!) { createApiToken(principalId: $id, name: "load") { token } }'
INTEGRITY = 'query { auditIntegrity(workspaceId: "default") { valid checkedEvents reason } }'
SUBSCRIBE = 'subscription { auditEvents(workspaceId: "default") { action secretId } }'


@dataclass
class Database:
    dialect: str
    url: str | None  # None: SQLite in the data directory
    data_dir: Path

    def environ(self, **extra: str) -> dict[str, str]:
        env = {"STRONGROOM_DATA_DIR": str(self.data_dir), "STRONGROOM_BOOTSTRAP_TOKEN": TOKEN, **extra}
        if self.url is not None:
            env["DATABASE_URL"] = self.url
        return clean_environ(**env)

    def rows(self, statement: str) -> list[tuple[Any, ...]]:
        if self.url is None:
            connection = sqlite3.connect(self.data_dir / "strongroom.db")
            try:
                return [tuple(row) for row in connection.execute(statement).fetchall()]
            finally:
                connection.close()

        async def fetch() -> list[tuple[Any, ...]]:
            connection = await pg.connect(self.url or "")
            try:
                return [tuple(row) for row in await connection.fetch(statement)]
            finally:
                await connection.close()

        return asyncio.run(fetch())


TOKEN = "sr_" + secrets.token_urlsafe(32)


@pytest.fixture(params=pg.DIALECTS)
def db(request: pytest.FixtureRequest, tmp_path: Path, served: list[ServerProcess]) -> Iterator[Database]:
    if request.param == "sqlite":
        yield Database("sqlite", None, tmp_path / "data")
        return
    asyncio.run(pg.require_postgres())
    name = asyncio.run(pg.create_database("sr_drain"))
    try:
        yield Database("postgres", pg.database_url(name), tmp_path / "data")
    finally:
        for server in served:
            server.kill()
        asyncio.run(pg.drop_database(name))


def _uuid(value: Any) -> str:
    return str(uuid.UUID(str(value)))


async def _wait_exit(server: ServerProcess) -> int:
    code = await asyncio.to_thread(server.process.wait, EXIT_TIMEOUT)
    return int(code)


# ---- the load ------------------------------------------------------------------


class Refused(Exception):
    """The server refused cleanly: 503 while draining, or no connection any more."""


@dataclass
class Ledger:
    """Everything the server acknowledged (answered 200 with data)."""

    writes: dict[tuple[str, int], str] = field(default_factory=dict)  # (secret id, version) -> value
    created: set[str] = field(default_factory=set)
    rotations: Counter[str] = field(default_factory=Counter)
    reads: Counter[str] = field(default_factory=Counter)
    denials: Counter[str] = field(default_factory=Counter)
    refusals: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)
    acknowledged: int = 0


async def _call(
    client: httpx.AsyncClient, query: str, variables: dict[str, Any], refused_with: str | None = None
) -> dict[str, Any]:
    try:
        response = await client.post("/graphql", json={"query": query, "variables": variables})
    except httpx.TransportError as exc:
        raise Refused(type(exc).__name__) from None
    if response.status_code == 503:
        body = response.json()
        assert body["errors"][0]["extensions"]["code"] == "UNAVAILABLE", body
        raise Refused("503")
    assert response.status_code == 200, (response.status_code, response.text)
    body = response.json()
    if refused_with is not None:
        assert [e["extensions"]["code"] for e in body.get("errors") or []] == [refused_with], body
        return {}
    assert not body.get("errors"), body
    data: dict[str, Any] = body["data"]
    return data


async def _viewer(number: int, base_url: str, token: str, ledger: Ledger, threshold: asyncio.Event) -> None:
    """Reads values it may not read until the server refuses it."""
    chance = random.Random(number)
    async with httpx.AsyncClient(base_url=base_url, headers={"authorization": f"Bearer {token}"}) as client:
        while True:
            secret_id = chance.choice(sorted(ledger.created))
            try:
                await _call(client, READ, {"id": secret_id}, refused_with="FORBIDDEN")
            except Refused as refused:
                ledger.refusals[str(refused)] += 1
                return
            ledger.denials[secret_id] += 1
            ledger.acknowledged += 1
            if ledger.acknowledged >= SIGTERM_AFTER:
                threshold.set()


async def _client(number: int, base_url: str, ledger: Ledger, threshold: asyncio.Event) -> None:
    """Creates, rotates and reads its own secrets until the server refuses it."""
    chance = random.Random(number)
    mine: dict[str, tuple[int, str]] = {}  # id -> (current version, value)
    headers = {"authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=30.0) as client:
        n = 0
        while True:
            n += 1
            roll = chance.random()
            try:
                if len(mine) < 2 or roll < 0.2:
                    value = f"c{number}-{n}-{secrets.token_hex(4)}"
                    created = (await _call(client, CREATE, {"name": f"L{number}_{n}", "value": value}))["createSecret"]
                    mine[created["id"]] = (created["currentVersion"], value)
                    ledger.created.add(created["id"])
                    ledger.writes[(created["id"], created["currentVersion"])] = value
                elif roll < 0.5:
                    secret_id = chance.choice(sorted(mine))
                    value = f"r{number}-{n}-{secrets.token_hex(4)}"
                    rotated = (await _call(client, ROTATE, {"id": secret_id, "value": value}))["rotateSecret"]
                    if rotated["currentVersion"] != mine[secret_id][0] + 1:
                        ledger.problems.append(f"rotation of {secret_id} skipped a version: {rotated}")
                    mine[secret_id] = (rotated["currentVersion"], value)
                    ledger.rotations[secret_id] += 1
                    ledger.writes[(secret_id, rotated["currentVersion"])] = value
                else:
                    secret_id = chance.choice(sorted(mine))
                    read = (await _call(client, READ, {"id": secret_id}))["secretValue"]
                    if (read["version"], read["value"]) != mine[secret_id]:
                        ledger.problems.append(f"read of {secret_id} gave version {read['version']}, not the last")
                    ledger.reads[secret_id] += 1
            except Refused as refused:
                ledger.refusals[str(refused)] += 1
                return
            ledger.acknowledged += 1
            if ledger.acknowledged >= SIGTERM_AFTER:
                threshold.set()


def _seed(server: ServerProcess, ledger: Ledger) -> str:
    """A few secrets for the viewers to be refused; returns a VIEWER token."""
    with server.client(TOKEN) as client:
        for n in range(4):
            created = graphql(client, CREATE, {"name": f"SEED_{n}", "value": f"seed-{n}"})["createSecret"]
            ledger.created.add(created["id"])
            ledger.writes[(created["id"], 1)] = f"seed-{n}"
        principal = graphql(client, VIEWER_PRINCIPAL)["createPrincipal"]
        token: str = graphql(client, VIEWER_TOKEN, {"id": principal["id"]})["createApiToken"]["token"]
    return token


async def _load_and_sigterm(server: ServerProcess, ledger: Ledger, viewer_token: str) -> int:
    threshold = asyncio.Event()
    clients = [
        asyncio.ensure_future(
            _viewer(i, server.base_url, viewer_token, ledger, threshold)
            if i < VIEWERS
            else _client(i, server.base_url, ledger, threshold)
        )
        for i in range(CLIENTS)
    ]
    try:
        async with asyncio.timeout(120):
            waiting = asyncio.ensure_future(threshold.wait())
            await asyncio.wait([waiting, *clients], return_when=asyncio.FIRST_COMPLETED)
            assert threshold.is_set(), f"the load ended before SIGTERM: {ledger.problems or ledger.refusals}"
            server.process.send_signal(signal.SIGTERM)
            await asyncio.gather(*clients)
            code = await _wait_exit(server)
    finally:
        for task in clients:
            task.cancel()
    return code


@pytest.mark.slow
def test_sigterm_under_load_loses_no_acknowledged_write_and_no_audit_event(
    db: Database, tmp_path: Path, served: list[ServerProcess]
) -> None:
    env = db.environ()
    server = start_healthy(served, tmp_path, env, "run1.log")
    ledger = Ledger()
    viewer_token = _seed(server, ledger)
    code = asyncio.run(_load_and_sigterm(server, ledger, viewer_token))
    output = server.output()
    assert code == 0, f"exit status {code}; output:\n{output}"
    # Logged without a request id (the signal interrupts some request; the drain is not part of it).
    assert "strongroom.server: draining (received SIGTERM): refusing new requests" in output, output
    assert "Application shutdown complete" in output, output
    assert "Traceback" not in output, output
    assert not ledger.problems, ledger.problems
    assert sum(ledger.refusals.values()) == CLIENTS, ledger.refusals  # every client ended on a clean refusal
    assert ledger.acknowledged >= SIGTERM_AFTER

    # Straight from the database, before anything else touches it.
    versions = {(_uuid(s), int(v)) for s, v in db.rows("SELECT secret_id, version FROM secret_version")}
    secrets_in_db = {_uuid(s) for (s,) in db.rows("SELECT id FROM secret")}
    audit = Counter(
        (_uuid(s), str(a) if ok else f"{a} (refused)")
        for s, a, ok in db.rows(
            "SELECT secret_id, action, success FROM secret_audit WHERE secret_id IS NOT NULL AND workspace_id = 'default'"
        )
    )
    missing = [key for key in ledger.writes if key not in versions]
    assert not missing, f"{len(missing)} acknowledged writes lost, e.g. {missing[:3]}"
    for secret_id in ledger.created:
        assert audit[(secret_id, "CREATED")] == 1, secret_id
    for secret_id, count in ledger.rotations.items():
        assert audit[(secret_id, "ROTATED")] >= count, (secret_id, audit[(secret_id, "ROTATED")], count)
    for secret_id, count in ledger.reads.items():
        assert audit[(secret_id, "ACCESSED")] >= count, (secret_id, audit[(secret_id, "ACCESSED")], count)
    assert ledger.denials, "no refused read was acknowledged"
    for secret_id, count in ledger.denials.items():
        denied = audit[(secret_id, "ACCESS_DENIED (refused)")]
        assert denied >= count, (secret_id, denied, count)
    # Nothing half-written, acknowledged or not: every secret has its creation
    # event, and every version beyond the first its rotation event.
    for secret_id in secrets_in_db:
        count = sum(1 for s, _ in versions if s == secret_id)
        assert audit[(secret_id, "CREATED")] == 1, secret_id
        assert audit[(secret_id, "ROTATED")] == count - 1, (secret_id, count)

    # Restarted: every acknowledged version reads back with its value, and the chain verifies.
    second = start_healthy(served, tmp_path, env, "run2.log")
    with second.client(TOKEN) as client:
        for (secret_id, version), value in sorted(ledger.writes.items()):
            got = graphql(client, READ_VERSION, {"id": secret_id, "v": version})["secretValue"]
            assert (got["version"], got["value"]) == (version, value), secret_id
        integrity = graphql(client, INTEGRITY)["auditIntegrity"]
        assert integrity["valid"] is True, integrity
        assert integrity["checkedEvents"] >= len(ledger.writes) + sum(ledger.reads.values())
    assert second.stop() == 0


# ---- what happens during the drain -----------------------------------------------------


async def _subscribed(server: ServerProcess) -> ClientConnection:
    url = server.base_url.replace("http://", "ws://") + "/graphql"
    socket = await connect(url, subprotocols=["graphql-transport-ws"])  # type: ignore[list-item]
    await socket.send(json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {TOKEN}"}}))
    assert json.loads(await asyncio.wait_for(socket.recv(), 10))["type"] == "connection_ack"
    await socket.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": SUBSCRIBE}}))
    return socket


async def _live(socket: ClientConnection, client: httpx.AsyncClient) -> None:
    """Until the subscription has delivered an event (so it is streaming)."""
    async with asyncio.timeout(15):
        while True:
            name = f"PROBE_{secrets.token_hex(4)}"
            await _call(client, CREATE, {"name": name, "value": "probe"})
            try:
                message = json.loads(await asyncio.wait_for(socket.recv(), 1.0))
            except TimeoutError:
                continue  # subscribed just after that event was committed: another one
            assert message["type"] == "next", message
            return


async def _partial_request(port: int, query: str, variables: dict[str, Any]) -> tuple[Any, Any, bytes]:
    """A POST whose headers and first half of the body are sent; returns (reader, writer, the rest)."""
    body = json.dumps({"query": query, "variables": variables}).encode("utf-8")
    head = (
        "POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {TOKEN}\r\nConnection: close\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode("ascii")
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    half = len(body) // 2
    writer.write(head + body[:half])
    await writer.drain()
    return reader, writer, body[half:]


async def _response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """Status and body of an HTTP/1.1 response read to the end of the connection (b'' if none)."""
    raw = await asyncio.wait_for(reader.read(), EXIT_TIMEOUT)
    if not raw:
        return 0, b""
    head, _, body = raw.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    if b"transfer-encoding: chunked" in head.lower():
        decoded = b""
        while body:
            size_line, _, body = body.partition(b"\r\n")
            size = int(size_line, 16)
            if size == 0:
                break
            decoded, body = decoded + body[:size], body[size + 2 :]
        body = decoded
    return status, body


async def _closed_with(socket: ClientConnection) -> ConnectionClosed:
    """Reads (events still on their way) until the server closes the socket."""
    async with asyncio.timeout(15):
        try:
            while True:
                await socket.recv()
        except ConnectionClosed as closed:
            return closed


async def _drain_scenario(server: ServerProcess) -> dict[str, Any]:
    headers = {"authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(base_url=server.base_url, headers=headers, timeout=30.0) as client:
        subscriber = await _subscribed(server)
        await _live(subscriber, client)
        reader, writer, rest = await _partial_request(server.port, CREATE, {"name": "IN_FLIGHT", "value": "kept"})
        # A full round trip after those bytes were sent: the server has read
        # the headers, so the request is in flight (the app runs on headers).
        assert (await client.get("/healthz")).status_code == 200

        server.process.send_signal(signal.SIGTERM)
        closed = await _closed_with(subscriber)
        assert closed.rcvd is not None, closed
        assert (closed.rcvd.code, closed.rcvd.reason) == (CLOSE_CODE, "server shutting down; reconnect")

        # The drain is open (the request above holds it): not ready, still alive.
        ready = await client.get("/readyz")
        assert ready.status_code == 503, ready.text
        assert ready.json()["status"] == "draining"
        assert ready.json()["inFlight"] == 1, ready.json()
        assert (await client.get("/healthz")).status_code == 200
        async with httpx.AsyncClient(base_url=server.base_url, headers=headers, timeout=30.0) as late:
            refused = await late.post(
                "/graphql", json={"query": CREATE, "variables": {"name": "REFUSED", "value": "x"}}
            )
        assert refused.status_code == 503, refused.text
        assert refused.headers["connection"] == "close"
        assert refused.json()["errors"][0]["extensions"]["code"] == "UNAVAILABLE"
        url = server.base_url.replace("http://", "ws://") + "/graphql"
        async with connect(url, subprotocols=["graphql-transport-ws"]) as latecomer:  # type: ignore[list-item]
            late_close = await _closed_with(latecomer)
        assert late_close.rcvd is not None and late_close.rcvd.code == CLOSE_CODE

        # The request in flight is answered, and only then does the process go.
        writer.write(rest)
        await writer.drain()
        status, body = await _response(reader)
        writer.close()
        assert status == 200, (status, body)
        answer: dict[str, Any] = json.loads(body)
        assert not answer.get("errors"), answer
        assert answer["data"]["createSecret"]["currentVersion"] == 1
    return answer["data"]["createSecret"]


BY_NAME = 'query($n: String!) { secretByName(workspaceId: "default", name: $n) { id currentVersion } }'


def test_drain_answers_the_request_in_flight_refuses_new_work_and_closes_subscriptions(
    db: Database, tmp_path: Path, served: list[ServerProcess]
) -> None:
    env = db.environ(STRONGROOM_SHUTDOWN_GRACE="120")
    server = start_healthy(served, tmp_path, env, "run1.log")
    created = asyncio.run(_drain_scenario(server))
    code = server.process.wait(EXIT_TIMEOUT)
    output = server.output()
    assert code == 0, f"exit status {code}; output:\n{output}"
    assert "Traceback" not in output, output

    audit = db.rows("SELECT secret_id, action FROM secret_audit WHERE action = 'CREATED'")
    assert sum(1 for s, _ in audit if _uuid(s) == _uuid(created["id"])) == 1
    second = start_healthy(served, tmp_path, env, "run2.log")
    with second.client(TOKEN) as client:
        assert graphql(client, READ, {"id": created["id"]})["secretValue"]["value"] == "kept"
        assert graphql(client, BY_NAME, {"n": "REFUSED"})["secretByName"] is None
    assert second.stop() == 0


async def _abandoned_request(server: ServerProcess) -> tuple[int, bytes]:
    reader, writer, _rest = await _partial_request(server.port, CREATE, {"name": "ABANDONED", "value": "never"})
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10.0) as client:
        assert (await client.get("/healthz")).status_code == 200
    server.process.send_signal(signal.SIGTERM)
    answer = await _response(reader)  # the rest of the body never comes
    writer.close()
    return answer


def test_a_request_still_running_when_the_grace_is_over_is_cut_and_leaves_nothing(
    tmp_path: Path, served: list[ServerProcess]
) -> None:
    data = Database("sqlite", None, tmp_path / "data")
    env = data.environ(STRONGROOM_SHUTDOWN_GRACE="1")
    server = start_healthy(served, tmp_path, env, "run1.log")
    status, body = asyncio.run(_abandoned_request(server))
    assert status != 200, body
    assert server.process.wait(EXIT_TIMEOUT) == 0, server.output()
    assert "shutdown grace of 1 s is over: cancelling 1 request(s)" in server.output()
    assert data.rows("SELECT id FROM secret WHERE name = 'ABANDONED'") == []


@pytest.mark.postgres
def test_workers_drain_each_and_the_supervisor_exits_0(tmp_path: Path, served: list[ServerProcess]) -> None:
    asyncio.run(pg.require_postgres())
    name = asyncio.run(pg.create_database("sr_drain_w"))
    try:
        data = Database("postgres", pg.database_url(name), tmp_path / "data")
        server = start_server(
            cwd=tmp_path, env=data.environ(), log_path=tmp_path / "workers.log", extra_args=["--workers", "2"]
        )
        served.append(server)
        server.wait_healthy(timeout=90)  # each worker imports the whole application
        # Both workers serving (one answering /healthz says nothing of the other).
        deadline = time.monotonic() + 90
        while server.output().count("Application startup complete") < 2:
            assert time.monotonic() < deadline and server.process.poll() is None, server.output()
            time.sleep(0.1)
        with server.client(TOKEN) as client:
            created = graphql(client, CREATE, {"name": "WORKERS", "value": "w"})["createSecret"]
            assert client.get("/readyz").status_code == 200
        assert server.stop() == 0, server.output()
        output = server.output()
        assert output.count("draining (received SIGTERM)") == 2, output
        assert output.count("Application shutdown complete") == 2, output
        assert "Traceback" not in output, output
        assert [_uuid(s) for (s,) in data.rows("SELECT id FROM secret WHERE name = 'WORKERS'")] == [
            _uuid(created["id"])
        ]
    finally:
        for server in served:
            server.kill()
        asyncio.run(pg.drop_database(name))
