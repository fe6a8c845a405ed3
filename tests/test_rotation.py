"""The rotation engine with a controllable clock: policies and due dates,
generated and two-phase rotation, the scheduler's once-per-cycle
notifications, the outbox, and plugins installed through entry points."""

from __future__ import annotations

import asyncio
import sys
import textwrap
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pluggy
import pytest

from graphql_api.app import build_services
from graphql_api.services.audit import SYSTEM_ACTOR
from models import RotationNotification, Secret, SecretAudit, SecretVersion
from plugins.interfaces import TwoPhaseGenerator
from plugins.manager import build_plugin_manager
from plugins.testing import RecordingNotifier, ScriptedGenerator, TwoPhaseScriptedGenerator
from tests.clock import MutableClock
from tests.conftest import make_settings
from tests.distribution import installed_plugin
from tests.harness import Server
from tests.support.plugins import plugin_manager
from tests.support.running import running

pytestmark = pytest.mark.asyncio
hookimpl = pluggy.HookimplMarker("strongroom")

CREATE = """mutation($input: CreateSecretInput!) { createSecret(workspaceId: "default", input: $input) {
    id rotationPolicy rotationDueAt lastRotatedAt createdAt currentVersion } }"""
VALUE = """query($id: ID!, $v: Int) { secretValue(workspaceId: "default", id: $id, version: $v) { value version } }"""
ROTATE = """mutation($id: ID!) { rotateSecret(workspaceId: "default", id: $id) { currentVersion pendingVersion versions { version state } } }"""


def counting_generator() -> ScriptedGenerator:
    """Serves JWT_SECRET with `generated-<name>-<n>` values."""
    return ScriptedGenerator({"JWT_SECRET"}, name="counting")


def checked_generator() -> TwoPhaseScriptedGenerator:
    """Two-phase over DATABASE_CREDENTIAL: db-password-1, -2, ... in turn."""
    return TwoPhaseScriptedGenerator(
        {"DATABASE_CREDENTIAL"}, name="checked", values=[f"db-password-{n}" for n in range(1, 10)]
    )


async def create(server: Server, name: str, secret_type: str = "API_KEY", **extra: Any) -> dict[str, Any]:
    data = await server.data(CREATE, {"input": {"name": name, "secretType": secret_type, "value": "initial", **extra}})
    return data["createSecret"]  # type: ignore[no-any-return]


# ---- policies ----------------------------------------------------------------------


async def test_policies_produce_exact_due_dates(server: Server, clock: MutableClock) -> None:
    for policy, days in (
        ("AUTO_30_DAYS", 30),
        ("AUTO_60_DAYS", 60),
        ("AUTO_90_DAYS", 90),
        ("AUTO_180_DAYS", 180),
        ("AUTO_365_DAYS", 365),
    ):
        secret = await create(server, policy, rotationPolicy=policy)
        assert datetime.fromisoformat(secret["rotationDueAt"]) == clock.current + timedelta(days=days)
    manual = await create(server, "MANUAL_ONE", rotationPolicy="MANUAL")
    assert manual["rotationDueAt"] is None
    default = await create(server, "DEFAULTED")
    assert default["rotationPolicy"] == "AUTO_90_DAYS"

    created_at = clock.current
    clock.advance(days=10)
    changed = await server.data(
        'mutation($id: ID!) { updateSecret(workspaceId: "default", id: $id, input: {rotationPolicy: AUTO_30_DAYS}) { rotationDueAt } }',
        {"id": default["id"]},
    )
    assert datetime.fromisoformat(changed["updateSecret"]["rotationDueAt"]) == created_at + timedelta(days=30)
    rotated = await server.data(
        'mutation($id: ID!) { rotateSecret(workspaceId: "default", id: $id, newValue: "n") { rotationDueAt lastRotatedAt } }',
        {"id": default["id"]},
    )
    assert datetime.fromisoformat(rotated["rotateSecret"]["rotationDueAt"]) == clock.current + timedelta(days=30)
    back_to_manual = await server.data(
        'mutation($id: ID!) { updateSecret(workspaceId: "default", id: $id, input: {rotationPolicy: MANUAL}) { rotationDueAt } }',
        {"id": default["id"]},
    )
    assert back_to_manual["updateSecret"]["rotationDueAt"] is None


