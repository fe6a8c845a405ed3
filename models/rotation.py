"""The rotation notification outbox.

A notification row is written in the same transaction that decides it (the
scheduler's claim of a due secret, a rotation), one per notifier, so that a
crash between deciding and delivering loses nothing: delivery picks up every
row not yet DELIVERED, at least once; receivers deduplicate on `event_id`.
"""

from __future__ import annotations

from typing import Any

from tortoise import fields
from tortoise.models import Model

from models.enums import NotificationStatus


class RotationNotification(Model):
    id = fields.UUIDField(primary_key=True)
    event_id = fields.UUIDField()
    notifier = fields.CharField(max_length=64)
    kind = fields.CharField(max_length=32)
    workspace_id = fields.CharField(max_length=63)
    secret_id = fields.UUIDField()
    payload: Any = fields.JSONField()
    status = fields.CharEnumField(NotificationStatus, max_length=16, default=NotificationStatus.PENDING)
    attempts = fields.IntField(default=0)
    last_error = fields.CharField(max_length=255, null=True)
    created_at = fields.DatetimeField()
    next_attempt_at = fields.DatetimeField()
    lease_until = fields.DatetimeField(null=True)
    delivered_at = fields.DatetimeField(null=True)

    class Meta:
        table = "rotation_notification"
        unique_together = (("event_id", "notifier"),)
        indexes = (("status", "next_attempt_at"),)
