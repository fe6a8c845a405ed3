"""A lossless `.env` parser: every value comes out exactly as the file meant it.

Rules (those of docker compose and python-dotenv, minus interpolation):

- ``KEY=value``, optionally prefixed by ``export``; spaces around ``=`` are
  ignored; blank lines and lines starting with ``#`` are skipped.
- Unquoted values are trimmed and end at `` #`` (an inline comment).
- ``'single quoted'`` values are literal and may span lines.
- ``"double quoted"`` values may span lines and understand ``\\n \\r \\t \\"
  \\\\ \\$``; any other backslash is kept as written.
- ``${VAR}`` is never expanded: the text is the value (lossless).
- A key given twice keeps its last value, as a shell would.
- Windows line ends are fine: unquoted values and the text around quotes are
  trimmed, so a CR never sneaks into a value; inside quotes it is kept.

Errors name the line number, never a value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from graphql_api.errors import BadUserInput

MAX_DOTENV_BYTES = 4 * 1024 * 1024
MAX_ENTRIES = 2000
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", '"': '"', "\\": "\\", "$": "$"}


@dataclass(frozen=True)
class DotenvEntry:
    name: str
    value: str
    line: int

    def __repr__(self) -> str:
        return f"DotenvEntry(name={self.name!r}, line={self.line})"


def parse_dotenv(text: str, field: str = "dotenv") -> list[DotenvEntry]:
    if len(text.encode("utf-8", errors="surrogatepass")) > MAX_DOTENV_BYTES:
        raise BadUserInput(field, f"is larger than {MAX_DOTENV_BYTES} bytes")
    entries: dict[str, DotenvEntry] = {}
    position, line = 0, 1
    length = len(text)
    while position < length:
        end = text.find("\n", position)
        end = length if end == -1 else end
        raw = text[position:end]
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            position, line = end + 1, line + 1
            continue
        start_line = line
        body = stripped
        if body.startswith("export ") or body.startswith("export\t"):
            body = body[len("export") :].lstrip()
        key, separator, rest = body.partition("=")
        key = key.strip()
        if not separator:
            raise BadUserInput(field, f"line {start_line}: expected KEY=VALUE")
        if not _KEY.fullmatch(key):
            raise BadUserInput(field, f"line {start_line}: {key[:64]!r} is not a variable name")
        # Where the value starts in the original text (it may continue past this line).
        value_start = position + raw.index("=") + 1
        while value_start < end and text[value_start] in " \t":
            value_start += 1
        quote = text[value_start] if value_start < end else ""
        if quote in ("'", '"'):
            value, close = _quoted(text, value_start, quote, field, start_line)
            trailer_end = text.find("\n", close + 1)
            trailer_end = length if trailer_end == -1 else trailer_end
            trailer = text[close + 1 : trailer_end].strip()
            if trailer and not trailer.startswith("#"):
                raise BadUserInput(field, f"line {start_line}: unexpected text after the closing quote")
            line += text.count("\n", position, trailer_end)
            position = trailer_end + 1
        else:
            value = text[value_start:end]
            comment = re.search(r"\s#", value)
            if comment:
                value = value[: comment.start()]
            value = value.strip()
            position = end + 1
        line += 1
        entries.pop(key, None)
        entries[key] = DotenvEntry(key, value, start_line)
        if len(entries) > MAX_ENTRIES:
            raise BadUserInput(field, f"has more than {MAX_ENTRIES} variables")
    return list(entries.values())


def _quoted(text: str, start: int, quote: str, field: str, line: int) -> tuple[str, int]:
    """The value of a quoted string opening at `start`, and its closing index."""
    out: list[str] = []
    index = start + 1
    while index < len(text):
        char = text[index]
        if char == quote:
            return "".join(out), index
        if quote == '"' and char == "\\" and index + 1 < len(text):
            following = text[index + 1]
            if following in _ESCAPES:
                out.append(_ESCAPES[following])
                index += 2
                continue
        out.append(char)
        index += 1
    kind = "double" if quote == '"' else "single"
    raise BadUserInput(field, f"line {line}: the {kind} quote is never closed")


def format_dotenv(entries: list[tuple[str, str]]) -> str:
    """The inverse: a .env text that parse_dotenv reads back exactly."""
    lines = []
    for name, value in entries:
        escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$")
        escaped = escaped.replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")
        lines.append(f'{name}="{escaped}"')
    return "".join(line + "\n" for line in lines)
