"""Appending to the keyed, hash-chained audit trail.

Each workspace has one chain: ``hash = HMAC(chain key, prev_hash || canonical
event)`` with a monotonic ``seq``; the chain key is derived from the server
key (graphql_api.services.server_keys), which the database never holds in the
clear. The chain head row also carries a MAC over (workspace, seq, hash), so
moving the head back to hide the newest events needs the key too.

Two ways in:

- `transaction()` + `append()`: a mutation appends its event inside its own
  transaction, so the change and its event commit (or fail) together.
- `record()`: standalone events (value reads, listings, refusals) go through
  group commit: callers' events share one transaction, and each caller
  returns only once its batch has committed. A value is answered after that.
  `record_nowait()` queues an event without waiting for its commit (refusals:
  an answer must not take longer because there was something to record).

Group commit never lets one request fail another's: every field is bounded
and normalised before a record joins a batch (`bounded`), and if a batch
still fails, its callers' records are retried each in a transaction of their
own, so only the faulty one gets AUDIT_UNAVAILABLE.

A batch is flushed as soon as no other flush is running (the requests that
arrive meanwhile form the next batch), so a lone request never waits for
company and a busy server commits hundreds of events per fsync. The chain
head is locked for each workspace touched (SELECT ... FOR UPDATE on
PostgreSQL; SQLite serializes writers), so writers and replicas serialize per
workspace. Committed events are then handed to the live-event publisher and
the audit sinks. Details never hold a value, key or token: callers pass
names, versions and ids only.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple, Protocol
from uuid import UUID

from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from graphql_api.errors import AuditUnavailable, Conflict
from graphql_api.ids import uuid7s
from graphql_api.services.server_keys import DerivedKeys, ServerKeys
from graphql_api.sql import SQLITE, Dialect, dialect_of_connection, execute_rows, run_in_sqlite_thread
from models import AuditAction

logger = logging.getLogger("strongroom.audit")

GENESIS_HASH = "0" * 64
GROUP_COMMIT_ROWS = 512  # a batch is cut at this many rows

# Bounds every record is normalised to before it joins a shared batch.
MAX_USER_AGENT = 512
MAX_IP_ADDRESS = 64
MAX_DETAIL_TEXT = 256
MAX_DETAIL_ITEMS = 64
MAX_DETAIL_DEPTH = 4
TRUNCATED = "…[truncated]"

UNAVAILABLE_MESSAGE = "the audit event could not be recorded; the operation was not performed"


@dataclass(frozen=True)
class Actor:
    """Who is acting and from where, as recorded on every event."""

    user_id: UUID | None
    ip_address: str | None = None
    user_agent: str | None = None


SYSTEM_ACTOR = Actor(user_id=None, ip_address=None, user_agent="strongroom")


@dataclass(frozen=True)
class AuditRecord:
    workspace_id: str
    action: AuditAction
    actor: Actor
    secret_id: UUID | None = None
    success: bool = True
    details: Mapping[str, Any] = field(default_factory=dict)


class CommittedEvent(NamedTuple):
    """An event as stored (the fields of `secret_audit`).

    A named tuple, immutable like the frozen dataclass it was and made in
    half the time: a bulk read makes two hundred per batch.
    """

    id: UUID
    seq: int
    workspace_id: str
    secret_id: UUID | None
    action: AuditAction
    user_id: UUID | None
    ip_address: str | None
    user_agent: str | None
    details: Mapping[str, Any]
    success: bool
    created_at: datetime
    prev_hash: str
    hash: str


# The columns of `secret_audit` in CommittedEvent's order, for raw reads.
EVENT_COLUMNS = (
    '"id", "seq", "workspace_id", "secret_id", "action", "user_id", "ip_address", "user_agent",'
    ' "details", "success", "created_at", "prev_hash", "hash"'
)


def committed_event(r: Sequence[Any], dialect: Dialect) -> CommittedEvent:
    """The event in a row of EVENT_COLUMNS."""
    details = r[8]
    return CommittedEvent(
        id=dialect.uuid(r[0]),  # type: ignore[arg-type]  # never NULL
        seq=int(r[1]),
        workspace_id=str(r[2]),
        secret_id=dialect.uuid(r[3]),
        action=AuditAction(r[4]),
        user_id=dialect.uuid(r[5]),
        ip_address=r[6],
        user_agent=r[7],
        details=json.loads(details) if isinstance(details, (str, bytes)) else details,
        success=dialect.boolean(r[9]),
        created_at=dialect.datetime(r[10]),  # type: ignore[arg-type]  # never NULL
        prev_hash=str(r[11]),
        hash=str(r[12]),
    )


class AuditListener(Protocol):
    """Told about events: the live-event publishers and the audit sinks.

    `before_commit` runs inside the writing transaction (PostgreSQL NOTIFY is
    sent there, so it is delivered exactly when the events commit);
    `after_commit` runs once they are committed and must not block.
    """

    async def before_commit(self, events: Sequence[CommittedEvent], connection: BaseDBAsyncClient) -> None: ...

    def after_commit(self, events: Sequence[CommittedEvent]) -> None: ...


# ---- normalisation --------------------------------------------------------


def bounded_text(value: object, limit: int) -> str:
    """`value` as text that any database stores: no NUL, no lone surrogate,
    at most `limit` characters (longer text is cut and marked)."""
    text = value if isinstance(value, str) else str(value)
    if "\x00" in text:
        text = text.replace("\x00", "\ufffd")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", errors="replace").decode("utf-8")
    if len(text) > limit:
        text = text[: max(0, limit - len(TRUNCATED))] + TRUNCATED
    return text


def _bounded_json(value: Any, depth: int) -> Any:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value if abs(value) < 2**63 else bounded_text(value, MAX_DETAIL_TEXT)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        return bounded_text(value, MAX_DETAIL_TEXT)
    if depth >= MAX_DETAIL_DEPTH:
        return TRUNCATED
    if isinstance(value, Mapping):
        items = list(value.items())
        out = {bounded_text(k, 64): _bounded_json(v, depth + 1) for k, v in items[:MAX_DETAIL_ITEMS]}
        if len(items) > MAX_DETAIL_ITEMS:
            out["_truncated"] = len(items) - MAX_DETAIL_ITEMS
        return out
    if isinstance(value, (list, tuple, set, frozenset)):
        values = list(value)
        bounded = [_bounded_json(v, depth + 1) for v in values[:MAX_DETAIL_ITEMS]]
        if len(values) > MAX_DETAIL_ITEMS:
            bounded.append(TRUNCATED)
        return bounded
    return bounded_text(value, MAX_DETAIL_TEXT)


def _storable(text: str, limit: int) -> bool:
    """Text any database stores as it is: short, ASCII, no NUL (anything
    else takes the careful path through bounded_text)."""
    return len(text) <= limit and text.isascii() and "\x00" not in text


def _plain(value: object) -> bool:
    if value is None or isinstance(value, bool):
        return True
    if isinstance(value, int):
        return abs(value) < 2**63
    return isinstance(value, str) and _storable(value, MAX_DETAIL_TEXT)


def bounded(record: AuditRecord) -> AuditRecord:
    """The record with every field within its column's bounds."""
    actor = record.actor
    # The common case (our own short details, an ordinary user agent) needs no copy.
    if (
        len(record.workspace_id) <= 63
        and (actor.user_agent is None or _storable(actor.user_agent, MAX_USER_AGENT))
        and (actor.ip_address is None or _storable(actor.ip_address, MAX_IP_ADDRESS))
        and len(record.details) <= MAX_DETAIL_ITEMS
        and all(isinstance(k, str) and _storable(k, 64) and _plain(v) for k, v in record.details.items())
    ):
        return record
    ip_address = bounded_text(actor.ip_address, MAX_IP_ADDRESS) if actor.ip_address is not None else None
    user_agent = bounded_text(actor.user_agent, MAX_USER_AGENT) if actor.user_agent is not None else None
    details = _bounded_json(dict(record.details), 0)
    return AuditRecord(
        workspace_id=bounded_text(record.workspace_id, 63),
        action=record.action,
        actor=Actor(actor.user_id, ip_address, user_agent),
        secret_id=record.secret_id,
        success=record.success,
        details=details,
    )


