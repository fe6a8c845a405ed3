"""Who may do what: principals, their role bindings and their API tokens."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.models import Model

from models.enums import Role

if TYPE_CHECKING:
    from models.workspace import Workspace


class Principal(Model):
    id = fields.UUIDField(primary_key=True)
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
    name = fields.CharField(max_length=128)
    # hex SHA-256 of the whole token: the token itself is never stored.
    token_hash = fields.CharField(max_length=64, unique=True)
    # The first characters of the token, safe to show in listings.
    prefix = fields.CharField(max_length=16)
    created_at = fields.DatetimeField(auto_now_add=True)
    expires_at = fields.DatetimeField(null=True)
    last_used_at = fields.DatetimeField(null=True)
    revoked_at = fields.DatetimeField(null=True)

    class Meta:
        table = "api_token"
        indexes = (("principal_id", "created_at"),)

    def __repr__(self) -> str:
        return f"<ApiToken {self.id} {self.prefix}…>"
