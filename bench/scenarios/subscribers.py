"""Scenario 7: `auditEvents` delivery latency to 500 websocket subscribers.

An asyncio client (the harness process, pinned to the load core) opens
`subscribers` graphql-transport-ws connections to one Strongroom worker, each
authenticated in `connection_init` with an AUDITOR token and subscribed to
the `bench` workspace's events. Once all are subscribed, a writer in the same
process makes audited `secretValue` reads at a modest steady rate (each one
commits one ACCESSED event), each of a different secret, so every event is
recognised by its secretId. Latency per delivery:

- from createdAt: receipt time minus the event's createdAt (stamped before
  the commit, so this includes the group commit and its fsync: an upper
  bound of commit-to-receipt). Target: p99 <= 200 ms.
- from the writer's answer: receipt time minus the time the writer's read
  returned (after the commit). Negative when the event outran the answer.

Both clocks are this machine's wall clock. The client also counts how many
of the expected deliveries (events x subscribers) arrived, and how busy its
own core was: a figure is marked when the client itself may be what delayed
receipt.
"""

from __future__ import annotations

import asyncio
import json
import time
from datetime import datetime

import httpx

from bench.cpu import CoreWatch
from bench.errors import BenchError
from bench.lab import SECRET_VALUE, WORKSPACE, Lab, StrongroomSystem
from bench.results import Report, at_least, at_most
from bench.rounds import shared
from bench.scenarios import DATABASES

CONNECT_CONCURRENCY = 50
SETTLE_SECONDS = 1.0
DRAIN_SECONDS = 3.0
# Beyond this the receiving client may be what delays receipt: the figure is marked.
CLIENT_BUSY_WARNING_PCT = 70.0
SUBSCRIPTION = 'subscription { auditEvents(workspaceId: "' + WORKSPACE + '") { id secretId action createdAt } }'


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def _measure(system: StrongroomSystem, subscribers: int, seconds: float, rate: float) -> dict[str, float]:
    from websockets.asyncio.client import connect

    ws_url = system.server.graphql_url.replace("http://", "ws://")
    received: list[tuple[float, str, str]] = []  # (receipt time, createdAt, secretId)
    problems: list[str] = []
    subscribed = 0
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
    all_subscribed = asyncio.Event()

    async def subscriber() -> None:
        nonlocal subscribed
        async with gate:
            connection = await connect(
                ws_url,
                subprotocols=["graphql-transport-ws"],
                compression=None,  # type: ignore[list-item]
                ping_interval=None,
                open_timeout=60,
                max_queue=None,
            )
            await connection.send(
                json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {system.auditor_token}"}})
            )
            ack = json.loads(await connection.recv())
            if ack.get("type") != "connection_ack":
                problems.append(f"connection_init answered {str(ack)[:200]}")
                await connection.close()
                return
            await connection.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": SUBSCRIPTION}}))
        subscribed += 1
        if subscribed == subscribers:
            all_subscribed.set()
        try:
            async for message in connection:
                now = time.time()
                frame = json.loads(message)
                kind = frame.get("type")
                if kind == "next":
                    payload = frame["payload"]
                    if payload.get("errors"):
                        problems.append(f"subscription error: {str(payload['errors'])[:200]}")
                        continue
                    event = payload["data"]["auditEvents"]
                    received.append((now, event["createdAt"], event["secretId"] or ""))
                elif kind == "ping":
                    await connection.send('{"type":"pong"}')
                elif kind in ("error", "complete"):
                    problems.append(f"subscription ended: {str(frame)[:200]}")
                    return
        finally:
            await connection.close()

    tasks = [asyncio.create_task(subscriber()) for _ in range(subscribers)]
    connect_started = time.monotonic()
    while not all_subscribed.is_set():
        ended = next((task for task in tasks if task.done()), None)
        if ended is not None or problems or time.monotonic() - connect_started > 120:
            if problems:
                reason = problems[0]
            elif ended is not None and not ended.cancelled() and ended.exception() is not None:
                reason = f"a subscriber failed: {ended.exception()!r}"
            else:
                reason = f"only {subscribed} of {subscribers} subscribers were subscribed within 120 s"
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise BenchError(reason)
        await asyncio.sleep(0.05)
    connect_seconds = time.monotonic() - connect_started
    await asyncio.sleep(SETTLE_SECONDS)

    answered: dict[str, float] = {}
    count = int(seconds * rate)
    if count > len(system.ids):
        raise BenchError("the writer would read a secret twice: lower the rate or the duration")
    cpu_started, wall_started = time.process_time(), time.monotonic()
    watch = CoreWatch(system.pid).__enter__()
    async with httpx.AsyncClient(timeout=30, headers=system.headers()) as http:
        start = time.monotonic()
        for n in range(count):
            delay = start + n / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            secret_id = system.ids[n]
            response = await http.post(
                system.server.graphql_url,
                json={"query": SECRET_VALUE, "variables": {"workspaceId": WORKSPACE, "id": secret_id}},
            )
            answered[secret_id] = time.time()
            if response.status_code != 200 or response.json().get("errors"):
                raise BenchError(f"the writer's read failed: {response.text[:300]}")
    await asyncio.sleep(DRAIN_SECONDS)
    client_cpu_pct = 100.0 * (time.process_time() - cpu_started) / (time.monotonic() - wall_started)
    watch.__exit__(None, None, None)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)

    stamps: dict[str, float] = {}
    from_created: list[float] = []
    from_answer: list[float] = []
    for now, created_at, secret_id in received:
        if secret_id not in answered:
            continue  # an event that is not the writer's
        if created_at not in stamps:
            stamps[created_at] = datetime.fromisoformat(created_at.replace("Z", "+00:00")).timestamp()
        from_created.append((now - stamps[created_at]) * 1000)
        from_answer.append((now - answered[secret_id]) * 1000)
    expected = count * subscribers
    return {
        "subscribers": subscribers,
        "events": count,
        "rate_per_s": rate,
        "connect_s": connect_seconds,
        "expected_deliveries": expected,
        "deliveries": len(from_created),
        "delivered_pct": 100.0 * len(from_created) / expected if expected else 0.0,
        "from_created_p50_ms": percentile(from_created, 0.50),
        "from_created_p99_ms": percentile(from_created, 0.99),
        "from_created_max_ms": max(from_created, default=float("nan")),
        "from_answer_p50_ms": percentile(from_answer, 0.50),
        "from_answer_p99_ms": percentile(from_answer, 0.99),
        "problems": len(problems),
        "client_cpu_pct": client_cpu_pct,
        "other_on_core0_pct": -1.0 if watch.other_pct is None else watch.other_pct,
    }


