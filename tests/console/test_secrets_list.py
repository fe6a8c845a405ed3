"""The console's secrets list: table, badges, search and filters, keyset pages, "New secret", hostile text.

Every test drives the production build in Chromium against a real server.
Besides what each test shows on screen, the list must never read a value:
no `secretValue` request leaves the page and no ACCESSED event is recorded
for browsing it.
"""

from __future__ import annotations

import json
import re
import sqlite3
from datetime import UTC, datetime, timedelta
from typing import Any

from playwright.sync_api import Dialog, Locator, Page, expect

from tests.console.conftest import WAIT_MS, Api, Console

PAGE_SIZE = 50


def database(api: Api) -> sqlite3.Connection:
    """The test server's SQLite database (its data dir is beside its log)."""
    return sqlite3.connect(api.server.log_path.parent / "data" / "strongroom.db")


def set_rotation_due(api: Api, secret_id: str, due: datetime) -> None:
    """Moves a secret's rotation date: the server's clock cannot be turned for a browser test."""
    with database(api) as db:
        changed = db.execute(
            "UPDATE secret SET rotation_due_at = ? WHERE id = ?", [due.strftime("%Y-%m-%d %H:%M:%S+00:00"), secret_id]
        ).rowcount
    assert changed == 1, f"no secret row {secret_id}"


def graphql_bodies(console: Console) -> list[dict[str, Any]]:
    """Every GraphQL body the page posted, parsed."""
    bodies = []
    for response in console.watch.responses:
        request = response.request
        if request.method == "POST" and request.url.endswith("/graphql") and request.post_data:
            bodies.append(json.loads(request.post_data))
    return bodies


def assert_no_value_read(console: Console, api: Api, workspace_id: str) -> None:
    """Neither a request nor a socket frame asked for a value, and no read was audited."""
    sent = [json.dumps(body) for body in graphql_bodies(console)] + console.watch.frames_sent
    assert sent, "the page sent no GraphQL at all"
    assert not [text for text in sent if "secretValue" in text], "the list asked for a value"
    assert api.audit(workspace_id, "ACCESSED") == []


def rows(page: Page) -> Locator:
    return page.locator("table.list-table tbody tr")


def row_of(page: Page, name: str) -> Locator:
    return rows(page).filter(has=page.get_by_role("link", name=name, exact=True))


def name_links(page: Page) -> Locator:
    return page.locator("table.list-table tbody td.name a")


def expect_names(page: Page, names: list[str]) -> None:
    """The table settles on exactly these names, in this order."""
    expect(name_links(page)).to_have_text(names, timeout=WAIT_MS)
    expect(page.locator("table.list-table")).to_have_attribute("aria-busy", "false", timeout=WAIT_MS)


def shown_names(page: Page) -> list[str]:
    """The names of the page once it has loaded (no request in flight)."""
    expect(page.locator("table.list-table")).to_have_attribute("aria-busy", "false", timeout=WAIT_MS)
    return name_links(page).all_inner_texts()


def wait_for_page(page: Page, number: int) -> None:
    expect(page.locator(".list-pager")).to_contain_text(f"Page {number}", timeout=WAIT_MS)
    expect(page.locator(".list-summary")).not_to_have_text("Loading secrets…", timeout=WAIT_MS)


