"""The builtin Vault Transit backend against a real OpenBao: the contract, rotation, namespaces, registration.

The fixtures (tests/plugins/vault_server.py) give each test a fresh transit
mount and key on one OpenBao server shared by the session. Failures (sealed
server, wrong token, missing key, injected faults) are in
test_vault_transit_failures.py.
"""

from __future__ import annotations

import base64
import os
import uuid
from pathlib import Path
from typing import Any

import hvac
import pytest

from graphql_api.services.envelope import Backends, Envelope
from graphql_api.settings import Settings
from plugins.builtin.vault_transit_backend import VaultTransitBackend, associated_data, parse_key_id
from plugins.interfaces import BackendStatus, KeyUnavailable, PluginConfig, RotatableBackend, WrappedKey
from plugins.manager import build_plugin_manager, collect_encryption_backends
from tests.openbao import OpenBao, Transit, strongroom_policy
from tests.plugins.key_material import assert_no_key_material
from tests.plugins.vault_server import CONTEXT, KEY, OTHER_SECRET, MakeBackend

# -- the contract ------------------------------------------------------------


def test_is_a_rotatable_backend(bao: OpenBao, backend: VaultTransitBackend) -> None:
    assert isinstance(backend, RotatableBackend)
    assert backend.name == "vault"
    assert bao.root_token not in repr(backend)


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
async def test_wrap_binds_the_context_as_associated_data(
    admin: hvac.Client, transit: Transit, backend: VaultTransitBackend
) -> None:
    data_key = os.urandom(32)
    wrapped = await backend.wrap(data_key, CONTEXT)

    opened = admin.secrets.transit.decrypt_data(
        KEY,
        ciphertext=wrapped.ciphertext.decode(),
        associated_data=associated_data(CONTEXT),
        mount_point=transit.mount,
    )
    assert base64.b64decode(opened["data"]["plaintext"]) == data_key
    with pytest.raises(hvac.exceptions.InvalidRequest):
        admin.secrets.transit.decrypt_data(KEY, ciphertext=wrapped.ciphertext.decode(), mount_point=transit.mount)


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


@pytest.mark.asyncio
async def test_altered_ciphertext_is_refused(backend: VaultTransitBackend) -> None:
    wrapped = await backend.wrap(os.urandom(32), CONTEXT)
    prefix, body = wrapped.ciphertext[: len(b"vault:v1:")], bytearray(base64.b64decode(wrapped.ciphertext[9:]))
    body[-1] ^= 1  # one bit of the GCM tag
    altered = WrappedKey(prefix + base64.b64encode(bytes(body)), wrapped.key_id)

    with pytest.raises(KeyUnavailable, match=f"vault key {KEY}:v1 .*altered data"):
        await backend.unwrap(altered, CONTEXT)
    with pytest.raises(KeyUnavailable, match=f"vault key {KEY}:v1 is unavailable: invalid ciphertext$"):
        await backend.unwrap(WrappedKey(b"vault:v1:not base64!", wrapped.key_id), CONTEXT)


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
async def test_rotate_then_rewrap_moves_to_the_new_version(
    bao: OpenBao, transit: Transit, backend: VaultTransitBackend
) -> None:
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
    key = bao.read_key(transit, KEY)
    assert key is not None and key["latest_version"] == 2  # the server itself rotated


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
async def test_rotation_by_another_client_is_seen_by_wrap(
    admin: hvac.Client, transit: Transit, backend: VaultTransitBackend
) -> None:
    assert await backend.current_key_id() == f"{KEY}:v1"
    admin.secrets.transit.rotate_key(KEY, mount_point=transit.mount)

    wrapped = await backend.wrap(os.urandom(32), CONTEXT)

    assert wrapped.key_id == f"{KEY}:v2"
    assert await backend.current_key_id() == f"{KEY}:v2"


@pytest.mark.asyncio
async def test_data_under_a_previous_transit_key_unwraps_and_rewraps_to_the_new_one(
    bao: OpenBao, transit: Transit, make_backend: MakeBackend
) -> None:
    data_key = os.urandom(32)
    wrapped = await make_backend().wrap(data_key, CONTEXT)
    bao.create_key(transit, "strongroom-2024")
    renamed = make_backend(key_name="strongroom-2024")

    assert await renamed.unwrap(wrapped, CONTEXT) == data_key
    moved = await renamed.rewrap(wrapped, CONTEXT)

    assert moved.key_id == "strongroom-2024:v1"
    assert await renamed.unwrap(moved, CONTEXT) == data_key
    with pytest.raises(KeyUnavailable, match=f"{KEY}:v1 .*wrong key"):
        await renamed.unwrap(WrappedKey(moved.ciphertext, f"{KEY}:v1"), CONTEXT)


