"""API tokens: made, stored as SHA-256, checked on every operation.

A token is ``sr_`` plus 43 characters of url-safe base64 (32 random bytes).
Only its SHA-256 is stored; lookup is by that digest, so the time a check
takes does not depend on how much of a guessed token matches a real one.

Tokens form a tree, as in Vault: a token minted through the API records the
token that minted it (`parent`). A minted token never outlives its parent
(its expiry is at most the parent's), and revoking a token revokes every
token below it in the same transaction. `STRONGROOM_MAX_TOKEN_TTL` bounds the
life of every token except the bootstrap superadmin's, also at check time, so
lowering it takes effect for tokens that already exist.

Every operation (each HTTP request, each operation on a websocket) looks its
token up with one query that also reads the principal and its bindings. On
SQLite that query runs every time; on PostgreSQL its answer may come from the
replica's read cache (graphql_api.services.read_cache), which is never
time-based: every change to tokens, roles or principals is pushed to every
replica by NOTIFY and drops the entry before it can be served again. So a
revoked or expired token, or a removed role, is refused from the next
operation on, whichever replica serves it.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, cast
from uuid import UUID, uuid4

from tortoise.backends.base.client import BaseDBAsyncClient

from graphql_api.errors import Unauthenticated
from graphql_api.services.access import Identity
from graphql_api.services.read_cache import ReadCache
from graphql_api.services.throttle import FailureThrottle
from graphql_api.sql import Dialect, Sql
from models import ApiToken, Role

TOKEN_PREFIX = "sr_"
DISPLAY_PREFIX_LENGTH = 8
# Recording last use on every request would turn every read into a write.
LAST_USED_RESOLUTION = timedelta(minutes=1)
# Longer Authorization values are refused before any lookup (a token is 46).
MAX_AUTHORIZATION_LENGTH = 512


def generate_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", errors="surrogatepass")).hexdigest()


def display_prefix(token: str) -> str:
    return token[:DISPLAY_PREFIX_LENGTH]


def bearer_token(authorization: str | None) -> str:
    if not authorization:
        raise Unauthenticated("missing Authorization header: send `Authorization: Bearer <token>`")
    if len(authorization) > MAX_AUTHORIZATION_LENGTH:
        raise Unauthenticated("the Authorization header is too long to hold a token")
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("the Authorization header must be `Bearer <token>`")
    return token.strip()


async def issue_token(
    principal_id: UUID,
    name: str,
    *,
    expires_at: datetime | None = None,
    token: str | None = None,
    parent_id: UUID | None = None,
    bootstrap: bool = False,
    using_db: BaseDBAsyncClient | None = None,
) -> tuple[str, ApiToken]:
    """Create a token row; the returned token string is shown once and never stored."""
    token = token or generate_token()
    row = await ApiToken.create(
        id=uuid4(),
        principal_id=principal_id,
        name=name,
        token_hash=hash_token(token),
        prefix=display_prefix(token),
        expires_at=expires_at,
        parent_id=parent_id,
        bootstrap=bootstrap,
        using_db=using_db,
    )
    return token, row


@dataclass(frozen=True)
class TokenPolicy:
    """How long tokens may live (None: no maximum)."""

    max_ttl: timedelta | None = None

    def effective_expiry(self, expires_at: datetime | None, created_at: datetime, bootstrap: bool) -> datetime | None:
        if self.max_ttl is None or bootstrap:
            return expires_at
        bound = created_at + self.max_ttl
        return bound if expires_at is None or expires_at > bound else expires_at


# The columns of a token and its principal, in the order TokenRow reads them.
TOKEN_COLUMNS = (
    't."id", t."principal_id", t."expires_at", t."revoked_at", t."last_used_at", t."created_at",'
    ' t."bootstrap", p."name", p."is_superadmin"'
)
TOKEN_COLUMN_COUNT = 9

_AUTHENTICATE = (
    f'SELECT {TOKEN_COLUMNS}, b."workspace_id", b."role"'
    ' FROM "api_token" t JOIN "principal" p ON p."id" = t."principal_id"'
    ' LEFT JOIN "role_binding" b ON b."principal_id" = t."principal_id"'
    ' WHERE t."token_hash" = ?'
)


@dataclass(frozen=True, slots=True)
class TokenRow:
    """A token found by its hash, with its principal."""

    id: UUID
    principal_id: UUID
    expires_at: datetime | None
    revoked: bool
    last_used_at: datetime | None
    created_at: datetime
    bootstrap: bool
    principal_name: str
    is_superadmin: bool

    @classmethod
    def from_columns(cls, row: Sequence[Any], dialect: Dialect) -> TokenRow:
        token_id, principal_id, created_at = dialect.uuid(row[0]), dialect.uuid(row[1]), dialect.datetime(row[5])
        assert token_id is not None and principal_id is not None and created_at is not None  # NOT NULL columns
        return cls(
            id=token_id,
            principal_id=principal_id,
            expires_at=dialect.datetime(row[2]),
            revoked=row[3] is not None,
            last_used_at=dialect.datetime(row[4]),
            created_at=created_at,
            bootstrap=dialect.boolean(row[6]),
            principal_name=str(row[7]),
            is_superadmin=dialect.boolean(row[8]),
        )


class TokenAuthenticator:
    """Checks a bearer token on every operation, with no cache."""

    def __init__(
        self,
        now: Callable[[], datetime],
        sql: Sql,
        policy: TokenPolicy,
        touch: Callable[[UUID, datetime], None],
        throttle: FailureThrottle | None = None,
    ) -> None:
        self._now = now
        self._sql = sql
        self.policy = policy
        self._touch = touch
        self.throttle = throttle or FailureThrottle(now)
        # Set on PostgreSQL (graphql_api.services.read_cache): tokens read before.
        self.cache: ReadCache | None = None

    async def authenticate(self, authorization: str | None, address: str | None = None) -> Identity:
        """The identity behind `Authorization`; failures count against `address`."""
        with self.throttled(address):
            return await self.authenticate_hash(hash_token(bearer_token(authorization)))

    @contextmanager
    def throttled(self, address: str | None) -> Iterator[None]:
        """Refuse an address that failed too often; count this failure if it fails."""
        self.throttle.check(address)
        try:
            yield
        except Unauthenticated:
            self.throttle.record_failure(address)
            raise

    async def authenticate_hash(self, token_hash: str) -> Identity:
        cached = self.cache.token(token_hash) if self.cache is not None else None
        if cached is not None:
            held_token, held_roles = cast(tuple[TokenRow, dict[str, Role]], cached)  # what keep_token got below
            return self.admit(token_hash, held_token, held_roles)
        ticket = self.cache.ticket() if self.cache is not None else None
        rows = await self._sql.read(_AUTHENTICATE, [token_hash])
        if not rows:
            raise Unauthenticated("invalid token")
        token = TokenRow.from_columns(rows[0], self._sql.dialect)
        roles = {str(row[9]): Role(row[10]) for row in rows if row[9] is not None}
        identity = self.admit(token_hash, token, roles)
        if self.cache is not None and ticket is not None:
            self.cache.keep_token(ticket, token_hash, token.principal_id, (self._touched(token), roles))
        return identity

    def _touched(self, token: TokenRow) -> TokenRow:
        """The row as it is once its last use is recorded (what a cached copy must say)."""
        now = self._now()
        if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
            return replace(token, last_used_at=now)
        return token

    def admit(self, token_hash: str, token: TokenRow, roles: Mapping[str, Role]) -> Identity:
        """The identity of a token found by its hash, if it may be used now;
        else Unauthenticated (revoked, expired, past the maximum lifetime)."""
        now = self._now()
        if token.revoked:
            raise Unauthenticated("this token was revoked")
        expiry = self.policy.effective_expiry(token.expires_at, token.created_at, token.bootstrap)
        if expiry is not None and expiry <= now:
            raise Unauthenticated("this token has expired")
        if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
            self._touch(token.id, now)
            if self.cache is not None:
                self.cache.refresh_token(token_hash, replace(token, last_used_at=now))
        return Identity(
            principal_id=token.principal_id,
            name=token.principal_name,
            is_superadmin=token.is_superadmin,
            roles=roles,
            token_id=token.id,
            token_hash=token_hash,
            expires_at=expiry,
        )