def test_table_shows_metadata_badges_and_state_without_reading_a_value(console: Console, api: Api) -> None:
    ws = api.workspace("list-table")
    now = datetime.now(UTC)
    overdue = api.secret(
        ws, "STRIPE_KEY", "sk-1", secretType="API_KEY", tags=["payments", "prod"], rotationPolicy="AUTO_30_DAYS"
    )
    due = api.secret(ws, "DB_PASSWORD", "pw-1", secretType="PASSWORD", rotationPolicy="AUTO_90_DAYS")
    api.secret(ws, "LATER_TOKEN", "t-1", rotationPolicy="AUTO_365_DAYS", usage="nightly export job")
    gone = api.secret(ws, "OLD_WEBHOOK", "w-1", secretType="WEBHOOK_SECRET")
    api("mutation ($w: ID!, $id: ID!) { deleteSecret(workspaceId: $w, id: $id) { id } }", {"w": ws, "id": gone})
    set_rotation_due(api, overdue, now - timedelta(days=2))
    set_rotation_due(api, due, now + timedelta(days=3))

    console.sign_in(api.token)
    console.go(ws, "secrets")
    page = console.page
    expect_names(page, ["DB_PASSWORD", "LATER_TOKEN", "STRIPE_KEY"])
    expect(page.locator(".list-summary")).to_have_text("Secrets 1–3 of 3", timeout=WAIT_MS)

    stripe = row_of(page, "STRIPE_KEY")
    expect(stripe).to_contain_text("API key")
    expect(stripe).to_contain_text("rotation overdue")
    expect(stripe.get_by_role("list", name="tags of STRIPE_KEY").get_by_role("listitem")).to_have_text(
        ["payments", "prod"]
    )
    expect(stripe).to_contain_text("fernet")
    expect(stripe).to_contain_text("active")
    expect(stripe.locator("td").nth(5)).to_have_text("never")
    expect(row_of(page, "DB_PASSWORD")).to_contain_text("rotation due")
    expect(row_of(page, "DB_PASSWORD")).not_to_contain_text("overdue")
    later = row_of(page, "LATER_TOKEN")
    expect(later).to_contain_text("Every 365 days")
    expect(later).to_contain_text("nightly export job")
    expect(later).not_to_contain_text("rotation due")
    link = page.get_by_role("link", name="STRIPE_KEY", exact=True)
    expect(link).to_have_attribute("href", f"#/w/{ws}/secret/{overdue}")

    page.get_by_label("Include deleted").check()
    expect(rows(page)).to_have_count(4, timeout=WAIT_MS)
    expect(row_of(page, "OLD_WEBHOOK")).to_contain_text("deleted")
    expect(page.locator(".list-summary")).to_have_text("Secrets 1–4 of 4", timeout=WAIT_MS)

    console.screenshot("secrets-list")
    console.check_accessibility("the secrets list")
    assert_no_value_read(console, api, ws)

    # A read elsewhere shows up as "last accessed" once the list is asked again.
    api("query ($w: ID!, $id: ID!) { secretValue(workspaceId: $w, id: $id) { version } }", {"w": ws, "id": overdue})
    console.go(ws, "audit")
    console.go(ws, "secrets")
    expect(row_of(page, "STRIPE_KEY").locator("td").nth(5).locator("time")).to_be_visible(timeout=WAIT_MS)


def test_search_and_filters_narrow_the_list(console: Console, api: Api) -> None:
    ws = api.workspace("list-filters")
    api.secret(ws, "PAY_STRIPE_KEY", "v", secretType="API_KEY", tags=["payments"])
    api.secret(ws, "PAY_DB_PASSWORD", "v", secretType="PASSWORD", tags=["payments", "db"])
    api.secret(ws, "MAIL_API_KEY", "v", secretType="API_KEY", tags=["mail"])
    gone = api.secret(ws, "PAY_OLD_KEY", "v", secretType="API_KEY", tags=["payments"])
    api("mutation ($w: ID!, $id: ID!) { deleteSecret(workspaceId: $w, id: $id) { id } }", {"w": ws, "id": gone})

    console.sign_in(api.token)
    console.go(ws, "secrets")
    page = console.page
    expect(rows(page)).to_have_count(3, timeout=WAIT_MS)

    page.get_by_label("Search by name").press_sequentially("pay", delay=40)
    expect_names(page, ["PAY_DB_PASSWORD", "PAY_STRIPE_KEY"])
    expect(page.locator(".list-summary")).to_have_text("Secrets 1–2 of 2 matching", timeout=WAIT_MS)

    page.get_by_label("Type", exact=True).select_option("API_KEY")
    expect_names(page, ["PAY_STRIPE_KEY"])

    page.get_by_label("Include deleted").check()
    expect_names(page, ["PAY_OLD_KEY", "PAY_STRIPE_KEY"])

    page.get_by_label("Search by name").fill("")
    page.get_by_label("Include deleted").uncheck()
    page.get_by_label("Tag", exact=True).press_sequentially("mail", delay=40)
    expect_names(page, ["MAIL_API_KEY"])

    page.get_by_label("Tag", exact=True).fill("nobody-uses-this")
    expect(page.locator(".list-summary")).to_have_text("No secret matches these filters.", timeout=WAIT_MS)
    expect(rows(page)).to_have_count(0)

    sent_filters = [
        body["variables"]["filter"]
        for body in graphql_bodies(console)
        if body.get("operationName") == "ConsoleSecretsPage"
    ]
    # Typing "pay" (or "nobody-uses-this") is one query once typing pauses, not one per key.
    assert not [f for f in sent_filters if f["nameContains"] in ("p", "pa")]
    assert not [f for f in sent_filters if f["tags"] in (["m"], ["ma"], ["mai"])]
    assert_no_value_read(console, api, ws)


