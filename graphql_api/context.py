"""The typed per-operation Context: who is asking, from where, and the
operation's own DataLoaders.

A Context is built for every operation: each HTTP request, and each
operation sent over a websocket (a connection is not a session). What a
connection contributes is only its `Credentials` (the bearer token it
presented, the believed client address, its user agent); the identity behind
them is looked up afresh for every operation, and the DataLoaders start
empty, so nothing read for one operation is served to the next.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING
from uuid import UUID

from strawberry.dataloader import DataLoader

from graphql_api.errors import Forbidden
from graphql_api.services.access import Identity, Permission
from graphql_api.services.audit import Actor

if TYPE_CHECKING:
    from graphql_api.services.wiring import Services
    from models import SecretVersion


@dataclass(frozen=True)
class Credentials:
    """What a request or websocket connection presented."""

    # "Bearer <token>": never in a repr.
    authorization: str | None = field(repr=False)
    ip_address: str | None
    user_agent: str | None
    request_id: str = ""


@dataclass
class Loaders:
    versions: DataLoader[UUID, list[SecretVersion]]
    last_accessed: DataLoader[UUID, datetime | None]


def build_loaders(services: Services) -> Loaders:
    async def load_versions(ids: Sequence[UUID]) -> list[list[SecretVersion]]:
        grouped = await services.secret_reads.versions(ids)
        return [grouped[i] for i in ids]

    async def load_last_accessed(ids: Sequence[UUID]) -> list[datetime | None]:
        found = await services.audit_reader.last_accessed(ids)
        return [found.get(i) for i in ids]

    return Loaders(
        versions=DataLoader(load_fn=load_versions, cache=True),
        last_accessed=DataLoader(load_fn=load_last_accessed, cache=True),
    )


@dataclass
class Context:
    services: Services
    credentials: Credentials
    loaders: Loaders
    _identity: Identity | None = field(default=None, repr=False)

    @classmethod
    def for_operation(cls, services: Services, credentials: Credentials) -> Context:
        return cls(services=services, credentials=credentials, loaders=build_loaders(services))

    async def identity(self) -> Identity:
        """The authenticated principal; authenticates once per operation."""
        if self._identity is None:
            self._identity = await self.services.authenticator.authenticate(
                self.credentials.authorization, self.credentials.ip_address
            )
        return self._identity

    async def authorize(self, permission: Permission, workspace_id: str, *, secret_id: UUID | None = None) -> Identity:
        """The one seam every resolver passes: may this principal do X here?

        A refusal is recorded (ACCESS_DENIED, without waiting for its commit);
        when the principal may see the workspace's secrets and names one, on
        that secret's own trail.
        """
        identity = await self.identity()
        try:
            await self.services.authorizer.require(identity, permission, workspace_id)
        except Forbidden:
            visible = secret_id is not None and identity.may(Permission.LIST_SECRETS, workspace_id)
            if (
                visible
                and secret_id is not None
                and not await self.services.secret_reads.exists(workspace_id, secret_id)
            ):
                visible = False
            self.services.denials.record(workspace_id, permission, self.actor, secret_id=secret_id if visible else None)
            raise
        return identity

    async def superadmin(self, action: str) -> Identity:
        identity = await self.identity()
        self.services.authorizer.require_superadmin(identity, action)
        return identity

    @property
    def principal_id(self) -> UUID | None:
        """The principal once authenticated (never authenticates): for log lines."""
        identity = self._identity
        return identity.principal_id if identity is not None else None

    @property
    def actor(self) -> Actor:
        identity = self._identity
        return Actor(
            user_id=identity.principal_id if identity else None,
            ip_address=self.credentials.ip_address,
            user_agent=self.credentials.user_agent,
        )
