"""Query resolvers: authorize, call one service, map."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

import models
from graphql_api.context import Context
from graphql_api.schema import types
from graphql_api.schema.inputs import SecretFilter
from graphql_api.services.access import Permission
from graphql_api.services.secret_inputs import encode_cursor, parse_secret_id, parse_uuid

InfoT = Info[Context, None]


def _or(value: int | None, default: int) -> int:
    """An explicit null for an argument with a default means the default."""
    return default if value is None else value


def secret_connection(page: object) -> types.SecretConnection:
    return types.SecretConnection(
        edges=[types.SecretEdge(cursor=encode_cursor(s), node=types.Secret.from_model(s)) for s in page.secrets],  # type: ignore[attr-defined]
        page_info=types.PageInfo(has_next_page=page.has_next_page, end_cursor=page.end_cursor),  # type: ignore[attr-defined]
        total_count=page.total_count,  # type: ignore[attr-defined]
    )


def audit_connection(page: object) -> types.AuditConnection:
    return types.AuditConnection(
        edges=[types.AuditEdge(cursor=str(e.seq), node=types.AuditEvent.from_model(e)) for e in page.events],  # type: ignore[attr-defined]
        page_info=types.PageInfo(has_next_page=page.has_next_page, end_cursor=page.end_cursor),  # type: ignore[attr-defined]
        total_count=page.total_count,  # type: ignore[attr-defined]
    )


async def principal_view(info: InfoT, principal: models.Principal) -> types.Principal:
    bindings = await info.context.services.principals.bindings_of(principal.id)
    return types.Principal(
        id=strawberry.ID(str(principal.id)),
        name=principal.name,
        is_superadmin=principal.is_superadmin,
        bindings=[types.RoleBinding(workspace_id=strawberry.ID(b.workspace_id), role=b.role) for b in bindings],
    )


@strawberry.type
class Query:
    @strawberry.field
    async def viewer(self, info: InfoT) -> types.Principal:
        identity = await info.context.identity()
        principal = await models.Principal.get(id=identity.principal_id)
        return await principal_view(info, principal)

    @strawberry.field
    async def workspaces(self, info: InfoT) -> list[types.Workspace]:
        identity = await info.context.identity()
        rows = await info.context.services.workspaces.visible_to(identity)
        return [types.Workspace.from_model(row) for row in rows]

    @strawberry.field
    async def secrets(
        self,
        info: InfoT,
        workspace_id: strawberry.ID,
        first: int | None = 50,
        after: str | None = None,
        filter: SecretFilter | None = None,
    ) -> types.SecretConnection:
        await info.context.authorize(Permission.LIST_SECRETS, workspace_id)
        page = await info.context.services.secrets.page(
            workspace_id,
            first=_or(first, 50),
            after=after,
            filter=(filter or SecretFilter()).to_domain(),
            actor=info.context.actor,
        )
        return secret_connection(page)

    @strawberry.field
    async def secret(self, info: InfoT, workspace_id: strawberry.ID, id: strawberry.ID) -> types.Secret | None:
        await info.context.authorize(Permission.LIST_SECRETS, workspace_id)
        row = await info.context.services.secrets.get(workspace_id, parse_secret_id(id))
        return types.Secret.from_model(row) if row else None

    @strawberry.field
    async def secret_by_name(self, info: InfoT, workspace_id: strawberry.ID, name: str) -> types.Secret | None:
        await info.context.authorize(Permission.LIST_SECRETS, workspace_id)
        row = await info.context.services.secrets.get_by_name(workspace_id, name)
        return types.Secret.from_model(row) if row else None

    @strawberry.field(description="audited read of one value; the current version unless version is given")
    async def secret_value(
        self, info: InfoT, workspace_id: strawberry.ID, id: strawberry.ID, version: int | None = None
    ) -> types.SecretValue:
        await info.context.authorize(Permission.READ_VALUES, workspace_id)
        revealed = await info.context.services.secrets.reveal(
            workspace_id, parse_secret_id(id), version, info.context.actor
        )
        return types.SecretValue(
            secret_id=strawberry.ID(str(revealed.secret_id)), name=revealed.name, version=revealed.version, value=revealed.value
        )

    @strawberry.field(
        description="audited bulk read of active secrets' current values (all when names is null), for environment injection"
    )
    async def secret_values(
        self, info: InfoT, workspace_id: strawberry.ID, names: list[str] | None = None
    ) -> list[types.SecretValue]:
        await info.context.authorize(Permission.READ_VALUES, workspace_id)
        revealed = await info.context.services.secrets.reveal_many(workspace_id, names, info.context.actor)
        return [
            types.SecretValue(secret_id=strawberry.ID(str(r.secret_id)), name=r.name, version=r.version, value=r.value)
            for r in revealed
        ]

    @strawberry.field
    async def rotation_due(self, info: InfoT, workspace_id: strawberry.ID, days_ahead: int | None = 7) -> list[types.Secret]:
        await info.context.authorize(Permission.LIST_SECRETS, workspace_id)
        rows = await info.context.services.secrets.rotation_due(workspace_id, _or(days_ahead, 7))
        return [types.Secret.from_model(row) for row in rows]

    @strawberry.field
    async def secret_audit(
        self, info: InfoT, workspace_id: strawberry.ID, secret_id: strawberry.ID, first: int | None = 50, after: str | None = None
    ) -> types.AuditConnection:
        await info.context.authorize(Permission.READ_AUDIT, workspace_id)
        page = await info.context.services.audit_reader.page(
            workspace_id, first=_or(first, 50), after=after, secret_id=parse_secret_id(secret_id, "secretId")
        )
        return audit_connection(page)

    @strawberry.field
    async def workspace_audit(
        self,
        info: InfoT,
        workspace_id: strawberry.ID,
        first: int | None = 50,
        after: str | None = None,
        action: types.AuditAction | None = None,  # type: ignore[valid-type]
        success: bool | None = None,
    ) -> types.AuditConnection:
        await info.context.authorize(Permission.READ_AUDIT, workspace_id)
        page = await info.context.services.audit_reader.page(
            workspace_id, first=_or(first, 50), after=after, action=action, success=success
        )
        return audit_connection(page)

    @strawberry.field
    async def audit_integrity(self, info: InfoT, workspace_id: strawberry.ID) -> types.AuditIntegrity:
        await info.context.authorize(Permission.READ_AUDIT, workspace_id)
        report = await info.context.services.audit_reader.verify(workspace_id)
        return types.AuditIntegrity(
            valid=report.valid,
            checked_events=report.checked_events,
            first_invalid_event_id=strawberry.ID(str(report.first_invalid_event_id)) if report.first_invalid_event_id else None,
            head_hash=report.head_hash,
        )

    @strawberry.field
    async def secret_statistics(self, info: InfoT, workspace_id: strawberry.ID) -> types.SecretStatistics:
        await info.context.authorize(Permission.READ_AUDIT, workspace_id)
        stats = await info.context.services.statistics.for_workspace(workspace_id)
        return types.SecretStatistics(
            total_secrets=stats.total,
            active_secrets=stats.active,
            inactive_secrets=stats.total - stats.active,
            by_type=[types.CountByKey(key=k, count=v) for k, v in stats.by_type.items()],
            by_rotation_policy=[types.CountByKey(key=k, count=v) for k, v in stats.by_policy.items()],
            rotation_due_count=stats.due_within_week,
            overdue_count=stats.overdue,
            accesses_last24h=stats.accesses_last_day,
            failed_accesses_last24h=stats.failed_accesses_last_day,
        )

    @strawberry.field(description="principals bound to the workspace (its ADMIN), or all principals (superadmin)")
    async def principals(self, info: InfoT, workspace_id: strawberry.ID | None = None) -> list[types.Principal]:
        if workspace_id is not None:
            await info.context.authorize(Permission.MANAGE_PRINCIPALS, workspace_id)
        identity = await info.context.identity()
        rows = await info.context.services.principals.visible(identity, workspace_id)
        return [await principal_view(info, row) for row in rows]

    @strawberry.field(description="a principal's API tokens (never their values)")
    async def api_tokens(self, info: InfoT, principal_id: strawberry.ID) -> list[types.ApiToken]:
        identity = await info.context.identity()
        rows = await info.context.services.principals.tokens_of(identity, parse_uuid(principal_id, "principalId"))
        return [types.ApiToken.from_model(row) for row in rows]

    @strawberry.field
    async def encryption_health(self, info: InfoT) -> types.EncryptionHealth:
        await info.context.superadmin("read encryption health")
        services = info.context.services
        checked = await services.encryption_health()
        return types.EncryptionHealth(
            current_backend=services.backends.default_name,
            backends=[
                types.BackendHealth(name=name, healthy=s.healthy, key_id=s.key_id, last_check=at, error=s.error)
                for name, s, at in checked
            ],
        )



