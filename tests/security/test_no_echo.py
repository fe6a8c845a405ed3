"""Nothing the client sent is echoed in an error message, and every error has a code.

Each case sends a distinctive marker in a bad input; the answer's error
messages must not contain it (a secret pasted into the wrong field must not
come back in an error that proxies, logs and browsers keep).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.harness import Server

pytestmark = pytest.mark.asyncio

MARK = "LEAKME-7f3a"  # for strings
NAME = "LEAKME_7f3a"  # where only a GraphQL Name fits (enum values, tokens, field names)
NUMBER = 73577357735773577357  # past 2**63
NUMBER_TEXT = str(NUMBER)
MARKERS = (MARK, NAME, NUMBER_TEXT, "LEAKME")

SECRETS_FIRST = 'query($f: Int) { secrets(workspaceId: "default", first: $f) { totalCount } }'
BY_NAME = 'query($n: String!) { secretByName(workspaceId: "default", name: $n) { id } }'
CREATE = 'mutation($i: CreateSecretInput!) { createSecret(workspaceId: "default", input: $i) { id } }'
UPDATE = 'mutation($i: UpdateSecretInput!) { updateSecret(workspaceId: "default", id: "00000000-0000-0000-0000-000000000001", input: $i) { id } }'
FILTER = 'query($f: SecretFilter) { secrets(workspaceId: "default", filter: $f) { totalCount } }'
TYPE = 'query($t: SecretType) { secrets(workspaceId: "default", filter: {secretType: $t}) { totalCount } }'
TOKEN = 'mutation($e: DateTime) { createApiToken(principalId: "00000000-0000-0000-0000-000000000001", name: "t", expiresAt: $e) { token } }'
GOOD_INPUT = {"name": "ECHO", "secretType": "API_KEY", "value": "v"}

VARIABLE_CASES: dict[str, tuple[str, dict[str, Any]]] = {
    "string-for-int": (SECRETS_FIRST, {"f": MARK}),
    "object-for-int": (SECRETS_FIRST, {"f": {"k": MARK}}),
    "list-for-int": (SECRETS_FIRST, {"f": [MARK]}),
    "bool-for-string": (BY_NAME, {"n": True}),
    "object-for-string": (BY_NAME, {"n": {"k": MARK, "k2": [MARK]}}),
    "list-for-string": (BY_NAME, {"n": [MARK, MARK]}),
    "over-long-int": (SECRETS_FIRST, {"f": NUMBER}),
    "float-for-int": (SECRETS_FIRST, {"f": 7357.7357}),
    "int-as-string-for-int": (SECRETS_FIRST, {"f": NUMBER_TEXT}),
    "enum-does-not-exist": (TYPE, {"t": NAME}),
    "enum-as-string-with-marker": (TYPE, {"t": MARK}),
    "enum-wrong-type": (TYPE, {"t": {"k": MARK}}),
    "nested-wrong-field-type": (CREATE, {"i": {**GOOD_INPUT, "tags": [{"k": MARK}]}}),
    "nested-enum-wrong": (CREATE, {"i": {**GOOD_INPUT, "secretType": NAME}}),
    "nested-rotation-policy-wrong": (UPDATE, {"i": {"rotationPolicy": MARK}}),
    "nested-int-wrong": (UPDATE, {"i": {"expectedVersion": MARK}}),
    "nested-string-is-object": (CREATE, {"i": {**GOOD_INPUT, "value": {"k": MARK}}}),
    "input-is-string": (CREATE, {"i": MARK}),
    "input-is-list": (CREATE, {"i": [MARK]}),
    "unknown-input-field-value": (CREATE, {"i": {**GOOD_INPUT, "extra": MARK}}),
    "unknown-input-field-name": (CREATE, {"i": {**GOOD_INPUT, MARK: 1}}),
    "unknown-filter-field-name": (FILTER, {"f": {MARK: MARK}}),
    "missing-required-field": (CREATE, {"i": {"name": MARK, "value": MARK}}),
    "bad-datetime": (TOKEN, {"e": MARK}),
    "datetime-out-of-range": (TOKEN, {"e": f"99999-01-01T00:00:00{MARK}"}),
    "float-for-string": (BY_NAME, {"n": 7357.5}),
    "id-as-object": ('query($id: ID!) { secret(workspaceId: "default", id: $id) { id } }', {"id": {"k": MARK}}),
}

LITERAL_CASES: dict[str, str] = {
    "string-literal-for-int": f'{{ secrets(workspaceId: "default", first: "{MARK}") {{ totalCount }} }}',
    "object-literal-for-string": f'{{ secretByName(workspaceId: "default", name: {{k: "{MARK}"}}) {{ id }} }}',
    "list-literal-for-string": f'{{ secretByName(workspaceId: "default", name: ["{MARK}"]) {{ id }} }}',
    "over-long-int-literal": f'{{ secrets(workspaceId: "default", first: {NUMBER_TEXT}) {{ totalCount }} }}',
    "float-literal-for-int": '{ secrets(workspaceId: "default", first: 7357.7357) { totalCount } }',
    "enum-literal-does-not-exist": f'{{ secrets(workspaceId: "default", filter: {{secretType: {NAME}}}) {{ totalCount }} }}',
    "string-literal-for-enum": f'{{ secrets(workspaceId: "default", filter: {{secretType: "{MARK}"}}) {{ totalCount }} }}',
    "enum-literal-for-string": f'{{ secretByName(workspaceId: "default", name: {NAME}) {{ id }} }}',
    "nested-literal-wrong-type": f'mutation {{ createSecret(workspaceId: "default", input: {{name: "X", secretType: API_KEY, value: {{k: "{MARK}"}}}}) {{ id }} }}',
    "unknown-literal-input-field": f'{{ secrets(workspaceId: "default", filter: {{{NAME}: "{MARK}"}}) {{ totalCount }} }}',
    "literal-datetime": f'mutation {{ createApiToken(principalId: "00000000-0000-0000-0000-000000000001", name: "t", expiresAt: "{MARK}") {{ token }} }}',
    "bool-literal-marker-in-alias": f'{{ {NAME}: secrets(workspaceId: "default", first: true) {{ totalCount }} }}',
    "variable-default-wrong-type": f'query($f: Int = "{MARK}") {{ secrets(workspaceId: "default", first: $f) {{ totalCount }} }}',
}

SYNTAX_CASES: dict[str, str] = {
    "trailing-name": f"{{ viewer {{ id }} }} {NAME}",
    "leading-name": f"{NAME} {{ viewer {{ id }} }}",
    "name-where-colon-expected": f"{{ secrets(workspaceId {NAME}) {{ totalCount }} }}",
    "unterminated-string": f'{{ secretByName(workspaceId: "default", name: "{MARK}) {{ id }} }}',
    "bad-escape": f'{{ secretByName(workspaceId: "default", name: "{MARK}\\q") {{ id }} }}',
    "string-then-garbage": f'{{ secretByName(workspaceId: "default", name: "{MARK}" "{MARK}") {{ id }} }}',
    "block-string-unterminated": f'{{ secretByName(workspaceId: "default", name: """{MARK}) {{ id }} }}',
    "number-then-name": f'{{ secrets(workspaceId: "default", first: 12{NAME}) {{ totalCount }} }}',
    "bad-unicode-escape": '{ secretByName(workspaceId: "default", name: "\\uLEAK") { id } }',
}