# ---- the chain --------------------------------------------------------------


# Made once: json.dumps with options builds a new encoder per call, which
# showed in the profile of a 200-event batch.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
_string = json.encoder.encode_basestring  # JSON string as json.dumps writes it with ensure_ascii=False


def _text_or_null(value: str | None) -> str:
    return "null" if value is None else _string(value)


def canonical_event(
    *,
    event_id: UUID,
    seq: int,
    workspace_id: str,
    secret_id: UUID | None,
    action: str,
    user_id: UUID | None,
    ip_address: str | None,
    user_agent: str | None,
    details: Mapping[str, Any],
    success: bool,
    created_at: datetime,
) -> bytes:
    """The bytes chained for an event; any change to a stored field changes them."""
    return canonical_bytes(
        str(event_id),
        seq,
        workspace_id,
        str(secret_id) if secret_id else None,
        action,
        str(user_id) if user_id else None,
        ip_address,
        user_agent,
        canonical_details(details),
        success,
        created_at.isoformat(timespec="microseconds"),
    )


# The keys of each shape of details seen, sorted and printed: events have a
# handful of shapes (an ACCESSED event's is name, version and bulk).
_DETAIL_SHAPES: dict[tuple[Any, ...], tuple[tuple[str, str], ...]] = {}
_DETAIL_SHAPES_KEPT = 256


