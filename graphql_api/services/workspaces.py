"""Workspaces: the tenants. Creating one also starts its audit chain."""

from __future__ import annotations

from contextlib import suppress

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from graphql_api.errors import Conflict
from graphql_api.services import validation
from graphql_api.services.access import Identity
from graphql_api.services.audit import AuditLog
from models import Workspace

DEFAULT_WORKSPACE = "default"


class WorkspaceService:
    def __init__(self, audit: AuditLog) -> None:
        self._audit = audit

    async def create(self, workspace_id: str, name: str | None) -> Workspace:
        validation.workspace_id(workspace_id, "id")
        display_name = validation.workspace_name(name, default=workspace_id)
        if await Workspace.exists(id=workspace_id):
            raise Conflict(f"workspace {workspace_id!r} already exists")
        try:
            async with in_transaction() as connection:
                workspace = await Workspace.create(id=workspace_id, name=display_name, using_db=connection)
                await self._audit.start_chain(workspace_id, connection)
        except IntegrityError:
            raise Conflict(f"workspace {workspace_id!r} already exists") from None
        return workspace

    async def visible_to(self, identity: Identity) -> list[Workspace]:
        query = Workspace.all() if identity.is_superadmin else Workspace.filter(id__in=list(identity.roles))
        return await query.order_by("id")

    async def ensure_default(self) -> None:
        if not await Workspace.exists(id=DEFAULT_WORKSPACE):
            with suppress(Conflict):  # another replica made it first
                await self.create(DEFAULT_WORKSPACE, "Default")