def test_keyset_pages_reach_the_last_page_and_back_without_duplicates(console: Console, api: Api) -> None:
    ws = api.workspace("list-pages")
    names = [f"BULK_{n:03d}" for n in range(120)]
    imported = api(
        "mutation ($w: ID!, $d: String!) { importSecrets(workspaceId: $w, dotenv: $d) { created } }",
        {"w": ws, "d": "".join(f"{name}=value-{name}\n" for name in names)},
    )
    assert imported["importSecrets"]["created"] == 120

    console.sign_in(api.token)
    console.go(ws, "secrets")
    page = console.page
    next_page = page.get_by_role("button", name="Next page")
    previous_page = page.get_by_role("button", name="Previous page")
    expect(rows(page)).to_have_count(PAGE_SIZE, timeout=WAIT_MS)
    expect(previous_page).to_be_disabled()
    expect(page.locator(".list-summary")).to_have_text("Secrets 1–50 of 120", timeout=WAIT_MS)

    seen: list[list[str]] = [shown_names(page)]
    next_page.click()
    wait_for_page(page, 2)
    seen.append(shown_names(page))
    next_page.press("Enter")
    wait_for_page(page, 3)
    seen.append(shown_names(page))
    assert [len(names_on_page) for names_on_page in seen] == [50, 50, 20]
    assert [name for names_on_page in seen for name in names_on_page] == names
    expect(next_page).to_be_disabled()
    # The last page reached from the keyboard leaves focus where it was.
    expect(next_page).to_be_focused()
    next_page.press("Enter")
    expect(page.locator(".list-pager")).to_contain_text("Page 3")
    expect(page.locator(".list-summary")).to_have_text("Secrets 101–120 of 120")

    for number in (2, 1):
        previous_page.click()
        wait_for_page(page, number)
        expect_names(page, seen[number - 1])
    expect(previous_page).to_be_disabled()

    next_page.click()
    wait_for_page(page, 2)
    page.get_by_label("Search by name").fill("BULK_11")
    wait_for_page(page, 1)
    expect_names(page, [f"BULK_11{n}" for n in range(10)])

    bodies = graphql_bodies(console)
    pages_asked = [body for body in bodies if body.get("operationName") == "ConsoleSecretsPage"]
    assert len(pages_asked) >= 7 and all(body["variables"]["first"] == PAGE_SIZE for body in pages_asked)
    assert not [body for body in pages_asked if "totalCount" in body["query"]]
    counts_asked = [body for body in bodies if body.get("operationName") == "ConsoleSecretsCount"]
    assert len(counts_asked) == 2, "the total is counted once per filter, not per page"
    assert_no_value_read(console, api, ws)


def test_new_secret_dialog_validates_reports_server_errors_and_creates(console: Console, api: Api) -> None:
    ws = api.workspace("list-create")
    api.secret(ws, "TAKEN_NAME", "v")
    _, writer = api.principal_with_token("list writer", [{"workspaceId": ws, "role": "WRITER"}])
    typed_value = "typed-value-7f3a91"
    console.never_kept.append(typed_value)
    console.sign_in(writer)
    console.go(ws, "secrets")
    page = console.page
    page.get_by_role("button", name="New secret").click()
    dialog = page.get_by_role("dialog", name="New secret")
    expect(dialog).to_be_visible(timeout=WAIT_MS)

    dialog.get_by_label("Name", exact=True).fill("TAKEN_NAME")
    dialog.get_by_label("Type", exact=True).select_option("API_KEY")
    value = dialog.get_by_label("Value", exact=True)
    value.fill(typed_value)
    expect(value).to_have_attribute("type", "password")
    dialog.get_by_role("button", name="Show value").click()
    expect(value).to_have_attribute("type", "text")
    dialog.get_by_role("button", name="Hide value").click()
    expect(value).to_have_attribute("type", "password")
    dialog.get_by_label("Usage").fill("checkout service")
    dialog.get_by_label("Tags (comma separated)").fill(" payments, prod ,,")
    dialog.get_by_label("Rotation policy").select_option("AUTO_90_DAYS")
    metadata = dialog.get_by_label("Metadata (optional JSON object)")

    metadata.fill('{"owner": "payments",}')
    dialog.get_by_role("button", name="Create secret").click()
    expect(dialog.get_by_role("alert")).to_contain_text("Metadata is not valid JSON", timeout=WAIT_MS)
    expect(metadata).to_be_focused()
    metadata.fill('["not", "an", "object"]')
    dialog.get_by_role("button", name="Create secret").click()
    expect(dialog.get_by_role("alert")).to_contain_text("Metadata must be a JSON object")
    assert not [b for b in graphql_bodies(console) if b.get("operationName") == "ConsoleCreateSecret"]
    console.screenshot("secrets-new-secret")
    console.check_accessibility("the new secret dialog")

    metadata.fill('{"owner": "payments", "ticket": 42}')
    dialog.get_by_role("button", name="Create secret").click()
    expect(dialog.get_by_role("alert")).to_contain_text("CONFLICT", timeout=WAIT_MS)

    dialog.get_by_label("Name", exact=True).fill("9-not-a-name")
    dialog.get_by_role("button", name="Create secret").click()
    expect(dialog.get_by_role("alert")).to_contain_text("BAD_USER_INPUT", timeout=WAIT_MS)
    expect(dialog.get_by_role("alert")).to_contain_text("must start with a letter or underscore")

    dialog.get_by_label("Name", exact=True).fill("CHECKOUT_KEY")
    dialog.get_by_role("button", name="Create secret").click()
    expect(page).to_have_url(re.compile(re.escape(f"/console/#/w/{ws}/secret/") + "[0-9a-f-]{36}$"), timeout=WAIT_MS)
    created = api(
        'query ($w: ID!) { secretByName(workspaceId: $w, name: "CHECKOUT_KEY") '
        "{ id secretType usage tags metadata rotationPolicy } }",
        {"w": ws},
    )["secretByName"]
    assert created is not None
    assert page.url.endswith(f"/secret/{created['id']}")
    assert {k: v for k, v in created.items() if k != "id"} == {
        "secretType": "API_KEY",
        "usage": "checkout service",
        "tags": ["payments", "prod"],
        "metadata": {"owner": "payments", "ticket": 42},
        "rotationPolicy": "AUTO_90_DAYS",
    }
    read = api(
        "query ($w: ID!, $id: ID!) { secretValue(workspaceId: $w, id: $id) { value } }", {"w": ws, "id": created["id"]}
    )
    assert read["secretValue"]["value"] == typed_value
    mutations = [b for b in graphql_bodies(console) if b.get("operationName") == "ConsoleCreateSecret"]
    assert len(mutations) == 3, "bad metadata never reached the server; CONFLICT, BAD_USER_INPUT, then created"
    assert "value" not in mutations[-1]["query"], "the answer asks for no value"


