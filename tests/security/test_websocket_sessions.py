"""A connection is not a session (graphql-transport-ws), on SQLite and PostgreSQL.

Every operation on an open socket re-establishes its authority; a live
`auditEvents` subscription ends within a second of the authority behind it
ending (token revoked, token expired, role removed); and the protocol's
handshake errors close with the codes graphql-ws's PROTOCOL.md names.
"""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from tests.harness import ADMIN_TOKEN, Server
from tests.security.conftest import (
    TRANSPORT_WS,
    close_code,
    codes,
    create_principal,
    create_secret,
    create_token,
    iso,
    ok,
    principal_with_token,
    revoke_role,
    revoke_token,
    ws_open,
    ws_recv,
    ws_request,
)

pytestmark = pytest.mark.asyncio

SECRET = 'query($id: ID!) { secret(workspaceId: "default", id: $id) { currentVersion versions { version } } }'
VALUE = 'query($id: ID!) { secretValue(workspaceId: "default", id: $id) { version value } }'
ROTATE = (
    'mutation($id: ID!, $v: String!) { rotateSecret(workspaceId: "default", id: $id, newValue: $v) { currentVersion } }'
)
EVENTS = "subscription($w: ID!, $s: ID) { auditEvents(workspaceId: $w, secretId: $s) { action secretId seq } }"
# Ends within this long of the authority ending (the guarantee).
DEADLINE = 1.0


def op_codes(result: dict[str, Any]) -> list[str]:
    """Codes of a ws_request result: a `next` payload, or an `error` message."""
    if result.get("type") == "error":
        return [(e.get("extensions") or {}).get("code", "") for e in result["payload"]]
    return codes(result)


# ---- a second operation sees the world as it is now ------------------------------


async def test_second_query_on_one_socket_sees_fresh_data(server: Server, ws_url: str) -> None:
    sid = await create_secret(server, "default", "FRESH", "first-value")
    _, token, _ = await principal_with_token(server, "fresh-reader", {"default": "READER"})
    socket_ = await ws_open(ws_url, token)
    try:
        before = await ws_request(socket_, "1", SECRET, {"id": sid})
        value_before = await ws_request(socket_, "2", VALUE, {"id": sid})
        assert before["data"]["secret"] == {"currentVersion": 1, "versions": [{"version": 1}]}
        assert value_before["data"]["secretValue"] == {"version": 1, "value": "first-value"}
        await ok(server, ROTATE, {"id": sid, "v": "second-value"})
        after = await ws_request(socket_, "3", SECRET, {"id": sid})
        value_after = await ws_request(socket_, "4", VALUE, {"id": sid})
        assert after["data"]["secret"] == {"currentVersion": 2, "versions": [{"version": 1}, {"version": 2}]}
        assert value_after["data"]["secretValue"] == {"version": 2, "value": "second-value"}
    finally:
        await socket_.close()


async def test_revoked_token_fails_the_next_operation_and_closes_4403(server: Server, ws_url: str) -> None:
    sid = await create_secret(server, "default", "REVOKED_WS", "v1")
    _, token, token_id = await principal_with_token(server, "ws-revoked", {"default": "READER"})
    socket_ = await ws_open(ws_url, token)
    try:
        assert (await ws_request(socket_, "1", VALUE, {"id": sid}))["data"]["secretValue"]["value"] == "v1"
        await revoke_token(server, token_id)
        refused = await ws_request(socket_, "2", VALUE, {"id": sid})
        assert op_codes(refused) == ["UNAUTHENTICATED"], refused
        assert "v1" not in json.dumps(refused)
        code, _reason = await close_code(socket_)
        assert code == 4403
    finally:
        await socket_.close()


async def test_removed_role_makes_the_next_operation_forbidden(server: Server, ws_url: str) -> None:
    sid = await create_secret(server, "default", "ROLE_WS", "v1")
    principal_id, token, _ = await principal_with_token(server, "ws-role", {"default": "READER"})
    socket_ = await ws_open(ws_url, token)
    try:
        assert (await ws_request(socket_, "1", VALUE, {"id": sid}))["data"]["secretValue"]["value"] == "v1"
        assert (await ws_request(socket_, "2", SECRET, {"id": sid}))["data"]["secret"]["currentVersion"] == 1
        await revoke_role(server, principal_id, "default")
        refused = await ws_request(socket_, "3", VALUE, {"id": sid})
        assert op_codes(refused) == ["FORBIDDEN"], refused
        assert "v1" not in json.dumps(refused)
        listing = await ws_request(socket_, "4", SECRET, {"id": sid})
        assert op_codes(listing) == ["FORBIDDEN"], listing
    finally:
        await socket_.close()


