"""Strawberry input types, converted to service dataclasses by `to_domain`."""

from __future__ import annotations

from typing import TypeVar

import strawberry
from strawberry.scalars import JSON

from graphql_api.schema.types import Role, RotationPolicy, SecretType
from graphql_api.services import secret_inputs as domain

T = TypeVar("T")


@strawberry.input
class SecretFilter:
    name_contains: str | None = None
    tags: list[str] | None = None
    secret_type: SecretType | None = None
    include_inactive: bool | None = False

    def to_domain(self) -> domain.SecretFilter:
        return domain.SecretFilter(
            name_contains=self.name_contains,
            tags=self.tags,
            secret_type=self.secret_type,
            include_inactive=bool(self.include_inactive),
        )


@strawberry.input
class CreateSecretInput:
    name: str
    secret_type: SecretType
    value: str
    usage: str | None = None
    rotation_policy: RotationPolicy | None = None
    tags: list[str] | None = None
    metadata: JSON | None = None
    encryption_backend: str | None = None

    def __repr__(self) -> str:
        return f"CreateSecretInput(name={self.name!r})"

    def to_domain(self) -> domain.NewSecret:
        return domain.NewSecret(
            name=self.name,
            secret_type=self.secret_type,
            value=self.value,
            usage=self.usage,
            rotation_policy=self.rotation_policy,
            tags=self.tags,
            metadata=self.metadata,
            encryption_backend=self.encryption_backend,
        )


@strawberry.input
class UpdateSecretInput:
    value: str | None = strawberry.UNSET
    usage: str | None = strawberry.UNSET
    tags: list[str] | None = strawberry.UNSET
    metadata: JSON | None = strawberry.UNSET
    rotation_policy: RotationPolicy | None = strawberry.UNSET
    expected_version: int | None = strawberry.field(
        default=strawberry.UNSET,
        description="check-and-set: fail with CONFLICT unless currentVersion equals this",
    )

    def __repr__(self) -> str:
        return "UpdateSecretInput(...)"

    def to_domain(self) -> domain.SecretChanges:
        return domain.SecretChanges(
            value=_given(self.value),
            usage=_given(self.usage),
            # An explicit null clears usage; an omitted field leaves it alone.
            clear_usage=self.usage is None,
            tags=_given(self.tags),
            metadata=_given(self.metadata),
            rotation_policy=_given(self.rotation_policy),
            expected_version=_given(self.expected_version),
        )


def _given(value: T | None) -> T | None:
    """An omitted field (UNSET) as None, like an explicit null."""
    return None if value is strawberry.UNSET else value


@strawberry.input
class RoleBindingInput:
    workspace_id: strawberry.ID
    role: Role
