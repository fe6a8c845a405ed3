"""Principals, their role bindings and API tokens.

A superadmin manages anything; a workspace ADMIN manages principals bound only
to workspaces it administers, and can never create a superadmin.

No existence oracle for a workspace ADMIN: it never learns of a principal,
binding or token outside what it manages.

- Principal names live in namespaces: an ADMIN of `payments` creating "ci"
  makes "payments/ci", so whether the name is free never depends on another
  tenant (names given by clients cannot contain "/").
- Bindings shown to a caller are those in workspaces it may manage.
- A principal or token it does not manage is NOT_FOUND with the same message
  as one that does not exist.

Tokens form a tree (graphql_api.services.tokens): a token minted through the
API is a child of the token that minted it, expires no later than it, and is
revoked with it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from tortoise.exceptions import IntegrityError

from graphql_api.errors import BadUserInput, Conflict, Forbidden, NotFound
from graphql_api.services import validation
from graphql_api.services.access import Identity, Permission
from graphql_api.services.audit import Actor, AuditLog, AuditRecord
from graphql_api.services.authority import AuthorityWatch
from graphql_api.services.tokens import TokenPolicy, issue_token
from graphql_api.services.workspaces import DEFAULT_WORKSPACE
from graphql_api.sql import dialect_of_connection
from models import ApiToken, AuditAction, Principal, Role, RoleBinding, Workspace

NAMESPACE_SEPARATOR = "/"


@dataclass(frozen=True)
class Binding:
    workspace_id: str
    role: Role


def _principal_not_found(principal_id: UUID) -> NotFound:
    return NotFound(f"principal {principal_id} not found")


def _token_not_found(token_id: UUID) -> NotFound:
    return NotFound(f"token {token_id} not found")


_REVOKE_TREE = (
    'WITH RECURSIVE "tree"("id") AS ('
    ' SELECT "id" FROM "api_token" WHERE "id" = ?'
    ' UNION SELECT t."id" FROM "api_token" t JOIN "tree" ON t."parent_id" = "tree"."id")'
    ' UPDATE "api_token" SET "revoked_at" = ? WHERE "id" IN (SELECT "id" FROM "tree") AND "revoked_at" IS NULL'
    ' RETURNING "id", "principal_id"'
)


class PrincipalService:
    def __init__(
        self,
        audit: AuditLog,
        now: Callable[[], datetime],
        policy: TokenPolicy | None = None,
        authority: AuthorityWatch | None = None,
    ) -> None:
        self._audit = audit
        self._now = now
        self._policy = policy or TokenPolicy()
        self._authority = authority

    def _suspend(self, principal_ids: Sequence[UUID]) -> None:
        """Before the change commits: hold these principals' live streams,
        so nothing committed with the change reaches a stream it ends."""
        if self._authority is not None:
            self._authority.suspend(principal_ids)

    def _announce(self, principal_ids: Sequence[UUID]) -> None:
        """After the change committed (or rolled back): check their streams again."""
        if self._authority is not None:
            for principal_id in principal_ids:
                self._authority.changed(principal_id)

    async def bindings_of(self, principal_id: UUID) -> list[Binding]:
        rows = await RoleBinding.filter(principal_id=principal_id).order_by("workspace_id")
        return [Binding(row.workspace_id, row.role) for row in rows]

    async def view(self, identity: Identity, principal_id: UUID) -> tuple[Principal, list[Binding]]:
        """A principal and the bindings of it the caller may see."""
        principal = await Principal.get_or_none(id=principal_id)
        if principal is None:
            raise _principal_not_found(principal_id)
        return principal, await self.bindings_visible_to(identity, principal.id)

    async def bindings_visible_to(self, identity: Identity, principal_id: UUID) -> list[Binding]:
        """The principal's bindings the caller may see: all for a superadmin
        and for the caller itself, else only those where it is ADMIN."""
        bindings = await self.bindings_of(principal_id)
        if identity.is_superadmin or identity.principal_id == principal_id:
            return bindings
        return [b for b in bindings if identity.may(Permission.MANAGE_PRINCIPALS, b.workspace_id)]

    async def _audit_workspaces(self, principal_id: UUID) -> list[str]:
        """Where events about a principal are recorded: each workspace it is
        bound to, or the default workspace for one bound nowhere (a superadmin)."""
        return [b.workspace_id for b in await self.bindings_of(principal_id)] or [DEFAULT_WORKSPACE]

    def _may_manage(self, identity: Identity, workspace_ids: Sequence[str]) -> bool:
        return identity.is_superadmin or (
            bool(workspace_ids) and all(identity.may(Permission.MANAGE_PRINCIPALS, w) for w in workspace_ids)
        )

    def qualified_name(self, identity: Identity, name: str, workspace_ids: Sequence[str]) -> str:
        """Where the new principal's name lives: the global namespace for a
        superadmin, the first bound workspace's namespace for its ADMIN."""
        name = validation.principal_name(name)
        if NAMESPACE_SEPARATOR in name:
            raise BadUserInput("name", "must not contain '/' (it separates a workspace's namespace from the name)")
        if identity.is_superadmin:
            return name
        qualified = f"{sorted(workspace_ids)[0]}{NAMESPACE_SEPARATOR}{name}"
        if len(qualified) > validation.MAX_PRINCIPAL_NAME_LENGTH:
            room = validation.MAX_PRINCIPAL_NAME_LENGTH - len(qualified) + len(name)
            raise BadUserInput("name", f"must be at most {room} characters in this workspace's namespace")
        return qualified

    async def create(
        self, identity: Identity, name: str, bindings: Sequence[Binding], superadmin: bool, actor: Actor
    ) -> Principal:
        workspace_ids = [b.workspace_id for b in bindings]
        if len(set(workspace_ids)) != len(workspace_ids):
            raise BadUserInput("bindings", "names a workspace more than once")
        if superadmin and not identity.is_superadmin:
            raise Forbidden("only a superadmin may create a superadmin")
        if not self._may_manage(identity, workspace_ids):
            raise Forbidden("not allowed to manage principals in every workspace of these bindings")
        qualified = self.qualified_name(identity, name, workspace_ids)
        existing = {str(w) for w in await Workspace.filter(id__in=workspace_ids).values_list("id", flat=True)}
        missing = [w for w in workspace_ids if w not in existing]
        if missing:
            raise NotFound(f"workspace {missing[0]!r} does not exist")
        try:
            async with self._audit.transaction() as connection:
                principal = await Principal.create(name=qualified, is_superadmin=superadmin, using_db=connection)
                for binding in bindings:
                    await RoleBinding.create(
                        principal_id=principal.id,
                        workspace_id=binding.workspace_id,
                        role=binding.role,
                        using_db=connection,
                    )
                for workspace_id in workspace_ids or [DEFAULT_WORKSPACE]:
                    await self._audit.append(
                        AuditRecord(
                            workspace_id,
                            AuditAction.PRINCIPAL_CREATED,
                            actor,
                            details={"principal_id": str(principal.id), "name": qualified, "superadmin": superadmin},
                        ),
                        connection,
                    )
        except IntegrityError:
            raise Conflict(f"a principal named {qualified!r} already exists") from None
        return principal

    async def _manageable(self, identity: Identity, principal_id: UUID, missing: NotFound | None = None) -> Principal:
        """The principal if the caller manages it; else `missing` (default: principal not found)."""
        refusal = missing or _principal_not_found(principal_id)
        principal = await Principal.get_or_none(id=principal_id)
        if principal is None:
            raise refusal
        if identity.is_superadmin or principal.id == identity.principal_id:
            return principal
        workspace_ids = [b.workspace_id for b in await self.bindings_of(principal.id)]
        if principal.is_superadmin or not self._may_manage(identity, workspace_ids):
            raise refusal
        return principal

    def token_expiry_limit(self, identity: Identity) -> datetime | None:
        """The latest expiry a token minted by `identity`'s token may have."""
        limits = [moment for moment in (identity.expires_at,) if moment is not None]
        if self._policy.max_ttl is not None:
            limits.append(self._now() + self._policy.max_ttl)
        return min(limits) if limits else None

    async def create_token(
        self, identity: Identity, principal_id: UUID, name: str, expires_at: datetime | None, actor: Actor
    ) -> tuple[str, ApiToken]:
        principal = await self._manageable(identity, principal_id)
        name = validation.principal_name(name, "name")
        if expires_at is not None and expires_at <= self._now():
            raise BadUserInput("expiresAt", "must be in the future")
        limit = self.token_expiry_limit(identity)
        if limit is not None:
            if expires_at is None:
                expires_at = limit
            elif expires_at > limit:
                raise BadUserInput(
                    "expiresAt",
                    f"must be no later than {limit.isoformat()}: a token never outlives the token that makes it "
                    "or STRONGROOM_MAX_TOKEN_TTL",
                )
        async with self._audit.transaction() as connection:
            token, row = await issue_token(
                principal.id, name, expires_at=expires_at, parent_id=identity.token_id, using_db=connection
            )
            for workspace_id in await self._audit_workspaces(principal.id):
                await self._audit.append(
                    AuditRecord(
                        workspace_id,
                        AuditAction.TOKEN_CREATED,
                        actor,
                        details={
                            "principal_id": str(principal.id),
                            "token_id": str(row.id),
                            "name": name,
                            "parent_token_id": str(identity.token_id) if identity.token_id else None,
                        },
                    ),
                    connection,
                )
        return token, row

    async def revoke_token(self, identity: Identity, token_id: UUID, actor: Actor) -> ApiToken:
        """Revoke a token and every token below it in the tree."""
        row = await ApiToken.get_or_none(id=token_id)
        if row is None:
            raise _token_not_found(token_id)
        await self._manageable(identity, row.principal_id, _token_not_found(token_id))
        if row.revoked_at is None:
            now = self._now()
            owners: set[UUID | None] = set()
            try:
                await self._revoke_tree(row, now, actor, owners)
            finally:
                self._announce([o for o in owners if o is not None])
            await row.refresh_from_db()
        return row

    async def _revoke_tree(self, row: ApiToken, now: datetime, actor: Actor, owners: set[UUID | None]) -> None:
        """Revoke `row` and its descendants in one transaction; `owners` gets
        their principals, whose streams are held before it commits."""
        async with self._audit.transaction() as connection:
            dialect = dialect_of_connection(connection)
            _count, revoked = await connection.execute_query(
                dialect.statement(_REVOKE_TREE), [dialect.uuid_param(row.id), dialect.datetime_param(now)]
            )
            revoked_ids = [dialect.uuid(r[0]) for r in revoked]
            owners.update(dialect.uuid(r[1]) for r in revoked)
            self._suspend([o for o in owners if o is not None])
            descendants = sorted(str(t) for t in revoked_ids if t != row.id)
            for workspace_id in await self._audit_workspaces(row.principal_id):
                await self._audit.append(
                    AuditRecord(
                        workspace_id,
                        AuditAction.TOKEN_REVOKED,
                        actor,
                        details={
                            "principal_id": str(row.principal_id),
                            "token_id": str(row.id),
                            "descendants_revoked": len(descendants),
                        },
                    ),
                    connection,
                )

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
        try:
            await self._bind(principal, workspace_id, role, actor)
        finally:
            self._announce([principal.id])
        return principal

    async def _bind(self, principal: Principal, workspace_id: str, role: Role, actor: Actor) -> None:
        self._suspend([principal.id])
        async with self._audit.transaction() as connection:
            binding = (
                await RoleBinding.filter(principal_id=principal.id, workspace_id=workspace_id)
                .using_db(connection)
                .select_for_update()
                .first()
            )
            previous = binding.role.value if binding else None
            if binding is None:
                await RoleBinding.create(
                    principal_id=principal.id, workspace_id=workspace_id, role=role, using_db=connection
                )
            else:
                binding.role = role
                await binding.save(using_db=connection, update_fields=["role"])
            await self._audit.append(
                AuditRecord(
                    workspace_id,
                    AuditAction.ROLE_GRANTED,
                    actor,
                    details={"principal_id": str(principal.id), "role": role.value, "previous_role": previous},
                ),
                connection,
            )

    async def revoke(self, identity: Identity, principal_id: UUID, workspace_id: str, actor: Actor) -> Principal:
        if not identity.may(Permission.MANAGE_PRINCIPALS, workspace_id):
            raise Forbidden(f"not allowed to manage principals in workspace {workspace_id!r}")
        principal = await Principal.get_or_none(id=principal_id)
        binding = (
            await RoleBinding.get_or_none(principal_id=principal_id, workspace_id=workspace_id) if principal else None
        )
        if principal is None or binding is None:
            raise NotFound(f"principal {principal_id} has no role in workspace {workspace_id!r}")
        self._suspend([principal.id])
        try:
            async with self._audit.transaction() as connection:
                await RoleBinding.filter(id=binding.id).using_db(connection).delete()
                await self._audit.append(
                    AuditRecord(
                        workspace_id,
                        AuditAction.ROLE_REVOKED,
                        actor,
                        details={"principal_id": str(principal.id), "role": binding.role.value},
                    ),
                    connection,
                )
        finally:
            self._announce([principal.id])
        return principal
