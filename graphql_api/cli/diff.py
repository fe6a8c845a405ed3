"""`strongroom diff W1 W2`: how two workspaces' secrets differ, without a value.

The server computes a keyed digest (HMAC under a server-wide key) of each
active secret's current value (`secretDigests`); equal values have equal
digests in every workspace of the server. Only digests are compared, so no
value leaves the server, and the digests themselves are never printed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import typer

from graphql_api.cli import output
from graphql_api.cli.session import JsonOption, client
from graphql_api.client import SecretDigest

ONLY_FIRST, ONLY_SECOND, DIFFERENT, SAME = "only-first", "only-second", "different", "same"


@dataclass(frozen=True)
class Row:
    name: str
    status: str
    first: SecretDigest | None
    second: SecretDigest | None


def compare(first: list[SecretDigest], second: list[SecretDigest]) -> list[Row]:
    left = {d.name: d for d in first}
    right = {d.name: d for d in second}
    rows = []
    for name in sorted(left.keys() | right.keys()):
        a, b = left.get(name), right.get(name)
        if b is None:
            status = ONLY_FIRST
        elif a is None:
            status = ONLY_SECOND
        else:
            status = SAME if a.digest == b.digest else DIFFERENT
        rows.append(Row(name, status, a, b))
    return rows


def diff_command(
    first: Annotated[str, typer.Argument(metavar="W1", help="A workspace id, e.g. acme-staging.")],
    second: Annotated[str, typer.Argument(metavar="W2", help="Another workspace id, e.g. acme-prod.")],
    exit_code: Annotated[
        bool, typer.Option("--exit-code", help="Exit 1 when the workspaces differ (like git diff).")
    ] = False,
    json: JsonOption = False,
) -> None:
    """Compare two workspaces' secrets: names only in one, names whose values differ, names with the same value.

    Never shows a value (nor its digest): values are compared by keyed
    digests the server computes. Needs READER in both workspaces.
    """
    with client() as sr:
        rows = compare(sr.secret_digests(first), sr.secret_digests(second))
    labels = {ONLY_FIRST: f"only in {first}", ONLY_SECOND: f"only in {second}", DIFFERENT: "different", SAME: "same"}
    counts = {status: sum(row.status == status for row in rows) for status in labels}
    if json:
        output.print_json(
            {
                "workspaces": [first, second],
                "onlyIn": {
                    first: [r.name for r in rows if r.status == ONLY_FIRST],
                    second: [r.name for r in rows if r.status == ONLY_SECOND],
                },
                "different": [r.name for r in rows if r.status == DIFFERENT],
                "same": [r.name for r in rows if r.status == SAME],
            }
        )
    else:
        output.table(
            ("NAME", "STATUS", f"{first} VERSION", f"{second} VERSION"),
            [
                (r.name, labels[r.status], r.first.version if r.first else "-", r.second.version if r.second else "-")
                for r in rows
            ],
        )
        print(", ".join(f"{counts[status]} {labels[status]}" for status in labels))
    if exit_code and counts[SAME] != len(rows):
        raise typer.Exit(1)
