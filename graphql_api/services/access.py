"""Who may do what, and where: the one place roles become permissions.

Every resolver asks `Authorizer.require(identity, permission, workspace_id)`.
The role table (also in the README):

| permission        | VIEWER | READER | WRITER | AUDITOR | ADMIN |
|-------------------|:------:|:------:|:------:|:-------:|:-----:|
| list / metadata   |   x    |   x    |   x    |         |   x   |
| read values       |        |   x    |   x    |         |   x   |
| write             |        |        |   x    |         |   x   |
| read audit        |        |        |        |    x    |   x   |
| destroy           |        |        |        |         |   x   |
| manage principals |        |        |        |         |   x   |

Superadmins may do everything everywhere, plus create workspaces and
administer encryption.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from uuid import UUID

from graphql_api.errors import Forbidden, NotFound
from graphql_api.services import validation
from graphql_api.services.audit import Actor, AuditLog, AuditRecord
from graphql_api.services.read_cache import ReadCache
from graphql_api.sql import Sql
from models import AuditAction, Role


class Permission(str, Enum):
    LIST_SECRETS = "list secrets and read their metadata"
    READ_VALUES = "read secret values"
    WRITE_SECRETS = "create and change secrets"
    READ_AUDIT = "read the audit trail"
    DESTROY_SECRETS = "destroy secrets"
    MANAGE_PRINCIPALS = "manage principals"


_VIEWER = {Permission.LIST_SECRETS}
_READER = _VIEWER | {Permission.READ_VALUES}
_WRITER = _READER | {Permission.WRITE_SECRETS}

ROLE_PERMISSIONS: Mapping[Role, frozenset[Permission]] = {
    Role.VIEWER: frozenset(_VIEWER),
    Role.READER: frozenset(_READER),
    Role.WRITER: frozenset(_WRITER),
    Role.AUDITOR: frozenset({Permission.READ_AUDIT}),
    Role.ADMIN: frozenset(Permission),
}


@dataclass(frozen=True)
class Identity:
    """The authenticated principal of a request, with its bindings."""

    principal_id: UUID
    name: str
    is_superadmin: bool
    roles: Mapping[str, Role] = field(default_factory=dict)
    token_id: UUID | None = None
    # SHA-256 of the bearer token (not the token): what a long-lived stream
    # re-checks its authority with.
    token_hash: str | None = field(default=None, repr=False)
    # When the token stops working (its own expiry, its parent's, or the
    # maximum lifetime), None for never.
    expires_at: datetime | None = None

    def may(self, permission: Permission, workspace_id: str) -> bool:
        if self.is_superadmin:
            return True
        role = self.roles.get(workspace_id)
        return role is not None and permission in ROLE_PERMISSIONS[role]


class Authorizer:
    def __init__(self, sql: Sql) -> None:
        self._sql = sql
        # Set on PostgreSQL (graphql_api.services.read_cache): workspaces never
        # disappear, so one seen to exist is remembered.
        self.cache: ReadCache | None = None

    async def workspace_exists(self, workspace_id: str) -> bool:
        if not validation.is_workspace_id(workspace_id):
            return False
        if self.cache is not None and self.cache.workspace_known(workspace_id):
            return True
        found = await self._sql.read_one('SELECT 1 FROM "workspace" WHERE "id" = ?', [workspace_id]) is not None
        if found and self.cache is not None:
            self.cache.keep_workspace(workspace_id)
        return found

    async def require(self, identity: Identity, permission: Permission, workspace_id: str) -> None:
        """Return when allowed; raise Forbidden or NotFound otherwise.

        A principal bound to the workspace without the permission, or not bound
        at all, gets FORBIDDEN; it never learns whether the workspace exists.
        A superadmin asking about a workspace that does not exist gets
        NOT_FOUND.
        """
        if not identity.may(permission, workspace_id):
            raise self.refusal(permission, workspace_id)
        # A binding implies the workspace exists (foreign key); only a
        # superadmin can name one that does not (or one no workspace could have).
        if identity.is_superadmin and not await self.workspace_exists(workspace_id):
            raise NotFound(f"workspace {workspace_id!r} does not exist")

    @staticmethod
    def refusal(permission: Permission, workspace_id: str) -> Forbidden:
        return Forbidden(f"not allowed to {permission.value} in workspace {workspace_id!r}")

    def require_superadmin(self, identity: Identity, action: str) -> None:
        if not identity.is_superadmin:
            raise Forbidden(f"only a superadmin may {action}")


class DenialRecorder:
    """Records ACCESS_DENIED for a refusal.

    The record is queued for the next group commit and the refusal answered
    at once: whether the workspace exists (a denial in a missing workspace is
    dropped when the batch finds no chain for it) must show neither in the
    answer nor in its timing, and failing to audit a denial must not turn it
    into an allowance or an outage.
    """

    def __init__(self, audit: AuditLog) -> None:
        self._audit = audit

    def record(
        self,
        workspace_id: str,
        permission: Permission,
        actor: Actor,
        secret_id: UUID | None = None,
        details: Mapping[str, object] | None = None,
    ) -> None:
        record = AuditRecord(
            workspace_id,
            AuditAction.ACCESS_DENIED,
            actor,
            secret_id=secret_id,
            success=False,
            details={"permission": permission.name, **(details or {})},
        )
        self._audit.record_nowait([record])
