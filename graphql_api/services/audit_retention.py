"""Retention: audit events older than SECRET_AUDIT_RETENTION_DAYS are purged.

Only a prefix of each workspace's chain is ever removed, in batches, and the
chain head records where the kept chain starts (sequence and hash), so a
verification after a purge still detects any other missing, changed or
reordered event. The purge point carries a MAC under the audit key, so a
database writer cannot fake a purge (move the start of the kept chain) to
hide the deletion of old events.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from tortoise.functions import Max
from tortoise.transactions import in_transaction

from graphql_api.services.audit import purge_mac
from graphql_api.services.server_keys import ServerKeys
from models import AuditChainHead, AuditSecretIndex, SecretAudit

logger = logging.getLogger("strongroom.audit")

BATCH = 1000


class AuditRetention:
    def __init__(
        self, *, retention_days: int, now: Callable[[], datetime], server_keys: ServerKeys, batch: int = BATCH
    ) -> None:
        self.retention = timedelta(days=retention_days)
        self._now = now
        self._server_keys = server_keys
        self._batch = batch

    async def purge(self) -> int:
        """Delete expired events in every workspace; returns how many."""
        cutoff = self._now() - self.retention
        purged = 0
        for workspace_id in await AuditChainHead.all().values_list("workspace_id", flat=True):
            purged += await self._purge_workspace(str(workspace_id), cutoff)
        if purged:
            logger.info("purged %d audit event(s) older than %s", purged, cutoff.isoformat())
        return purged

    async def _purge_workspace(self, workspace_id: str, cutoff: datetime) -> int:
        found = (
            await SecretAudit.filter(workspace_id=workspace_id, created_at__lt=cutoff)
            .annotate(last=Max("seq"))
            .first()
            .values("last")
        )
        boundary = found["last"] if found else None
        purged = 0
        while boundary is not None:
            async with in_transaction() as connection:
                head = await AuditChainHead.select_for_update().using_db(connection).get(workspace_id=workspace_id)
                upto = min(boundary, head.purged_through_seq + self._batch)
                if upto <= head.purged_through_seq:
                    return purged
                last = await SecretAudit.filter(workspace_id=workspace_id, seq=upto).using_db(connection).first()
                if last is None:
                    # A gap where the batch should end: not ours to paper over.
                    logger.error("audit chain of %s has no event %d; purge stopped", workspace_id, upto)
                    return purged
                deleted = (
                    await SecretAudit.filter(workspace_id=workspace_id, seq__lte=upto).using_db(connection).delete()
                )
                await AuditSecretIndex.filter(workspace_id=workspace_id, seq__lte=upto).using_db(connection).delete()
                await (
                    AuditChainHead.filter(workspace_id=workspace_id)
                    .using_db(connection)
                    .update(
                        purged_through_seq=upto,
                        purged_through_hash=last.hash,
                        purge_mac=purge_mac(self._server_keys.keys, workspace_id, upto, last.hash),
                    )
                )
            purged += deleted
            if upto >= boundary:
                break
        return purged
