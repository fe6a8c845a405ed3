"""Importing a `.env` file into a workspace, all or nothing.

Values are sealed first (outside any transaction); then one transaction
creates the new secrets, adds versions to the ones overwritten and records an
IMPORTED event for each. If anything fails, nothing is written.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID, uuid4

from tortoise.exceptions import IntegrityError

from graphql_api.errors import Conflict
from graphql_api.services import validation
from graphql_api.services.audit import Actor, AuditLog, AuditRecord
from graphql_api.services.dotenv import parse_dotenv
from graphql_api.services.envelope import Envelope, SealedValue
from graphql_api.services.secrets import SecretService
from models import AuditAction, Secret, SecretType


@dataclass(frozen=True)
class ImportOutcome:
    created: int
    updated: int
    skipped: int
    secrets: list[Secret]


@dataclass(frozen=True)
class _Planned:
    name: str
    sealed: SealedValue
    existing: Secret | None  # None: a new secret
    secret_id: UUID


class DotenvImporter:
    def __init__(self, *, secrets: SecretService, envelope: Envelope, audit: AuditLog) -> None:
        self._secrets = secrets
        self._envelope = envelope
        self._audit = audit

    async def import_dotenv(self, workspace_id: str, text: str, overwrite: bool, actor: Actor) -> ImportOutcome:
        entries = parse_dotenv(text)
        for entry in entries:
            validation.secret_name(entry.name, f"dotenv (line {entry.line})")
            validation.secret_value(entry.value, f"dotenv (line {entry.line})")
        names = [entry.name for entry in entries]
        existing = {
            s.name: s for s in await Secret.filter(workspace_id=workspace_id, name__in=names, destroyed_at=None)
        }
        planned: list[_Planned] = []
        skipped = 0
        for entry in entries:
            current = existing.get(entry.name)
            if current is not None and (not overwrite or not current.is_active):
                skipped += 1
                continue
            secret_id = current.id if current else uuid4()
            backend = self._envelope.backends.for_write(current.encryption_backend if current else None, "dotenv")
            sealed = await self._envelope.seal(
                entry.value,
                backend=backend,
                workspace_id=workspace_id,
                secret_id=secret_id,
                version=current.last_version + 1 if current else 1,
            )
            planned.append(_Planned(entry.name, sealed, current, secret_id))

        written: list[Secret] = []
        try:
            async with self._audit.transaction() as connection:
                for plan in planned:
                    if plan.existing is None:
                        secret = await self._secrets.insert_secret(
                            connection,
                            secret_id=plan.secret_id,
                            workspace_id=workspace_id,
                            name=plan.name,
                            secret_type=SecretType.GENERIC,
                            usage=None,
                            tags=[],
                            metadata={},
                            policy=None,
                            sealed=plan.sealed,
                            actor=actor,
                        )
                    else:
                        secret = await Secret.select_for_update().using_db(connection).get(id=plan.secret_id)
                        if secret.last_version != plan.existing.last_version or not secret.is_active:
                            raise Conflict(f"secret {plan.name!r} changed during the import; nothing was imported, try again")
                        await self._secrets.append_version(secret, plan.sealed, actor, connection)
                    await self._audit.append(
                        AuditRecord(
                            workspace_id,
                            AuditAction.IMPORTED,
                            actor,
                            secret.id,
                            details={
                                "name": plan.name,
                                "version": secret.current_version,
                                "outcome": "created" if plan.existing is None else "updated",
                            },
                        ),
                        connection,
                    )
                    written.append(secret)
        except IntegrityError:
            raise Conflict("a secret of this file was created meanwhile; nothing was imported, try again") from None
        created = sum(1 for plan in planned if plan.existing is None)
        return ImportOutcome(created=created, updated=len(planned) - created, skipped=skipped, secrets=written)

