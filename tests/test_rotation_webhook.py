"""End to end: the scheduler finds a due secret and the signed webhook
reaches a real HTTP receiver exactly once, including after a failed delivery;
the outbox is the only retry loop (one POST per outbox attempt), honours the
receiver's Retry-After and abandons what retrying cannot fix."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from graphql_api.services.notifications import FIRST_RETRY, MAX_ATTEMPTS, MAX_RETRY, MAX_RETRY_AFTER
from models import NotificationStatus, RotationNotification, SecretAudit
from plugins.interfaces import RotationEvent
from plugins.retries import DeliveryFailure
from tests.clock import MutableClock
from tests.conftest import make_settings
from tests.support.plugins import plugin_manager
from tests.support.running import running
from tests.support.webhook_receiver import SECRET, Receiver

pytestmark = pytest.mark.asyncio


@pytest.fixture
def receiver(served_receiver: Receiver) -> Receiver:
    served_receiver.reset()
    return served_receiver


async def test_due_secret_reaches_the_webhook_once_after_a_failed_delivery(
    database_url: str, tmp_path: Path, clock: MutableClock, receiver: Receiver
) -> None:
    settings = make_settings(
        database_url,
        tmp_path / "data",
        STRONGROOM_ROTATION_WEBHOOK_URL=receiver.url,
        STRONGROOM_WEBHOOK_SECRET=SECRET,
    )
    async with running(settings, clock) as server:
        await server.data(
            'mutation { createSecret(workspaceId: "default", input: {name: "STRIPE", secretType: API_KEY, value: "sk_live_x", rotationPolicy: AUTO_30_DAYS}) { id } }'
        )
        clock.advance(days=31)
        receiver.fail_next(1, 500)
        first = await server.services.rotation.run_once()
        assert first.notified == 1
        assert len(receiver.requests) == 1 and receiver.delivered == []
        clock.advance(minutes=5)
        await server.services.rotation.run_once()
        await server.services.rotation.run_once()
        outcomes = [
            e
            for e in await SecretAudit.filter(action="ROTATION_NOTIFIED").order_by("seq")
            if e.details["notifier"] == "webhook"
        ]
    assert [e.success for e in outcomes] == [False, True]
    assert len(receiver.delivered) == 1
    delivered = receiver.delivered[0]
    assert delivered.verified
    event = json.loads(delivered.body)
    assert (event["kind"], event["secret_name"], event["secret_type"]) == ("rotation_due", "STRIPE", "API_KEY")
    assert (
        receiver.requests[0].headers["x-strongroom-event-id"]
        == delivered.headers["x-strongroom-event-id"]
        == event["id"]
    )
    assert "sk_live_x" not in delivered.body.decode()


CREATE_DUE = (
    'mutation { createSecret(workspaceId: "default", input: {name: "DUE", secretType: API_KEY, '
    'value: "sk_live_y", rotationPolicy: AUTO_30_DAYS}) { id } }'
)


def webhook_settings(database_url: str, tmp_path: Path, receiver: Receiver, **extra: str) -> Any:
    return make_settings(
        database_url,
        tmp_path / "data",
        STRONGROOM_ROTATION_WEBHOOK_URL=receiver.url,
        STRONGROOM_WEBHOOK_SECRET=SECRET,
        **extra,
    )


async def webhook_row() -> RotationNotification:
    return await RotationNotification.get(notifier="webhook")


async def webhook_outcomes() -> list[SecretAudit]:
    return [
        e
        for e in await SecretAudit.filter(action="ROTATION_NOTIFIED").order_by("seq")
        if e.details["notifier"] == "webhook"
    ]


async def test_one_event_against_a_failing_endpoint_costs_exactly_the_outbox_attempts(
    database_url: str, tmp_path: Path, clock: MutableClock, receiver: Receiver
) -> None:
    """The old bound was attempts x outbox attempts (3 x 12 = 36 POSTs): now one POST per outbox attempt."""
    # An old configuration asking for in-notifier retries must not multiply the POSTs.
    settings = webhook_settings(database_url, tmp_path, receiver, STRONGROOM_WEBHOOK_ATTEMPTS="10")
    receiver.fail_next(10 * MAX_ATTEMPTS, 503)
    async with running(settings, clock) as server:
        await server.data(CREATE_DUE)
        clock.advance(days=31)
        waits: list[timedelta] = []
        for attempt in range(1, MAX_ATTEMPTS + 3):  # two passes more than needed
            await server.services.rotation.run_once()
            row = await webhook_row()
            if row.status is NotificationStatus.PENDING:
                assert row.attempts == attempt
                waits.append(row.next_attempt_at - clock.current)
            clock.advance(seconds=MAX_RETRY.total_seconds() + 1)  # past any backoff
        row = await webhook_row()
        outcomes = await webhook_outcomes()
    assert (row.status, row.attempts) == (NotificationStatus.ABANDONED, MAX_ATTEMPTS)
    assert len(receiver.requests) == MAX_ATTEMPTS == len(outcomes)
    assert [e.details["outcome"] for e in outcomes] == ["PENDING"] * (MAX_ATTEMPTS - 1) + ["ABANDONED"]
    host = f"127.0.0.1:{httpx.URL(receiver.url).port}"
    assert all(e.details["error"] == f"rotation webhook to {host} failed: HTTP 503" for e in outcomes)
    assert len({r.headers["x-strongroom-event-id"] for r in receiver.requests}) == 1  # one event, same id each time
    assert all(r.verified for r in receiver.requests)
    # The shared policy's backoff: doubling from FIRST_RETRY, capped at MAX_RETRY, jittered into [w / 2, w].
    assert len(waits) == MAX_ATTEMPTS - 1
    for retry, wait in enumerate(waits, start=1):
        ceiling = min(MAX_RETRY, FIRST_RETRY * 2 ** (retry - 1))
        assert ceiling / 2 <= wait <= ceiling, (retry, wait)
    assert len({wait for wait in waits[-4:]}) > 1, "capped waits are still jittered"


async def test_the_receivers_retry_after_sets_the_next_attempt(
    database_url: str, tmp_path: Path, clock: MutableClock, receiver: Receiver
) -> None:
    receiver.fail_next(1, 429, retry_after="7200")
    async with running(webhook_settings(database_url, tmp_path, receiver), clock) as server:
        await server.data(CREATE_DUE)
        clock.advance(days=31)
        await server.services.rotation.run_once()
        row = await webhook_row()
        assert row.status is NotificationStatus.PENDING and row.attempts == 1
        # Honoured although longer than the backoff (30 s) and than MAX_RETRY (1 h).
        assert row.next_attempt_at - clock.current == timedelta(seconds=7200)
        assert "Retry-After 7200s" in (row.last_error or "")
        clock.advance(seconds=7199)
        await server.services.rotation.run_once()
        assert len(receiver.requests) == 1  # not before the receiver asked
        clock.advance(seconds=1)
        await server.services.rotation.run_once()
        row = await webhook_row()
    assert len(receiver.requests) == 2 and len(receiver.delivered) == 1
    assert (row.status, row.attempts) == (NotificationStatus.DELIVERED, 2)


async def test_a_short_retry_after_does_not_shorten_the_backoff(
    database_url: str, tmp_path: Path, clock: MutableClock, receiver: Receiver
) -> None:
    receiver.fail_next(1, 503, retry_after="0")
    async with running(webhook_settings(database_url, tmp_path, receiver), clock) as server:
        await server.data(CREATE_DUE)
        clock.advance(days=31)
        await server.services.rotation.run_once()
        row = await webhook_row()
    assert FIRST_RETRY / 2 <= row.next_attempt_at - clock.current <= FIRST_RETRY


@pytest.mark.parametrize("status", [400, 404, 410])
async def test_a_permanent_refusal_is_abandoned_after_one_post(
    database_url: str, tmp_path: Path, clock: MutableClock, receiver: Receiver, status: int
) -> None:
    receiver.fail_next(10, status)
    async with running(webhook_settings(database_url, tmp_path, receiver), clock) as server:
        await server.data(CREATE_DUE)
        clock.advance(days=31)
        await server.services.rotation.run_once()
        for _ in range(3):
            clock.advance(hours=2)
            await server.services.rotation.run_once()
        row = await webhook_row()
        outcomes = await webhook_outcomes()
    assert len(receiver.requests) == 1
    assert (row.status, row.attempts) == (NotificationStatus.ABANDONED, 1)
    assert [(e.success, e.details["outcome"]) for e in outcomes] == [(False, "ABANDONED")]
    assert outcomes[0].details["error"].endswith(f"HTTP {status} (not retried)")


class AdvisingNotifier:
    """A third-party notifier speaking DeliveryFailure, with whatever retry_after it likes."""

    name = "advising"

    def __init__(self, *failures: DeliveryFailure) -> None:
        self.failures = list(failures)
        self.calls = 0

    async def notify(self, event: RotationEvent) -> None:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)


@pytest.mark.parametrize("retry_after", [float("nan"), -5.0, "60", True])
async def test_a_nonsense_retry_after_from_a_plugin_falls_back_to_the_backoff(
    database_url: str, tmp_path: Path, clock: MutableClock, retry_after: Any
) -> None:
    notifier = AdvisingNotifier(DeliveryFailure("busy", retry_after=retry_after))
    async with running(make_settings(database_url, tmp_path / "d"), clock, plugins=plugin_manager(notifier)) as server:
        await server.data(CREATE_DUE)
        clock.advance(days=31)
        await server.services.rotation.run_once()
        row = await RotationNotification.get(notifier="advising")
    assert row.status is NotificationStatus.PENDING and row.last_error == "busy"
    assert FIRST_RETRY / 2 <= row.next_attempt_at - clock.current <= FIRST_RETRY


async def test_a_plugin_can_abandon_and_ask_for_a_longer_wait(
    database_url: str, tmp_path: Path, clock: MutableClock
) -> None:
    notifier = AdvisingNotifier(
        DeliveryFailure("come back tomorrow", retry_after=float("inf")),
        DeliveryFailure("gone", retryable=False),
    )
    async with running(make_settings(database_url, tmp_path / "d"), clock, plugins=plugin_manager(notifier)) as server:
        await server.data(CREATE_DUE)
        clock.advance(days=31)
        await server.services.rotation.run_once()
        row = await RotationNotification.get(notifier="advising")
        assert row.next_attempt_at - clock.current == MAX_RETRY_AFTER  # an endless wait is capped
        clock.advance(days=2)
        await server.services.rotation.run_once()
        clock.advance(days=2)
        await server.services.rotation.run_once()
        row = await RotationNotification.get(notifier="advising")
    assert (row.status, row.attempts, row.last_error) == (NotificationStatus.ABANDONED, 2, "gone")
    assert notifier.calls == 2
