"""Principals, their role bindings and API tokens.

A superadmin manages anything; a workspace ADMIN manages principals bound only
to workspaces it administers, and can never create a superadmin.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

from tortoise.exceptions import IntegrityError

from graphql_api.errors import BadUserInput, Conflict, Forbidden, NotFound
from graphql_api.services import validation
from graphql_api.services.access import Identity, Permission
from graphql_api.services.audit import Actor, AuditLog, AuditRecord
from graphql_api.services.tokens import issue_token
from graphql_api.services.workspaces import DEFAULT_WORKSPACE
from models import ApiToken, AuditAction, Principal, Role, RoleBinding, Workspace


@dataclass(frozen=True)
class Binding:
    workspace_id: str
    role: Role


class PrincipalService:
    def __init__(self, audit: AuditLog, now: Callable[[], datetime]) -> None:
        self._audit = audit
        self._now = now

    async def bindings_of(self, principal_id: UUID) -> list[Binding]:
        rows = await RoleBinding.filter(principal_id=principal_id).order_by("workspace_id")
        return [Binding(row.workspace_id, row.role) for row in rows]  # type: ignore[attr-defined]

    async def _audit_workspaces(self, principal_id: UUID) -> list[str]:
        """Where events about a principal are recorded: each workspace it is
        bound to, or the default workspace for one bound nowhere (a superadmin)."""
        return [b.workspace_id for b in await self.bindings_of(principal_id)] or [DEFAULT_WORKSPACE]

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
                for workspace_id in workspace_ids or [DEFAULT_WORKSPACE]:
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
        if expires_at is not None and expires_at.tzinfo is None:
            expires_at = expires_at.replace(tzinfo=UTC)  # a time without offset is read as UTC
        if expires_at is not None and expires_at <= self._now():
            raise BadUserInput("expiresAt", "must be in the future")
        async with self._audit.transaction() as connection:
            token, row = await issue_token(principal.id, name, expires_at=expires_at)
            for workspace_id in await self._audit_workspaces(principal.id):
                await self._audit.append(
                    AuditRecord(
                        workspace_id,
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
                row.revoked_at = self._now()
                await row.save(using_db=connection, update_fields=["revoked_at"])
                for workspace_id in await self._audit_workspaces(row.principal_id):  # type: ignore[attr-defined]
                    await self._audit.append(
                        AuditRecord(
                            workspace_id,
                            AuditAction.TOKEN_REVOKED,
                            actor,
                            details={"principal_id": str(row.principal_id), "token_id": str(row.id)},  # type: ignore[attr-defined]
                        ),
                        connection,
                    )
        return row

    async def visible(self, identity: Identity, workspace_id: str | None) -> list[Principal]:
        """Principals bound to `workspace_id` (its ADMIN or a superadmin), or
        every principal (superadmin only) when it is None."""
        if workspace_id is None:
            if not identity.is_superadmin:
                raise Forbidden("only a superadmin may list every principal; name a workspace")
            return await Principal.all().order_by("name")
        if not identity.may(Permission.MANAGE_PRINCIPALS, workspace_id):
            raise Forbidden(f"not allowed to manage principals in workspace {workspace_id!r}")
        ids = await RoleBinding.filter(workspace_id=workspace_id).values_list("principal_id", flat=True)
        return await Principal.filter(id__in=list(ids)).order_by("name")

    async def tokens_of(self, identity: Identity, principal_id: UUID) -> list[ApiToken]:
        principal = await self._manageable(identity, principal_id)
        return await ApiToken.filter(principal_id=principal.id).order_by("created_at")

    async def grant(
        self, identity: Identity, principal_id: UUID, workspace_id: str, role: Role, actor: Actor
    ) -> Principal:
        """Bind `principal_id` to `workspace_id` with `role`, replacing its role there."""
        if not identity.may(Permission.MANAGE_PRINCIPALS, workspace_id):
            raise Forbidden(f"not allowed to manage principals in workspace {workspace_id!r}")
        if not await Workspace.exists(id=workspace_id):
            raise NotFound(f"workspace {workspace_id!r} does not exist")
        # Only principals the caller already manages (or any, for a superadmin):
        # a workspace admin must not learn of, or reach into, principals elsewhere.
        principal = await self._manageable(identity, principal_id)
        async with self._audit.transaction() as connection:
            binding = (
                await RoleBinding.filter(principal_id=principal.id, workspace_id=workspace_id)
                .using_db(connection)
                .select_for_update()
                .first()
            )
            previous = binding.role.value if binding else None
            if binding is None:
                await RoleBinding.create(principal_id=principal.id, workspace_id=workspace_id, role=role, using_db=connection)
            else:
                binding.role = role
                await binding.save(using_db=connection, update_fields=["role"])
            await self._audit.append(
                AuditRecord(
                    workspace_id, AuditAction.ROLE_GRANTED, actor,
                    details={"principal_id": str(principal.id), "role": role.value, "previous_role": previous},
                ),
                connection,
            )
        return principal

    async def revoke(self, identity: Identity, principal_id: UUID, workspace_id: str, actor: Actor) -> Principal:
        if not identity.may(Permission.MANAGE_PRINCIPALS, workspace_id):
            raise Forbidden(f"not allowed to manage principals in workspace {workspace_id!r}")
        principal = await Principal.get_or_none(id=principal_id)
        binding = (
            await RoleBinding.get_or_none(principal_id=principal_id, workspace_id=workspace_id) if principal else None
        )
        if principal is None or binding is None:
            raise NotFound(f"principal {principal_id} has no role in workspace {workspace_id!r}")
        async with self._audit.transaction() as connection:
            await RoleBinding.filter(id=binding.id).using_db(connection).delete()
            await self._audit.append(
                AuditRecord(
                    workspace_id, AuditAction.ROLE_REVOKED, actor,
                    details={"principal_id": str(principal.id), "role": binding.role.value},
                ),
                connection,
            )
        return principal
