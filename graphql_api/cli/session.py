"""One invocation's shared state: where the client connects, and what must
never be printed.

Every client command gets its client from `client()`, configured once from
the profile (`--profile` / STRONGROOM_PROFILE) over STRONGROOM_URL and
STRONGROOM_TOKEN; the token and every value a command handles go into
`redactor`, through which every error line passes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated

import typer

from graphql_api.client import ClientSettings
from graphql_api.client.errors import Redactor

if TYPE_CHECKING:
    from graphql_api.client import Strongroom


@dataclass
class Session:
    profile: str | None = None
    redactor: Redactor = field(default_factory=Redactor)

    def settings(self) -> ClientSettings:
        settings = ClientSettings.load(profile=self.profile)
        self.redactor.add(settings.token)
        return settings

    def client(self, timeout: float = 30.0) -> Strongroom:
        # Imported here: httpx is for the commands that talk to a server, and
        # `strongroom serve` starts faster without it (issue 10's cold start).
        from graphql_api.client import Strongroom

        settings = self.settings()
        return Strongroom(settings.url, settings.token, timeout=timeout)

    def hide(self, *values: str) -> None:
        self.redactor.add(*values)


SESSION = Session()


def client(timeout: float = 30.0) -> Strongroom:
    return SESSION.client(timeout)


# -- options many commands share ---------------------------------------------------

WorkspaceOption = Annotated[
    str,
    typer.Option(
        "--workspace",
        "-w",
        envvar="STRONGROOM_WORKSPACE",
        metavar="W",
        help="Workspace id (default: STRONGROOM_WORKSPACE).",
        show_default=False,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts instead of a table.")]
