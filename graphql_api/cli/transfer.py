"""Moving secrets in and out: `strongroom import` and `strongroom export`.

    strongroom import FILE -w W [--format F] [--dry-run] [--overwrite] [--type T] [--policy P] [--tag T ...]
    strongroom import --from-env -w W [--pattern GLOB ...] [...]
    strongroom export -w W [--format dotenv|json|yaml|shell] [--only NAME ...] [-o FILE]

A dotenv file is checked here with the same parser the server uses (so a bad
line is reported, by number, before anything is sent) and sent as written:
the server parses it again and reports lines of the file itself. A large file
goes in pieces cut between entries, with a progress bar; all pieces are first
checked with a dry run, so a bad entry anywhere imports nothing. Other formats
are read here and sent as dotenv text.
"""

from __future__ import annotations

import fnmatch
import os
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from graphql_api.cli import output
from graphql_api.cli.choices import FileFormat, RotationPolicy, SecretType, value
from graphql_api.cli.formats import FormatError, dump, guess, load
from graphql_api.cli.output import CliError
from graphql_api.cli.session import SESSION, JsonOption, WorkspaceOption, client
from graphql_api.client import ImportPlanEntry, ImportResult, StrongroomAPIError
from graphql_api.client.dotenv import DotenvError, DotenvPiece, format_dotenv, parse_dotenv, split_dotenv
from graphql_api.client.naming import SECRET_WORDS, looks_secret

# Pieces well under the server's per-call limits (50,000 entries, 16 MiB).
PIECE_ENTRIES = 1000
PIECE_BYTES = 4 * 1024 * 1024
_SECRET_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
_LINE = re.compile(r"\bline (\d+)\b")


@dataclass(frozen=True)
class _Upload:
    """What goes to the server, and how its line numbers map back to the source.

    A dotenv file is sent as written: its lines are the server's. Anything
    converted (json, yaml, shell, the environment) is sent one variable a
    line, the N-th line being `names[N-1]`, from line `lines[N-1]` of the
    source (0 when the format does not say).
    """

    source: str
    pieces: list[DotenvPiece]
    names: list[str] | None = None
    lines: list[int] | None = None

    def line(self, sent: int) -> int:
        if self.lines is None:
            return sent
        return self.lines[sent - 1] if 0 < sent <= len(self.lines) else 0

    def where(self, sent: int) -> str:
        line = self.line(sent)
        if line:
            return f"line {line}"
        if self.names and 0 < sent <= len(self.names):
            return self.names[sent - 1]
        return f"line {sent}"


def _read_source(file: Path) -> str:
    try:
        data = sys.stdin.buffer.read() if str(file) == "-" else file.read_bytes()
    except OSError as exc:
        raise CliError("BAD_USER_INPUT", f"cannot read {file} ({exc.strerror or exc})") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise CliError("BAD_USER_INPUT", f"{file}: line {line}: not UTF-8 text") from None


def _pieces_of_dotenv(text: str, source: str) -> list[DotenvPiece]:
    try:
        entries = parse_dotenv(text)
    except DotenvError as exc:
        raise CliError("BAD_USER_INPUT", f"{source}: {exc}") from None
    SESSION.hide(*(entry.value for entry in entries))
    return split_dotenv(text, entries, PIECE_ENTRIES, PIECE_BYTES)


def _upload_of_file(file: Path, fmt: FileFormat | None) -> _Upload:
    text = _read_source(file)
    source = "stdin" if str(file) == "-" else str(file)
    chosen = fmt or guess(None if str(file) == "-" else file)
    if chosen is FileFormat.DOTENV:
        return _Upload(source, _pieces_of_dotenv(text, source))
    try:
        variables = load(text, chosen)
    except FormatError as exc:
        raise CliError("BAD_USER_INPUT", f"{source}: {exc}") from None
    SESSION.hide(*(v.value for v in variables))
    converted = format_dotenv((v.name, v.value) for v in variables)  # one line per variable
    return _Upload(
        source, _pieces_of_dotenv(converted, source), [v.name for v in variables], [v.line for v in variables]
    )


