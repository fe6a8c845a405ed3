"""The builtin Vault Transit backend, against the Vault test double (tests/fakes/vault_transit.py)."""

from __future__ import annotations

import base64
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import hvac
import pytest
import pytest_asyncio

from graphql_api.services.envelope import Backends, Envelope
from graphql_api.settings import Settings
from plugins.builtin.vault_transit import VaultTransitBackend, associated_data, parse_key_id
from plugins.interfaces import BackendStatus, KeyUnavailable, PluginConfig, RotatableBackend, WrappedKey
from plugins.manager import build_plugin_manager, collect_encryption_backends
from tests.fakes.vault_transit import VaultDouble, running_vault_double
from tests.plugins.key_material import assert_no_key_material
from tests.process import closed_port_url

TOKEN = "s.strongroom-test-token"
KEY = "strongroom"
CONTEXT = {"workspace_id": "default", "secret_id": "00000000-0000-0000-0000-000000000001"}
OTHER_SECRET = {"workspace_id": "default", "secret_id": "00000000-0000-0000-0000-000000000002"}
FAST = {"backoff_base": 0.001, "backoff_cap": 0.005}

MakeBackend = Callable[..., VaultTransitBackend]


@pytest.fixture(scope="module")
def served_vault() -> Iterator[VaultDouble]:
    with running_vault_double(TOKEN) as double:
        yield double


@pytest.fixture
def vault(served_vault: VaultDouble) -> Iterator[VaultDouble]:
    served_vault.reset()
    client = hvac.Client(url=served_vault.url, token=TOKEN)
    client.secrets.transit.create_key(KEY)
    client.adapter.close()
    served_vault.requests.clear()
    yield served_vault


@pytest_asyncio.fixture
async def make_backend(vault: VaultDouble) -> AsyncIterator[MakeBackend]:
    made: list[VaultTransitBackend] = []

    def make(**overrides: Any) -> VaultTransitBackend:
        arguments: dict[str, Any] = {"url": vault.url, "token": TOKEN, "key_name": KEY, **FAST, **overrides}
        backend = VaultTransitBackend(**arguments)
        made.append(backend)
        return backend

    yield make
    for backend in made:
        await backend.aclose()


@pytest.fixture
def backend(make_backend: MakeBackend) -> VaultTransitBackend:
    return make_backend()


# -- the contract ------------------------------------------------------------


def test_is_a_rotatable_backend(backend: VaultTransitBackend) -> None:
    assert isinstance(backend, RotatableBackend)
    assert backend.name == "vault"
    assert TOKEN not in repr(backend)


@pytest.mark.asyncio
async def test_wrap_unwrap_round_trip(backend: VaultTransitBackend) -> None:
    data_key = os.urandom(32)

    wrapped = await backend.wrap(data_key, CONTEXT)

    assert wrapped.ciphertext.startswith(b"vault:v1:")
    assert wrapped.key_id == f"{KEY}:v1" == await backend.current_key_id()
    assert data_key not in wrapped.ciphertext
    assert base64.b64encode(data_key) not in wrapped.ciphertext
    assert await backend.unwrap(wrapped, CONTEXT) == data_key


@pytest.mark.asyncio
async def test_wrap_binds_the_context_as_associated_data(vault: VaultDouble, backend: VaultTransitBackend) -> None:
    data_key = os.urandom(32)
    wrapped = await backend.wrap(data_key, CONTEXT)
    client = hvac.Client(url=vault.url, token=TOKEN)
    try:
        opened = client.secrets.transit.decrypt_data(
            KEY, ciphertext=wrapped.ciphertext.decode(), associated_data=associated_data(CONTEXT)
        )
        assert base64.b64decode(opened["data"]["plaintext"]) == data_key
        with pytest.raises(hvac.exceptions.InvalidRequest):
            client.secrets.transit.decrypt_data(KEY, ciphertext=wrapped.ciphertext.decode())
    finally:
        client.adapter.close()


@pytest.mark.asyncio
async def test_unwrap_for_another_secret_is_refused(backend: VaultTransitBackend) -> None:
    data_key = os.urandom(32)
    wrapped = await backend.wrap(data_key, CONTEXT)

    with pytest.raises(KeyUnavailable, match=f"vault key {KEY}:v1 .*wrong context") as caught:
        await backend.unwrap(wrapped, OTHER_SECRET)

    assert_no_key_material(caught.value, data_key)


