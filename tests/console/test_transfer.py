"""Import and export: a .env previewed (nothing created) then applied, a file chosen, exports
downloaded in each format with exactly the values, never shown, and a dotenv round trip."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml
from playwright.sync_api import FilePayload, Page, expect

from graphql_api.client.dotenv import parse_dotenv
from tests.console.conftest import WAIT_MS, Api, Console

# Values that need every kind of quoting a .env writer has to get right.
AWKWARD_VALUES = {
    "PLAIN_TOKEN": "plain-token-7c1e/x+y=z",
    "WITH_SPACES": "  spaced out value 41b2  ",
    "WITH_QUOTES": "it's a \"quoted\" 'thing' 9d03",
    "WITH_HASH": "before #not-a-comment 5a6f",
    "MULTI_LINE": "-----BEGIN KEY-----\nline two 8e21\r\nline three\n-----END KEY-----\n",
    "BACKSLASHES": 'C:\\path\\to\\n-not-a-newline \\" 3f90',
    "NOT_EXPANDED": "${HOME} and $USER 6b4d",
    "UNICODE": "grüße — ✓ 日本 \u2028 tab\there c0de",
    "YAML_LOOKALIKE": "yes",
    "BACKTICKS": "`cmd` and ` 1a2b",
}

SECRETS_BY_NAME = """query ($w: ID!, $n: String!) { secretByName(workspaceId: $w, name: $n) {
  id secretType rotationPolicy tags currentVersion } }"""


def _secret(api: Api, workspace_id: str, name: str) -> dict[str, Any] | None:
    found: dict[str, Any] | None = api(SECRETS_BY_NAME, {"w": workspace_id, "n": name})["secretByName"]
    return found


def _digests(api: Api, workspace_id: str) -> dict[str, str]:
    data = api("query ($w: ID!) { secretDigests(workspaceId: $w) { name digest } }", {"w": workspace_id})
    return {row["name"]: row["digest"] for row in data["secretDigests"]}


def _export(console: Console, format_label: str) -> str:
    page = console.page
    page.get_by_label("Format").select_option(label=format_label)
    with page.expect_download(timeout=WAIT_MS) as download_info:
        page.get_by_role("button", name="Export").click()
    download = download_info.value
    assert download.failure() is None
    expect(page.get_by_text(re.compile(r"^Downloaded \d+ secrets as "))).to_be_visible(timeout=WAIT_MS)
    return Path(download.path()).read_text(encoding="utf-8")


def test_import_previews_then_applies_and_clears_the_text(console: Console, api: Api) -> None:
    workspace_id = api.workspace("transfer-import")
    api.secret(workspace_id, "EXISTING_URL", "https://old.example/unchanged")
    api.secret(workspace_id, "KEPT_KEY", "the value already stored 11aa")
    dotenv = (
        "# pasted from a deploy\n"
        "STRIPE_API_KEY=sk_test_pasted_value_0f9e\n"
        'DATABASE_PASSWORD="pasted password with spaces 77c2"\n'
        "EXISTING_URL=https://old.example/unchanged\n"
        "KEPT_KEY=a new value that must not land 3b3b\n"
    )
    console.never_kept.extend(["sk_test_pasted_value_0f9e", "pasted password with spaces 77c2"])
    console.sign_in(api.token)
    console.go(workspace_id, "transfer")
    page = console.page
    page.get_by_label(".env text").fill(dotenv)
    page.get_by_label("Rotation policy").select_option("AUTO_90_DAYS")
    page.get_by_label("Tags (comma separated)").fill("imported, console")
    page.get_by_role("button", name="Preview").click()

    expect(page.get_by_role("heading", name="Plan (dry run: nothing changed)")).to_be_visible(timeout=WAIT_MS)
    expect(page.get_by_role("status").filter(has_text="would be created")).to_have_text(
        "2 would be created, 0 updated, 2 skipped, 0 unchanged."
    )
    rows = page.get_by_role("table").get_by_role("row")
    expect(rows).to_have_count(5)
    expect(rows.nth(1)).to_have_text(re.compile(r"STRIPE_API_KEY\s*2\s*CREATE\s*API_KEY\s*AUTO_90_DAYS"))
    expect(rows.nth(2)).to_have_text(re.compile(r"DATABASE_PASSWORD\s*3\s*CREATE\s*\w+\s*AUTO_90_DAYS"))
    expect(rows.nth(3)).to_have_text(re.compile(r"EXISTING_URL\s*4\s*SKIP"))
    expect(rows.nth(4)).to_have_text(re.compile(r"KEPT_KEY\s*5\s*SKIP"))
    console.screenshot("import-plan")
    console.check_accessibility("the import plan")
    assert _secret(api, workspace_id, "STRIPE_API_KEY") is None, "the dry run created a secret"
    assert _secret(api, workspace_id, "DATABASE_PASSWORD") is None, "the dry run created a secret"
    plan_html = page.get_by_role("table").inner_html()
    assert "sk_test_pasted_value_0f9e" not in plan_html and "77c2" not in plan_html

    page.get_by_role("button", name="Apply").click()
    expect(page.get_by_role("heading", name="Imported")).to_be_visible(timeout=WAIT_MS)
    expect(page.get_by_role("status").filter(has_text="were created")).to_have_text(
        "2 were created, 0 updated, 2 skipped, 0 unchanged."
    )
    expect(page.get_by_label(".env text")).to_have_value("")
    created = _secret(api, workspace_id, "STRIPE_API_KEY")
    assert created is not None
    assert created["rotationPolicy"] == "AUTO_90_DAYS" and sorted(created["tags"]) == ["console", "imported"]
    assert created["secretType"] == "API_KEY"
    expect(page.get_by_role("link", name="STRIPE_API_KEY")).to_have_attribute(
        "href", f"#/w/{workspace_id}/secret/{created['id']}"
    )
    kept = _secret(api, workspace_id, "KEPT_KEY")
    assert kept is not None and kept["currentVersion"] == 1, "without overwrite an existing secret was changed"
    assert "sk_test_pasted_value_0f9e" not in page.content()


def test_import_reads_a_chosen_file_and_overwrites_when_asked(console: Console, api: Api) -> None:
    workspace_id = api.workspace("transfer-file")
    api.secret(workspace_id, "WEBHOOK_SECRET", "old webhook value 4c4c")
    api.secret(workspace_id, "SAME_URL", "https://same.example/")
    console.sign_in(api.token)
    console.go(workspace_id, "transfer")
    page = console.page
    chosen: FilePayload = {
        "name": "prod.env",
        "mimeType": "text/plain",
        "buffer": b"export WEBHOOK_SECRET='new webhook value 9a9a'\nFROM_FILE=file-value-5d5d\nSAME_URL=https://same.example/\n",
    }
    page.get_by_label("Choose a .env file").set_input_files(files=[chosen])
    console.never_kept.extend(["new webhook value 9a9a", "file-value-5d5d"])
    expect(page.get_by_text(re.compile(r"^Read prod\.env \(\d+ bytes\)"))).to_be_visible(timeout=WAIT_MS)
    expect(page.get_by_label(".env text")).to_have_value(re.compile("FROM_FILE=file-value-5d5d"))
    page.get_by_label("Overwrite existing secrets (a new version)").check()
    page.get_by_role("button", name="Preview").click()
    rows = page.get_by_role("table").get_by_role("row")
    expect(rows.nth(1)).to_have_text(re.compile(r"WEBHOOK_SECRET\s*1\s*UPDATE"), timeout=WAIT_MS)
    expect(rows.nth(2)).to_have_text(re.compile(r"FROM_FILE\s*2\s*CREATE"))
    expect(rows.nth(3)).to_have_text(re.compile(r"SAME_URL\s*3\s*UNCHANGED"))
    expect(page.get_by_role("status").filter(has_text="would be created")).to_have_text(
        "1 would be created, 1 updated, 0 skipped, 1 unchanged."
    )
    assert _secret(api, workspace_id, "FROM_FILE") is None
    page.get_by_role("button", name="Apply").click()
    expect(page.get_by_role("heading", name="Imported")).to_be_visible(timeout=WAIT_MS)
    updated = _secret(api, workspace_id, "WEBHOOK_SECRET")
    assert updated is not None and updated["currentVersion"] == 2
    assert _secret(api, workspace_id, "FROM_FILE") is not None
    expect(page.get_by_label(".env text")).to_have_value("")


def test_import_reads_a_dropped_file(console: Console, api: Api) -> None:
    workspace_id = api.workspace("transfer-drop")
    console.sign_in(api.token)
    console.go(workspace_id, "transfer")
    page = console.page
    dropped = page.evaluate_handle(
        """() => {
          const transfer = new DataTransfer();
          transfer.items.add(new File(["DROPPED_KEY=dropped-value-2e2e\\n"], "dropped.env", {type: "text/plain"}));
          return transfer;
        }"""
    )
    console.never_kept.append("dropped-value-2e2e")
    page.locator(".drop-zone").dispatch_event("drop", {"dataTransfer": dropped})
    expect(page.get_by_text("Read dropped.env")).to_be_visible(timeout=WAIT_MS)
    expect(page.get_by_label(".env text")).to_have_value("DROPPED_KEY=dropped-value-2e2e\n")
    page.get_by_role("button", name="Preview").click()
    expect(page.get_by_role("table").get_by_role("row").nth(1)).to_have_text(
        re.compile(r"DROPPED_KEY\s*1\s*CREATE"), timeout=WAIT_MS
    )
    assert _secret(api, workspace_id, "DROPPED_KEY") is None


def test_export_downloads_each_format_with_the_exact_values_never_shown(console: Console, api: Api) -> None:
    workspace_id = api.workspace("transfer-export")
    for name, value in AWKWARD_VALUES.items():
        api.secret(workspace_id, name, value)
    console.never_kept.extend(v for v in AWKWARD_VALUES.values() if len(v) > 8)
    console.sign_in(api.token)
    console.go(workspace_id, "transfer")
    page = console.page
    expect(page.get_by_role("heading", name="Export values")).to_be_visible(timeout=WAIT_MS)
    assert api.audit(workspace_id, "ACCESSED") == [], "opening the screen read values"

    dotenv_text = _export(console, ".env (dotenv)")
    assert {entry.name: entry.value for entry in parse_dotenv(dotenv_text)} == AWKWARD_VALUES
    assert json.loads(_export(console, "JSON")) == AWKWARD_VALUES
    assert yaml.safe_load(_export(console, "YAML")) == AWKWARD_VALUES
    accessed = api.audit(workspace_id, "ACCESSED")
    assert len(accessed) == 3 * len(AWKWARD_VALUES), "each export is one audited bulk read"

    content = page.content()
    shown = [name for name, value in AWKWARD_VALUES.items() if len(value) > 8 and value in content]
    assert shown == [], f"exported values appear in the page: {shown}"
    console.check_accessibility("the export section")


def test_dotenv_export_imports_back_identically(console: Console, api: Api, tmp_path: Path) -> None:
    source, target = api.workspace("transfer-roundtrip-from"), api.workspace("transfer-roundtrip-to")
    for name, value in AWKWARD_VALUES.items():
        api.secret(source, name, value)
    console.never_kept.extend(v for v in AWKWARD_VALUES.values() if len(v) > 8)
    console.sign_in(api.token)
    console.go(source, "transfer")
    exported = tmp_path / "exported.env"
    exported.write_text(_export(console, ".env (dotenv)"), encoding="utf-8")

    console.go(target, "transfer")
    page = console.page
    expect(page.get_by_label(".env text")).to_have_value("", timeout=WAIT_MS)
    page.get_by_label("Choose a .env file").set_input_files(exported)
    expect(page.get_by_text("Read exported.env")).to_be_visible(timeout=WAIT_MS)
    page.get_by_role("button", name="Apply").click()
    expect(page.get_by_role("status").filter(has_text="were created")).to_have_text(
        f"{len(AWKWARD_VALUES)} were created, 0 updated, 0 skipped, 0 unchanged.", timeout=WAIT_MS
    )
    assert _digests(api, target) == _digests(api, source)


def test_import_and_export_follow_the_roles(console: Console, api: Api) -> None:
    workspace_id = api.workspace("transfer-roles")
    _, reader = api.principal_with_token("transfer reader", [{"workspaceId": workspace_id, "role": "READER"}])
    console.sign_in(reader)
    console.go(workspace_id, "transfer")
    page: Page = console.page
    expect(page.get_by_role("heading", name="Export values")).to_be_visible(timeout=WAIT_MS)
    expect(page.get_by_role("heading", name="Import a .env file")).to_have_count(0)
    expect(page.get_by_label(".env text")).to_have_count(0)
