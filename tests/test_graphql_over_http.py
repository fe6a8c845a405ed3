"""GraphQL over HTTP: the transport behaves as the spec says
(https://graphql.github.io/graphql-over-http/draft/).

Two layers. graphql-http's server audits (the reference suite, pinned in
tests/conformance/) run against a real `strongroom serve`: every MUST and
SHOULD audit must pass. Then our own tests pin down what the audits do not
cover or what matters for a secret store: a document with several operations
and no operationName never runs one of them (mutations included), request
errors never carry `data`, every error has `extensions.code`, malformed
requests are refused as JSON with a code and without a traceback, and
subscriptions are refused over HTTP.

Status codes, per the spec: with `application/json` a well-formed request
gets 200 even for request errors (parse, validation, operation selection,
variable coercion); with `application/graphql-response+json` request errors
get 400 and field errors 200. A request that is not well-formed (not JSON, no
string `query`, `variables` not a map...) gets 400 whichever is accepted.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.harness import ADMIN_TOKEN, Server
from tests.process import ServerProcess, clean_environ, start_healthy

CONFORMANCE_DIR = Path(__file__).resolve().parent / "conformance"
AUDIT_SCRIPT = CONFORMANCE_DIR / "audit.mjs"
AUDIT_TIMEOUT_SECONDS = 180

JSON = "application/json"
GRAPHQL_RESPONSE = "application/graphql-response+json"
ACCEPTS = [JSON, GRAPHQL_RESPONSE]

# Tests that never reach the database run on SQLite only.
sqlite_only = pytest.mark.parametrize("dialect", ["sqlite"], indirect=True)

PWNED = "pwned-by-http"
MUTATION = f'mutation M {{ createWorkspace(id: "{PWNED}", name: "should never exist") {{ id }} }}'
QUERY = "query Q { workspaces { id } }"


# --- helpers ---------------------------------------------------------------


async def post(
    server: Server,
    body: Any = None,
    *,
    content: bytes | None = None,
    accept: str | None = JSON,
    content_type: str | None = JSON,
    token: str | None = ADMIN_TOKEN,
) -> httpx.Response:
    """POST to /graphql: `body` as JSON, or raw `content` bytes."""
    headers: dict[str, str] = {}
    if accept is not None:
        headers["accept"] = accept
    if content_type is not None:
        headers["content-type"] = content_type
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    raw = content if content is not None else json.dumps(body).encode("utf-8")
    request = server.client.build_request("POST", "/graphql", content=raw, headers=headers)
    if accept is None:
        del request.headers["accept"]  # httpx adds "Accept: */*" by default
    return await server.client.send(request)


def media_type(response: httpx.Response) -> str:
    return response.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def json_body(response: httpx.Response) -> dict[str, Any]:
    assert media_type(response) in (JSON, GRAPHQL_RESPONSE), (
        f"answer is not JSON: {response.status_code} {response.headers.get('content-type')!r} {response.text[:300]!r}"
    )
    body = response.json()
    assert isinstance(body, dict), body
    return body


def assert_coded_errors(body: Mapping[str, Any]) -> list[str]:
    """Every error has a string extensions.code that is not INTERNAL; returns the codes."""
    errors = body.get("errors")
    assert isinstance(errors, list) and errors, f"expected errors: {body}"
    codes = []
    for error in errors:
        code = (error.get("extensions") or {}).get("code")
        assert isinstance(code, str) and code, f"error without extensions.code: {error}"
        assert code != "INTERNAL", f"client error reported as INTERNAL: {error}"
        codes.append(code)
    return codes


def assert_request_error(response: httpx.Response, accept: str) -> dict[str, Any]:
    """A GraphQL request error, answered as the spec wants for `accept`."""
    body = json_body(response)
    expected_status = 400 if accept == GRAPHQL_RESPONSE else 200
    assert response.status_code == expected_status, (response.status_code, body)
    assert media_type(response) == accept, response.headers.get("content-type")
    assert "data" not in body, f"a request error must not have a data entry: {body}"
    assert_coded_errors(body)
    return body


def assert_malformed(response: httpx.Response, accept: str | None = JSON) -> dict[str, Any]:
    """Not a well-formed GraphQL-over-HTTP request: 400, a JSON error with a code."""
    assert response.status_code == 400, (
        response.status_code,
        response.headers.get("content-type"),
        response.text[:300],
    )
    body = json_body(response)
    if accept in ACCEPTS:
        assert media_type(response) == accept, response.headers.get("content-type")
    assert "data" not in body, body
    assert_coded_errors(body)
    return body


def assert_quiet_log(caplog: pytest.LogCaptureFixture) -> None:
    """A client's mistake is not an incident: nothing logged as an error, no traceback."""
    loud = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert not loud, "server logged errors for a client mistake:\n" + "\n".join(
        f"{r.levelname} {r.name}: {r.getMessage()}" for r in loud
    )


