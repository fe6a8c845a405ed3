"""graphql_api.drain in-process: the gate, the wait for requests in flight and
its bound, the probes while draining, and the audit batch committed by the
lifespan shutdown. The real SIGTERM is tests/test_graceful_shutdown.py."""

from __future__ import annotations

import asyncio
import json
import signal
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.typing import Subprotocol

from graphql_api.app import create_app
from graphql_api.drain import CLOSE_CODE, Drain
from graphql_api.services.access import Permission
from graphql_api.services.audit import GROUP_COMMIT_ROWS, Actor
from graphql_api.settings import Settings
from models import AuditAction, SecretAudit
from tests.harness import ADMIN_TOKEN, Server
from tests.security import conftest as security
from tests.security.conftest import close_code, ws_open

pytestmark = pytest.mark.asyncio
ws_url = security.ws_url  # the fixture: the `server` app served by uvicorn in the test's loop

VIEWER = "{ viewer { name } }"
SUBSCRIBE = 'subscription { auditEvents(workspaceId: "default") { action } }'
QUEUED = 4 * GROUP_COMMIT_ROWS


class Blocking:
    """An ASGI app whose requests wait for `release`, answering 200."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.started = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.started += 1
        await self.release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"done"})


async def _request(drain: Drain, app: Any, path: str = "/graphql") -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await drain.admit({"type": "http", "path": path}, receive, send, app)
    return sent


async def until(condition: Any) -> None:
    async with asyncio.timeout(10):
        while not condition():
            await asyncio.sleep(0.005)


async def test_the_drain_waits_for_requests_in_flight_and_refuses_new_ones() -> None:
    drain, app = Drain(grace_seconds=30), Blocking()
    in_flight = asyncio.ensure_future(_request(drain, app))
    await until(lambda: app.started == 1)
    assert drain.in_flight == 1
    draining = asyncio.ensure_future(drain.run())
    await until(lambda: drain.draining)
    refused = await _request(drain, app)
    assert refused[0]["status"] == 503
    assert (b"connection", b"close") in refused[0]["headers"]
    assert b"UNAVAILABLE" in refused[1]["body"]
    assert app.started == 1  # the refused request never reached the app
    probe = asyncio.ensure_future(_request(drain, app, "/healthz"))  # probes still pass
    await until(lambda: app.started == 2)
    assert not draining.done()  # held open by the request in flight (probes do not count)
    app.release.set()
    assert (await in_flight)[0]["status"] == 200
    await asyncio.wait_for(draining, 10)
    assert (await probe)[0]["status"] == 200
    assert drain.in_flight == 0


async def test_a_request_still_running_at_the_end_of_the_grace_is_cancelled() -> None:
    drain, app = Drain(grace_seconds=0.2), Blocking()
    stuck = asyncio.ensure_future(_request(drain, app))
    await until(lambda: app.started == 1)
    await asyncio.wait_for(drain.run(), 10)
    with pytest.raises(asyncio.CancelledError):
        await stuck
    assert drain.in_flight == 0


async def test_a_websocket_arriving_while_draining_is_closed_with_1012() -> None:
    drain = Drain(grace_seconds=1)
    drain.begin("test")
    sent: list[dict[str, Any]] = []
    messages = [{"type": "websocket.connect"}]

    async def receive() -> dict[str, Any]:
        return messages.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def never(scope: Any, receive: Any, send: Any) -> None:
        raise AssertionError("a websocket reached the app while draining")

    scope = {"type": "websocket", "path": "/graphql", "subprotocols": ["graphql-transport-ws"]}
    await drain.admit(scope, receive, send, never)
    assert sent == [
        {"type": "websocket.accept", "subprotocol": "graphql-transport-ws"},
        {"type": "websocket.close", "code": CLOSE_CODE, "reason": "server shutting down; reconnect"},
    ]


async def test_closers_get_the_deadline_and_a_slow_one_does_not_hold_the_drain_past_it() -> None:
    drain = Drain(grace_seconds=0.2)
    deadlines: list[float] = []

    async def slow(deadline: float) -> None:
        deadlines.append(deadline)
        await asyncio.Event().wait()

    drain.on_drain(slow)
    started = asyncio.get_running_loop().time()
    await asyncio.wait_for(drain.run(), 10)
    assert deadlines and deadlines[0] == pytest.approx(started + 0.2, abs=0.1)


async def test_sigterm_drains_then_hands_over_and_a_second_sigterm_changes_nothing() -> None:
    handed: list[int] = []
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: handed.append(signum))
    try:
        drain, app = Drain(grace_seconds=30), Blocking()
        drain.handle_signals()
        in_flight = asyncio.ensure_future(_request(drain, app))
        await until(lambda: app.started == 1)
        signal.raise_signal(signal.SIGTERM)
        assert drain.draining and drain.reason == "received SIGTERM"
        signal.raise_signal(signal.SIGTERM)  # e.g. the whole process group was signalled too
        await until(lambda: any(task.get_name() == "drain" for task in asyncio.all_tasks()))
        assert handed == []  # the drain runs, and has not handed over while the request runs
        app.release.set()
        await in_flight
        await until(lambda: handed == [signal.SIGTERM])
        drain.restore_signals()
        assert signal.getsignal(signal.SIGTERM) is not None
        signal.raise_signal(signal.SIGTERM)
        assert handed == [signal.SIGTERM, signal.SIGTERM]  # the previous handler is back
    finally:
        signal.signal(signal.SIGTERM, previous)


async def test_readyz_fails_at_once_while_draining_and_healthz_stays_up(server: Server) -> None:
    drain: Drain = server.app.state.drain
    assert (await server.client.get("/readyz")).status_code == 200
    drain.begin("received SIGTERM")
    ready = await server.client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json() == {"status": "draining", "reason": "shutting down (received SIGTERM)", "inFlight": 0}
    assert (await server.client.get("/healthz")).status_code == 200
    refused = await server.client.post(
        "/graphql", json={"query": VIEWER}, headers={"authorization": f"Bearer {ADMIN_TOKEN}"}
    )
    assert refused.status_code == 503
    assert refused.json()["errors"][0]["extensions"]["code"] == "UNAVAILABLE"


async def test_the_lifespan_shutdown_commits_the_audit_events_still_queued(settings: Settings) -> None:
    app = create_app(settings, migrate_on_start=False, announce=lambda _message: None)
    async with app.router.lifespan_context(app):
        services = app.state.services
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
            assert (await client.get("/healthz")).status_code == 200
        before = await SecretAudit.filter(action=AuditAction.ACCESS_DENIED).count()
        # Queued, not awaited (as a refusal is answered), and more than one
        # group-commit batch: several flushes are still to run at shutdown.
        for _ in range(QUEUED):
            services.denials.record("default", Permission.READ_VALUES, Actor(user_id=None, ip_address="192.0.2.1"))
    # The lifespan is over and the database closed: look again.
    from graphql_api import database

    await database.connect(settings)
    try:
        assert await SecretAudit.filter(action=AuditAction.ACCESS_DENIED).count() == before + QUEUED
    finally:
        await database.close()


async def test_live_websockets_are_closed_with_1012_and_latecomers_too(server: Server, ws_url: str) -> None:
    subscriber = await ws_open(ws_url)
    await subscriber.send(json.dumps({"id": "s", "type": "subscribe", "payload": {"query": SUBSCRIBE}}))
    await until(lambda: server.services.bus.subscriber_count >= 1)
    idle = await ws_open(ws_url)
    drain: Drain = server.app.state.drain
    draining = asyncio.ensure_future(drain.run())
    assert await close_code(subscriber) == (CLOSE_CODE, "server shutting down; reconnect")
    assert await close_code(idle) == (CLOSE_CODE, "server shutting down; reconnect")
    await asyncio.wait_for(draining, 10)  # nothing held it: no request in flight
    await until(lambda: server.services.bus.subscriber_count == 0)
    latecomer = await connect(ws_url, subprotocols=[Subprotocol("graphql-transport-ws")], open_timeout=10)
    assert await close_code(latecomer) == (CLOSE_CODE, "server shutting down; reconnect")
