from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from graphql_api.errors import BadUserInput
from graphql_api.services.dotenv import format_dotenv, parse_dotenv

SAMPLE = (
    "# a comment\n"
    "\n"
    "export PLAIN=value\n"
    "SPACED = two words   # inline comment\n"
    "HASH_IN_VALUE=a#b\n"
    "SINGLE='literal $HOME \\n stays'\n"
    'DOUBLE="tab\\there \\"quoted\\" back\\\\slash \\$NOT"\n'
    'MULTI="first\n'
    'second"\n'
    "EMPTY=\n"
    'INTERP="${NOT_EXPANDED}"\n'
    "CRLF=windows\r\n"
    "DUP=old\n"
    "DUP=new\n"
)


def test_sample_parses_exactly() -> None:
    parsed = {e.name: e.value for e in parse_dotenv(SAMPLE)}
    assert parsed == {
        "PLAIN": "value",
        "SPACED": "two words",
        "HASH_IN_VALUE": "a#b",
        "SINGLE": "literal $HOME \\n stays",
        "DOUBLE": 'tab\there "quoted" back\\slash $NOT',
        "MULTI": "first\nsecond",
        "EMPTY": "",
        "INTERP": "${NOT_EXPANDED}",
        "CRLF": "windows",
        "DUP": "new",
    }


def test_line_numbers_follow_multiline_values() -> None:
    lines = {e.name: e.line for e in parse_dotenv(SAMPLE)}
    assert lines["MULTI"] == 8 and lines["EMPTY"] == 10


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("NOVALUE\n", "line 1: expected KEY=VALUE"),
        ("A=1\n1BAD=2\n", "line 2"),
        ('A="never closed\nB=2\n', "line 1: the double quote is never closed"),
        ("A='x' trailing\n", "line 1: unexpected text"),
    ],
)
def test_errors_name_the_line_and_never_the_value(text: str, message: str) -> None:
    with pytest.raises(BadUserInput) as caught:
        parse_dotenv(text)
    assert message in str(caught.value) and caught.value.field == "dotenv"
    assert "never closed\nB" not in str(caught.value)


names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,20}", fullmatch=True)
values = st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=60)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(names, values, max_size=8))
def test_format_then_parse_is_lossless(pairs: dict[str, str]) -> None:
    parsed = parse_dotenv(format_dotenv(list(pairs.items())))
    assert {e.name: e.value for e in parsed} == pairs
