"""Domain errors, each with the one public code it maps to, and the list of
every other exception class of the codebase.

The tree (every class carries ``code``, the GraphQL ``extensions.code``)::

    StrongroomError
    ├── Unauthenticated        UNAUTHENTICATED   no, bad, expired or revoked token
    ├── Forbidden              FORBIDDEN         authenticated, not allowed here
    ├── NotFound               NOT_FOUND         absent, destroyed, or not visible
    ├── BadUserInput           BAD_USER_INPUT    names the offending field
    ├── Conflict               CONFLICT          duplicate name, stale expectedVersion
    │   └── RotationCheckFailed                  a two-phase rotation's apply/check raised
    ├── BackendUnavailable     BACKEND_UNAVAILABLE  encryption backend down or refusing
    ├── AuditUnavailable       AUDIT_UNAVAILABLE    audit event could not be committed
    └── RateLimited            RATE_LIMITED
        └── SubscriberOverflow (graphql_api.events)  a live subscriber fell too far behind

Anything else raised while serving a request is a bug or an outage: it is
logged server-side and reaches the client as INTERNAL with a fixed message.

Messages are shown to clients verbatim, so they must never contain a secret
value, a key or a token; they name fields and ids instead.

Outside the tree are the exceptions that never reach a GraphQL client as
such; every one is named in `OUTSIDE_THE_TREE` below, and
tests/test_errors_tree.py fails for an exception class that is neither in the
tree nor listed there. The main ones:

- `ConfigError(variable, message)` (defined in graphql_api.client.errors,
  re-exported as graphql_api.settings.ConfigError, plugins.ConfigError and
  graphql_api.client.ClientConfigError): bad configuration, naming the
  variable; start-up or the command stops with one line.
  `plugins.manager.PluginFailed` is the ConfigError of a plugin that raised
  anything else while loading: it names the plugin and the exception's type.
- `plugins.KeyUnavailable`: raised by encryption backends; the envelope maps
  it (and any backend exception) to BackendUnavailable.
- The client's `StrongroomAPIError` (the server's code, seen by the client).
"""

from __future__ import annotations

from typing import ClassVar


class StrongroomError(Exception):
    code: ClassVar[str] = "INTERNAL"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    @property
    def extensions(self) -> dict[str, object]:
        return {"code": self.code}


class Unauthenticated(StrongroomError):
    code = "UNAUTHENTICATED"


class Forbidden(StrongroomError):
    code = "FORBIDDEN"


class NotFound(StrongroomError):
    code = "NOT_FOUND"


class BadUserInput(StrongroomError):
    code = "BAD_USER_INPUT"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field

    @property
    def extensions(self) -> dict[str, object]:
        return {"code": self.code, "field": self.field}


class Conflict(StrongroomError):
    code = "CONFLICT"


class BackendUnavailable(StrongroomError):
    code = "BACKEND_UNAVAILABLE"


class AuditUnavailable(StrongroomError):
    code = "AUDIT_UNAVAILABLE"


class RotationCheckFailed(Conflict):
    """A two-phase rotation's `apply` or `check` raised: the staged version is
    FAILED and the current value is unchanged. The message names the secret,
    the version and the reason (the type of a plugin's exception, never its
    text)."""

    def __init__(self, message: str, *, secret_id: str, version: int, reason: str) -> None:
        super().__init__(message)
        self.secret_id = secret_id
        self.version = version
        self.reason = reason


class RateLimited(StrongroomError):
    code = "RATE_LIMITED"


INTERNAL_CODE = "INTERNAL"
INTERNAL_MESSAGE = "Internal server error."

#: Every exception class of the codebase outside the StrongroomError tree, by
#: dotted name (names, not imports: this module stays free of dependencies).
#: tests/test_errors_tree.py keeps this list and the code in step.
OUTSIDE_THE_TREE: tuple[str, ...] = (
    # Configuration: one class, four names (see the module docstring).
    "graphql_api.client.errors.ConfigError",
    "plugins.manager.PluginFailed",
    # Plugin interfaces and builtins.
    "plugins.interfaces.KeyUnavailable",
    "plugins.builtin.notifiers.WebhookDeliveryError",
    "plugins.retries.DeliveryFailure",
    "plugins.retries.RetriesExhausted",
    "plugins.retries._Retry",
    # The client and the command line: never raised by the server.
    "graphql_api.client.errors.StrongroomAPIError",
    "graphql_api.client.checkpoint.CheckpointError",
    "graphql_api.client.dotenv.DotenvError",
    "graphql_api.cli.output.CliError",
    "graphql_api.cli.fallback.FallbackError",
    "graphql_api.cli.formats.FormatError",
    "graphql_api.cli.supervisor.SpawnError",
    # Transport: answered with an HTTP status or a websocket close code.
    "graphql_api.http.RequestProblem",
    # Services: internal; their callers map them to a tree error (or INTERNAL).
    "graphql_api.services.audit.MissingChain",
    # Control flow, private to their module.
    "graphql_api.client.dotenv._Problem",
    "graphql_api.services.key_rotation._JobClosed",
    "graphql_api.websocket._Close",
)