async def test_default_policy_follows_secret_rotation_days(database_url: str, tmp_path: Path) -> None:
    async with running(make_settings(database_url, tmp_path / "d", SECRET_ROTATION_DAYS="30")) as server:
        assert (await create(server, "SHORT"))["rotationPolicy"] == "AUTO_30_DAYS"


# ---- generated rotation ---------------------------------------------------------------


async def test_rotate_without_value_uses_the_generator(database_url: str, tmp_path: Path) -> None:
    generator, notifier = counting_generator(), RecordingNotifier()
    async with running(
        make_settings(database_url, tmp_path / "d"), plugins=plugin_manager(generator, notifier)
    ) as server:
        jwt = await create(server, "JWT", "JWT_SECRET")
        rotated = (await server.data(ROTATE, {"id": jwt["id"]}))["rotateSecret"]
        assert rotated["currentVersion"] == 2
        assert (await server.data(VALUE, {"id": jwt["id"], "v": None}))["secretValue"]["value"] == "generated-JWT-1"
        assert (await server.data(VALUE, {"id": jwt["id"], "v": 1}))["secretValue"]["value"] == "initial"
        api = await create(server, "API", "API_KEY")
        error = await server.error(ROTATE, {"id": api["id"]})
        assert error["extensions"]["code"] == "BAD_USER_INPUT" and "API_KEY" in error["message"]
        await server.services.rotation.outbox.deliver_due()
        assert [(e.kind, e.secret_name, e.version) for e in notifier.events] == [("rotated", "JWT", 2)]
        assert "generated" not in repr(notifier.events)


async def test_builtin_generators_serve_their_types(server: Server) -> None:
    served = {t for g in server.services.rotation.generators for t in g.secret_types}
    if not served:
        pytest.skip("no builtin generators registered")
    assert {"PASSWORD", "JWT_SECRET", "ENCRYPTION_KEY", "WEBHOOK_SECRET"} <= served
    secret = await create(server, "PW", "PASSWORD", metadata={"rotation": {"length": 48}})
    await server.data(ROTATE, {"id": secret["id"]})
    value = (await server.data(VALUE, {"id": secret["id"], "v": None}))["secretValue"]["value"]
    assert len(value) == 48 and value != "initial"
    bad = await create(server, "PW_BAD", "PASSWORD", metadata={"rotation": {"length": "long"}})
    error = await server.error(ROTATE, {"id": bad["id"]})
    assert error["extensions"]["code"] == "BAD_USER_INPUT" and "rotation.length" in error["message"]


async def test_two_phase_rotation_promotes_after_the_check(database_url: str, tmp_path: Path) -> None:
    generator, notifier = checked_generator(), RecordingNotifier()
    async with running(
        make_settings(database_url, tmp_path / "d"), plugins=plugin_manager(generator, notifier)
    ) as server:
        db = await create(server, "DB", "DATABASE_CREDENTIAL")
        rotated = (await server.data(ROTATE, {"id": db["id"]}))["rotateSecret"]
        assert rotated["currentVersion"] == 2 and rotated["pendingVersion"] is None
        assert [v["state"] for v in rotated["versions"]] == ["ACTIVE", "ACTIVE"]
        assert generator.applied == ["db-password-1"]
        assert (await server.data(VALUE, {"id": db["id"], "v": None}))["secretValue"]["value"] == "db-password-1"

        # A careless check: its exception's text holds the value it tried.
        generator.check_error = RuntimeError("login with db-password-2 failed")
        error = await server.error(ROTATE, {"id": db["id"]})
        assert error["extensions"]["code"] == "CONFLICT" and "failed its check (RuntimeError)" in error["message"]
        assert "db-password" not in error["message"]
        assert generator.checked == ["db-password-1", "db-password-2"]
        row = await Secret.get(id=db["id"])
        assert (row.current_version, row.pending_version, row.last_version) == (2, None, 3)
        failed = await SecretVersion.get(secret_id=db["id"], version=3)
        assert failed.state.value == "FAILED"
        assert (await server.data(VALUE, {"id": db["id"], "v": None}))["secretValue"]["value"] == "db-password-1"
        # A later rotation gets a fresh number; the failed one stays in history.
        generator.check_error = None
        again = (await server.data(ROTATE, {"id": db["id"]}))["rotateSecret"]
        assert again["currentVersion"] == 4
        await server.services.rotation.outbox.deliver_due()
        assert [e.kind for e in notifier.events] == ["rotated", "rotation_failed", "rotated"]