@pytest.mark.asyncio
async def test_unwrap_refuses_a_ciphertext_that_does_not_match_its_key_id(backend: VaultTransitBackend) -> None:
    wrapped = await backend.wrap(os.urandom(32), CONTEXT)

    with pytest.raises(KeyUnavailable, match="wrapped by version 1"):
        await backend.unwrap(WrappedKey(wrapped.ciphertext, f"{KEY}:v2"), CONTEXT)
    with pytest.raises(KeyUnavailable, match="not a Vault ciphertext"):
        await backend.unwrap(WrappedKey(b"\xff garbage", f"{KEY}:v1"), CONTEXT)
    with pytest.raises(KeyUnavailable, match="not a Vault ciphertext"):
        await backend.unwrap(WrappedKey(wrapped.ciphertext, "fernet-0123"), CONTEXT)


def test_key_ids_parse() -> None:
    assert parse_key_id("app:v12") == ("app", 12)
    assert parse_key_id("team:app:v3") == ("team:app", 3)
    for bad in ("app", "app:v", ":v1", "app:vx"):
        with pytest.raises(ValueError):
            parse_key_id(bad)


@pytest.mark.asyncio
async def test_health_is_healthy(backend: VaultTransitBackend) -> None:
    assert await backend.health() == BackendStatus(healthy=True, key_id=f"{KEY}:v1", error=None)


@pytest.mark.asyncio
async def test_generate_key_material_is_none(backend: VaultTransitBackend) -> None:
    assert await backend.generate_key_material() is None


@pytest.mark.asyncio
async def test_envelope_seals_and_opens_through_vault(backend: VaultTransitBackend) -> None:
    envelope = Envelope(Backends({"vault": backend}, "vault"))
    secret_id = uuid.uuid4()

    sealed = await envelope.seal("hunter2", backend=backend, workspace_id="default", secret_id=secret_id, version=1)
    opened = await envelope.open(
        ciphertext=sealed.ciphertext,
        wrapped_key=sealed.wrapped_key,
        backend_name=sealed.backend,
        key_id=sealed.key_id,
        workspace_id="default",
        secret_id=secret_id,
        version=1,
    )

    assert sealed.backend == "vault" and sealed.key_id == f"{KEY}:v1"
    assert opened == "hunter2"


# -- rotation ----------------------------------------------------------------


@pytest.mark.asyncio
async def test_rotate_then_rewrap_moves_to_the_new_version(backend: VaultTransitBackend) -> None:
    data_key = os.urandom(32)
    old = await backend.wrap(data_key, CONTEXT)

    assert await backend.rotate_key() == f"{KEY}:v2"
    assert await backend.current_key_id() == f"{KEY}:v2"
    rewrapped = await backend.rewrap(old, CONTEXT)

    assert rewrapped.key_id == f"{KEY}:v2"
    assert rewrapped.ciphertext.startswith(b"vault:v2:")
    assert await backend.unwrap(rewrapped, CONTEXT) == data_key
    assert await backend.unwrap(old, CONTEXT) == data_key  # older versions stay readable
    assert (await backend.wrap(data_key, CONTEXT)).key_id == f"{KEY}:v2"


@pytest.mark.asyncio
async def test_rewrap_under_the_current_version_is_unchanged(backend: VaultTransitBackend) -> None:
    wrapped = await backend.wrap(os.urandom(32), CONTEXT)

    assert await backend.rewrap(wrapped, CONTEXT) is wrapped


@pytest.mark.asyncio
async def test_rewrap_keeps_the_context_binding(backend: VaultTransitBackend) -> None:
    old = await backend.wrap(os.urandom(32), CONTEXT)
    await backend.rotate_key()

    with pytest.raises(KeyUnavailable, match="wrong context"):
        await backend.rewrap(old, OTHER_SECRET)
    rewrapped = await backend.rewrap(old, CONTEXT)
    with pytest.raises(KeyUnavailable, match="wrong context"):
        await backend.unwrap(rewrapped, OTHER_SECRET)


@pytest.mark.asyncio
async def test_rotation_by_another_client_is_seen_by_wrap(vault: VaultDouble, backend: VaultTransitBackend) -> None:
    assert await backend.current_key_id() == f"{KEY}:v1"
    client = hvac.Client(url=vault.url, token=TOKEN)
    client.secrets.transit.rotate_key(KEY)
    client.adapter.close()

    wrapped = await backend.wrap(os.urandom(32), CONTEXT)

    assert wrapped.key_id == f"{KEY}:v2"
    assert await backend.current_key_id() == f"{KEY}:v2"


@pytest.mark.asyncio
async def test_data_under_a_previous_transit_key_unwraps_and_rewraps_to_the_new_one(
    make_backend: MakeBackend,
) -> None:
    data_key = os.urandom(32)
    wrapped = await make_backend().wrap(data_key, CONTEXT)
    renamed = make_backend(key_name="strongroom-2024")

    assert await renamed.unwrap(wrapped, CONTEXT) == data_key
    moved = await renamed.rewrap(wrapped, CONTEXT)

    assert moved.key_id == "strongroom-2024:v1"
    assert await renamed.unwrap(moved, CONTEXT) == data_key


