"""Reading the audit trail: pages, last access, and chain verification."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from tortoise.functions import Max

from graphql_api.errors import BadUserInput
from graphql_api.services.audit import GENESIS_HASH, canonical_event, chain_hash
from models import AuditAction, AuditChainHead, SecretAudit

MAX_PAGE_SIZE = 500
VERIFY_BATCH = 1000


@dataclass(frozen=True)
class AuditPage:
    events: list[SecretAudit]
    has_next_page: bool
    total_count: int

    @property
    def end_cursor(self) -> str | None:
        return str(self.events[-1].seq) if self.events else None


@dataclass(frozen=True)
class IntegrityReport:
    valid: bool
    checked_events: int
    first_invalid_event_id: UUID | None
    head_hash: str | None


def _cursor(after: str | None) -> int | None:
    if after is None:
        return None
    if not after.isdigit():
        raise BadUserInput("after", "is not a cursor returned by this API")
    return int(after)


class AuditReader:
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
        query = SecretAudit.filter(workspace_id=workspace_id)
        if secret_id is not None:
            query = query.filter(secret_id=secret_id)
        if action is not None:
            query = query.filter(action=action)
        if success is not None:
            query = query.filter(success=success)
        total = await query.count()
        before = _cursor(after)
        if before is not None:
            query = query.filter(seq__lt=before)
        rows = await query.order_by("-seq").limit(first + 1)
        return AuditPage(events=rows[:first], has_next_page=len(rows) > first, total_count=total)

    async def last_accessed(self, secret_ids: Sequence[UUID]) -> dict[UUID, datetime]:
        rows = (
            await SecretAudit.filter(secret_id__in=list(secret_ids), action=AuditAction.ACCESSED, success=True)
            .annotate(last=Max("created_at"))
            .group_by("secret_id")
            .values("secret_id", "last")
        )
        return {UUID(str(row["secret_id"])): row["last"] for row in rows}

    async def verify(self, workspace_id: str) -> IntegrityReport:
        """Recompute the chain from the oldest kept event to the head.

        The chain head says where the kept chain starts (after retention
        purges) and where it ends, so an event removed at either end, in the
        middle, changed or moved is reported: the first event that does not
        fit is named (the newest kept event when the end was cut off).
        """
        head = await AuditChainHead.get_or_none(workspace_id=workspace_id)
        expected_prev = head.purged_through_hash if head else GENESIS_HASH
        expected_seq = (head.purged_through_seq if head else 0) + 1
        checked = 0
        last: SecretAudit | None = None
        while True:
            batch = (
                await SecretAudit.filter(workspace_id=workspace_id, seq__gte=expected_seq if last is None else last.seq + 1)
                .order_by("seq")
                .limit(VERIFY_BATCH)
            )
            if not batch:
                break
            for event in batch:
                checked += 1
                if event.seq != expected_seq or event.prev_hash != expected_prev or _recompute(event) != event.hash:
                    return IntegrityReport(False, checked, event.id, expected_prev if checked > 1 else None)
                expected_prev, expected_seq, last = event.hash, event.seq + 1, event
        if head is not None and (head.seq != expected_seq - 1 or head.hash != expected_prev):
            # Events were removed from the end of the chain (or the head was edited).
            return IntegrityReport(False, checked, last.id if last else None, expected_prev if last else None)
        return IntegrityReport(True, checked, None, last.hash if last else None)


def _recompute(event: SecretAudit) -> str:
    return chain_hash(
        event.prev_hash,
        canonical_event(
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
        ),
    )
