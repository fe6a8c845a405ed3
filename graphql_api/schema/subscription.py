"""Subscriptions over graphql-transport-ws; the token comes in connection_init."""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator

import strawberry
from strawberry.types import Info

from graphql_api.context import Context
from graphql_api.schema import types
from graphql_api.services.access import Permission
from graphql_api.services.secret_inputs import parse_secret_id
from models import AuditAction

RECHECK_SECONDS = 5.0
ACCESS_CHANGES = frozenset(
    {AuditAction.ROLE_GRANTED, AuditAction.ROLE_REVOKED, AuditAction.TOKEN_REVOKED, AuditAction.PRINCIPAL_CREATED}
)


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
        checked = time.monotonic()
        async for event in info.context.services.bus.subscribe(workspace_id, wanted):
            # A long-lived stream must not outlive the right to read it: check
            # again when access in this workspace changed, and every few
            # seconds (token expiry, revocations recorded elsewhere).
            if event.action in ACCESS_CHANGES or time.monotonic() - checked > RECHECK_SECONDS:
                await info.context.reauthorize(Permission.READ_AUDIT, workspace_id)
                checked = time.monotonic()
            yield types.AuditEvent.from_model(event)
