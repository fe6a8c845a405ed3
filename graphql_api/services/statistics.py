"""Per-workspace secret statistics, all computed in the database."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from tortoise.functions import Count

from models import AuditAction, Secret, SecretAudit


@dataclass(frozen=True)
class WorkspaceStatistics:
    total: int
    active: int
    by_type: dict[str, int]
    by_policy: dict[str, int]
    due_within_week: int
    overdue: int
    accesses_last_day: int
    failed_accesses_last_day: int


class StatisticsService:
    def __init__(self, now: Callable[[], datetime]) -> None:
        self._now = now

    async def for_workspace(self, workspace_id: str) -> WorkspaceStatistics:
        now = self._now()
        live = Secret.filter(workspace_id=workspace_id, destroyed_at=None)
        active = live.filter(is_active=True)

        async def grouped(column: str) -> dict[str, int]:
            rows = await live.annotate(n=Count("id")).group_by(column).values(column, "n")
            return {
                str(getattr(row[column], "value", row[column])): row["n"]
                for row in sorted(rows, key=lambda r: str(r[column]))
            }

        accesses = SecretAudit.filter(
            workspace_id=workspace_id, action=AuditAction.ACCESSED, created_at__gte=now - timedelta(days=1)
        )
        return WorkspaceStatistics(
            total=await live.count(),
            active=await active.count(),
            by_type=await grouped("secret_type"),
            by_policy=await grouped("rotation_policy"),
            due_within_week=await active.filter(rotation_due_at__lte=now + timedelta(days=7)).count(),
            overdue=await active.filter(rotation_due_at__lte=now).count(),
            accesses_last_day=await accesses.filter(success=True).count(),
            failed_accesses_last_day=await accesses.filter(success=False).count(),
        )