def _upload_of_environment(patterns: Sequence[str]) -> _Upload:
    def wanted(name: str) -> bool:
        if patterns:
            return any(fnmatch.fnmatchcase(name.upper(), p.upper()) for p in patterns)
        return looks_secret(name)

    chosen = sorted(
        (name, text)
        for name, text in os.environ.items()
        # Strongroom's own token is never imported into a workspace.
        if wanted(name) and _SECRET_NAME.fullmatch(name) and not name.startswith("STRONGROOM_")
    )
    if not chosen:
        raise CliError("BAD_USER_INPUT", "--from-env: no environment variable matches")
    SESSION.hide(*(text for _, text in chosen))
    converted = format_dotenv(chosen)
    names = [name for name, _ in chosen]
    return _Upload("the environment", _pieces_of_dotenv(converted, "the environment"), names, [0] * len(names))


def _locate(message: str, upload: _Upload, offset: int) -> str:
    """The server's message about a piece, its line numbers made the source's."""
    return f"{upload.source}: " + _LINE.sub(lambda m: upload.where(int(m.group(1)) + offset), message)


def _send(
    upload: _Upload,
    workspace: str,
    *,
    overwrite: bool,
    dry_run: bool,
    secret_type: str | None,
    policy: str | None,
    tags: list[str] | None,
) -> tuple[ImportResult, list[ImportPlanEntry]]:
    interactive = sys.stderr.isatty() and len(upload.pieces) > 1
    total = sum(piece.entries for piece in upload.pieces)
    passes = [True] if dry_run else ([True, False] if len(upload.pieces) > 1 else [False])
    with (
        client(timeout=120.0) as sr,
        Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            console=output.stderr(),
            disable=not interactive,
            transient=True,
        ) as progress,
    ):
        for checking in passes:
            task = progress.add_task("checking" if checking and not dry_run else "importing", total=total)
            results: list[ImportResult] = []
            plan: list[ImportPlanEntry] = []
            for done, piece in enumerate(upload.pieces):
                try:
                    result = sr.import_secrets(
                        workspace,
                        piece.text,
                        overwrite=overwrite,
                        dry_run=checking,
                        secret_type=secret_type,
                        rotation_policy=policy,
                        tags=tags,
                    )
                except StrongroomAPIError as exc:
                    message = _locate(exc.message, upload, piece.line_offset)
                    if not checking and done:
                        message += f" (pieces 1-{done} of {len(upload.pieces)} were imported; run it again to finish)"
                    raise StrongroomAPIError(exc.code, message, exc.field) from None
                results.append(result)
                plan.extend(
                    ImportPlanEntry(
                        p.name, upload.line(p.line + piece.line_offset), p.action, p.secret_type, p.rotation_policy
                    )
                    for p in result.plan
                )
                progress.advance(task, piece.entries)
    merged = ImportResult(
        created=sum(r.created for r in results),
        updated=sum(r.updated for r in results),
        skipped=sum(r.skipped for r in results),
        unchanged=sum(r.unchanged for r in results),
        plan=tuple(plan),
    )
    return merged, plan


