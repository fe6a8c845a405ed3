"""Query resolvers: authorize, call one service, map."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from graphql_api.context import Context
from graphql_api.errors import NotFound
from graphql_api.schema import types
from graphql_api.schema.inputs import SecretFilter
from graphql_api.services.access import Permission
from graphql_api.services.audit_reader import Checkpoint
from graphql_api.services.secret_inputs import parse_secret_id, parse_uuid

InfoT = Info[Context, None]


def _or(value: int | None, default: int) -> int:
    """An explicit null for an argument with a default means the default."""
    return default if value is None else value


@strawberry.type
class Query:
    @strawberry.field
    async def viewer(self, info: InfoT) -> types.Principal:
        identity = await info.context.identity()
        return await types.principal_view(info.context, identity.principal_id)

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
        page = await info.context.services.secret_reads.page(
            workspace_id,
            first=_or(first, 50),
            after=after,
            filter=(filter or SecretFilter()).to_domain(),
            actor=info.context.actor,
        )
        return types.secret_connection(page)

    @strawberry.field
    async def secret(self, info: InfoT, workspace_id: strawberry.ID, id: strawberry.ID) -> types.Secret | None:
        secret_id = parse_secret_id(id)
        await info.context.authorize(Permission.LIST_SECRETS, workspace_id, secret_id=secret_id)
        row = await info.context.services.secret_reads.view(workspace_id, secret_id, info.context.actor)
        return types.Secret.from_model(row) if row else None

    @strawberry.field
    async def secret_by_name(self, info: InfoT, workspace_id: strawberry.ID, name: str) -> types.Secret | None:
        await info.context.authorize(Permission.LIST_SECRETS, workspace_id)
        row = await info.context.services.secret_reads.view_by_name(workspace_id, name, info.context.actor)
        return types.Secret.from_model(row) if row else None

    @strawberry.field(description="audited read of one value; the current version unless version is given")
    async def secret_value(
        self, info: InfoT, workspace_id: strawberry.ID, id: strawberry.ID, version: int | None = None
    ) -> types.SecretValue:
        secret_id = parse_secret_id(id)
        await info.context.authorize(Permission.READ_VALUES, workspace_id, secret_id=secret_id)
        revealed = await info.context.services.secret_reads.reveal(workspace_id, secret_id, version, info.context.actor)
        return types.SecretValue.from_revealed(revealed)

    @strawberry.field(
        description="audited bulk read of active secrets' current values (all when names is null), for environment injection"
    )
    async def secret_values(
        self, info: InfoT, workspace_id: strawberry.ID, names: list[str] | None = None
    ) -> list[types.SecretValue]:
        await info.context.authorize(Permission.READ_VALUES, workspace_id)
        revealed = await info.context.services.secret_reads.reveal_many(workspace_id, names, info.context.actor)
        return [types.SecretValue.from_revealed(r) for r in revealed]

    @strawberry.field(
        description="keyed digests of active secrets' current values, to compare values (e.g. two workspaces) without revealing them"
    )
    async def secret_digests(
        self, info: InfoT, workspace_id: strawberry.ID, names: list[str] | None = None
    ) -> list[types.SecretDigest]:
        await info.context.authorize(Permission.READ_VALUES, workspace_id)
        services = info.context.services
        found = await services.secret_reads.digests(
            workspace_id, names, info.context.actor, services.server_keys.keys.value_digest
        )
        return [types.SecretDigest.from_found(row) for row in found]

    @strawberry.field(
        description="whether two versions of a secret hold the same value, decided in the server (audited as COMPARED; neither value nor a digest is answered)"
    )
    async def compare_secret_versions(
        self, info: InfoT, workspace_id: strawberry.ID, id: strawberry.ID, a: int, b: int
    ) -> types.VersionComparison:
        secret_id = parse_secret_id(id)
        await info.context.authorize(Permission.READ_VALUES, workspace_id, secret_id=secret_id)
        same = await info.context.services.secret_reads.compare_versions(
            workspace_id, secret_id, a, b, info.context.actor
        )
        return types.VersionComparison(secret_id=strawberry.ID(str(secret_id)), a=a, b=b, same=same)

    @strawberry.field
    async def rotation_due(
        self, info: InfoT, workspace_id: strawberry.ID, days_ahead: int | None = 7
    ) -> list[types.Secret]:
        await info.context.authorize(Permission.LIST_SECRETS, workspace_id)
        rows = await info.context.services.secret_reads.rotation_due(
            workspace_id, _or(days_ahead, 7), info.context.actor
        )
        return [types.Secret.from_model(row) for row in rows]

    @strawberry.field
    async def secret_audit(
        self,
        info: InfoT,
        workspace_id: strawberry.ID,
        secret_id: strawberry.ID,
        first: int | None = 50,
        after: str | None = None,
    ) -> types.AuditConnection:
        await info.context.authorize(Permission.READ_AUDIT, workspace_id)
        page = await info.context.services.audit_reader.page(
            workspace_id, first=_or(first, 50), after=after, secret_id=parse_secret_id(secret_id, "secretId")
        )
        return types.audit_connection(page)

    @strawberry.field
    async def workspace_audit(
        self,
        info: InfoT,
        workspace_id: strawberry.ID,
        first: int | None = 50,
        after: str | None = None,
        action: types.AuditAction | None = None,
        success: bool | None = None,
    ) -> types.AuditConnection:
        await info.context.authorize(Permission.READ_AUDIT, workspace_id)
        page = await info.context.services.audit_reader.page(
            workspace_id, first=_or(first, 50), after=after, action=action, success=success
        )
        return types.audit_connection(page)

    @strawberry.field(
        description="recompute the workspace's keyed audit chain (and check a kept checkpoint against it)"
    )
    async def audit_integrity(
        self, info: InfoT, workspace_id: strawberry.ID, checkpoint: types.AuditCheckpointInput | None = None
    ) -> types.AuditIntegrity:
        await info.context.authorize(Permission.READ_AUDIT, workspace_id)
        kept = Checkpoint(checkpoint.seq, checkpoint.head_hash) if checkpoint is not None else None
        report = await info.context.services.audit_reader.verify(workspace_id, kept)
        return types.AuditIntegrity.from_report(report)

    @strawberry.field(
        description="a signed checkpoint of the workspace's audit trail as it is now; keep it to verify later"
    )
    async def audit_checkpoint(self, info: InfoT, workspace_id: strawberry.ID) -> types.AuditCheckpoint:
        await info.context.authorize(Permission.READ_AUDIT, workspace_id)
        signed = await info.context.services.checkpoints.publish(workspace_id)
        if signed is None:
            raise NotFound(f"workspace {workspace_id!r} has no verifiable audit trail to sign")
        return types.AuditCheckpoint.from_domain(signed)

    @strawberry.field(description="the checkpoints published for the workspace, newest first")
    async def audit_checkpoints(
        self, info: InfoT, workspace_id: strawberry.ID, first: int | None = 24
    ) -> list[types.AuditCheckpoint]:
        await info.context.authorize(Permission.READ_AUDIT, workspace_id)
        rows = await info.context.services.checkpoints.history(workspace_id, max(1, min(_or(first, 24), 500)))
        return [types.AuditCheckpoint.from_domain(row) for row in rows]

    @strawberry.field
    async def secret_statistics(self, info: InfoT, workspace_id: strawberry.ID) -> types.SecretStatistics:
        await info.context.authorize(Permission.READ_AUDIT, workspace_id)
        stats = await info.context.services.statistics.for_workspace(workspace_id)
        return types.SecretStatistics.from_domain(stats)

    @strawberry.field(description="principals bound to the workspace (its ADMIN), or all principals (superadmin)")
    async def principals(self, info: InfoT, workspace_id: strawberry.ID | None = None) -> list[types.Principal]:
        if workspace_id is not None:
            await info.context.authorize(Permission.MANAGE_PRINCIPALS, workspace_id)
        identity = await info.context.identity()
        services = info.context.services
        rows = await services.principals.visible(identity, workspace_id)
        return [
            types.Principal.from_model(row, await services.principals.bindings_visible_to(identity, row.id))
            for row in rows
        ]

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
        return types.EncryptionHealth.from_checks(services.backends.default_name, checked)
