"""The console's shell: sign in, workspace switcher, sign out, ended sessions."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.console.conftest import WAIT_MS, Api, Console


def test_sign_in_switch_workspace_and_sign_out(console: Console, api: Api) -> None:
    api.workspace("shell-a")
    console.sign_in(api.token)
    page = console.page
    switcher = page.get_by_label("Workspace", exact=True)
    switcher.select_option("shell-a")
    expect(page.get_by_role("heading", level=1)).to_be_visible(timeout=WAIT_MS)
    console.screenshot("shell")
    console.check_accessibility("the shell")
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_label("API token")).to_be_visible(timeout=WAIT_MS)
    expect(page.get_by_text("Signed out")).to_be_visible()


def test_the_console_works_from_the_keyboard_alone(console: Console, api: Api) -> None:
    """Sign in, pick a workspace, open a secret and reveal it without a mouse."""
    workspace = api.workspace("shell-keyboard")
    api.secret(workspace, "KEYBOARD_SECRET", "typed-by-keys")
    console.never_kept += [api.token, "typed-by-keys"]
    console.open()
    page = console.page
    expect(page.get_by_label("API token")).to_be_visible(timeout=WAIT_MS)
    page.keyboard.press("Tab")
    expect(page.get_by_label("API token")).to_be_focused()
    page.keyboard.type(api.token)
    page.keyboard.press("Enter")
    expect(page.get_by_role("button", name="Sign out")).to_be_visible(timeout=WAIT_MS)

    page.get_by_label("Workspace", exact=True).focus()
    page.get_by_label("Workspace", exact=True).select_option(workspace)
    link = page.get_by_role("link", name="KEYBOARD_SECRET")
    expect(link).to_be_visible(timeout=WAIT_MS)
    for _ in range(40):  # Tab forward until the secret's link has focus
        page.keyboard.press("Tab")
        if link.evaluate("element => element === document.activeElement"):
            break
    expect(link).to_be_focused()
    page.keyboard.press("Enter")
    reveal = page.get_by_role("button", name="Reveal value", exact=True)
    expect(reveal).to_be_visible(timeout=WAIT_MS)
    reveal.focus()
    page.keyboard.press("Enter")
    expect(page.get_by_label("Value of KEYBOARD_SECRET", exact=True)).to_have_text("typed-by-keys", timeout=WAIT_MS)