@pytest.mark.asyncio
async def test_versions_below_min_decryption_version_are_refused(
    vault: VaultDouble, backend: VaultTransitBackend
) -> None:
    old = await backend.wrap(os.urandom(32), CONTEXT)
    await backend.rotate_key()
    client = hvac.Client(url=vault.url, token=TOKEN)
    client.secrets.transit.update_key_configuration(KEY, min_decryption_version=2)
    client.adapter.close()

    with pytest.raises(KeyUnavailable, match=f"vault key {KEY}:v1 .*min_decryption_version"):
        await backend.unwrap(old, CONTEXT)


# -- namespaces and mounts -------------------------------------------------------


@pytest.mark.asyncio
async def test_namespace_and_mount_point_are_used(vault: VaultDouble, make_backend: MakeBackend) -> None:
    vault.mounts.add("secrets-transit")
    backend = make_backend(namespace="team-a", mount_point="secrets-transit", key_name="app")
    data_key = os.urandom(32)

    wrapped = await backend.wrap(data_key, CONTEXT)  # Vault upserts the key on first encrypt

    assert vault.key("app", mount="secrets-transit", namespace="team-a") is not None
    assert vault.key("app", mount="secrets-transit") is None
    assert await backend.unwrap(wrapped, CONTEXT) == data_key
    assert (await backend.health()).healthy
    transit_requests = [r for r in vault.requests if "/secrets-transit/" in r.path]
    assert transit_requests and all(r.namespace == "team-a" for r in transit_requests)
    health_requests = [r for r in vault.requests if r.path == "/v1/sys/health"]
    assert health_requests and all(r.namespace == "" for r in health_requests)


# -- failures ----------------------------------------------------------------


@pytest.mark.asyncio
async def test_sealed_vault_is_unavailable_and_unhealthy(vault: VaultDouble, backend: VaultTransitBackend) -> None:
    data_key = os.urandom(32)
    wrapped = await backend.wrap(data_key, CONTEXT)
    vault.seal()

    with pytest.raises(KeyUnavailable, match=f"vault key {KEY}:v1 is unavailable: sealed") as caught:
        await backend.unwrap(wrapped, CONTEXT)
    with pytest.raises(KeyUnavailable, match="sealed"):
        await backend.wrap(data_key, CONTEXT)
    status = await backend.health()

    assert_no_key_material(caught.value, data_key)
    assert status.healthy is False and status.error is not None and "sealed" in status.error
    vault.unseal()
    assert await backend.unwrap(wrapped, CONTEXT) == data_key


@pytest.mark.asyncio
async def test_unreachable_vault_is_unavailable_and_unhealthy(make_backend: MakeBackend) -> None:
    backend = make_backend(url=closed_port_url(), timeout=2.0)

    with pytest.raises(KeyUnavailable, match=f"vault key {KEY} is unavailable: unreachable"):
        await backend.wrap(os.urandom(32), CONTEXT)
    status = await backend.health()

    assert status.healthy is False
    assert status.error is not None and "unreachable" in status.error


@pytest.mark.asyncio
async def test_one_503_is_retried(vault: VaultDouble, backend: VaultTransitBackend) -> None:
    data_key = os.urandom(32)
    vault.fail_next(1, 503)

    wrapped = await backend.wrap(data_key, CONTEXT)

    assert vault.count(f"/encrypt/{KEY}") == 2
    assert await backend.unwrap(wrapped, CONTEXT) == data_key


@pytest.mark.asyncio
async def test_persistent_503_ends_in_key_unavailable_after_the_attempts(
    vault: VaultDouble, backend: VaultTransitBackend
) -> None:
    data_key = os.urandom(32)
    vault.fail_next(10, 503)

    with pytest.raises(KeyUnavailable, match="sealed or down") as caught:
        await backend.wrap(data_key, CONTEXT)

    assert vault.count(f"/encrypt/{KEY}") == backend.attempts == 3
    assert_no_key_material(caught.value, data_key)


@pytest.mark.asyncio
async def test_500_and_502_are_retried(vault: VaultDouble, backend: VaultTransitBackend) -> None:
    vault.fail_next(1, 500)
    vault.fail_next(1, 502)

    assert (await backend.wrap(os.urandom(32), CONTEXT)).key_id == f"{KEY}:v1"
    assert vault.count(f"/encrypt/{KEY}") == 3


@pytest.mark.asyncio
async def test_client_errors_are_not_retried(vault: VaultDouble, make_backend: MakeBackend) -> None:
    wrong_token = make_backend(token="not-the-token")

    with pytest.raises(KeyUnavailable, match="permission denied"):
        await wrong_token.wrap(os.urandom(32), CONTEXT)
    assert vault.count(f"/encrypt/{KEY}") == 1

    vault.fail_next(1, 400)
    with pytest.raises(KeyUnavailable, match="request rejected"):
        await make_backend().wrap(os.urandom(32), CONTEXT)
    assert vault.count(f"/encrypt/{KEY}") == 2


