"""Who may do what: workspaces, principals, API tokens and role bindings.

    strongroom workspace list | create ID [--name NAME]
    strongroom principal create NAME [--role WORKSPACE:ROLE ...] [--superadmin]
    strongroom principal list [--workspace W]
    strongroom token create --principal ID --name NAME [--expires ISO8601]
    strongroom token list --principal ID
    strongroom token revoke TOKEN_ID
    strongroom role grant PRINCIPAL_ID WORKSPACE ROLE
    strongroom role revoke PRINCIPAL_ID WORKSPACE

`token create` prints the new token alone on stdout, once: the only secret
these commands ever print.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer

from graphql_api.cli import output
from graphql_api.cli.choices import Role
from graphql_api.cli.session import JsonOption, client
from graphql_api.client import ApiToken, Principal

ROLES = ", ".join(role.value for role in Role)

workspace_app = typer.Typer(help="Workspaces (tenants).", no_args_is_help=True)
principal_app = typer.Typer(help="Principals: the people and services tokens belong to.", no_args_is_help=True)
token_app = typer.Typer(help="API tokens.", no_args_is_help=True)
role_app = typer.Typer(help="Role bindings: a principal's role in a workspace.", no_args_is_help=True)


def _bindings(principal: Principal) -> str:
    return ", ".join(f"{b.workspace_id}:{b.role}" for b in principal.bindings) or "-"


def _role_bindings(values: list[str] | None) -> list[str]:
    for text in values or []:
        workspace, sep, role = text.rpartition(":")
        if not sep or not workspace or role.upper() not in Role.__members__:
            raise typer.BadParameter(f"expected WORKSPACE:ROLE with ROLE one of {ROLES} (got {text!r})")
    return values or []


def _timestamp(text: str | None) -> datetime | None:
    """ISO 8601; without an offset it is UTC."""
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter("expected an ISO 8601 time, e.g. 2030-01-31T12:00:00Z") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


# -- workspaces ---------------------------------------------------------------------


@workspace_app.command("list")
def workspace_list(json: JsonOption = False) -> None:
    """The workspaces this token may see."""
    with client() as sr:
        workspaces = sr.workspaces()
    if json:
        output.print_json([w.to_json() for w in workspaces])
        return
    output.table(("ID", "NAME", "CREATED"), [(w.id, w.name, output.when(w.created_at)) for w in workspaces])


@workspace_app.command("create")
def workspace_create(
    id: Annotated[str, typer.Argument(metavar="ID", help="Slug: lowercase letters, digits, - and _.")],
    name: Annotated[str | None, typer.Option(help="Display name (default: the id).")] = None,
) -> None:
    """Create a workspace (superadmin)."""
    with client() as sr:
        workspace = sr.create_workspace(id, name)
    print(f"created workspace {workspace.id} ({workspace.name})")


# -- principals ---------------------------------------------------------------------


@principal_app.command("create")
def principal_create(
    name: Annotated[str, typer.Argument(metavar="NAME")],
    role: Annotated[
        list[str] | None,
        typer.Option(
            metavar="WORKSPACE:ROLE", callback=_role_bindings, help=f"A role binding, repeatable; ROLE: {ROLES}."
        ),
    ] = None,
    superadmin: Annotated[bool, typer.Option(help="May do everything (only a superadmin may grant it).")] = False,
    json: JsonOption = False,
) -> None:
    """Create a principal; prints its id first."""
    bindings = [(w, r.upper()) for w, _, r in (text.rpartition(":") for text in role or [])]
    with client() as sr:
        principal = sr.create_principal(name, bindings, superadmin=superadmin)
    if json:
        output.print_json(principal.to_json())
        return
    print(principal.id)
    print(f"  name: {principal.name}")
    print(f"  superadmin: {output.yes_no(principal.is_superadmin)}")
    print(f"  bindings: {_bindings(principal)}")


@principal_app.command("list")
def principal_list(
    workspace: Annotated[
        str | None, typer.Option("--workspace", "-w", metavar="W", help="Only those bound to W.")
    ] = None,
    json: JsonOption = False,
) -> None:
    """Principals: all (superadmin), or those bound to one workspace (its ADMIN)."""
    with client() as sr:
        principals = sr.principals(workspace)
    if json:
        output.print_json([p.to_json() for p in principals])
        return
    output.table(
        ("ID", "NAME", "SUPERADMIN", "BINDINGS"),
        [(p.id, p.name, output.yes_no(p.is_superadmin), _bindings(p)) for p in principals],
    )


# -- tokens ---------------------------------------------------------------------------


@token_app.command("create")
def token_create(
    principal: Annotated[str, typer.Option(metavar="ID", help="The principal's id.")],
    name: Annotated[str, typer.Option(help="What the token is for.")],
    expires: Annotated[
        str | None, typer.Option(metavar="ISO8601", help="Expiry time (UTC when it has no offset).")
    ] = None,
) -> None:
    """Create an API token; prints it alone on stdout, this once (only its hash is stored)."""
    expires_at = _timestamp(expires)
    with client() as sr:
        created = sr.create_token(principal, name, expires_at)
    # The only secret the command line prints: alone on stdout, once.
    print(created.token, flush=True)
    row = created.api_token
    output.note(
        f"token {row.id} ({row.name!r}, expires {output.when(row.expires_at)}) for principal {row.principal_id}; "
        "it is shown this once and only its hash is stored, so keep it now"
    )


def _token_row(token: ApiToken) -> tuple[str, ...]:
    return (
        token.id,
        token.name,
        token.prefix + "…",
        output.when(token.created_at),
        output.when(token.expires_at),
        output.when(token.last_used_at),
        output.yes_no(token.revoked),
    )


@token_app.command("list")
def token_list(
    principal: Annotated[str, typer.Option(metavar="ID", help="The principal's id.")],
    json: JsonOption = False,
) -> None:
    """A principal's API tokens (their first characters, never the tokens)."""
    with client() as sr:
        tokens = sr.tokens(principal)
    if json:
        output.print_json([t.to_json() for t in tokens])
        return
    output.table(
        ("ID", "NAME", "PREFIX", "CREATED", "EXPIRES", "LAST USED", "REVOKED"), [_token_row(t) for t in tokens]
    )


@token_app.command("revoke")
def token_revoke(token_id: Annotated[str, typer.Argument(metavar="TOKEN_ID")]) -> None:
    """Revoke an API token (and every token minted with it)."""
    with client() as sr:
        token = sr.revoke_token(token_id)
    print(f"revoked token {token.id} ({token.name!r}, {token.prefix}…) of principal {token.principal_id}")


# -- roles ------------------------------------------------------------------------------


@role_app.command("grant")
def role_grant(
    principal_id: Annotated[str, typer.Argument(metavar="PRINCIPAL_ID")],
    workspace: Annotated[str, typer.Argument(metavar="WORKSPACE")],
    role: Annotated[Role, typer.Argument(metavar="ROLE", case_sensitive=False, help=ROLES)],
) -> None:
    """Give a principal a role in a workspace (replacing its role there)."""
    with client() as sr:
        principal = sr.grant_role(principal_id, workspace, role.value)
    print(f"{principal.id} ({principal.name}): {_bindings(principal)}")


@role_app.command("revoke")
def role_revoke(
    principal_id: Annotated[str, typer.Argument(metavar="PRINCIPAL_ID")],
    workspace: Annotated[str, typer.Argument(metavar="WORKSPACE")],
) -> None:
    """Remove a principal's role in a workspace."""
    with client() as sr:
        principal = sr.revoke_role(principal_id, workspace)
    print(f"{principal.id} ({principal.name}): {_bindings(principal)}")
