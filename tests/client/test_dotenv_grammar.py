"""The .env grammar against the two parsers people's files were written for.

Why: "lossless" means each value comes out as the program that used the file
read it. The cases below restate, as our own data, the inputs of
python-dotenv's parser tests (tests/test_parser.py) and of npm dotenv's
fixtures (tests/.env, tests/.env-multiline, tests/.env.bom, test-parse.js).
Where the two disagree the grammar picks one and says why; where a file
would mean different things to different readers, it is refused by line
number rather than guessed.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from graphql_api.client.dotenv import DotenvError, format_dotenv, parse_dotenv, split_dotenv

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "dotenv"


def values(text: str) -> dict[str, str]:
    return {entry.name: entry.value for entry in parse_dotenv(text)}


# -- python-dotenv's parser tests --------------------------------------------------------

PYTHON_DOTENV = [
    ("", {}),
    ("a=b", {"a": "b"}),
    ("'a'=b", {"a": "b"}),
    (" a = b ", {"a": "b"}),
    ("export a=b", {"a": "b"}),
    (" export 'a'=b", {"a": "b"}),
    ("# a=b", {}),
    ("a=b#c", {"a": "b#c"}),
    ("a=b #c", {"a": "b"}),
    ("a= #c", {"a": ""}),
    ("a=  # comment", {"a": ""}),
    ("a=#b", {"a": "#b"}),
    ("a=b\t#c", {"a": "b"}),
    ("a=b c", {"a": "b c"}),
    ("a=b\tc", {"a": "b\tc"}),
    ("a=b  c", {"a": "b  c"}),
    ("a=b\u00a0 c", {"a": "b\u00a0 c"}),
    ("a=b c ", {"a": "b c"}),
    ("a='b c '", {"a": "b c "}),
    ('a="b c "', {"a": "b c "}),
    ("export export_a=1", {"export_a": "1"}),
    ("export port=8000", {"port": "8000"}),
    ('a="b\nc"', {"a": "b\nc"}),
    ("a='b\nc'", {"a": "b\nc"}),
    ('a="b\\nc"', {"a": "b\nc"}),
    ("a='b\\nc'", {"a": "b\\nc"}),
    ('a="b\\"c"', {"a": 'b"c'}),
    ("a=à", {"a": "à"}),
    ('a="à"', {"a": "à"}),
    ("a=b\nc=d", {"a": "b", "c": "d"}),
    ("a=b\rc=d", {"a": "b", "c": "d"}),
    ("a=b\r\nc=d", {"a": "b", "c": "d"}),
    ("a=\nb=c", {"a": "", "b": "c"}),
    ("\n\n", {}),
    ("a=b\n\n", {"a": "b"}),
    ("a=b\n\nc=d", {"a": "b", "c": "d"}),
    ('# comment\na="b\nc"\nd=e\n', {"a": "b\nc", "d": "e"}),
    ("a=b\n# comment 1", {"a": "b"}),
    ("# comment 1\n# comment 2", {}),
    ("\ufeffa=b", {"a": "b"}),
    ("\ufeffa=b\nc=d", {"a": "b", "c": "d"}),
]


@pytest.mark.parametrize(("text", "expected"), PYTHON_DOTENV, ids=[repr(t)[:40] for t, _ in PYTHON_DOTENV])
def test_python_dotenv_parser_cases(text: str, expected: dict[str, str]) -> None:
    assert values(text) == expected


@pytest.mark.parametrize(
    ("text", "line", "why"),
    [
        # python-dotenv yields key "no_value_var" with value None; a secret needs a value.
        ("no_value_var", 1, "expected KEY=VALUE"),
        # python-dotenv reports an error binding; npm reads "a: b" as a=b. Refused.
        ("a: b", 1, "expected KEY=VALUE"),
        # python-dotenv reports an error and goes on with b=c; so does this grammar, then refuses the file.
        ('a="\nb=c', 1, "double quote is never closed"),
        # python-dotenv accepts any key up to "="; a secret name cannot be "[" or "uglyKey[%$".
        ("[=b", 1, "not a variable name"),
        ('uglyKey[%$="S3cr3t_P4ssw#rD" #\na=b', 1, "not a variable name"),
        # python-dotenv reads b'c, npm keeps b\'c: ambiguous, so refused.
        ("a='b\\'c'", 1, "does not escape a quote inside single quotes"),
    ],
)
def test_python_dotenv_cases_this_grammar_refuses_by_line(text: str, line: int, why: str) -> None:
    with pytest.raises(DotenvError) as raised:
        parse_dotenv(text)
    assert raised.value.lines[0] == line
    assert why in str(raised.value)
    assert "S3cr3t" not in str(raised.value)


def test_double_quote_escapes_are_python_dotenvs() -> None:
    assert values('a="\\a\\b\\f\\v\\t\\r\\n\\\\\\\'\\""') == {"a": "\a\b\f\v\t\r\n\\'\""}
    # Any other backslash stays as written (python-dotenv and npm agree): \$ is not an escape.
    assert values('a="\\d \\$HOME \\x41"') == {"a": "\\d \\$HOME \\x41"}


# -- npm dotenv's fixtures ---------------------------------------------------------------

NPM_ENV = (
    "BASIC=basic\n"
    "\n"
    "# previous line intentionally left blank\n"
    "AFTER_LINE=after_line\n"
    "EMPTY=\n"
    "EMPTY_SINGLE_QUOTES=''\n"
    'EMPTY_DOUBLE_QUOTES=""\n'
    "EMPTY_BACKTICKS=``\n"
    "SINGLE_QUOTES='single_quotes'\n"
    "SINGLE_QUOTES_SPACED='    single quotes    '\n"
    'DOUBLE_QUOTES="double_quotes"\n'
    'DOUBLE_QUOTES_SPACED="    double quotes    "\n'
    "DOUBLE_QUOTES_INSIDE_SINGLE='double \"quotes\" work inside single quotes'\n"
    'DOUBLE_QUOTES_WITH_NO_SPACE_BRACKET="{ port: $MONGOLAB_PORT}"\n'
    "SINGLE_QUOTES_INSIDE_DOUBLE=\"single 'quotes' work inside double quotes\"\n"
    "BACKTICKS_INSIDE_SINGLE='`backticks` work inside single quotes'\n"
    'BACKTICKS_INSIDE_DOUBLE="`backticks` work inside double quotes"\n'
    "BACKTICKS=`backticks`\n"
    "BACKTICKS_SPACED=`    backticks    `\n"
    'DOUBLE_QUOTES_INSIDE_BACKTICKS=`double "quotes" work inside backticks`\n'
    "SINGLE_QUOTES_INSIDE_BACKTICKS=`single 'quotes' work inside backticks`\n"
    "DOUBLE_AND_SINGLE_QUOTES_INSIDE_BACKTICKS=`double \"quotes\" and single 'quotes' work inside backticks`\n"
    'EXPAND_NEWLINES="expand\\nnew\\nlines"\n'
    "DONT_EXPAND_UNQUOTED=dontexpand\\nnewlines\n"
    "DONT_EXPAND_SQUOTED='dontexpand\\nnewlines'\n"
    "# COMMENTS=work\n"
    "INLINE_COMMENTS=inline comments # work #very #well\n"
    "INLINE_COMMENTS_SINGLE_QUOTES='inline comments outside of #singlequotes' # work\n"
    'INLINE_COMMENTS_DOUBLE_QUOTES="inline comments outside of #doublequotes" # work\n'
    "INLINE_COMMENTS_BACKTICKS=`inline comments outside of #backticks` # work\n"
    "INLINE_COMMENTS_SPACE=inline comments start with a#number sign. no space required.\n"
    "EQUAL_SIGNS=equals==\n"
    'RETAIN_INNER_QUOTES={"foo": "bar"}\n'
    'RETAIN_INNER_QUOTES_AS_STRING=\'{"foo": "bar"}\'\n'
    'RETAIN_INNER_QUOTES_AS_BACKTICKS=`{"foo": "bar\'s"}`\n'
    "TRIM_SPACE_FROM_UNQUOTED=    some spaced out string\n"
    "USERNAME=therealnerdybeast@example.tld\n"
    "    SPACED_KEY = parsed\n"
    "export EXPORT_IS_DECLARED=parsed\n"
    "export   EXPORT_IS_DECLARED_WITH_SPACING=parsed\n"
    "export EXPORT_IS_DECLARED_WITH_SOME_VALUE=some_value\n"
    "export   EXPORT_IS_DECLARED_WITH_SOME_VALUE_AND_SPACING  =some_value\n"
)

NPM_EXPECTED = {
    "BASIC": "basic",
    "AFTER_LINE": "after_line",
    "EMPTY": "",
    "EMPTY_SINGLE_QUOTES": "",
    "EMPTY_DOUBLE_QUOTES": "",
    "EMPTY_BACKTICKS": "",
    "SINGLE_QUOTES": "single_quotes",
    "SINGLE_QUOTES_SPACED": "    single quotes    ",
    "DOUBLE_QUOTES": "double_quotes",
    "DOUBLE_QUOTES_SPACED": "    double quotes    ",
    "DOUBLE_QUOTES_INSIDE_SINGLE": 'double "quotes" work inside single quotes',
    "DOUBLE_QUOTES_WITH_NO_SPACE_BRACKET": "{ port: $MONGOLAB_PORT}",
    "SINGLE_QUOTES_INSIDE_DOUBLE": "single 'quotes' work inside double quotes",
    "BACKTICKS_INSIDE_SINGLE": "`backticks` work inside single quotes",
    "BACKTICKS_INSIDE_DOUBLE": "`backticks` work inside double quotes",
    "BACKTICKS": "backticks",
    "BACKTICKS_SPACED": "    backticks    ",
    "DOUBLE_QUOTES_INSIDE_BACKTICKS": 'double "quotes" work inside backticks',
    "SINGLE_QUOTES_INSIDE_BACKTICKS": "single 'quotes' work inside backticks",
    "DOUBLE_AND_SINGLE_QUOTES_INSIDE_BACKTICKS": "double \"quotes\" and single 'quotes' work inside backticks",
    "EXPAND_NEWLINES": "expand\nnew\nlines",
    "DONT_EXPAND_UNQUOTED": "dontexpand\\nnewlines",
    "DONT_EXPAND_SQUOTED": "dontexpand\\nnewlines",
    "INLINE_COMMENTS": "inline comments",
    "INLINE_COMMENTS_SINGLE_QUOTES": "inline comments outside of #singlequotes",
    "INLINE_COMMENTS_DOUBLE_QUOTES": "inline comments outside of #doublequotes",
    "INLINE_COMMENTS_BACKTICKS": "inline comments outside of #backticks",
    # npm ends a value at any '#': "inline comments start with a". python-dotenv
    # needs whitespace before it, and so does this grammar: a '#' glued to a
    # value (a password, a URL fragment) is never silently dropped.
    "INLINE_COMMENTS_SPACE": "inline comments start with a#number sign. no space required.",
    "EQUAL_SIGNS": "equals==",
    "RETAIN_INNER_QUOTES": '{"foo": "bar"}',
    "RETAIN_INNER_QUOTES_AS_STRING": '{"foo": "bar"}',
    "RETAIN_INNER_QUOTES_AS_BACKTICKS": '{"foo": "bar\'s"}',
    "TRIM_SPACE_FROM_UNQUOTED": "some spaced out string",
    "USERNAME": "therealnerdybeast@example.tld",
    "SPACED_KEY": "parsed",
    "EXPORT_IS_DECLARED": "parsed",
    "EXPORT_IS_DECLARED_WITH_SPACING": "parsed",
    "EXPORT_IS_DECLARED_WITH_SOME_VALUE": "some_value",
    "EXPORT_IS_DECLARED_WITH_SOME_VALUE_AND_SPACING": "some_value",
}

NPM_MULTILINE = (
    'MULTI_DOUBLE_QUOTED="THIS\nIS\nA\nMULTILINE\nSTRING"\n'
    "\n"
    "MULTI_SINGLE_QUOTED='THIS\nIS\nA\nMULTILINE\nSTRING'\n"
    "\n"
    'MULTI_BACKTICKED=`THIS\nIS\nA\n"MULTILINE\'S"\nSTRING`\n'
    "\n"
    'MULTI_PEM_DOUBLE_QUOTED="-----BEGIN PUBLIC KEY-----\n'
    "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAnNl1tL3QjKp3DZWM0T3u\n"
    "u4QuUoobAgMBAAE=\n"
    '-----END PUBLIC KEY-----"\n'
)


def test_npm_dotenv_fixture() -> None:
    assert values(NPM_ENV) == NPM_EXPECTED


def test_npm_dotenv_multiline_fixture() -> None:
    assert values(NPM_MULTILINE) == {
        "MULTI_DOUBLE_QUOTED": "THIS\nIS\nA\nMULTILINE\nSTRING",
        "MULTI_SINGLE_QUOTED": "THIS\nIS\nA\nMULTILINE\nSTRING",
        "MULTI_BACKTICKED": 'THIS\nIS\nA\n"MULTILINE\'S"\nSTRING',
        "MULTI_PEM_DOUBLE_QUOTED": "-----BEGIN PUBLIC KEY-----\n"
        "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAnNl1tL3QjKp3DZWM0T3u\nu4QuUoobAgMBAAE=\n-----END PUBLIC KEY-----",
    }


def test_npm_dotenv_bom_and_line_end_fixtures() -> None:
    assert values("\ufeffBASIC=basic\nSECOND=two\n") == {"BASIC": "basic", "SECOND": "two"}
    expected = {"SERVER": "localhost", "PASSWORD": "password", "DB": "tests"}
    for end in ("\r", "\n", "\r\n"):
        assert values(end.join(["SERVER=localhost", "PASSWORD=password", "DB=tests", ""])) == expected


def test_npm_backticks_keep_an_escaped_backtick_and_do_not_close_on_it() -> None:
    assert values("A=`x\\`y`") == {"A": "x\\`y"}


def test_a_duplicate_key_is_refused_where_npm_keeps_the_last() -> None:
    with pytest.raises(DotenvError) as raised:
        parse_dotenv("DUP=one\nDUP=two")
    assert str(raised.value) == "line 2: DUP is already set on line 1"


# -- this grammar's own promises -----------------------------------------------------------


def test_lone_carriage_returns_separate_entries() -> None:
    # A file saved with classic-Mac line ends used to become one long value.
    parsed = parse_dotenv("A=1\rB=two words\rC='x'\r")
    assert [(e.name, e.value, e.line) for e in parsed] == [("A", "1", 1), ("B", "two words", 2), ("C", "x", 3)]


def test_any_line_end_inside_quotes_reads_as_a_newline() -> None:
    assert values('K="a\r\nb\rc\nd"') == {"K": "a\nb\nc\nd"}
    assert values('K="explicit\\r"') == {"K": "explicit\r"}


def test_line_numbers_count_every_kind_of_line_end_and_multiline_values() -> None:
    text = "# c\r\nA=1\rB='x\ny'\r\n\nC=\"p\r\nq\"\nD=4"
    assert [(e.name, e.line) for e in parse_dotenv(text)] == [("A", 2), ("B", 3), ("C", 6), ("D", 8)]


def test_every_problem_is_reported_by_line_and_none_quotes_the_file() -> None:
    text = "GOOD=1\nsk_live_pasted_without_a_name\nDUP=a\nDUP=sk_live_secret\nX='unclosed sk_live_z\nY=2\n"
    with pytest.raises(DotenvError) as raised:
        parse_dotenv(text)
    assert raised.value.lines == [2, 4, 5]
    assert "sk_live" not in str(raised.value)


def test_text_after_a_closing_quote_is_refused() -> None:
    with pytest.raises(DotenvError, match="line 1: unexpected text after the closing quote"):
        parse_dotenv("A='x' trailing")


def test_max_entries() -> None:
    with pytest.raises(DotenvError, match="more than 2 variables"):
        parse_dotenv("A=1\nB=2\nC=3\n", max_entries=2)


def test_entry_reprs_hide_values() -> None:
    (entry,) = parse_dotenv("TOKEN=sk_live_hidden\n")
    assert "sk_live_hidden" not in repr(entry) and entry.value == "sk_live_hidden"


def test_the_realistic_fixture_means_what_its_author_wrote() -> None:
    text = (FIXTURES / "realistic.env").read_bytes().decode("utf-8")
    expected = json.loads((FIXTURES / "realistic.expected.json").read_text(encoding="utf-8"))
    assert values(text) == expected
    assert len(expected) >= 40
    assert text.startswith("\ufeff") and "\r\n" in text and "\r" in text.replace("\r\n", "")


# -- writing ---------------------------------------------------------------------------------

names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,20}", fullmatch=True)
hostile = st.text(
    alphabet=st.one_of(st.sampled_from("'\"`\\$#=\n\r\t {}"), st.characters(blacklist_categories=["Cs"])),
    max_size=60,
)


@settings(max_examples=500, deadline=None)
@given(st.dictionaries(names, hostile, max_size=8))
def test_format_then_parse_is_lossless(pairs: dict[str, str]) -> None:
    text = format_dotenv(sorted(pairs.items()))
    assert values(text) == pairs
    assert text.count("\n") == len(pairs) and "\r" not in text  # one line each, whatever the value


def test_format_prefers_what_every_reader_agrees_on() -> None:
    assert format_dotenv([("A", "plain-value_1.2:3/4"), ("B", ""), ("C", "has space $X #y"), ("D", "it's\n")]) == (
        "A=plain-value_1.2:3/4\nB=\nC='has space $X #y'\nD=\"it's\\n\"\n"
    )


def test_split_cuts_between_entries_and_maps_lines_back() -> None:
    text = "\ufeff# head\nA=1\nB='multi\nline'\n# note\nC=3\r\nD=4\rE=5"
    entries = parse_dotenv(text)
    pieces = split_dotenv(text, entries, max_entries=2, max_bytes=1 << 20)
    assert "".join(piece.text for piece in pieces) == text
    assert [piece.entries for piece in pieces] == [2, 2, 1]
    seen = []
    for piece in pieces:
        seen += [(e.name, e.value, e.line + piece.line_offset) for e in parse_dotenv(piece.text)]
    assert seen == [(e.name, e.value, e.line) for e in entries]
    by_bytes = split_dotenv(text, entries, max_entries=100, max_bytes=12)
    assert sum(piece.entries for piece in by_bytes) == 5 and len(by_bytes) > 1
