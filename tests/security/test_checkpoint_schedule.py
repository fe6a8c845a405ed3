"""When the periodic job signs checkpoints, and how its verification shares the loop.

A checkpoint is due an interval after the last one this server signed (or
after the oldest kept event of a trail that has none), not at every start:
a restart must not verify an hour's events at once, and a row a DBA
inserts must not postpone the next real checkpoint. The job's verification
keeps every guarantee of the on-demand one: nothing is signed over an
edited trail.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from graphql_api.services import audit_reader
from graphql_api.services.checkpoints import PUBLISH_INTERVAL_SECONDS
from graphql_api.services.pacing import Pacer
from models import AuditCheckpoint, SecretAudit
from tests.harness import Server
from tests.security.conftest import LiveClock, create_secret, ok

VALUE = 'query($id: ID!) { secretValue(workspaceId: "default", id: $id) { value } }'
HOUR = {"seconds": PUBLISH_INTERVAL_SECONDS}


async def _reads(server: Server, count: int) -> str:
    sid = await create_secret(server, "default", "SCHEDULED", "v")
    for _ in range(count):
        await ok(server, VALUE, {"id": sid})
    return sid


async def _signed(workspace: str = "default") -> list[AuditCheckpoint]:
    return list(await AuditCheckpoint.filter(workspace_id=workspace).order_by("id"))


@pytest.mark.asyncio
async def test_a_checkpoint_is_due_an_interval_after_the_last_one(server: Server, clock: LiveClock) -> None:
    sid = await _reads(server, 2)
    checkpoints = server.services.checkpoints
    assert await checkpoints.publish_due() == 0  # the trail began just now
    assert await _signed() == []

    clock.advance(**HOUR)
    assert await checkpoints.publish_due() == 1
    (first,) = await _signed()
    head = await SecretAudit.filter(workspace_id="default").order_by("-seq").first()
    assert head is not None and first.seq == head.seq

    await ok(server, VALUE, {"id": sid})  # the trail moves
    clock.advance(minutes=50)
    assert await checkpoints.publish_due() == 0  # a restart here would not sign early either
    assert len(await _signed()) == 1

    clock.advance(minutes=11)
    assert await checkpoints.publish_due() == 1
    _first, second = await _signed()
    assert second.seq == first.seq + 1
    assert second.previous_signature == first.signature  # checkpoints still chain


@pytest.mark.asyncio
async def test_a_trail_that_did_not_move_gets_no_new_row(server: Server, clock: LiveClock) -> None:
    await _reads(server, 1)
    clock.advance(**HOUR)
    await server.services.checkpoints.publish_due()
    clock.advance(**HOUR)
    await server.services.checkpoints.publish_due()
    assert len(await _signed()) == 1


@pytest.mark.asyncio
async def test_a_row_the_server_did_not_sign_does_not_postpone_the_next(server: Server, clock: LiveClock) -> None:
    await _reads(server, 2)
    clock.advance(**HOUR)
    head = await SecretAudit.filter(workspace_id="default").order_by("-seq").first()
    assert head is not None
    # A DBA's row dated now, naming the head: if it counted, nothing would be due for an hour.
    await AuditCheckpoint.create(
        workspace_id="default",
        seq=head.seq,
        head_hash=head.hash,
        created_at=clock(),
        key_id="forged",
        previous_signature=None,
        signature="Zm9yZ2Vk",
    )
    assert await server.services.checkpoints.publish_due() == 1
    signed = await _signed()
    assert len(signed) == 2 and signed[-1].key_id != "forged"


@pytest.mark.asyncio
async def test_the_job_signs_nothing_over_an_edited_trail(server: Server, clock: LiveClock) -> None:
    sid = await _reads(server, 3)
    clock.advance(**HOUR)
    assert await server.services.checkpoints.publish_due() == 1
    await ok(server, VALUE, {"id": sid})
    newest = await SecretAudit.filter(workspace_id="default").order_by("-seq").first()
    assert newest is not None
    await SecretAudit.filter(id=newest.id).update(user_agent="edited after the checkpoint")
    clock.advance(**HOUR)
    assert await server.services.checkpoints.publish_due() == 0
    assert len(await _signed()) == 1


@pytest.mark.asyncio
async def test_verification_gives_way_every_slice(
    server: Server, clock: LiveClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _reads(server, 6)  # 7 events: the creation and six reads
    monkeypatch.setattr(audit_reader, "VERIFY_SLICE", 2)
    pauses = 0

    async def pace() -> None:
        nonlocal pauses
        pauses += 1

    report = await server.services.audit_reader.verify("default", pace=pace)
    assert report.valid and report.checked_events == 7
    assert pauses == 3  # after events 2, 4 and 6


@pytest.mark.asyncio
async def test_the_pacer_keeps_its_share_of_the_time() -> None:
    now = [0.0]
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    pacer = Pacer(0.2, clock=lambda: now[0], sleep=sleep)
    for worked in (0.010, 0.002, 0.0):
        now[0] += worked
        await pacer.pause()
    assert slept == pytest.approx([0.040, 0.008, 0.0])
    # Over the whole run, the work was a fifth of the time.
    assert 0.012 / now[0] == pytest.approx(0.2)


def test_a_share_outside_zero_to_one_is_refused() -> None:
    for share in (0, -0.5, 1.5):
        with pytest.raises(ValueError):
            Pacer(share)


@pytest.mark.asyncio
async def test_the_pacer_sleeps_on_the_event_loop() -> None:
    """While the background work waits, the loop runs everyone else."""
    steps: list[int] = []

    async def request() -> None:
        for step in range(3):
            steps.append(step)
            await asyncio.sleep(0)

    pacer = Pacer(0.5)
    task = asyncio.create_task(request())
    time.sleep(0.01)  # a slice of work that holds the loop
    await pacer.pause()  # about as long again, on the loop
    assert steps == [0, 1, 2] and task.done()
