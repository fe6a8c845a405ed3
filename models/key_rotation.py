"""Progress of a data-key rewrap, kept so that it resumes after a crash."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model

from models.enums import KeyRotationStatus


class KeyRotationJob(Model):
    id = fields.UUIDField(primary_key=True)
    target_backend = fields.CharField(max_length=64)
    target_key_id = fields.CharField(max_length=255)
    status = fields.CharEnumField(KeyRotationStatus, max_length=16)
    # Keyset cursor over secret_version.id: everything at or below it is done.
    last_version_id = fields.BigIntField(default=0)
    rewrapped = fields.IntField(default=0)
    started_by_user_id = fields.UUIDField(null=True)
    started_at = fields.DatetimeField()
    updated_at = fields.DatetimeField()
    finished_at = fields.DatetimeField(null=True)
    error = fields.TextField(null=True)

    class Meta:
        table = "key_rotation_job"
        indexes = (("status", "started_at"),)
