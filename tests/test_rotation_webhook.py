"""End to end: the scheduler finds a due secret and the signed webhook
reaches a real HTTP receiver exactly once, including after a failed delivery."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from models import SecretAudit
from tests.clock import MutableClock
from tests.conftest import make_settings
from tests.plugins.test_notifiers import SECRET, Receiver, served_receiver  # noqa: F401  (fixture)
from tests.test_audit_trail import running

pytestmark = pytest.mark.asyncio


@pytest.fixture
def receiver(served_receiver: Receiver) -> Receiver:  # noqa: F811
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
        STRONGROOM_WEBHOOK_ATTEMPTS="1",  # let the outbox do the retrying
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
