"""PostgreSQL's read cache never serves what the database no longer says.

Each replica keeps tokens and secrets' versions it has read, and forgets
them by push: its own changes when they commit, anyone's (another replica, a
DBA's hand edit) through the triggers' NOTIFY. These tests change the
database behind the service's back and expect the very next reads to follow
within the notification's delivery.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest

from models import ApiToken, RoleBinding
from tests.harness import Server

pytestmark = pytest.mark.asyncio

VALUE = 'query($id: ID!) { secretValue(workspaceId: "default", id: $id) { version value } }'
CREATE = """mutation($n: String!, $v: String!) {
  createSecret(workspaceId: "default", input: {name: $n, secretType: API_KEY, value: $v}) { id } }"""


async def reader(server: Server) -> tuple[str, str]:
    principal = await server.data(
        'mutation { createPrincipal(name: "cached-reader", bindings: [{workspaceId: "default", role: READER}]) { id } }'
    )
    made = await server.data(
        'mutation($p: ID!) { createApiToken(principalId: $p, name: "t") { token } }',
        {"p": principal["createPrincipal"]["id"]},
    )
    return principal["createPrincipal"]["id"], made["createApiToken"]["token"]


async def until(predicate: Any, seconds: float = 1.0) -> float:
    """Seconds until `predicate()` (a coroutine function) is true; fails after `seconds`."""
    started = asyncio.get_running_loop().time()
    while True:
        if await predicate():
            return asyncio.get_running_loop().time() - started
        if asyncio.get_running_loop().time() - started > seconds:
            raise AssertionError(f"not within {seconds} s")
        await asyncio.sleep(0.01)


@pytest.mark.postgres  # SQLite reads the database every time (no cache to go stale)
async def test_a_token_revoked_by_hand_is_refused_within_a_second(server: Server) -> None:
    _principal, token = await reader(server)
    sid = (await server.data(CREATE, {"n": "CACHED", "v": "v1"}))["createSecret"]["id"]
    for _ in range(3):  # now cached
        assert (await server.data(VALUE, {"id": sid}, token=token))["secretValue"]["value"] == "v1"
    assert server.services.read_cache.hits > 0
    await ApiToken.filter(token_hash__isnull=False, name="t").update(revoked_at=datetime.now(UTC))

    async def refused() -> bool:
        body = await server.execute(VALUE, {"id": sid}, token=token)
        return bool(body.get("errors")) and body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"

    await until(refused)


@pytest.mark.postgres  # SQLite reads the database every time (no cache to go stale)
async def test_a_role_removed_by_hand_is_refused_within_a_second(server: Server) -> None:
    principal_id, token = await reader(server)
    sid = (await server.data(CREATE, {"n": "CACHED_ROLE", "v": "v1"}))["createSecret"]["id"]
    await server.data(VALUE, {"id": sid}, token=token)
    await RoleBinding.filter(principal_id=principal_id).delete()

    async def forbidden() -> bool:
        body = await server.execute(VALUE, {"id": sid}, token=token)
        return bool(body.get("errors")) and body["errors"][0]["extensions"]["code"] == "FORBIDDEN"

    await until(forbidden)


@pytest.mark.postgres  # SQLite reads the database every time (no cache to go stale)
async def test_a_version_changed_by_hand_is_read_as_it_is_now(server: Server) -> None:
    sid = (await server.data(CREATE, {"n": "CACHED_VALUE", "v": "v1"}))["createSecret"]["id"]
    await server.data(VALUE, {"id": sid})
    # A DBA destroys the ciphertext: the cached copy must not outlive it.
    from models import SecretVersion

    await SecretVersion.filter(secret_id=sid).update(ciphertext=None, wrapped_key=None)

    async def gone() -> bool:
        body = await server.execute(VALUE, {"id": sid})
        return bool(body.get("errors")) and body["errors"][0]["extensions"]["code"] == "NOT_FOUND"

    await until(gone)


@pytest.mark.postgres  # SQLite reads the database every time (no cache to go stale)
async def test_a_version_that_cannot_be_opened_is_not_kept(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    """A DBA breaks a row, a read fails, the DBA mends it: the very next read
    reads the mended row, even when the notifications have not arrived yet."""
    from graphql_api.events import SECRET_CHANNEL
    from models import SecretVersion

    listener = server.services._listener
    assert listener is not None
    late: list[str] = []  # the secret channel's notifications, held back
    monkeypatch.setitem(listener._handlers, SECRET_CHANNEL, late.append)
    sid = (await server.data(CREATE, {"n": "CACHED_BROKEN", "v": "v1"}))["createSecret"]["id"]
    other = (await server.data(CREATE, {"n": "CACHED_OTHER", "v": "v2"}))["createSecret"]["id"]
    row = await SecretVersion.get(secret_id=sid, version=1)
    foreign = await SecretVersion.get(secret_id=other, version=1)
    await SecretVersion.filter(id=row.id).update(wrapped_key=foreign.wrapped_key)
    for _ in range(3):
        body = await server.execute(VALUE, {"id": sid})
        assert body["errors"][0]["extensions"]["code"] == "BACKEND_UNAVAILABLE"
    await SecretVersion.filter(id=row.id).update(wrapped_key=row.wrapped_key)
    assert (await server.data(VALUE, {"id": sid}))["secretValue"] == {"version": 1, "value": "v1"}


async def test_this_replicas_own_changes_are_read_at_once(server: Server) -> None:
    update = """mutation($id: ID!, $v: String!) { updateSecret(workspaceId: "default", id: $id, input: {value: $v}) { currentVersion } }"""
    sid = (await server.data(CREATE, {"n": "CACHED_OWN", "v": "v1"}))["createSecret"]["id"]
    for round_ in range(2, 6):
        await server.data(VALUE, {"id": sid})
        await server.data(update, {"id": sid, "v": f"v{round_}"})
        assert (await server.data(VALUE, {"id": sid}))["secretValue"] == {"version": round_, "value": f"v{round_}"}


@pytest.mark.postgres  # SQLite reads the database every time (no cache to go stale)
async def test_nothing_is_cached_or_served_while_the_listener_is_down(server: Server) -> None:
    listener = server.services._listener
    assert listener is not None and server.services.read_cache.active
    sid = (await server.data(CREATE, {"n": "CACHED_OFFLINE", "v": "v1"}))["createSecret"]["id"]
    await server.data(VALUE, {"id": sid})
    listener.connected = False
    try:
        assert not server.services.read_cache.active
        hits = server.services.read_cache.hits
        assert (await server.data(VALUE, {"id": sid}))["secretValue"]["value"] == "v1"
        assert server.services.read_cache.hits == hits  # read from the database
    finally:
        listener.connected = True
        await server.services.read_cache.reconnected()
