"""Key rotation and migration between encryption backends (rotateEncryptionKey).

Behaviour, through the API where it can be seen there and the database where
it cannot (which key wraps each version, the job row): every data key ends on
the target key, every value of every version reads back exactly, values are
never re-encrypted (only their data keys), a stopped or failed rotation resumes
without rotating the key again, concurrent readers and writers are unaffected.
SQLite and PostgreSQL, except the acceptance run at the end (SQLite only).
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from uuid import UUID

import hvac
import pluggy
import pytest
from cryptography.fernet import Fernet
from tortoise import connections

from graphql_api.services.audit import Actor
from graphql_api.services.envelope import key_context
from graphql_api.services.key_rotation import BatchCommitted
from models import AuditAction, KeyRotationJob, KeyRotationStatus, Secret, SecretAudit, SecretVersion, ServerKey
from plugins.builtin.fernet import fernet_key_id
from plugins.builtin.vault_transit_backend import associated_data as vault_associated_data
from plugins.manager import build_plugin_manager
from plugins.testing import InMemoryBackend
from tests import pg
from tests.clock import MutableClock
from tests.conftest import make_settings
from tests.fakes.moto_kms import running_moto_kms
from tests.harness import Server
from tests.openbao import OpenBao, Transit, shared_openbao, strongroom_policy
from tests.support.running import running

pytestmark = pytest.mark.asyncio

hookimpl = pluggy.HookimplMarker("strongroom")

CREATE = """mutation($ws: ID!, $name: String!, $value: String!, $backend: String) {
  createSecret(workspaceId: $ws, input: {name: $name, secretType: API_KEY, value: $value, encryptionBackend: $backend}) {
    id currentVersion encryptionBackend } }"""
UPDATE = """mutation($ws: ID!, $id: ID!, $value: String!) {
  updateSecret(workspaceId: $ws, id: $id, input: {value: $value}) { currentVersion encryptionBackend } }"""
VALUE = (
    """query($ws: ID!, $id: ID!, $v: Int) { secretValue(workspaceId: $ws, id: $id, version: $v) { version value } }"""
)
SECRET = """query($ws: ID!, $id: ID!) { secret(workspaceId: $ws, id: $id) {
  encryptionBackend currentVersion versions { version encryptionBackend keyId } } }"""
DESTROY = """mutation($ws: ID!, $id: ID!) { destroySecret(workspaceId: $ws, id: $id) }"""
ROTATE = """mutation($target: String) { rotateEncryptionKey(targetBackend: $target) { backend keyId rewrapped remaining } }"""
GENERATE = """mutation($backend: String) { generateEncryptionKey(backend: $backend) { backend key } }"""
HEALTH = "{ encryptionHealth { currentBackend backends { name healthy keyId error } } }"
CREATE_PRINCIPAL = """mutation($name: String!) { createPrincipal(name: $name, bindings: [{workspaceId: "default", role: ADMIN}]) { id } }"""
CREATE_TOKEN = """mutation($p: ID!) { createApiToken(principalId: $p, name: "t") { token } }"""

# A secret's values, by version (index 0 is version 1).
Values = dict[str, list[str]]
Located = dict[str, tuple[str, str]]  # secret id -> (workspace, name)


def value_for(name: str, version: int) -> str:
    """Deterministic, and awkward: quotes, newlines, unicode, a NUL-free binary-ish tail."""
    return f"{name} v{version} \"q\" 'x'\r\n\t🔐 ünï \\ {version * 7919:x}"


# ---- helpers ---------------------------------------------------------------------


async def populate(
    server: Server,
    count: int,
    versions: int,
    *,
    workspace: str = "default",
    prefix: str = "S",
    backend: str | None = None,
) -> Values:
    """`count` secrets with `versions` versions each, through the API."""
    values: Values = {}
    for i in range(count):
        name = f"{prefix}_{i}"
        created = await server.data(
            CREATE, {"ws": workspace, "name": name, "value": value_for(name, 1), "backend": backend}
        )
        sid = created["createSecret"]["id"]
        values[sid] = [value_for(name, 1)]
        for version in range(2, versions + 1):
            await server.data(UPDATE, {"ws": workspace, "id": sid, "value": value_for(name, version)})
            values[sid].append(value_for(name, version))
    return values


async def assert_values(server: Server, values: Values, workspace: str = "default") -> None:
    """Every version of every secret reads back exactly, through the API."""
    for sid, expected in values.items():
        for number, value in enumerate(expected, start=1):
            got = (await server.data(VALUE, {"ws": workspace, "id": sid, "v": number}))["secretValue"]
            assert got == {"version": number, "value": value}, (sid, number)
        current = (await server.data(VALUE, {"ws": workspace, "id": sid}))["secretValue"]
        assert current == {"version": len(expected), "value": expected[-1]}


async def live_keys() -> set[tuple[str, str]]:
    """(backend, key id) of every version that still has a value."""
    rows = await SecretVersion.filter(ciphertext__isnull=False).values_list("backend", "key_id")
    return {(str(backend), str(key_id)) for backend, key_id in rows}


async def live_version_count() -> int:
    return await SecretVersion.filter(ciphertext__isnull=False).count()


async def ciphertexts() -> dict[int, bytes]:
    return {
        int(i): bytes(c)
        for i, c in await SecretVersion.filter(ciphertext__isnull=False).values_list("id", "ciphertext")
    }


async def wrapped_keys() -> dict[int, bytes]:
    return {
        int(i): bytes(w)
        for i, w in await SecretVersion.filter(ciphertext__isnull=False).values_list("id", "wrapped_key")
    }


def keyring(server: Server) -> list[str]:
    path = server.services.settings.data_dir / "fernet.keys"
    return [line.strip() for line in path.read_text("ascii").splitlines() if line.strip()]


async def rotate(server: Server, target: str | None = None) -> dict[str, Any]:
    return (await server.data(ROTATE, {"target": target}))["rotateEncryptionKey"]  # type: ignore[no-any-return]


async def rotate_to_completion(server: Server, target: str | None = None, limit: float = 120.0) -> dict[str, Any]:
    """Call rotateEncryptionKey until it reports nothing remaining (it answers within 20 s)."""
    deadline = time.monotonic() + limit
    while True:
        result = await rotate(server, target)
        if result["remaining"] == 0:
            return result
        assert time.monotonic() < deadline, result


async def only_job() -> KeyRotationJob:
    jobs = await KeyRotationJob.all()
    assert len(jobs) == 1, jobs
    return jobs[0]


async def wait_for(condition: Callable[[], Any], timeout: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not await condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


def live_workers() -> list[str]:
    """Key rotation workers running in this loop (tasks named `key-rotation:<job id>`)."""
    return [t.get_name() for t in asyncio.all_tasks() if t.get_name().startswith("key-rotation:") and not t.done()]


async def admin_token_of_default(server: Server) -> str:
    """A token of a principal that is ADMIN of "default" but not superadmin."""
    pid = (await server.data(CREATE_PRINCIPAL, {"name": "workspace-admin"}))["createPrincipal"]["id"]
    return str((await server.data(CREATE_TOKEN, {"p": pid}))["createApiToken"]["token"])


class MemoryPlugin:
    """Adds an InMemoryBackend (plugins.testing) as a third-party plugin would."""

    def __init__(self, backend: InMemoryBackend) -> None:
        self.backend = backend

    @hookimpl
    def register_encryption_backends(self) -> list[InMemoryBackend]:
        return [self.backend]


@asynccontextmanager
async def with_memory(
    database_url: str, data_dir: Path, clock: MutableClock | None = None, **env: str
) -> AsyncIterator[tuple[Server, InMemoryBackend]]:
    """A server whose default backend is the development Fernet keyring, plus "memory"."""
    memory = InMemoryBackend("memory")
    plugins = build_plugin_manager(load_entry_points=False, extra=[MemoryPlugin(memory)])
    async with running(make_settings(database_url, data_dir, **env), clock, plugins) as server:
        yield server, memory


class StopAfter:
    """A progress listener: stops the worker (as a crash would) after `batches` batches."""

    def __init__(self, batches: int = 1, action: Callable[[], Any] | None = None) -> None:
        self.batches = batches
        self.seen = 0
        self.action = action

    async def __call__(self, committed: BatchCommitted) -> None:
        self.seen += 1
        if self.seen == self.batches:
            if self.action is not None:
                result = self.action()
                if asyncio.iscoroutine(result):
                    await result
                return
            raise asyncio.CancelledError  # the worker dies; the job row stays RUNNING


# ---- fernet rotation -------------------------------------------------------------


async def test_fernet_rotation_rewraps_every_data_key_and_never_touches_values(server: Server) -> None:
    await server.data('mutation { createWorkspace(id: "second") { id } }')
    values = await populate(server, 4, 3)
    values_second = await populate(server, 2, 2, workspace="second", prefix="T")
    total = await live_version_count()
    assert total == 4 * 3 + 2 * 2
    old_key = fernet_key_id(keyring(server)[0])
    assert await live_keys() == {("fernet", old_key)}
    before_ciphertexts = await ciphertexts()
    before_wrapped = await wrapped_keys()

    result = await rotate(server)

    new_key = fernet_key_id(keyring(server)[0])
    assert result == {"backend": "fernet", "keyId": new_key, "rewrapped": total, "remaining": 0}
    assert new_key != old_key
    assert [fernet_key_id(k) for k in keyring(server)] == [new_key, old_key]
    assert await live_keys() == {("fernet", new_key)}
    assert await ciphertexts() == before_ciphertexts  # values are not re-encrypted
    after_wrapped = await wrapped_keys()
    assert all(after_wrapped[i] != before_wrapped[i] for i in before_wrapped)  # data keys are
    await assert_values(server, values)
    await assert_values(server, values_second, workspace="second")
    events = await SecretAudit.filter(action=AuditAction.KEY_ROTATED)
    assert sorted(e.workspace_id for e in events) == ["default", "second"]
    assert all(e.details["backend"] == "fernet" and e.details["key_id"] == new_key for e in events)
    assert all(e.details["rewrapped_total"] == total for e in events)
    job = await only_job()
    assert (job.status, job.target_key_id, job.rewrapped) == (KeyRotationStatus.COMPLETED, new_key, total)
    assert job.finished_at is not None
    shown = (await server.data(HEALTH))["encryptionHealth"]
    assert {b["name"]: b["keyId"] for b in shown["backends"]} == {"fernet": new_key}

    again = await rotate(server, "fernet")

    newest = fernet_key_id(keyring(server)[0])
    assert again == {"backend": "fernet", "keyId": newest, "rewrapped": total, "remaining": 0}
    assert newest not in (old_key, new_key)
    assert [fernet_key_id(k) for k in keyring(server)] == [newest, new_key, old_key]
    assert await live_keys() == {("fernet", newest)}
    assert await ciphertexts() == before_ciphertexts
    await assert_values(server, values)
    assert await SecretAudit.filter(action=AuditAction.KEY_ROTATED).count() == 4
    # The API shows the key of every version too.
    sid = next(iter(values))
    shown_versions = (await server.data(SECRET, {"ws": "default", "id": sid}))["secret"]["versions"]
    assert {(v["encryptionBackend"], v["keyId"]) for v in shown_versions} == {("fernet", newest)}


async def test_rotation_with_no_secrets_still_rotates_the_key(server: Server) -> None:
    result = await rotate(server)
    assert result == {"backend": "fernet", "keyId": fernet_key_id(keyring(server)[0]), "rewrapped": 0, "remaining": 0}
    assert len(keyring(server)) == 2


async def test_destroyed_versions_are_skipped_and_stay_erased(server: Server) -> None:
    values = await populate(server, 3, 2)
    doomed = next(iter(values))
    await server.data(DESTROY, {"ws": "default", "id": doomed})
    kept = {sid: v for sid, v in values.items() if sid != doomed}
    erased_before = await SecretVersion.filter(secret_id=UUID(doomed)).values_list(
        "backend", "key_id", "ciphertext", "wrapped_key"
    )

    result = await rotate(server)

    assert result["rewrapped"] == 4 and result["remaining"] == 0
    erased_after = await SecretVersion.filter(secret_id=UUID(doomed)).values_list(
        "backend", "key_id", "ciphertext", "wrapped_key"
    )
    assert len(erased_after) == 2
    assert all(ciphertext is None and wrapped is None for _b, _k, ciphertext, wrapped in erased_after)
    assert sorted(erased_after) == sorted(erased_before)  # not even relabelled
    assert await live_keys() == {("fernet", result["keyId"])}
    await assert_values(server, kept)


# ---- generateEncryptionKey and who may do what -----------------------------------------


async def test_generate_encryption_key(database_url: str, tmp_path: Path) -> None:
    async with with_memory(database_url, tmp_path / "data") as (server, _memory):
        for backend in (None, "fernet"):
            generated = (await server.data(GENERATE, {"backend": backend}))["generateEncryptionKey"]
            assert generated["backend"] == "fernet"
            Fernet(generated["key"])  # a valid Fernet key
            assert generated["key"] not in keyring(server)  # fresh, and not installed
        assert len(keyring(server)) == 1

        keeps_its_keys = await server.error(GENERATE, {"backend": "memory"})
        assert keeps_its_keys["extensions"] == {"code": "BAD_USER_INPUT", "field": "backend"}
        assert "memory" in keeps_its_keys["message"]

        unknown = await server.error(GENERATE, {"backend": "nope"})
        assert unknown["extensions"] == {"code": "BAD_USER_INPUT", "field": "backend"}
        assert "nope" in unknown["message"]

        unknown_target = await server.error(ROTATE, {"target": "nope"})
        assert unknown_target["extensions"] == {"code": "BAD_USER_INPUT", "field": "targetBackend"}
        assert await KeyRotationJob.all().count() == 0


async def test_only_a_superadmin_manages_encryption_keys(server: Server) -> None:
    values = await populate(server, 1, 1)
    token = await admin_token_of_default(server)
    for document, variables in ((ROTATE, {"target": None}), (GENERATE, {"backend": None}), (HEALTH, {})):
        error = await server.error(document, variables, token=token)
        assert error["extensions"]["code"] == "FORBIDDEN", error
    assert await KeyRotationJob.all().count() == 0
    assert len(keyring(server)) == 1
    # The workspace admin can still do what it may.
    sid = next(iter(values))
    got = (await server.data(VALUE, {"ws": "default", "id": sid}, token=token))["secretValue"]
    assert got["value"] == values[sid][0]


# ---- migration between backends ----------------------------------------------------------


async def test_migration_to_another_backend_and_back(database_url: str, tmp_path: Path) -> None:
    async with with_memory(database_url, tmp_path / "data") as (server, memory):
        values = await populate(server, 5, 2)
        before_ciphertexts = await ciphertexts()
        total = await live_version_count()

        moved = await rotate(server, "memory")

        assert moved == {"backend": "memory", "keyId": "memory-key-2", "rewrapped": total, "remaining": 0}
        assert await live_keys() == {("memory", "memory-key-2")}
        # The server key (audit chain, checkpoints, digests) moved with the data keys.
        assert (await ServerKey.get(id="server")).backend == "memory"
        assert set(await Secret.all().values_list("encryption_backend", flat=True)) == {"memory"}
        assert await ciphertexts() == before_ciphertexts
        await assert_values(server, values)
        for sid in values:
            shown = (await server.data(SECRET, {"ws": "default", "id": sid}))["secret"]
            assert shown["encryptionBackend"] == "memory"
            assert {(v["encryptionBackend"], v["keyId"]) for v in shown["versions"]} == {("memory", "memory-key-2")}

        # New versions of migrated secrets are written to the new backend.
        sid = next(iter(values))
        updated = (await server.data(UPDATE, {"ws": "default", "id": sid, "value": "after-migration"}))["updateSecret"]
        assert updated == {"currentVersion": 3, "encryptionBackend": "memory"}
        values[sid].append("after-migration")
        newest = await SecretVersion.get(secret_id=UUID(sid), version=3)
        assert (newest.backend, newest.key_id) == ("memory", "memory-key-2")
        # Reading them needs the memory backend: it really holds the data keys.
        unwraps = memory.unwrap_calls
        await assert_values(server, {sid: values[sid]})
        assert memory.unwrap_calls == unwraps + 4  # three versions, then the current one again

        back = await rotate(server, "fernet")

        fernet_key = fernet_key_id(keyring(server)[0])
        assert back == {"backend": "fernet", "keyId": fernet_key, "rewrapped": total + 1, "remaining": 0}
        assert len(keyring(server)) == 2
        assert await live_keys() == {("fernet", fernet_key)}
        assert set(await Secret.all().values_list("encryption_backend", flat=True)) == {"fernet"}
        memory.available = False  # nothing needs it any more
        await assert_values(server, values)
        assert (await ServerKey.get(id="server")).backend == "fernet"
        assert (await server.data('{ auditIntegrity(workspaceId: "default") { valid } }'))["auditIntegrity"]["valid"]
        events = await SecretAudit.filter(action=AuditAction.KEY_ROTATED).order_by("seq")
        assert [e.details["backend"] for e in events] == ["memory", "fernet"]


# ---- failure semantics ---------------------------------------------------------------------


async def test_backend_unavailable_fails_closed_and_rotation_resumes_when_it_is_back(
    database_url: str, tmp_path: Path
) -> None:
    async with with_memory(database_url, tmp_path / "data") as (server, memory):
        on_fernet = await populate(server, 2, 2)
        on_memory = await populate(server, 1, 2, prefix="M", backend="memory")
        memory_sid = next(iter(on_memory))
        memory_key = (await SecretVersion.get(secret_id=UUID(memory_sid), version=1)).key_id
        events_before = await SecretAudit.all().count()
        secrets_before = await Secret.all().count()
        versions_before = await SecretVersion.all().count()
        memory.available = False

        refused = await server.error(
            CREATE, {"ws": "default", "name": "NEVER", "value": "never-stored", "backend": "memory"}
        )
        assert refused["extensions"]["code"] == "BACKEND_UNAVAILABLE", refused
        assert "never-stored" not in str(refused)
        assert await Secret.all().count() == secrets_before
        assert await SecretVersion.all().count() == versions_before
        assert await SecretAudit.all().count() == events_before
        assert not await Secret.exists(name="NEVER")

        unreadable = await server.error(VALUE, {"ws": "default", "id": memory_sid, "v": None})
        assert unreadable["extensions"]["code"] == "BACKEND_UNAVAILABLE"
        assert "memory" in unreadable["message"] and memory_key in unreadable["message"]
        assert all(v not in unreadable["message"] for v in on_memory[memory_sid])
        await assert_values(server, on_fernet)  # other backends are unaffected

        ready = await server.client.get("/readyz")
        assert ready.status_code == 200, ready.text
        report = ready.json()
        assert report["backends"]["fernet"] == "ok"
        assert report["backends"]["memory"].startswith("unavailable")
        assert report["status"] == "ready"
        health = {b["name"]: b for b in (await server.data(HEALTH))["encryptionHealth"]["backends"]}
        assert health["memory"]["healthy"] is False and health["fernet"]["healthy"] is True

        down = await server.error(ROTATE, {"target": "memory"})
        assert down["extensions"]["code"] == "BACKEND_UNAVAILABLE", down
        assert "memory" in down["message"]
        assert await live_keys() == {("fernet", fernet_key_id(keyring(server)[0])), ("memory", memory_key)}

        memory.available = True
        done = await rotate(server, "memory")

        assert done["backend"] == "memory" and done["remaining"] == 0
        assert await live_keys() == {("memory", done["keyId"])}
        assert (await KeyRotationJob.get(target_backend="memory")).status is KeyRotationStatus.COMPLETED
        await assert_values(server, {**on_fernet, **on_memory})


async def test_rotation_that_fails_midway_resumes_without_rotating_again(database_url: str, tmp_path: Path) -> None:
    async with with_memory(database_url, tmp_path / "data", STRONGROOM_KEY_ROTATION_BATCH="3") as (server, memory):
        values = await populate(server, 5, 2)
        total = await live_version_count()

        def outage() -> None:
            memory.available = False

        stop_listening = server.services.key_rotation.add_progress_listener(StopAfter(1, outage))
        failed = await server.error(ROTATE, {"target": "memory"})

        assert failed["extensions"]["code"] == "BACKEND_UNAVAILABLE", failed
        assert "memory" in failed["message"]
        job = await only_job()
        assert job.status is KeyRotationStatus.FAILED and job.error and "memory" in job.error
        assert (job.target_key_id, job.rewrapped) == ("memory-key-2", 3)
        assert len(await live_keys()) == 2  # partly moved: both backends hold data keys

        stop_listening()
        memory.available = True
        resumed = await rotate(server, "memory")

        assert resumed == {"backend": "memory", "keyId": "memory-key-2", "rewrapped": total, "remaining": 0}
        assert await memory.current_key_id() == "memory-key-2"  # no second rotation
        job = await only_job()
        assert (job.status, job.error) == (KeyRotationStatus.COMPLETED, None)
        assert await live_keys() == {("memory", "memory-key-2")}
        await assert_values(server, values)


# ---- resume -------------------------------------------------------------------------------


async def test_stopped_rotation_resumes_where_it_stopped(database_url: str, tmp_path: Path) -> None:
    settings = make_settings(database_url, tmp_path / "data", STRONGROOM_KEY_ROTATION_BATCH="2")
    async with running(settings) as server:
        values = await populate(server, 5, 2)
        total = await live_version_count()
        stop_listening = server.services.key_rotation.add_progress_listener(StopAfter(2))

        partial = await rotate(server)

        new_key = fernet_key_id(keyring(server)[0])
        assert partial == {"backend": "fernet", "keyId": new_key, "rewrapped": 4, "remaining": total - 4}
        job = await only_job()
        assert (job.status, job.rewrapped, job.target_key_id) == (KeyRotationStatus.RUNNING, 4, new_key)
        assert job.last_version_id > 0 and job.finished_at is None
        on_new = await SecretVersion.filter(key_id=new_key).values_list("id", flat=True)
        assert len(on_new) == 4 and max(on_new) <= job.last_version_id
        await assert_values(server, values)  # a half-rotated store reads fine

        stop_listening()
        done = await rotate(server)

        assert done == {"backend": "fernet", "keyId": new_key, "rewrapped": total, "remaining": 0}
        assert len(keyring(server)) == 2  # the key was rotated once
        job = await only_job()
        assert (job.status, job.rewrapped) == (KeyRotationStatus.COMPLETED, total)
        assert await live_keys() == {("fernet", new_key)}
        await assert_values(server, values)
        assert await SecretAudit.filter(action=AuditAction.KEY_ROTATED).count() == 1


async def test_shutdown_lets_the_batch_under_way_commit_and_leaves_the_database_usable(
    database_url: str, tmp_path: Path
) -> None:
    """Stopping the service waits for the batch a worker is in, instead of
    cancelling it: cancelled while Tortoise's SQLite client opens a
    transaction, a task keeps the connection's lock, and every later write
    of the process waits for ever."""
    settings = make_settings(database_url, tmp_path / "data", STRONGROOM_KEY_ROTATION_BATCH="2")
    async with running(settings) as server:
        values = await populate(server, 5, 2)
        total = await live_version_count()
        in_batch, release = asyncio.Event(), asyncio.Event()

        async def hold_the_first_batch(committed: BatchCommitted) -> None:
            if not in_batch.is_set():
                in_batch.set()
                await release.wait()

        server.services.key_rotation.add_progress_listener(hold_the_first_batch)
        rotation = asyncio.create_task(rotate(server))
        await asyncio.wait_for(in_batch.wait(), 30)
        stopping = asyncio.create_task(server.services.key_rotation.stop())
        await asyncio.sleep(0.2)
        assert not stopping.done()  # waiting for the worker, not cancelling it
        release.set()
        await asyncio.wait_for(stopping, 10)

        job = await only_job()
        assert (job.status, job.rewrapped) == (KeyRotationStatus.RUNNING, 2)  # no batch after the stop
        assert (await asyncio.wait_for(rotation, 10))["remaining"] == total - 2
        # The connection's lock was released: a write of this process goes through.
        made = await asyncio.wait_for(
            server.data(CREATE, {"ws": "default", "name": "AFTER_STOP", "value": "v", "backend": None}), 10
        )
        assert made["createSecret"]["id"]
        await assert_values(server, values)


async def test_abandoned_rotation_is_taken_over_by_the_periodic_resume(database_url: str, tmp_path: Path) -> None:
    clock = MutableClock()
    settings = make_settings(database_url, tmp_path / "data", STRONGROOM_KEY_ROTATION_BATCH="2")
    async with running(settings, clock) as server:
        values = await populate(server, 4, 2)
        total = await live_version_count()
        service = server.services.key_rotation
        stop_listening = service.add_progress_listener(StopAfter(1))
        partial = await rotate(server)
        assert partial["remaining"] == total - 2
        stop_listening()

        await service.resume_abandoned()  # its heartbeat is fresh: left alone
        assert live_workers() == []  # a worker would have been started by now (create_task)
        assert (await only_job()).rewrapped == 2

        clock.advance(seconds=31)
        await service.resume_abandoned()

        async def completed() -> bool:
            return (await only_job()).status is KeyRotationStatus.COMPLETED

        await wait_for(completed, what="the resumed rotation")
        job = await only_job()
        assert (job.rewrapped, job.target_key_id) == (total, partial["keyId"])
        assert await live_keys() == {("fernet", partial["keyId"])}
        assert len(keyring(server)) == 2
        await assert_values(server, values)


async def test_concurrent_requests_start_one_rotation(database_url: str, tmp_path: Path) -> None:
    settings = make_settings(database_url, tmp_path / "data", STRONGROOM_KEY_ROTATION_BATCH="2")
    async with running(settings) as server:
        values = await populate(server, 4, 2)

        answers = await asyncio.wait_for(asyncio.gather(*(rotate(server) for _ in range(3))), 60)

        assert len(keyring(server)) == 2, "one call rotates the key; the others join its job"
        key = fernet_key_id(keyring(server)[0])
        assert {a["keyId"] for a in answers} == {key}
        assert all(a["remaining"] == 0 for a in answers)
        assert (await only_job()).status is KeyRotationStatus.COMPLETED
        assert await live_keys() == {("fernet", key)}
        await assert_values(server, values)


async def test_key_rotated_elsewhere_during_a_job_does_not_stall_it(database_url: str, tmp_path: Path) -> None:
    """The target's current key moves mid-job (Vault auto-rotation, another
    replica): the job must end with everything on the newest key, not loop."""
    async with with_memory(database_url, tmp_path / "data", STRONGROOM_KEY_ROTATION_BATCH="2") as (server, memory):
        values = await populate(server, 4, 2)
        server.services.key_rotation.add_progress_listener(StopAfter(1, memory.rotate_key))

        result = await asyncio.wait_for(rotate(server, "memory"), 30)

        assert await memory.current_key_id() == "memory-key-3"
        assert result["remaining"] == 0, result
        assert result["keyId"] == "memory-key-3"
        assert await live_keys() == {("memory", "memory-key-3")}
        assert (await only_job()).status is KeyRotationStatus.COMPLETED
        await assert_values(server, values)


async def test_a_newer_rotation_supersedes_an_unfinished_one(database_url: str, tmp_path: Path) -> None:
    clock = MutableClock()
    async with with_memory(database_url, tmp_path / "data", clock, STRONGROOM_KEY_ROTATION_BATCH="2") as (
        server,
        memory,
    ):
        values = await populate(server, 4, 2)
        total = await live_version_count()
        service = server.services.key_rotation
        stop_listening = service.add_progress_listener(StopAfter(1))
        partial = await rotate(server, "memory")
        assert partial["remaining"] == total - 2
        stop_listening()

        back = await rotate(server, "fernet")

        fernet_key = fernet_key_id(keyring(server)[0])
        assert back == {"backend": "fernet", "keyId": fernet_key, "rewrapped": total, "remaining": 0}
        assert await live_keys() == {("fernet", fernet_key)}
        # The abandoned job to "memory" is not taken over later: it would undo
        # what the operator asked for last.
        clock.advance(seconds=31)
        await service.resume_abandoned()
        assert live_workers() == []  # a worker would have been started by now (create_task)
        assert await live_keys() == {("fernet", fernet_key)}
        stale = await KeyRotationJob.get(target_backend="memory")
        assert stale.status is not KeyRotationStatus.RUNNING
        # A later rotation to memory rotates its key afresh.
        again = await rotate(server, "memory")
        assert again["keyId"] == "memory-key-3" and again["remaining"] == 0
        assert await live_keys() == {("memory", "memory-key-3")}
        await assert_values(server, values)


# ---- concurrency --------------------------------------------------------------------------


SLOW_REWRAP_TRIGGER = """
CREATE FUNCTION slow_rewrap() RETURNS trigger AS $$ BEGIN PERFORM pg_sleep(0.3); RETURN NEW; END $$ LANGUAGE plpgsql;
CREATE TRIGGER slow_rewrap BEFORE UPDATE OF key_id ON secret_version FOR EACH ROW EXECUTE FUNCTION slow_rewrap();
"""


async def test_destroy_during_a_migration_batch_neither_deadlocks_nor_resurrects(
    database_url: str, dialect: str, tmp_path: Path
) -> None:
    """A destroy lands while a batch moving its secret to another backend is
    being committed. On PostgreSQL a trigger holds the batch inside its
    transaction so that the destroy reliably arrives in the middle of it."""
    async with with_memory(database_url, tmp_path / "data", STRONGROOM_KEY_ROTATION_BATCH="4") as (server, _memory):
        values = await populate(server, 2, 2)  # four versions: one batch
        doomed, kept = list(values)
        if dialect == "postgres":
            await connections.all()[0].execute_script(SLOW_REWRAP_TRIGGER)
        rotation = asyncio.create_task(rotate(server, "memory"))
        if dialect == "postgres":
            watcher = await pg.connect(database_url)
            try:

                async def batch_in_progress() -> bool:
                    return bool(
                        await watcher.fetchval(
                            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event = 'PgSleep'"
                        )
                    )

                await wait_for(batch_in_progress, what="the batch transaction")
            finally:
                await watcher.close()
        destroyed = await server.execute(DESTROY, {"ws": "default", "id": doomed})
        result = await asyncio.wait_for(rotation, 30)

        assert destroyed == {"data": {"destroySecret": True}}, destroyed
        assert result["remaining"] == 0 and result["backend"] == "memory", result
        erased = await SecretVersion.filter(secret_id=UUID(doomed)).values_list("ciphertext", "wrapped_key")
        assert erased and all(c is None and w is None for c, w in erased)
        assert await live_keys() == {("memory", result["keyId"])}
        await assert_values(server, {kept: values[kept]})
        assert (await only_job()).status is KeyRotationStatus.COMPLETED


@pytest.mark.parametrize("target", ["fernet", "memory"])
async def test_readers_and_writers_keep_working_during_rotation(database_url: str, tmp_path: Path, target: str) -> None:
    async with with_memory(database_url, tmp_path / "data", STRONGROOM_KEY_ROTATION_BATCH="2") as (server, _memory):
        count = 6
        values = await populate(server, count, 2)
        ids = list(values)
        names = {sid: f"S_{i}" for i, sid in enumerate(ids)}
        failures: list[str] = []
        reads = 0
        writes_during = 0

        async def slow_down(committed: BatchCommitted) -> None:
            await asyncio.sleep(0.01)  # let readers and writers in between batches

        server.services.key_rotation.add_progress_listener(slow_down)
        rotation = asyncio.create_task(rotate(server, target))

        async def writer(sid: str) -> None:
            nonlocal writes_during
            while not rotation.done():
                version = len(values[sid]) + 1
                value = value_for(names[sid], version)
                body = await server.execute(UPDATE, {"ws": "default", "id": sid, "value": value})
                if body.get("errors"):
                    failures.append(f"write {sid} v{version}: {body['errors']}")
                    return
                assert body["data"]["updateSecret"]["currentVersion"] == version
                values[sid].append(value)
                writes_during += 1
                await asyncio.sleep(0.005)  # a steady writer, not a flood (pacing, not synchronisation)

        async def reader(n: int) -> None:
            nonlocal reads
            k = 0
            while not rotation.done():
                sid = ids[(n + k) % count]
                known = len(values[sid])
                number = None if k % 3 == 0 else 1 + k % known
                body = await server.execute(VALUE, {"ws": "default", "id": sid, "v": number})
                k += 1
                if body.get("errors"):
                    failures.append(f"read {sid} v{number}: {body['errors']}")
                    continue
                got = body["data"]["secretValue"]
                if got["value"] != value_for(names[sid], got["version"]) or (
                    number is not None and got["version"] != number
                ):
                    failures.append(f"read {sid} v{number}: wrong value for version {got['version']}")
                reads += 1

        tasks = [*(writer(sid) for sid in ids[:3]), *(reader(n) for n in range(4))]
        await asyncio.wait_for(asyncio.gather(rotation, *tasks), 90)

        assert failures == []
        assert reads > 0 and writes_during > 0
        result = rotation.result()
        assert result["remaining"] == 0 and result["backend"] == target
        assert await live_keys() == {(target, result["keyId"])}, "writes made mid-rotation were rewrapped too"
        assert await live_version_count() == sum(len(v) for v in values.values())
        await assert_values(server, values)


# ---- vault: a real OpenBao (tests/openbao.py) ---------------------------------------------


@pytest.fixture(scope="session")
def bao() -> Iterator[OpenBao]:
    with shared_openbao() as server:
        yield server


@pytest.fixture
def vault_environment(bao: OpenBao) -> Iterator[dict[str, str]]:
    """VAULT_* for a fresh transit mount and key on OpenBao, with a token of Strongroom's documented policy."""
    transit = bao.new_transit()
    bao.create_key(transit, "strongroom")
    yield {
        "VAULT_URL": bao.url,
        "VAULT_TOKEN": bao.create_token(strongroom_policy(transit.mount, "strongroom")),
        "VAULT_TRANSIT_KEY": "strongroom",
        "VAULT_MOUNT_POINT": transit.mount,
    }
    bao.drop_transit(transit)