def leaks(body: dict[str, Any]) -> list[str]:
    """What is wrong with the errors of `body`: echoes, or errors without a code."""
    problems = []
    errors = body.get("errors") or []
    if not errors:
        problems.append("no error at all")
    for error in errors:
        message = error.get("message", "")
        for marker in MARKERS:
            if marker in message:
                problems.append(f"echoes {marker!r}: {message}")
                break
        if not (error.get("extensions") or {}).get("code"):
            problems.append(f"no extensions.code: {error}")
        rest = json.dumps({k: v for k, v in error.items() if k != "message"})
        if any(marker in rest for marker in (MARK, NUMBER_TEXT)):
            problems.append(f"echoes the marker outside the message: {rest}")
    return problems


async def check(server: Server, cases: dict[str, tuple[str, dict[str, Any]]]) -> dict[str, list[str]]:
    found = {}
    for name, (query, variables) in cases.items():
        response = await server.client.post(
            "/graphql",
            content=json.dumps({"query": query, "variables": variables}),
            headers={
                "content-type": "application/json",
                "authorization": "Bearer sr_test-admin-token-0123456789abcdefghijklmnop",
            },
        )
        assert response.status_code in (200, 400), (name, response.status_code, response.text)
        problems = leaks(response.json())
        if problems:
            found[name] = problems
    return found


