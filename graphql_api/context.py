"""The typed per-request Context: who is asking, from where, and the
per-request DataLoaders."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING
from uuid import UUID

from starlette.requests import HTTPConnection
from strawberry.dataloader import DataLoader

from graphql_api.errors import Forbidden
from graphql_api.services.access import Identity, Permission
from graphql_api.services.audit import Actor

if TYPE_CHECKING:
    from graphql_api.app import Services
    from models import SecretVersion


@dataclass
class Loaders:
    versions: DataLoader[UUID, list[SecretVersion]]
    last_accessed: DataLoader[UUID, datetime | None]


def build_loaders(services: Services) -> Loaders:
    async def load_versions(ids: Sequence[UUID]) -> list[list[SecretVersion]]:
        grouped = await services.secrets.versions(ids)
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
    connection: HTTPConnection | None
    # The bearer token: never in a repr.
    authorization: str | None = field(repr=False)
    ip_address: str | None
    user_agent: str | None
    loaders: Loaders
    # Set by strawberry from the graphql-transport-ws connection_init payload.
    connection_params: dict[str, object] | None = field(default=None, repr=False)
    _identity: Identity | None = field(default=None, repr=False)

    async def identity(self) -> Identity:
        """The authenticated principal; authenticates once per request."""
        if self._identity is None:
            authorization = self.authorization
            if authorization is None and self.connection_params:
                given = self.connection_params.get("authorization") or self.connection_params.get("Authorization")
                authorization = given if isinstance(given, str) else None
            self._identity = await self.services.authenticator.authenticate(authorization, self.ip_address)
        return self._identity

    async def authorize(self, permission: Permission, workspace_id: str) -> Identity:
        """The one seam every resolver passes: may this principal do X here?"""
        identity = await self.identity()
        try:
            await self.services.authorizer.require(identity, permission, workspace_id)
        except Forbidden:
            await self.services.denials.record(workspace_id, permission, self.actor)
            raise
        return identity

    async def reauthorize(self, permission: Permission, workspace_id: str) -> Identity:
        """authorize() with a fresh look at the token and bindings (long-lived streams)."""
        self._identity = None
        return await self.authorize(permission, workspace_id)

    async def superadmin(self, action: str) -> Identity:
        identity = await self.identity()
        self.services.authorizer.require_superadmin(identity, action)
        return identity

    @property
    def actor(self) -> Actor:
        identity = self._identity
        return Actor(
            user_id=identity.principal_id if identity else None,
            ip_address=self.ip_address,
            user_agent=self.user_agent,
        )
