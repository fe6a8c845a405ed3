"""The access screen: principals, role bindings and API tokens of a workspace."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from playwright.sync_api import expect

from tests.console.conftest import WAIT_MS, Api, Console

VIEWER_QUERY = "{ viewer { name bindings { workspaceId role } } }"


def bindings_of(api: Api, workspace_id: str, name: str) -> list[dict[str, Any]]:
    principals = api(
        "query ($w: ID) { principals(workspaceId: $w) { name bindings { workspaceId role } } }", {"w": None}
    )
    [principal] = [p for p in principals["principals"] if p["name"] == name]
    return [b for b in principal["bindings"] if b["workspaceId"] == workspace_id]


def error_codes(body: dict[str, Any]) -> list[str]:
    return [error["extensions"]["code"] for error in body.get("errors") or []]


def test_create_a_principal_and_a_token_shown_once_then_revoke_it(console: Console, api: Api) -> None:
    api.workspace("access-a")
    console.sign_in(api.token)
    console.go("access-a", "access")
    page = console.page

    page.get_by_label("Name", exact=True).fill("deployer")
    page.get_by_label("Role in access-a").select_option("WRITER")
    page.get_by_role("button", name="Create principal").click()
    expect(page.get_by_role("status")).to_contain_text("Created principal deployer", timeout=WAIT_MS)
    assert bindings_of(api, "access-a", "deployer") == [{"workspaceId": "access-a", "role": "WRITER"}]

    page.get_by_role("button", name="Tokens of deployer").click()
    expect(page.get_by_role("heading", name="Tokens of deployer")).to_be_visible(timeout=WAIT_MS)
    expect(page.get_by_text("This principal has no token.")).to_be_visible(timeout=WAIT_MS)
    page.get_by_label("Token name").fill("ci")
    page.get_by_role("button", name="Create token").click()

    dialog = page.get_by_role("dialog", name="Token created")
    expect(dialog).to_be_visible(timeout=WAIT_MS)
    expect(dialog).to_contain_text("it will not be shown again")
    token = dialog.locator("code").inner_text()
    console.never_kept.append(token)
    assert token.startswith("sr_")
    console.screenshot("token-created")
    console.check_accessibility("the token-created dialog")

    dialog.get_by_role("button", name="Copy the token").click()
    expect(dialog.get_by_role("button", name="Copy the token")).to_contain_text("Copied", timeout=WAIT_MS)
    assert page.evaluate("() => navigator.clipboard.readText()") == token
    dialog.get_by_role("button", name="Close").click()
    expect(dialog).to_be_hidden(timeout=WAIT_MS)
    assert token not in page.content(), "the token stayed in the page after its dialog closed"

    viewer = api(VIEWER_QUERY, token=token)["viewer"]
    assert viewer == {"name": "deployer", "bindings": [{"workspaceId": "access-a", "role": "WRITER"}]}

    row = page.get_by_role("row").filter(has_text="ci")
    expect(row).to_contain_text(token[:8], timeout=WAIT_MS)
    console.screenshot("access")
    console.check_accessibility("the access screen")

    row.get_by_role("button", name="Revoke token ci").click()
    confirm = page.get_by_role("dialog", name="Revoke token")
    expect(confirm).to_be_visible(timeout=WAIT_MS)
    console.check_accessibility("the revoke-token confirmation")
    confirm.get_by_role("button", name="Revoke token").click()
    expect(confirm).to_be_hidden(timeout=WAIT_MS)
    expect(row.get_by_text("revoked")).to_be_visible(timeout=WAIT_MS)
    assert error_codes(api.raw(VIEWER_QUERY, token=token)) == ["UNAUTHENTICATED"]


def test_cancelling_the_revoke_confirmation_keeps_the_token(console: Console, api: Api) -> None:
    api.workspace("access-c")
    principal_id, token = api.principal_with_token("keeper", [{"workspaceId": "access-c", "role": "READER"}])
    console.never_kept.append(token)
    console.sign_in(api.token)
    console.go("access-c", "access")
    page = console.page
    page.get_by_role("button", name="Tokens of keeper").click()
    page.get_by_role("button", name="Revoke token console test").click()
    confirm = page.get_by_role("dialog", name="Revoke token")
    confirm.get_by_role("button", name="Cancel").click()
    expect(confirm).to_be_hidden(timeout=WAIT_MS)
    assert api(VIEWER_QUERY, token=token)["viewer"]["name"] == "keeper"
    tokens = api("query ($p: ID!) { apiTokens(principalId: $p) { revoked } }", {"p": principal_id})["apiTokens"]
    assert tokens == [{"revoked": False}]


def test_grant_and_revoke_a_role_as_the_workspace_admin(console: Console, api: Api) -> None:
    api.workspace("access-b")
    api.workspace("access-elsewhere")
    _admin_id, admin_token = api.principal_with_token("boss", [{"workspaceId": "access-b", "role": "ADMIN"}])
    api.principal_with_token("grantee", [{"workspaceId": "access-b", "role": "VIEWER"}])
    api.principal_with_token("stranger", [{"workspaceId": "access-elsewhere", "role": "VIEWER"}])
    console.sign_in(admin_token)
    console.go("access-b", "access")
    page = console.page

    expect(page.get_by_role("button", name="Tokens of grantee")).to_be_visible(timeout=WAIT_MS)
    # An ADMIN sees the principals bound to its workspace only, and makes no superadmin.
    expect(page.get_by_text("stranger")).to_have_count(0)
    expect(page.get_by_label("Show all principals", exact=False)).to_have_count(0)
    expect(page.get_by_label("Superadmin")).to_have_count(0)

    page.get_by_label("Role for grantee").select_option("WRITER")
    page.get_by_role("button", name="Grant WRITER to grantee").click()
    expect(page.get_by_role("row").filter(has_text="grantee")).to_contain_text("access-b: WRITER", timeout=WAIT_MS)
    assert bindings_of(api, "access-b", "grantee") == [{"workspaceId": "access-b", "role": "WRITER"}]

    page.get_by_role("button", name="Revoke role of grantee").click()
    expect(page.get_by_role("button", name="Tokens of grantee")).to_have_count(0, timeout=WAIT_MS)
    assert bindings_of(api, "access-b", "grantee") == []

    # Revoking its own (only) role: the session is read again, so the shell
    # no longer offers the workspace instead of showing controls that now fail.
    page.get_by_role("button", name="Revoke role of boss").click()
    expect(page.get_by_role("heading", name="Choose a workspace")).to_be_visible(timeout=WAIT_MS)
    expect(page.get_by_label("Workspace", exact=True).locator("option", has_text="access-b")).to_have_count(0)
    assert bindings_of(api, "access-b", "boss") == []


def test_a_superadmin_sees_all_principals_and_may_create_a_superadmin(console: Console, api: Api) -> None:
    api.workspace("access-d")
    api.workspace("access-other")
    api.principal_with_token("far-away", [{"workspaceId": "access-other", "role": "READER"}])
    console.sign_in(api.token)
    console.go("access-d", "access")
    page = console.page
    expect(page.get_by_role("heading", name="Principals")).to_be_visible(timeout=WAIT_MS)
    expect(page.get_by_role("button", name="Tokens of far-away")).to_have_count(0)
    page.get_by_label("Show all principals").check()
    expect(page.get_by_role("button", name="Tokens of far-away")).to_be_visible(timeout=WAIT_MS)

    page.get_by_label("Name", exact=True).fill("second-root")
    page.get_by_label("Superadmin").check()
    page.get_by_role("button", name="Create principal").click()
    expect(page.get_by_role("status")).to_contain_text("Created principal second-root", timeout=WAIT_MS)
    principals = api("{ principals { name isSuperadmin } }")["principals"]
    assert {"name": "second-root", "isSuperadmin": True} in principals


def test_a_refused_operation_shows_the_server_error(console: Console, api: Api) -> None:
    api.workspace("access-e")
    console.sign_in(api.token)
    console.go("access-e", "access")
    page = console.page
    page.get_by_label("Name", exact=True).fill("has/slash")
    page.get_by_role("button", name="Create principal").click()
    expect(page.get_by_role("alert")).to_contain_text("must not contain '/'", timeout=WAIT_MS)


def test_a_reader_is_told_the_screen_needs_admin(console: Console, api: Api) -> None:
    api.workspace("access-f")
    _reader_id, token = api.principal_with_token("reader-f", [{"workspaceId": "access-f", "role": "READER"}])
    console.sign_in(token)
    console.go("access-f", "access")
    page = console.page
    expect(page.get_by_role("heading", name="Not allowed")).to_be_visible(timeout=WAIT_MS)
    expect(page.get_by_text("needs the ADMIN role here")).to_be_visible()
    expect(page.get_by_role("button", name="Create principal")).to_have_count(0)
    console.check_accessibility("the access screen without the ADMIN role")


def test_a_token_with_an_expiry_date_expires_at_the_end_of_that_day(console: Console, api: Api) -> None:
    api.workspace("access-g")
    principal_id, first_token = api.principal_with_token("expiring", [{"workspaceId": "access-g", "role": "VIEWER"}])
    console.never_kept.append(first_token)
    console.sign_in(api.token)
    console.go("access-g", "access")
    page = console.page
    page.get_by_role("button", name="Tokens of expiring").click()
    day = (datetime.now(UTC) + timedelta(days=10)).date().isoformat()
    page.get_by_label("Token name").fill("for ten days")
    page.get_by_label("Expires (optional)").fill(day)
    page.get_by_role("button", name="Create token").click()
    dialog = page.get_by_role("dialog", name="Token created")
    expect(dialog).to_be_visible(timeout=WAIT_MS)
    console.never_kept.append(dialog.locator("code").inner_text())
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden(timeout=WAIT_MS)
    tokens = api("query ($p: ID!) { apiTokens(principalId: $p) { name expiresAt } }", {"p": principal_id})
    [expires_at] = [t["expiresAt"] for t in tokens["apiTokens"] if t["name"] == "for ten days"]
    # The end of the chosen day in the browser's time zone.
    local = page.evaluate(
        "(at) => { const d = new Date(at); return [d.toLocaleDateString('sv'), d.getHours()] }", expires_at
    )
    assert local == [day, 23]
    expect(page.get_by_role("row").filter(has_text="for ten days").locator("time")).to_have_count(2, timeout=WAIT_MS)
