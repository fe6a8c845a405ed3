"""A DBA's attacks on the keyed audit chain (SQLite and PostgreSQL).

The attacker has the database (direct SQL / the ORM on the test database)
but not the server key: it can compute plain SHA-256 over the documented
canonical event, copy rows, delete rows, restore rows from a backup.
`auditIntegrity` must catch every rewrite; a kept, signed checkpoint must
catch a truncation hidden behind a head restored from a backup.
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from graphql_api.services.audit import GENESIS_HASH, canonical_event
from models import AuditChainHead, AuditCheckpoint, SecretAudit, ServerKey
from tests.conftest import make_settings
from tests.harness import Server
from tests.security.conftest import LiveClock, create_secret, ok, running

pytestmark = pytest.mark.asyncio

VALUE = 'query($id: ID!) { secretValue(workspaceId: "default", id: $id) { value } }'
INTEGRITY = """query($c: AuditCheckpointInput) { auditIntegrity(workspaceId: "default", checkpoint: $c) {
  valid checkedEvents firstInvalidEventId headHash headSeq reason } }"""
CHECKPOINT = """{ auditCheckpoint(workspaceId: "default") { workspaceId seq headHash createdAt keyId publicKey
  previousSignature signature } }"""


def plain_hash(prev_hash: str, event: SecretAudit) -> str:
    """What a DBA can compute: SHA-256 over prev_hash and the canonical event."""
    document = canonical_event(
        event_id=event.id,
        seq=event.seq,
        workspace_id=event.workspace_id,
        secret_id=event.secret_id,
        action=event.action.value,
        user_id=event.user_id,
        ip_address=event.ip_address,
        user_agent=event.user_agent,
        details=event.details,
        success=event.success,
        created_at=event.created_at,
    )
    return hashlib.sha256(prev_hash.encode("ascii") + document).hexdigest()


async def integrity(server: Server, checkpoint: dict[str, Any] | None = None) -> dict[str, Any]:
    report: dict[str, Any] = (await ok(server, INTEGRITY, {"c": checkpoint}))["auditIntegrity"]
    return report


async def trail(server: Server, reads: int = 7) -> list[SecretAudit]:
    sid = await create_secret(server, "default", "DBA_TRAIL", "v")
    for _ in range(reads):
        await ok(server, VALUE, {"id": sid})
    events = await SecretAudit.filter(workspace_id="default").order_by("seq")
    assert len(events) == reads + 1
    assert (await integrity(server))["valid"] is True
    return events


async def rehash_from(events: list[SecretAudit], start: int, prev: str) -> str:
    """Re-hash events[start:] with plain SHA-256, linking each to the last; the new tail hash."""
    for event in events[start:]:
        digest = plain_hash(prev, event)
        await SecretAudit.filter(id=event.id).update(prev_hash=prev, hash=digest)
        event.prev_hash, event.hash = prev, digest
        prev = digest
    return prev


async def test_rewritten_and_rehashed_tail_with_updated_head_is_detected(server: Server) -> None:
    events = await trail(server)
    target = 3
    forged = {"name": "NOTHING_TO_SEE", "version": 1}
    await SecretAudit.filter(id=events[target].id).update(details=forged)
    events[target].details = forged
    tail = await rehash_from(events, target, events[target - 1].hash)
    await AuditChainHead.filter(workspace_id="default").update(seq=events[-1].seq, hash=tail)
    report = await integrity(server)
    assert report["valid"] is False, report


async def test_whole_chain_rehashed_from_genesis_is_detected(server: Server) -> None:
    events = await trail(server)
    forged = {"name": "REWRITTEN", "version": 9}
    await SecretAudit.filter(id=events[1].id).update(details=forged)
    events[1].details = forged
    tail = await rehash_from(events, 0, GENESIS_HASH)
    await AuditChainHead.filter(workspace_id="default").update(seq=events[-1].seq, hash=tail)
    assert (await integrity(server))["valid"] is False


async def test_deleting_the_newest_events_and_moving_the_head_back_is_detected(server: Server) -> None:
    events = await trail(server)
    kept = events[-4]
    await SecretAudit.filter(workspace_id="default", seq__gt=kept.seq).delete()
    await AuditChainHead.filter(workspace_id="default").update(seq=kept.seq, hash=kept.hash)
    report = await integrity(server)
    assert report["valid"] is False, report
    assert report["reason"], report


async def test_a_faked_retention_purge_is_detected(server: Server) -> None:
    events = await trail(server)
    last_purged = events[2]
    await SecretAudit.filter(workspace_id="default", seq__lte=last_purged.seq).delete()
    await AuditChainHead.filter(workspace_id="default").update(
        purged_through_seq=last_purged.seq, purged_through_hash=last_purged.hash
    )
    report = await integrity(server)
    assert report["valid"] is False, report


async def test_deleting_a_workspaces_whole_trail_and_its_head_is_detected(server: Server) -> None:
    """The workspace still exists: a workspace without a chain head was cut."""
    await trail(server)
    await SecretAudit.filter(workspace_id="default").delete()
    await AuditChainHead.filter(workspace_id="default").delete()
    report = await integrity(server)
    assert report["valid"] is False, report


async def test_restarting_the_chain_after_deleting_it_is_detected(server: Server) -> None:
    events = await trail(server)
    await SecretAudit.filter(workspace_id="default").delete()
    await AuditChainHead.filter(workspace_id="default").delete()
    # The server never restarts a deleted chain from genesis: it fails closed
    # (no value without its recorded event) ...
    body = await server.execute(VALUE, {"id": str(events[0].secret_id)})
    assert body["data"] is None and [e["extensions"]["code"] for e in body["errors"]] == ["AUDIT_UNAVAILABLE"]
    assert await SecretAudit.filter(workspace_id="default").count() == 0
    # ... and the missing chain is reported.
    report = await integrity(server)
    assert report["valid"] is False, report


def verify_signature(checkpoint: dict[str, Any]) -> None:
    """Raises InvalidSignature unless `signature` covers the checkpoint's fields."""
    key = Ed25519PublicKey.from_public_bytes(base64.b64decode(checkpoint["publicKey"]))
    document = {
        "version": 1,
        "workspace_id": checkpoint["workspaceId"],
        "seq": checkpoint["seq"],
        "head_hash": checkpoint["headHash"],
        "created_at": _utc_micro(checkpoint["createdAt"]),
        "previous_signature": checkpoint["previousSignature"],
    }
    message = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    key.verify(base64.b64decode(checkpoint["signature"]), message)


