"""Every access is audited, under the action it is (SQLite and PostgreSQL):
refusals as ACCESS_DENIED on the secret's own trail, failed reads as
ACCESSED with success false, browsing as VIEWED / LISTED, never ACCESSED."""

from __future__ import annotations

import json

import pytest

from models import SecretAudit
from tests.harness import Server
from tests.security.conftest import codes, create_secret, ok, principal_with_token

pytestmark = pytest.mark.asyncio

FAST_VALUE = 'query($id: ID!) { secretValue(workspaceId: "default", id: $id) { value } }'
# Two root fields: not the compiled fast path, the general executor.
GENERAL_VALUE = 'query($id: ID!) { viewer { id } secretValue(workspaceId: "default", id: $id) { value } }'
SECRET_TRAIL = """query($id: ID!) { secretAudit(workspaceId: "default", secretId: $id, first: 100) {
  edges { node { action success userId userAgent secretId } } } }"""


async def trail(server: Server, secret_id: str) -> list[dict[str, object]]:
    data = await ok(server, SECRET_TRAIL, {"id": secret_id})
    return [edge["node"] for edge in data["secretAudit"]["edges"]]


@pytest.mark.parametrize("document", [FAST_VALUE, GENERAL_VALUE], ids=["fast-path", "general-path"])
async def test_a_refused_value_read_is_on_the_secrets_own_trail(server: Server, document: str) -> None:
    sid = await create_secret(server, "default", "REFUSED", "hidden-value")
    viewer_id, viewer, _ = await principal_with_token(server, "a-viewer", {"default": "VIEWER"})
    body = await server.execute(document, {"id": sid}, token=viewer, headers={"user-agent": "refused-read"})
    assert "FORBIDDEN" in codes(body) and "hidden-value" not in json.dumps(body), body
    await server.services.audit.drain()
    denied = [e for e in await trail(server, sid) if e["action"] == "ACCESS_DENIED"]
    assert denied == [
        {"action": "ACCESS_DENIED", "success": False, "userId": viewer_id, "userAgent": "refused-read", "secretId": sid}
    ]


async def test_refused_bulk_read_is_recorded(server: Server) -> None:
    await create_secret(server, "default", "BULK_REFUSED", "hidden")
    viewer_id, viewer, _ = await principal_with_token(server, "bulk-viewer", {"default": "VIEWER"})
    body = await server.execute('{ secretValues(workspaceId: "default") { value } }', token=viewer)
    assert codes(body) == ["FORBIDDEN"], body
    await server.services.audit.drain()
    denied = await SecretAudit.filter(action="ACCESS_DENIED", user_id=viewer_id)
    assert [(e.success, e.details.get("permission")) for e in denied] == [(False, "READ_VALUES")]


async def test_failed_reads_are_recorded_as_unsuccessful_accesses(server: Server) -> None:
    present = await create_secret(server, "default", "PRESENT", "present-value")
    deleted = await create_secret(server, "default", "DELETED", "deleted-value")
    await ok(server, 'mutation($id: ID!) { deleteSecret(workspaceId: "default", id: $id) { id } }', {"id": deleted})
    _, reader, _ = await principal_with_token(server, "failing-reader", {"default": "READER"})

    bulk = await server.execute(
        '{ secretValues(workspaceId: "default", names: ["PRESENT", "MISSING_ONE"]) { value } }',
        token=reader,
        headers={"user-agent": "bulk-missing"},
    )
    assert codes(bulk) == ["NOT_FOUND"] and "present-value" not in json.dumps(bulk), bulk
    events = await SecretAudit.filter(user_agent="bulk-missing")
    assert [(e.action.value, e.success) for e in events] == [("ACCESSED", False)]
    assert events[0].details.get("missing") == 1 and "MISSING_ONE" not in json.dumps(events[0].details)

    for agent, variables in (("deleted-read", {"id": deleted}), ("missing-version", {"id": present, "v": 7})):
        body = await server.execute(
            'query($id: ID!, $v: Int) { secretValue(workspaceId: "default", id: $id, version: $v) { value } }',
            variables,
            token=reader,
            headers={"user-agent": agent},
        )
        assert codes(body) == ["NOT_FOUND"] and "-value" not in json.dumps(body), body
        events = await SecretAudit.filter(user_agent=agent)
        assert [(e.action.value, e.success, str(e.secret_id)) for e in events] == [("ACCESSED", False, variables["id"])]
    assert await SecretAudit.filter(action="ACCESSED", success=True).count() == 0


async def test_browsing_is_viewed_or_listed_never_accessed(server: Server) -> None:
    sid = await create_secret(server, "default", "BROWSED", "browsed-value")
    _, viewer, _ = await principal_with_token(server, "browser", {"default": "VIEWER"})
    steps = {
        "secret": ('query($id: ID!) { secret(workspaceId: "default", id: $id) { name } }', ["VIEWED"]),
        "secretByName": ('{ secretByName(workspaceId: "default", name: "BROWSED") { id } }', ["VIEWED"]),
        "secretByName-missing": ('{ secretByName(workspaceId: "default", name: "NOPE") { id } }', ["VIEWED"]),
        "versions": (
            'query($id: ID!) { secret(workspaceId: "default", id: $id) { versions { version } } }',
            ["VIEWED", "VIEWED"],
        ),
        "secrets": ('{ secrets(workspaceId: "default") { totalCount edges { node { name } } } }', ["LISTED"]),
        "secrets-with-versions": (
            '{ secrets(workspaceId: "default") { edges { node { versions { version } } } } }',
            ["LISTED", "VIEWED"],
        ),
        "rotationDue": ('{ rotationDue(workspaceId: "default", daysAhead: 3650) { name } }', ["LISTED"]),
    }
    for step, (document, expected) in steps.items():
        body = await server.execute(
            document, {"id": sid} if "$id" in document else {}, token=viewer, headers={"user-agent": step}
        )
        assert not body.get("errors") and "browsed-value" not in json.dumps(body), (step, body)
        actions = sorted(e.action.value for e in await SecretAudit.filter(user_agent=step))
        assert actions == sorted(expected), (step, actions)
    assert await SecretAudit.filter(action="ACCESSED").count() == 0
    viewed = await SecretAudit.filter(user_agent="secret").first()
    assert viewed is not None and str(viewed.secret_id) == sid
