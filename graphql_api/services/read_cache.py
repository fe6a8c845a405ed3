"""What a value read needs, kept in memory on PostgreSQL, forgotten by push.

Why: on PostgreSQL every query is a network round trip and work for a
backend process; a value read that asks the database for its token,
bindings and version each time served fewer reads than a Vault that keeps
its state in memory. So each replica keeps, for tokens and for secrets'
versions, what it last read — and forgets it the moment it may be stale:

- every change to `api_token`, `role_binding` or `principal` (by any replica,
  or by hand) fires a trigger that NOTIFYs the principal's id; every change
  to `secret` or `secret_version` NOTIFYs the secret's id; each replica's
  listener drops what it holds for that id;
- this replica's own changes drop the entries when they commit, before the
  answer goes out (read-your-writes on one replica);
- a fill that raced an invalidation is not kept (a generation counter);
- while the listener is not connected nothing is kept or served, and on
  reconnecting everything is dropped (notifications sent meanwhile are lost).

It is never a time-based cache: a revoked token is refused by the next
operation on this replica, and on every other within the notification's
delivery (milliseconds). Expiry is checked at every use. SQLite has no
cross-process notifications (another process may edit the file) and no round
trip to save, so it reads every time.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast
from uuid import UUID

DEFAULT_SIZE = 20_000


@dataclass(frozen=True)
class Ticket:
    """Taken before a database read; a fill with a stale ticket is dropped."""

    generation: int


class ReadCache:
    def __init__(self, *, enabled: bool, connected: Callable[[], bool], size: int = DEFAULT_SIZE) -> None:
        self._enabled = enabled
        self._connected = connected
        self._size = size
        self._generation = 0
        # token hash -> (principal id, value); principal id -> its token hashes
        self._tokens: OrderedDict[str, tuple[UUID, object]] = OrderedDict()
        self._by_principal: dict[UUID, set[str]] = {}
        # secret id -> {version, or None for the current one: value}
        self._versions: OrderedDict[UUID, dict[int | None, object]] = OrderedDict()
        self._workspaces: set[str] = set()
        self.hits = 0

    @property
    def active(self) -> bool:
        return self._enabled and self._connected()

    def ticket(self) -> Ticket:
        return Ticket(self._generation)

    # ---- tokens

    def token(self, token_hash: str) -> object | None:
        if not self.active:
            return None
        entry = self._tokens.get(token_hash)
        if entry is None:
            return None
        self._tokens.move_to_end(token_hash)
        self.hits += 1
        return entry[1]

    def keep_token(self, ticket: Ticket, token_hash: str, principal_id: UUID, value: object) -> None:
        if not self.active or ticket.generation != self._generation:
            return
        self._tokens[token_hash] = (principal_id, value)
        self._tokens.move_to_end(token_hash)
        self._by_principal.setdefault(principal_id, set()).add(token_hash)
        while len(self._tokens) > self._size:
            old_hash, (old_principal, _value) = self._tokens.popitem(last=False)
            self._by_principal.get(old_principal, set()).discard(old_hash)

    def refresh_token(self, token_hash: str, value_token: object) -> None:
        """The cached row changed in a way that needs no invalidation (last use)."""
        entry = self._tokens.get(token_hash)
        if entry is not None:
            principal_id, held = entry
            _old, roles = cast(tuple[object, object], held)
            self._tokens[token_hash] = (principal_id, (value_token, roles))

    def forget_principal(self, principal_id: UUID | None) -> None:
        """Access of `principal_id` (None: anyone's) changed."""
        self._generation += 1
        if principal_id is None:
            self._tokens.clear()
            self._by_principal.clear()
            return
        for token_hash in self._by_principal.pop(principal_id, set()):
            self._tokens.pop(token_hash, None)

    def forget_principal_text(self, payload: str) -> None:
        try:
            self.forget_principal(UUID(payload))
        except ValueError:
            self.forget_principal(None)

    # ---- versions

    def version(self, secret_id: UUID, version: int | None) -> object | None:
        if not self.active:
            return None
        versions = self._versions.get(secret_id)
        if versions is None:
            return None
        value = versions.get(version)
        if value is not None:
            self._versions.move_to_end(secret_id)
            self.hits += 1
        return value

    def keep_version(self, ticket: Ticket, secret_id: UUID, version: int | None, value: object) -> None:
        if not self.active or ticket.generation != self._generation:
            return
        self._versions.setdefault(secret_id, {})[version] = value
        self._versions.move_to_end(secret_id)
        while len(self._versions) > self._size:
            self._versions.popitem(last=False)

    def forget_secret(self, secret_id: UUID) -> None:
        self._generation += 1
        self._versions.pop(secret_id, None)

    def forget_secret_text(self, payload: str) -> None:
        try:
            self.forget_secret(UUID(payload))
        except ValueError:
            self.clear()

    # ---- workspaces (never deleted: only their existence is kept)

    def workspace_known(self, workspace_id: str) -> bool:
        return self.active and workspace_id in self._workspaces

    def keep_workspace(self, workspace_id: str) -> None:
        if self.active and len(self._workspaces) < self._size:
            self._workspaces.add(workspace_id)

    def clear(self) -> None:
        self._generation += 1
        self._tokens.clear()
        self._by_principal.clear()
        self._versions.clear()
        self._workspaces.clear()

    async def reconnected(self) -> None:
        self.clear()


# Events that change a secret's row or versions (a read, a listing or a
# refusal changes nothing and must not empty the cache).
_CHANGES = frozenset(
    {"CREATED", "UPDATED", "ROTATED", "ROLLED_BACK", "DELETED", "RESTORED", "DESTROYED", "IMPORTED", "KEY_ROTATED"}
)


class CommittedChanges:
    """An audit listener: this replica's own committed changes drop what the
    cache holds for their secrets before the answer goes out (the trigger's
    NOTIFY would do it too, a moment later)."""

    def __init__(self, cache: ReadCache) -> None:
        self._cache = cache

    async def before_commit(self, events: Sequence[Any], connection: object) -> None:
        return None

    def after_commit(self, events: Sequence[Any]) -> None:
        for event in events:
            action = getattr(event.action, "value", event.action)
            if action == "KEY_ROTATED":
                self._cache.clear()
            elif action in _CHANGES and event.secret_id is not None:
                self._cache.forget_secret(event.secret_id)
