"""Fixtures and helpers for the security tests.

- `clock` is overridden with a clock that follows real time (plus whatever
  `advance` adds): live subscriptions end on timers of the event loop, which
  a frozen clock would never let expire.
- `ws_url`: the `server` fixture's app served by uvicorn inside the test's
  own event loop (lifespan already running), so a real websocket client
  talks to the same services and database the test inspects.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractContextManager, asynccontextmanager, nullcontext
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import pytest_asyncio
import uvicorn
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from graphql_api.app import create_app
from graphql_api.settings import Settings
from tests.clock import MutableClock
from tests.harness import ADMIN_TOKEN, Server


class LiveClock(MutableClock):
    """Real time, shifted by what `advance` added."""

    def __init__(self) -> None:
        super().__init__()
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, **delta: float) -> datetime:
        self.offset += timedelta(**delta)
        return self()


@pytest.fixture
def clock() -> MutableClock:
    return LiveClock()


# ---- GraphQL helpers ------------------------------------------------------------


def codes(body: Mapping[str, Any]) -> list[str]:
    return [(e.get("extensions") or {}).get("code", "") for e in body.get("errors") or []]


async def ok(server: Server, query: str, variables: Mapping[str, Any] | None = None, **kwargs: Any) -> dict[str, Any]:
    body = await server.execute(query, variables, **kwargs)
    assert not body.get("errors"), body
    data: dict[str, Any] = body["data"]
    return data


async def create_workspace(server: Server, workspace_id: str) -> None:
    await ok(server, "mutation($id: ID!) { createWorkspace(id: $id) { id } }", {"id": workspace_id})


async def create_secret(server: Server, workspace: str, name: str, value: str = "v", token: str = ADMIN_TOKEN) -> str:
    data = await ok(
        server,
        "mutation($w: ID!, $n: String!, $v: String!) { createSecret(workspaceId: $w,"
        " input: {name: $n, secretType: API_KEY, value: $v}) { id } }",
        {"w": workspace, "n": name, "v": value},
        token=token,
    )
    return str(data["createSecret"]["id"])


async def create_principal(
    server: Server, name: str, bindings: Mapping[str, str], *, token: str = ADMIN_TOKEN
) -> tuple[str, str]:
    """(principal id, its qualified name)."""
    data = await ok(
        server,
        "mutation($n: String!, $b: [RoleBindingInput!]!) { createPrincipal(name: $n, bindings: $b) { id name } }",
        {"n": name, "b": [{"workspaceId": w, "role": r} for w, r in bindings.items()]},
        token=token,
    )
    return str(data["createPrincipal"]["id"]), str(data["createPrincipal"]["name"])


CREATE_TOKEN = """mutation($p: ID!, $n: String!, $e: DateTime) { createApiToken(principalId: $p, name: $n, expiresAt: $e) {
  token apiToken { id expiresAt } } }"""


async def create_token(
    server: Server, principal_id: str, *, token: str = ADMIN_TOKEN, expires_at: str | None = None, name: str = "t"
) -> tuple[str, str, str | None]:
    """(token, token id, expiresAt)."""
    data = await ok(server, CREATE_TOKEN, {"p": principal_id, "n": name, "e": expires_at}, token=token)
    created = data["createApiToken"]
    return str(created["token"]), str(created["apiToken"]["id"]), created["apiToken"]["expiresAt"]


async def principal_with_token(
    server: Server, name: str, bindings: Mapping[str, str], **kwargs: Any
) -> tuple[str, str, str]:
    """(principal id, token, token id) of a new principal."""
    principal_id, _ = await create_principal(server, name, bindings)
    token, token_id, _ = await create_token(server, principal_id, **kwargs)
    return principal_id, token, token_id


async def revoke_token(server: Server, token_id: str, token: str = ADMIN_TOKEN) -> None:
    await ok(server, "mutation($t: ID!) { revokeApiToken(id: $t) { revoked } }", {"t": token_id}, token=token)


async def revoke_role(server: Server, principal_id: str, workspace: str) -> None:
    await ok(
        server,
        "mutation($p: ID!, $w: ID!) { revokeRole(principalId: $p, workspaceId: $w) { id } }",
        {"p": principal_id, "w": workspace},
    )


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


# ---- websockets -----------------------------------------------------------------

TRANSPORT_WS = [Subprotocol("graphql-transport-ws")]


class _InLoopServer(uvicorn.Server):
    """uvicorn inside the test's loop: pytest keeps its own signal handlers."""

    def capture_signals(self) -> AbstractContextManager[None]:  # type: ignore[override]
        return nullcontext()


@pytest_asyncio.fixture
async def ws_url(server: Server) -> AsyncIterator[str]:
    """ws:// URL of the `server` fixture's app, served in this event loop."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        server.app,
        lifespan="off",
        ws="websockets-sansio",
        http="h11",
        log_level="warning",
        access_log=False,
        # The app alone decides which forwarding headers to believe (uvicorn's
        # default would rewrite the peer from X-Forwarded-For sent from loopback).
        proxy_headers=False,
    )
    runner = _InLoopServer(config)
    task = asyncio.create_task(runner.serve(sockets=[sock]))
    for _ in range(500):
        if runner.started:
            break
        await asyncio.sleep(0.01)
    assert runner.started, "uvicorn did not start"
    try:
        yield f"ws://127.0.0.1:{port}/graphql"
    finally:
        runner.should_exit = True
        runner.force_exit = True
        await asyncio.wait_for(task, 10)
        sock.close()


async def ws_open(
    url: str, token: str | None = ADMIN_TOKEN, subprotocol: str = "graphql-transport-ws"
) -> ClientConnection:
    """An acknowledged graphql-transport-ws connection."""
    socket_ = await connect(url, subprotocols=[Subprotocol(subprotocol)], open_timeout=10)
    await socket_.send(json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}))
    ack = json.loads(await asyncio.wait_for(socket_.recv(), 10))
    assert ack == {"type": "connection_ack"}, ack
    return socket_


async def ws_recv(socket_: ClientConnection, timeout: float = 10) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(await asyncio.wait_for(socket_.recv(), timeout))
    return message


async def ws_request(
    socket_: ClientConnection, operation_id: str, query: str, variables: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Run one query/mutation; returns its `next` payload or its `error` message."""
    await socket_.send(
        json.dumps(
            {"id": operation_id, "type": "subscribe", "payload": {"query": query, "variables": dict(variables or {})}}
        )
    )
    first = await ws_recv(socket_)
    assert first.get("id") == operation_id, first
    if first["type"] == "error":
        return first
    assert first["type"] == "next", first
    done = await ws_recv(socket_)
    assert done == {"id": operation_id, "type": "complete"}, done
    payload: dict[str, Any] = first["payload"]
    return payload


async def close_code(socket_: ClientConnection, timeout: float = 5) -> tuple[int | None, str]:
    """Wait for the server to close; (code, reason). Messages before it are skipped."""
    try:
        async with asyncio.timeout(timeout):
            while True:
                await socket_.recv()
    except ConnectionClosed as closed:
        if closed.rcvd is None:
            return None, ""
        return closed.rcvd.code, closed.rcvd.reason
    return None, ""


# ---- servers with settings of a test's own ---------------------------------------


@asynccontextmanager
async def running(settings: Settings, now: MutableClock) -> AsyncIterator[Server]:
    """The app on `settings`, in-process, like the `server` fixture."""
    app = create_app(settings, now=now, migrate_on_start=False, announce=lambda _message: None)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://strongroom.test") as client:
            yield Server(app=app, client=client, services=app.state.services)
