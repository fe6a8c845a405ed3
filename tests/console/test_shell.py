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
