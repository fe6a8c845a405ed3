"""Secrets and their versions.

A secret row holds metadata only; every value lives, encrypted, in a
secret_version row. Versions are never rewritten except by key rotation (which
rewraps the data key only) and destroy (which erases ciphertext and key).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tortoise import fields
from tortoise.models import Model

from models.enums import RotationPolicy, SecretType, VersionState

if TYPE_CHECKING:
    from uuid import UUID

    from models.workspace import Workspace


class Secret(Model):
    id = fields.UUIDField(primary_key=True)
    workspace: fields.ForeignKeyRelation[Workspace] = fields.ForeignKeyField(
        "models.Workspace", related_name="secrets", on_delete=fields.RESTRICT
    )
    if TYPE_CHECKING:  # the foreign key's column, set by Tortoise
        workspace_id: str
    # NULL only for destroyed secrets: a destroyed secret keeps its row (audit
    # events refer to its id) but gives its name back to the workspace.
    name = fields.CharField(max_length=128, null=True)
    secret_type = fields.CharEnumField(SecretType, max_length=32)
    usage = fields.TextField(null=True)
    tags: Any = fields.JSONField(default=list)
    metadata: Any = fields.JSONField(default=dict)
    rotation_policy = fields.CharEnumField(RotationPolicy, max_length=32)
    last_rotated_at = fields.DatetimeField(null=True)
    rotation_due_at = fields.DatetimeField(null=True)
    rotation_notified_at = fields.DatetimeField(null=True)
    is_active = fields.BooleanField(default=True)
    current_version = fields.IntField(default=1)
    # The highest version number allocated; above current_version only while a
    # two-phase rotation has a PENDING version (or after a FAILED one).
    last_version = fields.IntField(default=1)
    pending_version = fields.IntField(null=True)
    encryption_backend = fields.CharField(max_length=64)
    created_by_user_id = fields.UUIDField(null=True)
    updated_by_user_id = fields.UUIDField(null=True)
    created_at = fields.DatetimeField()
    updated_at = fields.DatetimeField()
    destroyed_at = fields.DatetimeField(null=True)

    class Meta:
        table = "secret"
        # Serves lookups by name and keyset pagination ordered by name.
        unique_together = (("workspace", "name"),)
        indexes = (("workspace_id", "rotation_due_at"),)

    def __repr__(self) -> str:
        return f"<Secret {self.id} {self.workspace_id}/{self.name} v{self.current_version}>"


class SecretTag(Model):
    """One row per (secret, tag): an index for the tag filter.

    The tag list shown to clients is Secret.tags; this table is written in the
    same transaction and exists so that filtering by tags is an indexed join
    on every database instead of a dialect-specific JSON query.
    """

    id = fields.BigIntField(primary_key=True)
    secret: fields.ForeignKeyRelation[Secret] = fields.ForeignKeyField(
        "models.Secret", related_name="tag_rows", on_delete=fields.CASCADE
    )
    workspace_id = fields.CharField(max_length=63)
    tag = fields.CharField(max_length=64)

    class Meta:
        table = "secret_tag"
        unique_together = (("secret", "tag"),)
        indexes = (("workspace_id", "tag"),)


class SecretVersion(Model):
    id = fields.BigIntField(primary_key=True)
    secret: fields.ForeignKeyRelation[Secret] = fields.ForeignKeyField(
        "models.Secret", related_name="versions", on_delete=fields.CASCADE
    )
    if TYPE_CHECKING:  # the foreign key's column, set by Tortoise
        secret_id: UUID
    version = fields.IntField()
    # nonce || AES-256-GCM(value); NULL once destroyed.
    ciphertext = fields.BinaryField(null=True)
    # The data key as wrapped by `backend` under `key_id`; NULL once destroyed.
    wrapped_key = fields.BinaryField(null=True)
    backend = fields.CharField(max_length=64)
    key_id = fields.CharField(max_length=255)
    state = fields.CharEnumField(VersionState, max_length=16, default=VersionState.ACTIVE)
    created_at = fields.DatetimeField()
    created_by_user_id = fields.UUIDField(null=True)

    class Meta:
        table = "secret_version"
        unique_together = (("secret", "version"),)
        # Key rotation walks the versions still under an old key.
        indexes = (("backend", "key_id"),)

    def __repr__(self) -> str:
        return f"<SecretVersion {self.secret_id} v{self.version} {self.backend}:{self.key_id}>"


class SecretCount(Model):
    """How many secrets each workspace holds, kept by database triggers (see
    the migrations) on every insert, update and delete of `secret`, so that a
    listing's totalCount is one row read at any size instead of a count over
    the whole workspace. Destroyed tombstones are not counted."""

    workspace_id = fields.CharField(primary_key=True, max_length=63)
    active = fields.BigIntField(default=0)
    inactive = fields.BigIntField(default=0)

    class Meta:
        table = "secret_count"
