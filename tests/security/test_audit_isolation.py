"""Group commit: one request can never fail another's audit (SQLite and PostgreSQL).

Concurrent readers share audit transactions; a hostile request (huge or
binary headers) or one whose audit row the database refuses for real (a
trigger) must cost only that request, and only its own answer.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from tortoise import connections

from graphql_api.services.audit import TRUNCATED
from models import SecretAudit
from tests.harness import ADMIN_TOKEN, Server
from tests.security.conftest import codes, create_secret, principal_with_token

pytestmark = pytest.mark.asyncio

VALUE = 'query($id: ID!) { secretValue(workspaceId: "default", id: $id) { value } }'
INTEGRITY = '{ auditIntegrity(workspaceId: "default") { valid reason } }'
READERS = 32

HOSTILE: dict[str, dict[str, bytes]] = {
    "ua-10kB": {"user-agent": b"A" * 10_240},
    "ua-odd-bytes": {
        "user-agent": b"\x00\x01\xff\xfe\x7f \xc3\x28 \xed\xa0\x80 \xe2\x80\xa8 '); DROP TABLE secret_audit;--"
    },
    "forwarded-junk": {
        "user-agent": b"hostile-forwarded",
        "x-forwarded-for": b", ".join([b"\xff\x00not-an-ip"] * 1500),
        "forwarded": b'for="[::1',
    },
    "ua-1MB": {"user-agent": b"B" * (1 << 20)},
}


async def post(
    server: Server, query: str, variables: dict[str, Any], token: str | None, headers: dict[str, Any]
) -> tuple[int, dict[str, Any]]:
    sent: dict[str, Any] = {"content-type": "application/json", **headers}
    if token is not None:
        sent["authorization"] = f"Bearer {token}"
    response = await server.client.post(
        "/graphql", content=json.dumps({"query": query, "variables": variables}), headers=sent
    )
    try:
        body = response.json()
    except ValueError:
        body = {}
    return response.status_code, body


async def sql(script: str) -> None:
    await connections.all()[0].execute_script(script)


async def poison_audit_inserts(dialect: str) -> None:
    if dialect == "sqlite":
        await sql(
            "CREATE TRIGGER poison BEFORE INSERT ON secret_audit WHEN NEW.user_agent = 'poison'"
            " BEGIN SELECT RAISE(ABORT, 'poison'); END;"
        )
    else:
        await sql(
            "CREATE FUNCTION poison() RETURNS trigger AS $$ BEGIN"
            " IF NEW.user_agent = 'poison' THEN RAISE EXCEPTION 'poison'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql;"
            "CREATE TRIGGER poison BEFORE INSERT ON secret_audit FOR EACH ROW EXECUTE FUNCTION poison();"
        )


@pytest.mark.parametrize("kind", list(HOSTILE))
async def test_hostile_headers_cost_no_other_reader_its_value_or_its_event(server: Server, kind: str) -> None:
    ids = [await create_secret(server, "default", f"ISO_{i}", f"value-{i}") for i in range(4)]

    async def reader(n: int) -> tuple[int, dict[str, Any]]:
        headers: dict[str, Any] = HOSTILE[kind] if n == 7 else {"user-agent": f"reader-{n}"}
        return await post(server, VALUE, {"id": ids[n % 4]}, ADMIN_TOKEN, headers)

    answers = await asyncio.gather(*(reader(n) for n in range(READERS)))
    for n, (status, body) in enumerate(answers):
        if n == 7:
            continue
        assert status == 200 and body.get("data", {}).get("secretValue") == {"value": f"value-{n % 4}"}, (n, body)
        events = await SecretAudit.filter(action="ACCESSED", user_agent=f"reader-{n}")
        assert [(e.success, str(e.secret_id)) for e in events] == [(True, ids[n % 4])], n

    status, body = answers[7]
    accessed = await SecretAudit.filter(action="ACCESSED").all()
    others = [e for e in accessed if not (e.user_agent or "").startswith("reader-")]
    if kind == "ua-1MB":
        # Over the header limit: refused before anything is read, so nothing to account for.
        assert status == 431, (status, body)
        assert "value-" not in json.dumps(body)
        assert others == []
    else:
        assert status == 200 and body["data"]["secretValue"] == {"value": "value-3"}, body
        assert len(others) == 1, [e.user_agent for e in others]
        event = others[0]
        assert event.success is True and str(event.secret_id) == ids[3]
        assert event.user_agent is not None and len(event.user_agent) <= 512 and "\x00" not in event.user_agent
        if kind == "ua-10kB":
            assert event.user_agent.endswith(TRUNCATED) and event.user_agent.startswith("A" * 400)
        elif kind == "ua-odd-bytes":
            assert "DROP TABLE secret_audit" in event.user_agent
        else:
            assert event.ip_address == "127.0.0.1"
    assert len(accessed) == READERS - (1 if kind == "ua-1MB" else 0)
    assert (await server.data(INTEGRITY))["auditIntegrity"] == {"valid": True, "reason": None}


async def test_a_read_whose_audit_row_is_refused_fails_alone(server: Server, dialect: str) -> None:
    ids = [await create_secret(server, "default", f"POISON_{i}", f"value-{i}") for i in range(4)]
    await poison_audit_inserts(dialect)
    audit = server.services.audit
    for round_ in range(3):
        split_before = audit.batches_split

        async def reader(n: int, round_: int = round_) -> tuple[int, dict[str, Any]]:
            agent = "poison" if n == 11 else f"r{round_}-{n}"
            return await post(server, VALUE, {"id": ids[n % 4]}, ADMIN_TOKEN, {"user-agent": agent})

        answers = await asyncio.gather(*(reader(n) for n in range(READERS)))
        status, poisoned = answers[11]
        assert status == 200 and codes(poisoned) == ["AUDIT_UNAVAILABLE"], poisoned
        assert (poisoned.get("data") or {}).get("secretValue") is None
        assert "value-" not in json.dumps(poisoned)
        for n, (status, body) in enumerate(answers):
            if n == 11:
                continue
            assert status == 200 and body.get("data", {}).get("secretValue") == {"value": f"value-{n % 4}"}, (n, body)
            assert (
                await SecretAudit.filter(action="ACCESSED", user_agent=f"r{round_}-{n}", success=True).count() == 1
            ), n
        assert await SecretAudit.filter(user_agent="poison").count() == 0
        if audit.batches_split > split_before:
            break  # the poisoned row shared a batch with others: the case under test happened
    assert audit.batches_split > 0, "the poisoned read never shared a batch; the test did not exercise group commit"
    assert (await server.data(INTEGRITY))["auditIntegrity"]["valid"] is True


async def test_refusals_with_hostile_headers_are_recorded(server: Server, dialect: str) -> None:
    sid = await create_secret(server, "default", "DENIED_HOSTILE", "never-shown")
    viewer_pid, viewer, _ = await principal_with_token(server, "hostile-viewer", {"default": "VIEWER"})
    await poison_audit_inserts(dialect)
    headers = [
        {"user-agent": b"C" * 10_240},
        {"user-agent": b"\x00\xff\xfe denied \xed\xa0\x80"},
        {"user-agent": b"poison"},  # this denial's row is refused by the database
        *({"user-agent": f"denied-{n}".encode()} for n in range(13)),
    ]
    answers = await asyncio.gather(*(post(server, VALUE, {"id": sid}, viewer, h) for h in headers))
    for status, body in answers:
        assert status == 200 and codes(body) == ["FORBIDDEN"], body
        assert "never-shown" not in json.dumps(body)
    await server.services.audit.drain()
    denied = await SecretAudit.filter(action="ACCESS_DENIED").all()
    assert all(str(e.user_id) == viewer_pid and e.success is False and str(e.secret_id) == sid for e in denied)
    agents = sorted(e.user_agent or "" for e in denied)
    assert len(denied) == len(headers) - 1, agents  # all but the poisoned one
    assert sum(a.startswith("C" * 400) and a.endswith(TRUNCATED) and len(a) <= 512 for a in agents) == 1
    assert sum("denied" in a and "\x00" not in a and not a.startswith("denied-") for a in agents) == 1
    assert sorted(a for a in agents if a.startswith("denied-")) == sorted(f"denied-{n}" for n in range(13))
    # The denial's secret trail shows them too (the viewer may see the secret exists).
    trail = await server.data(
        'query($id: ID!) { secretAudit(workspaceId: "default", secretId: $id, first: 100) { edges { node { action } } } }',
        {"id": sid},
    )
    assert sum(e["node"]["action"] == "ACCESS_DENIED" for e in trail["secretAudit"]["edges"]) == len(headers) - 1
