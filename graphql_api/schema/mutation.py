"""Mutation resolvers: authorize, call one service, map."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.types import Info

from graphql_api.context import Context
from graphql_api.schema import types
from graphql_api.schema.inputs import CreateSecretInput, RoleBindingInput, UpdateSecretInput
from graphql_api.schema.types import Role, principal_view
from graphql_api.services.access import Permission
from graphql_api.services.principals import Binding
from graphql_api.services.secret_inputs import parse_secret_id, parse_uuid

InfoT = Info[Context, None]


@strawberry.type
class Mutation:
    @strawberry.mutation
    async def create_workspace(self, info: InfoT, id: strawberry.ID, name: str | None = None) -> types.Workspace:
        await info.context.superadmin("create workspaces")
        row = await info.context.services.workspaces.create(id, name)
        return types.Workspace.from_model(row)

    @strawberry.mutation
    async def create_secret(self, info: InfoT, workspace_id: strawberry.ID, input: CreateSecretInput) -> types.Secret:
        await info.context.authorize(Permission.WRITE_SECRETS, workspace_id)
        row = await info.context.services.secrets.create(workspace_id, input.to_domain(), info.context.actor)
        return types.Secret.from_model(row)

    @strawberry.mutation
    async def update_secret(
        self, info: InfoT, workspace_id: strawberry.ID, id: strawberry.ID, input: UpdateSecretInput
    ) -> types.Secret:
        await info.context.authorize(Permission.WRITE_SECRETS, workspace_id)
        row = await info.context.services.secrets.update(
            workspace_id, parse_secret_id(id), input.to_domain(), info.context.actor
        )
        return types.Secret.from_model(row)

    @strawberry.mutation(description="new version; newValue omitted means a value generator plugin makes one")
    async def rotate_secret(
        self,
        info: InfoT,
        workspace_id: strawberry.ID,
        id: strawberry.ID,
        new_value: str | None = None,
        expected_version: int | None = None,
    ) -> types.Secret:
        await info.context.authorize(Permission.WRITE_SECRETS, workspace_id)
        row = await info.context.services.rotation.rotate(
            workspace_id, parse_secret_id(id), new_value, expected_version, info.context.actor
        )
        return types.Secret.from_model(row)

    @strawberry.mutation(description="new version whose value is that of toVersion; needs WRITER, not READER")
    async def rollback_secret(
        self, info: InfoT, workspace_id: strawberry.ID, id: strawberry.ID, to_version: int
    ) -> types.Secret:
        await info.context.authorize(Permission.WRITE_SECRETS, workspace_id)
        row = await info.context.services.secrets.rollback(
            workspace_id, parse_secret_id(id), to_version, info.context.actor
        )
        return types.Secret.from_model(row)

    @strawberry.mutation(description="soft delete: isActive becomes false, every version kept")
    async def delete_secret(self, info: InfoT, workspace_id: strawberry.ID, id: strawberry.ID) -> types.Secret:
        await info.context.authorize(Permission.WRITE_SECRETS, workspace_id)
        row = await info.context.services.secrets.set_active(
            workspace_id, parse_secret_id(id), False, info.context.actor
        )
        return types.Secret.from_model(row)

    @strawberry.mutation
    async def restore_secret(self, info: InfoT, workspace_id: strawberry.ID, id: strawberry.ID) -> types.Secret:
        await info.context.authorize(Permission.WRITE_SECRETS, workspace_id)
        row = await info.context.services.secrets.set_active(
            workspace_id, parse_secret_id(id), True, info.context.actor
        )
        return types.Secret.from_model(row)

    @strawberry.mutation(description="permanent: every version's ciphertext and wrapped key erased (ADMIN)")
    async def destroy_secret(self, info: InfoT, workspace_id: strawberry.ID, id: strawberry.ID) -> bool:
        await info.context.authorize(Permission.DESTROY_SECRETS, workspace_id)
        await info.context.services.secrets.destroy(workspace_id, parse_secret_id(id), info.context.actor)
        return True

    @strawberry.mutation
    async def import_secrets(
        self,
        info: InfoT,
        workspace_id: strawberry.ID,
        dotenv: str,
        overwrite: bool | None = False,
        dry_run: bool | None = False,
        secret_type: types.SecretType | None = None,
        rotation_policy: types.RotationPolicy | None = None,
        tags: list[str] | None = None,
    ) -> types.ImportResult:
        await info.context.authorize(Permission.WRITE_SECRETS, workspace_id)
        outcome = await info.context.services.importer.import_dotenv(
            workspace_id,
            dotenv,
            bool(overwrite),
            info.context.actor,
            dry_run=bool(dry_run),
            secret_type=secret_type,
            rotation_policy=rotation_policy,
            tags=tags or (),
        )
        return types.ImportResult.from_outcome(workspace_id, outcome)

    @strawberry.mutation(
        description="superadmin: rewrap every data key under the current (or target) backend's newest key"
    )
    async def rotate_encryption_key(self, info: InfoT, target_backend: str | None = None) -> types.KeyRotationResult:
        await info.context.superadmin("rotate encryption keys")
        progress = await info.context.services.key_rotation.rotate(target_backend, info.context.actor)
        return types.KeyRotationResult.from_progress(progress)

    @strawberry.mutation(
        description="superadmin: a fresh key for the named (default: current) backend, e.g. a Fernet key"
    )
    async def generate_encryption_key(self, info: InfoT, backend: str | None = None) -> types.GeneratedKey:
        await info.context.superadmin("generate encryption keys")
        name, material = await info.context.services.generate_encryption_key(backend)
        return types.GeneratedKey(backend=name, key=material)

    @strawberry.mutation
    async def create_principal(
        self, info: InfoT, name: str, bindings: list[RoleBindingInput], superadmin: bool | None = False
    ) -> types.Principal:
        for binding in bindings:  # refusals are recorded where they happened
            await info.context.authorize(Permission.MANAGE_PRINCIPALS, binding.workspace_id)
        identity = await info.context.identity()
        principal = await info.context.services.principals.create(
            identity,
            name,
            [Binding(str(b.workspace_id), b.role) for b in bindings],
            bool(superadmin),
            info.context.actor,
        )
        return await principal_view(info.context, principal.id)

    @strawberry.mutation
    async def create_api_token(
        self, info: InfoT, principal_id: strawberry.ID, name: str, expires_at: datetime | None = None
    ) -> types.CreatedToken:
        identity = await info.context.identity()
        token, row = await info.context.services.principals.create_token(
            identity, parse_uuid(principal_id, "principalId"), name, expires_at, info.context.actor
        )
        return types.CreatedToken(token=token, api_token=types.ApiToken.from_model(row))

    @strawberry.mutation
    async def revoke_api_token(self, info: InfoT, id: strawberry.ID) -> types.ApiToken:
        identity = await info.context.identity()
        row = await info.context.services.principals.revoke_token(identity, parse_uuid(id, "id"), info.context.actor)
        return types.ApiToken.from_model(row)

    @strawberry.mutation(description="give a principal a role in a workspace (replacing its role there)")
    async def grant_role(
        self,
        info: InfoT,
        principal_id: strawberry.ID,
        workspace_id: strawberry.ID,
        role: Role,
    ) -> types.Principal:
        await info.context.authorize(Permission.MANAGE_PRINCIPALS, workspace_id)
        identity = await info.context.identity()
        principal = await info.context.services.principals.grant(
            identity, parse_uuid(principal_id, "principalId"), workspace_id, role, info.context.actor
        )
        return await principal_view(info.context, principal.id)

    @strawberry.mutation(description="remove a principal's role in a workspace")
    async def revoke_role(
        self, info: InfoT, principal_id: strawberry.ID, workspace_id: strawberry.ID
    ) -> types.Principal:
        await info.context.authorize(Permission.MANAGE_PRINCIPALS, workspace_id)
        identity = await info.context.identity()
        principal = await info.context.services.principals.revoke(
            identity, parse_uuid(principal_id, "principalId"), workspace_id, info.context.actor
        )
        return await principal_view(info.context, principal.id)