async def workspace_ids(server: Server) -> set[str]:
    data = await server.data("{ workspaces { id } }")
    return {w["id"] for w in data["workspaces"]}


# --- graphql-http's audits against a real server ----------------------------


def _audit_prerequisites() -> str:
    """The node executable; skips (or fails, when required) when the audits cannot run."""
    node = shutil.which("node")
    missing = []
    if node is None:
        missing.append("`node` is not on PATH")
    if not (CONFORMANCE_DIR / "node_modules" / "graphql-http").is_dir():
        missing.append(f"{CONFORMANCE_DIR / 'node_modules'} is missing (run `npm ci` in {CONFORMANCE_DIR})")
    if missing:
        reason = "GraphQL-over-HTTP audits cannot run: " + "; ".join(missing)
        if os.environ.get("STRONGROOM_REQUIRE_NODE") == "1":
            pytest.fail(f"{reason}; STRONGROOM_REQUIRE_NODE=1 forbids skipping")
        pytest.skip(reason)
    assert node is not None
    return node


def _describe(audit: Mapping[str, Any]) -> str:
    lines = [f"{audit['id']} [{audit['status']}] {audit['name']}", f"    reason: {audit.get('reason')}"]
    for exchange in audit.get("exchanges") or []:
        request, response = exchange["request"], exchange["response"]
        lines.append(
            f"    request:  {request['method']} {request['url']} {request['headers']} body={request['body']!r}"
        )
        lines.append(f"    response: {response['status']} {response['contentType']!r} {response['body'][:300]!r}")
    return "\n".join(lines)


def test_graphql_over_http_audits_pass(tmp_path: Path, served: list[ServerProcess]) -> None:
    node = _audit_prerequisites()
    env = clean_environ(STRONGROOM_DATA_DIR=str(tmp_path / "data"), STRONGROOM_BOOTSTRAP_TOKEN=ADMIN_TOKEN)
    server = start_healthy(served, tmp_path, env, "server.log")
    audit_env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "STRONGROOM_TOKEN": ADMIN_TOKEN}
    completed = subprocess.run(
        [node, str(AUDIT_SCRIPT), f"{server.base_url}/graphql"],
        cwd=CONFORMANCE_DIR,
        env=audit_env,
        capture_output=True,
        text=True,
        timeout=AUDIT_TIMEOUT_SECONDS,
        check=False,
    )
    assert completed.returncode == 0, (
        f"audit.mjs exited with {completed.returncode}:\n{completed.stderr}\n{completed.stdout[-3000:]}"
    )
    report = json.loads(completed.stdout)
    audits = report["audits"]
    assert len(audits) > 50, report["summary"]

    problems = []
    failed = [a for a in audits if a["requirement"] in ("MUST", "SHOULD") and a["status"] != "ok"]
    if failed:
        problems.append(
            f"{len(failed)} MUST/SHOULD audits of graphql-http {report['graphqlHttp']} fail:\n"
            + "\n".join(_describe(a) for a in failed)
        )
    crashed = [a for a in audits if a["status"] == "crashed"]
    if crashed:
        problems.append("audits crashed:\n" + "\n".join(_describe(a) for a in crashed))
    output = server.output()
    if "Traceback" in output or re.search(r"\bERROR\b", output):
        problems.append(f"the server logged errors while audited:\n{output[-5000:]}")
    if problems:
        pytest.fail("\n\n".join(problems), pytrace=False)


# --- operation selection -----------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize("accept", ACCEPTS)
@pytest.mark.parametrize(
    "document", [f"{MUTATION}\n{QUERY}", f"{QUERY}\n{MUTATION}"], ids=["mutation-first", "query-first"]
)
async def test_several_operations_without_operation_name_run_nothing(
    server: Server, accept: str, document: str, caplog: pytest.LogCaptureFixture
) -> None:
    for body in ({"query": document}, {"query": document, "operationName": None}):
        response = await post(server, body, accept=accept)
        assert_request_error(response, accept)
    assert PWNED not in await workspace_ids(server), "a mutation ran although no operation was selected"
    assert_quiet_log(caplog)


