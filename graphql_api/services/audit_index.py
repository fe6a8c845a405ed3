"""Filling the per-secret index of the audit trail behind the chain head.

Events are appended to `secret_audit` in sequence order only; which events
concern which secret is recorded in `audit_secret_index` afterwards, in bulk
(models.AuditSecretIndex says why: an index by secret inside every append
made each batch write a page per secret it touched). A workspace's
`indexed_through_seq` says how far the index reaches; readers find the events
after it by sequence number (graphql_api.services.audit_reader), so what
they answer never depends on how far behind the index is.

When: as soon as this process has appended `MERGE_AT` events to a workspace
since its last pass (the listener below counts them after each commit), and
on a timer for every workspace (events written by other replicas, or before
a restart). A pass indexes at most `MERGE_BATCH` events per transaction,
and on SQLite at most `SECRETS_PER_TRANSACTION` secrets' (its transactions
hold the one writer every audit batch needs).

Safe on several replicas at once: entries are inserted with ON CONFLICT DO
NOTHING, and `indexed_through_seq` only moves by compare-and-set, so two
passes over the same events leave one entry each and the later pass's update
finds nothing to do.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

from tortoise.transactions import in_transaction

from graphql_api.services.audit import CommittedEvent
from graphql_api.sql import Sql, dialect_of_connection

logger = logging.getLogger("strongroom.audit")

MERGE_AT = 2_048  # events appended by this process before a workspace's pass
MERGE_BATCH = 2_048  # events indexed per transaction at most
# SQLite has one writer, and a pass's transaction holds it: every audit batch
# (so every audited read) waits behind it. What a pass costs is the index
# pages it dirties, about one per distinct secret, so on SQLite a
# transaction stops at this many secrets. Measured with reads spread over
# 1,000 secrets: a 2,048-event pass touched ~870 pages and held the writer
# 20-40 ms (the reads' p99 grew with it); bounded to 256, about 5 ms alone
# and 6-10 ms under load, run as one hand-off to the connection's thread.
# Not lower: a bulk read of 200 secrets repeated stays one transaction per
# pass (128 split it into sixteen, each dirtying the same pages again).
SECRETS_PER_TRANSACTION = 256

_HEAD = 'SELECT "seq", "indexed_through_seq" FROM "audit_chain_head" WHERE "workspace_id" = ?'
_BEHIND = 'SELECT "workspace_id" FROM "audit_chain_head" WHERE "seq" > "indexed_through_seq" ORDER BY "workspace_id"'
_SECRETS_COUNT = (
    'SELECT COUNT(DISTINCT "secret_id") FROM "secret_audit"'
    ' WHERE "workspace_id" = ? AND "seq" > ? AND "seq" <= ? AND "secret_id" IS NOT NULL'
)
_SECRETS_AFTER = (
    'SELECT "seq", "secret_id" FROM "secret_audit"'
    ' WHERE "workspace_id" = ? AND "seq" > ? AND "seq" <= ? AND "secret_id" IS NOT NULL ORDER BY "seq"'
)
_FILL = (
    'INSERT INTO "audit_secret_index" ("secret_id", "workspace_id", "seq")'
    ' SELECT "secret_id", "workspace_id", "seq" FROM "secret_audit"'
    ' WHERE "workspace_id" = ? AND "seq" > ? AND "seq" <= ? AND "secret_id" IS NOT NULL ORDER BY "seq"'
    " ON CONFLICT DO NOTHING"
)
_ADVANCE = (
    'UPDATE "audit_chain_head" SET "indexed_through_seq" = ? WHERE "workspace_id" = ? AND "indexed_through_seq" = ?'
)


@dataclass(frozen=True)
class _SqliteFill:
    """One transaction of a pass on SQLite, run in the connection's thread
    (Sql.in_sqlite_writer): whether it moved `indexed_through_seq`."""

    workspace_id: str
    after: int
    upto: int

    def run(self, connection: sqlite3.Connection) -> bool:
        connection.execute("BEGIN IMMEDIATE")
        try:
            connection.execute(_FILL, [self.workspace_id, self.after, self.upto])
            moved = connection.execute(_ADVANCE, [self.upto, self.workspace_id, self.after]).rowcount == 1
            connection.execute("COMMIT" if moved else "ROLLBACK")
        except BaseException:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise
        return moved


class AuditIndex:
    """Keeps `audit_secret_index` close behind each workspace's head; an
    AuditListener (after_commit counts what this process appended)."""

    def __init__(
        self,
        sql: Sql,
        merge_at: int = MERGE_AT,
        merge_batch: int = MERGE_BATCH,
        secrets_per_transaction: int = SECRETS_PER_TRANSACTION,
    ) -> None:
        self._sql = sql
        self._merge_at = merge_at
        self._merge_batch = merge_batch
        self._secrets_per_transaction = secrets_per_transaction
        self._appended: dict[str, int] = {}
        self._passes: dict[str, asyncio.Task[int]] = {}

    async def before_commit(self, events: Sequence[CommittedEvent], connection: object) -> None:
        return None

    def after_commit(self, events: Sequence[CommittedEvent]) -> None:
        for event in events:
            self._appended[event.workspace_id] = self._appended.get(event.workspace_id, 0) + 1
        for workspace_id in {event.workspace_id for event in events}:
            if self._appended[workspace_id] >= self._merge_at and workspace_id not in self._passes:
                self._start_pass(workspace_id)

    def _start_pass(self, workspace_id: str) -> asyncio.Task[int]:
        """A pass as a task of its own, which nothing cancels: cancelled while
        it opens its transaction, Tortoise's SQLite client would keep its
        connection lock for ever (every later write then waits). `drain`
        waits for it instead. In a context of its own, too: the commit that
        started it may have run in a request's, whose ORM transaction (a
        context variable) a pass must never join."""
        self._appended[workspace_id] = 0
        task = asyncio.get_running_loop().create_task(
            self._logged_pass(workspace_id), name="audit-index", context=contextvars.Context()
        )
        self._passes[workspace_id] = task
        task.add_done_callback(lambda _task: self._passes.pop(workspace_id, None))
        return task

    async def _logged_pass(self, workspace_id: str) -> int:
        try:
            return await self.catch_up(workspace_id)
        except Exception as exc:  # the next pass (or the timer) tries again; readers are unaffected
            logger.warning("indexing the audit trail of %s failed: %s", workspace_id, type(exc).__name__)
            return 0

    async def catch_up(self, workspace_id: str, through: int | None = None) -> int:
        """Index the events of `workspace_id` up to its head as this pass
        first reads it (or to event `through`); returns how many events the
        pass covered.

        A pass never chases the head: under steady load it would index each
        new batch in a transaction of its own, as fast as batches commit, and
        the per-secret pages it writes are the cost the index was moved out
        of the append to amortise. Measured on SQLite with 100,000 secrets:
        a chasing pass ran 588 transactions for 600 bulk reads, and every
        read waited about 5 ms for the writer lock behind it.
        """
        covered = 0
        while True:
            head = await self._sql.read_one(_HEAD, [workspace_id])
            if head is None:
                return covered
            seq, indexed_through = int(head[0]), int(head[1])
            if through is None:
                through = seq
            seq = min(seq, through)
            if indexed_through >= seq:
                return covered
            upto = await self._transaction_end(
                workspace_id, indexed_through, min(seq, indexed_through + self._merge_batch)
            )
            if not await self._index(workspace_id, indexed_through, upto):
                return covered  # another pass (another replica) moved it first; it goes on from there
            covered += upto - indexed_through

    async def _index(self, workspace_id: str, after: int, upto: int) -> bool:
        """Index events (after, upto] in one transaction; False when the reach
        was no longer `after`: another pass indexed them (on SQLite this
        transaction then rolls back; on PostgreSQL its inserts found the
        same entries there and did nothing)."""
        if self._sql.dialect.name == "sqlite":
            return await self._sql.in_sqlite_writer(_SqliteFill(workspace_id, after, upto).run)
        async with in_transaction(self._sql.connection_name) as connection:
            dialect = dialect_of_connection(connection)
            await connection.execute_query(dialect.statement(_FILL), [workspace_id, after, upto])
            moved, _rows = await connection.execute_query(dialect.statement(_ADVANCE), [upto, workspace_id, after])
        return bool(moved)

    async def _transaction_end(self, workspace_id: str, after: int, upto: int) -> int:
        """Where one transaction of a pass over (after, upto] stops: on SQLite
        before the event that would make it touch more than
        `secrets_per_transaction` secrets' pages (read on the reading
        connection, outside the writer); on PostgreSQL, which locks rows, at
        `upto`."""
        if self._sql.dialect.name != "sqlite":
            return upto
        counted = await self._sql.read_one(_SECRETS_COUNT, [workspace_id, after, upto])
        if counted is not None and int(counted[0]) <= self._secrets_per_transaction:
            return upto  # counted by SQLite, without a row per event to Python
        seen: set[object] = set()
        for seq, secret_id in await self._sql.read(_SECRETS_AFTER, [workspace_id, after, upto]):
            if secret_id not in seen:
                if len(seen) == self._secrets_per_transaction:
                    return int(seq) - 1
                seen.add(secret_id)
        return upto

    async def catch_up_all(self) -> int:
        """Every workspace whose index is behind its head (the periodic job);
        returns how many events the passes covered. Cancelling this (the
        job's stop) leaves the passes running for `drain`."""
        behind = [str(row[0]) for row in await self._sql.read(_BEHIND)]
        passes = [self._start_pass(workspace_id) for workspace_id in behind if workspace_id not in self._passes]
        if not passes:
            return 0
        return sum(await asyncio.shield(asyncio.gather(*passes)))

    async def drain(self) -> None:
        """Wait for passes under way (shutdown)."""
        if self._passes:
            await asyncio.gather(*list(self._passes.values()), return_exceptions=True)
