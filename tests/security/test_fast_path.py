"""The compiled value plans (graphql_api/fast_path.py) answer exactly as the
general executor does: the same data and the same errors, word for word,
for every caller (administrator, reader, viewer, revoked, unknown, none) and
every form of the arguments; and documents the plans do not know are left to
the executor."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import pytest

from graphql_api.fast_path import plan_operation
from graphql_api.services.throttle import FailureThrottle
from tests.harness import ADMIN_TOKEN, Server
from tests.security.conftest import create_secret, ok, principal_with_token, revoke_token

pytestmark = pytest.mark.asyncio

MISSING_ID = "00000000-0000-4000-8000-000000000000"

# (document, variables); {a}, {b}: ids of secrets A_VALUE and B_VALUE, {gone}: a deleted secret's.
PLANNED: list[tuple[str, dict[str, Any]]] = [
    ('query($id: ID!) { secretValue(workspaceId: "default", id: $id) { secretId name version value } }', {"id": "{a}"}),
    ('{ secretValue(workspaceId: "default", id: "{a}") { value __typename } }', {}),
    (
        "query($w: ID!, $id: ID!) { v: secretValue(workspaceId: $w, id: $id) { x: value value name n: name } }",
        {"w": "default", "id": "{b}"},
    ),
    (
        'query($id: ID!, $v: Int) { secretValue(workspaceId: "default", id: $id, version: $v) { version value } }',
        {"id": "{a}", "v": 1},
    ),
    (
        'query($id: ID!, $v: Int) { secretValue(workspaceId: "default", id: $id, version: $v) { version value } }',
        {"id": "{a}", "v": 7},
    ),
    ('query($id: ID!) { secretValue(workspaceId: "default", id: $id, version: null) { value } }', {"id": "{a}"}),
    ('query($id: ID!) { secretValue(workspaceId: "default", id: $id) { value } }', {"id": MISSING_ID}),
    ('query($id: ID!) { secretValue(workspaceId: "default", id: $id) { value } }', {"id": "not-a-uuid"}),
    ('query($id: ID!) { secretValue(workspaceId: "default", id: $id) { value } }', {"id": "{gone}"}),
    ('query($id: ID!) { secretValue(workspaceId: "nowhere", id: $id) { value } }', {"id": "{a}"}),
    ('{ secretValues(workspaceId: "default") { name version value secretId } }', {}),
    ('{ secretValues(workspaceId: "default", names: null) { name } }', {}),
    ('{ secretValues(workspaceId: "default", names: ["B_VALUE", "A_VALUE", "B_VALUE"]) { name value } }', {}),
    ('{ secretValues(workspaceId: "default", names: "A_VALUE") { n: name v: value } }', {}),
    ('{ secretValues(workspaceId: "default", names: []) { name } }', {}),
    ('{ secretValues(workspaceId: "default", names: ["A_VALUE", "NOPE"]) { name } }', {}),
    ('{ secretValues(workspaceId: "default", names: ["bad name!"]) { name } }', {}),
    ('query($n: [String!]) { secretValues(workspaceId: "default", names: $n) { name value } }', {"n": "B_VALUE"}),
    ('query($n: [String!]) { secretValues(workspaceId: "default", names: $n) { name value } }', {"n": ["A_VALUE"]}),
    ('query($n: [String!]) { secretValues(workspaceId: "default", names: $n) { name value } }', {"n": None}),
    ('query($n: [String!]) { secretValues(workspaceId: "default", names: $n) { name value } }', {}),
    ("query($w: ID!) { secretValues(workspaceId: $w) { name } }", {"w": "nowhere"}),
]

# Forms the plans leave to the general executor.
NOT_PLANNED = [
    '{ viewer { id } secretValues(workspaceId: "default") { name } }',
    '{ secretValues(workspaceId: "default") { ...F } } fragment F on SecretValue { name }',
    '{ secretValues(workspaceId: "default") @include(if: true) { name } }',
    '{ secretValues(workspaceId: "default") { name @skip(if: false) } }',
    'query($n: String!) { secretValues(workspaceId: "default", names: [$n]) { name } }',
    'query($w: ID! = "default") { secretValues(workspaceId: $w) { name } }',
    'mutation { deleteSecret(workspaceId: "default", id: "x") { id } }',
    '{ secretValue(workspaceId: "default", id: "x") { value } secretValues(workspaceId: "default") { name } }',
]


def _filled(value: Any, ids: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        for key, secret_id in ids.items():
            value = value.replace("{" + key + "}", secret_id)
        return value
    if isinstance(value, dict):
        return {k: _filled(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [_filled(v, ids) for v in value]
    return value


async def _answers(
    server: Server, planned: bool, requests: list[tuple[str, dict[str, Any]]], token: str | None
) -> list[Any]:
    engine = server.app.state.engine
    engine.set_planner(plan_operation if planned else None)
    try:
        answers = []
        for document, variables in requests:
            assert bool(engine.prepare(document).plans) is planned, document
            answers.append(await server.execute(document, variables, token=token))
        return answers
    finally:
        engine.set_planner(plan_operation)


async def test_plans_answer_as_the_general_executor_does(server: Server) -> None:
    ids = {
        "a": await create_secret(server, "default", "A_VALUE", "first-value"),
        "b": await create_secret(server, "default", "B_VALUE", "second-value"),
        "gone": await create_secret(server, "default", "GONE_VALUE", "gone-value"),
    }
    await ok(server, 'mutation($id: ID!) { deleteSecret(workspaceId: "default", id: $id) { id } }', {"id": ids["gone"]})
    _, reader, _ = await principal_with_token(server, "plan-reader", {"default": "READER"})
    _, viewer, _ = await principal_with_token(server, "plan-viewer", {"default": "VIEWER"})
    _, revoked, revoked_id = await principal_with_token(server, "plan-revoked", {"default": "READER"})
    await revoke_token(server, revoked_id)
    # Refused callers make many failed authentications here; the throttle
    # (the same on both paths) would answer RATE_LIMITED after ten.
    authenticator = server.services.authenticator
    authenticator.throttle = FailureThrottle(datetime.now, limit=1_000_000)
    requests = [(_filled(document, ids), _filled(variables, ids)) for document, variables in PLANNED]
    callers = {
        "admin": ADMIN_TOKEN,
        "reader": reader,
        "viewer": viewer,
        "revoked": revoked,
        "unknown": "sr_no-such-token-0123456789abcdefghijklmn",
        "none": None,
    }
    for caller, token in callers.items():
        fast = await _answers(server, True, requests, token)
        general = await _answers(server, False, requests, token)
        for (document, variables), one, other in zip(requests, fast, general, strict=True):
            assert one == other, (caller, document, variables, one, other)
    # The corpus reaches both outcomes, not only refusals.
    reader_answers = await _answers(server, True, requests, reader)
    assert any(answer.get("data") for answer in reader_answers)
    assert any(answer.get("errors") for answer in reader_answers)


async def test_unknown_forms_go_to_the_general_executor(server: Server) -> None:
    engine = server.app.state.engine
    for document in NOT_PLANNED:
        assert not engine.prepare(document).plans, document


async def test_a_planned_bulk_read_is_audited_per_secret(server: Server) -> None:
    await create_secret(server, "default", "AUDITED_ONE", "one")
    await create_secret(server, "default", "AUDITED_TWO", "two")
    document = '{ secretValues(workspaceId: "default", names: ["AUDITED_ONE", "AUDITED_TWO"]) { name } }'
    assert server.app.state.engine.prepare(document).plans
    await ok(server, document)
    trail = await ok(
        server,
        '{ workspaceAudit(workspaceId: "default", first: 10, action: ACCESSED) '
        "{ edges { node { details success } } } }",
    )
    names = sorted(edge["node"]["details"]["name"] for edge in trail["workspaceAudit"]["edges"])
    assert names == ["AUDITED_ONE", "AUDITED_TWO"]
