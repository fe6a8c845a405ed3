"""Signed audit checkpoints, checked by the client with the key in the file.

The signer here follows the server's documented canonical document
(schema.graphql, AuditCheckpoint.signature), so a change on either side that
breaks verification fails this test."""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from graphql_api.client import AuditCheckpoint
from graphql_api.client.checkpoint import CheckpointError, from_file, to_file, verify_signature


def _signed(created_at: datetime, previous: str | None = None) -> AuditCheckpoint:
    key = Ed25519PrivateKey.generate()
    document = {
        "version": 1,
        "workspace_id": "acme-prod",
        "seq": 42,
        "head_hash": "ab" * 32,
        "created_at": created_at.isoformat(timespec="microseconds"),
        "previous_signature": previous,
    }
    message = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    public = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return AuditCheckpoint(
        workspace_id="acme-prod",
        seq=42,
        head_hash="ab" * 32,
        # The API's DateTime drops zero microseconds; the signed text never does.
        created_at=created_at.isoformat(),
        key_id="ed25519-test",
        public_key=base64.b64encode(public).decode(),
        previous_signature=previous,
        signature=base64.b64encode(key.sign(message)).decode(),
    )


@pytest.mark.parametrize("microsecond", [0, 123456])
def test_a_server_signed_checkpoint_verifies_and_survives_its_file(microsecond: int) -> None:
    checkpoint = _signed(datetime(2030, 1, 2, 3, 4, 5, microsecond, tzinfo=UTC), previous="cHJldg==")
    verify_signature(checkpoint)
    assert from_file(to_file(checkpoint)) == checkpoint
    verify_signature(from_file(to_file(checkpoint)))


@pytest.mark.parametrize(
    "change",
    [
        {"seq": 41},
        {"head_hash": "cd" * 32},
        {"workspace_id": "acme-staging"},
        {"previous_signature": None},
        {"created_at": "2030-01-02T03:04:06+00:00"},
    ],
)
def test_any_change_breaks_the_signature(change: dict[str, object]) -> None:
    checkpoint = _signed(datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC), previous="cHJldg==")
    with pytest.raises(CheckpointError, match="does not verify"):
        verify_signature(replace(checkpoint, **change))  # type: ignore[arg-type]


@pytest.mark.parametrize("text", ["not json", "{}", '{"format": "strongroom-audit-checkpoint/1", "seq": 1}'])
def test_malformed_files(text: str) -> None:
    with pytest.raises(CheckpointError):
        from_file(text)
