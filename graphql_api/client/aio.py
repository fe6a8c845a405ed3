"""`AsyncStrongroom`: the asyncio client, method for method the same as `Strongroom`.

async with AsyncStrongroom("http://127.0.0.1:8000", token) as sr:
    values = await sr.secret_values("payments")
    async for event in sr.tail_audit("payments"):
        ...
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Mapping, MutableMapping, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any, TypeVar

import httpx

from graphql_api.client import operations as ops
from graphql_api.client.config import ClientSettings
from graphql_api.client.environment import environment_variables
from graphql_api.client.live import AsyncAuditTail, SubscriptionProtocol
from graphql_api.client.models import (
    ApiToken,
    AuditCheckpoint,
    AuditEvent,
    AuditIntegrity,
    CreatedToken,
    EncryptionHealth,
    ImportResult,
    KeyRotationProgress,
    Principal,
    Secret,
    SecretChange,
    SecretDigest,
    SecretPage,
    SecretValue,
    Workspace,
)
from graphql_api.client.sync import _Endpoints
from graphql_api.client.transport import USER_AGENT, headers, response_data, unreachable

T = TypeVar("T")


class AsyncStrongroom(_Endpoints):
    """Asyncio client for `{url}/graphql`; `async with` it or await aclose()."""

    def __init__(
        self,
        url: str,
        token: str,
        *,
        timeout: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(url, token, timeout)
        self._http = httpx.AsyncClient(transport=transport, timeout=timeout, headers=headers(token))

    @classmethod
    def from_environ(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        profile: str | None = None,
        timeout: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> AsyncStrongroom:
        settings = ClientSettings.load(environ, profile)
        return cls(settings.url, settings.token, timeout=timeout, transport=transport)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncStrongroom:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def execute(self, query: str, variables: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Run one GraphQL operation; its `data`, or StrongroomAPIError."""
        try:
            response = await self._http.post(self.endpoint, json={"query": query, "variables": dict(variables or {})})
        except httpx.HTTPError as exc:
            raise unreachable(exc, self.endpoint, self.redact) from None
        return response_data(response, self.endpoint, self.redact)

    async def run(self, operation: ops.Operation[T]) -> T:
        return operation.parse(await self.execute(operation.document, operation.variables))

    # -- secrets ----------------------------------------------------------------

    async def secrets(
        self,
        workspace: str,
        *,
        first: int = ops.MAX_PAGE,
        after: str | None = None,
        name_contains: str | None = None,
        tags: Sequence[str] | None = None,
        secret_type: str | None = None,
        include_inactive: bool = False,
    ) -> SecretPage:
        """One page of metadata (keyset pagination: pass the previous page's end_cursor as `after`)."""
        return await self.run(
            ops.secrets(
                workspace,
                first=first,
                after=after,
                name_contains=name_contains,
                tags=tags,
                secret_type=secret_type,
                include_inactive=include_inactive,
            )
        )

    async def iter_secrets(
        self,
        workspace: str,
        *,
        name_contains: str | None = None,
        tags: Sequence[str] | None = None,
        secret_type: str | None = None,
        include_inactive: bool = False,
    ) -> AsyncIterator[Secret]:
        """Every secret matching the filters, page after page."""
        after: str | None = None
        while True:
            page = await self.secrets(
                workspace,
                after=after,
                name_contains=name_contains,
                tags=tags,
                secret_type=secret_type,
                include_inactive=include_inactive,
            )
            for item in page.secrets:
                yield item
            if not page.has_next_page:
                return
            after = page.end_cursor

    async def secret(self, workspace: str, id: str) -> Secret | None:
        return await self.run(ops.secret(workspace, id))

    async def secret_by_name(self, workspace: str, name: str) -> Secret | None:
        return await self.run(ops.secret_by_name(workspace, name))

    async def secret_value(self, workspace: str, id: str, version: int | None = None) -> SecretValue:
        return await self.run(ops.secret_value(workspace, id, version))

    async def secret_values(self, workspace: str, names: Sequence[str] | None = None) -> list[SecretValue]:
        """The current values of the workspace's active secrets (of `names` only), in one audited read."""
        return await self.run(ops.secret_values(workspace, names))

    async def secret_digests(self, workspace: str, names: Sequence[str] | None = None) -> list[SecretDigest]:
        return await self.run(ops.secret_digests(workspace, names))

    async def create_secret(
        self,
        workspace: str,
        name: str,
        value: str,
        *,
        secret_type: str = "GENERIC",
        usage: str | None = None,
        rotation_policy: str | None = None,
        tags: Sequence[str] | None = None,
        metadata: Mapping[str, Any] | None = None,
        encryption_backend: str | None = None,
    ) -> Secret:
        return await self.run(
            ops.create_secret(
                workspace,
                name,
                value,
                secret_type=secret_type,
                usage=usage,
                rotation_policy=rotation_policy,
                tags=tags,
                metadata=metadata,
                encryption_backend=encryption_backend,
            )
        )

    async def update_secret(
        self,
        workspace: str,
        id: str,
        *,
        value: str | None = None,
        usage: str | None = None,
        tags: Sequence[str] | None = None,
        metadata: Mapping[str, Any] | None = None,
        rotation_policy: str | None = None,
        expected_version: int | None = None,
    ) -> Secret:
        """Change what is given (None: left as it is); a new value is a new version."""
        return await self.run(
            ops.update_secret(
                workspace,
                id,
                value=value,
                usage=usage,
                tags=tags,
                metadata=metadata,
                rotation_policy=rotation_policy,
                expected_version=expected_version,
            )
        )

    async def rotate_secret(
        self, workspace: str, id: str, new_value: str | None = None, expected_version: int | None = None
    ) -> Secret:
        return await self.run(ops.rotate_secret(workspace, id, new_value, expected_version))

    async def rollback_secret(self, workspace: str, id: str, to_version: int) -> Secret:
        return await self.run(ops.rollback_secret(workspace, id, to_version))

    async def delete_secret(self, workspace: str, id: str) -> Secret:
        return await self.run(ops.delete_secret(workspace, id))

    async def restore_secret(self, workspace: str, id: str) -> Secret:
        return await self.run(ops.restore_secret(workspace, id))

    async def import_secrets(
        self,
        workspace: str,
        dotenv: str,
        *,
        overwrite: bool = False,
        dry_run: bool = False,
        secret_type: str | None = None,
        rotation_policy: str | None = None,
        tags: Sequence[str] | None = None,
    ) -> ImportResult:
        """Import a .env text, all or nothing; existing names are skipped unless `overwrite`."""
        return await self.run(
            ops.import_secrets(
                workspace,
                dotenv,
                overwrite=overwrite,
                dry_run=dry_run,
                secret_type=secret_type,
                rotation_policy=rotation_policy,
                tags=tags,
            )
        )

    async def environment(self, workspace: str, only: Sequence[str] | None = None, prefix: str = "") -> dict[str, str]:
        """{prefix + name: value} of the workspace's active secrets (of `only`), in one audited read."""
        return environment_variables(await self.secret_values(workspace, only), prefix)

    async def inject_environment(
        self,
        workspace: str,
        only: Sequence[str] | None = None,
        prefix: str = "",
        environ: MutableMapping[str, str] | None = None,
    ) -> list[str]:
        """Put the workspace's secrets into `environ` (default os.environ); the names set."""
        variables = await self.environment(workspace, only, prefix)
        target = os.environ if environ is None else environ
        target.update(variables)
        return list(variables)

    # -- workspaces and people -----------------------------------------------------

    async def viewer(self) -> Principal:
        return await self.run(ops.viewer())

    async def workspaces(self) -> list[Workspace]:
        return await self.run(ops.workspaces())

    async def create_workspace(self, id: str, name: str | None = None) -> Workspace:
        return await self.run(ops.create_workspace(id, name))

    async def create_principal(
        self, name: str, bindings: Sequence[tuple[str, str]] = (), superadmin: bool = False
    ) -> Principal:
        return await self.run(ops.create_principal(name, bindings, superadmin))

    async def principals(self, workspace: str | None = None) -> list[Principal]:
        return await self.run(ops.principals(workspace))

    async def create_token(self, principal_id: str, name: str, expires_at: datetime | None = None) -> CreatedToken:
        return await self.run(ops.create_token(principal_id, name, expires_at))

    async def tokens(self, principal_id: str) -> list[ApiToken]:
        return await self.run(ops.tokens(principal_id))

    async def revoke_token(self, token_id: str) -> ApiToken:
        return await self.run(ops.revoke_token(token_id))

    async def grant_role(self, principal_id: str, workspace: str, role: str) -> Principal:
        return await self.run(ops.grant_role(principal_id, workspace, role))

    async def revoke_role(self, principal_id: str, workspace: str) -> Principal:
        return await self.run(ops.revoke_role(principal_id, workspace))

    # -- audit and keys ---------------------------------------------------------------

    async def workspace_audit(
        self,
        workspace: str,
        first: int = 50,
        after: str | None = None,
        action: str | None = None,
        success: bool | None = None,
    ) -> tuple[list[AuditEvent], str | None, bool]:
        """One page of the workspace's trail: (events, end cursor, has next page)."""
        return await self.run(ops.workspace_audit(workspace, first, after, action, success))

    async def secret_audit(
        self, workspace: str, secret_id: str, first: int = 50, after: str | None = None
    ) -> tuple[list[AuditEvent], str | None, bool]:
        return await self.run(ops.secret_audit(workspace, secret_id, first, after))

    async def audit_integrity(self, workspace: str, checkpoint: AuditCheckpoint | None = None) -> AuditIntegrity:
        return await self.run(ops.audit_integrity(workspace, checkpoint))

    async def audit_checkpoint(self, workspace: str) -> AuditCheckpoint:
        return await self.run(ops.audit_checkpoint(workspace))

    def tail_audit(self, workspace: str, secret_id: str | None = None) -> AsyncAuditTail:
        """Every audit event of `workspace` (of one secret) as it is committed, until closed."""
        return AsyncAuditTail(
            self.ws_endpoint, self._protocol(workspace, secret_id), timeout=self._timeout, user_agent=USER_AGENT
        )

    def watch_changes(self, workspace: str, names: Sequence[str] | None = None) -> AsyncAuditTail:
        """Changes to `workspace`'s secrets as they commit (secretChanges):
        names, actions and versions, for any role that may list secrets."""
        protocol = SubscriptionProtocol(
            self._token,
            workspace,
            None,
            self.redact,
            self.ws_endpoint,
            query=ops.SECRET_CHANGES,
            field="secretChanges",
            variables={"w": workspace, "names": list(names) if names is not None else None},
            parse=SecretChange.from_api,
        )
        return AsyncAuditTail(self.ws_endpoint, protocol, timeout=self._timeout, user_agent=USER_AGENT)

    async def rotate_encryption_key(self, target_backend: str | None = None) -> KeyRotationProgress:
        return await self.run(ops.rotate_encryption_key(target_backend))

    async def encryption_health(self) -> EncryptionHealth:
        return await self.run(ops.encryption_health())
