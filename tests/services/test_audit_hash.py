"""The audit chain's canonical bytes and keyed hash."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import pytest

from graphql_api.services.audit import GENESIS_HASH, canonical_event
from graphql_api.services.server_keys import DerivedKeys

KEYS = DerivedKeys.from_master(b"k" * 32)
OTHER_KEYS = DerivedKeys.from_master(b"j" * 32)
chain_hash = KEYS.chain_hash

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


def test_chain_hash_is_an_hmac_of_prev_and_event_under_the_chain_key() -> None:
    event = canonical_event(**EVENT)

    assert chain_hash(GENESIS_HASH, event) == hmac.new(KEYS.chain_key, GENESIS_HASH.encode() + event, hashlib.sha256).hexdigest()
    # Without the key, the plain digest a database writer could compute does not fit.
    assert chain_hash(GENESIS_HASH, event) != hashlib.sha256(GENESIS_HASH.encode() + event).hexdigest()
    assert OTHER_KEYS.chain_hash(GENESIS_HASH, event) != chain_hash(GENESIS_HASH, event)


def test_derived_keys_are_distinct_and_never_shown() -> None:
    assert len({KEYS.chain_key, KEYS.digest_key}) == 2
    assert "k" * 8 not in repr(KEYS) and KEYS.chain_key.hex() not in repr(KEYS)


def test_chain_hash_depends_on_prev_hash() -> None:
    event = canonical_event(**EVENT)
    first = chain_hash(GENESIS_HASH, event)

    assert chain_hash(first, event) != first
    assert chain_hash("1" + GENESIS_HASH[1:], event) != first
    assert chain_hash(GENESIS_HASH, event) == first
