"""Bounded, well-formed input: every hostile shape is a client error with a
code, never a 500 or INTERNAL (SQLite and PostgreSQL)."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from graphql_api.settings import Settings
from tests.conftest import make_settings
from tests.harness import ADMIN_TOKEN, Server
from tests.security.conftest import LiveClock, codes, create_secret, running

pytestmark = pytest.mark.asyncio

MAX_BYTES = 65536
AUTH = {"authorization": f"Bearer {ADMIN_TOKEN}", "content-type": "application/json"}
CREATE = 'mutation($i: CreateSecretInput!) { createSecret(workspaceId: "default", input: $i) { id } }'
GOOD = {"name": "BOUNDED", "secretType": "GENERIC", "value": "v"}


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return make_settings(database_url, tmp_path / "data", STRONGROOM_MAX_REQUEST_BYTES=str(MAX_BYTES))


async def raw(server: Server, body: bytes, headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    response = await server.client.post("/graphql", content=body, headers={**AUTH, **(headers or {})})
    try:
        parsed = response.json()
    except ValueError:
        parsed = {"unparsable": response.text[:200]}
    return response.status_code, parsed


def client_error(status: int, body: dict[str, Any]) -> bool:
    """A 4xx (or a 200 whose errors are all BAD_USER_INPUT): never a 5xx, never INTERNAL."""
    found = codes(body)
    return status < 500 and bool(found) and all(code == "BAD_USER_INPUT" for code in found)


def no_tracebacks(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


# ---- size -------------------------------------------------------------------------


async def test_oversized_body_is_413_before_parsing(server: Server) -> None:
    # Not even valid JSON: a 413 (not a 400) shows it was refused before parsing.
    body = b'{"query": "' + b"x" * (MAX_BYTES + 10)
    status, answer = await raw(server, body)
    assert status == 413 and codes(answer) == ["BAD_USER_INPUT"], (status, answer)
    lying = await server.client.post("/graphql", content=b"{}", headers={**AUTH, "content-length": str(10 * MAX_BYTES)})
    assert lying.status_code == 413


async def test_oversized_streamed_body_without_content_length_is_413_and_not_read_to_the_end(server: Server) -> None:
    sent = 0

    async def endless() -> AsyncIterator[bytes]:
        nonlocal sent
        yield b'{"query": "'
        while sent < 100:  # 100 x 8 kB would be 800 kB; the server must stop long before
            sent += 1
            yield b"y" * 8192

    response = await server.client.post("/graphql", content=endless(), headers=AUTH)
    assert "content-length" not in {k.lower() for k in response.request.headers}
    assert response.status_code == 413, response.text
    assert codes(response.json()) == ["BAD_USER_INPUT"]
    assert sent <= (MAX_BYTES // 8192) + 2, f"the server read {sent} chunks past its limit"


async def test_a_body_just_under_the_limit_is_served(server: Server) -> None:
    padding = " " * (MAX_BYTES - 200)
    status, answer = await raw(server, json.dumps({"query": "{ viewer { id } }" + padding}).encode())
    assert status == 200 and not answer.get("errors"), answer


async def test_huge_headers_are_431(server: Server) -> None:
    one = await server.client.post(
        "/graphql", json={"query": "{ viewer { id } }"}, headers={**AUTH, "x-junk": "j" * 40_000}
    )
    assert one.status_code == 431 and codes(one.json()) == ["BAD_USER_INPUT"]
    many = {f"x-junk-{n}": "j" * 1000 for n in range(40)}
    spread = await server.client.post("/graphql", json={"query": "{ viewer { id } }"}, headers={**AUTH, **many})
    assert spread.status_code == 431


# ---- nesting -----------------------------------------------------------------------


@pytest.mark.parametrize("depth", [40, 1000, 100_000])
async def test_deeply_nested_variables_are_refused_with_a_code(
    server: Server, depth: int, caplog: pytest.LogCaptureFixture
) -> None:
    nested = "[" * depth + "]" * depth
    body = (
        '{"query": "mutation($m: JSON) { createSecret(workspaceId: \\"default\\", input: {name: \\"DEEP\\", secretType: GENERIC, value: \\"v\\", metadata: $m}) { id } }", "variables": {"m": {"k": '
        + nested
        + "}}}"
    ).encode()
    status, answer = await raw(server, body)
    assert client_error(status, answer), (status, answer)
    objects = '{"a": ' * depth + "1" + "}" * depth
    status, answer = await raw(server, ('{"query": "{ viewer { id } }", "variables": {"v": ' + objects + "}}").encode())
    assert client_error(status, answer), (status, answer)
    assert no_tracebacks(caplog) == []


async def test_deeply_nested_document_is_refused_with_a_code(server: Server, caplog: pytest.LogCaptureFixture) -> None:
    for depth in (200, 3000):
        document = (
            '{ secrets(workspaceId: "default", filter: {tags: '
            + "[" * depth
            + '"t"'
            + "]" * depth
            + "}) { totalCount } }"
        )
        status, answer = await raw(server, json.dumps({"query": document}).encode())
        assert client_error(status, answer), (depth, status, answer)
    selection = "{ viewer " + "{ bindings " * 50 + "{ role }" + " }" * 50 + " }"
    status, answer = await raw(server, json.dumps({"query": selection}).encode())
    assert client_error(status, answer), (status, answer)
    assert no_tracebacks(caplog) == []


# ---- transports ----------------------------------------------------------------------


async def test_a_subscription_over_post_or_get_is_a_client_error(server: Server) -> None:
    document = 'subscription { auditEvents(workspaceId: "default") { seq } }'
    for accept in ("application/json", "application/graphql-response+json"):
        status, answer = await raw(server, json.dumps({"query": document}).encode(), {"accept": accept})
        assert 400 <= status < 500 or status == 200, status
        assert codes(answer) == ["BAD_USER_INPUT"] and "data" not in answer, answer
    response = await server.client.get(
        "/graphql", params={"query": document}, headers={"authorization": AUTH["authorization"]}
    )
    assert response.status_code < 500 and codes(response.json()) == ["BAD_USER_INPUT"], response.text


# ---- text that no database stores --------------------------------------------------


SURROGATE = "\\ud800"  # as it appears in raw JSON
NUL = "\\u0000"


def create_body(field_json: str) -> bytes:
    return ('{"query": ' + json.dumps(CREATE) + ', "variables": {"i": ' + field_json + "}}").encode()


BAD_TEXT_CASES = {
    "name": '{{"name": "A{x}B", "secretType": "GENERIC", "value": "v"}}',
    "value": '{{"name": "TXT", "secretType": "GENERIC", "value": "v{x}v"}}',
    "tag": '{{"name": "TXT", "secretType": "GENERIC", "value": "v", "tags": ["t{x}"]}}',
    "metadata-value": '{{"name": "TXT", "secretType": "GENERIC", "value": "v", "metadata": {{"k": "m{x}"}}}}',
    "metadata-key": '{{"name": "TXT", "secretType": "GENERIC", "value": "v", "metadata": {{"k{x}": 1}}}}',
    "metadata-nested": '{{"name": "TXT", "secretType": "GENERIC", "value": "v", "metadata": {{"a": [{{"b": "{x}"}}]}}}}',
    "usage": '{{"name": "TXT", "secretType": "GENERIC", "value": "v", "usage": "u{x}"}}',
}


@pytest.mark.parametrize("bad", [SURROGATE, NUL], ids=["lone-surrogate", "nul"])
async def test_unstorable_text_is_bad_user_input(server: Server, bad: str, caplog: pytest.LogCaptureFixture) -> None:
    failures = {}
    for name, template in BAD_TEXT_CASES.items():
        status, answer = await raw(server, create_body(template.format(x=bad)))
        if not client_error(status, answer):
            failures[name] = (status, answer)
    others = {
        "secretByName": 'query($n: String!) { secretByName(workspaceId: "default", name: $n) { id } }',
        "workspace-id": "query($n: ID!) { secrets(workspaceId: $n) { totalCount } }",
        "cursor": 'query($n: String) { secrets(workspaceId: "default", after: $n) { totalCount } }',
        "name-filter": 'query($n: String) { secrets(workspaceId: "default", filter: {nameContains: $n}) { totalCount } }',
        "createWorkspace-name": 'mutation($n: String) { createWorkspace(id: "texty", name: $n) { id } }',
        "createPrincipal-name": "mutation($n: String!) { createPrincipal(name: $n, bindings: []) { id } }",
        "importSecrets": 'mutation($n: String!) { importSecrets(workspaceId: "default", dotenv: $n) { created } }',
        "token-name": 'mutation($n: String!) { createApiToken(principalId: "00000000-0000-0000-0000-000000000001", name: $n) { token } }',
    }
    for name, query in others.items():
        value = f"X=a{bad}b" if name == "importSecrets" else f"a{bad}b"
        status, answer = await raw(
            server, ('{"query": ' + json.dumps(query) + ', "variables": {"n": "' + value + '"}}').encode()
        )
        if not client_error(status, answer):
            failures[name] = (status, answer)
    # The same characters as GraphQL escapes inside the document.
    literal = (
        'mutation { createSecret(workspaceId: "default", input: {name: "LIT", secretType: GENERIC, value: "a'
        + bad
        + 'b"}) { id } }'
    )
    status, answer = await raw(server, json.dumps({"query": literal}).encode())
    if not client_error(status, answer):
        failures["document-literal"] = (status, answer)
    assert not failures, "\n".join(f"{name}: {found}" for name, found in failures.items())
    assert no_tracebacks(caplog) == []


# ---- cursors -----------------------------------------------------------------------


def b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode("utf-8", errors="surrogatepass")).decode()


ODD_CURSORS = {
    "slashes": "////",
    "huge-number": "99999999999999999999999",
    "max-plus-one": str(2**63),
    "negative": "-1",
    "empty": "",
    "arabic-digits-huge": "\u0669" * 25,
    "spaces": "   ",
    "json-list": b64("[1, 2]"),
    "json-string": b64('"n"'),
    "json-number-name": b64('{"n": 5}'),
    "not-utf8": base64.urlsafe_b64encode(b'{"n": "\xff\xfe"}').decode(),
}
# Cursors built to reach past the format checks.
CRAFTED_CURSORS = {
    "superscript-digit": "\u00b2",  # str.isdigit() says yes, int() says no
    "deep-json": b64("[" * 5000 + "]" * 5000),  # json.loads raises RecursionError
    "nul-in-name": b64('{"n": "\\u0000"}'),  # PostgreSQL refuses NUL in text
    "surrogate-in-name": b64('{"n": "\\ud800"}'),  # not encodable as UTF-8
}
CURSOR_QUERIES = {
    "secrets": 'query($a: String) { secrets(workspaceId: "default", first: 1, after: $a) { totalCount } }',
    "workspaceAudit": 'query($a: String) { workspaceAudit(workspaceId: "default", first: 1, after: $a) { totalCount } }',
    "secretAudit": 'query($a: String) { secretAudit(workspaceId: "default", secretId: "00000000-0000-0000-0000-000000000001", after: $a) { totalCount } }',
}
# Not cursors this API returns, but harmless to answer as a page (never INTERNAL).
LENIENT = {("secrets", "nul-in-name")}


async def cursor_failures(server: Server, cursors: dict[str, str]) -> dict[str, object]:
    await create_secret(server, "default", "CURSORED")
    failures: dict[str, object] = {}
    for query_name, query in CURSOR_QUERIES.items():
        for cursor_name, cursor in cursors.items():
            body = await server.execute(query, {"a": cursor})
            found = codes(body)
            if found == ["BAD_USER_INPUT"] or (not found and (query_name, cursor_name) in LENIENT):
                continue
            failures[f"{query_name}/{cursor_name}"] = found or body
    return failures


async def test_odd_cursors_are_bad_user_input(server: Server, caplog: pytest.LogCaptureFixture) -> None:
    failures = await cursor_failures(server, ODD_CURSORS)
    assert not failures, "\n".join(f"{name}: {found}" for name, found in failures.items())
    assert no_tracebacks(caplog) == []


async def test_crafted_cursors_are_bad_user_input(server: Server, caplog: pytest.LogCaptureFixture) -> None:
    failures = await cursor_failures(server, CRAFTED_CURSORS)
    assert not failures, "\n".join(f"{name}: {found}" for name, found in failures.items())
    assert no_tracebacks(caplog) == []


# ---- dates ---------------------------------------------------------------------------


async def test_far_future_and_far_past_dates_are_bad_user_input(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    pid = (await server.data("{ viewer { id } }"))["viewer"]["id"]
    variable = 'mutation($p: ID!, $e: DateTime) { createApiToken(principalId: $p, name: "far", expiresAt: $e) { apiToken { expiresAt } } }'
    failures = {}
    for moment in (
        "9999-12-31T23:59:59-05:00",
        "9999-12-31T23:59:59.999999-00:01",
        "0001-01-01T00:00:00+05:00",
        "0001-01-01T00:00:00Z",
        "2024-02-30T00:00:00Z",
        "10000-01-01T00:00:00Z",
        "2030-01-01T25:00:00Z",
        "2030-01-01T00:00:00+25:00",
    ):
        body = await server.execute(variable, {"p": pid, "e": moment})
        if codes(body) != ["BAD_USER_INPUT"]:
            failures[f"variable {moment}"] = body
        literal = f'mutation {{ createApiToken(principalId: "{pid}", name: "far", expiresAt: "{moment}") {{ apiToken {{ expiresAt }} }} }}'
        body = await server.execute(literal)
        if codes(body) != ["BAD_USER_INPUT"]:
            failures[f"literal {moment}"] = body
    assert not failures, "\n".join(f"{name}: {found}" for name, found in failures.items())
    assert no_tracebacks(caplog) == []


# ---- suggestions -----------------------------------------------------------------------


async def test_no_suggestions_when_introspection_is_off(database_url: str, tmp_path: Path, clock: LiveClock) -> None:
    settings = make_settings(database_url, tmp_path / "data", STRONGROOM_INTROSPECTION="false")
    documents: list[tuple[str, dict[str, Any]]] = [
        ("{ secretz { id } }", {}),
        ('{ secrets(workspaceid: "default") { totalCount } }', {}),
        ('{ secrets(workspaceId: "default", filter: {secretType: API_KE}) { totalCount } }', {}),
        ('{ secrets(workspaceId: "default", filter: {nameContain: "x"}) { totalCount } }', {}),
        ('{ secrets(workspaceId: "default") { totalCont } }', {}),
        ('query($f: Intt) { secrets(workspaceId: "default", first: $f) { totalCount } }', {}),
        (
            'query($f: SecretFilter) { secrets(workspaceId: "default", filter: $f) { totalCount } }',
            {"f": {"nameContain": "x"}},
        ),
        (
            'query($t: SecretType) { secrets(workspaceId: "default", filter: {secretType: $t}) { totalCount } }',
            {"t": "API_KE"},
        ),
        ("{ __schema { types { name } } }", {}),
        ('{ __type(name: "Query") { name } }', {}),
        ("fragment F on Secrett { id } { viewer { id } }", {}),
    ]
    async with running(settings, clock) as server:
        for document, variables in documents:
            body = await server.execute(document, variables)
            errors = body.get("errors") or []
            assert errors, (document, body)
            for error in errors:
                assert "Did you mean" not in error["message"], (document, error)
                assert (error.get("extensions") or {}).get("code"), (document, error)
