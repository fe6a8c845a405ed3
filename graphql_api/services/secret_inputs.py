"""What the secret service takes and gives: inputs, pages, revealed values,
and the small parsing rules (ids, cursors, due dates) around them."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple
from uuid import UUID

from graphql_api.errors import BadUserInput
from graphql_api.services import validation
from models import RotationPolicy, Secret, SecretType


@dataclass(frozen=True)
class NewSecret:
    name: str
    secret_type: SecretType
    value: str
    usage: str | None = None
    rotation_policy: RotationPolicy | None = None
    tags: Sequence[str] | None = None
    metadata: Any = None
    encryption_backend: str | None = None

    def __repr__(self) -> str:  # the value must never reach a log
        return f"NewSecret(name={self.name!r}, secret_type={self.secret_type.value})"


@dataclass(frozen=True)
class SecretChanges:
    value: str | None = None
    usage: str | None = None
    tags: Sequence[str] | None = None
    metadata: Any = None
    rotation_policy: RotationPolicy | None = None
    expected_version: int | None = None
    # usage may be cleared explicitly; None above means "unchanged".
    clear_usage: bool = False

    def __repr__(self) -> str:
        return f"SecretChanges(value={'<set>' if self.value is not None else None}, expected_version={self.expected_version})"


@dataclass(frozen=True)
class SecretFilter:
    name_contains: str | None = None
    tags: Sequence[str] | None = None
    secret_type: SecretType | None = None
    include_inactive: bool = False


@dataclass(frozen=True)
class SecretPage:
    secrets: list[Secret]
    has_next_page: bool
    workspace_id: str
    filter: SecretFilter

    @property
    def end_cursor(self) -> str | None:
        return encode_cursor(self.secrets[-1]) if self.secrets else None


@dataclass(frozen=True, slots=True)
class SecretRecord:
    """A secret's metadata as just written, without an ORM instance (which
    costs more to build than the write's own statements)."""

    id: UUID
    workspace_id: str
    name: str | None
    secret_type: SecretType
    usage: str | None
    tags: list[str]
    metadata: dict[str, Any]
    rotation_policy: RotationPolicy
    last_rotated_at: datetime | None
    rotation_due_at: datetime | None
    is_active: bool
    current_version: int
    pending_version: int | None
    encryption_backend: str
    created_at: datetime
    updated_at: datetime
    created_by_user_id: UUID | None
    updated_by_user_id: UUID | None


class RevealedValue(NamedTuple):
    """A value read (a tuple: a bulk read makes hundreds, frozen dataclasses
    cost five times as much to build)."""

    secret_id: UUID
    name: str
    version: int
    value: str

    def __repr__(self) -> str:
        return f"RevealedValue(secret_id={self.secret_id}, name={self.name!r}, version={self.version})"


def encode_cursor(secret: Secret) -> str:
    return base64.urlsafe_b64encode(json.dumps({"n": secret.name}).encode()).decode()


MAX_CURSOR_LENGTH = 512


def decode_cursor(cursor: str, field: str = "after") -> str:
    """The secret name a cursor of `encode_cursor` carries; anything else
    (garbage, deep JSON, a name no secret could have) is BAD_USER_INPUT."""
    refusal = BadUserInput(field, "is not a cursor returned by this API")
    if len(cursor) > MAX_CURSOR_LENGTH:
        raise refusal
    try:
        document = json.loads(base64.urlsafe_b64decode(cursor.encode("ascii")))
        name = document["n"]
    except (binascii.Error, ValueError, KeyError, TypeError, UnicodeEncodeError, RecursionError):
        raise refusal from None
    if not isinstance(name, str) or not validation.is_secret_name(name):
        raise refusal
    return name


def parse_uuid(value: str, field: str, what: str = "an id") -> UUID:
    try:
        return UUID(str(value))
    except (ValueError, AttributeError, TypeError):
        raise BadUserInput(field, f"is not {what} (a UUID)") from None


def parse_secret_id(value: str, field: str = "id") -> UUID:
    return parse_uuid(value, field, "a secret id")


def due_date(policy: RotationPolicy, since: datetime) -> datetime | None:
    days = policy.days
    return None if days is None else since + timedelta(days=days)