@pytest.mark.asyncio
@pytest.mark.parametrize("accept", ACCEPTS)
async def test_unknown_operation_name_is_a_request_error(
    server: Server, accept: str, caplog: pytest.LogCaptureFixture
) -> None:
    for name in ("Nope", "m", "q"):
        response = await post(server, {"query": f"{MUTATION}\n{QUERY}", "operationName": name}, accept=accept)
        assert_request_error(response, accept)
    response = await post(server, {"query": MUTATION, "operationName": "Q"}, accept=accept)
    assert_request_error(response, accept)
    assert PWNED not in await workspace_ids(server)
    assert_quiet_log(caplog)


@pytest.mark.asyncio
async def test_operation_name_selects_exactly_one_operation(server: Server) -> None:
    document = f"{MUTATION}\n{QUERY}"
    response = await post(server, {"query": document, "operationName": "Q"})
    assert response.status_code == 200 and set(response.json()["data"]) == {"workspaces"}
    assert PWNED not in await workspace_ids(server)
    response = await post(server, {"query": document, "operationName": "M"})
    assert response.status_code == 200 and response.json()["data"] == {"createWorkspace": {"id": PWNED}}


# --- media types and status codes -----------------------------------------------


@sqlite_only
@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (None, JSON),
        (JSON, JSON),
        (f"{JSON}; charset=utf-8", JSON),
        ("*/*", JSON),
        (GRAPHQL_RESPONSE, GRAPHQL_RESPONSE),
        (f"{GRAPHQL_RESPONSE}; charset=utf-8, {JSON}; charset=utf-8", GRAPHQL_RESPONSE),
        (f"{GRAPHQL_RESPONSE}, {JSON};q=0.9", GRAPHQL_RESPONSE),
        (f"{JSON}, {GRAPHQL_RESPONSE};q=0.9", JSON),
        (f"{JSON};q=0.5, {GRAPHQL_RESPONSE}", GRAPHQL_RESPONSE),
        (f"text/html;q=0.9, {GRAPHQL_RESPONSE}", GRAPHQL_RESPONSE),
    ],
)
async def test_accept_is_negotiated(server: Server, accept: str | None, expected: str) -> None:
    response = await post(server, {"query": "{ viewer { name } }"}, accept=accept)
    assert response.status_code == 200, response.text
    assert media_type(response) == expected, (accept, response.headers.get("content-type"))
    charset = response.headers["content-type"].partition("charset=")[2].strip().lower()
    assert charset in ("", "utf-8"), response.headers["content-type"]
    assert json_body(response) == {"data": {"viewer": {"name": "admin"}}}


@sqlite_only
@pytest.mark.asyncio
async def test_unsupported_accept_is_406_or_ignored(server: Server) -> None:
    """The spec: 406 (recommended) or disregard Accept; never a body in a type nobody asked for."""
    response = await post(server, {"query": "{ __typename }"}, accept="application/xml")
    if response.status_code != 406:
        assert response.status_code == 200, response.text
        assert media_type(response) in (JSON, GRAPHQL_RESPONSE)


REQUEST_ERRORS = {
    "parse": {"query": "{"},
    "parse-empty-document": {"query": ""},
    "parse-bad-character": {"query": "{ viewer { name } } \u0007"},
    "validation-unknown-field": {"query": "{ nosuchfield }"},
    "validation-unknown-argument": {"query": "{ viewer(nosuch: 1) { name } }"},
    "validation-unknown-fragment": {"query": "{ viewer { ...Missing } }"},
    "validation-unknown-directive": {"query": "{ viewer @nosuch { name } }"},
    "validation-unused-variable": {"query": "query CoerceFailure($id: ID!) { __typename }", "variables": {"id": None}},
    "no-operation": {"query": "fragment F on Query { viewer { name } }"},
    "variable-null-for-non-null": {
        "query": "query($ws: ID!) { secrets(workspaceId: $ws) { totalCount } }",
        "variables": {"ws": None},
    },
    "variable-missing": {"query": "query($ws: ID!) { secrets(workspaceId: $ws) { totalCount } }"},
    "variable-wrong-type": {
        "query": 'query($n: Int) { secrets(workspaceId: "default", first: $n) { totalCount } }',
        "variables": {"n": "ten"},
    },
    "variable-int-overflow": {
        "query": 'query($n: Int) { secrets(workspaceId: "default", first: $n) { totalCount } }',
        "variables": {"n": 2**64},
    },
}


