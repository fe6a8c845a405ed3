"""One secret's page: opening it reads no value, revealing reads exactly one,
values are masked again and copied without being shown, and the lifecycle
actions (new value, rotate, roll back, delete, restore, destroy) by role."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.console.conftest import WAIT_MS, Api, Console

VALUE = "detail-secret-value-7f3a"


def _accessed(api: Api, workspace: str) -> list[dict[str, object]]:
    return api.audit(workspace, "ACCESSED")


def _value_requests(console: Console) -> list[str]:
    return [r.request.post_data or "" for r in console.watch.responses if "secretValue" in (r.request.post_data or "")]


def test_opening_reads_no_value_and_reveal_reads_exactly_one(console: Console, api: Api) -> None:
    workspace = api.workspace("detail-reveal")
    secret_id = api.secret(workspace, "DETAIL_TOKEN", VALUE, usage="billing webhook", tags=["prod"])
    console.never_kept.append(VALUE)
    console.page.clock.install()
    console.sign_in(api.token)
    console.go(workspace, "secret", secret_id)
    page = console.page
    expect(page.get_by_role("heading", name="DETAIL_TOKEN", level=1)).to_be_visible(timeout=WAIT_MS)
    expect(page.get_by_text("billing webhook")).to_be_visible()
    assert _accessed(api, workspace) == [] and _value_requests(console) == []
    assert VALUE not in page.content()
    console.screenshot("secret-detail")
    console.check_accessibility("the secret page")

    page.get_by_role("button", name="Reveal value", exact=True).click()
    expect(page.get_by_label("Value of DETAIL_TOKEN", exact=True)).to_have_text(VALUE, timeout=WAIT_MS)
    accessed = _accessed(api, workspace)
    assert len(accessed) == 1 and accessed[0]["secretId"] == secret_id and accessed[0]["success"] is True
    assert VALUE not in str(accessed[0]["details"])

    # Masked again after REVEAL_SECONDS, without a reload.
    page.clock.run_for(31_000)
    expect(page.get_by_label("Value of DETAIL_TOKEN", exact=True)).to_have_count(0, timeout=WAIT_MS)
    assert VALUE not in page.content()
    assert len(_accessed(api, workspace)) == 1


def test_copy_puts_the_value_on_the_clipboard_without_showing_it(console: Console, api: Api) -> None:
    workspace = api.workspace("detail-copy")
    secret_id = api.secret(workspace, "COPIED", VALUE)
    console.never_kept.append(VALUE)
    console.sign_in(api.token)
    console.go(workspace, "secret", secret_id)
    page = console.page
    page.get_by_role("button", name="Copy value of COPIED").click()
    expect(page.get_by_role("button", name="Copy value of COPIED")).to_have_text("Copiedcopied to the clipboard")
    assert page.evaluate("navigator.clipboard.readText()") == VALUE
    assert VALUE not in page.content()
    assert len(_accessed(api, workspace)) == 1


def test_new_value_rotate_roll_back_delete_restore(console: Console, api: Api) -> None:
    workspace = api.workspace("detail-lifecycle")
    secret_id = api.secret(workspace, "LIFECYCLE", "first", secretType="PASSWORD")
    console.sign_in(api.token)
    console.go(workspace, "secret", secret_id)
    page = console.page
    versions = page.get_by_role("table", name="Versions")
    expect(versions.get_by_role("row")).to_have_count(2, timeout=WAIT_MS)

    page.get_by_role("button", name="New value").click()
    page.get_by_role("textbox", name="New value").fill("second")
    console.check_accessibility("the new-value dialog")
    page.get_by_role("button", name="Store as version 2").click()
    expect(versions.get_by_role("row")).to_have_count(3, timeout=WAIT_MS)
    page.get_by_role("button", name="Rotate").click()
    expect(versions.get_by_role("row")).to_have_count(4, timeout=WAIT_MS)
    current = api(
        "query ($w: ID!, $id: ID!) { secret(workspaceId: $w, id: $id) { currentVersion } }",
        {"w": workspace, "id": secret_id},
    )
    assert current["secret"]["currentVersion"] == 3

    page.get_by_role("button", name="Roll back to version 1").click()
    expect(page.get_by_text("current")).to_have_count(1)
    value = api(
        "query ($w: ID!, $id: ID!) { secretValue(workspaceId: $w, id: $id) { value } }",
        {"w": workspace, "id": secret_id},
    )
    assert value["secretValue"]["value"] == "first"

    # A type no generator serves: Rotate explains what to do instead.
    other_id = api.secret(workspace, "HANDMADE", "x")
    console.go(workspace, "secret", other_id)
    page.get_by_role("button", name="Rotate").click()
    expect(page.get_by_role("alert")).to_contain_text("BAD_USER_INPUT", timeout=WAIT_MS)
    console.go(workspace, "secret", secret_id)

    page.get_by_role("button", name="Delete").click()
    expect(page.get_by_role("button", name="Restore")).to_be_visible(timeout=WAIT_MS)
    page.get_by_role("button", name="Restore").click()
    expect(page.get_by_role("button", name="Delete")).to_be_visible(timeout=WAIT_MS)
    # Versions 1 ("first") and 4 (rolled back to it) hold the same value; 2 does not.
    compare = page.get_by_role("form", name="Compare two versions")
    compare.get_by_label("First version").select_option("1")
    compare.get_by_label("Second version").select_option("4")
    compare.get_by_role("button", name="Compare").click()
    expect(compare.get_by_role("status")).to_have_text("Versions 1 and 4 hold the same value.", timeout=WAIT_MS)
    compare.get_by_label("Second version").select_option("2")
    compare.get_by_role("button", name="Compare").click()
    expect(compare.get_by_role("status")).to_have_text("Versions 1 and 2 hold different values.", timeout=WAIT_MS)
    assert "first" not in page.content() and "second" not in page.locator("table").inner_text()
    compared = api.audit(workspace, "COMPARED")
    assert [event["details"]["versions"] for event in compared] == [[1, 2], [1, 4]]  # type: ignore[index]
    console.screenshot("secret-versions")
    console.check_accessibility("the versions with a comparison")


def test_destroy_needs_the_typed_name_and_admin(console: Console, api: Api) -> None:
    workspace = api.workspace("detail-destroy")
    secret_id = api.secret(workspace, "DOOMED", "v")
    console.sign_in(api.token)
    console.go(workspace, "secret", secret_id)
    page = console.page
    page.get_by_role("button", name="Destroy…").click()
    dialog = page.get_by_role("dialog", name="Destroy DOOMED")
    console.check_accessibility("the destroy dialog")
    dialog.get_by_label("Name to confirm").fill("DOOME")
    dialog.get_by_role("button", name="Destroy").click()
    exists = "query ($w: ID!, $id: ID!) { secret(workspaceId: $w, id: $id) { id } }"
    assert api(exists, {"w": workspace, "id": secret_id})["secret"] is not None
    dialog.get_by_label("Name to confirm").fill("DOOMED")
    dialog.get_by_role("button", name="Destroy").click()
    expect(page.get_by_role("heading", name="Secrets", level=1)).to_be_visible(timeout=WAIT_MS)
    assert api(exists, {"w": workspace, "id": secret_id})["secret"] is None


def test_a_writer_cannot_destroy_and_a_viewer_cannot_reveal(console: Console, api: Api) -> None:
    workspace = api.workspace("detail-roles")
    secret_id = api.secret(workspace, "GUARDED", VALUE)
    _, writer = api.principal_with_token("detail-writer", [{"workspaceId": workspace, "role": "WRITER"}])
    _, viewer = api.principal_with_token("detail-viewer", [{"workspaceId": workspace, "role": "VIEWER"}])
    page = console.page
    console.sign_in(writer)
    console.go(workspace, "secret", secret_id)
    expect(page.get_by_role("button", name="Reveal value", exact=True)).to_be_visible(timeout=WAIT_MS)
    expect(page.get_by_role("button", name="Destroy…")).to_have_count(0)
    page.get_by_role("button", name="Sign out").click()
    console.sign_in(viewer)
    console.go(workspace, "secret", secret_id)
    expect(page.get_by_role("heading", name="GUARDED", level=1)).to_be_visible(timeout=WAIT_MS)
    expect(page.get_by_role("button", name="Reveal value", exact=True)).to_have_count(0)
    expect(page.get_by_role("button", name="Rotate")).to_have_count(0)


def test_hostile_metadata_renders_as_text_on_the_secret_page(console: Console, api: Api) -> None:
    workspace = api.workspace("detail-hostile")
    payload = '<img src=x onerror="window.__pwned=1">'
    secret_id = api.secret(
        workspace,
        "HOSTILE",
        "v",
        usage=payload,
        tags=["</dd><script>window.__pwned=1</script>"],
        metadata={"x": payload},
    )
    dialogs: list[str] = []
    console.page.on("dialog", lambda dialog: dialogs.append(dialog.message))
    console.sign_in(api.token)
    console.go(workspace, "secret", secret_id)
    page = console.page
    expect(page.get_by_text(payload, exact=True)).to_be_visible(timeout=WAIT_MS)
    expect(page.get_by_text("</dd><script>window.__pwned=1</script>", exact=True)).to_be_visible()
    assert page.locator("img[src=x]").count() == 0 and page.locator("main script").count() == 0
    assert page.evaluate("window.__pwned") is None and dialogs == []