def test_a_viewer_lists_but_is_offered_no_new_secret(console: Console, api: Api) -> None:
    ws = api.workspace("list-viewer")
    api.secret(ws, "SEEN_BY_VIEWER", "v")
    _, viewer = api.principal_with_token("list viewer", [{"workspaceId": ws, "role": "VIEWER"}])
    console.sign_in(viewer)
    console.go(ws, "secrets")
    page = console.page
    expect(row_of(page, "SEEN_BY_VIEWER")).to_be_visible(timeout=WAIT_MS)
    expect(page.get_by_role("button", name="New secret")).to_have_count(0)
    assert_no_value_read(console, api, ws)


HOSTILE_USAGE = '<img src=x onerror="window.__xss=1">'
HOSTILE_TAG = "<img src=x onerror=alert(1)>"
HOSTILE_METADATA = {"note": '"><script>window.__xss=2</script>', "<b onmouseover=alert(3)>": "x"}
HOSTILE_NAMES = ["<img src=x onerror=alert(1)>", '"><script>alert(1)</script>', "javascript:alert(1)", "A B"]


def test_hostile_usage_tags_and_metadata_render_as_literal_text(console: Console, api: Api) -> None:
    ws = api.workspace("list-hostile")
    for name in HOSTILE_NAMES:
        refused = api.raw(
            "mutation ($w: ID!, $i: CreateSecretInput!) { createSecret(workspaceId: $w, input: $i) { id } }",
            {"w": ws, "i": {"name": name, "value": "v", "secretType": "GENERIC"}},
        )
        assert refused["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", name
    api.secret(ws, "HOSTILE", "v", usage=HOSTILE_USAGE, tags=[HOSTILE_TAG, "</td><td>"], metadata=HOSTILE_METADATA)

    page = console.page
    dialogs: list[str] = []

    def record_dialog(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", record_dialog)
    console.sign_in(api.token)
    console.go(ws, "secrets")
    row = row_of(page, "HOSTILE")
    expect(row).to_be_visible(timeout=WAIT_MS)

    expect(row.get_by_text(HOSTILE_USAGE, exact=True)).to_be_visible()
    expect(row.get_by_text(HOSTILE_TAG, exact=True)).to_be_visible()
    expect(row.get_by_text("</td><td>", exact=True)).to_be_visible()
    expect(row.locator(".list-metadata code")).to_have_text(json.dumps(HOSTILE_METADATA, separators=(",", ":")))
    expect(row.locator("td")).to_have_count(7)

    assert page.locator("img[src=x]").count() == 0
    assert page.locator("main script, main b, main img").count() == 0
    assert page.evaluate("() => window.__xss") is None
    assert dialogs == []
    assert_no_value_read(console, api, ws)
    console.screenshot("secrets-list-hostile-text")
