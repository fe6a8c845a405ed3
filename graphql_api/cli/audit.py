"""The audit trail.

    strongroom audit verify --workspace W [--checkpoint FILE]
    strongroom audit checkpoint --workspace W [-o FILE]
    strongroom audit tail --workspace W [--secret ID] [--json]

`verify` prints `valid: N events checked, head <hash>` and exits 0, or
`INVALID: ...` and exits 1. With a checkpoint saved earlier by `audit
checkpoint`, it first checks the file's Ed25519 signature, then that the
server's chain still reaches that point: events deleted since (also the newest
ones) or rewritten are caught.
"""

from __future__ import annotations

import json as jsonlib
import os
import signal
import sys
from pathlib import Path
from types import FrameType
from typing import Annotated, NoReturn

import typer

from graphql_api.cli import output
from graphql_api.cli.output import CliError
from graphql_api.cli.session import SESSION, JsonOption, WorkspaceOption, client
from graphql_api.client import AuditEvent
from graphql_api.client.checkpoint import CheckpointError, from_file, to_file, verify_signature

audit_app = typer.Typer(help="The audit trail: verify, checkpoint, follow live.", no_args_is_help=True)


def _invalid(message: str) -> NoReturn:
    print(f"INVALID: {message}")
    raise typer.Exit(1)


@audit_app.command("verify")
def audit_verify(
    workspace: WorkspaceOption,
    checkpoint: Annotated[
        Path | None,
        typer.Option(metavar="FILE", help="A checkpoint saved by `audit checkpoint`: the chain must still reach it."),
    ] = None,
) -> None:
    """Recompute the workspace's hash chain (and check it against a saved checkpoint)."""
    saved = None
    if checkpoint is not None:
        try:
            saved = from_file(checkpoint.read_text(encoding="utf-8"))
        except OSError as exc:
            raise CliError(
                "BAD_USER_INPUT", f"--checkpoint: cannot read {checkpoint} ({exc.strerror or exc})"
            ) from None
        except (CheckpointError, UnicodeDecodeError) as exc:
            raise CliError("BAD_USER_INPUT", f"--checkpoint: {checkpoint} {exc}") from None
        if saved.workspace_id != workspace:
            raise CliError(
                "BAD_USER_INPUT",
                f"--checkpoint: {checkpoint} is of workspace {saved.workspace_id!r}, not {workspace!r}",
            )
        try:
            verify_signature(saved)
        except CheckpointError as exc:
            _invalid(f"checkpoint {checkpoint}: {exc}")
    with client() as sr:
        integrity = sr.audit_integrity(workspace, saved)
        if not integrity.valid:
            _invalid(
                integrity.reason
                or f"first bad event {integrity.first_invalid_event_id} after {integrity.checked_events} events"
            )
        current = sr.audit_checkpoint(workspace) if saved is not None else None
    if saved is not None and current is not None and current.public_key != saved.public_key:
        output.warn(
            f"the server now signs with key {current.key_id}; the checkpoint was signed with {saved.key_id} "
            "(expected after a server key change, suspicious otherwise)",
            SESSION.redactor,
        )
    reached = f", reaches checkpoint seq {saved.seq}" if saved is not None else ""
    print(f"valid: {integrity.checked_events} events checked, head {integrity.head_hash or 'none'}{reached}")
    if integrity.reason:
        output.note(integrity.reason)


@audit_app.command("checkpoint")
def audit_checkpoint(
    workspace: WorkspaceOption,
    output_file: Annotated[
        Path | None, typer.Option("--output", "-o", metavar="FILE", help="Write here, not stdout.")
    ] = None,
) -> None:
    """Save a signed checkpoint of the workspace's chain (seq, head hash, time) as JSON.

    Keep it somewhere the server cannot write; `audit verify --checkpoint FILE`
    later proves the trail still contains everything up to it.
    """
    with client() as sr:
        checkpoint = sr.audit_checkpoint(workspace)
    try:
        verify_signature(checkpoint)
    except CheckpointError as exc:
        raise CliError("INVALID_SIGNATURE", f"the server's checkpoint does not verify: {exc}") from None
    text = to_file(checkpoint)
    if output_file is None:
        sys.stdout.write(text)
        return
    output_file.write_text(text, encoding="utf-8")
    output.note(f"checkpoint of {workspace} at seq {checkpoint.seq} saved to {output_file}")


def _event_line(event: AuditEvent) -> str:
    return " ".join(
        (
            output.when(event.created_at),
            event.action,
            "ok" if event.success else "FAILED",
            f"user={event.user_id or '-'}",
            f"ip={event.ip_address or '-'}",
            f"secret={event.secret_id or '-'}",
            jsonlib.dumps(event.details, sort_keys=True, ensure_ascii=False),
        )
    )


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@audit_app.command("tail")
def audit_tail(
    workspace: WorkspaceOption,
    secret: Annotated[str | None, typer.Option(metavar="ID", help="Only this secret's events.")] = None,
    json: JsonOption = False,
) -> None:
    """Stream the workspace's audit events as they are committed (live); Ctrl-C or SIGTERM stops it."""
    # SIGTERM (a supervisor, `timeout`) ends the tail as cleanly as Ctrl-C.
    signal.signal(signal.SIGTERM, _interrupt)
    with client() as sr, sr.tail_audit(workspace, secret) as events:
        try:
            for event in events:
                print(jsonlib.dumps(event.to_json(), ensure_ascii=False) if json else _event_line(event), flush=True)
        except KeyboardInterrupt:
            return
        except BrokenPipeError:
            # The reader went away (`| head`): stop quietly, without a flush error at exit.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
