"""The server's side of the `.env` grammar.

The grammar itself is graphql_api.client.dotenv (pure, shared with the
command line, which reads files with the same parser); here its errors become
BadUserInput and the per-call limits of `importSecrets` apply.
"""

from __future__ import annotations

from graphql_api.client.dotenv import DotenvEntry, DotenvError, format_dotenv
from graphql_api.client.dotenv import parse_dotenv as parse_dotenv_text
from graphql_api.errors import BadUserInput

MAX_DOTENV_BYTES = 16 * 1024 * 1024
MAX_ENTRIES = 50_000

__all__ = ["MAX_DOTENV_BYTES", "MAX_ENTRIES", "DotenvEntry", "format_dotenv", "parse_dotenv"]


def parse_dotenv(text: str, field: str = "dotenv") -> list[DotenvEntry]:
    """The entries of `text`, or BadUserInput naming the line number(s) of every problem (never a value)."""
    if len(text.encode("utf-8", errors="surrogatepass")) > MAX_DOTENV_BYTES:
        raise BadUserInput(field, f"is larger than {MAX_DOTENV_BYTES} bytes")
    try:
        return parse_dotenv_text(text, max_entries=MAX_ENTRIES)
    except DotenvError as exc:
        raise BadUserInput(field, str(exc)) from None
