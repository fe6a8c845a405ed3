"""Two server processes on one PostgreSQL: an event committed through one
reaches a graphql-transport-ws subscriber of the other, in commit order."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests import pg
from tests.process import ServerProcess, clean_environ, graphql, start_server

TOKEN = "sr_replica-test-token-0123456789abcdefghijkl"
SUBSCRIBE = """subscription { auditEvents(workspaceId: "default") { action secretId seq } }"""

pytestmark = pytest.mark.postgres


@pytest.fixture
def replicas(tmp_path: Path) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    asyncio.run(pg.require_postgres())
    name = asyncio.run(pg.create_database("sr_replicas"))
    env = clean_environ(
        STRONGROOM_DATA_DIR=str(tmp_path / "data"),
        DATABASE_URL=pg.database_url(name),
        STRONGROOM_BOOTSTRAP_TOKEN=TOKEN,
        SECRET_ENCRYPTION_KEY="Q2DprzUCeh7ok2yOr8i8y7Tt0QAPGt9zQiLlh8PDxv4=",
    )
    started: list[ServerProcess] = []
    try:
        # Started together: they race for the migration lock and the bootstrap.
        for index in range(2):
            started.append(start_server(cwd=tmp_path, env=env, log_path=tmp_path / f"replica{index}.log"))
        for server in started:
            server.wait_healthy()
        yield started[0], started[1]
    finally:
        for server in started:
            server.kill()
        asyncio.run(pg.drop_database(name))


def test_event_written_through_one_replica_reaches_a_subscriber_of_the_other(
    replicas: tuple[ServerProcess, ServerProcess],
) -> None:
    reader, writer = replicas
    received: list[dict[str, Any]] = []
    subscribed = threading.Event()
    errors: list[BaseException] = []

    def listen() -> None:
        try:
            url = reader.base_url.replace("http://", "ws://") + "/graphql"
            with connect(url, subprotocols=["graphql-transport-ws"], open_timeout=10) as socket:  # type: ignore[list-item]
                socket.send(json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {TOKEN}"}}))
                assert json.loads(socket.recv(timeout=10))["type"] == "connection_ack"
                socket.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": SUBSCRIBE}}))
                subscribed.set()
                while len(received) < 3:
                    message = json.loads(socket.recv(timeout=15))
                    assert message["type"] == "next", message
                    received.append(message["payload"]["data"]["auditEvents"])
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
            subscribed.set()

    thread = threading.Thread(target=listen, daemon=True)
    thread.start()
    assert subscribed.wait(15)
    with writer.client(TOKEN) as client:
        # The subscription registers just after `subscribe` is sent: write until
        # the first event arrives, then two more that must follow in order.
        secret_ids: list[str] = []
        for attempt in range(50):
            created = graphql(
                client,
                'mutation($n: String!) { createSecret(workspaceId: "default", input: {name: $n, secretType: GENERIC, value: "v"}) { id } }',
                {"n": f"R_{attempt}"},
            )
            secret_ids.append(created["createSecret"]["id"])
            thread.join(0.2)
            if received or errors:
                break
        sid = secret_ids[-1]
        graphql(
            client,
            'mutation($id: ID!) { rotateSecret(workspaceId: "default", id: $id, newValue: "w") { id } }',
            {"id": sid},
        )
        graphql(client, 'query($id: ID!) { secretValue(workspaceId: "default", id: $id) { version } }', {"id": sid})
    thread.join(20)
    assert not errors, errors
    tail = received[-2:]
    assert [e["action"] for e in tail] == ["ROTATED", "ACCESSED"]
    assert all(e["secretId"] == sid for e in tail)
    seqs = [e["seq"] for e in received]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)


def test_subscription_refuses_a_bad_token(replicas: tuple[ServerProcess, ServerProcess]) -> None:
    reader, _ = replicas
    url = reader.base_url.replace("http://", "ws://") + "/graphql"
    with connect(url, subprotocols=["graphql-transport-ws"], open_timeout=10) as socket:  # type: ignore[list-item]
        socket.send(json.dumps({"type": "connection_init", "payload": {"authorization": "Bearer sr_wrong"}}))
        # graphql-ws PROTOCOL.md: a rejected connection_init closes with 4403, no acknowledgement.
        with pytest.raises(ConnectionClosed) as closed:
            socket.recv(timeout=10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403