def canonical_details(details: Mapping[str, Any]) -> str:
    """The details as they are chained: JSON, sorted keys, no spaces, UTF-8 as is.

    The common shape (a flat object of names, versions and flags: every
    ACCESSED event) is written by hand, byte for byte what the encoder writes
    (a property test compares them); anything else goes to the encoder.
    Why: the encoder with sort_keys was a sixth of chaining a 200-event batch.
    """
    shape = tuple(details)
    order = _DETAIL_SHAPES.get(shape)
    if order is None:
        if not all(type(k) is str for k in shape):
            return _CANONICAL.encode(details)
        order = tuple((key, f"{_string(key)}:") for key in sorted(shape))
        if len(_DETAIL_SHAPES) < _DETAIL_SHAPES_KEPT:
            _DETAIL_SHAPES[shape] = order
    parts = []
    for key, prefix in order:
        value = details[key]
        kind = type(value)
        if kind is str:
            text = _string(value)
        elif kind is bool:
            text = "true" if value else "false"
        elif kind is int:
            text = int.__repr__(value)
        elif value is None:
            text = "null"
        else:
            return _CANONICAL.encode(details)
        parts.append(prefix + text)
    return "{" + ",".join(parts) + "}"


def canonical_bytes(
    event_id: str,
    seq: int,
    workspace_id: str,
    secret_id: str | None,
    action: str,
    user_id: str | None,
    ip_address: str | None,
    user_agent: str | None,
    details_json: str,
    success: bool,
    created_at: str,
) -> bytes:
    """json.dumps of the event's fields with sorted keys and no spaces, byte
    for byte (tests/services/test_audit_hash.py compares them on generated
    events), written out by hand: it is computed for every event appended,
    two hundred for one bulk read, and json.dumps of a dict cost twice this."""
    return (
        f'{{"action":{_string(action)},"created_at":{_string(created_at)},"details":{details_json},'
        f'"id":{_string(event_id)},"ip_address":{_text_or_null(ip_address)},"secret_id":{_text_or_null(secret_id)},'
        f'"seq":{int(seq)},"success":{"true" if success else "false"},"user_agent":{_text_or_null(user_agent)},'
        f'"user_id":{_text_or_null(user_id)},"workspace_id":{_string(workspace_id)}}}'
    ).encode()


def head_mac(keys: DerivedKeys, workspace_id: str, seq: int, hash_: str) -> str:
    return keys.mac(b"head", workspace_id.encode(), str(seq).encode(), hash_.encode())


def purge_mac(keys: DerivedKeys, workspace_id: str, seq: int, hash_: str) -> str:
    return keys.mac(b"purge", workspace_id.encode(), str(seq).encode(), hash_.encode())


