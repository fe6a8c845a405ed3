"""Who may do what: principals, their role bindings and their API tokens."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.models import Model

from models.enums import Role

if TYPE_CHECKING:
    from uuid import UUID

    from models.workspace import Workspace


class Principal(Model):
    id = fields.UUIDField(primary_key=True)
    # The qualified name: "ci" when a superadmin made it, "payments/ci" when
    # an ADMIN of workspace payments did. A workspace admin's names live in
    # its workspace's namespace, so whether "create principal ci" succeeds
    # never depends on what exists in another tenant (no existence oracle).
    # Names given by clients cannot contain "/".
    name = fields.CharField(max_length=128, unique=True)
    is_superadmin = fields.BooleanField(default=False)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "principal"


class RoleBinding(Model):
    id = fields.BigIntField(primary_key=True)
    principal: fields.ForeignKeyRelation[Principal] = fields.ForeignKeyField(
        "models.Principal", related_name="bindings", on_delete=fields.CASCADE
    )
    workspace: fields.ForeignKeyRelation[Workspace] = fields.ForeignKeyField(
        "models.Workspace", related_name="bindings", on_delete=fields.CASCADE
    )
    if TYPE_CHECKING:  # the foreign keys' columns, set by Tortoise
        principal_id: UUID
        workspace_id: str
    role = fields.CharEnumField(Role, max_length=16)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "role_binding"
        unique_together = (("principal", "workspace"),)


class ApiToken(Model):
    id = fields.UUIDField(primary_key=True)
    principal: fields.ForeignKeyRelation[Principal] = fields.ForeignKeyField(
        "models.Principal", related_name="tokens", on_delete=fields.CASCADE
    )
    if TYPE_CHECKING:  # the foreign keys' columns, set by Tortoise
        principal_id: UUID
        parent_id: UUID | None
    name = fields.CharField(max_length=128)
    # hex SHA-256 of the whole token: the token itself is never stored.
    token_hash = fields.CharField(max_length=64, unique=True)
    # The first characters of the token, safe to show in listings.
    prefix = fields.CharField(max_length=16)
    created_at = fields.DatetimeField(auto_now_add=True)
    expires_at = fields.DatetimeField(null=True)
    last_used_at = fields.DatetimeField(null=True)
    revoked_at = fields.DatetimeField(null=True)
    # The token whose bearer minted this one (None: bootstrap or made on the
    # database by `strongroom token bootstrap`). A minted token never outlives
    # its parent and is revoked with it (Vault's token hierarchy).
    parent: fields.ForeignKeyNullableRelation[ApiToken] = fields.ForeignKeyField(
        "models.ApiToken", related_name="children", null=True, on_delete=fields.CASCADE
    )
    # The bootstrap superadmin token is the one token STRONGROOM_MAX_TOKEN_TTL
    # does not bound (it is how an operator gets back in).
    bootstrap = fields.BooleanField(default=False, db_default=False)

    class Meta:
        table = "api_token"
        indexes = (("principal_id", "created_at"), ("parent_id",))

    def __repr__(self) -> str:
        return f"<ApiToken {self.id} {self.prefix}…>"