def run(lab: Lab, report: Report) -> None:
    config = lab.config
    for db in DATABASES:
        system = lab.strongroom(db)
        print(
            f"  Strongroom ({db}): {config.subscribers} subscribers, {config.subscriber_event_rate:g} audited "
            f"reads/s for {config.subscriber_seconds:.0f} s",
            flush=True,
        )
        result = asyncio.run(
            _measure(system, config.subscribers, config.subscriber_seconds, config.subscriber_event_rate)
        )
        print(
            f"    {result['subscribers']} subscribed in {result['connect_s']:.1f} s; "
            f"{result['deliveries']:,} of {result['expected_deliveries']:,} deliveries; the client used "
            f"{result['client_cpu_pct']:.0f}% of its core",
            flush=True,
        )
        busy = (
            f" [client core {result['client_cpu_pct']:.0f}% busy]"
            if result["client_cpu_pct"] >= CLIENT_BUSY_WARNING_PCT
            else ""
        ) + shared(result)
        report.add(
            "subscribers",
            f"auditEvents to {config.subscribers} subscribers, commit to receipt p99 (Strongroom, {db})",
            result["from_created_p99_ms"],
            "ms",
            bar=at_most(200.0, " ms"),
            display=f"p99 {result['from_created_p99_ms']:.1f} ms, p50 {result['from_created_p50_ms']:.1f} ms "
            f"(after the writer's answer: p99 {result['from_answer_p99_ms']:.1f} ms){busy}",
            detail=result,
        )
        report.add(
            "subscribers",
            f"auditEvents deliveries received (Strongroom, {db})",
            result["delivered_pct"],
            "%",
            bar=at_least(100.0, "%"),
            display=f"{result['delivered_pct']:.1f}% of {result['expected_deliveries']:,}",
        )
