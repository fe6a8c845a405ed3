"""Secret values as environment variables: names as stored, or prefixed.

    environment_variables(values, prefix="SECRET_")   # {"SECRET_STRIPE_API_KEY": "sk_..."}

An environment variable cannot hold a NUL character; such a value is refused
by name (never shown), instead of failing later inside exec.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from graphql_api.client.errors import ClientConfigError
from graphql_api.client.models import SecretValue

_PREFIX = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def check_prefix(prefix: str) -> str:
    if prefix and not _PREFIX.fullmatch(prefix):
        raise ClientConfigError("--prefix", "must be letters, digits and _, not starting with a digit")
    return prefix


def environment_variables(values: Iterable[SecretValue], prefix: str = "") -> dict[str, str]:
    """{prefix + name: value}, in the order given."""
    check_prefix(prefix)
    variables: dict[str, str] = {}
    for item in values:
        if "\0" in item.value:
            raise ClientConfigError(item.name, "its value holds a NUL character, which no environment variable can")
        variables[prefix + item.name] = item.value
    return variables
