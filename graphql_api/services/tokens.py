"""API tokens: made, stored as SHA-256, checked on every request.

A token is ``sr_`` plus 43 characters of url-safe base64 (32 random bytes).
Only its SHA-256 is stored; lookup is by that digest, so the time a check
takes does not depend on how much of a guessed token matches a real one.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta
from uuid import UUID

from graphql_api.errors import Unauthenticated
from graphql_api.services.access import Identity
from graphql_api.services.throttle import FailureThrottle
from models import ApiToken, Principal, RoleBinding

TOKEN_PREFIX = "sr_"
DISPLAY_PREFIX_LENGTH = 8
# Recording last use on every request would turn every read into a write.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def generate_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def display_prefix(token: str) -> str:
    return token[:DISPLAY_PREFIX_LENGTH]


def bearer_token(authorization: str | None) -> str:
    if not authorization:
        raise Unauthenticated("missing Authorization header: send `Authorization: Bearer <token>`")
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("the Authorization header must be `Bearer <token>`")
    return token.strip()


async def issue_token(
    principal_id: UUID, name: str, *, expires_at: datetime | None = None, token: str | None = None
) -> tuple[str, ApiToken]:
    """Create a token row; the returned token string is shown once and never stored."""
    token = token or generate_token()
    row = await ApiToken.create(
        principal_id=principal_id,
        name=name,
        token_hash=hash_token(token),
        prefix=display_prefix(token),
        expires_at=expires_at,
    )
    return token, row


class TokenAuthenticator:
    """Checks a bearer token on every request, with no cache: a revoked or
    expired token is refused from the next request on."""

    def __init__(self, now: Callable[[], datetime], throttle: FailureThrottle | None = None) -> None:
        self._now = now
        self.throttle = throttle or FailureThrottle(now)

    async def authenticate(self, authorization: str | None, address: str | None = None) -> Identity:
        self.throttle.check(address)
        try:
            return await self._authenticate(authorization)
        except Unauthenticated:
            self.throttle.record_failure(address)
            raise

    async def _authenticate(self, authorization: str | None) -> Identity:
        token = bearer_token(authorization)
        row = await ApiToken.get_or_none(token_hash=hash_token(token)).select_related("principal")
        now = self._now()
        if row is None:
            raise Unauthenticated("invalid token")
        if row.revoked_at is not None:
            raise Unauthenticated("this token was revoked")
        if row.expires_at is not None and row.expires_at <= now:
            raise Unauthenticated("this token has expired")
        if row.last_used_at is None or now - row.last_used_at >= LAST_USED_RESOLUTION:
            await ApiToken.filter(id=row.id).update(last_used_at=now)
        principal: Principal = row.principal
        bindings = await RoleBinding.filter(principal_id=principal.id).values_list("workspace_id", "role")
        return Identity(
            principal_id=principal.id,
            name=principal.name,
            is_superadmin=principal.is_superadmin,
            roles={workspace: role for workspace, role in bindings},
            token_id=row.id,
        )