@pytest.mark.asyncio
async def test_missing_key_is_reported(make_backend: MakeBackend) -> None:
    backend = make_backend(key_name="never-created")

    with pytest.raises(KeyUnavailable, match="vault key never-created is unavailable: not found"):
        await backend.current_key_id()
    status = await backend.health()
    assert status.healthy is False and status.error is not None and "not found" in status.error


@pytest.mark.asyncio
async def test_no_error_message_contains_the_data_key(vault: VaultDouble, backend: VaultTransitBackend) -> None:
    data_key = os.urandom(32)
    wrapped = await backend.wrap(data_key, CONTEXT)
    failures: list[KeyUnavailable] = []
    attempts: list[Callable[[], Awaitable[bytes]]] = [
        lambda: backend.unwrap(wrapped, OTHER_SECRET),
        lambda: backend.unwrap(WrappedKey(wrapped.ciphertext[:-4] + b"AAA=", wrapped.key_id), CONTEXT),
        lambda: backend.unwrap(WrappedKey(wrapped.ciphertext, f"{KEY}:v7"), CONTEXT),
    ]
    for attempt in attempts:
        with pytest.raises(KeyUnavailable) as caught:
            await attempt()
        failures.append(caught.value)
    vault.fail_next(10, 503)
    with pytest.raises(KeyUnavailable) as caught:
        await backend.wrap(data_key, CONTEXT)
    failures.append(caught.value)

    for failure in failures:
        assert_no_key_material(failure, data_key)
        assert str(failure).startswith("vault key ")


@pytest.mark.asyncio
async def test_closed_backend_refuses(make_backend: MakeBackend) -> None:
    backend = make_backend()
    await backend.aclose()

    with pytest.raises(KeyUnavailable, match="backend closed"):
        await backend.wrap(os.urandom(32), CONTEXT)


# -- registration --------------------------------------------------------------


def collect(environ: dict[str, str], tmp_path: Path, *, with_settings: bool = True) -> dict[str, Any]:
    settings = Settings.from_environ(environ, env_file=tmp_path / "none") if with_settings else None
    config = PluginConfig(environ=environ, data_dir=tmp_path, settings=settings)
    return dict(collect_encryption_backends(build_plugin_manager(load_entry_points=False), config))


def test_vault_is_available_only_when_configured(tmp_path: Path) -> None:
    assert "vault" not in collect({}, tmp_path)

    backends = collect(
        {
            "VAULT_URL": "http://127.0.0.1:8200",
            "VAULT_TOKEN": TOKEN,
            "VAULT_TRANSIT_KEY": "app",
            "VAULT_MOUNT_POINT": "kms",
            "VAULT_NAMESPACE": "team-a",
        },
        tmp_path,
    )

    backend = backends["vault"]
    assert isinstance(backend, VaultTransitBackend)
    assert (backend.url, backend.key_name, backend.mount_point, backend.namespace) == (
        "http://127.0.0.1:8200",
        "app",
        "kms",
        "team-a",
    )


def test_vault_registration_without_settings_reads_the_environment(tmp_path: Path) -> None:
    environ = {"VAULT_URL": "http://vault:8200", "VAULT_TOKEN": TOKEN, "VAULT_TRANSIT_KEY": "app"}

    backend = collect(environ, tmp_path, with_settings=False)["vault"]

    assert isinstance(backend, VaultTransitBackend)
    assert backend.mount_point == "transit" and backend.namespace is None


@pytest.mark.parametrize("with_settings", [True, False])
def test_vault_url_without_a_key_names_the_variable(tmp_path: Path, with_settings: bool) -> None:
    with pytest.raises(ValueError, match="^VAULT_TRANSIT_KEY: must be set with VAULT_URL$"):
        collect({"VAULT_URL": "http://vault:8200", "VAULT_TOKEN": TOKEN}, tmp_path, with_settings=with_settings)
    with pytest.raises(ValueError, match="^VAULT_TOKEN: must be set with VAULT_URL$"):
        collect({"VAULT_URL": "http://vault:8200", "VAULT_TRANSIT_KEY": "app"}, tmp_path, with_settings=with_settings)


@pytest.mark.asyncio
async def test_registered_backend_works_against_the_double(vault: VaultDouble, tmp_path: Path) -> None:
    environ = {"VAULT_URL": vault.url, "VAULT_TOKEN": TOKEN, "VAULT_TRANSIT_KEY": KEY}
    backend = collect(environ, tmp_path)["vault"]
    try:
        data_key = os.urandom(32)
        assert await backend.unwrap(await backend.wrap(data_key, CONTEXT), CONTEXT) == data_key
    finally:
        await backend.aclose()
