"""The `.env` grammar, losslessly: every value comes out exactly as the file meant it.

Pure Python, no dependencies: the server's importer and the command line read
files with this one parser. The rules, checked against python-dotenv's parser
tests and the fixtures of npm's `dotenv` (tests/client/test_dotenv_grammar.py
says where those two disagree and which way this grammar goes):

- ``KEY=value``, optionally after ``export ``; blanks around ``=`` are
  ignored; blank lines and lines starting with ``#`` are skipped. A key may be
  in single quotes (``'KEY'=value``). A UTF-8 byte order mark at the very
  start is dropped.
- Line ends are LF, CRLF or a lone CR, in any mix; each counts as one line.
  Inside a quoted value that spans lines, a line end reads as ``\\n``.
- Unquoted values are trimmed and end at an inline comment: whitespace then
  ``#``. A ``#`` with no whitespace before it is part of the value
  (``a=b#c`` is ``b#c``); ``KEY= # note`` is empty.
- ``'single quoted'`` values are literal, may span lines. A backslash does
  not escape the quote (``'it\\'s'`` is refused: python-dotenv and npm read it
  differently).
- ``"double quoted"`` values may span lines and understand ``\\n \\r \\t
  \\" \\' \\\\`` and ``\\a \\b \\f \\v``; any other backslash stays as written.
- ```backtick quoted``` values are literal, may span lines and hold both
  kinds of quote; a backslash before a backtick keeps both and does not close.
- ``${VAR}`` is never expanded: the text is the value.
- After a closing quote only blanks and a ``# comment`` may follow.

Refused, each named by line number (never by value, and never quoting the
line): a line without ``=``, a name that is not a variable name, a name set
twice, an unclosed quote, text after a closing quote.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

BOM = "\ufeff"
MAX_PROBLEMS = 20
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")
_INLINE_COMMENT = re.compile(r"\s#")
_DOUBLE_QUOTE_ESCAPES = {
    "n": "\n",
    "r": "\r",
    "t": "\t",
    '"': '"',
    "'": "'",
    "\\": "\\",
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "v": "\v",
}
_QUOTE_KINDS = {"'": "single", '"': "double", "`": "backtick"}
# Values written without quotes by format_dotenv: every reader agrees on them.
_BARE = re.compile(r"[A-Za-z0-9_@%+,./:=-]+")


@dataclass(frozen=True)
class DotenvEntry:
    """One variable of a file: `line` is where it starts; `start`/`end` are
    offsets of its whole lines in the text (for cutting a file between entries)."""

    name: str
    value: str = field(repr=False)
    line: int
    start: int = field(default=0, compare=False)
    end: int = field(default=0, compare=False)

    def __repr__(self) -> str:
        return f"DotenvEntry(name={self.name!r}, line={self.line})"


class DotenvError(ValueError):
    """The file's problems, each (line, message); the message names no value."""

    def __init__(self, problems: Sequence[tuple[int, str]]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(f"line {line}: {message}" for line, message in self.problems))

    @property
    def lines(self) -> list[int]:
        return [line for line, _ in self.problems]


class _Problem(Exception):
    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


class _Reader:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 1 if text.startswith(BOM) else 0
        self.line = 1
        self.line_start = 0

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def break_length(self, index: int) -> int:
        """Length of the line end at `index` (0: none)."""
        char = self.text[index] if index < len(self.text) else ""
        if char == "\n":
            return 1
        if char == "\r":
            return 2 if self.text.startswith("\n", index + 1) else 1
        return 0

    def skip_blanks(self) -> int:
        """Skip horizontal whitespace; how much was skipped."""
        start = self.pos
        text = self.text
        while self.pos < len(text) and text[self.pos].isspace() and text[self.pos] not in "\r\n":
            self.pos += 1
        return self.pos - start

    def rest_of_line(self) -> str:
        end = self.pos
        while end < len(self.text) and self.text[end] not in "\r\n":
            end += 1
        rest, self.pos = self.text[self.pos : end], end
        return rest

    def end_line(self) -> None:
        """Consume the line end at the position, if any."""
        length = self.break_length(self.pos)
        if length:
            self.pos += length
            self.line += 1
            self.line_start = self.pos

    def skip_line(self) -> None:
        self.rest_of_line()
        self.end_line()


def parse_dotenv(text: str, *, max_entries: int | None = None) -> list[DotenvEntry]:
    """The entries of a .env text in file order, or DotenvError listing every problem."""
    reader = _Reader(text)
    entries: list[DotenvEntry] = []
    seen: dict[str, int] = {}
    problems: list[tuple[int, str]] = []
    while len(problems) < MAX_PROBLEMS:
        _skip_space_and_blank_lines(reader)
        if reader.pos >= len(text):
            break
        if reader.peek() == "#":
            reader.skip_line()
            continue
        start, line = reader.line_start, reader.line
        try:
            name, value = _binding(reader)
        except _Problem as problem:
            problems.append((problem.line, problem.message))
            reader.skip_line()
            continue
        if name in seen:
            problems.append((line, f"{name} is already set on line {seen[name]}"))
            continue
        seen[name] = line
        entries.append(DotenvEntry(name, value, line, start, reader.pos))
        if max_entries is not None and len(entries) > max_entries:
            problems.append((line, f"the file has more than {max_entries} variables"))
            break
    if problems:
        raise DotenvError(problems)
    return entries


def _skip_space_and_blank_lines(reader: _Reader) -> None:
    while reader.pos < len(reader.text):
        char = reader.text[reader.pos]
        if char in "\r\n":
            reader.end_line()
        elif char.isspace():
            reader.pos += 1
        else:
            return


