"""Input rules shared by every entry point (GraphQL, CLI, import).

Each check raises BadUserInput naming the field, before anything is written.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from typing import Any

from graphql_api.errors import BadUserInput

SECRET_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
WORKSPACE_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
MAX_VALUE_BYTES = 64 * 1024
MAX_TAGS = 50
MAX_TAG_LENGTH = 64
MAX_METADATA_BYTES = 16 * 1024
MAX_USAGE_LENGTH = 1000
MAX_WORKSPACE_NAME_LENGTH = 200
MAX_PRINCIPAL_NAME_LENGTH = 128


def is_secret_name(name: str) -> bool:
    return SECRET_NAME.fullmatch(name) is not None


def secret_name(name: str, field: str = "input.name") -> str:
    if not SECRET_NAME.fullmatch(name):
        raise BadUserInput(
            field,
            "must start with a letter or underscore and contain only letters, digits and "
            "underscores, at most 128 characters",
        )
    return name


def workspace_id(value: str, field: str = "workspaceId") -> str:
    if not WORKSPACE_ID.fullmatch(value):
        raise BadUserInput(
            field,
            "must be 1 to 63 lowercase letters, digits, '-' or '_', starting with a letter or digit",
        )
    return value


def workspace_name(value: str | None, default: str, field: str = "name") -> str:
    if value is None:
        return default
    stripped = value.strip()
    if not stripped or len(stripped) > MAX_WORKSPACE_NAME_LENGTH:
        raise BadUserInput(field, f"must be 1 to {MAX_WORKSPACE_NAME_LENGTH} characters")
    return stripped


def secret_value(value: str, field: str = "input.value") -> str:
    # Never include the value (or any part of it) in the message.
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError:
        raise BadUserInput(field, "is not valid UTF-8 text") from None
    if size > MAX_VALUE_BYTES:
        raise BadUserInput(field, f"is {size} bytes of UTF-8; the limit is {MAX_VALUE_BYTES}")
    return value


def usage(value: str | None, field: str = "input.usage") -> str | None:
    if value is not None and len(value) > MAX_USAGE_LENGTH:
        raise BadUserInput(field, f"is {len(value)} characters; the limit is {MAX_USAGE_LENGTH}")
    return value


def tags(values: Sequence[str] | None, field: str = "input.tags") -> list[str]:
    if values is None:
        return []
    if len(values) > MAX_TAGS:
        raise BadUserInput(field, f"has {len(values)} tags; the limit is {MAX_TAGS}")
    cleaned: list[str] = []
    for position, tag in enumerate(values):
        if not tag or not tag.strip():
            raise BadUserInput(f"{field}[{position}]", "must not be empty")
        if len(tag) > MAX_TAG_LENGTH:
            raise BadUserInput(f"{field}[{position}]", f"is longer than {MAX_TAG_LENGTH} characters")
        if any(ord(ch) < 32 for ch in tag):
            raise BadUserInput(f"{field}[{position}]", "must not contain control characters")
        if tag not in cleaned:
            cleaned.append(tag)
    return cleaned


def metadata(value: Any, field: str = "input.metadata") -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadUserInput(field, "must be a JSON object")
    try:
        size = len(json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8"))
    except (TypeError, ValueError, UnicodeEncodeError, RecursionError):
        raise BadUserInput(field, "must be plain JSON") from None
    if not _exact_json(value, 0):
        raise BadUserInput(
            field,
            f"numbers must be finite, integers within ±2^53 (what JSON keeps exactly), nesting at most {MAX_METADATA_DEPTH}",
        )
    if size > MAX_METADATA_BYTES:
        raise BadUserInput(field, f"is {size} bytes as JSON; the limit is {MAX_METADATA_BYTES}")
    return value


MAX_METADATA_DEPTH = 32
MAX_EXACT_INTEGER = 2**53


def _exact_json(value: Any, depth: int) -> bool:
    """Every number survives a round trip through any JSON reader exactly."""
    if depth > MAX_METADATA_DEPTH:
        return False
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return True
    if isinstance(value, int):
        return -MAX_EXACT_INTEGER <= value <= MAX_EXACT_INTEGER
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(_exact_json(v, depth + 1) for v in value.values())
    if isinstance(value, list):
        return all(_exact_json(v, depth + 1) for v in value)
    return False


def is_workspace_id(value: str) -> bool:
    return WORKSPACE_ID.fullmatch(value) is not None


def principal_name(value: str, field: str = "name") -> str:
    stripped = value.strip()
    if not stripped or len(stripped) > MAX_PRINCIPAL_NAME_LENGTH or any(ord(c) < 32 for c in stripped):
        raise BadUserInput(field, f"must be 1 to {MAX_PRINCIPAL_NAME_LENGTH} printable characters")
    return stripped
