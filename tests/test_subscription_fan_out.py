"""Subscription fan-out (graphql_api/fan_out.py): subscribers of the same
document share one completed result per event; anything that differs
(selection, variables, filters, the caller's right to read) is still each
subscriber's own.

On PostgreSQL events arrive by NOTIFY, so one committed before a stream
subscribed may still reach it: the tests look for the events they caused
rather than expecting them first.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from graphql_api.context import Context, Credentials
from graphql_api.errors import Forbidden
from graphql_api.execution import Outcome
from tests.harness import ADMIN_TOKEN, Server
from tests.security.conftest import create_secret, ok, principal_with_token, revoke_role

pytestmark = pytest.mark.asyncio

EVENTS = "subscription($w: ID!, $s: ID) { auditEvents(workspaceId: $w, secretId: $s) { action secretId seq } }"
EVENTS_ALIASED = "subscription($w: ID!) { auditEvents(workspaceId: $w) { kind: action secretId } }"
CHANGES = "subscription($w: ID!) { secretChanges(workspaceId: $w) { name action version } }"
VALUE = 'query($id: ID!) { secretValue(workspaceId: "default", id: $id) { value } }'


async def subscribe(
    server: Server, document: str, variables: dict[str, Any], token: str = ADMIN_TOKEN
) -> AsyncIterator[Outcome]:
    engine = server.app.state.engine
    prepared = engine.prepare(document)
    operation = engine.select(prepared, None, variables)
    assert not isinstance(operation, Outcome), operation
    context = Context.for_operation(
        server.services, Credentials(authorization=f"Bearer {token}", ip_address="127.0.0.1", user_agent="fan-out")
    )
    stream = await engine.subscribe(prepared, operation, variables, context)
    assert not isinstance(stream, Outcome), stream
    return stream


async def next_data(stream: AsyncIterator[Outcome]) -> dict[str, Any]:
    outcome = await asyncio.wait_for(stream.__anext__(), 10)
    assert not outcome.errors, outcome.errors
    assert outcome.data is not None
    return outcome.data


async def first_matching(stream: AsyncIterator[Outcome], wanted: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    while True:
        data = await next_data(stream)
        if wanted(data):
            return data


async def listening(server: Server, count: int) -> None:
    """Until `count` streams are registered with the bus (a stream starts on its first read)."""
    async with asyncio.timeout(10):
        while server.services.bus.subscriber_count < count:
            await asyncio.sleep(0.005)


async def test_subscribers_of_one_document_share_each_completed_event(server: Server) -> None:
    shared = server.app.state.engine.shared_results
    streams = [await subscribe(server, EVENTS, {"w": "default", "s": None}) for _ in range(5)]
    waiting = [
        asyncio.ensure_future(first_matching(s, lambda d: d["auditEvents"]["action"] == "CREATED")) for s in streams
    ]
    await listening(server, 5)
    completed, reused = shared.completed, shared.reused
    sid = await create_secret(server, "default", "FANNED")
    answers = [await w for w in waiting]
    assert all(a == answers[0] for a in answers)
    assert answers[0]["auditEvents"]["secretId"] == sid
    # Every event delivered was completed once and reused by the four others.
    assert shared.completed - completed >= 1
    assert shared.reused - reused == 4 * (shared.completed - completed)
    for stream in streams:
        await stream.aclose()  # type: ignore[attr-defined]


async def test_what_differs_is_completed_apart(server: Server) -> None:
    a = await create_secret(server, "default", "APART_A")
    plain = await subscribe(server, EVENTS, {"w": "default", "s": None})
    only_a = await subscribe(server, EVENTS, {"w": "default", "s": a})
    aliased = await subscribe(server, EVENTS_ALIASED, {"w": "default"})
    changes = await subscribe(server, CHANGES, {"w": "default"})
    only_a_first = asyncio.ensure_future(next_data(only_a))
    plain_b = asyncio.ensure_future(
        first_matching(plain, lambda d: d["auditEvents"]["action"] == "CREATED" and d["auditEvents"]["secretId"] != a)
    )
    aliased_b = asyncio.ensure_future(first_matching(aliased, lambda d: d["auditEvents"]["secretId"] != a))
    change_b = asyncio.ensure_future(first_matching(changes, lambda d: d["secretChanges"]["name"] == "APART_B"))
    await listening(server, 4)
    b = await create_secret(server, "default", "APART_B")
    assert (await plain_b)["auditEvents"]["secretId"] == b
    assert (await aliased_b)["auditEvents"] == {"kind": "CREATED", "secretId": b}
    assert (await change_b)["secretChanges"] == {"name": "APART_B", "action": "CREATED", "version": 1}
    await ok(server, VALUE, {"id": a})
    assert (await only_a_first)["auditEvents"]["secretId"] == a  # B's events never reached it
    for stream in (plain, only_a, aliased, changes):
        await stream.aclose()  # type: ignore[attr-defined]


async def test_the_subscriber_who_lost_the_right_gets_nothing_more(server: Server) -> None:
    """Not even the event of the revocation itself, though it shares the
    document with a subscriber who keeps receiving."""
    auditor_id, auditor, _ = await principal_with_token(server, "fan-auditor", {"default": "AUDITOR"})
    kept = await subscribe(server, EVENTS, {"w": "default", "s": None})
    lost = await subscribe(server, EVENTS, {"w": "default", "s": None}, token=auditor)
    kept_revoked = asyncio.ensure_future(first_matching(kept, lambda d: d["auditEvents"]["action"] == "ROLE_REVOKED"))
    lost_seen: list[str] = []

    async def drain_lost() -> None:
        while True:
            lost_seen.append((await next_data(lost))["auditEvents"]["action"])

    lost_reader = asyncio.ensure_future(drain_lost())
    await listening(server, 2)
    await revoke_role(server, auditor_id, "default")
    with pytest.raises(Forbidden):  # the transport sends it as FORBIDDEN and completes
        await asyncio.wait_for(lost_reader, 10)
    assert "ROLE_REVOKED" not in lost_seen
    assert (await kept_revoked)["auditEvents"]["action"] == "ROLE_REVOKED"
    await kept.aclose()  # type: ignore[attr-defined]
