"""The rotation dashboard: overdue then due secrets of every workspace the principal may list."""

from __future__ import annotations

import re
import sqlite3
from datetime import UTC, datetime, timedelta

from playwright.sync_api import expect

from tests.console.conftest import WAIT_MS, Api, Console


def _set_due(api: Api, workspace_id: str, name: str, due: datetime) -> None:
    """Move a secret's rotation due date in the server's own SQLite database: the
    server has no clock to wind forward, and no API sets a due date in the past."""
    database = api.server.log_path.parent / "data" / "strongroom.db"
    with sqlite3.connect(database) as db:
        changed = db.execute(
            "UPDATE secret SET rotation_due_at = ? WHERE workspace_id = ? AND name = ?",
            (due.isoformat(sep=" "), workspace_id, name),
        ).rowcount
    assert changed == 1, f"no secret {name} in {workspace_id}"


def test_dashboard_lists_overdue_first_then_due_with_links(console: Console, api: Api) -> None:
    ops, billing, audited = api.workspace("rot-ops"), api.workspace("rot-billing"), api.workspace("rot-audited")
    now = datetime.now(UTC).replace(microsecond=0)
    overdue_id = api.secret(ops, "OLD_DB_PASSWORD", "rotation-value-1", rotationPolicy="AUTO_30_DAYS")
    soon_id = api.secret(ops, "SOON_API_KEY", "rotation-value-2", rotationPolicy="AUTO_30_DAYS")
    api.secret(ops, "FRESH_KEY", "rotation-value-3", rotationPolicy="AUTO_365_DAYS")
    api.secret(ops, "NEVER_ROTATED", "rotation-value-4")
    billing_id = api.secret(billing, "BILLING_WEBHOOK", "rotation-value-5", rotationPolicy="AUTO_90_DAYS")
    api.secret(audited, "HIDDEN_KEY", "rotation-value-6", rotationPolicy="AUTO_30_DAYS")
    _set_due(api, ops, "OLD_DB_PASSWORD", now - timedelta(days=12))
    _set_due(api, ops, "SOON_API_KEY", now + timedelta(days=3))
    _set_due(api, billing, "BILLING_WEBHOOK", now - timedelta(days=1))
    _set_due(api, audited, "HIDDEN_KEY", now - timedelta(days=1))
    _, token = api.principal_with_token(
        "rotation watcher",
        [
            {"workspaceId": ops, "role": "WRITER"},
            {"workspaceId": billing, "role": "VIEWER"},
            {"workspaceId": audited, "role": "AUDITOR"},
        ],
    )

    console.sign_in(token)
    console.go(ops, "rotation")
    page = console.page
    ops_section = page.get_by_role("region", name=re.compile("^rot-ops"))
    rows = ops_section.get_by_role("row")
    expect(rows).to_have_count(3, timeout=WAIT_MS)
    expect(rows.nth(1)).to_contain_text("OLD_DB_PASSWORD")
    expect(rows.nth(1)).to_contain_text("rotation overdue")
    expect(rows.nth(2)).to_contain_text("SOON_API_KEY")
    expect(rows.nth(2)).to_contain_text("rotation due")
    expect(ops_section.get_by_role("heading")).to_have_text(re.compile(r"rot-ops\s*1 overdue\s*1 due"))
    expect(ops_section.get_by_role("link", name="OLD_DB_PASSWORD")).to_have_attribute(
        "href", f"#/w/{ops}/secret/{overdue_id}"
    )
    expect(ops_section.get_by_role("link", name="SOON_API_KEY")).to_have_attribute(
        "href", f"#/w/{ops}/secret/{soon_id}"
    )
    expect(ops_section.get_by_text("FRESH_KEY")).to_have_count(0)

    billing_section = page.get_by_role("region", name=re.compile("^rot-billing"))
    expect(billing_section.get_by_role("link", name="BILLING_WEBHOOK")).to_have_attribute(
        "href", f"#/w/{billing}/secret/{billing_id}"
    )
    expect(billing_section.get_by_role("heading")).to_have_text(re.compile(r"rot-billing\s*1 overdue\s*0 due"))
    expect(
        page.get_by_text(re.compile(r"^Skipped \(your roles there do not include listing secrets\): rot-audited"))
    ).to_be_visible()
    expect(page.get_by_text("HIDDEN_KEY")).to_have_count(0)
    expect(page.get_by_role("alert")).to_have_count(0)
    console.screenshot("rotation-due")
    console.check_accessibility("the rotation dashboard")

    page.get_by_label("Due within").select_option(label="overdue only")
    expect(ops_section.get_by_role("heading")).to_have_text(re.compile(r"rot-ops\s*1 overdue\s*0 due"), timeout=WAIT_MS)
    expect(ops_section.get_by_text("SOON_API_KEY")).to_have_count(0)
    page.get_by_label("Due within").select_option(label="90 days")
    expect(ops_section.get_by_role("link", name="SOON_API_KEY")).to_be_visible(timeout=WAIT_MS)
    expect(ops_section.get_by_role("link", name="FRESH_KEY")).to_have_count(0)

    ops_section.get_by_role("link", name="OLD_DB_PASSWORD").click()
    expect(page).to_have_url(re.compile(rf"#/w/{ops}/secret/{overdue_id}$"), timeout=WAIT_MS)
