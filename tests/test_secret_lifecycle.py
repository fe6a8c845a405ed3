"""The whole secret lifecycle over GraphQL, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest

from models import SecretAudit, SecretVersion
from tests.clock import MutableClock
from tests.harness import Server

pytestmark = pytest.mark.asyncio

SECRET_FIELDS = """
  id workspaceId name secretType usage tags metadata rotationPolicy lastRotatedAt
  rotationDueAt isActive currentVersion encryptionBackend createdAt updatedAt
  createdByUserId updatedByUserId lastAccessedAt versions { version keyId encryptionBackend createdByUserId }
"""
CREATE = f"""
mutation($ws: ID!, $input: CreateSecretInput!) {{ createSecret(workspaceId: $ws, input: $input) {{ {SECRET_FIELDS} }} }}
"""
VALUE = """
query($ws: ID!, $id: ID!, $v: Int) { secretValue(workspaceId: $ws, id: $id, version: $v) { secretId name version value } }
"""
UPDATE = f"""
mutation($ws: ID!, $id: ID!, $input: UpdateSecretInput!) {{ updateSecret(workspaceId: $ws, id: $id, input: $input) {{ {SECRET_FIELDS} }} }}
"""

TRICKY_VALUES = {
    "MULTI_LINE": "line one\nline two\r\nline three\n",
    "QUOTES": 'it\'s "quoted" and `backticked`',
    "BACKSLASHES": "C:\\path\\to\\file \\n is not a newline \\\\",
    "EMOJI": "🔐 clé 秘密 e\u0301 \u200d👩‍💻",
    "EMPTY": "",
    "SHELL": "$(rm -rf /) ${HOME} 'a'\"b\" # not a comment",
    "EQUALS": "a=b=c; export X=1",
}


async def create(server: Server, name: str, value: str = "v1", ws: str = "default", **extra: Any) -> dict[str, Any]:
    payload = {"name": name, "secretType": "API_KEY", "value": value, **extra}
    data = await server.data(CREATE, {"ws": ws, "input": payload})
    return data["createSecret"]  # type: ignore[no-any-return]


async def value_of(server: Server, secret_id: str, version: int | None = None, ws: str = "default") -> dict[str, Any]:
    data = await server.data(VALUE, {"ws": ws, "id": secret_id, "v": version})
    return data["secretValue"]  # type: ignore[no-any-return]


async def test_create_returns_metadata_and_never_the_value(server: Server, clock: MutableClock) -> None:
    secret = await create(
        server,
        "STRIPE_KEY",
        "sk_live_very_secret",
        usage="payments",
        tags=["prod", "billing"],
        metadata={"owner": "pay"},
    )
    assert secret["name"] == "STRIPE_KEY"
    assert secret["workspaceId"] == "default"
    assert secret["currentVersion"] == 1
    assert secret["tags"] == ["prod", "billing"]
    assert secret["metadata"] == {"owner": "pay"}
    assert secret["rotationPolicy"] == "AUTO_90_DAYS"
    assert secret["encryptionBackend"] == "fernet"
    assert secret["isActive"] is True
    assert secret["lastRotatedAt"] is None
    assert secret["lastAccessedAt"] is None
    assert secret["createdByUserId"] is not None
    assert [v["version"] for v in secret["versions"]] == [1]
    assert secret["versions"][0]["keyId"].startswith("fernet-")
    assert "sk_live_very_secret" not in str(secret)


async def test_tricky_values_round_trip_byte_exact(server: Server) -> None:
    ids = {name: (await create(server, name, value))["id"] for name, value in TRICKY_VALUES.items()}
    for name, value in TRICKY_VALUES.items():
        assert (await value_of(server, ids[name]))["value"] == value
    bulk = await server.data('query { secretValues(workspaceId: "default") { name value version } }')
    assert {item["name"]: item["value"] for item in bulk["secretValues"]} == TRICKY_VALUES


async def test_value_is_stored_encrypted(server: Server) -> None:
    marker = "PLAINTEXT-MARKER-7f3a"
    secret = await create(server, "MARKED", marker)
    row = await SecretVersion.get(secret_id=secret["id"], version=1)
    assert row.ciphertext is not None and marker.encode() not in bytes(row.ciphertext)
    assert row.wrapped_key is not None and marker.encode() not in bytes(row.wrapped_key)


async def test_ciphertext_or_wrapped_key_copied_to_another_row_fails(server: Server) -> None:
    first = await create(server, "FIRST", "first-value")
    second = await create(server, "SECOND", "second-value")
    source = await SecretVersion.get(secret_id=first["id"], version=1)
    original = await SecretVersion.get(secret_id=second["id"], version=1)

    for fields in (
        {"ciphertext": source.ciphertext},
        {"wrapped_key": source.wrapped_key},
        {"ciphertext": source.ciphertext, "wrapped_key": source.wrapped_key},
    ):
        await SecretVersion.filter(id=original.id).update(**fields)
        error = await server.error(VALUE, {"ws": "default", "id": second["id"], "v": None})
        assert error["extensions"]["code"] == "BACKEND_UNAVAILABLE"
        assert "first-value" not in error["message"] and "second-value" not in error["message"]
        await SecretVersion.filter(id=original.id).update(
            ciphertext=original.ciphertext, wrapped_key=original.wrapped_key
        )
    assert (await value_of(server, second["id"]))["value"] == "second-value"


async def test_update_makes_a_new_version_and_keeps_the_old(server: Server) -> None:
    secret = await create(server, "DB_PASSWORD", "old")
    updated = (
        await server.data(
            UPDATE, {"ws": "default", "id": secret["id"], "input": {"value": "new", "expectedVersion": 1}}
        )
    )["updateSecret"]
    assert updated["currentVersion"] == 2
    assert updated["lastRotatedAt"] is not None
    assert [v["version"] for v in updated["versions"]] == [1, 2]
    assert (await value_of(server, secret["id"]))["value"] == "new"
    assert (await value_of(server, secret["id"], 1))["value"] == "old"


async def test_update_metadata_only_keeps_the_version(server: Server) -> None:
    secret = await create(server, "CONFIG", "v", tags=["a"])
    updated = (
        await server.data(
            UPDATE,
            {
                "ws": "default",
                "id": secret["id"],
                "input": {"usage": "new usage", "tags": ["b", "c"], "metadata": {"k": 1}, "rotationPolicy": "MANUAL"},
            },
        )
    )["updateSecret"]
    assert updated["currentVersion"] == 1
    assert (updated["usage"], updated["tags"], updated["metadata"]) == ("new usage", ["b", "c"], {"k": 1})
    assert updated["rotationPolicy"] == "MANUAL" and updated["rotationDueAt"] is None
    cleared = (await server.data(UPDATE, {"ws": "default", "id": secret["id"], "input": {"usage": None}}))[
        "updateSecret"
    ]
    assert cleared["usage"] is None and cleared["tags"] == ["b", "c"]


async def test_expected_version_mismatch_is_conflict_and_changes_nothing(server: Server) -> None:
    secret = await create(server, "CAS", "v1")
    error = await server.error(
        UPDATE, {"ws": "default", "id": secret["id"], "input": {"value": "v2", "expectedVersion": 7}}
    )
    assert error["extensions"]["code"] == "CONFLICT"
    assert (await value_of(server, secret["id"]))["value"] == "v1"
    assert await SecretVersion.filter(secret_id=secret["id"]).count() == 1


async def test_rotate_with_new_value_and_without_generator(server: Server, clock: MutableClock) -> None:
    secret = await create(server, "API", "v1")
    clock.advance(days=10)
    rotate = """mutation($id: ID!, $v: String, $e: Int) { rotateSecret(workspaceId: "default", id: $id, newValue: $v, expectedVersion: $e) {
        currentVersion lastRotatedAt rotationDueAt } }"""
    rotated = (await server.data(rotate, {"id": secret["id"], "v": "v2", "e": 1}))["rotateSecret"]
    assert rotated["currentVersion"] == 2
    assert rotated["lastRotatedAt"].startswith(clock.current.date().isoformat())
    error = await server.error(rotate, {"id": secret["id"], "v": None, "e": None})
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "newValue" in error["message"] and "API_KEY" in error["message"]
    stale = await server.error(rotate, {"id": secret["id"], "v": "v3", "e": 1})
    assert stale["extensions"]["code"] == "CONFLICT"


async def test_rollback_makes_a_new_version_with_the_old_value(server: Server) -> None:
    secret = await create(server, "ROLL", "first")
    await server.data(UPDATE, {"ws": "default", "id": secret["id"], "input": {"value": "second"}})
    rollback = """mutation($id: ID!, $to: Int!) { rollbackSecret(workspaceId: "default", id: $id, toVersion: $to) { currentVersion } }"""
    rolled = (await server.data(rollback, {"id": secret["id"], "to": 1}))["rollbackSecret"]
    assert rolled["currentVersion"] == 3
    assert (await value_of(server, secret["id"]))["value"] == "first"
    assert (await value_of(server, secret["id"], 2))["value"] == "second"
    for bad in (3, 99):
        error = await server.error(rollback, {"id": secret["id"], "to": bad})
        assert error["extensions"]["code"] == "BAD_USER_INPUT" and "toVersion" in error["message"]


async def test_delete_restore_and_destroy(server: Server) -> None:
    secret = await create(server, "GONE", "bye")
    sid = secret["id"]
    deleted = await server.data(
        'mutation($id: ID!) { deleteSecret(workspaceId: "default", id: $id) { isActive } }', {"id": sid}
    )
    assert deleted["deleteSecret"]["isActive"] is False
    listed = await server.data(
        '{ secrets(workspaceId: "default") { totalCount } all: secrets(workspaceId: "default", filter: {includeInactive: true}) { totalCount } }'
    )
    assert (listed["secrets"]["totalCount"], listed["all"]["totalCount"]) == (0, 1)
    assert (await server.error(VALUE, {"ws": "default", "id": sid, "v": None}))["extensions"]["code"] == "NOT_FOUND"
    conflict = await server.error(
        CREATE, {"ws": "default", "input": {"name": "GONE", "secretType": "API_KEY", "value": "x"}}
    )
    assert conflict["extensions"]["code"] == "CONFLICT"

    restored = await server.data(
        'mutation($id: ID!) { restoreSecret(workspaceId: "default", id: $id) { isActive } }', {"id": sid}
    )
    assert restored["restoreSecret"]["isActive"] is True
    assert (await value_of(server, sid))["value"] == "bye"

    assert (await server.data('mutation($id: ID!) { destroySecret(workspaceId: "default", id: $id) }', {"id": sid}))[
        "destroySecret"
    ] is True
    rows = await SecretVersion.filter(secret_id=sid)
    assert rows and all(r.ciphertext is None and r.wrapped_key is None for r in rows)
    assert (await server.data('query($id: ID!) { secret(workspaceId: "default", id: $id) { id } }', {"id": sid}))[
        "secret"
    ] is None
    assert (await server.error(VALUE, {"ws": "default", "id": sid, "v": 1}))["extensions"]["code"] == "NOT_FOUND"
    again = await server.error('mutation($id: ID!) { destroySecret(workspaceId: "default", id: $id) }', {"id": sid})
    assert again["extensions"]["code"] == "NOT_FOUND"
    # The name is free again once destroyed.
    assert (await create(server, "GONE", "reborn"))["currentVersion"] == 1


async def test_secret_by_id_and_name(server: Server) -> None:
    secret = await create(server, "BY_NAME", "x")
    data = await server.data(
        'query($id: ID!) { secret(workspaceId: "default", id: $id) { name } secretByName(workspaceId: "default", name: "BY_NAME") { id } missing: secretByName(workspaceId: "default", name: "NOPE") { id } }',
        {"id": secret["id"]},
    )
    assert data == {"secret": {"name": "BY_NAME"}, "secretByName": {"id": secret["id"]}, "missing": None}
    other = await server.data('mutation { createWorkspace(id: "other") { id } }')
    assert other["createWorkspace"]["id"] == "other"
    elsewhere = await server.data(
        'query($id: ID!) { secret(workspaceId: "other", id: $id) { id } }', {"id": secret["id"]}
    )
    assert elsewhere["secret"] is None
    error = await server.error(VALUE, {"ws": "other", "id": secret["id"], "v": None})
    assert error["extensions"]["code"] == "NOT_FOUND"


async def test_keyset_pagination_filters_and_total_count(server: Server) -> None:
    for i in range(7):
        await create(server, f"KEY_{i}", "v", tags=["even"] if i % 2 == 0 else ["odd"])
    await server.data(
        CREATE,
        {"ws": "default", "input": {"name": "PW", "secretType": "PASSWORD", "value": "p", "tags": ["even", "x"]}},
    )
    page_query = """query($after: String, $filter: SecretFilter) { secrets(workspaceId: "default", first: 3, after: $after, filter: $filter) {
        totalCount pageInfo { hasNextPage endCursor } edges { cursor node { name } } } }"""
    names: list[str] = []
    after = None
    while True:
        page = (await server.data(page_query, {"after": after}))["secrets"]
        assert page["totalCount"] == 8
        names += [e["node"]["name"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert names == sorted(names) and len(names) == 8 and len(set(names)) == 8

    by_tag = (await server.data(page_query, {"filter": {"tags": ["even", "x"]}}))["secrets"]
    assert [e["node"]["name"] for e in by_tag["edges"]] == ["PW"]
    by_type = (await server.data(page_query, {"filter": {"secretType": "PASSWORD"}}))["secrets"]
    assert by_type["totalCount"] == 1
    by_name = (await server.data(page_query, {"filter": {"nameContains": "key_"}}))["secrets"]
    assert by_name["totalCount"] == 7
    literal = (await server.data(page_query, {"filter": {"nameContains": "%"}}))["secrets"]
    assert literal["totalCount"] == 0


@pytest.mark.parametrize("first", [0, -1, 501])
async def test_page_size_out_of_range_is_bad_user_input(server: Server, first: int) -> None:
    error = await server.error(
        'query($f: Int) { secrets(workspaceId: "default", first: $f) { totalCount } }', {"f": first}
    )
    assert error["extensions"]["code"] == "BAD_USER_INPUT" and "first" in error["message"]


async def test_bad_cursor_is_bad_user_input(server: Server) -> None:
    error = await server.error('{ secrets(workspaceId: "default", after: "garbage!") { totalCount } }')
    assert error["extensions"]["code"] == "BAD_USER_INPUT" and "after" in error["message"]


async def test_rotation_due_orders_overdue_first(server: Server, clock: MutableClock) -> None:
    a = await create(server, "THIRTY", "v", rotationPolicy="AUTO_30_DAYS")
    await create(server, "SIXTY", "v", rotationPolicy="AUTO_60_DAYS")
    await create(server, "NEVER", "v", rotationPolicy="MANUAL")
    clock.advance(days=35)
    query = 'query($d: Int) { rotationDue(workspaceId: "default", daysAhead: $d) { name } }'
    assert [s["name"] for s in (await server.data(query, {"d": 0}))["rotationDue"]] == ["THIRTY"]
    assert [s["name"] for s in (await server.data(query, {"d": 30}))["rotationDue"]] == ["THIRTY", "SIXTY"]
    await server.data(
        'mutation($id: ID!) { rotateSecret(workspaceId: "default", id: $id, newValue: "n") { id } }', {"id": a["id"]}
    )
    # Rotated now, THIRTY is next due in exactly 30 days: outside a 29-day window.
    assert [s["name"] for s in (await server.data(query, {"d": 29}))["rotationDue"]] == ["SIXTY"]
    error = await server.error(query, {"d": -1})
    assert error["extensions"]["code"] == "BAD_USER_INPUT" and "daysAhead" in error["message"]


async def test_exact_due_dates_from_policy(server: Server, clock: MutableClock) -> None:
    secret = await create(server, "DUE", "v", rotationPolicy="AUTO_180_DAYS")
    from datetime import datetime, timedelta

    due = datetime.fromisoformat(secret["rotationDueAt"])
    created = datetime.fromisoformat(secret["createdAt"])
    assert due - created == timedelta(days=180)


async def test_value_reads_are_audited_and_update_last_accessed(server: Server) -> None:
    secret = await create(server, "AUDITED", "v")
    await value_of(server, secret["id"])
    await server.data('{ secretValues(workspaceId: "default", names: ["AUDITED"]) { value } }')
    events = await SecretAudit.filter(secret_id=secret["id"]).order_by("seq")
    assert [e.action.value for e in events] == ["CREATED", "ACCESSED", "ACCESSED"]
    # Reading metadata is browsing, recorded apart from value reads.
    await server.data(
        'query($id: ID!) { secret(workspaceId: "default", id: $id) { name versions { version } } }',
        {"id": secret["id"]},
    )
    viewed = await SecretAudit.filter(secret_id=secret["id"], action="VIEWED")
    assert len(viewed) == 2 and all(e.success for e in viewed)
    assert all("value" not in e.details for e in events)
    data = await server.data(
        'query($id: ID!) { secret(workspaceId: "default", id: $id) { lastAccessedAt } }', {"id": secret["id"]}
    )
    assert data["secret"]["lastAccessedAt"] is not None
    integrity = await server.data('{ auditIntegrity(workspaceId: "default") { valid checkedEvents } }')
    assert integrity["auditIntegrity"]["valid"] is True


async def test_secret_values_by_names_reports_missing_names(server: Server) -> None:
    await create(server, "PRESENT", "v")
    error = await server.error('{ secretValues(workspaceId: "default", names: ["PRESENT", "ABSENT"]) { value } }')
    assert error["extensions"]["code"] == "NOT_FOUND" and "ABSENT" in error["message"]
    # No value was revealed, and the failed bulk read is on the trail.
    accessed = await SecretAudit.filter(action="ACCESSED")
    assert [(e.success, e.secret_id, e.details) for e in accessed] == [
        (False, None, {"bulk": True, "error": "NOT_FOUND", "missing": 1})
    ]


async def test_viewer_and_workspaces(server: Server) -> None:
    await server.data('mutation { createWorkspace(id: "team-a", name: "Team A") { id name createdAt } }')
    data = await server.data("{ viewer { id name isSuperadmin bindings { workspaceId } } workspaces { id name } }")
    assert data["viewer"]["isSuperadmin"] is True
    assert data["workspaces"] == [{"id": "default", "name": "Default"}, {"id": "team-a", "name": "Team A"}]
    dup = await server.error('mutation { createWorkspace(id: "team-a") { id } }')
    assert dup["extensions"]["code"] == "CONFLICT"
    for bad in ("Team", "-x", "a" * 64, ""):
        error = await server.error("mutation($id: ID!) { createWorkspace(id: $id) { id } }", {"id": bad})
        assert error["extensions"]["code"] == "BAD_USER_INPUT", bad


async def test_unknown_workspace_is_not_found_for_superadmin(server: Server) -> None:
    error = await server.error('{ secrets(workspaceId: "nope") { totalCount } }')
    assert error["extensions"]["code"] == "NOT_FOUND"


COMPARE = """query($id: ID!, $a: Int!, $b: Int!) {
  compareSecretVersions(workspaceId: "default", id: $id, a: $a, b: $b) { secretId a b same }
}"""


async def test_compare_versions_says_same_or_different_and_records_no_value(server: Server) -> None:
    secret = await create(server, "COMPARED_VERSIONS", "alpha-value")
    await server.data(UPDATE, {"ws": "default", "id": secret["id"], "input": {"value": "beta-value"}})
    await server.data(UPDATE, {"ws": "default", "id": secret["id"], "input": {"value": "alpha-value"}})

    def compare(a: int, b: int) -> dict[str, Any]:
        return {"id": secret["id"], "a": a, "b": b}

    assert (await server.data(COMPARE, compare(1, 3)))["compareSecretVersions"]["same"] is True
    assert (await server.data(COMPARE, compare(1, 2)))["compareSecretVersions"]["same"] is False
    assert (await server.data(COMPARE, compare(2, 2)))["compareSecretVersions"] == {
        "secretId": secret["id"],
        "a": 2,
        "b": 2,
        "same": True,
    }
    missing = await server.error(COMPARE, compare(1, 9))
    assert missing["extensions"]["code"] == "NOT_FOUND" and "version 9" in missing["message"]

    rows = await SecretAudit.filter(secret_id=secret["id"], action="COMPARED").order_by("seq")
    assert [(row.details, row.success) for row in rows] == [
        ({"name": "COMPARED_VERSIONS", "versions": [1, 3]}, True),
        ({"name": "COMPARED_VERSIONS", "versions": [1, 2]}, True),
        ({"name": "COMPARED_VERSIONS", "versions": [2, 2]}, True),
        ({"versions": [1, 9], "error": "NOT_FOUND"}, False),
    ]
    assert not await SecretAudit.filter(secret_id=secret["id"], action="ACCESSED").exists()
