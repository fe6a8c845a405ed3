"""The audit trail: coverage, fail-closed reads, group commit, tamper
evidence, retention, live events and sinks. SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from tortoise import connections

from graphql_api.context import Context, Credentials
from graphql_api.events import EventBus, SubscriberOverflow
from graphql_api.schema import build_schema
from models import AuditChainHead, SecretAudit
from tests.clock import MutableClock
from tests.conftest import make_settings
from tests.harness import ADMIN_TOKEN, Server
from tests.support.audit_blocking import block_audit_inserts, unblock_audit_inserts
from tests.support.running import running
from tests.support.waiting import eventually

pytestmark = pytest.mark.asyncio

CREATE = """mutation($name: String!, $value: String!) { createSecret(workspaceId: "default",
  input: {name: $name, secretType: API_KEY, value: $value}) { id } }"""
VALUE = """query($id: ID!) { secretValue(workspaceId: "default", id: $id) { value } }"""
INTEGRITY = """{ auditIntegrity(workspaceId: "default") { valid checkedEvents firstInvalidEventId headHash } }"""


async def create(server: Server, name: str, value: str = "value") -> str:
    return str((await server.data(CREATE, {"name": name, "value": value}))["createSecret"]["id"])


async def integrity(server: Server) -> dict[str, Any]:
    return (await server.data(INTEGRITY))["auditIntegrity"]  # type: ignore[no-any-return]


async def sql(statement: str) -> None:
    await connections.all()[0].execute_script(statement)


# ---- coverage -----------------------------------------------------------------


async def test_every_operation_records_one_event_with_actor_and_no_value(server: Server) -> None:
    marker = "VALUE-MARKER-93c1"
    headers = {"user-agent": "audit-test/1.0"}
    sid = (await server.data(CREATE, {"name": "COVERED", "value": marker}, headers=headers))["createSecret"]["id"]
    operations = [
        ('{ secrets(workspaceId: "default") { totalCount } }', "LISTED"),
        (VALUE, "ACCESSED"),
        (
            'mutation($id: ID!) { updateSecret(workspaceId: "default", id: $id, input: {value: "VALUE-MARKER-2"}) { id } }',
            "UPDATED",
        ),
        (
            'mutation($id: ID!) { rotateSecret(workspaceId: "default", id: $id, newValue: "VALUE-MARKER-3") { id } }',
            "ROTATED",
        ),
        ('mutation($id: ID!) { rollbackSecret(workspaceId: "default", id: $id, toVersion: 1) { id } }', "ROLLED_BACK"),
        ('mutation($id: ID!) { deleteSecret(workspaceId: "default", id: $id) { id } }', "DELETED"),
        ('mutation($id: ID!) { restoreSecret(workspaceId: "default", id: $id) { id } }', "RESTORED"),
        ('mutation($id: ID!) { destroySecret(workspaceId: "default", id: $id) }', "DESTROYED"),
    ]
    for document, _action in operations:
        variables = {"id": sid} if "$id" in document else {}
        await server.data(document, variables, headers=headers)
    events = await SecretAudit.filter(workspace_id="default").order_by("seq")
    assert [e.action.value for e in events] == ["CREATED"] + [a for _, a in operations]
    admin = (await server.data("{ viewer { id } }"))["viewer"]["id"]
    for event in events:
        assert str(event.user_id) == admin
        assert event.user_agent == "audit-test/1.0"
        assert event.ip_address == "127.0.0.1"
        assert event.success is True
        assert "VALUE-MARKER" not in json.dumps(event.details)
        assert event.hash and len(event.hash) == 64
    assert (await integrity(server))["valid"] is True


async def test_principal_and_token_events(server: Server) -> None:
    created = await server.data(
        'mutation { createPrincipal(name: "ci", bindings: [{workspaceId: "default", role: READER}]) { id } }'
    )
    pid = created["createPrincipal"]["id"]
    token = await server.data(
        'mutation($p: ID!) { createApiToken(principalId: $p, name: "deploy") { token apiToken { id } } }', {"p": pid}
    )
    await server.data(
        "mutation($t: ID!) { revokeApiToken(id: $t) { revoked } }", {"t": token["createApiToken"]["apiToken"]["id"]}
    )
    events = await SecretAudit.filter(workspace_id="default").order_by("seq")
    assert [e.action.value for e in events] == ["PRINCIPAL_CREATED", "TOKEN_CREATED", "TOKEN_REVOKED"]
    secret_token = token["createApiToken"]["token"]
    assert all(secret_token not in json.dumps(e.details) for e in events)


async def test_refusal_records_access_denied(server: Server) -> None:
    created = await server.data(
        'mutation { createPrincipal(name: "viewer", bindings: [{workspaceId: "default", role: VIEWER}]) { id } }'
    )
    token = (
        await server.data(
            'mutation($p: ID!) { createApiToken(principalId: $p, name: "t") { token } }',
            {"p": created["createPrincipal"]["id"]},
        )
    )["createApiToken"]["token"]
    sid = await create(server, "DENIED")
    error = await server.error(VALUE, {"id": sid}, token=token, headers={"user-agent": "curious"})
    assert error["extensions"]["code"] == "FORBIDDEN"
    await server.services.audit.drain()  # a denial is recorded without making the answer wait
    denied = await SecretAudit.filter(action="ACCESS_DENIED")
    assert len(denied) == 1
    assert (denied[0].success, str(denied[0].user_id), denied[0].user_agent) == (
        False,
        created["createPrincipal"]["id"],
        "curious",
    )
    assert await SecretAudit.filter(action="ACCESSED").count() == 0


async def test_failed_value_read_is_recorded(server: Server) -> None:
    sid = await create(server, "GONE")
    await server.data('mutation($id: ID!) { deleteSecret(workspaceId: "default", id: $id) { id } }', {"id": sid})
    assert (await server.error(VALUE, {"id": sid}))["extensions"]["code"] == "NOT_FOUND"
    failed = await SecretAudit.get(action="ACCESSED")
    assert failed.success is False and failed.details["error"] == "NOT_FOUND"
    stats = await server.data(
        '{ secretStatistics(workspaceId: "default") { accessesLast24h failedAccessesLast24h totalSecrets inactiveSecrets } }'
    )
    assert stats["secretStatistics"] == {
        "accessesLast24h": 0,
        "failedAccessesLast24h": 1,
        "totalSecrets": 1,
        "inactiveSecrets": 1,
    }


async def test_forwarded_for_is_believed_only_from_trusted_proxies(database_url: str, tmp_path: Path) -> None:
    for trusted, expected in (("", "127.0.0.1"), ("127.0.0.1", "203.0.113.9")):
        # One data dir (one Fernet keyring): the database holds the server key wrapped by it.
        settings = make_settings(database_url, tmp_path / "data", STRONGROOM_TRUSTED_PROXIES=trusted)
        async with running(settings) as server:
            await server.data(
                '{ secrets(workspaceId: "default") { totalCount } }',
                headers={"x-forwarded-for": "198.51.100.1, 203.0.113.9"},
            )
            event = await SecretAudit.filter(action="LISTED").order_by("-seq").first()
            assert event is not None and event.ip_address == expected


async def test_audit_can_be_turned_off(database_url: str, tmp_path: Path) -> None:
    settings = make_settings(database_url, tmp_path / "data", ENABLE_SECRET_AUDIT_LOGGING="false")
    async with running(settings) as server:
        sid = await create(server, "UNAUDITED", "v")
        assert (await server.data(VALUE, {"id": sid}))["secretValue"]["value"] == "v"
        assert await SecretAudit.all().count() == 0


# ---- fail closed, group commit --------------------------------------------------


async def test_concurrent_readers_get_exactly_one_event_per_value(server: Server) -> None:
    ids = [await create(server, f"LOAD_{i}", f"value-{i}") for i in range(8)]
    returned = 0

    async def reader(n: int) -> None:
        nonlocal returned
        for round_ in range(6):
            body = await server.execute(VALUE, {"id": ids[(n + round_) % len(ids)]})
            if body.get("data") and body["data"].get("secretValue"):
                returned += 1

    await asyncio.gather(*(reader(n) for n in range(32)))
    assert returned == 32 * 6
    assert await SecretAudit.filter(action="ACCESSED", success=True).count() == returned
    audit = server.services.audit
    # Group commit: concurrent reads share transactions.
    assert audit.batched_events_committed >= returned
    assert audit.batches_committed < returned
    assert (await integrity(server))["valid"] is True


async def test_no_value_is_returned_without_its_event_when_audit_fails_mid_run(server: Server, dialect: str) -> None:
    ids = [await create(server, f"FAIL_{i}", f"value-{i}") for i in range(4)]
    outcomes: list[str] = []
    blocked = asyncio.Event()

    async def reader(n: int) -> None:
        for round_ in range(10):
            if n == 0 and round_ == 3:
                await block_audit_inserts(dialect)
                blocked.set()
            body = await server.execute(VALUE, {"id": ids[(n + round_) % len(ids)]})
            if body.get("data") and body["data"].get("secretValue"):
                outcomes.append("value")
            else:
                code = body["errors"][0]["extensions"]["code"]
                assert code == "AUDIT_UNAVAILABLE", body
                assert "value-" not in json.dumps(body)
                outcomes.append("refused")

    await asyncio.gather(*(reader(n) for n in range(32)))
    await unblock_audit_inserts(dialect)
    assert blocked.is_set() and "refused" in outcomes and "value" in outcomes
    assert await SecretAudit.filter(action="ACCESSED", success=True).count() == outcomes.count("value")
    assert (await integrity(server))["valid"] is True


async def test_mutation_fails_whole_when_its_event_cannot_be_written(server: Server, dialect: str) -> None:
    await block_audit_inserts(dialect)
    try:
        error = await server.error(CREATE, {"name": "NEVER", "value": "v"})
    finally:
        await unblock_audit_inserts(dialect)
    assert error["extensions"]["code"] == "AUDIT_UNAVAILABLE"
    assert (await server.data('{ secretByName(workspaceId: "default", name: "NEVER") { id } }'))["secretByName"] is None


# ---- tamper evidence -----------------------------------------------------------


async def trail(server: Server, n: int = 6) -> list[SecretAudit]:
    sid = await create(server, "TRAIL")
    for _ in range(n - 1):
        await server.data(VALUE, {"id": sid})
    events = await SecretAudit.filter(workspace_id="default").order_by("seq")
    assert len(events) == n and (await integrity(server))["valid"] is True
    return events


async def test_edited_event_is_detected(server: Server) -> None:
    events = await trail(server)
    await SecretAudit.filter(id=events[2].id).update(details={"name": "SOMETHING_ELSE", "version": 1})
    report = await integrity(server)
    assert report["valid"] is False and report["firstInvalidEventId"] == str(events[2].id)


@pytest.mark.parametrize("field", ["success", "user_agent", "created_at", "action"])
async def test_any_edited_field_is_detected(server: Server, field: str) -> None:
    events = await trail(server)
    target = events[3]
    change: dict[str, Any] = {
        "success": {"success": False},
        "user_agent": {"user_agent": "forged"},
        "created_at": {"created_at": target.created_at.replace(year=2020)},
        "action": {"action": "LISTED"},
    }[field]
    await SecretAudit.filter(id=target.id).update(**change)
    assert (await integrity(server))["firstInvalidEventId"] == str(target.id)


async def test_deleted_middle_event_is_detected(server: Server) -> None:
    events = await trail(server)
    await SecretAudit.filter(id=events[2].id).delete()
    report = await integrity(server)
    assert report["valid"] is False and report["firstInvalidEventId"] == str(events[3].id)


async def test_deleted_first_and_last_events_are_detected(server: Server) -> None:
    events = await trail(server)
    await SecretAudit.filter(id=events[-1].id).delete()
    report = await integrity(server)
    assert report["valid"] is False and report["firstInvalidEventId"] == str(events[-2].id)
    await SecretAudit.filter(id=events[0].id).delete()
    report = await integrity(server)
    assert report["valid"] is False and report["firstInvalidEventId"] == str(events[1].id)


async def test_reordered_events_are_detected(server: Server) -> None:
    events = await trail(server)
    a, b = events[1], events[2]
    await SecretAudit.filter(id=a.id).update(seq=-1)
    await SecretAudit.filter(id=b.id).update(seq=a.seq)
    await SecretAudit.filter(id=a.id).update(seq=b.seq)
    report = await integrity(server)
    assert report["valid"] is False and report["firstInvalidEventId"] == str(b.id)


async def test_rehashed_forgery_is_detected_by_the_link_to_the_next_event(server: Server) -> None:
    """Even someone holding the chain key cannot change one event unseen."""
    from graphql_api.services.audit import canonical_event

    chain_hash = server.services.server_keys.keys.chain_hash
    events = await trail(server)
    forged = events[2]
    forged.details = {"name": "FORGED", "version": 1}
    forged_hash = chain_hash(
        forged.prev_hash,
        canonical_event(
            event_id=forged.id,
            seq=forged.seq,
            workspace_id=forged.workspace_id,
            secret_id=forged.secret_id,
            action=forged.action.value,
            user_id=forged.user_id,
            ip_address=forged.ip_address,
            user_agent=forged.user_agent,
            details=forged.details,
            success=forged.success,
            created_at=forged.created_at,
        ),
    )
    await SecretAudit.filter(id=forged.id).update(details=forged.details, hash=forged_hash)
    report = await integrity(server)
    assert report["valid"] is False and report["firstInvalidEventId"] == str(events[3].id)


async def test_concurrent_writers_keep_one_consistent_chain(server: Server) -> None:
    ids = [await create(server, f"W_{i}") for i in range(4)]

    rotate = 'mutation($id: ID!, $v: String!) { rotateSecret(workspaceId: "default", id: $id, newValue: $v) { id } }'

    async def writer(n: int) -> None:
        for k in range(5):
            if n < 4:
                await server.data(rotate, {"id": ids[n], "v": f"{n}-{k}"})
            else:
                await server.data(VALUE, {"id": ids[n % 4]})

    await asyncio.gather(*(writer(n) for n in range(16)))
    report = await integrity(server)
    assert report["valid"] is True
    seqs = [e.seq for e in await SecretAudit.filter(workspace_id="default").order_by("seq")]
    assert seqs == list(range(1, len(seqs) + 1))


# ---- queries --------------------------------------------------------------------


async def test_audit_queries_paginate_newest_first_with_filters(server: Server) -> None:
    sid = await create(server, "PAGED")
    for _ in range(4):
        await server.data(VALUE, {"id": sid})
    query = """query($after: String, $action: AuditAction) { workspaceAudit(workspaceId: "default", first: 2, after: $after, action: $action) {
        totalCount pageInfo { hasNextPage endCursor } edges { node { action seq } } } }"""
    first = (await server.data(query, {"action": "ACCESSED"}))["workspaceAudit"]
    assert first["totalCount"] == 4 and [e["node"]["seq"] for e in first["edges"]] == [5, 4]
    second = (await server.data(query, {"action": "ACCESSED", "after": first["pageInfo"]["endCursor"]}))[
        "workspaceAudit"
    ]
    assert [e["node"]["seq"] for e in second["edges"]] == [3, 2] and second["pageInfo"]["hasNextPage"] is False
    per_secret = await server.data(
        'query($id: ID!) { secretAudit(workspaceId: "default", secretId: $id) { totalCount } }', {"id": sid}
    )
    assert per_secret["secretAudit"]["totalCount"] == 5
    everything = await server.data('{ workspaceAudit(workspaceId: "default", first: 1) { totalCount } }')
    assert everything["workspaceAudit"]["totalCount"] == await SecretAudit.filter(workspace_id="default").count()


# ---- retention --------------------------------------------------------------------


async def test_retention_purges_old_events_and_verification_still_holds(server: Server, clock: MutableClock) -> None:
    sid = await create(server, "OLD")
    for _ in range(3):
        await server.data(VALUE, {"id": sid})
    clock.advance(days=366)
    await server.data(VALUE, {"id": sid})
    purged = await server.services.retention.purge()
    assert purged == 4
    kept = await SecretAudit.filter(workspace_id="default").order_by("seq")
    assert [e.seq for e in kept] == [5]
    head = await AuditChainHead.get(workspace_id="default")
    assert head.purged_through_seq == 4
    assert (await integrity(server))["valid"] is True
    kept_count = await server.data('{ workspaceAudit(workspaceId: "default", first: 1) { totalCount } }')
    assert kept_count["workspaceAudit"]["totalCount"] == 1  # what is kept, not what was ever written
    await server.data(VALUE, {"id": sid})
    await SecretAudit.filter(id=kept[0].id).delete()
    assert (await integrity(server))["valid"] is False


async def test_retention_works_in_batches(database_url: str, tmp_path: Path, clock: MutableClock) -> None:
    settings = make_settings(database_url, tmp_path / "data")
    async with running(settings, clock) as server:
        sid = await create(server, "MANY")
        for _ in range(9):
            await server.data(VALUE, {"id": sid})
        clock.advance(days=400)
        server.services.retention._batch = 3
        assert await server.services.retention.purge() == 10
        assert (await integrity(server))["valid"] is True


# ---- live events --------------------------------------------------------------------


async def subscribe(server: Server, workspace: str = "default", secret_id: str | None = None) -> Any:
    schema = build_schema()
    context = Context.for_operation(
        server.services, Credentials(authorization=f"Bearer {ADMIN_TOKEN}", ip_address="127.0.0.1", user_agent="test")
    )
    return await schema.subscribe(
        "subscription($w: ID!, $s: ID) { auditEvents(workspaceId: $w, secretId: $s) { action secretId seq } }",
        variable_values={"w": workspace, "s": secret_id},
        context_value=context,
    )


async def on_the_bus(server: Server, before: int) -> None:
    """Wait until a new subscriber is on the event bus (it joins after authorizing)."""
    await eventually(lambda: server.services.bus.subscriber_count > before, what="the subscription on the bus")


async def test_subscription_delivers_committed_events_in_order(server: Server, dialect: str) -> None:
    before = server.services.bus.subscriber_count
    stream = await subscribe(server)
    first = asyncio.ensure_future(stream.__anext__())
    await on_the_bus(server, before)  # registered before the writes
    sid = await create(server, "LIVE")
    await server.data(VALUE, {"id": sid})
    received = [await asyncio.wait_for(first, 10)]
    received.append(await asyncio.wait_for(stream.__anext__(), 10))
    await stream.aclose()
    assert [r.data["auditEvents"]["action"] for r in received] == ["CREATED", "ACCESSED"]
    assert [r.data["auditEvents"]["seq"] for r in received] == [1, 2]


async def test_subscription_for_one_secret_filters(server: Server) -> None:
    a = await create(server, "A")
    b = await create(server, "B")
    before = server.services.bus.subscriber_count
    stream = await subscribe(server, secret_id=b)
    waiting = asyncio.ensure_future(stream.__anext__())
    await on_the_bus(server, before)
    await server.data(VALUE, {"id": a})
    await server.data(VALUE, {"id": b})
    result = await asyncio.wait_for(waiting, 10)
    await stream.aclose()
    assert result.data["auditEvents"]["secretId"] == b


async def test_slow_subscriber_is_cut_off_without_slowing_writers() -> None:
    bus = EventBus(queue_size=2)
    events = [SecretAudit(workspace_id="w", secret_id=None, seq=i) for i in range(5)]
    stream = bus.subscribe("w")
    first = asyncio.ensure_future(stream.__anext__())
    await asyncio.sleep(0)  # one turn of the loop, no time: the reader's __anext__ is now waiting
    for event in events:
        bus.publish(event)  # never blocks, whatever the subscriber does
    assert (await first).seq == 0
    assert bus.subscriber_count == 0
    # What was queued before the overflow is still delivered, then the error.
    assert (await stream.__anext__()).seq == 1
    with pytest.raises(SubscriberOverflow):
        await stream.__anext__()


# ---- sinks --------------------------------------------------------------------------


async def test_jsonl_sink_receives_committed_events(database_url: str, tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    settings = make_settings(database_url, tmp_path / "data", STRONGROOM_AUDIT_JSONL_PATH=str(path))
    async with running(settings) as server:
        sid = await create(server, "SUNK", "sink-marker-value")
        await server.data(VALUE, {"id": sid})
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [line["action"] for line in lines] == ["CREATED", "ACCESSED"]
    assert all(line["secret_id"] == sid and len(line["hash"]) == 64 for line in lines)
    assert "sink-marker-value" not in path.read_text()


async def test_slow_or_failing_sink_never_blocks_requests(database_url: str, tmp_path: Path) -> None:
    import pluggy

    from plugins.manager import build_plugin_manager
    from plugins.testing import RecordingAuditSink

    sink = RecordingAuditSink("blocking", held=True, fail=True)

    class Plugin:
        @pluggy.HookimplMarker("strongroom")
        def register_audit_sinks(self) -> list[RecordingAuditSink]:
            return [sink]

    plugins = build_plugin_manager(load_entry_points=False, extra=[Plugin()])
    settings = make_settings(database_url, tmp_path / "data")
    async with running(settings, plugins=plugins) as server:
        sid = await create(server, "BLOCKED_SINK")
        for _ in range(3):
            await server.data(VALUE, {"id": sid})  # answered while the sink is stuck
        assert sink.events == []
        sink.release()
        received = await sink.wait_for(4)
        assert [e["action"] for e in received] == ["CREATED", "ACCESSED", "ACCESSED", "ACCESSED"]
        assert (await server.data(VALUE, {"id": sid}))["secretValue"]["value"] == "value"
