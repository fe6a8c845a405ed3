"""The console's audit screen: live events, paged history, integrity and signed checkpoints."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from playwright.sync_api import Page, expect

from graphql_api.client.checkpoint import from_file, verify_signature
from tests.console.conftest import WAIT_MS, Api, Console

READ_VALUE = "query ($w: ID!, $id: ID!) { secretValue(workspaceId: $w, id: $id) { value } }"
VIEW_SECRET = "query ($w: ID!, $id: ID!) { secret(workspaceId: $w, id: $id) { name } }"


def _row(page: Page, table_label: str, *texts: str):  # type: ignore[no-untyped-def]
    rows = page.get_by_role("table", name=table_label).locator("tbody tr")
    for text in texts:
        rows = rows.filter(has_text=text)
    return rows


def _wait_until_live(console: Console, api: Api, workspace_id: str, secret_id: str) -> None:
    """Until a VIEWED event of the test's own arrives live: the subscription is then registered."""
    page = console.page
    expect(page.get_by_text("Live: connected")).to_be_visible(timeout=WAIT_MS)
    for _attempt in range(30):
        api(VIEW_SECRET, {"w": workspace_id, "id": secret_id})
        try:
            expect(_row(page, "Live audit events, newest first", "VIEWED", secret_id).first).to_be_visible(timeout=500)
            return
        except AssertionError:
            continue
    raise AssertionError("no live event arrived")


def _database(console: Console) -> Path:
    database = console.server.log_path.parent / "data" / "strongroom.db"
    assert database.is_file(), f"no SQLite database at {database}"
    return database


def test_a_live_event_arrives_while_another_client_reads_a_secret(console: Console, api: Api) -> None:
    workspace_id = api.workspace("audit-live")
    secret_id = api.secret(workspace_id, "DATABASE_URL", "postgres://live-value")
    other_id = api.secret(workspace_id, "OTHER", "other-value")
    console.sign_in(api.token)
    console.go(workspace_id, "audit")
    page = console.page
    _wait_until_live(console, api, workspace_id, secret_id)

    api(READ_VALUE, {"w": workspace_id, "id": secret_id})
    accessed = _row(page, "Live audit events, newest first", "ACCESSED", secret_id)
    expect(accessed).to_have_count(1, timeout=WAIT_MS)
    expect(accessed).to_contain_text("DATABASE_URL")
    assert "postgres://live-value" not in page.content()
    expect(page.get_by_text("Live: connected")).to_be_visible()
    console.screenshot("audit-live")
    console.check_accessibility("the audit screen's live view")

    # Filters narrow the live view: by action, then by secret (given by name).
    api(READ_VALUE, {"w": workspace_id, "id": other_id})
    expect(_row(page, "Live audit events, newest first", "ACCESSED", other_id)).to_have_count(1, timeout=WAIT_MS)
    page.get_by_label("Action").select_option("ACCESSED")
    page.get_by_role("button", name="Apply filters").click()
    expect(_row(page, "Live audit events, newest first", "VIEWED")).to_have_count(0, timeout=WAIT_MS)
    expect(_row(page, "Live audit events, newest first", "ACCESSED")).to_have_count(2)
    page.get_by_label("Secret (id or name)").fill("OTHER")
    page.get_by_role("button", name="Apply filters").click()
    live = _row(page, "Live audit events, newest first")
    expect(live).to_have_count(1, timeout=WAIT_MS)
    expect(live).to_contain_text(other_id)
    page.get_by_label("Success").select_option("no")
    page.get_by_role("button", name="Apply filters").click()
    expect(page.get_by_text("No event matching the filters yet.")).to_be_visible(timeout=WAIT_MS)

    # Pause holds new events back; resume shows them.
    page.get_by_label("Success").select_option("any")
    page.get_by_label("Secret (id or name)").fill(secret_id)
    page.get_by_role("button", name="Apply filters").click()
    expect(live).to_have_count(1, timeout=WAIT_MS)
    page.get_by_role("button", name="Pause").click()
    api(READ_VALUE, {"w": workspace_id, "id": secret_id})
    expect(page.get_by_text("Paused: 1 new event held.")).to_be_visible(timeout=WAIT_MS)
    expect(live).to_have_count(1)
    page.get_by_role("button", name="Resume").click()
    expect(live).to_have_count(2, timeout=WAIT_MS)


