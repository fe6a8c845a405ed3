"""Subscriptions over graphql-transport-ws; the token comes in connection_init.

A live stream must not outlive the right to read it: the subscription holds
a lease from the AuthorityWatch, which ends it (UNAUTHENTICATED or FORBIDDEN)
as soon as its token is revoked or expires or its role in the workspace is
gone, on whichever replica the change was made.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator

import strawberry
from strawberry.types import Info

from graphql_api.context import Context
from graphql_api.fan_out import SharedPayloads
from graphql_api.schema import types
from graphql_api.services.access import Permission
from graphql_api.services.secret_inputs import parse_secret_id

# One payload per event for every subscriber (graphql_api.fan_out).
_AUDIT_EVENTS = SharedPayloads(types.AuditEvent.from_model)
_SECRET_CHANGES = SharedPayloads(types.SecretChange.from_event)


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description="every audit event of the workspace (of one secret when secretId is given) as it is committed"
    )
    async def audit_events(
        self, info: Info[Context, None], workspace_id: strawberry.ID, secret_id: strawberry.ID | None = None
    ) -> AsyncGenerator[types.AuditEvent, None]:
        wanted = parse_secret_id(secret_id, "secretId") if secret_id is not None else None
        identity = await info.context.authorize(Permission.READ_AUDIT, workspace_id)
        services = info.context.services
        stream = services.bus.subscribe(workspace_id, wanted)
        lease = services.authority.hold(identity, Permission.READ_AUDIT, workspace_id, stream)
        try:
            async for event in stream:
                yield _AUDIT_EVENTS.get(event.id, event)
        finally:
            services.authority.release(lease)
            stream.close()

    @strawberry.subscription(
        description="changes to secrets' values (created, updated, rotated, rolled back, imported, deleted, restored, "
        "destroyed) as they commit, for anyone who may list the workspace's secrets; names and versions only"
    )
    async def secret_changes(
        self, info: Info[Context, None], workspace_id: strawberry.ID, names: list[str] | None = None
    ) -> AsyncGenerator[types.SecretChange, None]:
        wanted = set(names) if names is not None else None
        identity = await info.context.authorize(Permission.LIST_SECRETS, workspace_id)
        services = info.context.services
        stream = services.bus.subscribe(workspace_id)
        lease = services.authority.hold(identity, Permission.LIST_SECRETS, workspace_id, stream)
        try:
            async for event in stream:
                change = _SECRET_CHANGES.get(event.id, event)
                if change is not None and (wanted is None or change.name in wanted):
                    yield change
        finally:
            services.authority.release(lease)
            stream.close()