def _binding(reader: _Reader) -> tuple[str, str]:
    """Read one KEY=VALUE (through its line end); raises _Problem."""
    text, line = reader.text, reader.line
    if text.startswith("export", reader.pos):
        after = reader.pos + len("export")
        if after < len(text) and text[after].isspace() and text[after] not in "\r\n":
            reader.pos = after
            reader.skip_blanks()
            if reader.peek() in ("=", "", "\r", "\n"):
                reader.pos = after - len("export")  # `export = 1` sets a variable named export
    key = _key(reader)
    reader.skip_blanks()
    if not key or reader.peek() != "=":
        raise _Problem(line, "expected KEY=VALUE")
    if not _KEY.fullmatch(key):
        raise _Problem(line, "the name before '=' is not a variable name (letters, digits, _ . -; not a digit first)")
    reader.pos += 1
    spaced = reader.skip_blanks() > 0
    quote = reader.peek()
    if quote in _QUOTE_KINDS:
        value = _quoted(reader, quote, line)
        _after_quote(reader, line)
        return key, value
    raw = reader.rest_of_line()
    reader.end_line()
    if spaced and raw.startswith("#"):
        return key, ""
    comment = _INLINE_COMMENT.search(raw)
    if comment:
        raw = raw[: comment.start()]
    return key, raw.rstrip()


def _key(reader: _Reader) -> str:
    text = reader.text
    if reader.peek() == "'":
        close = reader.pos + 1
        while close < len(text) and text[close] not in "'\r\n":
            close += 1
        if not text.startswith("'", close):
            return ""
        key, reader.pos = text[reader.pos + 1 : close], close + 1
        return key
    start = reader.pos
    while reader.pos < len(text) and text[reader.pos] not in "=#" and not text[reader.pos].isspace():
        reader.pos += 1
    return text[start : reader.pos]


def _quoted(reader: _Reader, quote: str, line: int) -> str:
    """The value of the quoted string at the position; leaves the position after the closing quote."""
    text = reader.text
    out: list[str] = []
    index = reader.pos + 1
    # Where the opening line ends: an unclosed quote resumes there.
    opening_line_end = reader.pos
    while opening_line_end < len(text) and text[opening_line_end] not in "\r\n":
        opening_line_end += 1
    lines_crossed, line_start = 0, reader.line_start
    while index < len(text):
        char = text[index]
        if char == quote:
            reader.pos = index + 1
            reader.line += lines_crossed
            reader.line_start = line_start
            return "".join(out)
        if char == "\\" and index + 1 < len(text):
            following = text[index + 1]
            if quote == '"' and following in _DOUBLE_QUOTE_ESCAPES:
                out.append(_DOUBLE_QUOTE_ESCAPES[following])
                index += 2
                continue
            if quote == "`" and following == "`":
                out.append("\\`")
                index += 2
                continue
        length = reader.break_length(index)
        if length:
            out.append("\n")
            index += length
            lines_crossed += 1
            line_start = index
            continue
        out.append(char)
        index += 1
    reader.pos = opening_line_end
    raise _Problem(line, f"the {_QUOTE_KINDS[quote]} quote is never closed")


def _after_quote(reader: _Reader, line: int) -> None:
    closing = reader.pos - 1
    reader.skip_blanks()
    if reader.peek() == "#":
        reader.rest_of_line()
    elif reader.peek() not in ("", "\r", "\n"):
        if reader.text[closing] == "'" and reader.text[closing - 1] == "\\":
            raise _Problem(
                line, "a backslash does not escape a quote inside single quotes; use double quotes and \\\" or \\'"
            )
        raise _Problem(line, "unexpected text after the closing quote")
    reader.end_line()


def format_dotenv(entries: Iterable[tuple[str, str]]) -> str:
    """A .env text that parse_dotenv reads back exactly, one line per variable.

    Plain values stay bare; values without a single quote, backslash or line
    end go in single quotes (literal for every dotenv reader); the rest in
    double quotes with ``\\\\ \\" \\n \\r`` escaped.
    """
    lines = []
    for name, value in entries:
        if value == "" or _BARE.fullmatch(value):
            lines.append(f"{name}={value}")
        elif not any(char in value for char in "'\\\r\n"):
            lines.append(f"{name}='{value}'")
        else:
            escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
            lines.append(f'{name}="{escaped}"')
    return "".join(line + "\n" for line in lines)


@dataclass(frozen=True)
class DotenvPiece:
    """Part of a text cut between entries: its line N is line N + line_offset of the whole."""

    text: str = field(repr=False)
    line_offset: int
    entries: int


def split_dotenv(text: str, entries: Sequence[DotenvEntry], max_entries: int, max_bytes: int) -> list[DotenvPiece]:
    """Cut a parsed text between entries into pieces of at most `max_entries`
    entries and `max_bytes` UTF-8 bytes (unless one entry alone is larger).

    The pieces together are the text, byte for byte, so whatever reads a piece
    reads exactly what the whole file says, and its line numbers map back.
    """
    starts, size = [0], 0
    for index, entry in enumerate(entries):
        entry_bytes = len(text[entry.start : entry.end].encode("utf-8", "surrogatepass"))
        if index > starts[-1] and (index - starts[-1] >= max_entries or size + entry_bytes > max_bytes):
            starts.append(index)
            size = 0
        size += entry_bytes
    bounds = [0, *(entries[i].start for i in starts[1:]), len(text)]
    ends = [*starts[1:], len(entries)]
    return [
        DotenvPiece(text[bounds[k] : bounds[k + 1]], entries[starts[k]].line - 1 if k else 0, ends[k] - starts[k])
        for k in range(len(starts))
    ]
