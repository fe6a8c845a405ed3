"""Time-ordered ids (graphql_api.ids): RFC 9562 version 7, increasing in the
order they are made, one at a time or in batches."""

from __future__ import annotations

import time
import uuid

from graphql_api.ids import uuid7, uuid7s


def _millis(value: uuid.UUID) -> int:
    return value.int >> 80


def test_version_and_variant_bits_are_rfc_9562() -> None:
    for value in [uuid7(), *uuid7s(50)]:
        assert value.version == 7
        assert value.variant == uuid.RFC_4122


def test_the_time_prefix_is_now() -> None:
    before = time.time_ns() // 1_000_000
    value = uuid7()
    after = time.time_ns() // 1_000_000
    assert before <= _millis(value) <= after + 1  # +1: the counter may borrow a millisecond


def test_ids_increase_within_a_batch_and_across_calls() -> None:
    made = [uuid7(), *uuid7s(5000), uuid7(), *uuid7s(1), *uuid7s(300)]
    assert made == sorted(made)
    assert len(set(made)) == len(made)


def test_a_batch_larger_than_the_counter_still_increases() -> None:
    # More than 4,096 ids in one millisecond borrow the next millisecond.
    made = uuid7s(10_000)
    assert made == sorted(made) and len(set(made)) == len(made)


def test_an_empty_batch_is_empty() -> None:
    assert uuid7s(0) == []