@sqlite_only
@pytest.mark.asyncio
@pytest.mark.parametrize("accept", ACCEPTS)
@pytest.mark.parametrize("case", sorted(REQUEST_ERRORS))
async def test_request_errors_have_the_spec_status_and_no_data(
    server: Server, accept: str, case: str, caplog: pytest.LogCaptureFixture
) -> None:
    response = await post(server, REQUEST_ERRORS[case], accept=accept)
    assert_request_error(response, accept)
    assert_quiet_log(caplog)


@pytest.mark.asyncio
@pytest.mark.parametrize("accept", ACCEPTS)
async def test_field_errors_are_200_with_data(server: Server, accept: str) -> None:
    response = await post(
        server,
        {
            "query": '{ viewer { name } secret(workspaceId: "nosuch", id: "00000000-0000-0000-0000-000000000000") { id } }'
        },
        accept=accept,
    )
    assert response.status_code == 200, response.text
    assert media_type(response) == accept
    body = json_body(response)
    assert body["data"] == {"viewer": {"name": "admin"}, "secret": None}
    assert assert_coded_errors(body) == ["NOT_FOUND"]


# --- subscriptions over HTTP ------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize("accept", ACCEPTS)
async def test_subscription_over_http_is_a_client_error(
    server: Server, accept: str, caplog: pytest.LogCaptureFixture
) -> None:
    document = 'subscription S { auditEvents(workspaceId: "default") { id action } }'
    for body in ({"query": document}, {"query": f"{document}\n{QUERY}", "operationName": "S"}):
        response = await post(server, body, accept=accept)
        body_json = json_body(response)
        assert "data" not in body_json, body_json
        assert_coded_errors(body_json)
        if accept == GRAPHQL_RESPONSE:
            assert 400 <= response.status_code < 500, (response.status_code, body_json)
        else:
            assert response.status_code == 200 or 400 <= response.status_code < 500, (response.status_code, body_json)
    assert_quiet_log(caplog)


# --- every error has a code ------------------------------------------------------------


def _deep(levels: int) -> str:
    return "{" + " a {" * levels + " b" + " }" * levels + " }"


DOCUMENTS_THAT_FAIL = {
    "syntax-eof": "{",
    "syntax-unbalanced": "{ viewer { name } } }",
    "syntax-bad-string": '{ secretByName(workspaceId: "default", name: "unterminated) { id } }',
    "syntax-bad-escape": r'{ secretByName(workspaceId: "default", name: "\x") { id } }',
    "syntax-lone-surrogate-escape": r'{ secretByName(workspaceId: "default", name: "\uD800") { id } }',
    "syntax-empty": "",
    "syntax-only-whitespace": "   \n\t ",
    "limit-depth": _deep(14),
    "limit-aliases": "{ " + " ".join(f"a{i}: viewer {{ name }}" for i in range(40)) + " }",
    "limit-tokens": "{ " + " ".join("__typename" for _ in range(6000)) + " }",
    "validation-wrong-argument-type": '{ secrets(workspaceId: "default", first: "ten") { totalCount } }',
    "validation-int-overflow": '{ secrets(workspaceId: "default", first: 99999999999999999999) { totalCount } }',
    "validation-unknown-enum": '{ workspaceAudit(workspaceId: "default", action: NOSUCH) { totalCount } }',
    "validation-skip-without-if": "{ viewer @skip { name } }",
    "validation-fragment-cycle": "{ viewer { ...F } } fragment F on Principal { ...G } fragment G on Principal { ...F }",
    "validation-missing-selection": "{ viewer }",
    "validation-duplicate-operation": "query A { viewer { name } } query A { workspaces { id } }",
}


@sqlite_only
@pytest.mark.asyncio
@pytest.mark.parametrize("case", sorted(DOCUMENTS_THAT_FAIL))
async def test_every_error_has_a_code(server: Server, case: str, caplog: pytest.LogCaptureFixture) -> None:
    response = await post(server, {"query": DOCUMENTS_THAT_FAIL[case]})
    assert response.status_code == 200, (response.status_code, response.text[:300])
    body = json_body(response)
    assert_coded_errors(body)
    assert "data" not in body, body
    assert_quiet_log(caplog)


