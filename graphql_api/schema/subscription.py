"""Subscriptions over graphql-transport-ws; the token comes in connection_init."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import strawberry
from strawberry.types import Info

from graphql_api.context import Context
from graphql_api.schema import types
from graphql_api.services.access import Permission
from graphql_api.services.secret_inputs import parse_secret_id


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description="every audit event of the workspace (of one secret when secretId is given) as it is committed"
    )
    async def audit_events(
        self, info: Info[Context, None], workspace_id: strawberry.ID, secret_id: strawberry.ID | None = None
    ) -> AsyncGenerator[types.AuditEvent, None]:
        await info.context.authorize(Permission.READ_AUDIT, workspace_id)
        wanted = parse_secret_id(secret_id, "secretId") if secret_id is not None else None
        async for event in info.context.services.bus.subscribe(workspace_id, wanted):
            yield types.AuditEvent.from_model(event)
