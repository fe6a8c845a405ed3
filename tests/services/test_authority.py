"""AuthorityWatch holds a stream while its right is in question: from the
moment a lease is taken or a change is announced (or, for a change being
committed here, suspended) until a check made afterwards passes; a check that
fails, or cannot be made, never lets it go."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from uuid import UUID, uuid4

import pytest

from graphql_api.errors import Unauthenticated
from graphql_api.events import EventBus, Subscription
from graphql_api.services.access import Identity, Permission
from graphql_api.services.audit import CommittedEvent
from graphql_api.services.authority import AuthorityWatch
from models import AuditAction, Role
from tests.support.waiting import eventually

pytestmark = pytest.mark.asyncio

WORKSPACE = "w"


class Tokens:
    """authenticate_hash answers from a table the test edits; `broken` makes it fail."""

    def __init__(self) -> None:
        self.identities: dict[str, Identity] = {}
        self.broken = False
        self.calls = 0

    async def authenticate_hash(self, token_hash: str) -> Identity:
        self.calls += 1
        await asyncio.sleep(0)  # a database call suspends the caller: yield once, like one
        if self.broken:
            raise OSError("database unavailable")
        identity = self.identities.get(token_hash)
        if identity is None:
            raise Unauthenticated("this token was revoked")
        return identity


def identity(principal_id: UUID, token_hash: str, role: Role | None = Role.AUDITOR) -> Identity:
    roles = {WORKSPACE: role} if role else {}
    return Identity(principal_id, "p", False, roles, token_id=uuid4(), token_hash=token_hash)


def event(seq: int) -> CommittedEvent:
    return CommittedEvent(
        id=uuid4(),
        seq=seq,
        workspace_id=WORKSPACE,
        secret_id=None,
        action=AuditAction.ACCESSED,
        user_id=None,
        ip_address=None,
        user_agent=None,
        details={},
        success=True,
        created_at=datetime.now(UTC),
        prev_hash="0" * 64,
        hash=str(seq).rjust(64, "0"),
    )


async def settle() -> None:
    """A few turns of the loop, no time: what is already scheduled runs (only
    the doubles here do I/O, and they answer at once)."""
    for _ in range(10):
        await asyncio.sleep(0)


@pytest.fixture
def tokens() -> Tokens:
    return Tokens()


@pytest.fixture
def watch(tokens: Tokens) -> AuthorityWatch:
    return AuthorityWatch(tokens, lambda: datetime.now(UTC), tick_seconds=3600)  # type: ignore[arg-type]


async def take(
    watch: AuthorityWatch, tokens: Tokens, bus: EventBus, principal_id: UUID, token_hash: str
) -> Subscription:
    held = identity(principal_id, token_hash)
    tokens.identities[token_hash] = held
    stream = bus.subscribe(WORKSPACE)
    watch.hold(held, Permission.READ_AUDIT, WORKSPACE, stream)
    return stream


async def test_a_new_lease_is_held_until_its_first_check(watch: AuthorityWatch, tokens: Tokens) -> None:
    bus = EventBus()
    tokens.broken = True
    stream = await take(watch, tokens, bus, uuid4(), "h1")
    assert stream.held
    await eventually(lambda: tokens.calls >= 1, what="the first check")
    await settle()  # the failed check is handled
    assert stream.held  # the check could not be made: still held
    tokens.broken = False
    await watch.recheck_all()
    assert not stream.held


async def test_a_change_being_committed_is_never_let_go_by_another_check(watch: AuthorityWatch, tokens: Tokens) -> None:
    bus = EventBus()
    principal = uuid4()
    stream = await take(watch, tokens, bus, principal, "h2")
    await eventually(lambda: not stream.held, what="the first check to let the stream go")
    watch.suspend([principal])
    assert stream.held
    bus.publish(event(1))  # committed with the change
    await watch.recheck_all()  # a tick in the middle of the transaction, reading the old state
    assert stream.held
    tokens.identities["h2"] = identity(principal, "h2", role=None)  # the change commits: the role is gone
    watch.changed(principal)
    await settle()
    with pytest.raises(Exception, match="no longer allowed"):
        await asyncio.wait_for(stream.__anext__(), 1)  # event 1 is dropped, never delivered


async def test_a_change_that_keeps_the_right_lets_held_events_through(watch: AuthorityWatch, tokens: Tokens) -> None:
    bus = EventBus()
    principal = uuid4()
    stream = await take(watch, tokens, bus, principal, "h3")
    await eventually(lambda: not stream.held, what="the first check to let the stream go")
    watch.suspend([principal])
    bus.publish(event(1))
    reader = asyncio.ensure_future(stream.__anext__())
    await settle()
    assert not reader.done()
    watch.changed(principal)  # committed, the role is still there (a grant elsewhere)
    assert (await asyncio.wait_for(reader, 1)).seq == 1


async def test_an_announced_change_holds_at_once_and_a_revoked_token_drops_what_was_held(
    watch: AuthorityWatch, tokens: Tokens
) -> None:
    bus = EventBus()
    principal = uuid4()
    stream = await take(watch, tokens, bus, principal, "h4")
    other = await take(watch, tokens, bus, uuid4(), "h5")
    await eventually(lambda: not stream.held and not other.held, what="the first checks")
    del tokens.identities["h4"]
    watch.changed(principal)  # as a PostgreSQL notification arrives, before the transaction's events
    assert stream.held and not other.held
    bus.publish(event(1))
    with pytest.raises(Unauthenticated):
        await asyncio.wait_for(stream.__anext__(), 1)
    assert (await asyncio.wait_for(other.__anext__(), 1)).seq == 1


async def test_a_change_announced_with_no_stream_leaves_nothing_pending(watch: AuthorityWatch, tokens: Tokens) -> None:
    watch.changed(None)
    bus = EventBus()
    stream = await take(watch, tokens, bus, uuid4(), "h6")
    await eventually(lambda: not stream.held, what="the first check to let the stream go")