async def test_only_a_generator_with_apply_and_check_rotates_in_two_phases(database_url: str, tmp_path: Path) -> None:
    class CheckOnly(ScriptedGenerator):
        """Has `check` but no `apply`: not a TwoPhaseGenerator, so rotated at once and never checked."""

        async def check(self, request: Any, value: str) -> None:
            raise AssertionError("a plain generator's check is never called")

    generator = CheckOnly({"DATABASE_CREDENTIAL"}, name="check-only")
    assert not isinstance(generator, TwoPhaseGenerator) and isinstance(checked_generator(), TwoPhaseGenerator)
    async with running(make_settings(database_url, tmp_path / "d"), plugins=plugin_manager(generator)) as server:
        db = await create(server, "DB", "DATABASE_CREDENTIAL")
        rotated = (await server.data(ROTATE, {"id": db["id"]}))["rotateSecret"]
        assert rotated["currentVersion"] == 2 and rotated["pendingVersion"] is None


async def test_scheduler_counts_a_failed_check_as_failed(
    database_url: str, tmp_path: Path, clock: MutableClock
) -> None:
    generator, notifier = checked_generator(), RecordingNotifier()
    generator.check_error = ConnectionError("database refused db-password-1")
    async with running(
        make_settings(database_url, tmp_path / "d"), clock, plugins=plugin_manager(generator, notifier)
    ) as server:
        db = await create(server, "DB", "DATABASE_CREDENTIAL", rotationPolicy="AUTO_30_DAYS")
        clock.advance(days=31)
        report = await server.services.rotation.run_once()
        assert (report.rotated, report.failed) == (0, 1)
        assert (await Secret.get(id=db["id"])).current_version == 1
        events = await notifier.wait_for(1)
        assert [(e.kind, e.details.get("reason")) for e in events] == [("rotation_failed", "ConnectionError")]
        assert "db-password" not in repr(events)


# ---- scheduler ------------------------------------------------------------------------


async def test_scheduler_rotates_generated_types_and_notifies_others_once_across_two_schedulers(
    database_url: str, tmp_path: Path, clock: MutableClock
) -> None:
    generator, notifier = counting_generator(), RecordingNotifier()
    settings = make_settings(database_url, tmp_path / "d")
    async with running(settings, clock, plugins=plugin_manager(generator, notifier)) as server:
        jwt = await create(server, "JWT", "JWT_SECRET", rotationPolicy="AUTO_30_DAYS")
        api = await create(server, "API", "API_KEY", rotationPolicy="AUTO_30_DAYS")
        await create(server, "NOT_YET", "API_KEY", rotationPolicy="AUTO_90_DAYS")
        assert (await server.services.rotation.run_once()).notified == 0
        clock.advance(days=31)
        # A second scheduler instance on the same database, racing the first.
        second = build_services(settings, now=clock, plugins=plugin_manager(generator, notifier))
        await second.server_keys.load()  # the same server key, from the same database and keyring
        other = second.rotation
        reports = await asyncio.gather(server.services.rotation.run_once(), other.run_once())
        assert sum(r.notified for r in reports) == 1
        assert sum(r.rotated for r in reports) == 1
        for _ in range(3):  # later passes in the same cycle add nothing
            await server.services.rotation.run_once()
        await other.outbox.deliver_due()
        due = [e for e in notifier.events if e.kind == "rotation_due"]
        assert [(e.secret_name, e.secret_type) for e in due] == [("API", "API_KEY")]
        assert await SecretAudit.filter(action="ROTATION_DUE").count() == 1

        jwt_row = await Secret.get(id=jwt["id"])
        # Both may generate a value; exactly one becomes a version.
        assert jwt_row.current_version == 2 and await SecretVersion.filter(secret_id=jwt["id"]).count() == 2
        assert (await server.data(VALUE, {"id": jwt["id"], "v": 1}))["secretValue"]["value"] == "initial"

        # Rotating starts a new cycle: the next due date notifies again, once.
        await server.data(
            'mutation($id: ID!) { rotateSecret(workspaceId: "default", id: $id, newValue: "new") { id } }',
            {"id": api["id"]},
        )
        clock.advance(days=31)
        await server.services.rotation.run_once()
        await server.services.rotation.run_once()
        assert len([e for e in notifier.events if e.kind == "rotation_due" and e.secret_name == "API"]) == 2