def test_history_pages_and_filters(console: Console, api: Api) -> None:
    workspace_id = api.workspace("audit-history")
    secret_id = api.secret(workspace_id, "PAGED", "paged-value")
    for _ in range(110):
        api(READ_VALUE, {"w": workspace_id, "id": secret_id})
    api.raw(READ_VALUE, {"w": workspace_id, "id": "00000000-0000-0000-0000-000000000000"})
    total = len(api.audit(workspace_id))
    assert total > 100
    console.sign_in(api.token)
    console.go(workspace_id, "audit")
    page = console.page
    page.get_by_role("button", name="History").click()
    table = "Stored audit events, newest first"
    rows = _row(page, table)
    expect(rows).to_have_count(50, timeout=WAIT_MS)
    first_page_top = rows.first.locator("td").last.inner_text()
    assert int(first_page_top) == total
    page.get_by_role("button", name="Next page").click()
    expect(rows.first.locator("td").last).to_have_text(str(total - 50), timeout=WAIT_MS)
    expect(rows).to_have_count(50)
    page.get_by_role("button", name="Next page").click()
    expect(rows).to_have_count(total - 100, timeout=WAIT_MS)
    expect(page.get_by_role("button", name="Next page")).to_be_disabled()
    page.get_by_role("button", name="Previous page").click()
    expect(rows.first.locator("td").last).to_have_text(str(total - 50), timeout=WAIT_MS)

    # The failed read of a missing secret is the one unsuccessful ACCESSED event.
    page.get_by_label("Action").select_option("ACCESSED")
    page.get_by_label("Success").select_option("no")
    page.get_by_role("button", name="Apply filters").click()
    expect(rows).to_have_count(1, timeout=WAIT_MS)
    expect(rows).to_contain_text("ACCESSED")
    expect(rows).to_contain_text("NOT_FOUND")
    expect(page.get_by_role("button", name="Previous page")).to_be_disabled()

    # A secret filter reads that secret's trail (secretAudit).
    page.get_by_label("Success").select_option("yes")
    page.get_by_label("Secret (id or name)").fill(secret_id)
    page.get_by_role("button", name="Apply filters").click()
    expect(rows).to_have_count(50, timeout=WAIT_MS)
    for text in rows.locator("td:nth-child(2)").all_inner_texts():
        assert text == "ACCESSED"
    console.check_accessibility("the audit screen's history")


def test_integrity_tampering_and_checkpoints(console: Console, api: Api, tmp_path: Path) -> None:
    workspace_id = api.workspace("audit-integrity")
    secret_id = api.secret(workspace_id, "CHAINED", "chained-value")
    for _ in range(3):
        api(READ_VALUE, {"w": workspace_id, "id": secret_id})
    console.sign_in(api.token)
    console.go(workspace_id, "audit")
    page = console.page
    result = page.get_by_role("status", name="Integrity result")

    page.get_by_role("button", name="Verify integrity").click()
    expect(result).to_contain_text("valid", timeout=WAIT_MS)
    expected = api("query ($w: ID!) { auditIntegrity(workspaceId: $w) { valid checkedEvents } }", {"w": workspace_id})
    assert expected["auditIntegrity"]["valid"] is True
    expect(result.locator("[data-field=checked-events]")).to_have_text(str(expected["auditIntegrity"]["checkedEvents"]))
    expect(result).not_to_contain_text("invalid")

    with page.expect_download(timeout=WAIT_MS) as download_info:
        page.get_by_role("button", name="Download signed checkpoint").click()
    saved = tmp_path / "checkpoint.json"
    download_info.value.save_as(saved)
    document = json.loads(saved.read_text(encoding="utf-8"))
    assert {"seq", "headHash", "signature"} <= document.keys()
    verify_signature(from_file(saved.read_text(encoding="utf-8")))
    expect(page.get_by_role("cell", name=str(document["seq"]), exact=True).first).to_be_visible(timeout=WAIT_MS)

    # Verifying against the kept file: valid, and it says so.
    page.get_by_label("Verify against a kept checkpoint file").set_input_files(str(saved))
    expect(result).to_contain_text(f"checkpoint.json (seq {document['seq']})", timeout=WAIT_MS)
    expect(result).not_to_contain_text("invalid")
    console.screenshot("audit-integrity")
    console.check_accessibility("the audit screen's integrity panel")

    page.get_by_role("button", name=f"Verify against it: the checkpoint at seq {document['seq']}").click()
    expect(result).to_contain_text(f"the published checkpoint at seq {document['seq']}", timeout=WAIT_MS)
    expect(result).not_to_contain_text("invalid")

    # A checkpoint whose hash the chain does not hold is refused.
    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps({**document, "headHash": "0" * 64}), encoding="utf-8")
    page.get_by_label("Verify against a kept checkpoint file").set_input_files(str(forged))
    expect(result).to_contain_text("invalid", timeout=WAIT_MS)
    expect(result).to_contain_text("forged.json")

    # An event rewritten in the database by hand.
    events = api(
        "query ($w: ID!) { workspaceAudit(workspaceId: $w, first: 500) { edges { node { id seq } } } }",
        {"w": workspace_id},
    )["workspaceAudit"]["edges"]
    tampered = next(edge["node"] for edge in events if edge["node"]["seq"] == 2)
    with sqlite3.connect(_database(console)) as database:
        changed = database.execute(
            "UPDATE secret_audit SET details = ? WHERE id = ?", ['{"rewritten": true}', tampered["id"]]
        ).rowcount
    assert changed == 1
    page.get_by_role("button", name="Verify integrity").click()
    expect(result).to_contain_text("invalid", timeout=WAIT_MS)
    expect(result.locator("[data-field=first-invalid]")).to_have_text(tampered["id"])
    expect(result).to_contain_text("this event was changed after it was written")


def test_a_reader_is_told_it_may_not_read_the_audit(console: Console, api: Api) -> None:
    workspace_id = api.workspace("audit-reader")
    _principal, token = api.principal_with_token("audit-reader", [{"workspaceId": workspace_id, "role": "READER"}])
    console.sign_in(token)
    console.go(workspace_id, "audit")
    page = console.page
    expect(page.get_by_role("heading", name="Not allowed")).to_be_visible(timeout=WAIT_MS)
    expect(page.get_by_role("alert")).to_contain_text("READER")
    expect(page.get_by_role("button", name="Verify integrity")).to_have_count(0)
    console.check_accessibility("the audit screen refused")