def report(found: dict[str, list[str]]) -> str:
    return "\n".join(f"{name}: {'; '.join(problems)}" for name, problems in found.items())


async def test_wrong_typed_variables_are_not_echoed(server: Server) -> None:
    found = await check(server, VARIABLE_CASES)
    assert not found, report(found)


async def test_wrong_typed_literals_are_not_echoed(server: Server) -> None:
    found = await check(server, {name: (query, {}) for name, query in LITERAL_CASES.items()})
    assert not found, report(found)


async def test_syntax_errors_do_not_echo_the_offending_token(server: Server) -> None:
    found = await check(server, {name: (query, {}) for name, query in SYNTAX_CASES.items()})
    assert not found, report(found)


async def test_domain_validation_errors_are_not_echoed(server: Server) -> None:
    """Well-typed values a service refuses: the message names the field."""
    cases: dict[str, tuple[str, dict[str, Any]]] = {
        "invalid-secret-name": (CREATE, {"i": {**GOOD_INPUT, "name": MARK}}),
        "invalid-tag": (CREATE, {"i": {**GOOD_INPUT, "tags": [MARK + "\x01"]}}),
        "tag-too-long": (CREATE, {"i": {**GOOD_INPUT, "tags": [MARK * 10]}}),
        "metadata-not-object": (CREATE, {"i": {**GOOD_INPUT, "metadata": [MARK]}}),
        "metadata-too-big": (CREATE, {"i": {**GOOD_INPUT, "metadata": {"k": MARK * 2000}}}),
        "value-too-big": (CREATE, {"i": {**GOOD_INPUT, "value": MARK * 7000}}),
        "secret-id-not-uuid": ('query($id: ID!) { secret(workspaceId: "default", id: $id) { id } }', {"id": MARK}),
        "value-id-not-uuid": (
            'query($id: ID!) { secretValue(workspaceId: "default", id: $id) { value } }',
            {"id": MARK},
        ),
        "secret-cursor": (
            'query($a: String) { secrets(workspaceId: "default", after: $a) { totalCount } }',
            {"a": MARK},
        ),
        "audit-cursor": (
            'query($a: String) { workspaceAudit(workspaceId: "default", after: $a) { totalCount } }',
            {"a": MARK},
        ),
        "principal-id": ("query($p: ID!) { apiTokens(principalId: $p) { id } }", {"p": MARK}),
        "workspace-id-invalid": ("mutation($w: ID!) { createWorkspace(id: $w) { id } }", {"w": MARK + "/"}),
        "lookup-name-invalid": (BY_NAME, {"n": MARK}),
        "bulk-name-invalid": (
            'query($n: [String!]) { secretValues(workspaceId: "default", names: $n) { value } }',
            {"n": [MARK]},
        ),
        "expires-in-past": (TOKEN, {"e": "2001-01-01T00:00:00Z"}),
    }
    found = await check(server, cases)
    assert not found, report(found)