def import_command(
    workspace: WorkspaceOption,
    file: Annotated[
        Path | None,
        typer.Argument(metavar="[FILE]", help="A .env (or --format) file; '-' reads stdin.", show_default=False),
    ] = None,
    from_env: Annotated[
        bool,
        typer.Option(
            "--from-env",
            help=f"Import this process's environment variables whose names contain {'/'.join(SECRET_WORDS)} (any case).",
        ),
    ] = False,
    pattern: Annotated[
        list[str] | None,
        typer.Option(metavar="GLOB", help="With --from-env: names matching GLOB instead (any case), repeatable."),
    ] = None,
    fmt: Annotated[
        FileFormat | None,
        typer.Option("--format", case_sensitive=False, help="File format (default: from the extension, else dotenv)."),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would happen (never a value); change nothing.")
    ] = False,
    overwrite: Annotated[
        bool, typer.Option(help="Give existing secrets the file's value (a new version only where it differs).")
    ] = False,
    secret_type: Annotated[
        SecretType | None,
        typer.Option("--type", case_sensitive=False, help="Type of every entry (default: detected from each name)."),
    ] = None,
    policy: Annotated[
        RotationPolicy | None,
        typer.Option(
            case_sensitive=False,
            help="Rotation policy of every entry (default: the server's; MANUAL for names that do not look secret).",
        ),
    ] = None,
    tag: Annotated[list[str] | None, typer.Option("--tag", metavar="TAG", help="Tag every entry, repeatable.")] = None,
    json: JsonOption = False,
) -> None:
    """Import a .env file (or the environment) into a workspace, losslessly.

    Existing names are skipped unless --overwrite. Prints created / updated /
    unchanged / skipped counts; --dry-run prints the plan instead.
    """
    if (file is None) == (not from_env):
        raise CliError("BAD_USER_INPUT", "give a FILE or --from-env (one of them)", exit_code=output.EXIT_USAGE)
    if pattern and not from_env:
        raise CliError("BAD_USER_INPUT", "--pattern goes with --from-env", exit_code=output.EXIT_USAGE)
    if from_env:
        upload = _upload_of_environment(pattern or [])
    else:
        assert file is not None  # checked above: exactly one of them
        upload = _upload_of_file(file, fmt)
    result, plan = _send(
        upload,
        workspace,
        overwrite=overwrite,
        dry_run=dry_run,
        secret_type=value(secret_type),
        policy=value(policy),
        tags=tag,
    )
    if json:
        output.print_json(
            {
                "dryRun": dry_run,
                "created": result.created,
                "updated": result.updated,
                "unchanged": result.unchanged,
                "skipped": result.skipped,
                "plan": [p.to_json() for p in plan],
            }
        )
        return
    if dry_run:
        show_line = not from_env
        output.table(
            ["NAME", *(["LINE"] if show_line else []), "ACTION", "TYPE", "POLICY"],
            [
                [p.name, *([p.line or "-"] if show_line else []), p.action, p.secret_type, p.rotation_policy]
                for p in plan
            ],
        )
        print(
            f"dry run, nothing changed: would create {result.created}, update {result.updated}, "
            f"leave {result.unchanged} unchanged, skip {result.skipped}"
            + (" (existing; --overwrite updates them)" if result.skipped else "")
        )
        return
    print(
        f"created {result.created}, updated {result.updated}, unchanged {result.unchanged}, skipped {result.skipped}"
        + (" (existing; --overwrite updates them)" if result.skipped else "")
    )


def export_command(
    workspace: WorkspaceOption,
    fmt: Annotated[
        FileFormat, typer.Option("--format", case_sensitive=False, help="Output format.")
    ] = FileFormat.DOTENV,
    only: Annotated[list[str] | None, typer.Option(metavar="NAME", help="Only this secret, repeatable.")] = None,
    output_file: Annotated[
        Path | None,
        typer.Option("--output", "-o", metavar="FILE", help="Write to FILE (created 0600) instead of stdout."),
    ] = None,
) -> None:
    """Print the workspace's active secrets with their values (one audited read).

    What it prints, `strongroom import` reads back exactly: export, import
    elsewhere and export again gives the same bytes.
    """
    with client() as sr:
        values = sr.secret_values(workspace, only)
    SESSION.hide(*(v.value for v in values))
    try:
        text = dump([(v.name, v.value) for v in values], fmt)
    except FormatError as exc:
        raise CliError("BAD_USER_INPUT", f"--format {fmt.value}: {exc}") from None
    if output_file is None:
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    try:
        descriptor = os.open(output_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    except OSError as exc:
        raise CliError("BAD_USER_INPUT", f"--output: cannot write {output_file} ({exc.strerror or exc})") from None
    with os.fdopen(descriptor, "w", encoding="utf-8", newline="") as handle:
        os.fchmod(handle.fileno(), 0o600)
        handle.write(text)
    output.note(f"wrote {len(values)} secret(s) to {output_file} (mode 0600: it holds their values)")
