"""The value read in one round trip: token, principal, binding, workspace,
secret and version in a single query.

Why: `secretValue` is what applications call at every start, deploy and
autoscale event. Done step by step it was four ORM round trips before the
audit batch; here one statement reads everything the decision needs, and
the decision is made by the same pieces as on every other path:
`TokenAuthenticator.admit` (revoked, expired, maximum lifetime, throttle),
`Identity.may` over the one role table, the `DenialRecorder`, and
`SecretReader.reveal_loaded` (fail-closed audit). On SQLite nothing is
cached; on PostgreSQL the same decisions are made from the replica's read
cache (graphql_api.services.read_cache), which change notifications empty
before anything changed is read again. Either way a revoked token or a
removed role is refused by the very next read, on every replica.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from uuid import UUID

from graphql_api.errors import NotFound, Unauthenticated
from graphql_api.services.access import Authorizer, DenialRecorder, Identity, Permission
from graphql_api.services.audit import Actor
from graphql_api.services.read_cache import ReadCache
from graphql_api.services.secret_inputs import RevealedValue
from graphql_api.services.secret_reads import LoadedVersion, SecretReader
from graphql_api.services.tokens import (
    TOKEN_COLUMN_COUNT,
    TOKEN_COLUMNS,
    TokenAuthenticator,
    TokenRow,
    bearer_token,
    hash_token,
)
from graphql_api.sql import Sql
from models import Role

_READ = (
    f'SELECT {TOKEN_COLUMNS}, b."role", w."id",'
    ' s."name", s."is_active", s."current_version",'
    ' v."version", v."ciphertext", v."wrapped_key", v."backend", v."key_id", s."id"'
    ' FROM "api_token" t JOIN "principal" p ON p."id" = t."principal_id"'
    ' LEFT JOIN "role_binding" b ON b."principal_id" = t."principal_id" AND b."workspace_id" = ?'
    ' LEFT JOIN "workspace" w ON w."id" = ?'
    ' LEFT JOIN "secret" s ON s."id" = ? AND s."workspace_id" = ? AND s."destroyed_at" IS NULL'
    ' LEFT JOIN "secret_version" v ON v."secret_id" = s."id" AND v."version" = COALESCE(?, s."current_version")'
    ' WHERE t."token_hash" = ?'
)
_ROLE = TOKEN_COLUMN_COUNT
_WORKSPACE = TOKEN_COLUMN_COUNT + 1
_SECRET = TOKEN_COLUMN_COUNT + 2  # LoadedVersion's eight columns start here
_SECRET_ID = TOKEN_COLUMN_COUNT + 10


@dataclass(frozen=True)
class Caller:
    authorization: str | None = field(repr=False)
    ip_address: str | None
    user_agent: str | None


class ValueReader:
    def __init__(
        self,
        *,
        sql: Sql,
        authenticator: TokenAuthenticator,
        authorizer: Authorizer,
        denials: DenialRecorder,
        secrets: SecretReader,
        cache: ReadCache | None = None,
    ) -> None:
        self._sql = sql
        self._authenticator = authenticator
        self._authorizer = authorizer
        self._denials = denials
        self._secrets = secrets
        self._cache = cache

    async def read(
        self, caller: Caller, workspace_id: str, secret_id: UUID, version: int | None
    ) -> tuple[Identity, RevealedValue]:
        """Authenticate, authorize READ_VALUES and reveal; the errors are those
        of the general path (Context.authorize, then SecretReader.reveal)."""
        if self._cache is not None and self._cache.active:
            return await self._read_cached(caller, workspace_id, secret_id, version)
        dialect = self._sql.dialect
        with self._authenticator.throttled(caller.ip_address):
            token_hash = hash_token(bearer_token(caller.authorization))
            row = await self._sql.read_one(
                _READ, [workspace_id, workspace_id, dialect.uuid_param(secret_id), workspace_id, version, token_hash]
            )
            if row is None:
                raise Unauthenticated("invalid token")
            role = Role(row[_ROLE]) if row[_ROLE] is not None else None
            identity = self._authenticator.admit(
                token_hash, TokenRow.from_columns(row, dialect), {workspace_id: role} if role else {}
            )
        actor = Actor(identity.principal_id, caller.ip_address, caller.user_agent)
        secret_exists = row[_SECRET_ID] is not None
        if not identity.may(Permission.READ_VALUES, workspace_id):
            visible = secret_exists and identity.may(Permission.LIST_SECRETS, workspace_id)
            self._denials.record(workspace_id, Permission.READ_VALUES, actor, secret_id=secret_id if visible else None)
            raise Authorizer.refusal(Permission.READ_VALUES, workspace_id)
        if identity.is_superadmin and row[_WORKSPACE] is None:
            raise NotFound(f"workspace {workspace_id!r} does not exist")
        loaded = LoadedVersion.from_row(row, dialect, offset=_SECRET) if secret_exists else None
        revealed = await self._secrets.reveal_loaded(workspace_id, secret_id, version, actor, loaded)
        return identity, revealed

    async def _read_cached(
        self, caller: Caller, workspace_id: str, secret_id: UUID, version: int | None
    ) -> tuple[Identity, RevealedValue]:
        """The same decisions, from what this replica holds (graphql_api.
        services.read_cache): with everything at hand, no round trip at all
        before the audit batch."""
        identity = await self._authenticator.authenticate(caller.authorization, caller.ip_address)
        actor = Actor(identity.principal_id, caller.ip_address, caller.user_agent)
        if not identity.may(Permission.READ_VALUES, workspace_id):
            visible = identity.may(Permission.LIST_SECRETS, workspace_id) and (
                await self._secrets.exists(workspace_id, secret_id)
            )
            self._denials.record(workspace_id, Permission.READ_VALUES, actor, secret_id=secret_id if visible else None)
            raise Authorizer.refusal(Permission.READ_VALUES, workspace_id)
        if identity.is_superadmin and not await self._authorizer.workspace_exists(workspace_id):
            raise NotFound(f"workspace {workspace_id!r} does not exist")
        loaded = await self._secrets.load_version(workspace_id, secret_id, version)
        revealed = await self._secrets.reveal_loaded(workspace_id, secret_id, version, actor, loaded)
        return identity, revealed