async def read_until_done(
    server: Server, task: asyncio.Task[Any], names: dict[str, str], label: str, failures: list[str], n: int
) -> int:
    """Read current and first versions (secrets of 2 versions) until `task` is done; how many reads ran."""
    ids = list(names)
    reads = 0
    k = 0
    while not task.done():
        sid = ids[(n + k) % len(ids)]
        number = None if k % 2 == 0 else 1
        k += 1
        body = await server.execute(VALUE, {"ws": "default", "id": sid, "v": number})
        if body.get("errors"):
            failures.append(f"{label} read {sid} v{number}: {body['errors']}")
            continue
        got = body["data"]["secretValue"]
        if got["value"] != value_for(names[sid], got["version"]) or got["version"] != (number or 2):
            failures.append(f"{label} read {sid} v{number}: wrong value")
        reads += 1
    return reads


async def test_rotation_fernet_to_vault_to_fernet_under_live_readers(
    database_url: str, tmp_path: Path, bao: OpenBao, vault_environment: dict[str, str]
) -> None:
    """rotateEncryptionKey fernet -> vault -> vault (its key rotated) -> fernet against OpenBao,
    each leg to completion while readers check current and older values."""
    mount = vault_environment["VAULT_MOUNT_POINT"]
    transit = Transit(mount)
    settings = make_settings(database_url, tmp_path / "data", STRONGROOM_KEY_ROTATION_BATCH="3", **vault_environment)
    async with running(settings) as server:
        assert "vault" in server.services.backends.names
        values = await populate(server, 8, 2)
        names = {sid: f"S_{i}" for i, sid in enumerate(values)}
        total = await live_version_count()

        async def between_batches(committed: BatchCommitted) -> None:
            await asyncio.sleep(0.01)  # let the readers in between batches

        server.services.key_rotation.add_progress_listener(between_batches)
        admin = hvac.Client(url=bao.url, token=bao.root_token)
        try:
            for leg, (target, key_id) in enumerate(
                [("vault", "strongroom:v2"), ("vault", "strongroom:v3"), ("fernet", None)]
            ):
                failures: list[str] = []
                rotation = asyncio.create_task(rotate_to_completion(server, target))
                readers = [read_until_done(server, rotation, names, f"leg {leg}", failures, n) for n in range(3)]
                reads = sum((await asyncio.wait_for(asyncio.gather(rotation, *readers), 90))[1:])

                result = rotation.result()
                assert failures == [], failures[:5]
                assert reads > 0, f"leg {leg}: no read ran during the rotation"
                assert result["backend"] == target and result["remaining"] == 0, result
                if key_id is None:
                    key_id = fernet_key_id(keyring(server)[0])
                assert result["keyId"] == key_id
                assert await live_keys() == {(target, key_id)}, target
                assert (await ServerKey.get(id="server")).backend == target
                if target == "vault":
                    # The data keys really are wrapped by OpenBao's key, bound to their secret.
                    key = bao.read_key(transit, "strongroom")
                    assert key is not None and key["latest_version"] == int(key_id.rsplit(":v", 1)[1])
                    row = await SecretVersion.filter(ciphertext__isnull=False).first()
                    assert row is not None
                    opened = admin.secrets.transit.decrypt_data(
                        "strongroom",
                        ciphertext=bytes(row.wrapped_key).decode("ascii"),
                        associated_data=vault_associated_data(key_context("default", row.secret_id)),
                        mount_point=mount,
                    )
                    assert len(base64.b64decode(opened["data"]["plaintext"])) == 32
        finally:
            admin.adapter.close()

        assert await live_version_count() == total
        await assert_values(server, values)
        # Nothing needs OpenBao any more: sealed, every value still reads.
        with bao.sealed():
            await assert_values(server, values)
        events = await SecretAudit.filter(action=AuditAction.KEY_ROTATED).order_by("seq")
        assert [e.details["backend"] for e in events] == ["vault", "vault", "fernet"]


