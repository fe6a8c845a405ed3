"""Reading the audit trail: pages, last access, and chain verification.

Verification recomputes the keyed chain from the oldest kept event to the
head and checks the MACs of the head and of the retention purge point, so an
event changed, removed (at either end or in the middle), moved or re-hashed,
a head moved back and a purge faked are all reported. A checkpoint kept by a
client (graphql_api.services.checkpoints) adds what no database can prove by
itself: that the trail still reaches the point it had reached then.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple
from uuid import UUID

from tortoise.backends.base.client import BaseDBAsyncClient

from graphql_api.errors import BadUserInput
from graphql_api.services.audit import (
    EVENT_COLUMNS,
    GENESIS_HASH,
    CommittedEvent,
    canonical_bytes,
    canonical_details,
    canonical_event,
    committed_event,
    head_mac,
    purge_mac,
)
from graphql_api.services.pacing import yield_now
from graphql_api.services.server_keys import DerivedKeys, ServerKeys
from graphql_api.sql import Dialect, Sql, dialect_of_connection
from models import AuditAction, AuditChainHead, SecretAudit, Workspace

MAX_PAGE_SIZE = 500

_INDEXED_THROUGH = 'SELECT "indexed_through_seq" FROM "audit_chain_head" WHERE "workspace_id" = ?'
_A_COLUMNS = ", ".join(f"a.{column.strip()}" for column in EVENT_COLUMNS.split(","))
# A secret's events after the index's reach: found by sequence number.
_TAIL_EVENTS = (
    f'SELECT {_A_COLUMNS} FROM "secret_audit" a WHERE a."workspace_id" = ? AND a."seq" > ? AND a."secret_id" = ?'
)
# ... and up to it, through the index. The join also matches the secret, so
# an entry pointing at another secret's event (a hand edit) shows nothing.
_INDEXED_EVENTS = (
    f'SELECT {_A_COLUMNS} FROM "audit_secret_index" r JOIN "secret_audit" a'
    ' ON a."workspace_id" = r."workspace_id" AND a."seq" = r."seq" AND a."secret_id" = r."secret_id"'
    ' WHERE r."secret_id" = ? AND r."workspace_id" = ? AND r."seq" <= ?'
)
_MISSING_FROM_INDEX = (
    'SELECT a."id" FROM "secret_audit" a WHERE a."workspace_id" = ? AND a."seq" >= ? AND a."seq" <= ?'
    ' AND a."secret_id" IS NOT NULL AND NOT EXISTS (SELECT 1 FROM "audit_secret_index" r'
    ' WHERE r."secret_id" = a."secret_id" AND r."seq" = a."seq" AND r."workspace_id" = a."workspace_id")'
    ' ORDER BY a."seq" LIMIT 1'
)
_LAST_ACCESSED_INDEXED = (
    'SELECT r."secret_id", MAX(a."created_at") FROM "audit_secret_index" r JOIN "secret_audit" a'
    ' ON a."workspace_id" = r."workspace_id" AND a."seq" = r."seq" AND a."secret_id" = r."secret_id"'
    ' JOIN "audit_chain_head" h ON h."workspace_id" = r."workspace_id" AND r."seq" <= h."indexed_through_seq"'
    ' WHERE r."secret_id" IN ({marks}) AND a."action" = ? AND a."success" = ? GROUP BY r."secret_id"'
)
_LAST_ACCESSED_TAIL = (
    'SELECT a."secret_id", MAX(a."created_at") FROM "audit_chain_head" h JOIN "secret_audit" a'
    ' ON a."workspace_id" = h."workspace_id" AND a."seq" > h."indexed_through_seq"'
    ' WHERE a."secret_id" IN ({marks}) AND a."action" = ? AND a."success" = ? GROUP BY a."secret_id"'
)
VERIFY_BATCH = 1000
# Events checked between two yields to the event loop: about 6 ms of work here.
VERIFY_SLICE = 200
MAX_SEQ = 2**63 - 1


@dataclass(frozen=True)
class AuditPage:
    events: Sequence[SecretAudit | CommittedEvent]
    has_next_page: bool
    # Counts the events of the listing in all; awaited only when a client asks.
    count: Callable[[], Awaitable[int]] = field(repr=False)

    @property
    def end_cursor(self) -> str | None:
        return str(self.events[-1].seq) if self.events else None


@dataclass(frozen=True)
class IntegrityReport:
    valid: bool
    checked_events: int
    first_invalid_event_id: UUID | None
    head_hash: str | None
    head_seq: int | None = None
    reason: str | None = None


@dataclass(frozen=True)
class Checkpoint:
    seq: int
    head_hash: str


def _cursor(after: str | None) -> int | None:
    if after is None:
        return None
    if not (after.isascii() and after.isdigit()) or len(after) > 19 or int(after) > MAX_SEQ:
        raise BadUserInput("after", "is not a cursor returned by this API")
    return int(after)


def _event_bytes(event: SecretAudit) -> bytes:
    return canonical_event(
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


class _StoredEvent(NamedTuple):
    """An event as verification reads it: the stored columns, nothing hydrated."""

    raw_id: object
    seq: int
    prev_hash: str
    hash: str
    canonical: bytes

    @property
    def id(self) -> UUID | None:
        try:
            return Dialect.uuid(self.raw_id)
        except ValueError:  # an id edited into something else is reported, not a crash
            return None


# Why raw rows: verification reads every event since the last checkpoint; the
# ORM's hydration (a model, parsed dates, a JSON decode, enum lookups per
# row) cost several times the HMAC itself, and a start-up or hourly
# checkpoint over a large trail competed with requests for seconds.
_VERIFY_BATCH_SQL = (
    'SELECT "id", "seq", "workspace_id", "secret_id", "action", "user_id", "ip_address", "user_agent", '
    '"details", "success", "created_at", "prev_hash", "hash" FROM "secret_audit" '
    'WHERE "workspace_id" = ? AND "seq" >= ? AND "seq" <= ? ORDER BY "seq" LIMIT ?'
)
_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _uuid_text(value: object) -> str | None:
    """str(UUID(value)): what the chain hashed. SQLite stores exactly that
    text, so it is taken as it is when it already is canonical (parsing and
    printing 3 UUIDs an event was a third of verification)."""
    if value is None:
        return None
    if isinstance(value, str) and _CANONICAL_UUID.fullmatch(value):
        return value
    try:
        return str(Dialect.uuid(value))
    except ValueError:  # not a UUID at all (edited by hand): hashed as stored, so it does not verify
        return str(value)


def _stored_event(row: Sequence[Any], dialect: Dialect) -> _StoredEvent:
    event_id, seq, workspace_id, secret_id, action, user_id, ip, agent, details, success, created, prev, hash_ = row
    created_at = dialect.datetime(created)
    assert created_at is not None  # a NOT NULL column
    canonical = canonical_bytes(
        _uuid_text(event_id) or "",
        seq,
        workspace_id,
        _uuid_text(secret_id),
        action,
        _uuid_text(user_id),
        ip,
        agent,
        canonical_details(json.loads(details) if isinstance(details, str | bytes) else details),
        dialect.boolean(success),
        created_at.astimezone(UTC).isoformat(timespec="microseconds"),
    )
    return _StoredEvent(event_id, seq, prev, hash_, canonical)


def legacy_chain_hash(prev_hash: str, event: bytes) -> str:
    """The unkeyed hash of trails written before the keyed chain."""
    return hashlib.sha256(prev_hash.encode("ascii") + event).hexdigest()


class AuditReader:
    def __init__(self, server_keys: ServerKeys, sql: Sql) -> None:
        self._server_keys = server_keys
        self._sql = sql

    async def page(
        self,
        workspace_id: str,
        *,
        first: int,
        after: str | None,
        secret_id: UUID | None = None,
        action: AuditAction | None = None,
        success: bool | None = None,
    ) -> AuditPage:
        """Newest first, keyset-paginated by sequence number."""
        if not 1 <= first <= MAX_PAGE_SIZE:
            raise BadUserInput("first", f"must be between 1 and {MAX_PAGE_SIZE}")
        before = _cursor(after)
        if secret_id is not None:
            return await self._secret_page(workspace_id, secret_id, first, before, action, success)
        query = SecretAudit.filter(workspace_id=workspace_id)
        if action is not None:
            query = query.filter(action=action)
        if success is not None:
            query = query.filter(success=success)
        unfiltered = action is None and success is None

        async def count() -> int:
            if unfiltered:
                # A chain holds every seq from the purge point to the head:
                # no need to count a trail of millions row by row.
                head = await AuditChainHead.get_or_none(workspace_id=workspace_id)
                return head.seq - head.purged_through_seq if head is not None else 0
            return await query.count()

        paged = query.filter(seq__lt=before) if before is not None else query
        rows = await paged.order_by("-seq").limit(first + 1)
        return AuditPage(events=rows[:first], has_next_page=len(rows) > first, count=count)

    async def _secret_page(
        self,
        workspace_id: str,
        secret_id: UUID,
        first: int,
        before: int | None,
        action: AuditAction | None,
        success: bool | None,
    ) -> AuditPage:
        """One secret's events: the newest ones, after the per-secret index's
        reach, by sequence number; the rest through the index (see
        graphql_api.services.audit_index). The reach is read once, so the two
        parts neither overlap nor leave a gap even if the index moves on."""
        dialect = self._sql.dialect
        head = await self._sql.read_one(_INDEXED_THROUGH, [workspace_id])
        indexed_through = int(head[0]) if head is not None else 0
        conditions, values = "", list[object]()
        if action is not None:
            conditions += ' AND a."action" = ?'
            values.append(action.value)
        if success is not None:
            conditions += ' AND a."success" = ?'
            values.append(dialect.bool_param(success))
        secret = dialect.uuid_param(secret_id)
        below = [] if before is None else [before]
        newest = ' AND a."seq" < ?' if before is not None else ""
        rows = await self._sql.read(
            f'{_TAIL_EVENTS}{conditions}{newest} ORDER BY a."seq" DESC LIMIT ?',
            [workspace_id, indexed_through, secret, *values, *below, first + 1],
        )
        if len(rows) <= first:
            indexed_newest = ' AND r."seq" < ?' if before is not None else ""
            rows += await self._sql.read(
                f'{_INDEXED_EVENTS}{conditions}{indexed_newest} ORDER BY r."seq" DESC LIMIT ?',
                [secret, workspace_id, indexed_through, *values, *below, first + 1 - len(rows)],
            )
        events = [committed_event(row, dialect) for row in rows]

        async def count() -> int:
            tail = await self._sql.read_one(
                f"SELECT COUNT(*) FROM ({_TAIL_EVENTS}{conditions}) t", [workspace_id, indexed_through, secret, *values]
            )
            indexed = await self._sql.read_one(
                f"SELECT COUNT(*) FROM ({_INDEXED_EVENTS}{conditions}) t",
                [secret, workspace_id, indexed_through, *values],
            )
            return int(tail[0] if tail else 0) + int(indexed[0] if indexed else 0)

        return AuditPage(events=events[:first], has_next_page=len(events) > first, count=count)

    async def last_accessed(self, secret_ids: Sequence[UUID]) -> dict[UUID, datetime]:
        """When each secret's value was last read (successfully)."""
        if not secret_ids:
            return {}
        dialect = self._sql.dialect
        marks = ", ".join("?" for _ in secret_ids)
        ids = [dialect.uuid_param(secret_id) for secret_id in secret_ids]
        accessed = [AuditAction.ACCESSED.value, dialect.bool_param(True)]
        found: dict[UUID, datetime] = {}
        for statement in (_LAST_ACCESSED_INDEXED, _LAST_ACCESSED_TAIL):
            for secret, last in await self._sql.read(statement.format(marks=marks), [*ids, *accessed]):
                key, moment = dialect.uuid(secret), dialect.datetime(last)
                if key is not None and moment is not None and (key not in found or moment > found[key]):
                    found[key] = moment
        return found

    async def verify(
        self,
        workspace_id: str,
        checkpoint: Checkpoint | None = None,
        *,
        since: Checkpoint | None = None,
        pace: Callable[[], Awaitable[None]] = yield_now,
    ) -> IntegrityReport:
        """Recompute the chain from the oldest kept event to the head.

        The first event that does not fit is named (the newest kept event
        when the end was cut off); `reason` says what is wrong. A retention
        purge that moved the start of the chain while this ran is not a
        finding: the check runs again from the new start.

        `pace` is awaited after every VERIFY_SLICE events (graphql_api/services/pacing.py).
        """
        for _attempt in range(3):
            report, purged_through = await self._verify_once(workspace_id, checkpoint, since, pace)
            if report.valid:
                return report
            head = await AuditChainHead.get_or_none(workspace_id=workspace_id)
            if head is None or head.purged_through_seq == purged_through:
                return report
        return report

    async def _verify_once(
        self,
        workspace_id: str,
        checkpoint: Checkpoint | None,
        since: Checkpoint | None,
        pace: Callable[[], Awaitable[None]],
    ) -> tuple[IntegrityReport, int | None]:
        head = await AuditChainHead.get_or_none(workspace_id=workspace_id)
        report = await self._check(workspace_id, checkpoint, head, since, pace)
        return report, head.purged_through_seq if head else None

    async def _check(
        self,
        workspace_id: str,
        checkpoint: Checkpoint | None,
        head: AuditChainHead | None,
        since: Checkpoint | None,
        pace: Callable[[], Awaitable[None]],
    ) -> IntegrityReport:
        keys = self._server_keys.keys
        if head is None:
            if await Workspace.exists(id=workspace_id) or await SecretAudit.exists(workspace_id=workspace_id):
                # Every workspace starts its chain when it is created.
                return IntegrityReport(False, 0, None, None, None, "the workspace's audit chain head is missing")
            if checkpoint is not None and checkpoint.seq > 0:
                return IntegrityReport(
                    False, 0, None, None, 0, "the workspace has no audit chain, but the checkpoint names one"
                )
            return IntegrityReport(True, 0, None, None, 0)
        if head.head_mac != head_mac(keys, workspace_id, head.seq, head.hash):
            return IntegrityReport(False, 0, None, None, head.seq, "the chain head was altered outside Strongroom")
        if head.purge_mac != purge_mac(keys, workspace_id, head.purged_through_seq, head.purged_through_hash):
            return IntegrityReport(
                False, 0, None, None, head.seq, "the retention purge point was altered outside Strongroom"
            )
        if checkpoint is not None:
            if checkpoint.seq > head.seq:
                return IntegrityReport(
                    False,
                    0,
                    None,
                    head.hash,
                    head.seq,
                    f"the trail ends at event {head.seq}, before the checkpoint's event {checkpoint.seq}: "
                    "newer events were removed",
                )
            if checkpoint.seq == head.purged_through_seq and checkpoint.head_hash != head.purged_through_hash:
                return IntegrityReport(
                    False, 0, None, None, head.seq, "the checkpoint's event was rewritten before it was purged"
                )
        expected_prev = head.purged_through_hash
        expected_seq = head.purged_through_seq + 1
        if since is not None and since.seq > head.purged_through_seq:
            # From an event already verified (the last signed checkpoint):
            # the events after it must chain onto the hash it signed.
            if since.seq > head.seq:
                return IntegrityReport(
                    False,
                    0,
                    None,
                    head.hash,
                    head.seq,
                    f"the trail ends at event {head.seq}, before the verified event {since.seq}: newer events were removed",
                )
            expected_prev, expected_seq = since.head_hash, since.seq + 1
            if since.seq == head.seq and head.hash != since.head_hash:
                return IntegrityReport(
                    False, 0, None, None, head.seq, "the chain head no longer matches the verified event"
                )
        checked = 0
        last: _StoredEvent | None = None
        dialect = self._sql.dialect
        first_seq = expected_seq
        while expected_seq <= head.seq:
            # Only up to the head as read: events appended while this runs
            # belong to a later head.
            rows = await self._sql.read(_VERIFY_BATCH_SQL, (workspace_id, expected_seq, head.seq, VERIFY_BATCH))
            if not rows:
                break
            for row in rows:
                if checked and checked % VERIFY_SLICE == 0:
                    await pace()
                event = _stored_event(row, dialect)
                checked += 1
                if event.seq != expected_seq or event.prev_hash != expected_prev:
                    return IntegrityReport(
                        False,
                        checked,
                        event.id,
                        expected_prev if checked > 1 else None,
                        head.seq,
                        "an event is missing or out of order before this one",
                    )
                if keys.chain_hash(event.prev_hash, event.canonical) != event.hash:
                    return IntegrityReport(
                        False,
                        checked,
                        event.id,
                        expected_prev if checked > 1 else None,
                        head.seq,
                        "this event was changed after it was written",
                    )
                if checkpoint is not None and event.seq == checkpoint.seq and event.hash != checkpoint.head_hash:
                    return IntegrityReport(
                        False,
                        checked,
                        event.id,
                        expected_prev,
                        head.seq,
                        "the event the checkpoint names is not the one it signed",
                    )
                expected_prev, expected_seq, last = event.hash, event.seq + 1, event
        if head.seq != expected_seq - 1 or head.hash != expected_prev:
            # Events were removed from the end of the chain.
            return IntegrityReport(
                False,
                checked,
                last.id if last else None,
                expected_prev if last else None,
                head.seq,
                "the newest events are missing",
            )
        # The per-secret index is derived from the trail, outside the chain:
        # an entry deleted by hand would hide an event from its secret's
        # history while the chain still verified.
        reach = min(head.indexed_through_seq, head.seq)
        if reach >= first_seq:
            missing = await self._sql.read_one(_MISSING_FROM_INDEX, [workspace_id, first_seq, reach])
            if missing is not None:
                return IntegrityReport(
                    False,
                    checked,
                    dialect.uuid(missing[0]),
                    None,
                    head.seq,
                    "this event is missing from the per-secret index: its secret's history does not show it",
                )
        reason = None
        if checkpoint is not None and checkpoint.seq < head.purged_through_seq:
            reason = "the checkpoint is older than the oldest kept event (retention); checked from there"
        return IntegrityReport(
            True, checked, None, last.hash if last else head.purged_through_hash if head.seq else None, head.seq, reason
        )

    async def upgrade_legacy_chains(self, connection: BaseDBAsyncClient, keys: DerivedKeys) -> int:
        """Re-chain trails written before the keyed chain, inside the
        transaction that stores the new server key (so it happens once).

        A legacy chain that verifies under its old unkeyed hash is re-chained
        under the key; one that does not is left as it is, so verification
        keeps reporting it. Returns how many events were re-chained.
        """
        dialect = dialect_of_connection(connection)
        _count, heads = await connection.execute_query(
            dialect.statement(
                'SELECT "workspace_id", "seq", "hash", "purged_through_seq", "purged_through_hash" FROM "audit_chain_head"'
            ),
            [],
        )
        rechained = 0
        for workspace_id, seq, hash_, purged_seq, purged_hash in heads:
            events = await SecretAudit.filter(workspace_id=workspace_id).using_db(connection).order_by("seq")
            prev, expected, intact = purged_hash, purged_seq + 1, True
            for event in events:
                if (
                    event.seq != expected
                    or event.prev_hash != prev
                    or legacy_chain_hash(prev, _event_bytes(event)) != event.hash
                ):
                    intact = False
                    break
                prev, expected = event.hash, event.seq + 1
            intact = intact and prev == hash_ and expected - 1 == seq
            new_prev = purged_hash
            updates = []
            if intact:
                for event in events:
                    digest = keys.chain_hash(new_prev, _event_bytes(event))
                    updates.append([new_prev, digest, dialect.uuid_param(event.id)])
                    new_prev = digest
                rechained += len(updates)
            if updates:
                await connection.execute_many(
                    dialect.statement('UPDATE "secret_audit" SET "prev_hash" = ?, "hash" = ? WHERE "id" = ?'), updates
                )
            final = new_prev if intact else hash_
            await connection.execute_query(
                dialect.statement(
                    'UPDATE "audit_chain_head" SET "hash" = ?, "head_mac" = ?, "purge_mac" = ? WHERE "workspace_id" = ?'
                ),
                [
                    final,
                    head_mac(keys, workspace_id, seq, final),
                    purge_mac(keys, workspace_id, purged_seq, purged_hash),
                    workspace_id,
                ],
            )
        return rechained


__all__ = ["GENESIS_HASH", "AuditPage", "AuditReader", "Checkpoint", "IntegrityReport", "legacy_chain_hash"]
