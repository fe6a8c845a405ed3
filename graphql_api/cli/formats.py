"""The file formats of `strongroom export` and `strongroom import`.

Each format writes what its reader reads back exactly (byte for byte on a
second export): names sorted, one variable per entry.

- dotenv: graphql_api.client.dotenv's `format_dotenv` (bare, 'single' or
  "double" quoted with escapes, whichever every dotenv reader agrees on).
- json: one object of strings, two-space indented, UTF-8 (not \\u-escaped).
- yaml: one mapping, every key and value a double-quoted scalar (so `NO`,
  `1.0` or `~` stay strings); needs PyYAML.
- shell: `export NAME='value'` lines for `source`/`eval`, a single quote
  written as '\\'' (the POSIX way); values may span lines.

Readers take the same formats written by hand, and refuse (by line or name,
never quoting a value) what is ambiguous: duplicate names, non-string values.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from graphql_api.cli.choices import FileFormat
from graphql_api.client.dotenv import format_dotenv

_SHELL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Characters that need no quoting in a POSIX shell word.
_SHELL_SAFE = re.compile(r"[A-Za-z0-9_@%+,./:=-]+")
_EXTENSIONS = {".json": FileFormat.JSON, ".yaml": FileFormat.YAML, ".yml": FileFormat.YAML, ".sh": FileFormat.SHELL}


class FormatError(ValueError):
    """A file that is not in its format; the message names lines or names, never values."""


@dataclass(frozen=True)
class Variable:
    name: str
    value: str
    line: int  # 0 when the format does not say


def guess(path: Path | None) -> FileFormat:
    """The format a file name suggests: .json, .yaml/.yml, .sh; dotenv otherwise."""
    if path is None:
        return FileFormat.DOTENV
    return _EXTENSIONS.get(path.suffix.lower(), FileFormat.DOTENV)


def dump(pairs: Sequence[tuple[str, str]], fmt: FileFormat) -> str:
    ordered = sorted(pairs)
    if fmt is FileFormat.DOTENV:
        return format_dotenv(ordered)
    if fmt is FileFormat.JSON:
        return json.dumps(dict(ordered), ensure_ascii=False, indent=2) + "\n"
    if fmt is FileFormat.YAML:
        yaml = _yaml()
        if not ordered:
            return "{}\n"
        text: str = yaml.dump(
            dict(ordered),
            Dumper=yaml.SafeDumper,
            default_style='"',
            allow_unicode=True,
            sort_keys=True,
            width=2**31 - 1,
            explicit_start=False,
        )
        return text
    return "".join(f"export {name}={_shell_quote(value)}\n" for name, value in ordered)


def load(text: str, fmt: FileFormat) -> list[Variable]:
    """The variables of a json, yaml or shell text (dotenv goes to the server's own parser)."""
    text = text.removeprefix("\ufeff")
    if fmt is FileFormat.JSON:
        return _load_json(text)
    if fmt is FileFormat.YAML:
        return _load_yaml(text)
    if fmt is FileFormat.SHELL:
        return _load_shell(text)
    raise ValueError(f"no reader for {fmt.value} here")


def _shell_quote(value: str) -> str:
    if _SHELL_SAFE.fullmatch(value):
        return value
    return "'" + value.replace("'", "'\\''") + "'"


def _load_json(text: str) -> list[Variable]:
    def pairs(items: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
        seen: set[str] = set()
        for key, _ in items:
            if key in seen:
                raise FormatError(f"{key} is given twice")
            seen.add(key)
        return items

    try:
        document = json.loads(text, object_pairs_hook=pairs)
    except json.JSONDecodeError as exc:
        raise FormatError(f"line {exc.lineno}: not valid JSON ({exc.msg})") from None
    if not isinstance(document, list) or not all(isinstance(item, tuple) for item in document):
        raise FormatError('expected one JSON object of NAME: "value" pairs')
    variables = []
    for key, item in document:
        if not isinstance(item, str):
            raise FormatError(f"{key}: the value must be a string (put it in quotes)")
        variables.append(Variable(key, item, 0))
    return variables


def _load_yaml(text: str) -> list[Variable]:
    yaml = _yaml()

    class Loader(yaml.SafeLoader):  # type: ignore[name-defined]  # yaml is imported lazily (optional): Any here
        pass

    def mapping(loader: Any, node: Any) -> list[Variable]:
        found: dict[str, int] = {}
        variables = []
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node)
            line = key_node.start_mark.line + 1
            if not isinstance(key, str):
                raise FormatError(f"line {line}: names must be strings")
            if key in found:
                raise FormatError(f"line {line}: {key} is already set on line {found[key]}")
            found[key] = line
            item = loader.construct_object(value_node, deep=True)
            if not isinstance(item, str):
                raise FormatError(f"line {line}: {key}: the value must be a string (put it in quotes)")
            variables.append(Variable(key, item, line))
        return variables

    Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, mapping)
    try:
        document = yaml.load(text, Loader=Loader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"line {mark.line + 1}: " if mark is not None else ""
        raise FormatError(f"{where}not valid YAML ({exc.problem or 'syntax error'})") from None
    except yaml.YAMLError:
        raise FormatError("not valid YAML") from None
    if document is None:
        return []
    if not isinstance(document, list):
        raise FormatError('expected one YAML mapping of NAME: "value"')
    return document


def _yaml() -> Any:
    try:
        import yaml
    except ImportError:
        raise FormatError("the yaml format needs PyYAML (pip install pyyaml)") from None
    return yaml


def _load_shell(text: str) -> list[Variable]:
    """`[export] NAME=WORD` lines, WORD made of '...' quotes, \\x escapes and plain characters."""
    variables: list[Variable] = []
    seen: dict[str, int] = {}
    index, line = 0, 1
    while index < len(text):
        char = text[index]
        if char == "\n":
            index, line = index + 1, line + 1
            continue
        if char in " \t":
            index += 1
            continue
        if char == "#":
            end = text.find("\n", index)
            index = len(text) if end == -1 else end
            continue
        start_line = line
        end = text.find("=", index)
        head = text[index:end] if end != -1 else ""
        if head.startswith("export "):
            head = head[len("export ") :].lstrip(" \t")
        if end == -1 or "\n" in head or not _SHELL_NAME.fullmatch(head):
            raise FormatError(f"line {start_line}: expected [export] NAME='value'")
        index = end + 1
        out: list[str] = []
        while index < len(text) and text[index] not in " \t\n;":
            char = text[index]
            if char == "'":
                close = text.find("'", index + 1)
                if close == -1:
                    raise FormatError(f"line {start_line}: the single quote is never closed")
                piece = text[index + 1 : close]
                out.append(piece)
                line += piece.count("\n")
                index = close + 1
            elif char == "\\" and index + 1 < len(text):
                if text[index + 1] == "\n":
                    line += 1  # a line continuation: nothing
                else:
                    out.append(text[index + 1])
                index += 2
            elif char in '"$`(){}<>|&*?[]~!':
                raise FormatError(
                    f"line {start_line}: {char!r} needs shell expansion rules; write values in single quotes"
                )
            else:
                out.append(char)
                index += 1
        rest_end = text.find("\n", index)
        rest = text[index : len(text) if rest_end == -1 else rest_end].strip(" \t;")
        if rest and not rest.startswith("#"):
            raise FormatError(f"line {start_line}: one NAME='value' per line")
        index = len(text) if rest_end == -1 else rest_end
        if head in seen:
            raise FormatError(f"line {start_line}: {head} is already set on line {seen[head]}")
        seen[head] = start_line
        variables.append(Variable(head, "".join(out), start_line))
    return variables
