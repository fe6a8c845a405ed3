"""Stopping a periodic job lets a run under way finish (graphql_api/jobs.py).

A run cancelled while Tortoise's SQLite client opens a transaction keeps
the connection's lock, and every later write of the process waits for ever:
the last test stops a job at several points of a transaction and writes.
"""

from __future__ import annotations

import asyncio

import pytest
from tortoise.transactions import in_transaction

from graphql_api.jobs import PeriodicJob
from models import Workspace
from tests.harness import Server

pytestmark = pytest.mark.asyncio

CREATE = """mutation($name: String!) { createSecret(workspaceId: "default",
  input: {name: $name, secretType: API_KEY, value: "v"}) { id } }"""


async def test_a_run_under_way_finishes_before_stop_returns() -> None:
    started, release, finished = asyncio.Event(), asyncio.Event(), []

    async def run() -> None:
        started.set()
        await release.wait()
        finished.append(True)

    job = PeriodicJob("test", 60, run, first_delay=0)
    job.start()
    await started.wait()
    stopping = asyncio.create_task(job.stop())
    await asyncio.sleep(0.05)
    assert not stopping.done()  # waiting for the run, not cancelling it
    release.set()
    await asyncio.wait_for(stopping, 5)
    assert finished == [True]


async def test_a_run_that_outlives_the_wait_is_cancelled() -> None:
    started, cancelled = asyncio.Event(), []

    async def run() -> None:
        started.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    job = PeriodicJob("test", 60, run, first_delay=0)
    job.start()
    await started.wait()
    await asyncio.wait_for(job.stop(wait=0.05), 5)
    assert cancelled == [True]


async def test_a_failing_run_is_logged_and_the_job_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    runs = []

    async def run() -> None:
        runs.append(True)
        raise RuntimeError("boom")

    job = PeriodicJob("failing", 0.01, run, first_delay=0)
    job.start()
    for _ in range(200):
        if len(runs) >= 2:
            break
        await asyncio.sleep(0.01)
    await job.stop()
    assert len(runs) >= 2
    assert "background job failing failed" in caplog.text


@pytest.mark.parametrize("steps", [0, 1, 2, 3, 5, 8])
async def test_stopping_a_job_inside_a_transaction_leaves_the_database_writable(server: Server, steps: int) -> None:
    started = asyncio.Event()

    async def run() -> None:
        started.set()
        async with in_transaction() as connection:
            await Workspace.filter(id="default").using_db(connection).count()

    job = PeriodicJob("transaction", 60, run, first_delay=0)
    job.start()
    await started.wait()
    for _ in range(steps):
        await asyncio.sleep(0)
    await job.stop()
    await asyncio.wait_for(server.data(CREATE, {"name": f"AFTER_{steps}"}), 10)