_INSERT_EVENT = (
    'INSERT INTO "secret_audit" ("id", "seq", "workspace_id", "secret_id", "action", "user_id", "ip_address",'
    ' "user_agent", "details", "success", "created_at", "prev_hash", "hash")'
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


class MissingChain(Exception):
    """A workspace's chain head is gone: nothing is appended (fail closed)."""

    def __init__(self, workspace_id: str) -> None:
        super().__init__(f"workspace {workspace_id!r} has no audit chain head")
        self.workspace_id = workspace_id


@dataclass
class SqliteBatch:
    """The statements of one SQLite group commit, ready to run."""

    head_updates: list[list[Any]]  # new seq, hash, MAC, workspace, expected seq, expected hash
    rows: list[list[Any]]
    touched: list[list[Any]] = field(default_factory=list)
    # Changes committed with the events (new secrets): (statement, rows of values).
    writes: list[tuple[str, list[list[Any]]]] = field(default_factory=list)

    def run(self, connection: sqlite3.Connection) -> bool:
        """Run in the connection's thread; False (nothing written) when a
        head was not what the batch was computed against."""
        connection.execute("BEGIN IMMEDIATE")
        try:
            for statement, values in self.writes:
                connection.executemany(statement, values)
            for values in self.head_updates:
                if connection.execute(_GUARDED_HEAD_UPDATE, values).rowcount != 1:
                    connection.execute("ROLLBACK")
                    return False
            connection.executemany(_INSERT_EVENT, self.rows)
            if self.touched:
                connection.executemany(_TOUCH_TOKEN, self.touched)
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        return True


@dataclass
class _ChainPlan:
    events: list[CommittedEvent]
    head_updates: list[tuple[int, str, str, str]]  # seq, hash, head MAC, workspace
    rows: list[list[Any]]  # the events as _INSERT_EVENT's values


_SELECT_HEAD = 'SELECT "seq", "hash" FROM "audit_chain_head" WHERE "workspace_id" = ?'
_START_HEAD = (
    'INSERT INTO "audit_chain_head" ("workspace_id", "seq", "hash", "purged_through_seq",'
    ' "purged_through_hash", "head_mac", "purge_mac") VALUES (?, 0, ?, 0, ?, ?, ?)'
)
_UPDATE_HEAD = 'UPDATE "audit_chain_head" SET "seq" = ?, "hash" = ?, "head_mac" = ? WHERE "workspace_id" = ?'
_GUARDED_HEAD_UPDATE = _UPDATE_HEAD + ' AND "seq" = ? AND "hash" = ?'
_TOUCH_TOKEN = 'UPDATE "api_token" SET "last_used_at" = ? WHERE "id" = ?'


class AuditChain:
    """Appends records to their workspaces' chains inside a transaction."""

    def __init__(self, server_keys: ServerKeys, now: Callable[[], datetime]) -> None:
        self._server_keys = server_keys
        self._now = now
        # The heads this process last committed (SQLite group commit): a hint
        # only, checked by every guarded update, so a head moved by anyone
        # else (a mutation, another process) costs a retry, never a fork.
        self.known_heads: dict[str, tuple[int, str] | None] = {}

    def _start_values(self, workspace_id: str) -> list[Any]:
        keys = self._server_keys.keys
        return [
            workspace_id,
            GENESIS_HASH,
            GENESIS_HASH,
            head_mac(keys, workspace_id, 0, GENESIS_HASH),
            purge_mac(keys, workspace_id, 0, GENESIS_HASH),
        ]

    async def start(self, workspace_id: str, connection: BaseDBAsyncClient) -> None:
        dialect = dialect_of_connection(connection)
        await connection.execute_query(dialect.statement(_START_HEAD), self._start_values(workspace_id))

    def plan(
        self, records: Sequence[AuditRecord], heads: Mapping[str, tuple[int, str] | None], dialect: Dialect = SQLITE
    ) -> _ChainPlan:
        """Chain `records` (already bounded) in order onto `heads` (None: no
        chain yet), with the rows to insert in `dialect`. Denials for a
        workspace without a chain (one that does not exist) are dropped;
        nothing else is."""
        keys = self._server_keys.keys
        by_workspace: dict[str, list[AuditRecord]] = {}
        for record in records:
            by_workspace.setdefault(record.workspace_id, []).append(record)
        plan = _ChainPlan([], [], [])
        # One time for the batch: its events commit together.
        created_at = self._now()
        texts = _BatchTexts(dialect, created_at, len(records))
        for workspace_id in sorted(by_workspace):
            wanted = by_workspace[workspace_id]
            head = heads.get(workspace_id)
            if head is None:
                # Every workspace starts its chain when it is created: no
                # chain means no such workspace (a denial there is dropped),
                # or a chain deleted behind Strongroom's back, which is never
                # silently restarted from genesis.
                wanted = [r for r in wanted if r.action is not AuditAction.ACCESS_DENIED]
                if not wanted:
                    continue
                raise MissingChain(workspace_id)
            seq, prev = head
            for record in wanted:
                seq += 1
                event, row = self._chain(record, seq, prev, keys, texts)
                prev = event.hash
                plan.events.append(event)
                plan.rows.append(row)
            plan.head_updates.append((seq, prev, head_mac(keys, workspace_id, seq, prev), workspace_id))
        return plan

    async def append(self, records: Sequence[AuditRecord], connection: BaseDBAsyncClient) -> list[CommittedEvent]:
        """Chain `records` inside `connection`'s transaction (see `plan`)."""
        dialect = dialect_of_connection(connection)
        lock = " FOR UPDATE" if dialect.name == "postgres" else ""
        heads: dict[str, tuple[int, str] | None] = {}
        # One workspace after another in a fixed order: two batches that lock
        # the same heads lock them in the same order (no deadlock on PostgreSQL).
        for workspace_id in sorted({r.workspace_id for r in records}):
            _count, found = await connection.execute_query(dialect.statement(_SELECT_HEAD + lock), [workspace_id])
            heads[workspace_id] = (int(found[0][0]), str(found[0][1])) if found else None
        plan = self.plan(records, heads, dialect)
        for workspace_id in heads:
            self.known_heads.pop(workspace_id, None)  # this transaction may still roll back
        for update in plan.head_updates:
            await connection.execute_query(dialect.statement(_UPDATE_HEAD), list(update))
        if plan.events:
            await execute_rows(connection, _INSERT_EVENT, plan.rows)
        return plan.events

    def prepared_sqlite_batch(
        self, records: Sequence[AuditRecord], heads: Mapping[str, tuple[int, str] | None]
    ) -> tuple[list[CommittedEvent], SqliteBatch]:
        """Everything a batch computes (hashes, MACs, rows), done here, in the
        event loop's thread, against `heads` as last known; the statements
        then run in the database's thread without Python work in between."""
        plan = self.plan(records, heads)
        batch = SqliteBatch(
            head_updates=[
                [seq, hash_, mac, workspace_id, *(heads[workspace_id] or (0, GENESIS_HASH))]
                for seq, hash_, mac, workspace_id in plan.head_updates
            ],
            rows=plan.rows,
        )
        return plan.events, batch

    def _chain(
        self, record: AuditRecord, seq: int, prev_hash: str, keys: DerivedKeys, texts: _BatchTexts
    ) -> tuple[CommittedEvent, list[Any]]:
        """The event and its row; each id is printed once, for both."""
        event_id = texts.next_id()
        details = dict(record.details)
        details_json = canonical_details(details)
        actor = record.actor
        id_text = str(event_id)
        secret_text = str(record.secret_id) if record.secret_id else None
        user_text = texts.user(actor.user_id)
        action = record.action.value
        head, tail = texts.shared_parts(action, actor, user_text, record.workspace_id)
        # canonical_bytes, from the parts every event of one actor, action and
        # workspace in this batch shares (tests/services/test_audit_hash.py
        # compares the two); ids are hex and dashes, which JSON leaves as is.
        secret_json = "null" if secret_text is None else f'"{secret_text}"'
        canonical = (
            f'{head}{details_json},"id":"{id_text}","ip_address":{tail[0]},"secret_id":{secret_json},'
            f'"seq":{int(seq)},"success":{"true" if record.success else "false"},{tail[1]}'
        ).encode()
        digest = keys.chain_hash(prev_hash, canonical)
        event = CommittedEvent(
            id=event_id,
            seq=seq,
            workspace_id=record.workspace_id,
            secret_id=record.secret_id,
            action=record.action,
            user_id=actor.user_id,
            ip_address=actor.ip_address,
            user_agent=actor.user_agent,
            details=details,
            success=record.success,
            created_at=texts.created_at,
            prev_hash=prev_hash,
            hash=digest,
        )
        dialect = texts.dialect
        as_text = texts.uuids_as_text
        row = [
            id_text if as_text else dialect.uuid_param(event_id),
            seq,
            record.workspace_id,
            secret_text if as_text else dialect.uuid_param(record.secret_id),
            action,
            user_text if as_text else dialect.uuid_param(actor.user_id),
            actor.ip_address,
            actor.user_agent,
            dialect.json_param(details_json),
            texts.success if record.success else texts.failure,
            texts.created_param,
            prev_hash,
            digest,
        ]
        return event, row


class _BatchTexts:
    """What every event of one batch shares, printed once: its time, its
    booleans, the actors' ids (a bulk read is 200 events of one actor)."""

    def __init__(self, dialect: Dialect, created_at: datetime, events: int) -> None:
        self._ids = iter(uuid7s(events))
        self.dialect = dialect
        self.uuids_as_text = dialect.uuids_as_text
        self.created_at = created_at
        self.created = created_at.isoformat(timespec="microseconds")
        self.created_param = dialect.datetime_param(created_at)
        self.success, self.failure = dialect.bool_param(True), dialect.bool_param(False)
        self._users: dict[UUID, str] = {}
        self._parts: dict[tuple[str, Actor, str | None, str], tuple[str, tuple[str, str]]] = {}

    def next_id(self) -> UUID:
        return next(self._ids)

    def shared_parts(
        self, action: str, actor: Actor, user_text: str | None, workspace_id: str
    ) -> tuple[str, tuple[str, str]]:
        """canonical_bytes' text before the details, and the ip address's and
        the end's, for events of this batch by `actor` doing `action` in
        `workspace_id`: printed once for them all."""
        key = (action, actor, user_text, workspace_id)
        parts = self._parts.get(key)
        if parts is None:
            parts = self._parts[key] = (
                f'{{"action":{_string(action)},"created_at":{_string(self.created)},"details":',
                (
                    _text_or_null(actor.ip_address),
                    f'"user_agent":{_text_or_null(actor.user_agent)},"user_id":{_text_or_null(user_text)},'
                    f'"workspace_id":{_string(workspace_id)}}}',
                ),
            )
        return parts

    def user(self, user_id: UUID | None) -> str | None:
        if user_id is None:
            return None
        text = self._users.get(user_id)
        if text is None:
            text = self._users[user_id] = str(user_id)
        return text


# ---- the log: transactions and group commit ---------------------------------


async def _no_reads(statement: str, values: Sequence[Any]) -> list[Any]:
    raise RuntimeError("AuditLog has no read access configured")


@dataclass
class _Waiting:
    records: Sequence[AuditRecord]
    done: asyncio.Future[None] | None  # None: nobody waits (record_nowait)
    # What the records account for, committed with them: statements built by
    # `writes(dialect)`, and what a unique-key conflict on them means.
    writes: Callable[[Dialect], list[tuple[str, list[list[Any]]]]] | None = None
    # Whether a failed write met a unique key taken meanwhile (then CONFLICT
    # with this message), asked of the database, not read from an error text.
    conflict: tuple[str, Callable[[], Awaitable[bool]]] | None = None
    # When it joined the queue (time.perf_counter), for the commit-wait metric.
    enqueued: float = field(default_factory=time.perf_counter)


async def _taken(check: Callable[[], Awaitable[bool]]) -> bool:
    try:
        return await check()
    except Exception:  # cannot tell: the failure stays an audit failure
        return False


def _merged_writes(batch: Sequence[_Waiting], dialect: Dialect) -> list[tuple[str, list[list[Any]]]]:
    """The batch's writes, one executemany per statement, in first-seen order."""
    merged: dict[str, list[list[Any]]] = {}
    for waiting in batch:
        if waiting.writes is not None:
            for statement, values in waiting.writes(dialect):
                merged.setdefault(statement, []).extend(values)
    return list(merged.items())


class AuditLog:
    def __init__(
        self,
        *,
        enabled: bool,
        now: Callable[[], datetime],
        server_keys: ServerKeys,
        listeners: Sequence[AuditListener] = (),
        connection_name: str | None = None,
        sql_read: Callable[[str, Sequence[Any]], Awaitable[list[Any]]] | None = None,
    ) -> None:
        self.enabled = enabled
        self.connection_name = connection_name
        self._sql_read = sql_read or _no_reads
        self._now = now
        self.chain = AuditChain(server_keys, now)
        self.listeners = list(listeners)
        self._collecting: dict[int, list[CommittedEvent]] = {}
        self._batch: list[_Waiting] = []
        self._batch_rows = 0
        self._flush_pending = False
        self._flushing = False
        self._flushes: set[asyncio.Task[None]] = set()
        # Tokens whose last use is to be recorded with the next batch.
        self._touched: dict[UUID, datetime] = {}
        # Observability: group-commit batches and events committed, batches
        # that failed and were retried record by record.
        self.batches_committed = 0
        self.batched_events_committed = 0
        self.batches_split = 0
        # Told of each committed group-commit batch: its events, and when its
        # requests were queued (graphql_api.metrics).
        self.on_batch: Callable[[int, Sequence[float]], None] | None = None

    # ---- events inside a caller's transaction ------------------------------

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[BaseDBAsyncClient]:
        """A database transaction whose appended events reach the listeners
        once it has committed, never before and never if it rolls back."""
        events: list[CommittedEvent] = []
        async with in_transaction() as connection:
            self._collecting[id(connection)] = events
            try:
                yield connection
                for listener in self.listeners if events else ():
                    await listener.before_commit(events, connection)
            finally:
                self._collecting.pop(id(connection), None)
        self._announce(events)

    async def start_chain(self, workspace_id: str, connection: BaseDBAsyncClient) -> None:
        """Create a workspace's chain head; call in the workspace's creating transaction."""
        await self.chain.start(workspace_id, connection)

    async def append(self, record: AuditRecord, connection: BaseDBAsyncClient) -> CommittedEvent | None:
        """Append one event inside the caller's transaction.

        Raises AuditUnavailable when the event cannot be written; the caller's
        transaction then rolls back and nothing it did is kept.
        """
        if not self.enabled:
            return None
        try:
            events = await self.chain.append([bounded(record)], connection)
        except Exception as exc:
            logger.error(
                "audit write failed for %s in %s: %s",
                record.action.value,
                record.workspace_id,
                type(exc).__name__,
                exc_info=logger.isEnabledFor(logging.DEBUG),
            )
            raise AuditUnavailable(UNAVAILABLE_MESSAGE) from None
        collecting = self._collecting.get(id(connection))
        if collecting is not None:
            collecting.extend(events)
        return events[0] if events else None

    async def append_many(self, records: Sequence[AuditRecord], connection: BaseDBAsyncClient) -> list[CommittedEvent]:
        """`append` for many events at once (one insert statement)."""
        if not self.enabled or not records:
            return []
        try:
            events = await self.chain.append([bounded(r) for r in records], connection)
        except Exception as exc:
            logger.error("audit write of %d events failed: %s", len(records), type(exc).__name__)
            raise AuditUnavailable(UNAVAILABLE_MESSAGE) from None
        collecting = self._collecting.get(id(connection))
        if collecting is not None:
            collecting.extend(events)
        return events

    # ---- standalone events: group commit ----------------------------------

    async def record(self, records: Sequence[AuditRecord]) -> None:
        """Commit standalone events; returns once they are committed.

        Raises AuditUnavailable when they could not be; the caller must then
        not answer with anything the events were to account for.
        """
        if not self.enabled or not records:
            return
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._enqueue(_Waiting([bounded(r) for r in records], done))
        await done

    async def commit(
        self,
        records: Sequence[AuditRecord],
        writes: Callable[[Dialect], list[tuple[str, list[list[Any]]]]],
        conflict: tuple[str, Callable[[], Awaitable[bool]]],
    ) -> None:
        """Commit `writes` (statements without a read before them: inserts)
        with their events through group commit: many requests' writes share
        one transaction and one fsync. A unique-key conflict on a request's
        own writes fails that request with CONFLICT (`conflict`), never its
        batch's other requests."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        kept = [bounded(r) for r in records] if self.enabled else []
        self._enqueue(_Waiting(kept, done, writes, conflict))
        await done

    def record_nowait(self, records: Sequence[AuditRecord]) -> None:
        """Queue standalone events for the next batch without waiting for it.

        For refusals: the answer must not depend on (or wait for) the commit.
        A failure is logged, never raised.
        """
        if not self.enabled or not records:
            return
        self._enqueue(_Waiting([bounded(r) for r in records], None))

    def touch_token(self, token_id: UUID, at: datetime) -> None:
        """Record a token's last use with the next batch (coalesced)."""
        self._touched[token_id] = at
        self._schedule()

    def _enqueue(self, waiting: _Waiting) -> None:
        self._batch.append(waiting)
        self._batch_rows += len(waiting.records)
        self._schedule()

    def _schedule(self) -> None:
        if self._flushing or self._flush_pending:
            return  # the running flush starts the next one when it is done
        self._flush_pending = True
        # Not at once: requests running in this loop iteration join the batch.
        asyncio.get_running_loop().call_soon(self._start_flush)

    def _start_flush(self) -> None:
        self._flush_pending = False
        if self._flushing or not (self._batch or self._touched):
            return
        batch: list[_Waiting] = []
        rows = 0
        while self._batch and (not batch or rows + len(self._batch[0].records) <= GROUP_COMMIT_ROWS):
            waiting = self._batch.pop(0)
            batch.append(waiting)
            rows += len(waiting.records)
        self._batch_rows -= rows
        touched, self._touched = self._touched, {}
        self._flushing = True
        task = asyncio.get_running_loop().create_task(self._flush(batch, touched))
        self._flushes.add(task)
        task.add_done_callback(self._flush_done)

    def _flush_done(self, task: asyncio.Task[None]) -> None:
        self._flushes.discard(task)
        self._flushing = False
        if self._batch or self._touched:
            self._schedule()

    async def _flush(self, batch: list[_Waiting], touched: dict[UUID, datetime]) -> None:
        try:
            events = await self._commit(batch, touched)
        except Exception as exc:
            if len(batch) > 1:
                self.batches_split += 1
                logger.warning(
                    "audit batch of %d requests failed (%s); retrying each request on its own",
                    len(batch),
                    type(exc).__name__,
                )
                await self._flush_one_by_one(batch)
            else:
                self._fail(batch[0], exc)
            return
        self.batches_committed += 1
        self.batched_events_committed += len(events)
        if self.on_batch is not None:
            self.on_batch(len(events), [waiting.enqueued for waiting in batch])
        self._announce(events)
        for waiting in batch:
            if waiting.done is not None and not waiting.done.done():
                waiting.done.set_result(None)

    async def _flush_one_by_one(self, batch: list[_Waiting]) -> None:
        for waiting in batch:
            try:
                events = await self._commit([waiting], {})
            except Exception as exc:
                if waiting.conflict is not None and waiting.done is not None and await _taken(waiting.conflict[1]):
                    if not waiting.done.done():
                        waiting.done.set_exception(Conflict(waiting.conflict[0]))
                    continue
                self._fail(waiting, exc)
                continue
            self.batches_committed += 1
            self.batched_events_committed += len(events)
            if self.on_batch is not None:
                self.on_batch(len(events), [waiting.enqueued])
            self._announce(events)
            if waiting.done is not None and not waiting.done.done():
                waiting.done.set_result(None)

    def _fail(self, waiting: _Waiting, exc: BaseException) -> None:
        logger.error(
            "audit events could not be committed (%s): %s",
            ", ".join(sorted({r.action.value for r in waiting.records})),
            type(exc).__name__,
        )
        if waiting.done is not None and not waiting.done.done():
            waiting.done.set_exception(AuditUnavailable(UNAVAILABLE_MESSAGE))

    async def _commit(self, batch: Sequence[_Waiting], touched: Mapping[UUID, datetime]) -> list[CommittedEvent]:
        records = [r for w in batch for r in w.records]
        client = connections.get(self.connection_name) if self.connection_name else None
        if client is not None and client.capabilities.dialect == "sqlite":
            return await self._commit_sqlite(client, records, touched, _merged_writes(batch, SQLITE))
        async with in_transaction() as connection:
            dialect = dialect_of_connection(connection)
            for statement, values in _merged_writes(batch, dialect):
                await execute_rows(connection, statement, values)
            events = await self.chain.append(records, connection) if records else []
            if touched:
                dialect = dialect_of_connection(connection)
                await connection.execute_many(
                    dialect.statement('UPDATE "api_token" SET "last_used_at" = ? WHERE "id" = ?'),
                    [[dialect.datetime_param(at), dialect.uuid_param(token)] for token, at in touched.items()],
                )
            for listener in self.listeners if events else ():
                await listener.before_commit(events, connection)
        return events

    async def _commit_sqlite(
        self,
        client: Any,
        records: Sequence[AuditRecord],
        touched: Mapping[UUID, datetime],
        writes: list[tuple[str, list[list[Any]]]],
    ) -> list[CommittedEvent]:
        """The batch as one call into the SQLite connection's thread, under
        the ORM's connection lock, with every hash computed beforehand.

        Why: each statement through aiosqlite is a hand-off between the event
        loop and the connection's thread, and Python work in that thread holds
        the GIL while the loop waits for it (the two convoy: a batch of six
        hand-offs cost milliseconds of stalls on one core). Here the chain is
        computed in the loop against the heads last committed, and the
        thread only runs statements, which release the GIL; a guarded head
        update detects a head moved by anyone else, and the batch is then
        computed again from the heads as they are. This takes Tortoise's
        client lock itself (graphql_api.sql.run_in_sqlite_thread). On SQLite the listeners' before_commit hooks
        have nothing to do (publishing happens after commit).
        """
        chain = self.chain
        workspaces = sorted({r.workspace_id for r in records})
        touched_rows = [[SQLITE.datetime_param(at), SQLITE.uuid_param(token)] for token, at in touched.items()]
        for attempt in range(3):
            # First optimistically, computed outside the lock against the heads
            # last committed; after a miss, under the lock, where no writer of
            # this process can move a head between the read and the write.
            locked = attempt > 0
            if locked:
                await client._lock.acquire()
            try:
                if locked:
                    for workspace_id in workspaces:
                        chain.known_heads.pop(workspace_id, None)
                for workspace_id in [w for w in workspaces if w not in chain.known_heads]:
                    chain.known_heads[workspace_id] = await self._read_head(workspace_id)
                events, batch = chain.prepared_sqlite_batch(records, {w: chain.known_heads[w] for w in workspaces})
                batch.touched = touched_rows
                batch.writes = writes
                if not locked:
                    await client._lock.acquire()
                    locked = True
                done = await run_in_sqlite_thread(client, batch.run)
            finally:
                if locked:
                    client._lock.release()
            if done:
                for seq, hash_, _mac, workspace_id, *_expected in batch.head_updates:
                    chain.known_heads[workspace_id] = (seq, hash_)
                return events
            for workspace_id in workspaces:
                chain.known_heads.pop(workspace_id, None)
        raise AuditUnavailable("the audit chain head kept moving; the events were not recorded")

    async def _read_head(self, workspace_id: str) -> tuple[int, str] | None:
        rows = await self._sql_read(_SELECT_HEAD, [workspace_id])
        return (int(rows[0][0]), str(rows[0][1])) if rows else None

    def _announce(self, events: Sequence[CommittedEvent]) -> None:
        for listener in self.listeners if events else ():
            try:
                listener.after_commit(events)
            except Exception as exc:  # a listener never fails a committed operation
                logger.error("audit listener %s failed: %s", type(listener).__name__, type(exc).__name__)

    async def drain(self) -> None:
        """Commit what is waiting and wait for flushes under way (shutdown)."""
        while self._batch or self._touched or self._flushes:
            if not self._flushes:
                self._start_flush()
            await asyncio.gather(*list(self._flushes), return_exceptions=True)
