"""Tokens form a tree: revoking one revokes what it minted, a minted token
never outlives its parent, and STRONGROOM_MAX_TOKEN_TTL bounds every token
but the bootstrap one, also those that existed before it was set."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from graphql_api.services.tokens import hash_token
from models import ApiToken
from tests.conftest import make_settings
from tests.harness import ADMIN_TOKEN, Server
from tests.security.conftest import (
    CREATE_TOKEN,
    LiveClock,
    codes,
    create_principal,
    create_token,
    ok,
    revoke_token,
    running,
)

pytestmark = pytest.mark.asyncio

VIEWER = "{ viewer { id } }"


async def alive(server: Server, token: str) -> bool:
    body = await server.execute(VIEWER, token=token)
    if body.get("errors"):
        assert codes(body) == ["UNAUTHENTICATED"], body
        return False
    return True


def parse(text: str | None) -> datetime:
    assert text is not None
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


async def test_revoking_a_token_revokes_its_whole_subtree_and_nothing_else(server: Server) -> None:
    p, _ = await create_principal(server, "tree-admin", {"default": "ADMIN"})
    q, _ = await create_principal(server, "tree-reader", {"default": "READER"})
    t1, t1_id, _ = await create_token(server, p, name="t1")
    t2, t2_id, _ = await create_token(server, p, token=t1, name="t2")
    t3, _, _ = await create_token(server, p, token=t2, name="t3")
    t4, _, _ = await create_token(server, q, token=t1, name="t4-for-q")
    t5, t5_id, _ = await create_token(server, p, name="t5-sibling")
    assert all([await alive(server, t) for t in (t1, t2, t3, t4, t5)])

    await revoke_token(server, t2_id)
    assert [await alive(server, t) for t in (t1, t2, t3, t4, t5)] == [True, False, False, True, True]

    await revoke_token(server, t1_id)
    assert [await alive(server, t) for t in (t1, t2, t3, t4, t5)] == [False, False, False, False, True]
    assert await alive(server, ADMIN_TOKEN)

    listed = await ok(server, "query($p: ID!) { apiTokens(principalId: $p) { id name revoked } }", {"p": p})
    revoked = {row["name"]: row["revoked"] for row in listed["apiTokens"]}
    assert revoked == {"t1": True, "t2": True, "t3": True, "t5-sibling": False}
    listed_q = await ok(server, "query($p: ID!) { apiTokens(principalId: $p) { name revoked } }", {"p": q})
    assert listed_q["apiTokens"] == [{"name": "t4-for-q", "revoked": True}]
    # Revoking the subtree's root again changes nothing and the sibling stays.
    await revoke_token(server, t1_id)
    assert await alive(server, t5) and t5_id


async def test_a_minted_token_never_outlives_its_parent(server: Server, clock: LiveClock) -> None:
    p, _ = await create_principal(server, "expiring", {"default": "ADMIN"})
    parent_expiry = (server.services.now() + timedelta(hours=1)).replace(microsecond=0)
    parent, _, shown = await create_token(server, p, expires_at=parent_expiry.isoformat())
    assert parse(shown) == parent_expiry

    later = await server.execute(
        CREATE_TOKEN, {"p": p, "n": "later", "e": (parent_expiry + timedelta(hours=1)).isoformat()}, token=parent
    )
    assert codes(later) == ["BAD_USER_INPUT"], later
    assert later["errors"][0]["extensions"].get("field") == "expiresAt"
    # Later, written with an offset that makes it look earlier as text.
    disguised = (parent_expiry + timedelta(minutes=30)).astimezone(timezone(timedelta(hours=-5))).isoformat()
    assert codes(await server.execute(CREATE_TOKEN, {"p": p, "n": "disguised", "e": disguised}, token=parent)) == [
        "BAD_USER_INPUT"
    ]
    # Later, without an offset (UTC by the schema's definition).
    naive = (parent_expiry + timedelta(minutes=1)).replace(tzinfo=None).isoformat()
    assert codes(await server.execute(CREATE_TOKEN, {"p": p, "n": "naive", "e": naive}, token=parent)) == [
        "BAD_USER_INPUT"
    ]

    # Earlier, written with an offset that makes it look later: allowed, kept as asked.
    earlier = parent_expiry - timedelta(minutes=30)
    _, _, got = await create_token(
        server, p, token=parent, expires_at=earlier.astimezone(timezone(timedelta(hours=5))).isoformat()
    )
    assert parse(got) == earlier

    child, _, inherited = await create_token(server, p, token=parent, name="no-expiry-asked")
    assert inherited is not None and parse(inherited) == parent_expiry
    grandchild, _, inherited2 = await create_token(server, p, token=child, name="grandchild")
    assert inherited2 is not None and parse(inherited2) == parent_expiry
    escape = await server.execute(
        CREATE_TOKEN, {"p": p, "n": "escape", "e": (parent_expiry + timedelta(seconds=1)).isoformat()}, token=child
    )
    assert codes(escape) == ["BAD_USER_INPUT"], escape

    assert all([await alive(server, t) for t in (parent, child, grandchild)])
    clock.advance(hours=1, seconds=1)
    assert [await alive(server, t) for t in (parent, child, grandchild)] == [False, False, False]
    assert await alive(server, ADMIN_TOKEN)


async def test_max_token_ttl_bounds_new_and_existing_tokens_but_not_bootstrap(
    database_url: str, tmp_path: Path, clock: LiveClock
) -> None:
    data_dir = tmp_path / "data"
    async with running(make_settings(database_url, data_dir), clock) as before:
        p, _ = await create_principal(before, "ttl", {"default": "READER"})
        old, _, old_expiry = await create_token(before, p, name="old-no-expiry")
        assert old_expiry is None
        long_lived, _, _ = await create_token(
            before, p, name="old-3h", expires_at=(before.services.now() + timedelta(hours=3)).isoformat()
        )

    async with running(make_settings(database_url, data_dir, STRONGROOM_MAX_TOKEN_TTL="1h"), clock) as server:
        now = server.services.now()
        bounded, _, bounded_expiry = await create_token(server, p, name="new-no-expiry")
        assert bounded_expiry is not None
        assert abs((parse(bounded_expiry) - (now + timedelta(hours=1))).total_seconds()) < 30
        too_long = await server.execute(CREATE_TOKEN, {"p": p, "n": "2h", "e": (now + timedelta(hours=2)).isoformat()})
        assert codes(too_long) == ["BAD_USER_INPUT"], too_long
        short, _, short_expiry = await create_token(
            server, p, name="30m", expires_at=(now + timedelta(minutes=30)).isoformat()
        )
        assert abs((parse(short_expiry) - (now + timedelta(minutes=30))).total_seconds()) < 1
        admin_pid = (await ok(server, VIEWER))["viewer"]["id"]
        superadmin_child, _, child_expiry = await create_token(server, admin_pid, name="admin-child")
        assert child_expiry is not None  # minted by the bootstrap token, but not the bootstrap token

        tokens = {"old": old, "old-3h": long_lived, "new": bounded, "30m": short, "admin-child": superadmin_child}
        assert {name: await alive(server, t) for name, t in tokens.items()} == dict.fromkeys(tokens, True)
        clock.advance(minutes=61)
        assert {name: await alive(server, t) for name, t in tokens.items()} == dict.fromkeys(tokens, False)


async def test_max_token_ttl_never_bounds_the_bootstrap_token(
    database_url: str, tmp_path: Path, clock: LiveClock
) -> None:
    """The bootstrap superadmin token is how an operator gets back in."""
    async with running(make_settings(database_url, tmp_path / "data", STRONGROOM_MAX_TOKEN_TTL="1h"), clock) as server:
        assert await alive(server, ADMIN_TOKEN)
        clock.advance(hours=2)
        row = await ApiToken.get(token_hash=hash_token(ADMIN_TOKEN))
        assert await alive(server, ADMIN_TOKEN), (
            f"the bootstrap token was bounded by STRONGROOM_MAX_TOKEN_TTL (its api_token.bootstrap is {row.bootstrap})"
        )
