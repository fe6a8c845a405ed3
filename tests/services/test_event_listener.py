"""The PostgreSQL listener loads a notified batch only for a workspace someone here listens to.

Every replica hears every replica's audit notifications; loading each
batch's events (a query and a conversion per commit) for a workspace
nobody on this replica subscribes to was 7% of a read's CPU under load.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any
from uuid import uuid4

import pytest

from graphql_api.events import EventBus, PostgresListener
from graphql_api.services.audit import EVENT_COLUMNS
from graphql_api.sql import POSTGRES

pytestmark = pytest.mark.asyncio


class RecordingSql:
    """What the listener asks of the database: the events of a range."""

    dialect = POSTGRES

    def __init__(self) -> None:
        self.fetched: list[list[Any]] = []

    async def fetch(self, statement: str, values: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        assert EVENT_COLUMNS in statement
        self.fetched.append(list(values))
        return []


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_batches_of_a_workspace_without_subscribers_are_not_loaded() -> None:
    bus, sql = EventBus(), RecordingSql()
    listener = PostgresListener("postgres://unused", bus, sql)  # type: ignore[arg-type]  # only fetch and dialect are used
    delivering = asyncio.create_task(listener._deliver())
    try:
        listener._on_audit(None, 0, "strongroom_audit", "quiet:1:3")
        await _settle()
        assert sql.fetched == []

        subscription = bus.subscribe("busy")
        listener._on_audit(None, 0, "strongroom_audit", "busy:4:6")
        listener._on_audit(None, 0, "strongroom_audit", "quiet:7:9")
        await _settle()
        assert sql.fetched == [["busy", 4, 6]]

        # A workspace id holding colons is split from the right, as before.
        bus.subscribe("a:b")
        listener._on_audit(None, 0, "strongroom_audit", "a:b:10:12")
        await _settle()
        assert sql.fetched[-1] == ["a:b", 10, 12]
        subscription.close()
        assert not bus.has_subscribers("busy") and bus.has_subscribers("a:b")
    finally:
        delivering.cancel()
        await asyncio.gather(delivering, return_exceptions=True)


async def test_a_subscriber_filtered_by_secret_still_counts() -> None:
    bus = EventBus()
    bus.subscribe("w", uuid4())
    assert bus.has_subscribers("w")
