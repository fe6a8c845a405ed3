"""A workspace: the tenant boundary every secret, binding and audit event lives in."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class Workspace(Model):
    # The slug is the primary key: it is what users type, it never changes, and
    # it keeps foreign keys readable in the audit trail.
    id = fields.CharField(primary_key=True, max_length=63)
    name = fields.CharField(max_length=200)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "workspace"

    def __str__(self) -> str:
        return self.id