async def test_failed_delivery_is_retried_later_and_audited(
    database_url: str, tmp_path: Path, clock: MutableClock
) -> None:
    notifier = RecordingNotifier(fail_first=1)
    async with running(make_settings(database_url, tmp_path / "d"), clock, plugins=plugin_manager(notifier)) as server:
        await create(server, "DUE", rotationPolicy="AUTO_30_DAYS")
        clock.advance(days=31)
        report = await server.services.rotation.run_once()
        # The builtin log notifier delivers; ours fails and waits for its retry.
        assert (report.notified, report.delivered) == (1, 1)
        row = await RotationNotification.get(notifier="recording")
        assert (row.status.value, row.attempts) == ("PENDING", 1) and row.next_attempt_at > clock.current
        assert (await server.services.rotation.run_once()).delivered == 0  # not before its retry time
        clock.advance(minutes=5)
        assert (await server.services.rotation.run_once()).delivered == 1
        assert len(notifier.events) == 1
        outcomes = [
            e
            for e in await SecretAudit.filter(action="ROTATION_NOTIFIED").order_by("seq")
            if e.details["notifier"] == "recording"
        ]
        assert [e.success for e in outcomes] == [False, True]
        assert outcomes[0].details["error"] == "receiver down"


async def test_metrics_expose_the_due_gauge(database_url: str, tmp_path: Path, clock: MutableClock) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    from tests.harness import ADMIN_TOKEN

    async with running(make_settings(database_url, tmp_path / "d"), clock) as server:
        await create(server, "DUE_A", rotationPolicy="AUTO_30_DAYS")
        clock.advance(days=31)
        response = await server.client.get("/metrics", headers={"authorization": f"Bearer {ADMIN_TOKEN}"})
        assert response.status_code == 200
        due = [
            (sample.labels, sample.value)
            for family in text_string_to_metric_families(response.text)
            for sample in family.samples
            if sample.name == "secret_rotation_due_count"
        ]
        assert due == [({"workspace": "default"}, 1.0)]
        assert (await server.client.get("/metrics")).status_code == 401


# ---- plugins through entry points ------------------------------------------------------


PLUGIN_SOURCE = """
import pluggy
hookimpl = pluggy.HookimplMarker("strongroom")
EVENTS = []

class ShoutingNotifier:
    name = "shouting"
    async def notify(self, event):
        EVENTS.append((event.kind, event.secret_name))

class TokenGenerator:
    name = "tokens"
    secret_types = frozenset({"OAUTH_TOKEN"})
    async def generate(self, request):
        return "oauth-" + request.name.lower()

@hookimpl
def register_rotation_notifiers():
    return [ShoutingNotifier()]

@hookimpl
def register_value_generators():
    return [TokenGenerator()]
"""


async def test_third_party_notifier_and_generator_through_entry_points(
    database_url: str, tmp_path: Path, clock: MutableClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    with installed_plugin(tmp_path / "site", "sr_rotation_plugin", textwrap.dedent(PLUGIN_SOURCE), monkeypatch):
        plugins = build_plugin_manager()
        async with running(make_settings(database_url, tmp_path / "d"), clock, plugins=plugins) as server:
            token = await create(server, "GITHUB", "OAUTH_TOKEN", rotationPolicy="AUTO_30_DAYS")
            await create(server, "STATIC", "API_KEY", rotationPolicy="AUTO_30_DAYS")
            clock.advance(days=31)
            await server.services.rotation.run_once()
            value = (await server.data(VALUE, {"id": token["id"], "v": None}))["secretValue"]["value"]
            assert value == "oauth-github"
            events = sys.modules["sr_rotation_plugin"].EVENTS
            assert sorted(events) == [("rotated", "GITHUB"), ("rotation_due", "STATIC")]


async def test_rotation_events_never_carry_values(database_url: str, tmp_path: Path, clock: MutableClock) -> None:
    generator, notifier = counting_generator(), RecordingNotifier()
    async with running(
        make_settings(database_url, tmp_path / "d"), clock, plugins=plugin_manager(generator, notifier)
    ) as server:
        await create(server, "JWT", "JWT_SECRET", rotationPolicy="AUTO_30_DAYS")
        clock.advance(days=31)
        await server.services.rotation.run_once()
        rows = await RotationNotification.all()
        assert rows and all("generated" not in str(r.payload) and "initial" not in str(r.payload) for r in rows)
        assert SYSTEM_ACTOR.user_id is None
