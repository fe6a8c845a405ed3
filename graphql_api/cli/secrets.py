"""Everyday work on secrets, by name (or id).

    strongroom secrets list -w W [--contains TEXT] [--tag T ...] [--type T] [--all] [--json]
    strongroom secrets get NAME -w W [--version N] [--json] [--no-newline]
    strongroom secrets set NAME -w W [--from-file FILE] [--type T] [--policy P] [--tag T ...] [--usage TEXT]
    strongroom secrets rotate NAME -w W [--generate | --from-file FILE]
    strongroom secrets rollback NAME --to N -w W
    strongroom secrets delete NAME -w W      (soft: every version kept)
    strongroom secrets restore NAME -w W
    strongroom secrets history NAME -w W [--json]

A new value never comes from the command line itself (it would show in `ps`
and shell history): it is read from `--from-file` (exactly), from standard
input (one trailing line end removed), or typed at a hidden prompt.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from graphql_api.cli import output
from graphql_api.cli.choices import RotationPolicy, SecretType, value
from graphql_api.cli.output import CliError
from graphql_api.cli.session import SESSION, JsonOption, WorkspaceOption, client
from graphql_api.client import Secret

if TYPE_CHECKING:
    from graphql_api.client import Strongroom

secrets_app = typer.Typer(
    help="Secrets: list, read, set, rotate, roll back, delete, restore, history.", no_args_is_help=True
)

_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")

NameArgument = Annotated[str, typer.Argument(metavar="NAME", help="The secret's name (or id).")]
FromFileOption = Annotated[
    Path | None,
    typer.Option("--from-file", metavar="FILE", help="Read the value from FILE, byte for byte ('-': all of stdin)."),
]
TagOption = Annotated[list[str] | None, typer.Option("--tag", metavar="TAG", help="A tag, repeatable.")]


def find(sr: Strongroom, workspace: str, name: str) -> Secret:
    """The secret called `name` (or with that id), deleted ones included; NOT_FOUND otherwise."""
    found = sr.secret(workspace, name) if _UUID.fullmatch(name) else sr.secret_by_name(workspace, name)
    if found is None:
        raise CliError("NOT_FOUND", f"no secret {name} in workspace {workspace!r}")
    return found


def read_value(from_file: Path | None, what: str) -> str:
    """A new value: from a file (exactly), from stdin (one line end removed), or a hidden prompt."""
    if from_file is not None:
        try:
            data = sys.stdin.buffer.read() if str(from_file) == "-" else from_file.read_bytes()
        except OSError as exc:
            raise CliError("BAD_USER_INPUT", f"--from-file: cannot read {from_file} ({exc.strerror or exc})") from None
        text = _utf8(data, str(from_file))
    elif not sys.stdin.isatty():
        text = _utf8(sys.stdin.buffer.read(), "stdin")
        text = text.removesuffix("\n").removesuffix("\r")
    else:
        text = typer.prompt(f"{what} (hidden)", hide_input=True, confirmation_prompt=True, prompt_suffix=": ")
    SESSION.hide(text)
    return text


def _utf8(data: bytes, source: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CliError("BAD_USER_INPUT", f"{source}: not UTF-8 text (byte {exc.start})") from None


@secrets_app.command("list")
def secrets_list(
    workspace: WorkspaceOption,
    contains: Annotated[str | None, typer.Option(metavar="TEXT", help="Names containing TEXT (any case).")] = None,
    tag: TagOption = None,
    secret_type: Annotated[
        SecretType | None, typer.Option("--type", case_sensitive=False, help="Only this type.")
    ] = None,
    all_: Annotated[bool, typer.Option("--all", help="Deleted secrets too.")] = False,
    json: JsonOption = False,
) -> None:
    """The workspace's secrets: metadata only, never a value."""
    with client() as sr:
        rows = list(
            sr.iter_secrets(
                workspace, name_contains=contains, tags=tag, secret_type=value(secret_type), include_inactive=all_
            )
        )
    if json:
        output.print_json([s.to_json() for s in rows])
        return
    columns = ["NAME", "TYPE", "VERSION", "POLICY", "ROTATION DUE", "TAGS"] + (["ACTIVE"] if all_ else [])
    output.table(
        columns,
        [
            [
                s.name,
                s.secret_type,
                s.current_version,
                s.rotation_policy,
                output.when(s.rotation_due_at, "-"),
                ",".join(s.tags) or "-",
            ]
            + ([output.yes_no(s.is_active)] if all_ else [])
            for s in rows
        ],
    )


@secrets_app.command("get")
def secrets_get(
    name: NameArgument,
    workspace: WorkspaceOption,
    version: Annotated[int | None, typer.Option(min=1, help="An older version (default: the current one).")] = None,
    no_newline: Annotated[
        bool, typer.Option("--no-newline", "-n", help="Print the value exactly, no line end.")
    ] = False,
    json: JsonOption = False,
) -> None:
    """Print a secret's value on stdout (an audited read)."""
    with client() as sr:
        secret = find(sr, workspace, name)
        revealed = sr.secret_value(workspace, secret.id, version)
    SESSION.hide(revealed.value)
    if json:
        output.print_json(
            {
                "secretId": revealed.secret_id,
                "name": revealed.name,
                "version": revealed.version,
                "value": revealed.value,
            }
        )
        return
    sys.stdout.write(revealed.value if no_newline else revealed.value + "\n")
    sys.stdout.flush()


