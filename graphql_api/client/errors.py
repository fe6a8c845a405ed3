"""What the client raises.

Every failure talking to a server is a StrongroomAPIError whose `code` is the
server's `extensions.code` (UNAVAILABLE when the server could not be reached
or answered something that is not GraphQL). Bad client configuration is a
ClientConfigError naming the variable (or flag) to fix. Neither ever carries
the token or a secret value: messages pass through `Redactor` first.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

UNAVAILABLE = "UNAVAILABLE"
REDACTED = "**********"
# Values shorter than this are not scrubbed out of messages: replacing every
# "1" or "true" would garble messages while protecting nothing.
MIN_REDACTED_LENGTH = 4


class ConfigError(ValueError):
    """Bad configuration: `variable` names the variable (or flag) to fix.

    The one configuration error of the project: the client raises it as
    `ClientConfigError`, the server's settings as `graphql_api.settings.
    ConfigError` and plugins as `plugins.ConfigError` (all this class). It
    lives here because the client imports nothing of the server. The message
    says what is wrong and never echoes a key or token. A ValueError, so code
    written against the older `ValueError("VARIABLE: ...")` convention still
    catches it.
    """

    def __init__(self, variable: str, message: str) -> None:
        super().__init__(f"{variable}: {message}")
        self.variable = variable
        self.message = message


#: The client's name for ConfigError (bad STRONGROOM_URL, --config file...).
ClientConfigError = ConfigError


class StrongroomAPIError(Exception):
    """The server refused (its `extensions.code`), or could not be reached (UNAVAILABLE)."""

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.field = field

    def __repr__(self) -> str:
        return f"StrongroomAPIError(code={self.code!r}, message={self.message!r}, field={self.field!r})"


class Redactor:
    """Takes known secrets (the token, values seen) out of text before it reaches a message.

    The server never puts a value in a message; this is the second line, for
    proxies, transports and exception texts that might echo what they were sent.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: set[str] = set()
        self.add(*secrets)

    def add(self, *secrets: str) -> None:
        self._secrets.update(s for s in secrets if len(s) >= MIN_REDACTED_LENGTH)

    def __call__(self, text: str) -> str:
        # Longest first, so a secret that contains another is removed whole.
        for secret in sorted(self._secrets, key=len, reverse=True):
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text

    def __repr__(self) -> str:
        return f"Redactor(<{len(self._secrets)} hidden>)"


def api_error(errors: Sequence[Any], redact: Redactor) -> StrongroomAPIError:
    """The first GraphQL error of a response as a StrongroomAPIError."""
    first: Mapping[str, Any] = errors[0] if errors and isinstance(errors[0], Mapping) else {}
    raw_extensions = first.get("extensions")
    extensions: Mapping[str, Any] = raw_extensions if isinstance(raw_extensions, Mapping) else {}
    code = extensions.get("code")
    field_name = extensions.get("field")
    message = first.get("message")
    return StrongroomAPIError(
        code if isinstance(code, str) and code else "INTERNAL",
        redact(message if isinstance(message, str) else "the server reported an error"),
        field_name if isinstance(field_name, str) else None,
    )
