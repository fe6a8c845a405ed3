"""Domain errors, each with the one public code it maps to.

The tree (every class carries ``code``, the GraphQL ``extensions.code``)::

    StrongroomError
    ├── Unauthenticated        UNAUTHENTICATED   no, bad, expired or revoked token
    ├── Forbidden              FORBIDDEN         authenticated, not allowed here
    ├── NotFound               NOT_FOUND         absent, destroyed, or not visible
    ├── BadUserInput           BAD_USER_INPUT    names the offending field
    ├── Conflict               CONFLICT          duplicate name, stale expectedVersion
    ├── BackendUnavailable     BACKEND_UNAVAILABLE  encryption backend down or refusing
    ├── AuditUnavailable       AUDIT_UNAVAILABLE    audit event could not be committed
    └── RateLimited            RATE_LIMITED

Anything else raised while serving a request is a bug or an outage: it is
logged server-side and reaches the client as INTERNAL with a fixed message.

Messages are shown to clients verbatim, so they must never contain a secret
value, a key or a token; they name fields and ids instead.
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


class RateLimited(StrongroomError):
    code = "RATE_LIMITED"


INTERNAL_CODE = "INTERNAL"
INTERNAL_MESSAGE = "Internal server error."