@sqlite_only
@pytest.mark.asyncio
async def test_a_lone_surrogate_in_the_request_json_has_a_code(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    # Valid JSON text, but not a Unicode string: the escape reaches the server as a lone surrogate.
    raw = b'{"query": "{ secretByName(workspaceId: \\"default\\", name: \\"\\ud800\\") { id } }"}'
    response = await post(server, content=raw)
    body = json_body(response)
    assert response.status_code in (200, 400), response.text
    assert "data" not in body or body["data"] is None, body
    assert_coded_errors(body)
    assert_quiet_log(caplog)


# --- requests that are not well-formed ------------------------------------------------------

MALFORMED_BODIES: dict[str, bytes] = {
    "not-json": b"{ not json",
    "truncated-json": b'{"query":',
    "empty-body": b"",
    "invalid-utf8": b'{"query": "{ viewer { name } }\xff\xfe"}',
    "json-string": b'"{ viewer { name } }"',
    "json-null": b"null",
    "json-number": b"42",
    "batch-array": json.dumps([{"query": "{ viewer { name } }"}]).encode(),
    "missing-query": json.dumps({"qeury": "{ viewer { name } }"}).encode(),
    "query-null": json.dumps({"query": None}).encode(),
    "query-number": json.dumps({"query": 0}).encode(),
    "query-boolean": json.dumps({"query": False}).encode(),
    "query-object": json.dumps({"query": {"obj": "ect"}}).encode(),
    "query-array": json.dumps({"query": ["{ viewer { name } }"]}).encode(),
    "variables-string": json.dumps({"query": "{ viewer { name } }", "variables": "{}"}).encode(),
    "variables-array": json.dumps({"query": "{ viewer { name } }", "variables": [7]}).encode(),
    "variables-number": json.dumps({"query": "{ viewer { name } }", "variables": 0}).encode(),
    "operation-name-number": json.dumps({"query": "{ viewer { name } }", "operationName": 1}).encode(),
    "operation-name-object": json.dumps({"query": "{ viewer { name } }", "operationName": {}}).encode(),
    "extensions-string": json.dumps({"query": "{ viewer { name } }", "extensions": "x"}).encode(),
    "extensions-array": json.dumps({"query": "{ viewer { name } }", "extensions": ["x"]}).encode(),
    # Not JSON (RFC 8259 has no NaN), though Python's json module reads it.
    "json-nan": b'{"query": "{ viewer { name } }", "variables": {"n": NaN}}',
    # Deeper than a recursive parser goes: must be refused, not crash it.
    "json-too-deep": b'{"query": "{ viewer { name } }", "variables": {"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}}",
}


@sqlite_only
@pytest.mark.asyncio
@pytest.mark.parametrize("accept", [JSON, GRAPHQL_RESPONSE, None])
@pytest.mark.parametrize("case", sorted(MALFORMED_BODIES))
async def test_malformed_requests_are_400_json_with_a_code(
    server: Server, case: str, accept: str | None, caplog: pytest.LogCaptureFixture
) -> None:
    response = await post(server, content=MALFORMED_BODIES[case], accept=accept)
    assert_malformed(response, accept)
    assert_quiet_log(caplog)


@pytest.mark.asyncio
async def test_malformed_parameters_never_execute_the_mutation(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    for extra in ({"variables": [1]}, {"variables": "{}"}, {"operationName": 7}, {"extensions": "x"}):
        response = await post(server, {"query": MUTATION, **extra})
        assert_malformed(response)
    assert PWNED not in await workspace_ids(server)
    assert_quiet_log(caplog)


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "content_type",
    [
        None,
        "text/plain",
        "text/plain;charset=UTF-8",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/graphql",
        "application/xml",
    ],
)
async def test_wrong_content_type_is_refused_and_runs_nothing(
    server: Server, content_type: str | None, caplog: pytest.LogCaptureFixture
) -> None:
    # text/plain, form and multipart are CORS "simple requests": a browser on any
    # site sends them without a preflight, so executing them would allow CSRF.
    response = await post(server, {"query": MUTATION}, content_type=content_type)
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:300])
    body = json_body(response)
    assert "data" not in body, body
    assert_coded_errors(body)
    assert PWNED not in await workspace_ids(server)
    assert_quiet_log(caplog)


@pytest.mark.asyncio
@pytest.mark.parametrize("accept", [GRAPHQL_RESPONSE, JSON, "text/html"])
async def test_get_never_executes_a_mutation(server: Server, accept: str) -> None:
    response = await server.client.get(
        "/graphql",
        params={"query": MUTATION},
        headers={"accept": accept, "authorization": f"Bearer {ADMIN_TOKEN}"},
    )
    if accept == "text/html" and response.status_code == 200:
        assert media_type(response) == "text/html"  # GraphiQL's page, nothing executed
    else:
        assert 400 <= response.status_code < 500, (response.status_code, response.text[:300])
    assert PWNED not in await workspace_ids(server)
