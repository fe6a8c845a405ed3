"""Two `strongroom serve` processes on one PostgreSQL: authority changed
through replica A ends what replica B is serving, within a second."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection

from tests import pg
from tests.process import ServerProcess, clean_environ, start_server
from tests.security.conftest import close_code, codes, ws_open, ws_recv, ws_request

TOKEN = "sr_security-replica-token-0123456789abcdefgh"
EVENTS = "subscription($w: ID!, $s: ID) { auditEvents(workspaceId: $w, secretId: $s) { action secretId seq } }"
VALUE = 'query($id: ID!) { secretValue(workspaceId: "default", id: $id) { value } }'
DEADLINE = 1.0

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


@pytest.fixture(scope="module")
def replicas(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    asyncio.run(pg.require_postgres())
    tmp_path = tmp_path_factory.mktemp("replicas")
    name = asyncio.run(pg.create_database("sr_sec_replicas"))
    env = clean_environ(
        STRONGROOM_DATA_DIR=str(tmp_path / "data"),
        DATABASE_URL=pg.database_url(name),
        STRONGROOM_BOOTSTRAP_TOKEN=TOKEN,
        SECRET_ENCRYPTION_KEY="Q2DprzUCeh7ok2yOr8i8y7Tt0QAPGt9zQiLlh8PDxv4=",
    )
    started: list[ServerProcess] = []
    try:
        for index in range(2):
            started.append(start_server(cwd=tmp_path, env=env, log_path=tmp_path / f"replica{index}.log"))
        for server in started:
            server.wait_healthy()
        yield started[0], started[1]
    finally:
        for server in started:
            server.kill()
        asyncio.run(pg.drop_database(name))


async def gql(client: httpx.AsyncClient, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    response = await client.post("/graphql", json={"query": query, "variables": variables or {}})
    body: dict[str, Any] = response.json()
    assert response.status_code == 200 and not body.get("errors"), body
    data: dict[str, Any] = body["data"]
    return data


async def auditor(client: httpx.AsyncClient, name: str) -> tuple[str, str, str]:
    created = await gql(
        client,
        'mutation($n: String!) { createPrincipal(name: $n, bindings: [{workspaceId: "default", role: AUDITOR}]) { id } }',
        {"n": name},
    )
    pid = created["createPrincipal"]["id"]
    made = await gql(
        client, 'mutation($p: ID!) { createApiToken(principalId: $p, name: "t") { token apiToken { id } } }', {"p": pid}
    )
    return pid, made["createApiToken"]["token"], made["createApiToken"]["apiToken"]["id"]


async def subscribed(url: str, token: str, secret_id: str | None) -> ClientConnection:
    socket_ = await ws_open(url, token)
    payload = {"query": EVENTS, "variables": {"w": "default", "s": secret_id}}
    await socket_.send(json.dumps({"id": "s", "type": "subscribe", "payload": payload}))
    return socket_


async def wait_live(client: httpx.AsyncClient, sockets: list[ClientConnection], secret_id: str) -> None:
    waiting = set(range(len(sockets)))
    for _ in range(60):
        await gql(client, VALUE, {"id": secret_id})
        for index in sorted(waiting):
            try:
                message = await ws_recv(sockets[index], 0.1)
            except TimeoutError:
                continue
            assert message["type"] == "next", message
            waiting.discard(index)
        if not waiting:
            return
    raise AssertionError("subscriptions on replica B never went live")


async def ended(socket_: ClientConnection, change: str) -> tuple[list[str], float]:
    """The codes the stream ended with, and when; it must not have been sent
    the event of the `change` that ended it (committed with the change)."""
    loop = asyncio.get_running_loop()
    async with asyncio.timeout(5):
        while True:
            message = await ws_recv(socket_, 5)
            if message.get("id") == "s" and message["type"] == "next":
                assert message["payload"]["data"]["auditEvents"]["action"] != change, message
            if message.get("id") == "s" and message["type"] in ("error", "complete"):
                assert message["type"] == "error", message
                return [e["extensions"]["code"] for e in message["payload"]], loop.time()


@pytest.mark.asyncio
async def test_revocations_through_one_replica_end_streams_on_the_other(
    replicas: tuple[ServerProcess, ServerProcess],
) -> None:
    a, b = replicas
    b_url = b.base_url.replace("http://", "ws://") + "/graphql"
    async with httpx.AsyncClient(
        base_url=a.base_url, headers={"authorization": f"Bearer {TOKEN}"}, timeout=10
    ) as client:
        created = await gql(
            client,
            'mutation { createSecret(workspaceId: "default", input: {name: "REPLICATED", secretType: GENERIC, value: "v"}) { id } }',
        )
        sid = created["createSecret"]["id"]
        _, revoked_token, revoked_id = await auditor(client, "replica-revoked")
        role_pid, role_token, _ = await auditor(client, "replica-role")
        token_streams = [await subscribed(b_url, revoked_token, None), await subscribed(b_url, revoked_token, sid)]
        role_streams = [await subscribed(b_url, role_token, None), await subscribed(b_url, role_token, sid)]
        plain = await ws_open(b_url, revoked_token)
        sockets = [*token_streams, *role_streams, plain]
        try:
            await wait_live(client, token_streams + role_streams, sid)
            before = await ws_request(
                plain, "q1", '{ workspaceAudit(workspaceId: "default", first: 1) { totalCount } }'
            )
            assert not before.get("errors"), before

            await gql(client, "mutation($t: ID!) { revokeApiToken(id: $t) { revoked } }", {"t": revoked_id})
            revoked_at = asyncio.get_running_loop().time()
            for (found, arrived), kind in zip(
                await asyncio.gather(*(ended(s, "TOKEN_REVOKED") for s in token_streams)),
                ("workspace", "secret"),
                strict=True,
            ):
                assert found == ["UNAUTHENTICATED"], kind
                assert arrived - revoked_at < DEADLINE, (
                    f"{kind} stream on B ended {arrived - revoked_at:.3f} s after revocation on A"
                )
            after = await ws_request(plain, "q2", '{ workspaceAudit(workspaceId: "default", first: 1) { totalCount } }')
            assert codes(after) == ["UNAUTHENTICATED"], after
            assert (await close_code(plain))[0] == 4403

            await gql(
                client,
                'mutation($p: ID!) { revokeRole(principalId: $p, workspaceId: "default") { id } }',
                {"p": role_pid},
            )
            removed_at = asyncio.get_running_loop().time()
            for (found, arrived), kind in zip(
                await asyncio.gather(*(ended(s, "ROLE_REVOKED") for s in role_streams)),
                ("workspace", "secret"),
                strict=True,
            ):
                assert found == ["FORBIDDEN"], kind
                assert arrived - removed_at < DEADLINE, (
                    f"{kind} stream on B ended {arrived - removed_at:.3f} s after role removal on A"
                )
        finally:
            for socket_ in sockets:
                await socket_.close()


def test_logs_hold_no_traceback(replicas: tuple[ServerProcess, ServerProcess]) -> None:
    for server in replicas:
        assert "Traceback" not in server.output(), server.output()[-3000:]