# ---- live subscriptions end with their authority ---------------------------------


async def live_subscriptions(server: Server, ws_url: str, token: str, secret_id: str) -> list[ClientConnection]:
    """Two sockets whose operation "s" is a live auditEvents stream: of the
    whole workspace, and of one secret. Both have delivered an event."""
    sockets = [await ws_open(ws_url, token), await ws_open(ws_url, token)]
    for socket_, by_secret in zip(sockets, (False, True), strict=True):
        variables = {"w": "default", "s": secret_id if by_secret else None}
        await socket_.send(
            json.dumps({"id": "s", "type": "subscribe", "payload": {"query": EVENTS, "variables": variables}})
        )
    waiting = set(range(len(sockets)))
    for _ in range(50):
        await ok(server, VALUE, {"id": secret_id})  # an ACCESSED event on that secret
        for index in sorted(waiting):
            try:
                message = await ws_recv(sockets[index], 0.1)
            except TimeoutError:
                continue
            assert message["type"] == "next" and message["id"] == "s", message
            assert message["payload"]["data"]["auditEvents"]["secretId"] == secret_id
            waiting.discard(index)
        if not waiting:
            return sockets
    raise AssertionError("a subscription never delivered an event")


async def end_of_stream(socket_: ClientConnection, timeout: float = 5.0) -> tuple[dict[str, Any], float]:
    """The `error` (or `complete`) that ends operation "s", and the loop time it arrived."""
    loop = asyncio.get_running_loop()
    async with asyncio.timeout(timeout):
        while True:
            message = await ws_recv(socket_, timeout)
            if message.get("id") == "s" and message["type"] in ("error", "complete"):
                return message, loop.time()
            assert message["type"] == "next", message


async def ends(sockets: list[ClientConnection]) -> list[tuple[dict[str, Any], float]]:
    return list(await asyncio.gather(*(end_of_stream(s) for s in sockets)))


def error_code(message: dict[str, Any]) -> list[str]:
    assert message["type"] == "error", message  # an error, not a quiet `complete`
    return [e["extensions"]["code"] for e in message["payload"]]


async def close_all(sockets: list[ClientConnection]) -> None:
    for socket_ in sockets:
        await socket_.close()


async def test_subscriptions_end_within_a_second_of_their_token_being_revoked(server: Server, ws_url: str) -> None:
    sid = await create_secret(server, "default", "SUB_REVOKE")
    _, token, token_id = await principal_with_token(server, "sub-revoke", {"default": "AUDITOR"})
    sockets = await live_subscriptions(server, ws_url, token, sid)
    try:
        await revoke_token(server, token_id)
        revoked_at = asyncio.get_running_loop().time()
        for (message, arrived), kind in zip(await ends(sockets), ("workspace", "secret"), strict=True):
            assert error_code(message) == ["UNAUTHENTICATED"], kind
            assert arrived - revoked_at < DEADLINE, (
                f"{kind} stream ended {arrived - revoked_at:.3f} s after the revocation"
            )
        for socket_ in sockets:
            assert (await close_code(socket_))[0] == 4403
    finally:
        await close_all(sockets)


async def test_subscriptions_end_within_a_second_of_their_token_expiring(server: Server, ws_url: str) -> None:
    sid = await create_secret(server, "default", "SUB_EXPIRE")
    principal_id, _ = await create_principal(server, "sub-expire", {"default": "AUDITOR"})
    expires = server.services.now() + timedelta(seconds=3)
    token, _, _ = await create_token(server, principal_id, expires_at=iso(expires))
    sockets = await live_subscriptions(server, ws_url, token, sid)
    try:
        remaining = (expires - server.services.now()).total_seconds()
        assert remaining > 0.3, "the subscriptions took too long to start for this test"
        expiry_loop_time = asyncio.get_running_loop().time() + remaining
        for (message, arrived), kind in zip(await ends(sockets), ("workspace", "secret"), strict=True):
            assert error_code(message) == ["UNAUTHENTICATED"], kind
            assert arrived > expiry_loop_time - 0.1, f"the {kind} stream ended before its token expired"
            assert arrived - expiry_loop_time < DEADLINE, (
                f"{kind} stream ended {arrived - expiry_loop_time:.3f} s after expiry"
            )
        for socket_ in sockets:
            assert (await close_code(socket_))[0] == 4403
    finally:
        await close_all(sockets)


