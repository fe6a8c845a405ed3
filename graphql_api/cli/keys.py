"""Encryption keys.

strongroom keys generate            a new Fernet key for SECRET_ENCRYPTION_KEY (local)
strongroom keys rotate [--target B] rewrap every data key (server; follows the job)
strongroom keys health              every backend: healthy, key id, error (server)
"""

from __future__ import annotations

import sys
import time
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from graphql_api.cli import output
from graphql_api.cli.session import JsonOption, client
from graphql_api.client import KeyRotationProgress

keys_app = typer.Typer(help="Encryption keys.", no_args_is_help=True)
BAR_WIDTH = 30


@keys_app.command("generate")
def keys_generate() -> None:
    """Print a new Fernet key for SECRET_ENCRYPTION_KEY (generated here, sent nowhere)."""
    from cryptography.fernet import Fernet

    # Printed for the operator to put in SECRET_ENCRYPTION_KEY; never logged.
    print(Fernet.generate_key().decode("ascii"))


def _bar(done: int, remaining: int) -> str:
    total = done + remaining
    filled = BAR_WIDTH if total == 0 else int(BAR_WIDTH * done / total)
    return f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {done}/{total}"


@keys_app.command("rotate")
def keys_rotate(
    target: Annotated[str | None, typer.Option(metavar="BACKEND", help="Move every data key to this backend.")] = None,
    poll: Annotated[float, typer.Option(hidden=True)] = 1.0,
) -> None:
    """Rewrap every data key under the (target) backend's newest key, following the job to its end.

    Each call to the server returns within about 20 s with progress while it
    keeps working; calling again joins the same job (it never rotates twice),
    so an interrupted `keys rotate` is simply run again. Superadmin.
    """
    interactive = sys.stdout.isatty()
    with (
        client(timeout=60.0) as sr,
        Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            console=output.stdout(),
            disable=not interactive,
            transient=True,
        ) as progress,
    ):
        task = progress.add_task("rewrapping", total=None)
        while True:
            result: KeyRotationProgress = sr.rotate_encryption_key(target)
            total = result.rewrapped + result.remaining
            progress.update(
                task, description=f"{result.backend} {result.key_id}", completed=result.rewrapped, total=total
            )
            if not interactive:
                print(f"{result.backend} {result.key_id}: {_bar(result.rewrapped, result.remaining)}", flush=True)
            if result.remaining == 0:
                break
            time.sleep(poll)
    if interactive:
        print(f"{result.backend} {result.key_id}: {result.rewrapped}/{result.rewrapped} rewrapped")
    print(f"done: every data key is under {result.backend} key {result.key_id}")


@keys_app.command("health")
def keys_health(json: JsonOption = False) -> None:
    """Each encryption backend: healthy or not, current key id, last error. Exits 1 when one is down."""
    with client() as sr:
        health = sr.encryption_health()
    unhealthy = sum(not b.healthy for b in health.backends)
    if json:
        output.print_json(
            {
                "currentBackend": health.current_backend,
                "backends": [
                    {
                        "name": b.name,
                        "healthy": b.healthy,
                        "keyId": b.key_id,
                        "lastCheck": b.last_check.isoformat(),
                        "error": b.error,
                    }
                    for b in health.backends
                ],
            }
        )
    else:
        for backend in health.backends:
            marker = "*" if backend.name == health.current_backend else " "
            state = "healthy" if backend.healthy else f"UNHEALTHY ({backend.error or 'no detail'})"
            print(f"{marker} {backend.name:<10} {state:<40} key {backend.key_id or '-'}")
    if unhealthy:
        raise typer.Exit(1)