@secrets_app.command("set")
def secrets_set(
    name: NameArgument,
    workspace: WorkspaceOption,
    from_file: FromFileOption = None,
    secret_type: Annotated[
        SecretType | None, typer.Option("--type", case_sensitive=False, help="Type of a new secret (default GENERIC).")
    ] = None,
    policy: Annotated[
        RotationPolicy | None, typer.Option(case_sensitive=False, help="Rotation policy (new: the server's default).")
    ] = None,
    tag: TagOption = None,
    usage: Annotated[str | None, typer.Option(metavar="TEXT", help="What the secret is for.")] = None,
    expected_version: Annotated[
        int | None, typer.Option(metavar="N", help="Only if the current version is N (check-and-set).")
    ] = None,
) -> None:
    """Create a secret, or give an existing one a new value (a new version)."""
    new_value = read_value(from_file, f"value of {name}")
    with client() as sr:
        existing = sr.secret_by_name(workspace, name) if not _UUID.fullmatch(name) else find(sr, workspace, name)
        if existing is None:
            created = sr.create_secret(
                workspace,
                name,
                new_value,
                secret_type=value(secret_type) or "GENERIC",
                usage=usage,
                rotation_policy=value(policy),
                tags=tag,
            )
            print(f"created {created.name} ({created.secret_type}, version {created.current_version})")
            return
        if secret_type is not None and secret_type.value != existing.secret_type:
            raise CliError(
                "BAD_USER_INPUT", f"--type: {existing.name} is a {existing.secret_type}; a type cannot change"
            )
        updated = sr.update_secret(
            workspace,
            existing.id,
            value=new_value,
            usage=usage,
            tags=tag,
            rotation_policy=value(policy),
            expected_version=expected_version,
        )
    print(f"updated {updated.name}: version {updated.current_version}")


@secrets_app.command("rotate")
def secrets_rotate(
    name: NameArgument,
    workspace: WorkspaceOption,
    generate: Annotated[bool, typer.Option(help="Let the server's value generator make the new value.")] = False,
    from_file: FromFileOption = None,
    expected_version: Annotated[int | None, typer.Option(metavar="N", help="Only if the current version is N.")] = None,
) -> None:
    """Rotate a secret: a new version (given, or generated by the server), a new rotation cycle."""
    if generate and from_file is not None:
        raise CliError("BAD_USER_INPUT", "--generate and --from-file exclude each other", exit_code=output.EXIT_USAGE)
    new_value = None if generate else read_value(from_file, f"new value of {name}")
    with client() as sr:
        secret = find(sr, workspace, name)
        rotated = sr.rotate_secret(workspace, secret.id, new_value, expected_version)
    print(
        f"rotated {rotated.name}: version {rotated.current_version}, next due {output.when(rotated.rotation_due_at, 'never')}"
    )


@secrets_app.command("rollback")
def secrets_rollback(
    name: NameArgument,
    workspace: WorkspaceOption,
    to: Annotated[int, typer.Option("--to", min=1, metavar="VERSION", help="The version whose value becomes current.")],
) -> None:
    """Make an old version's value current again (as a new version)."""
    with client() as sr:
        secret = find(sr, workspace, name)
        rolled = sr.rollback_secret(workspace, secret.id, to)
    print(f"rolled back {rolled.name} to the value of version {to}: now version {rolled.current_version}")


@secrets_app.command("delete")
def secrets_delete(name: NameArgument, workspace: WorkspaceOption) -> None:
    """Soft-delete a secret: it stops being served, every version is kept (`restore` undoes it)."""
    with client() as sr:
        secret = find(sr, workspace, name)
        sr.delete_secret(workspace, secret.id)
    print(f"deleted {secret.name} (versions kept; `strongroom secrets restore {secret.name}` undoes it)")


@secrets_app.command("restore")
def secrets_restore(name: NameArgument, workspace: WorkspaceOption) -> None:
    """Restore a deleted secret."""
    with client() as sr:
        secret = find(sr, workspace, name)
        restored = sr.restore_secret(workspace, secret.id)
    print(f"restored {restored.name} (version {restored.current_version})")


@secrets_app.command("history")
def secrets_history(name: NameArgument, workspace: WorkspaceOption, json: JsonOption = False) -> None:
    """A secret's versions: when, by whom, under which key; never a value."""
    with client() as sr:
        secret = find(sr, workspace, name)
    if json:
        output.print_json(secret.to_json() | {"versions": [v.to_json() for v in secret.versions]})
        return
    output.table(
        ("VERSION", "CREATED", "BY", "BACKEND", "KEY", "STATE", "CURRENT"),
        [
            (
                v.version,
                output.when(v.created_at),
                v.created_by_user_id or "-",
                v.encryption_backend,
                v.key_id,
                "DESTROYED" if v.destroyed else v.state,
                "*" if v.version == secret.current_version else "",
            )
            for v in sorted(secret.versions, key=lambda v: v.version)
        ],
    )
