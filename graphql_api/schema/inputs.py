"""Strawberry input types, converted to service dataclasses by `to_domain`."""

from __future__ import annotations

import strawberry
from strawberry.scalars import JSON

from graphql_api.schema.types import Role, RotationPolicy, SecretType
from graphql_api.services import secret_inputs as domain


@strawberry.input
class SecretFilter:
    name_contains: str | None = None
    tags: list[str] | None = None
    secret_type: SecretType | None = None  # type: ignore[valid-type]
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
    secret_type: SecretType  # type: ignore[valid-type]
    value: str
    usage: str | None = None
    rotation_policy: RotationPolicy | None = None  # type: ignore[valid-type]
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
    rotation_policy: RotationPolicy | None = strawberry.UNSET  # type: ignore[valid-type]
    expected_version: int | None = strawberry.field(
        default=strawberry.UNSET,
        description="check-and-set: fail with CONFLICT unless currentVersion equals this",
    )

    def __repr__(self) -> str:
        return "UpdateSecretInput(...)"

    def to_domain(self) -> domain.SecretChanges:
        def given(value: object) -> object:
            return None if value is strawberry.UNSET else value

        return domain.SecretChanges(
            value=given(self.value),  # type: ignore[arg-type]
            usage=given(self.usage),  # type: ignore[arg-type]
            # An explicit null clears usage; an omitted field leaves it alone.
            clear_usage=self.usage is None,
            tags=given(self.tags),  # type: ignore[arg-type]
            metadata=given(self.metadata),
            rotation_policy=given(self.rotation_policy),  # type: ignore[arg-type]
            expected_version=given(self.expected_version),  # type: ignore[arg-type]
        )


@strawberry.input
class RoleBindingInput:
    workspace_id: strawberry.ID
    role: Role  # type: ignore[valid-type]
