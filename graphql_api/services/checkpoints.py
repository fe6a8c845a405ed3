"""Signed audit checkpoints: anchors a client keeps outside the database.

A checkpoint says "workspace W's trail had reached event `seq`, whose hash is
`head_hash`, at `created_at`", signed with the server's Ed25519 key (derived
from the server key, which the database holds only wrapped). Each one also
signs the previous checkpoint's signature, so published checkpoints chain
like CloudTrail's digest files. They are published an hour after the last one
for every workspace whose trail moved, and on demand (`auditCheckpoint`).

Why: the keyed chain stops a database writer from rewriting or re-hashing
events, but the newest events could still be cut off together with a head
restored from an old backup. Whoever kept a checkpoint catches that:
`auditIntegrity(checkpoint:)` and `strongroom audit verify --checkpoint FILE`
fail when the trail no longer reaches it, and the signature (checked by the
client with the public key it pinned) proves the checkpoint itself is real.

The signed bytes are the canonical JSON (sorted keys, no spaces, UTF-8) of
{"version": 1, "workspace_id", "seq", "head_hash", "created_at" (ISO 8601,
microseconds, UTC), "previous_signature" (or null)}.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from graphql_api.services.audit_reader import AuditReader, Checkpoint
from graphql_api.services.pacing import Pacer, yield_now
from graphql_api.services.server_keys import ServerKeys
from models import AuditChainHead, AuditCheckpoint, SecretAudit

logger = logging.getLogger("strongroom.audit")

PUBLISH_INTERVAL_SECONDS = 3600
# How often the job looks for workspaces due a checkpoint.
DUE_CHECK_SECONDS = 60


@dataclass(frozen=True)
class SignedCheckpoint:
    workspace_id: str
    seq: int
    head_hash: str
    created_at: datetime
    key_id: str
    public_key: str
    previous_signature: str | None
    signature: str


def checkpoint_document(
    workspace_id: str, seq: int, head_hash: str, created_at: datetime, previous_signature: str | None
) -> bytes:
    """The exact bytes a checkpoint's signature covers."""
    document = {
        "version": 1,
        "workspace_id": workspace_id,
        "seq": seq,
        "head_hash": head_hash,
        "created_at": created_at.isoformat(timespec="microseconds"),
        "previous_signature": previous_signature,
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


LAST_ROWS_TRIED = 10


class CheckpointService:
    def __init__(self, server_keys: ServerKeys, reader: AuditReader, now: Callable[[], datetime]) -> None:
        self._server_keys = server_keys
        self._reader = reader
        self._now = now
        self.interval_seconds = PUBLISH_INTERVAL_SECONDS

    async def publish(self, workspace_id: str) -> SignedCheckpoint | None:
        """Sign the current head of `workspace_id` now (None: no such chain).

        The head is checked first: a checkpoint never vouches for a trail
        that does not verify.
        """
        return await self._publish(workspace_id, await self._last_signed(workspace_id), yield_now)

    async def publish_due(self) -> int:
        """The periodic job: a checkpoint for each workspace an interval after its last.

        Due is counted from the last checkpoint this server signed (or, for a
        trail that has none, from its oldest kept event), never from this
        process's start: a restart does not bring an hour's verification
        forward (measured, a restart after the benchmark's load verified a
        million events at once), and restarts more often than hourly never
        postpone it. The verification gives way to requests
        (graphql_api/services/pacing.py).
        """
        published = 0
        interval = timedelta(seconds=self.interval_seconds)
        for listed, seq, hash_ in await AuditChainHead.all().values_list("workspace_id", "seq", "hash"):
            workspace_id = str(listed)
            previous = await self._last_signed(workspace_id)
            if previous is not None and (previous.seq, previous.head_hash) == (seq, hash_):
                continue  # the trail has not moved: nothing new to vouch for
            since = previous.created_at if previous is not None else await self._oldest_event_at(workspace_id)
            if since is not None and self._now() - since < interval:
                continue
            if await self._publish(workspace_id, previous, Pacer().pause) is not None:
                published += 1
        return published

    async def _publish(
        self, workspace_id: str, previous: AuditCheckpoint | None, pace: Callable[[], Awaitable[None]]
    ) -> SignedCheckpoint | None:
        head = await AuditChainHead.get_or_none(workspace_id=workspace_id)
        if head is None:
            return None
        keys = self._server_keys.keys
        if previous is not None and previous.seq == head.seq and previous.head_hash == head.hash:
            return self._signed(previous)
        # From the last checkpoint on: what it vouches for was verified when
        # it was signed, and the events since must chain onto it. (A full
        # pass over a trail of millions, every hour, would be the server's
        # biggest job; auditIntegrity and `strongroom audit verify` still
        # check everything from the oldest kept event.)
        since = Checkpoint(previous.seq, previous.head_hash) if previous is not None else None
        report = await self._reader.verify(workspace_id, since=since, pace=pace)
        if not report.valid:
            logger.error("not signing a checkpoint for %s: its audit trail does not verify", workspace_id)
            return None
        created_at = self._now()
        previous_signature = previous.signature if previous else None
        signature = keys.sign(checkpoint_document(workspace_id, head.seq, head.hash, created_at, previous_signature))
        row = await AuditCheckpoint.create(
            workspace_id=workspace_id,
            seq=head.seq,
            head_hash=head.hash,
            created_at=created_at,
            key_id=keys.signing_key_id,
            previous_signature=previous_signature,
            signature=signature,
        )
        return self._signed(row)

    async def _oldest_event_at(self, workspace_id: str) -> datetime | None:
        oldest = await SecretAudit.filter(workspace_id=workspace_id).order_by("seq").only("created_at").first()
        return oldest.created_at if oldest is not None else None

    async def history(self, workspace_id: str, limit: int = 100) -> list[SignedCheckpoint]:
        rows = await AuditCheckpoint.filter(workspace_id=workspace_id).order_by("-id").limit(limit)
        return [self._signed(row) for row in rows]

    async def _last_signed(self, workspace_id: str) -> AuditCheckpoint | None:
        """The newest checkpoint row this server signed (of the last few).

        The rows are in the database, where anyone with access to it could
        have put one: only this server's signature makes a row a starting
        point for verification, or the link the next checkpoint chains to."""
        for row in await AuditCheckpoint.filter(workspace_id=workspace_id).order_by("-id").limit(LAST_ROWS_TRIED):
            if self._signed_by_us(row):
                return row
            logger.error("checkpoint %s of %s does not carry this server's signature; ignored", row.id, workspace_id)
        return None

    def _signed_by_us(self, row: AuditCheckpoint) -> bool:
        document = checkpoint_document(row.workspace_id, row.seq, row.head_hash, row.created_at, row.previous_signature)
        return self._server_keys.keys.signed(document, row.signature)

    def _signed(self, row: AuditCheckpoint) -> SignedCheckpoint:
        keys = self._server_keys.keys
        return SignedCheckpoint(
            workspace_id=row.workspace_id,
            seq=row.seq,
            head_hash=row.head_hash,
            created_at=row.created_at,
            key_id=row.key_id,
            public_key=keys.public_key_b64,
            previous_signature=row.previous_signature,
            signature=row.signature,
        )
