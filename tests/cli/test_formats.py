"""Export formats read back exactly, with values chosen to break them."""

from __future__ import annotations

import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from graphql_api.cli.choices import FileFormat
from graphql_api.cli.formats import FormatError, dump, guess, load
from graphql_api.client.dotenv import parse_dotenv
from tests.support.hostile import HOSTILE


def _reread(text: str, fmt: FileFormat) -> list[tuple[str, str]]:
    if fmt is FileFormat.DOTENV:
        return [(e.name, e.value) for e in parse_dotenv(text)]
    return [(v.name, v.value) for v in load(text, fmt)]


@pytest.mark.parametrize("fmt", list(FileFormat), ids=lambda f: f.value)
def test_hostile_values_round_trip_byte_exactly(fmt: FileFormat) -> None:
    text = dump(HOSTILE, fmt)
    assert _reread(text, fmt) == sorted(HOSTILE)
    assert dump(_reread(text, fmt), fmt) == text


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(
        st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,12}", fullmatch=True),
        st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="\0"), max_size=40),
        max_size=6,
    ),
    st.sampled_from(list(FileFormat)),
)
def test_any_values_round_trip(pairs: dict[str, str], fmt: FileFormat) -> None:
    assert _reread(dump(list(pairs.items()), fmt), fmt) == sorted(pairs.items())


def test_the_shell_format_is_what_a_posix_shell_reads() -> None:
    values = [(name, value) for name, value in HOSTILE if "\0" not in value]
    script = (
        dump(values, FileFormat.SHELL)
        + "for n in "
        + " ".join(n for n, _ in values)
        + '; do eval "printf %s \\"\\$$n\\""; printf "\\0"; done'
    )
    out = subprocess.run(["sh", "-c", script], capture_output=True, check=True).stdout
    assert out.split(b"\0")[:-1] == [value.encode("utf-8") for _, value in values]


@pytest.mark.parametrize(
    ("text", "fmt", "message"),
    [
        ('{"A": "1", "A": "2"}', FileFormat.JSON, "A is given twice"),
        ('{"PORT": 8080}', FileFormat.JSON, "PORT: the value must be a string"),
        ('["A"]', FileFormat.JSON, "expected one JSON object"),
        ("{", FileFormat.JSON, "line 1: not valid JSON"),
        ('A: "1"\nA: "2"\n', FileFormat.YAML, "line 2: A is already set on line 1"),
        ("DEBUG: yes\n", FileFormat.YAML, "line 1: DEBUG: the value must be a string"),
        ("A: [1\n", FileFormat.YAML, "not valid YAML"),
        ("export A=$(cat /etc/passwd)\n", FileFormat.SHELL, "needs shell expansion rules"),
        ("export A='x'\nA=y\n", FileFormat.SHELL, "line 2: A is already set on line 1"),
        ("export A='never closed\n", FileFormat.SHELL, "line 1: the single quote is never closed"),
        ("just words\n", FileFormat.SHELL, "line 1: expected [export] NAME='value'"),
    ],
)
def test_ambiguous_input_is_refused_by_line_or_name(text: str, fmt: FileFormat, message: str) -> None:
    with pytest.raises(FormatError) as raised:
        load(text, fmt)
    assert message in str(raised.value)
    assert "passwd" not in str(raised.value)


def test_the_format_follows_the_extension() -> None:
    from pathlib import Path

    assert [guess(Path(p)) for p in ("a.json", "a.YML", "a.yaml", "x.sh", ".env", "prod.env", "env")] == [
        FileFormat.JSON,
        FileFormat.YAML,
        FileFormat.YAML,
        FileFormat.SHELL,
        FileFormat.DOTENV,
        FileFormat.DOTENV,
        FileFormat.DOTENV,
    ]
