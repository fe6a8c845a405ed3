"""The server's side of the .env grammar: problems become BadUserInput on the
`dotenv` field, naming line numbers and never a value; the per-call limits
of importSecrets apply. (The grammar itself: tests/client/test_dotenv_grammar.py.)"""

from __future__ import annotations

import pytest

from graphql_api.errors import BadUserInput
from graphql_api.services import dotenv


def test_parses_with_the_shared_grammar() -> None:
    entries = dotenv.parse_dotenv("\ufeffexport A='x y'\rB=\"1\\n2\"\r\nC=`c`\n")
    assert [(e.name, e.value, e.line) for e in entries] == [("A", "x y", 1), ("B", "1\n2", 2), ("C", "c", 3)]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("NOVALUE\n", "dotenv: line 1: expected KEY=VALUE"),
        ("A=1\n1BAD=2\n", "dotenv: line 2: the name before '=' is not a variable name"),
        ('A="never closed sk_live_1\nB=2\n', "dotenv: line 1: the double quote is never closed"),
        ("A='x' trailing\n", "dotenv: line 1: unexpected text after the closing quote"),
        ("A=sk_live_1\nB=2\nA=sk_live_2\n", "dotenv: line 3: A is already set on line 1"),
    ],
)
def test_errors_name_the_line_and_never_the_value(text: str, message: str) -> None:
    with pytest.raises(BadUserInput) as caught:
        dotenv.parse_dotenv(text)
    assert str(caught.value).startswith(message) and caught.value.field == "dotenv"
    assert "sk_live" not in str(caught.value)


def test_every_problem_is_named_at_once() -> None:
    with pytest.raises(BadUserInput) as caught:
        dotenv.parse_dotenv("A\nB=1\nC\nB=2\n")
    assert str(caught.value) == (
        "dotenv: line 1: expected KEY=VALUE; line 3: expected KEY=VALUE; line 4: B is already set on line 2"
    )


def test_size_and_entry_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dotenv, "MAX_DOTENV_BYTES", 10)
    with pytest.raises(BadUserInput, match="larger than 10 bytes"):
        dotenv.parse_dotenv("A=0123456789\n")
    monkeypatch.setattr(dotenv, "MAX_DOTENV_BYTES", 1 << 20)
    monkeypatch.setattr(dotenv, "MAX_ENTRIES", 2)
    with pytest.raises(BadUserInput, match="more than 2 variables"):
        dotenv.parse_dotenv("A=1\nB=2\nC=3\n")


def test_the_limits_are_the_api_contract() -> None:
    assert dotenv.MAX_ENTRIES == 50_000 and dotenv.MAX_DOTENV_BYTES == 16 * 1024 * 1024
