"""The README's access table, written out independently of
graphql_api/services/access.py: the roles, what each operation needs, and which
roles of a workspace may do it there (tests/test_access_matrix.py and
tests/test_access_isolation_property.py check the server against it)."""

from __future__ import annotations

from enum import Enum

ROLES = ("VIEWER", "READER", "WRITER", "AUDITOR", "ADMIN")
NONE = "NONE"  # bound only to another workspace ("gamma")
SUPERADMIN = "SUPERADMIN"
COLUMNS = (*ROLES, NONE, SUPERADMIN)


class Need(Enum):
    LIST = "list / metadata"
    VALUES = "read values"
    WRITE = "write"
    AUDIT = "read audit"
    DESTROY = "destroy"
    PRINCIPALS = "manage principals"
    SUPERADMIN = "superadmin only"
    ANY = "any authenticated principal"

    @property
    def scoped(self) -> bool:
        """Asked about one workspace (as opposed to the whole server)."""
        return self not in (Need.SUPERADMIN, Need.ANY)

    @property
    def permission_name(self) -> str | None:
        """The Permission an ACCESS_DENIED event names for this need."""
        return {
            Need.LIST: "LIST_SECRETS",
            Need.VALUES: "READ_VALUES",
            Need.WRITE: "WRITE_SECRETS",
            Need.AUDIT: "READ_AUDIT",
            Need.DESTROY: "DESTROY_SECRETS",
            Need.PRINCIPALS: "MANAGE_PRINCIPALS",
        }.get(self)


# The README's table, by need: which roles of a workspace may do it there.
ALLOWED_ROLES: dict[Need, frozenset[str]] = {
    Need.LIST: frozenset({"VIEWER", "READER", "WRITER", "ADMIN"}),
    Need.VALUES: frozenset({"READER", "WRITER", "ADMIN"}),
    Need.WRITE: frozenset({"WRITER", "ADMIN"}),
    Need.AUDIT: frozenset({"AUDITOR", "ADMIN"}),
    Need.DESTROY: frozenset({"ADMIN"}),
    Need.PRINCIPALS: frozenset({"ADMIN"}),
    Need.SUPERADMIN: frozenset(),
    Need.ANY: frozenset(COLUMNS),
}
