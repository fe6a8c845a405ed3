"""The audit chain's canonical bytes and hash."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import pytest

from graphql_api.services.audit import GENESIS_HASH, canonical_event, chain_hash

EVENT: dict[str, Any] = {
    "event_id": UUID(int=1),
    "seq": 7,
    "workspace_id": "default",
    "secret_id": UUID(int=2),
    "action": "ACCESSED",
    "user_id": UUID(int=3),
    "ip_address": "192.0.2.10",
    "user_agent": "curl/8.0",
    "details": {"name": "DB_PASSWORD", "version": 3},
    "success": True,
    "created_at": datetime(2024, 5, 1, 12, 30, 0, 123456, tzinfo=UTC),
}

CHANGES: dict[str, Any] = {
    "event_id": UUID(int=99),
    "seq": 8,
    "workspace_id": "other",
    "secret_id": None,
    "action": "UPDATED",
    "user_id": None,
    "ip_address": "192.0.2.11",
    "user_agent": None,
    "details": {"name": "DB_PASSWORD", "version": 4},
    "success": False,
    "created_at": datetime(2024, 5, 1, 12, 30, 0, 123457, tzinfo=UTC),
}


def test_canonical_event_is_deterministic() -> None:
    reordered_details = {**EVENT, "details": {"version": 3, "name": "DB_PASSWORD"}}

    assert canonical_event(**EVENT) == canonical_event(**dict(EVENT))
    assert canonical_event(**EVENT) == canonical_event(**reordered_details)


def test_every_field_is_covered() -> None:
    assert set(CHANGES) == set(EVENT)


@pytest.mark.parametrize("field", sorted(CHANGES))
def test_canonical_event_changes_with_each_field(field: str) -> None:
    changed = {**EVENT, field: CHANGES[field]}

    assert canonical_event(**changed) != canonical_event(**EVENT)


def test_chain_hash_is_sha256_of_prev_and_event() -> None:
    event = canonical_event(**EVENT)

    assert chain_hash(GENESIS_HASH, event) == hashlib.sha256(GENESIS_HASH.encode() + event).hexdigest()


def test_chain_hash_depends_on_prev_hash() -> None:
    event = canonical_event(**EVENT)
    first = chain_hash(GENESIS_HASH, event)

    assert chain_hash(first, event) != first
    assert chain_hash("1" + GENESIS_HASH[1:], event) != first
    assert chain_hash(GENESIS_HASH, event) == first
