"""What the command line prints: tables for people (rich), JSON for scripts,
and the one-line error every failure ends in.

Errors are `strongroom: CODE: message` on stderr, CODE being the API's
`extensions.code` (or BAD_USER_INPUT, UNAVAILABLE, ... for local failures),
one line, passed through the session's Redactor so that neither the token nor
a value the command handled can appear even when a server or an exception
text would echo it.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from rich.console import Console
from rich.table import Table

from graphql_api.client.errors import Redactor

EXIT_ERROR = 1
EXIT_USAGE = 2
# Wide enough that a table piped to a file or another program is never wrapped.
_PIPE_WIDTH = 10_000


class CliError(Exception):
    """A failure the command line reports as one line: `strongroom: CODE: message`."""

    def __init__(self, code: str, message: str, exit_code: int = EXIT_ERROR) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.exit_code = exit_code


def _console(stderr: bool) -> Console:
    stream = sys.stderr if stderr else sys.stdout
    terminal = stream.isatty()
    return Console(
        file=stream,
        width=None if terminal else _PIPE_WIDTH,
        markup=False,
        emoji=False,
        highlight=False,
        soft_wrap=not terminal,
    )


def stdout() -> Console:
    return _console(stderr=False)


def stderr() -> Console:
    return _console(stderr=True)


def one_line(text: str) -> str:
    return " ".join(text.split())


def error_line(code: str, message: str, redact: Redactor) -> str:
    return f"strongroom: {code}: {one_line(redact(message))}"


def warn(message: str, redact: Redactor) -> None:
    print(f"strongroom: warning: {one_line(redact(message))}", file=sys.stderr, flush=True)


def note(message: str) -> None:
    """A remark for the person at the terminal, on stderr so stdout stays clean for scripts."""
    print(f"strongroom: {message}", file=sys.stderr, flush=True)


def table(columns: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    """A borderless table on stdout: aligned columns, a header row, nothing else."""
    grid = Table(box=None, pad_edge=False, show_edge=False, header_style="bold", padding=(0, 2, 0, 0))
    for column in columns:
        grid.add_column(column, no_wrap=True, overflow="fold")
    for row in rows:
        grid.add_row(*(str(cell) for cell in row))
    stdout().print(grid)


def print_json(document: Any) -> None:
    sys.stdout.write(json.dumps(document, ensure_ascii=False, indent=2, sort_keys=False) + "\n")
    sys.stdout.flush()


def json_line(document: Any) -> None:
    sys.stdout.write(json.dumps(document, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def when(moment: datetime | None, never: str = "never") -> str:
    if moment is None:
        return never
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def yes_no(flag: bool) -> str:
    return "yes" if flag else "no"