async def test_subscriptions_end_within_a_second_of_their_role_being_removed(server: Server, ws_url: str) -> None:
    sid = await create_secret(server, "default", "SUB_ROLE")
    principal_id, token, _ = await principal_with_token(server, "sub-role", {"default": "AUDITOR"})
    sockets = await live_subscriptions(server, ws_url, token, sid)
    try:
        await revoke_role(server, principal_id, "default")
        removed_at = asyncio.get_running_loop().time()
        for (message, arrived), kind in zip(await ends(sockets), ("workspace", "secret"), strict=True):
            assert error_code(message) == ["FORBIDDEN"], kind
            assert arrived - removed_at < DEADLINE, (
                f"{kind} stream ended {arrived - removed_at:.3f} s after the role was removed"
            )
        # The token is still valid: the socket stays, and refuses the next operation.
        again = await ws_request(sockets[0], "2", 'query { workspaceAudit(workspaceId: "default") { totalCount } }')
        assert op_codes(again) == ["FORBIDDEN"], again
    finally:
        await close_all(sockets)


async def test_subscription_started_after_revocation_is_refused(server: Server, ws_url: str) -> None:
    """The connection_init that was accepted does not carry the authority forward."""
    _, token, token_id = await principal_with_token(server, "sub-late", {"default": "AUDITOR"})
    socket_ = await ws_open(ws_url, token)
    try:
        await revoke_token(server, token_id)
        await socket_.send(
            json.dumps({"id": "s", "type": "subscribe", "payload": {"query": EVENTS, "variables": {"w": "default"}}})
        )
        message = await ws_recv(socket_)
        assert message["type"] == "error" and message["id"] == "s", message
        assert [e["extensions"]["code"] for e in message["payload"]] == ["UNAUTHENTICATED"]
        assert (await close_code(socket_))[0] == 4403
    finally:
        await socket_.close()


# ---- the handshake ------------------------------------------------------------------


async def test_bad_token_in_connection_init_closes_4403_without_ack(server: Server, ws_url: str) -> None:
    for authorization in ("Bearer sr_not-a-real-token-000000000000000000000000", "Basic abc", ""):
        async with connect(ws_url, subprotocols=TRANSPORT_WS, open_timeout=10) as socket_:
            await socket_.send(json.dumps({"type": "connection_init", "payload": {"authorization": authorization}}))
            received: list[Any] = []
            with pytest.raises(ConnectionClosed) as closed:
                while True:
                    received.append(await asyncio.wait_for(socket_.recv(), 5))
            assert received == [], received  # no connection_ack, nothing at all
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403


async def test_legacy_subprotocol_is_refused_with_4406_and_a_reason(server: Server, ws_url: str) -> None:
    socket_ = await connect(ws_url, subprotocols=[Subprotocol("graphql-ws")], open_timeout=10)
    assert socket_.subprotocol != "graphql-ws"  # not agreed to
    code, reason = await close_code(socket_)  # closed without the client saying anything
    assert code == 4406
    assert "graphql-transport-ws" in reason


async def test_subscribe_before_connection_init_is_4401(server: Server, ws_url: str) -> None:
    async with connect(ws_url, subprotocols=TRANSPORT_WS, open_timeout=10) as socket_:
        await socket_.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": "{ viewer { id } }"}}))
        code, _ = await close_code(socket_)
    assert code == 4401


async def test_second_connection_init_is_4429(server: Server, ws_url: str) -> None:
    socket_ = await ws_open(ws_url, ADMIN_TOKEN)
    try:
        await socket_.send(
            json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {ADMIN_TOKEN}"}})
        )
        code, _ = await close_code(socket_)
        assert code == 4429
    finally:
        await socket_.close()
