"""Prometheus metrics (graphql_api.metrics, graphql_api.metrics_server): after
a short workload every metric is there with live values and parses with
prometheus-client's own parser; nothing secret reaches the exposition;
labels stay bounded whatever clients send; bearer, public and
separate-address modes; and the instruments never fail the work they measure.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from graphql_api import metrics as metrics_module
from graphql_api.execution import Engine
from graphql_api.metrics import AuditCounters, HealthCache, Metrics, failure_code, operation_label
from graphql_api.settings import ConfigError
from models import AuditAction
from plugins.interfaces import BackendStatus
from tests.clock import MutableClock
from tests.conftest import make_settings
from tests.harness import ADMIN_TOKEN, Server
from tests.security import conftest as security
from tests.security.conftest import create_secret, ok, principal_with_token, running, ws_open, ws_request

ws_url = security.ws_url  # the `server` fixture's app served by uvicorn in the test's loop

SECRET_VALUE = "mx-value-Zq8r7LwV3nK2pT"
SECRET_NAME = "METRICS_SECRET_NAME"
VALUE = 'query($id: ID!) { secretValue(workspaceId: "default", id: $id) { value } }'
META = 'query($id: ID!) { secret(workspaceId: "default", id: $id) { name } }'
MISSING = "00000000-0000-7000-8000-000000000000"
EVENTS = 'subscription { auditEvents(workspaceId: "default") { action } }'
CREATE_DUE = """mutation($n: String!) { createSecret(workspaceId: "default",
    input: {name: $n, secretType: API_KEY, value: "due-value-0000", rotationPolicy: AUTO_30_DAYS}) { id } }"""
DEADLINE = 10.0

EVERY_METRIC = {
    "secret_rotation_due_count",
    "secret_access_failure",
    "encryption_backend_health",
    "secret_audit_log_events",
    "strongroom_graphql_operation_duration_seconds",
    "strongroom_audit_batch_events",
    "strongroom_audit_commit_wait_seconds",
    "strongroom_encryption_backend_call_duration_seconds",
    "strongroom_subscriptions_active",
    "strongroom_audit_batches",
    "strongroom_audit_batched_events",
    "strongroom_audit_sink_dropped",
    "process_cpu_seconds",
    "process_resident_memory_bytes",
    "python_info",
}


def samples(text: str) -> dict[str, list[Sample]]:
    """Every sample of the exposition, by family name (prometheus-client's parser)."""
    return {family.name: list(family.samples) for family in text_string_to_metric_families(text)}


def value(text: str, name: str, **labels: str) -> float | None:
    """The value of sample `name` with exactly `labels`, or None."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return float(sample.value)
    return None


def values(text: str, name: str) -> Iterator[tuple[dict[str, str], float]]:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                yield sample.labels, float(sample.value)


async def scrape(server: Server, token: str | None = ADMIN_TOKEN, **headers: str) -> httpx.Response:
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    return await server.client.get("/metrics", headers=headers)


async def scrape_until(server: Server, ready: Callable[[str], bool]) -> str:
    """Scrape until `ready(text)`: events committed by group commit arrive a moment later."""
    text = ""
    async with asyncio.timeout(DEADLINE):
        while True:
            response = await scrape(server)
            assert response.status_code == 200, response.text
            text = response.text
            if ready(text):
                return text
            await asyncio.sleep(0.01)


# ---- the workload and the exposition ------------------------------------------


@pytest.mark.asyncio
async def test_a_short_workload_shows_every_metric_live(server: Server, ws_url: str, clock: MutableClock) -> None:
    await server.data(CREATE_DUE, {"n": "DUE_FOR_METRICS"})
    clock.advance(days=31)
    sid = await create_secret(server, "default", SECRET_NAME, SECRET_VALUE)
    _, reader, _ = await principal_with_token(server, "metrics-viewer", {"default": "VIEWER"})
    # A value read (fast path), a metadata read (executor), a failed read, a refused one.
    assert (await server.data(VALUE, {"id": sid}))["secretValue"]["value"] == SECRET_VALUE
    assert server.app.state.engine.prepare(VALUE).plans, "the read must take the fast path"
    assert (await server.data(META, {"id": sid}))["secret"]["name"] == SECRET_NAME
    assert (await server.error(VALUE, {"id": MISSING}))["extensions"]["code"] == "NOT_FOUND"
    assert (await server.error(VALUE, {"id": sid}, token=reader))["extensions"]["code"] == "FORBIDDEN"
    socket_ = await ws_open(ws_url)
    try:
        over_ws = await ws_request(socket_, "q1", "{ __typename }")
        assert over_ws["data"] == {"__typename": "Query"}
        await socket_.send(json.dumps({"id": "s1", "type": "subscribe", "payload": {"query": EVENTS}}))
        async with asyncio.timeout(DEADLINE):
            while server.services.bus.subscriber_count < 1:
                await asyncio.sleep(0.005)

        text = await scrape_until(
            server,
            lambda t: (value(t, "secret_access_failure_total", action="ACCESS_DENIED", code="FORBIDDEN") or 0) >= 1,
        )
        assert socket_.state.name == "OPEN"
    finally:
        await socket_.close()

    found = samples(text)
    assert set(found) >= EVERY_METRIC, sorted(EVERY_METRIC - set(found))
    assert value(text, "secret_rotation_due_count", workspace="default") == 1
    assert value(text, "encryption_backend_health", backend="fernet") == 1
    assert value(text, "strongroom_subscriptions_active") == 1
    assert (value(text, "secret_access_failure_total", action="ACCESSED", code="NOT_FOUND") or 0) >= 1
    assert (value(text, "secret_audit_log_events_total", action="ACCESSED") or 0) >= 2  # a read, a failed read
    assert (value(text, "secret_audit_log_events_total", action="CREATED") or 0) >= 2
    assert (value(text, "secret_audit_log_events_total", action="ACCESS_DENIED") or 0) >= 1
    operation = "strongroom_graphql_operation_duration_seconds_count"
    assert (value(text, operation, operation="secretValue", type="query") or 0) >= 3
    assert (value(text, operation, operation="secret", type="query") or 0) >= 1
    assert (value(text, operation, operation="createSecret", type="mutation") or 0) >= 2
    assert value(text, operation, operation="__typename", type="query") == 1  # over the websocket
    assert not any(labels.get("type") == "subscription" for labels, _ in values(text, operation))
    backend = "strongroom_encryption_backend_call_duration_seconds_count"
    assert (value(text, backend, backend="fernet", call="wrap") or 0) >= 2
    assert (value(text, backend, backend="fernet", call="unwrap") or 0) >= 1
    assert (value(text, backend, backend="fernet", call="health") or 0) >= 1
    assert (value(text, "strongroom_audit_batch_events_count") or 0) >= 1
    assert (value(text, "strongroom_audit_commit_wait_seconds_count") or 0) >= 1
    assert (value(text, "strongroom_audit_batches_total") or 0) >= 1
    assert (value(text, "process_cpu_seconds_total") or 0) > 0
    for secret in (SECRET_VALUE, SECRET_NAME, ADMIN_TOKEN, reader, sid):
        assert secret not in text


@pytest.mark.asyncio
async def test_the_subscription_gauge_falls_when_the_subscriber_leaves(server: Server, ws_url: str) -> None:
    socket_ = await ws_open(ws_url)
    await socket_.send(json.dumps({"id": "s1", "type": "subscribe", "payload": {"query": EVENTS}}))
    async with asyncio.timeout(DEADLINE):
        while server.services.bus.subscriber_count < 1:
            await asyncio.sleep(0.005)
    assert value((await scrape(server)).text, "strongroom_subscriptions_active") == 1
    await socket_.send(json.dumps({"id": "s1", "type": "complete"}))
    text = await scrape_until(server, lambda t: value(t, "strongroom_subscriptions_active") == 0)
    await socket_.close()
    assert value(text, "strongroom_subscriptions_active") == 0


@pytest.mark.asyncio
async def test_openmetrics_is_offered_to_a_client_that_asks(server: Server) -> None:
    response = await scrape(server, accept="application/openmetrics-text; version=1.0.0")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/openmetrics-text")
    assert response.text.endswith("# EOF\n")
    names = {family.name for family in parse_openmetrics(response.text)}  # type: ignore[no-untyped-call]
    assert {"secret_audit_log_events", "encryption_backend_health", "secret_rotation_due_count"} <= names


@pytest.mark.asyncio
async def test_plain_text_is_the_default(server: Server) -> None:
    response = await scrape(server)

    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert response.headers["cache-control"] == "no-store"
    assert "# TYPE secret_access_failure_total counter" in response.text


# ---- bounded labels ---------------------------------------------------------


@pytest.mark.asyncio
async def test_client_chosen_operation_names_never_become_labels(server: Server) -> None:
    for index in range(40):
        name = f"Probe{index}_{SECRET_VALUE.replace('-', '_')}"
        response = await server.client.post(
            "/graphql",
            json={"query": f"query {name} {{ __typename }}", "operationName": name},
            headers={"authorization": f"Bearer {ADMIN_TOKEN}"},
        )
        assert response.status_code == 200
    text = (await scrape(server)).text
    operations = {
        labels["operation"] for labels, _ in values(text, "strongroom_graphql_operation_duration_seconds_count")
    }

    assert (
        value(text, "strongroom_graphql_operation_duration_seconds_count", operation="__typename", type="query") == 40
    )
    assert "Probe" not in text and "Zq8r7LwV3nK2pT" not in text
    assert operations <= {"__typename", "createSecret"}


def test_operations_are_named_by_their_root_field_in_the_schema() -> None:
    from graphql_api.app import build_engine

    engine: Engine = build_engine(make_settings("sqlite://x.db", Path("/tmp")))

    def label(query: str) -> tuple[str, str]:
        prepared = engine.prepare(query)
        assert not prepared.errors, prepared.errors
        return operation_label(next(iter(prepared.operations.values())))

    assert label('query Mine { a: secretValue(workspaceId: "w", id: "i") { value } }') == ("secretValue", "query")
    assert label('{ x: secrets(workspaceId: "w") { totalCount } y: secrets(workspaceId: "v") { totalCount } }') == (
        "secrets",
        "query",
    )
    assert label('{ secrets(workspaceId: "w") { totalCount } __typename }') == ("multiple", "query")
    assert label("query { ...Root } fragment Root on Query { __typename }") == ("other", "query")
    assert label('mutation { deleteSecret(workspaceId: "w", id: "i") { id } }') == ("deleteSecret", "mutation")
    assert label('subscription S { auditEvents(workspaceId: "w") { action } }') == ("auditEvents", "subscription")


def test_only_read_failures_count_as_access_failures() -> None:
    assert failure_code(AuditAction.ACCESSED, {"error": "NOT_FOUND"}) == "NOT_FOUND"
    assert failure_code(AuditAction.ACCESSED, {"error": "BACKEND_UNAVAILABLE", "bulk": True}) == "BACKEND_UNAVAILABLE"
    # An error text that is not one of our codes is never a label.
    assert failure_code(AuditAction.ACCESSED, {"error": SECRET_VALUE}) == "OTHER"
    assert failure_code(AuditAction.ACCESSED, {}) == "OTHER"
    assert failure_code(AuditAction.ACCESS_DENIED, {"permission": "READ_VALUES"}) == "FORBIDDEN"
    assert failure_code(AuditAction.ACCESS_DENIED, {"permission": "LIST_SECRETS"}) == "FORBIDDEN"
    assert failure_code(AuditAction.ACCESS_DENIED, {"permission": "MANAGE_PRINCIPALS"}) is None
    assert failure_code(AuditAction.ROTATION_NOTIFIED, {"error": "receiver down"}) is None


def test_audit_counters_count_each_committed_event_once() -> None:
    from datetime import UTC, datetime
    from uuid import uuid4

    from graphql_api.services.audit import CommittedEvent

    metrics = Metrics()

    def event(action: AuditAction, success: bool = True, **details: Any) -> CommittedEvent:
        return CommittedEvent(
            uuid4(), 1, "w", None, action, None, None, None, details, success, datetime.now(UTC), "0", "1"
        )

    counters: AuditCounters = metrics.audit_counters
    counters.after_commit(
        [
            event(AuditAction.ACCESSED),
            event(AuditAction.ACCESSED),
            event(AuditAction.ACCESSED, False, error="BACKEND_UNAVAILABLE"),
            event(AuditAction.ROTATION_NOTIFIED, False, error="receiver down"),
        ]
    )
    registry = metrics.registry

    assert registry.get_sample_value("secret_audit_log_events_total", {"action": "ACCESSED"}) == 3
    assert registry.get_sample_value("secret_audit_log_events_total", {"action": "ROTATION_NOTIFIED"}) == 1
    assert registry.get_sample_value("secret_audit_log_events_total", {"action": "DELETED"}) == 0
    failures = {"action": "ACCESSED", "code": "BACKEND_UNAVAILABLE"}
    assert registry.get_sample_value("secret_access_failure_total", failures) == 1
    assert (
        registry.get_sample_value("secret_access_failure_total", {"action": "ROTATION_NOTIFIED", "code": "OTHER"})
        is None
    )


def test_two_registries_in_one_process_do_not_collide() -> None:
    first, second = Metrics(), Metrics()
    first.audit_counters.after_commit([])
    first.backend_call("fernet", "wrap", 0.001)

    assert (
        first.registry.get_sample_value(
            "strongroom_encryption_backend_call_duration_seconds_count", {"backend": "fernet", "call": "wrap"}
        )
        == 1
    )
    assert (
        second.registry.get_sample_value(
            "strongroom_encryption_backend_call_duration_seconds_count", {"backend": "fernet", "call": "wrap"}
        )
        is None
    )


# ---- access ---------------------------------------------------------------------


@pytest.mark.asyncio
async def test_without_a_token_401_names_the_scheme(server: Server) -> None:
    response = await scrape(server, token=None)

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer realm="strongroom"'
    assert "secret_" not in response.text


@pytest.mark.asyncio
async def test_a_wrong_token_gets_401_with_invalid_token(server: Server) -> None:
    wrong = "sr_" + "x" * 40
    response = await scrape(server, token=wrong)

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer realm="strongroom", error="invalid_token"'
    assert wrong not in response.text


@pytest.mark.asyncio
async def test_a_workspace_admin_is_not_a_superadmin(server: Server) -> None:
    _, token, _ = await principal_with_token(server, "metrics-admin", {"default": "ADMIN"})
    response = await scrape(server, token=token)

    assert response.status_code == 403
    assert "insufficient_scope" in response.headers["www-authenticate"]
    assert "secret_rotation_due_count" not in response.text


@pytest.mark.asyncio
async def test_guessing_tokens_is_throttled(server: Server) -> None:
    statuses = [(await scrape(server, token=f"sr_guess-{n:040d}")).status_code for n in range(12)]

    assert statuses[0] == 401 and statuses[-1] == 429
    assert set(statuses) == {401, 429}
    # Throttled by address: even the right token waits out the window.
    assert (await scrape(server)).status_code == 429


@pytest.mark.asyncio
async def test_public_mode_serves_without_a_token(database_url: str, tmp_path: Path, clock: MutableClock) -> None:
    settings = make_settings(database_url, tmp_path / "d", STRONGROOM_METRICS_PUBLIC="true")
    async with running(settings, clock) as server:
        response = await scrape(server, token=None)

        assert response.status_code == 200
        assert "secret_rotation_due_count" in samples(response.text)
        # Any token at all, even a wrong one, is not asked about.
        assert (await scrape(server, token="sr_" + "y" * 40)).status_code == 200


@pytest.mark.asyncio
async def test_a_separate_address_serves_metrics_alone_without_a_token(
    database_url: str, tmp_path: Path, clock: MutableClock
) -> None:
    settings = make_settings(database_url, tmp_path / "d", STRONGROOM_METRICS_ADDRESS="127.0.0.1:0")
    async with running(settings, clock) as server:
        listener = server.app.state.metrics_listener
        assert listener is not None and listener.address is not None
        host, port = listener.address
        await create_secret(server, "default", SECRET_NAME, SECRET_VALUE)
        async with httpx.AsyncClient(base_url=f"http://{host}:{port}") as client:
            public = await client.get("/metrics")
            other = await client.post("/graphql", json={"query": "{ __typename }"})
        # The API's own /metrics keeps its token.
        protected = await scrape(server, token=None)

        assert public.status_code == 200
        assert (value(public.text, "secret_audit_log_events_total", action="CREATED") or 0) >= 1
        assert SECRET_VALUE not in public.text
        assert other.status_code == 404
        assert protected.status_code == 401
    # Stopped with the application.
    with pytest.raises(OSError), socket.create_connection((host, port), timeout=2):
        pass


@pytest.mark.asyncio
async def test_a_taken_metrics_address_stops_start_up(database_url: str, tmp_path: Path, clock: MutableClock) -> None:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    try:
        settings = make_settings(database_url, tmp_path / "d", STRONGROOM_METRICS_ADDRESS=f"127.0.0.1:{port}")
        with pytest.raises(ConfigError) as caught:
            async with running(settings, clock):
                pass
        assert caught.value.variable == "STRONGROOM_METRICS_ADDRESS"
    finally:
        taken.close()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("127.0.0.1:9100", ("127.0.0.1", 9100)), ("[::1]:9100", ("::1", 9100)), ("0.0.0.0:0", ("0.0.0.0", 0))],
)
def test_the_metrics_address_is_host_and_port(raw: str, expected: tuple[str, int]) -> None:
    assert make_settings("sqlite://x.db", Path("/tmp"), STRONGROOM_METRICS_ADDRESS=raw).metrics_address == expected


@pytest.mark.parametrize("raw", ["9100", ":9100", "localhost", "host:http", "host:70000"])
def test_a_bad_metrics_address_names_its_variable(raw: str) -> None:
    with pytest.raises(ConfigError) as caught:
        make_settings("sqlite://x.db", Path("/tmp"), STRONGROOM_METRICS_ADDRESS=raw)
    assert caught.value.variable == "STRONGROOM_METRICS_ADDRESS"


def test_defaults_keep_metrics_behind_a_token() -> None:
    settings = make_settings("sqlite://x.db", Path("/tmp"))
    assert settings.metrics_public is False and settings.metrics_address is None


# ---- the instruments never fail the work, nor call backends per scrape -------------


@pytest.mark.asyncio
async def test_a_broken_metric_does_not_fail_a_read(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    sid = await create_secret(server, "default", SECRET_NAME, SECRET_VALUE)

    class Broken:
        def observe(self, _amount: float) -> None:
            raise RuntimeError("metric broke")

    metrics = server.services.metrics
    monkeypatch.setattr(metrics, "_batch_size", Broken())
    monkeypatch.setattr(metrics, "_wait", Broken())

    data = await asyncio.wait_for(server.data(VALUE, {"id": sid}), DEADLINE)
    assert data["secretValue"]["value"] == SECRET_VALUE


class SlowBackend:
    name = "slow"

    def __init__(self) -> None:
        self.probes = 0
        self.release = asyncio.Event()

    async def health(self) -> BackendStatus:
        self.probes += 1
        await self.release.wait()
        return BackendStatus(healthy=True, key_id="k")


@pytest.mark.asyncio
async def test_health_is_probed_once_for_concurrent_scrapes_and_then_cached() -> None:
    backend = SlowBackend()
    now = [0.0]

    async def probe() -> dict[str, bool]:
        return {"slow": (await backend.health()).healthy}

    cache = HealthCache(probe, max_age=15, clock=lambda: now[0])
    waiting = [asyncio.ensure_future(cache.get()) for _ in range(5)]
    async with asyncio.timeout(DEADLINE):
        while backend.probes < 1:
            await asyncio.sleep(0)
    backend.release.set()

    assert await asyncio.gather(*waiting) == [{"slow": True}] * 5
    assert await cache.get() == {"slow": True}
    assert backend.probes == 1
    now[0] = 16.0
    await cache.get()
    assert backend.probes == 2


@pytest.mark.asyncio
async def test_a_backend_that_never_answers_is_unhealthy_not_a_hung_scrape(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from graphql_api.services.envelope import Backends

    monkeypatch.setattr(metrics_module, "HEALTH_TIMEOUT_SECONDS", 0.05)
    backend = SlowBackend()
    metrics = Metrics()

    class Probed:
        backends = Backends({"slow": backend}, "slow")  # type: ignore[dict-item]

    health = await asyncio.wait_for(metrics._probe(Probed()), DEADLINE)  # type: ignore[arg-type]

    assert health == {"slow": False}
    assert (
        metrics.registry.get_sample_value(
            "strongroom_encryption_backend_call_duration_seconds_count", {"backend": "slow", "call": "health"}
        )
        == 1
    )


# ---- promtool, when the machine has it -------------------------------------------


@pytest.mark.asyncio
async def test_promtool_finds_nothing_but_the_seeds_count_suffix(server: Server, clock: MutableClock) -> None:
    # CI puts promtool on PATH (.ci/run takes it out of Debian's prometheus
    # package) and sets STRONGROOM_REQUIRE_PROMTOOL; elsewhere it may be absent.
    if shutil.which("promtool") is None:
        if os.environ.get("STRONGROOM_REQUIRE_PROMTOOL") == "1":
            pytest.fail("promtool is not on PATH (STRONGROOM_REQUIRE_PROMTOOL=1)")
        pytest.skip("promtool is not installed")
    await server.data(CREATE_DUE, {"n": "DUE_FOR_PROMTOOL"})
    clock.advance(days=31)
    sid = await create_secret(server, "default", SECRET_NAME, SECRET_VALUE)
    await ok(server, VALUE, {"id": sid})
    text = (await scrape(server)).text
    assert value(text, "secret_rotation_due_count", workspace="default") == 1

    checked = subprocess.run(
        ["promtool", "check", "metrics"], input=text, capture_output=True, text=True, timeout=60, check=False
    )
    problems = [line for line in (checked.stdout + checked.stderr).splitlines() if line.strip()]
    # The seed's name, kept for its dashboards (README), and nothing else.
    assert problems == [
        'secret_rotation_due_count non-histogram and non-summary metrics should not have "_count" suffix'
    ]