@pytest.mark.asyncio
async def test_versions_below_min_decryption_version_are_refused(
    admin: hvac.Client, transit: Transit, backend: VaultTransitBackend
) -> None:
    data_key = os.urandom(32)
    old = await backend.wrap(data_key, CONTEXT)
    await backend.rotate_key()
    current = await backend.rewrap(old, CONTEXT)
    admin.secrets.transit.update_key_configuration(KEY, min_decryption_version=2, mount_point=transit.mount)

    with pytest.raises(KeyUnavailable, match=f"vault key {KEY}:v1 .*min_decryption_version") as caught:
        await backend.unwrap(old, CONTEXT)

    assert_no_key_material(caught.value, data_key)
    assert await backend.unwrap(current, CONTEXT) == data_key  # rewrapped data is unaffected
    assert (await backend.health()).healthy


# -- namespaces and mounts -------------------------------------------------------


@pytest.mark.asyncio
async def test_namespace_and_mount_point_are_used(bao: OpenBao, make_backend: MakeBackend) -> None:
    namespace = bao.create_namespace()
    scoped = bao.new_transit(namespace)
    # A token of that namespace, as an operator would issue it: valid nowhere else.
    token = bao.create_token(strongroom_policy(scoped.mount, "app"), namespace=namespace)
    bao.create_key(scoped, "app")
    backend = make_backend(namespace=namespace, mount_point=scoped.mount, key_name="app", token=token)
    data_key = os.urandom(32)

    wrapped = await backend.wrap(data_key, CONTEXT)

    assert await backend.unwrap(wrapped, CONTEXT) == data_key
    assert bao.read_key(scoped, "app") is not None
    assert bao.request("GET", f"{scoped.mount}/keys/app").status_code == 404  # not in the root namespace
    # OpenBao refuses sys/health inside a namespace ("operation unavailable in
    # namespaces"): healthy means the backend asked the root namespace.
    assert await backend.health() == BackendStatus(healthy=True, key_id="app:v1", error=None)
    assert bao.request("GET", "sys/health", namespace=namespace).status_code == 400


@pytest.mark.asyncio
async def test_without_the_namespace_the_mount_is_not_found(bao: OpenBao, make_backend: MakeBackend) -> None:
    namespace = bao.create_namespace()
    scoped = bao.new_transit(namespace)
    bao.create_key(scoped, "app")
    backend = make_backend(mount_point=scoped.mount, key_name="app")

    with pytest.raises(KeyUnavailable, match="vault key app is unavailable: not found"):
        await backend.current_key_id()


@pytest.mark.asyncio
async def test_least_privilege_token_does_everything_strongroom_needs(
    bao: OpenBao, transit: Transit, make_backend: MakeBackend
) -> None:
    token = bao.create_token(strongroom_policy(transit.mount, KEY))
    backend = make_backend(token=token)
    data_key = os.urandom(32)

    old = await backend.wrap(data_key, CONTEXT)
    assert await backend.rotate_key() == f"{KEY}:v2"
    moved = await backend.rewrap(old, CONTEXT)

    assert moved.key_id == f"{KEY}:v2"
    assert await backend.unwrap(moved, CONTEXT) == data_key
    assert (await backend.health()).healthy


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
            "VAULT_TOKEN": "s.token",
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
    environ = {"VAULT_URL": "http://vault:8200", "VAULT_TOKEN": "s.token", "VAULT_TRANSIT_KEY": "app"}

    backend = collect(environ, tmp_path, with_settings=False)["vault"]

    assert isinstance(backend, VaultTransitBackend)
    assert backend.mount_point == "transit" and backend.namespace is None


@pytest.mark.parametrize("with_settings", [True, False])
def test_vault_url_without_a_key_names_the_variable(tmp_path: Path, with_settings: bool) -> None:
    with pytest.raises(ValueError, match="^VAULT_TRANSIT_KEY: must be set with VAULT_URL$"):
        collect({"VAULT_URL": "http://vault:8200", "VAULT_TOKEN": "s.token"}, tmp_path, with_settings=with_settings)
    with pytest.raises(ValueError, match="^VAULT_TOKEN: must be set with VAULT_URL$"):
        collect({"VAULT_URL": "http://vault:8200", "VAULT_TRANSIT_KEY": "app"}, tmp_path, with_settings=with_settings)


@pytest.mark.asyncio
@pytest.mark.parametrize("with_settings", [True, False])
async def test_registered_backend_works_against_openbao(
    bao: OpenBao, transit: Transit, tmp_path: Path, with_settings: bool
) -> None:
    namespace = bao.create_namespace()
    scoped = bao.new_transit(namespace)
    bao.create_key(scoped, KEY)
    environ = {
        "VAULT_URL": bao.url,
        "VAULT_TOKEN": bao.create_token(strongroom_policy(scoped.mount, KEY), namespace=namespace),
        "VAULT_TRANSIT_KEY": KEY,
        "VAULT_MOUNT_POINT": f"/{scoped.mount}/",
        "VAULT_NAMESPACE": namespace,
    }
    backend = collect(environ, tmp_path, with_settings=with_settings)["vault"]
    try:
        data_key = os.urandom(32)
        assert await backend.unwrap(await backend.wrap(data_key, CONTEXT), CONTEXT) == data_key
        assert await backend.health() == BackendStatus(healthy=True, key_id=f"{KEY}:v1", error=None)
    finally:
        await backend.aclose()