def _utc_micro(text: str) -> str:
    from datetime import UTC, datetime

    moment = datetime.fromisoformat(text)
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return moment.isoformat(timespec="microseconds")


async def test_a_kept_checkpoint_catches_truncation_behind_a_restored_head(server: Server) -> None:
    events = await trail(server, reads=4)
    sid = str(events[0].secret_id)
    backup = await AuditChainHead.get(workspace_id="default")  # the DBA's "backup" of the head row
    backup_row = {
        "seq": backup.seq,
        "hash": backup.hash,
        "head_mac": backup.head_mac,
        "purged_through_seq": backup.purged_through_seq,
        "purged_through_hash": backup.purged_through_hash,
        "purge_mac": backup.purge_mac,
    }
    for _ in range(3):
        await ok(server, VALUE, {"id": sid})
    first = (await ok(server, CHECKPOINT))["auditCheckpoint"]
    verify_signature(first)
    for _ in range(2):
        await ok(server, VALUE, {"id": sid})
    second = (await ok(server, CHECKPOINT))["auditCheckpoint"]
    verify_signature(second)
    assert second["previousSignature"] == first["signature"]  # checkpoints chain
    assert second["seq"] == first["seq"] + 2 and first["seq"] == backup.seq + 3
    for field, value in (("seq", first["seq"] - 1), ("headHash", "0" * 64), ("workspaceId", "other")):
        with pytest.raises(InvalidSignature):
            verify_signature({**first, field: value})

    kept = {"seq": first["seq"], "headHash": first["headHash"]}
    assert (await integrity(server, kept))["valid"] is True

    # The DBA cuts every event after the backup and puts the backed-up head back.
    await SecretAudit.filter(workspace_id="default", seq__gt=backup.seq).delete()
    await AuditChainHead.filter(workspace_id="default").update(**backup_row)
    report = await integrity(server, kept)
    assert report["valid"] is False, report
    assert report["headSeq"] == backup.seq
    newest = await integrity(server, {"seq": second["seq"], "headHash": second["headHash"]})
    assert newest["valid"] is False, newest


async def test_a_checkpoint_with_a_forged_hash_is_refused(server: Server) -> None:
    await trail(server, reads=3)
    checkpoint = (await ok(server, CHECKPOINT))["auditCheckpoint"]
    forged = {"seq": checkpoint["seq"], "headHash": "f" * 64}
    assert (await integrity(server, forged))["valid"] is False
    earlier = {"seq": checkpoint["seq"] - 1, "headHash": "e" * 64}
    assert (await integrity(server, earlier))["valid"] is False