# ---- acceptance: every builtin backend, 1,000+ secrets, readers throughout (SQLite only) ------------


def acceptance_value(i: int, version: int) -> str:
    return f"acceptance-{i}-v{version}-{(i * 7919 + version * 104729) % 1_000_003:06d}"


@pytest.fixture
def aws_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """moto accepts any credentials; keep the developer's own AWS files out of the way."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    for variable in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(variable, raising=False)


@pytest.mark.slow
@pytest.mark.timeout(240)
async def test_acceptance_sqlite_rotation_across_every_builtin_backend_under_load(
    sqlite_template: Path, tmp_path: Path, aws_environment: None, vault_environment: dict[str, str]
) -> None:
    """SQLite only. 1,000 secrets x 3 versions: fernet -> new fernet key ->
    aws_kms (moto) -> vault (a real OpenBao) -> fernet, each to completion,
    while a reader checks current and older values throughout."""
    secrets_count, versions = 1000, 3
    database = tmp_path / "db" / "strongroom.db"
    database.parent.mkdir()
    database.write_bytes(sqlite_template.read_bytes())
    with running_moto_kms() as kms:
        settings = make_settings(
            f"sqlite://{database}",
            tmp_path / "data",
            AWS_KMS_KEY_ID=kms.key_arn,
            AWS_REGION=kms.region,
            AWS_ENDPOINT_URL_KMS=kms.endpoint_url,
            **vault_environment,
        )
        async with running(settings) as server:
            assert server.services.backends.names == ["aws_kms", "fernet", "vault"]
            secrets = server.services.secret_reads
            actor = Actor(user_id=None, user_agent="acceptance")
            started = time.monotonic()
            # Through the service layer; the importer writes a whole file in one
            # transaction, which keeps the set-up to seconds (3,000 separate
            # commits with synchronous=FULL take ~25 s here).
            for version in range(1, versions + 1):
                dotenv = "".join(f"ACC_{i}={acceptance_value(i, version)}\n" for i in range(secrets_count))
                outcome = await server.services.importer.import_dotenv("default", dotenv, version > 1, actor)
                assert (outcome.created, outcome.updated) == (
                    (secrets_count, 0) if version == 1 else (0, secrets_count)
                )
            values: dict[UUID, list[str]] = {}
            for row in await Secret.all():
                i = int(str(row.name).removeprefix("ACC_"))
                values[row.id] = [acceptance_value(i, v) for v in range(1, versions + 1)]
                assert row.current_version == versions
            populated = time.monotonic() - started
            total = await live_version_count()
            assert total == secrets_count * versions

            failures: list[str] = []
            reads = {"count": 0}
            stop = asyncio.Event()

            async def reader() -> None:
                ids = list(values)
                k = 0
                while not stop.is_set():
                    sid = ids[k % len(ids)]
                    number = None if k % 2 == 0 else 1 + (k // 2) % versions
                    k += 1
                    try:
                        got = await secrets.reveal("default", sid, number, actor)
                    except Exception as exc:  # any failure is a finding
                        failures.append(f"{sid} v{number}: {type(exc).__name__}: {exc}")
                        continue
                    expected = values[sid][(number or versions) - 1]
                    if got.value != expected or got.version != (number or versions):
                        failures.append(f"{sid} v{number}: wrong value")
                    reads["count"] += 1
                    await asyncio.sleep(0.05)  # a steady reader, not a flood that starves the rotation

            reading = asyncio.create_task(reader())
            legs: list[tuple[str, float, int, int]] = []
            try:
                for target in ("fernet", "aws_kms", "vault", "fernet"):
                    before = reads["count"]
                    leg_started = time.monotonic()
                    progress = await server.services.key_rotation.rotate(target, actor, wait=180)
                    elapsed = time.monotonic() - leg_started
                    assert progress.remaining == 0 and progress.status is KeyRotationStatus.COMPLETED, progress
                    assert progress.rewrapped == total
                    assert await live_keys() == {(target, progress.key_id)}, target
                    legs.append((f"{target}:{progress.key_id}", elapsed, progress.rewrapped, reads["count"] - before))
            finally:
                stop.set()
                await reading

            assert failures == [], failures[:5]
            assert all(leg_reads > 0 for *_, leg_reads in legs), legs
            final_key = fernet_key_id(keyring(server)[0])
            assert legs[-1][0] == f"fernet:{final_key}"
            assert await live_keys() == {("fernet", final_key)}
            assert len(keyring(server)) == 3
            # Every value of every version, once more at the end.
            wanted = [
                (sid, number, value) for sid, expected in values.items() for number, value in enumerate(expected, 1)
            ]
            for start in range(0, len(wanted), 100):
                chunk = wanted[start : start + 100]
                got = await asyncio.gather(*(secrets.reveal("default", sid, number, actor) for sid, number, _ in chunk))
                assert [g.value for g in got] == [value for *_, value in chunk]
            print(
                f"\nacceptance: {secrets_count} secrets x {versions} versions = {total} data keys; populated in {populated:.1f} s"
            )
            for label, elapsed, rewrapped, leg_reads in legs:
                print(
                    f"  leg -> {label[:60]}: {elapsed:.1f} s, {rewrapped} rewrapped, {leg_reads} concurrent reads checked"
                )
