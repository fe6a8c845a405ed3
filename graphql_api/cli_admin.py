"""Operator commands: encryption keys and rotation.

    strongroom keys rotate [--target B]     rewrap every data key (server; progress bar)
    strongroom keys health                  every backend: healthy, key id, error (server)
    strongroom rotation run-once            one scheduler pass, straight on the database (cron)

`keys` commands talk to the server (STRONGROOM_URL, STRONGROOM_TOKEN, a
superadmin's); `rotation run-once` builds the services itself from the same
configuration as `serve`, so cron can run it beside (or instead of) the
server's own scheduler: claims are conditional, replicas never double-notify.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from typing import Any

from graphql_api.client import StrongroomClient

ROTATE = """mutation($target: String) { rotateEncryptionKey(targetBackend: $target) { backend keyId rewrapped remaining } }"""
HEALTH = """{ encryptionHealth { currentBackend backends { name healthy keyId lastCheck error } } }"""
BAR_WIDTH = 30


def _bar(done: int, remaining: int) -> str:
    total = done + remaining
    filled = BAR_WIDTH if total == 0 else int(BAR_WIDTH * done / total)
    return f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {done}/{total}"


def cmd_keys_rotate(args: argparse.Namespace) -> int:
    """Start or join the rotation and follow it to the end.

    Each call returns within about 20 s with progress while the server keeps
    working; calling again joins the same job (it never rotates twice).
    """
    with StrongroomClient.from_environ(timeout=60.0) as client:
        while True:
            result: dict[str, Any] = client.execute(ROTATE, {"target": args.target})["rotateEncryptionKey"]
            line = f"{result['backend']} {result['keyId']}: {_bar(result['rewrapped'], result['remaining'])}"
            if sys.stdout.isatty():
                print(f"\r{line}", end="", flush=True)
            else:
                print(line, flush=True)
            if result["remaining"] == 0:
                if sys.stdout.isatty():
                    print()
                print(f"done: every data key is under {result['backend']} key {result['keyId']}")
                return 0
            time.sleep(args.poll)


def cmd_keys_health(args: argparse.Namespace) -> int:
    with StrongroomClient.from_environ() as client:
        health = client.execute(HEALTH)["encryptionHealth"]
    unhealthy = 0
    for backend in health["backends"]:
        marker = "*" if backend["name"] == health["currentBackend"] else " "
        state = "healthy" if backend["healthy"] else f"UNHEALTHY ({backend['error'] or 'no detail'})"
        unhealthy += not backend["healthy"]
        print(f"{marker} {backend['name']:<10} {state:<40} key {backend['keyId'] or '-'}")
    return 1 if unhealthy else 0


def cmd_rotation_run_once(args: argparse.Namespace) -> int:
    from graphql_api.services.wiring import build_services
    from graphql_api.settings import Settings

    settings = Settings.from_environ()

    async def run() -> str:
        services = build_services(settings)
        await services.open(migrate=True)
        try:
            report = await services.rotation.run_once()
        finally:
            await services.close()
        return (
            f"rotated {report.rotated}, failed {report.failed}, due notices {report.notified}, "
            f"notifications delivered {report.delivered}"
        )

    print(asyncio.run(run()))
    return 0


def add_admin_commands(commands: Any, keys: Any) -> None:
    """Register the commands above on the `strongroom` parser."""
    key_commands = keys
    rotate = key_commands.add_parser("rotate", help="rewrap every data key under the (target) backend's newest key")
    rotate.add_argument("--target", metavar="BACKEND", help="move every data key to this backend")
    rotate.add_argument("--poll", type=float, default=1.0, help=argparse.SUPPRESS)
    rotate.set_defaults(handler=cmd_keys_rotate)
    health = key_commands.add_parser("health", help="encryption backends: healthy, key id, last error")
    health.set_defaults(handler=cmd_keys_health)
    rotation = commands.add_parser("rotation", help="secret rotation")
    rotation_commands = rotation.add_subparsers(dest="rotation_command", required=True)
    once = rotation_commands.add_parser("run-once", help="one scheduler pass: rotate or notify what is due (for cron)")
    once.set_defaults(handler=cmd_rotation_run_once)
