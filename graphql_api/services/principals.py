"""Principals, their role bindings and API tokens.

A superadmin manages anything; a workspace ADMIN manages principals bound only
to workspaces it administers, and can never create a superadmin.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from tortoise.exceptions import IntegrityError

from graphql_api.errors import BadUserInput, Conflict, Forbidden, NotFound
from graphql_api.services import validation
from graphql_api.services.access import Identity, Permission
from graphql_api.services.audit import Actor, AuditLog, AuditRecord
from graphql_api.services.tokens import issue_token
from models import ApiToken, AuditAction, Principal, Role, RoleBinding, Workspace


@dataclass(frozen=True)
class Binding:
    workspace_id: str
    role: Role


class PrincipalService:
    def __init__(self, audit: AuditLog, now: object) -> None:
        self._audit = audit
        self._now = now

    async def bindings_of(self, principal_id: UUID) -> list[Binding]:
        rows = await RoleBinding.filter(principal_id=principal_id).order_by("workspace_id")
        return [Binding(row.workspace_id, row.role) for row in rows]  # type: ignore[attr-defined]

    def _may_manage(self, identity: Identity, workspace_ids: Sequence[str]) -> bool:
        return identity.is_superadmin or (
            bool(workspace_ids) and all(identity.may(Permission.MANAGE_PRINCIPALS, w) for w in workspace_ids)
        )

    async def create(
        self, identity: Identity, name: str, bindings: Sequence[Binding], superadmin: bool, actor: Actor
    ) -> Principal:
        name = validation.principal_name(name)
        workspace_ids = [b.workspace_id for b in bindings]
        if len(set(workspace_ids)) != len(workspace_ids):
            raise BadUserInput("bindings", "names a workspace more than once")
        if superadmin and not identity.is_superadmin:
            raise Forbidden("only a superadmin may create a superadmin")
        if not self._may_manage(identity, workspace_ids):
            raise Forbidden("not allowed to manage principals in every workspace of these bindings")
        existing = {str(w) for w in await Workspace.filter(id__in=workspace_ids).values_list("id", flat=True)}
        missing = [w for w in workspace_ids if w not in existing]
        if missing:
            raise NotFound(f"workspace {missing[0]!r} does not exist")
        try:
            async with self._audit.transaction() as connection:
                principal = await Principal.create(name=name, is_superadmin=superadmin, using_db=connection)
                for binding in bindings:
                    await RoleBinding.create(
                        principal_id=principal.id, workspace_id=binding.workspace_id, role=binding.role, using_db=connection
                    )
                for workspace_id in workspace_ids:
                    await self._audit.append(
                        AuditRecord(
                            workspace_id,
                            AuditAction.PRINCIPAL_CREATED,
                            actor,
                            details={"principal_id": str(principal.id), "name": name, "superadmin": superadmin},
                        ),
                        connection,
                    )
        except IntegrityError:
            raise Conflict(f"a principal named {name!r} already exists") from None
        return principal

    async def _manageable(self, identity: Identity, principal_id: UUID) -> Principal:
        principal = await Principal.get_or_none(id=principal_id)
        if principal is None:
            raise NotFound(f"principal {principal_id} not found")
        if identity.is_superadmin or principal.id == identity.principal_id:
            return principal
        workspace_ids = [b.workspace_id for b in await self.bindings_of(principal.id)]
        if principal.is_superadmin or not self._may_manage(identity, workspace_ids):
            # Do not reveal that a principal exists outside what the caller manages.
            raise NotFound(f"principal {principal_id} not found")
        return principal

    async def create_token(
        self, identity: Identity, principal_id: UUID, name: str, expires_at: datetime | None, actor: Actor
    ) -> tuple[str, ApiToken]:
        principal = await self._manageable(identity, principal_id)
        name = validation.principal_name(name, "name")
        if expires_at is not None and expires_at <= self._now():  # type: ignore[operator]
            raise BadUserInput("expiresAt", "must be in the future")
        async with self._audit.transaction() as connection:
            token, row = await issue_token(principal.id, name, expires_at=expires_at)
            for binding in await self.bindings_of(principal.id):
                await self._audit.append(
                    AuditRecord(
                        binding.workspace_id,
                        AuditAction.TOKEN_CREATED,
                        actor,
                        details={"principal_id": str(principal.id), "token_id": str(row.id), "name": name},
                    ),
                    connection,
                )
        return token, row

    async def revoke_token(self, identity: Identity, token_id: UUID, actor: Actor) -> ApiToken:
        row = await ApiToken.get_or_none(id=token_id)
        if row is None:
            raise NotFound(f"token {token_id} not found")
        await self._manageable(identity, row.principal_id)  # type: ignore[attr-defined]
        if row.revoked_at is None:
            async with self._audit.transaction() as connection:
                row.revoked_at = self._now()  # type: ignore[operator]
                await row.save(using_db=connection, update_fields=["revoked_at"])
                for binding in await self.bindings_of(row.principal_id):  # type: ignore[attr-defined]
                    await self._audit.append(
                        AuditRecord(
                            binding.workspace_id,
                            AuditAction.TOKEN_REVOKED,
                            actor,
                            details={"principal_id": str(row.principal_id), "token_id": str(row.id)},  # type: ignore[attr-defined]
                        ),
                        connection,
                    )
        return row
