"""Live streams end when the authority behind them does.

A subscription is authorized when it starts; afterwards it holds a `Lease`
here. Every lease is checked again (its token looked up afresh, its
permission in its workspace re-evaluated):

- at once when access may have changed: a token revoked, a role granted,
  changed or removed, a principal changed. The services announce their own
  changes (`changed`); on PostgreSQL, triggers on the access tables NOTIFY
  every replica of any change by anyone, a DBA's hand edit included;
- at the moment its token expires (a timer per lease);
- and on a short tick, for what nobody announced (an edit of an SQLite file
  by another process, a PostgreSQL listener that was reconnecting).

A lease whose authority is gone is ended with the error the next operation
would get (UNAUTHENTICATED or FORBIDDEN), well within a second.

While a lease is being checked again its stream is held: events keep
queueing but none is delivered until the check has passed (then they all
are) or failed (then none is). The services hold the leases of the
principals they change before their transaction commits (`suspend`) and
have them checked once it has (`changed`); a PostgreSQL notification holds
them on arrival, ahead of the audit events of the same transaction. So no
event committed with, or after, the change that took a subscriber's right
away reaches that subscriber; a new lease is held until its first check.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

from graphql_api.errors import Forbidden, StrongroomError, Unauthenticated
from graphql_api.services.access import Identity, Permission
from graphql_api.services.tokens import TokenAuthenticator

logger = logging.getLogger("strongroom.access")


class HeldStream(Protocol):
    """What a lease controls: a live stream that can be held, let go and ended."""

    def hold(self) -> None: ...

    def release(self) -> None: ...

    def fail(self, error: BaseException) -> None: ...


@dataclass(eq=False)
class Lease:
    token_hash: str = field(repr=False)
    principal_id: UUID
    permission: Permission
    workspace_id: str
    stream: HeldStream
    expiry_timer: asyncio.TimerHandle | None = None
    ended: bool = False


class AuthorityWatch:
    def __init__(
        self,
        authenticator: TokenAuthenticator,
        now: Callable[[], datetime],
        *,
        tick_seconds: float,
    ) -> None:
        self._authenticator = authenticator
        self._now = now
        self.tick_seconds = tick_seconds
        self._leases: set[Lease] = set()
        self._dirty_principals: set[UUID] = set()
        # Principals whose change is being committed (suspend, then changed):
        # no check lets their streams go before the change is announced.
        self._changing: Counter[UUID] = Counter()
        self._dirty_all = False
        self._recheck_scheduled = False
        self._task: asyncio.Task[None] | None = None
        self._checks: set[asyncio.Task[None]] = set()
        # Told synchronously of every change (the read cache forgets tokens).
        self.on_change: list[Callable[[UUID | None], None]] = []

    @property
    def lease_count(self) -> int:
        return len(self._leases)

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._tick())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        for task in list(self._checks):
            task.cancel()
        await asyncio.gather(*self._checks, return_exceptions=True)

    def hold(self, identity: Identity, permission: Permission, workspace_id: str, stream: HeldStream) -> Lease:
        """A lease on `permission` in `workspace_id` for `stream`, which is
        ended (`stream.fail(error)`, once) when the right is lost. Release the
        lease with `release` when the stream ends."""
        assert identity.token_hash is not None
        lease = Lease(identity.token_hash, identity.principal_id, permission, workspace_id, stream)
        self._leases.add(lease)
        stream.hold()
        loop = asyncio.get_running_loop()
        if identity.expires_at is not None:
            delay = max(0.0, (identity.expires_at - self._now()).total_seconds())
            lease.expiry_timer = loop.call_later(delay + 0.01, self._expired, lease)
        # A change committed between this identity's lookup and now was
        # announced to no lease: look once more, now that this one is held.
        self._spawn(self._recheck([lease]))
        return lease

    def release(self, lease: Lease) -> None:
        self._leases.discard(lease)
        if lease.expiry_timer is not None:
            lease.expiry_timer.cancel()

    def suspend(self, principal_ids: Sequence[UUID]) -> None:
        """Hold the streams of these principals now (their access is about to
        change); `changed` afterwards has them checked and let go or ended."""
        wanted = set(principal_ids)
        self._changing.update(wanted)
        for lease in self._leases:
            if lease.principal_id in wanted:
                lease.stream.hold()

    def changed(self, principal_id: UUID | None = None) -> None:
        """Access of `principal_id` (None: anyone) may have changed: its
        streams are held at once and checked again soon."""
        if principal_id is not None and self._changing[principal_id] > 0:
            self._changing[principal_id] -= 1
            if not self._changing[principal_id]:
                del self._changing[principal_id]
        for lease in self._leases:
            if principal_id is None or lease.principal_id == principal_id:
                lease.stream.hold()
        for listener in self.on_change:
            listener(principal_id)
        if not self._leases:
            return  # no stream to check; a lease taken later is checked when taken
        if principal_id is None:
            self._dirty_all = True
        else:
            self._dirty_principals.add(principal_id)
        if not self._recheck_scheduled:
            self._recheck_scheduled = True
            asyncio.get_running_loop().call_soon(self._start_recheck)

    def changed_text(self, payload: str) -> None:
        """A PostgreSQL notification's payload: a principal id, or anything else for all."""
        try:
            self.changed(UUID(payload))
        except ValueError:
            self.changed(None)

    async def recheck_all(self) -> None:
        await self._recheck(list(self._leases))

    def _start_recheck(self) -> None:
        self._recheck_scheduled = False
        if self._dirty_all:
            wanted = list(self._leases)
        else:
            wanted = [lease for lease in self._leases if lease.principal_id in self._dirty_principals]
        self._dirty_all = False
        self._dirty_principals.clear()
        if wanted:
            self._spawn(self._recheck(wanted))

    def _expired(self, lease: Lease) -> None:
        lease.expiry_timer = None
        self._spawn(self._recheck([lease]))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._checks.add(task)
        task.add_done_callback(self._checks.discard)

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(self.tick_seconds)
            try:
                await self.recheck_all()
            except Exception as exc:  # the tick must survive a database hiccup
                logger.warning("authority re-check failed: %s", type(exc).__name__)

    async def _recheck(self, leases: list[Lease]) -> None:
        by_token: dict[str, list[Lease]] = {}
        for lease in leases:
            if not lease.ended:
                by_token.setdefault(lease.token_hash, []).append(lease)
        for token_hash, held in by_token.items():
            try:
                identity = await self._authenticator.authenticate_hash(token_hash)
            except Unauthenticated as exc:
                for lease in held:
                    self._end(lease, Unauthenticated(f"{exc.message}; the subscription was ended"))
                continue
            except Exception as exc:
                # Cannot tell: a held stream stays held, the next check decides.
                logger.warning("authority re-check could not read tokens: %s", type(exc).__name__)
                continue
            for lease in held:
                if not identity.may(lease.permission, lease.workspace_id):
                    self._end(
                        lease,
                        Forbidden(
                            f"no longer allowed to {lease.permission.value} in workspace {lease.workspace_id!r}; "
                            "the subscription was ended"
                        ),
                    )
                elif not lease.ended and not self._pending(lease):
                    lease.stream.release()

    def _pending(self, lease: Lease) -> bool:
        """A change announced while this check ran, or one still being
        committed: a later check lets it go."""
        return self._dirty_all or lease.principal_id in self._dirty_principals or lease.principal_id in self._changing

    def _end(self, lease: Lease, error: StrongroomError) -> None:
        if lease.ended:
            return
        lease.ended = True
        self.release(lease)
        try:
            lease.stream.fail(error)
        except Exception as exc:
            logger.error("ending a subscription failed: %s", type(exc).__name__)
