"""The audit trail: one row per operation, hash-chained per workspace."""

from __future__ import annotations

from typing import Any

from tortoise import fields
from tortoise.models import Model

from models.enums import AuditAction


class SecretAudit(Model):
    id = fields.UUIDField(primary_key=True)
    # Monotonic per workspace; with prev_hash/hash it makes gaps and
    # reordering detectable.
    seq = fields.BigIntField()
    workspace_id = fields.CharField(max_length=63)
    secret_id = fields.UUIDField(null=True)
    action = fields.CharEnumField(AuditAction, max_length=32)
    user_id = fields.UUIDField(null=True)
    ip_address = fields.CharField(max_length=64, null=True)
    user_agent = fields.CharField(max_length=512, null=True)
    details: Any = fields.JSONField(default=dict)
    success = fields.BooleanField()
    created_at = fields.DatetimeField()
    prev_hash = fields.CharField(max_length=64)
    hash = fields.CharField(max_length=64)

    class Meta:
        table = "secret_audit"
        unique_together = (("workspace_id", "seq"),)
        # No index by secret here: see AuditSecretIndex.
        indexes = (
            ("workspace_id", "action", "seq"),
            # Retention purges by age across workspaces.
            ("created_at",),
        )


class AuditChainHead(Model):
    """The newest event of each workspace's chain.

    Writers lock this row (SELECT ... FOR UPDATE on PostgreSQL) to append, so
    concurrent writers on one workspace serialize without a table lock.
    """

    workspace_id = fields.CharField(primary_key=True, max_length=63)
    seq = fields.BigIntField()
    hash = fields.CharField(max_length=64)
    # Retention purges the oldest events: everything at or below this sequence
    # number was removed on purpose, so verification expects the oldest kept
    # event at purged_through_seq + 1 and detects any other missing start.
    purged_through_seq = fields.BigIntField(default=0)
    # Hash of the last purged event: the oldest kept event must link to it.
    purged_through_hash = fields.CharField(max_length=64, default="0" * 64)
    # HMACs under the audit key (never stored in the database) over
    # (workspace, seq, hash) and over the purge point: a database writer
    # cannot move the head back (truncation) or fake a retention purge.
    head_mac = fields.CharField(max_length=64, default="", db_default="")
    purge_mac = fields.CharField(max_length=64, default="", db_default="")
    # Every event up to here is in audit_secret_index (AuditSecretIndex);
    # the events after it are found by sequence number.
    indexed_through_seq = fields.BigIntField(default=0, db_default=0)

    class Meta:
        table = "audit_chain_head"


class AuditSecretIndex(Model):
    """Which events concern which secret: the per-secret index of the trail,
    kept behind the head instead of inside every append.

    Why: an index of `secret_audit` by secret puts each appended event on the
    index page of its own secret, so a batch of events on 200 secrets (one
    bulk read, one import, a busy group commit) dirtied some 200 index pages
    and its commit wrote and fsynced them all: with that index dropped, a
    200-secret bulk read went from 24.1 to 19.9 ms (SQLite, `make bench`).
    Events are appended in sequence order only, and this index is filled
    from them in bulk, thousands at a time (graphql_api.services.audit_index),
    where many events share a secret's page. A per-secret reader takes what
    is indexed and the few events after `indexed_through_seq` by sequence.
    This is derived data: verification checks it against the trail, so a
    row deleted here to hide an event from a secret's history is found.
    """

    id = fields.BigIntField(primary_key=True)
    secret_id = fields.UUIDField()
    workspace_id = fields.CharField(max_length=63)
    seq = fields.BigIntField()

    class Meta:
        table = "audit_secret_index"
        unique_together = (("secret_id", "seq"),)
        # Retention removes a workspace's oldest entries with its events.
        indexes = (("workspace_id", "seq"),)


class AuditCheckpoint(Model):
    """A signed statement "the chain of this workspace had reached seq with
    head_hash at created_at", published periodically and on demand.

    Each checkpoint also signs the previous one's signature, so the published
    checkpoints form a chain of their own (CloudTrail's digest files are the
    model). Clients keep one and verify later that the trail still reaches it.
    """

    id = fields.BigIntField(primary_key=True)
    workspace_id = fields.CharField(max_length=63)
    seq = fields.BigIntField()
    head_hash = fields.CharField(max_length=64)
    created_at = fields.DatetimeField()
    key_id = fields.CharField(max_length=64)
    previous_signature = fields.CharField(max_length=128, null=True)
    signature = fields.CharField(max_length=128)

    class Meta:
        table = "audit_checkpoint"
        indexes = (("workspace_id", "seq"),)
