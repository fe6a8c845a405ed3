"""Subscription fan-out (graphql_api/fan_out.py): subscribers of the same
document share one completed result per event; anything that differs
(selection, variables, filters, the caller's right to read) is still each
subscriber's own."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
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


async def subscribe(server: Server, document: str, variables: dict[str, Any], token: str = ADMIN_TOKEN) -> AsyncIterator[Outcome]:
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


async def test_subscribers_of_one_document_share_each_completed_event(server: Server) -> None:
    shared = server.app.state.engine.shared_results
    streams = [await subscribe(server, EVENTS, {"w": "default", "s": None}) for _ in range(5)]
    waiting = [asyncio.ensure_future(next_data(s)) for s in streams]
    await asyncio.sleep(0.1)
    completed, reused = shared.completed, shared.reused
    sid = await create_secret(server, "default", "FANNED")
    answers = [await w for w in waiting]
    assert all(a == answers[0] for a in answers)
    assert answers[0]["auditEvents"] == {"action": "CREATED", "secretId": sid, "seq": answers[0]["auditEvents"]["seq"]}
    assert shared.completed - completed == 1 and shared.reused - reused == 4
    for stream in streams:
        await stream.aclose()  # type: ignore[attr-defined]


async def test_what_differs_is_completed_apart(server: Server) -> None:
    a = await create_secret(server, "default", "APART_A")
    await asyncio.sleep(0.3)  # A's CREATED is published (by NOTIFY on PostgreSQL) before anyone subscribes
    plain = await subscribe(server, EVENTS, {"w": "default", "s": None})
    only_a = await subscribe(server, EVENTS, {"w": "default", "s": a})
    aliased = await subscribe(server, EVENTS_ALIASED, {"w": "default"})
    changes = await subscribe(server, CHANGES, {"w": "default"})
    first = [asyncio.ensure_future(next_data(s)) for s in (plain, only_a, aliased)]
    change = asyncio.ensure_future(next_data(changes))
    await asyncio.sleep(0.1)
    b = await create_secret(server, "default", "APART_B")  # not A: only_a must not see it
    assert (await first[0])["auditEvents"]["secretId"] == b
    assert (await first[2])["auditEvents"] == {"kind": "CREATED", "secretId": b}
    assert (await change)["secretChanges"] == {"name": "APART_B", "action": "CREATED", "version": 1}
    assert not first[1].done()
    await ok(server, VALUE, {"id": a})
    assert (await first[1])["auditEvents"]["secretId"] == a
    for stream in (plain, only_a, aliased, changes):
        await stream.aclose()  # type: ignore[attr-defined]


async def test_the_subscriber_who_lost_the_right_gets_nothing_more(server: Server) -> None:
    """Not even the event of the revocation itself, though it shares the
    document with a subscriber who keeps receiving."""
    auditor_id, auditor, _ = await principal_with_token(server, "fan-auditor", {"default": "AUDITOR"})
    await asyncio.sleep(0.3)  # on PostgreSQL events arrive by NOTIFY: let these pass before subscribing
    kept = await subscribe(server, EVENTS, {"w": "default", "s": None})
    lost = await subscribe(server, EVENTS, {"w": "default", "s": None}, token=auditor)
    kept_next = asyncio.ensure_future(next_data(kept))
    lost_next = asyncio.ensure_future(lost.__anext__())
    await asyncio.sleep(0.1)
    await revoke_role(server, auditor_id, "default")
    with pytest.raises(Forbidden):  # the transport sends it as FORBIDDEN and completes
        await asyncio.wait_for(lost_next, 10)
    # The other subscriber of the same document carries on (it sees the revocation itself).
    assert (await kept_next)["auditEvents"]["action"] == "ROLE_REVOKED"
    await kept.aclose()  # type: ignore[attr-defined]
