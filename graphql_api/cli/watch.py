"""`strongroom run --watch`: follow the workspace's changes (the
`secretChanges` subscription over the audit stream: pushed by the server,
never polled; any role that may list the workspace may follow it, so a
READER token is enough) and say when a value the child received changed.

An event about a secret the child received that can change its value
(updated, rotated, rolled back, imported, deleted, restored, destroyed)
makes the watcher read the values again; only when one the child holds
differs, or is gone, does it call `on_change` with the new values. Events
about other secrets cost nothing. After a lost connection it reconnects
(backing off up to 30 s) and reads the values once, since events may have
been missed meanwhile.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from graphql_api.client import SecretValue, StrongroomAPIError

if TYPE_CHECKING:
    from graphql_api.client import AuditTail, Strongroom

VALUE_ACTIONS = frozenset({"UPDATED", "ROTATED", "ROLLED_BACK", "IMPORTED", "DELETED", "RESTORED", "DESTROYED"})
FATAL = frozenset({"UNAUTHENTICATED", "FORBIDDEN"})
MAX_BACKOFF_SECONDS = 30.0


class Watcher:
    def __init__(
        self,
        client: Strongroom,
        workspace: str,
        only: Sequence[str] | None,
        received: Sequence[SecretValue],
        *,
        on_change: Callable[[list[SecretValue]], None],
        on_values: Callable[[list[SecretValue]], None],
        warn: Callable[[str], None],
        tail: AuditTail | None = None,
    ) -> None:
        self._client = client
        self._workspace = workspace
        self._only = list(only) if only else None
        self._current = {v.name: v for v in received}
        self._on_change = on_change
        self._on_values = on_values
        self._warn = warn
        self._tail = tail
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="strongroom-watch", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        tail = self._tail
        if tail is not None:
            tail.close()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        backoff = 1.0
        while not self._stopped.is_set():
            try:
                if self._tail is None:
                    tail = self._client.watch_changes(self._workspace)
                    self._tail = tail
                    tail.open()
                    # Events may have been missed while there was no connection.
                    self._recheck()
                    backoff = 1.0
                for event in self._tail:
                    if event.secret_id in self._received_ids() and event.action in VALUE_ACTIONS:
                        self._recheck()
                    backoff = 1.0
            except StrongroomAPIError as exc:
                if self._stopped.is_set():
                    return
                if exc.code in FATAL:
                    self._warn(f"--watch stopped: {exc.code}: {exc.message}; the command keeps running")
                    return
                self._warn(f"--watch lost the change stream ({exc.code}); reconnecting in {backoff:g} s")
                self._stopped.wait(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
            finally:
                ended, self._tail = self._tail, None
                if ended is not None:
                    ended.close()

    def _received_ids(self) -> set[str]:
        return {v.secret_id for v in self._current.values()}

    def _recheck(self) -> None:
        try:
            values = self._client.secret_values(self._workspace, self._only)
        except StrongroomAPIError as exc:
            if exc.code == "NOT_FOUND":
                self._warn(f"{exc.message}; the command keeps running with the values it has")
                return
            raise
        self._on_values(values)
        latest = {v.name: v for v in values}
        if any(latest.get(name) is None or latest[name].value != held.value for name, held in self._current.items()):
            self._current = latest
            self._on_change(values)