async def test_deleting_the_server_key_does_not_launder_a_rewritten_trail(
    database_url: str, tmp_path: Path, clock: LiveClock
) -> None:
    """A DBA rewrites the trail as a valid *unkeyed* (legacy) chain and deletes
    the wrapped server key; the next start must not re-chain the forgery
    under a fresh key as if it were a legacy trail."""
    settings = make_settings(database_url, tmp_path / "data")
    async with running(settings, clock) as server:
        events = await trail(server)
    forged = {"name": "LAUNDERED", "version": 1}
    async with running(settings, clock):  # the ORM on the database, for the DBA's edits
        await SecretAudit.filter(id=events[2].id).update(details=forged)
        events[2].details = forged
        tail = await rehash_from(events, 0, GENESIS_HASH)
        await AuditChainHead.filter(workspace_id="default").update(hash=tail)
        await ServerKey.all().delete()
    async with running(settings, clock) as server:
        report = await integrity(server)
        assert report["valid"] is False, (
            f"a rewritten trail verifies after the server key was deleted and regenerated: {report}"
        )


async def test_a_new_checkpoint_checks_the_events_since_the_last(server: Server) -> None:
    events = await trail(server, reads=3)
    sid = str(events[0].secret_id)
    (await ok(server, CHECKPOINT))["auditCheckpoint"]
    for _ in range(2):
        await ok(server, VALUE, {"id": sid})
    newest = await SecretAudit.filter(workspace_id="default").order_by("-seq").first()
    assert newest is not None
    await SecretAudit.filter(id=newest.id).update(user_agent="edited after the checkpoint")
    body = await server.execute(CHECKPOINT)
    assert [e["extensions"]["code"] for e in body["errors"]] == ["NOT_FOUND"], body  # nothing signed over it


async def test_a_checkpoint_row_the_server_did_not_sign_is_no_starting_point(server: Server) -> None:
    """A DBA who edits an old event and inserts a checkpoint row naming the
    current head gets that row neither returned nor chained to; the next
    checkpoint chains to the last one the server signed, and a full check
    still reports the edit."""
    events = await trail(server, reads=4)
    first = (await ok(server, CHECKPOINT))["auditCheckpoint"]
    await ok(server, VALUE, {"id": str(events[0].secret_id)})
    await SecretAudit.filter(id=events[1].id).update(user_agent="rewritten")
    head = await AuditChainHead.get(workspace_id="default")
    await AuditCheckpoint.create(
        workspace_id="default",
        seq=head.seq,
        head_hash=head.hash,
        created_at=events[-1].created_at,
        key_id=first["keyId"],
        previous_signature=first["signature"],
        signature=first["signature"],
    )
    second = (await ok(server, CHECKPOINT))["auditCheckpoint"]
    verify_signature(second)
    assert second["signature"] != first["signature"] and second["previousSignature"] == first["signature"]
    report = await integrity(server)
    assert report["valid"] is False and report["firstInvalidEventId"] == str(events[1].id), report


HAND_EDITS = {
    # column: (new value on SQLite, on PostgreSQL); None: not storable there
    "created_at": ("2020-01-01 00:00:00.000001+00:00", "2020-01-01 00:00:00.000001+00:00"),
    "success": (0, False),
    "action": ("LISTED", "LISTED"),
    "user_agent": ("curl/8", "curl/8"),
    "details": ('{"name":"ELSEWHERE","version":1}', '{"name":"ELSEWHERE","version":1}'),
    "secret_id": ("00000000-0000-0000-0000-000000000000", "00000000-0000-0000-0000-000000000000"),
    "id": ("not-a-uuid", None),
}


@pytest.mark.parametrize("column", sorted(HAND_EDITS))
async def test_one_column_edited_by_hand_names_the_event(server: Server, column: str) -> None:
    """Raw SQL, as a DBA would type it, on one stored column of one event:
    verification reports that event (and never crashes on what it reads)."""
    from graphql_api.sql import dialect_of_connection

    events = await trail(server, reads=3)
    connection = SecretAudit._meta.db
    dialect = dialect_of_connection(connection)
    value = HAND_EDITS[column][0 if dialect.name == "sqlite" else 1]
    if value is None:
        pytest.skip(f"{column} cannot hold that value on {dialect.name}")
    cast = "::text::jsonb" if column == "details" and dialect.name == "postgres" else ""
    cast = "::text::timestamptz" if column == "created_at" and dialect.name == "postgres" else cast
    target = events[2]
    await connection.execute_query(
        dialect.statement(f'UPDATE "secret_audit" SET "{column}" = ?{cast} WHERE "workspace_id" = ? AND "seq" = ?'),
        [value, "default", target.seq],
    )
    report = await integrity(server)
    assert report["valid"] is False, report
    expected = None if column == "id" else str(target.id)
    assert report["firstInvalidEventId"] == expected, report
