"""Signed audit checkpoints: the document the server signs, and its check.

A checkpoint says "the audit chain of workspace W had reached seq N with head
hash H at time T", signed with the server's Ed25519 key. Whoever keeps one can
later ask the server whether its chain still reaches that point
(`auditIntegrity(checkpoint: ...)`): deleting the newest events, or rewriting
history, is then caught even by someone who trusts nothing but the file.

The signed bytes are, as the server documents them (AuditCheckpoint.signature
in schema.graphql), the canonical JSON (sorted keys, no whitespace, UTF-8) of

    {"created_at": ISO 8601 with microseconds, "head_hash": ..., "previous_signature": ... or null,
     "seq": N, "version": 1, "workspace_id": ...}

so each checkpoint also vouches for the one before it.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from graphql_api.client.models import AuditCheckpoint

FORMAT = "strongroom-audit-checkpoint/1"


class CheckpointError(ValueError):
    """A checkpoint file that is malformed or whose signature does not verify."""


def signed_document(checkpoint: AuditCheckpoint) -> bytes:
    try:
        created_at = datetime.fromisoformat(checkpoint.created_at).isoformat(timespec="microseconds")
    except ValueError:
        raise CheckpointError("its createdAt is not an ISO 8601 time") from None
    document = {
        "version": 1,
        "workspace_id": checkpoint.workspace_id,
        "seq": checkpoint.seq,
        "head_hash": checkpoint.head_hash,
        "created_at": created_at,
        "previous_signature": checkpoint.previous_signature,
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def verify_signature(checkpoint: AuditCheckpoint) -> None:
    """Raise CheckpointError unless the signature verifies with the checkpoint's own public key."""
    try:
        public = Ed25519PublicKey.from_public_bytes(base64.b64decode(checkpoint.public_key, validate=True))
        signature = base64.b64decode(checkpoint.signature, validate=True)
    except (binascii.Error, ValueError):
        raise CheckpointError("the public key or signature is not base64 of an Ed25519 key and signature") from None
    try:
        public.verify(signature, signed_document(checkpoint))
    except InvalidSignature:
        raise CheckpointError("its signature does not verify: the file was altered or not signed by that key") from None


def to_file(checkpoint: AuditCheckpoint) -> str:
    return json.dumps({"format": FORMAT, **checkpoint.to_json()}, indent=2, ensure_ascii=False) + "\n"


def from_file(text: str) -> AuditCheckpoint:
    try:
        document: Any = json.loads(text)
    except ValueError:
        raise CheckpointError("is not JSON") from None
    if not isinstance(document, Mapping) or document.get("format") != FORMAT:
        raise CheckpointError(f'is not a checkpoint file (expected "format": "{FORMAT}")')
    try:
        return AuditCheckpoint.from_api(document)
    except (KeyError, TypeError, ValueError):
        raise CheckpointError("lacks workspaceId, seq, headHash, createdAt, keyId, publicKey or signature") from None
