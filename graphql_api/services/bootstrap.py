"""First start: the default workspace and one superadmin with a token."""

from __future__ import annotations

import logging

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from graphql_api.services.tokens import hash_token, issue_token
from graphql_api.services.workspaces import WorkspaceService
from models import ApiToken, Principal

logger = logging.getLogger("strongroom.access")

BOOTSTRAP_PRINCIPAL = "admin"
BOOTSTRAP_TOKEN_NAME = "bootstrap"


async def bootstrap(workspaces: WorkspaceService, fixed_token: str | None) -> str | None:
    """Make the first superadmin when the database has no principal.

    Returns the generated token, to be shown once, or None when nothing was
    generated (principals exist, or `fixed_token` was given by automation).
    """
    await workspaces.ensure_default()
    if await Principal.exists():
        return None
    try:
        async with in_transaction():
            principal = await Principal.create(name=BOOTSTRAP_PRINCIPAL, is_superadmin=True)
            token, _ = await issue_token(principal.id, BOOTSTRAP_TOKEN_NAME, token=fixed_token, bootstrap=True)
    except IntegrityError:
        return None  # another replica bootstrapped at the same moment
    logger.info("created superadmin principal %r", BOOTSTRAP_PRINCIPAL)
    return None if fixed_token else token


async def reset_bootstrap_token(token: str | None = None) -> str:
    """Recovery: a new token for the bootstrap superadmin (created if missing)."""
    from graphql_api.services.tokens import generate_token

    token = token or generate_token()
    async with in_transaction():
        principal, _ = await Principal.get_or_create(name=BOOTSTRAP_PRINCIPAL, defaults={"is_superadmin": True})
        if not principal.is_superadmin:
            principal.is_superadmin = True
            await principal.save(update_fields=["is_superadmin"])
        if await ApiToken.exists(token_hash=hash_token(token)):
            return token
        await issue_token(principal.id, BOOTSTRAP_TOKEN_NAME, token=token, bootstrap=True)
    return token
