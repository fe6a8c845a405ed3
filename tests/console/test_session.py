"""Session safety of the console's shell: refused, expired and revoked tokens,
FORBIDDEN, signing out, and where a token must never end up."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

from playwright.sync_api import expect

from tests.console.conftest import WAIT_MS, Api, Console

VIEWER_QUERY = "{ viewer { id } }"


def refused(api: Api, token: str) -> bool:
    return [e["extensions"]["code"] for e in api.raw(VIEWER_QUERY, token=token).get("errors") or []] == [
        "UNAUTHENTICATED"
    ]


def try_sign_in(console: Console, token: str) -> None:
    """Paste `token` into the sign-in form and submit it (whatever the answer)."""
    console.never_kept.append(token)
    console.open()
    console.page.get_by_label("API token").fill(token)
    console.page.get_by_role("button", name="Sign in").click()


def expect_sign_in_refused(console: Console, message: str) -> None:
    page = console.page
    expect(page.get_by_role("alert")).to_contain_text(message, timeout=WAIT_MS)
    expect(page.get_by_role("button", name="Sign in")).to_be_enabled()
    expect(page.get_by_role("button", name="Sign out")).to_have_count(0)
    expect(page.get_by_label("API token")).to_have_value("")


def expect_session_ended(console: Console, reason: str) -> None:
    page = console.page
    ended = page.get_by_role("alert").filter(has=page.get_by_role("heading", name="Your session has ended"))
    expect(ended).to_be_visible(timeout=WAIT_MS)
    expect(ended.locator(".server-message")).to_have_text(reason)
    expect(page.get_by_label("API token")).to_be_visible()
    expect(page.get_by_role("button", name="Sign out")).to_have_count(0)


def test_a_bad_token_is_refused_on_the_sign_in_form(console: Console, api: Api) -> None:
    try_sign_in(console, "sr_not-a-token-this-server-issued")
    expect_sign_in_refused(console, "invalid token")
    console.check_accessibility("the sign-in form with an error")


def test_a_10_kb_pasted_token_gets_a_clear_error(console: Console, api: Api) -> None:
    try_sign_in(console, "sr_" + "x" * 10_240)
    expect_sign_in_refused(console, "the Authorization header is too long to hold a token")


def test_a_token_with_characters_no_token_has_gets_a_clear_error(console: Console, api: Api) -> None:
    # A smart quote picked up with the copied token.
    try_sign_in(console, "sr_abc\u201d")
    expect_sign_in_refused(console, "not an API token")


def test_an_expired_token_ends_the_session_with_the_servers_reason(console: Console, api: Api) -> None:
    workspace = api.workspace("session-expiry")
    principal_id, _ = api.principal_with_token("short-lived", [{"workspaceId": workspace, "role": "ADMIN"}])
    expires_at = datetime.now(UTC) + timedelta(seconds=3)
    token = api(
        'mutation ($p: ID!, $e: DateTime) { createApiToken(principalId: $p, name: "brief", expiresAt: $e) { token } }',
        {"p": principal_id, "e": expires_at.isoformat()},
    )["createApiToken"]["token"]
    console.sign_in(token)
    console.go(workspace, "access")
    expect(console.page.get_by_role("heading", name="Principals")).to_be_visible(timeout=WAIT_MS)
    deadline = time.monotonic() + WAIT_MS / 1000
    while not refused(api, token):  # the server's clock decides, not the test's
        assert time.monotonic() < deadline, "the token did not expire"
        time.sleep(0.2)
    console.page.get_by_role("button", name="Tokens of short-lived").click()
    expect_session_ended(console, "this token has expired")
    assert token not in json.dumps(console.browser_state())


def test_a_revoked_token_ends_the_session_at_the_next_request(console: Console, api: Api) -> None:
    workspace = api.workspace("session-revoked")
    principal_id, token = api.principal_with_token("revoked-soon", [{"workspaceId": workspace, "role": "ADMIN"}])
    console.sign_in(token)
    console.go(workspace, "access")
    page = console.page
    expect(page.get_by_role("button", name="Tokens of revoked-soon")).to_be_visible(timeout=WAIT_MS)
    [token_id] = [
        t["id"] for t in api("query ($p: ID!) { apiTokens(principalId: $p) { id } }", {"p": principal_id})["apiTokens"]
    ]
    api("mutation ($id: ID!) { revokeApiToken(id: $id) { id } }", {"id": token_id})
    page.get_by_role("button", name="Tokens of revoked-soon").click()
    expect_session_ended(console, "this token was revoked")
    console.screenshot("session-ended")
    console.check_accessibility("the session-ended screen")
    # Signing in again with the same token is refused on the form.
    page.get_by_label("API token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator(".sign-in-form").get_by_role("alert")).to_contain_text(
        "this token was revoked", timeout=WAIT_MS
    )


def test_a_token_revoked_while_the_live_audit_socket_is_open_ends_the_session_unprompted(
    console: Console, api: Api
) -> None:
    """The server ends the socket's subscription (and closes the socket with
    4403) when the token is revoked: the console must sign out on that push
    alone, with no click that would send an HTTP request."""
    workspace = api.workspace("session-live-revoked")
    principal_id, token = api.principal_with_token("live-revoked", [{"workspaceId": workspace, "role": "AUDITOR"}])
    console.sign_in(token)
    console.go(workspace, "audit")
    page = console.page
    expect(page.get_by_text("Live: connected")).to_be_visible(timeout=WAIT_MS)
    # The subscription is live on the server once an event reaches the table.
    secret_id = api.secret(workspace, "LIVE_REVOKED", "v")
    api(
        "query ($w: ID!, $id: ID!) { secretValue(workspaceId: $w, id: $id) { version } }",
        {"w": workspace, "id": secret_id},
    )
    expect(page.get_by_role("cell", name="ACCESSED").first).to_be_visible(timeout=WAIT_MS)
    requests_before = len(console.watch.responses)
    [token_id] = [
        t["id"] for t in api("query ($p: ID!) { apiTokens(principalId: $p) { id } }", {"p": principal_id})["apiTokens"]
    ]
    api("mutation ($id: ID!) { revokeApiToken(id: $id) { id } }", {"id": token_id})
    ended = page.get_by_role("alert").filter(has=page.get_by_role("heading", name="Your session has ended"))
    expect(ended).to_be_visible(timeout=WAIT_MS)
    expect(ended.locator(".server-message")).to_contain_text("revoked")
    assert len(console.watch.responses) == requests_before, "the console learnt of the revocation by asking"
    expect(page.get_by_role("button", name="Sign out")).to_have_count(0)


def test_a_viewer_sees_the_forbidden_explanation_and_only_its_workspaces(console: Console, api: Api) -> None:
    mine = api.workspace("session-mine")
    api.workspace("session-not-mine")
    _, token = api.principal_with_token("looker", [{"workspaceId": mine, "role": "VIEWER"}])
    console.sign_in(token)
    page = console.page
    switcher = page.get_by_label("Workspace", exact=True)
    expect(switcher.locator("option:not([disabled])")).to_have_text([mine])
    console.go(mine, "access")
    expect(page.get_by_role("heading", name="Not allowed")).to_be_visible(timeout=WAIT_MS)
    expect(page.get_by_text("Your role here: VIEWER")).to_be_visible()
    console.check_accessibility("the access screen for a VIEWER")
    # A workspace it is not bound to is not offered, even by typing its route.
    console.go("session-not-mine", "access")
    expect(page.get_by_role("heading", name="Choose a workspace")).to_be_visible(timeout=WAIT_MS)
    expect(page.get_by_role("link", name="session-not-mine")).to_have_count(0)


def test_a_role_removed_behind_the_consoles_back_gets_the_servers_forbidden(console: Console, api: Api) -> None:
    workspace = api.workspace("session-demoted")
    principal_id, token = api.principal_with_token("demoted", [{"workspaceId": workspace, "role": "ADMIN"}])
    console.sign_in(token)
    console.go(workspace, "access")
    page = console.page
    expect(page.get_by_role("heading", name="Principals")).to_be_visible(timeout=WAIT_MS)
    api(
        "mutation ($p: ID!, $w: ID!) { grantRole(principalId: $p, workspaceId: $w, role: VIEWER) { id } }",
        {"p": principal_id, "w": workspace},
    )
    page.get_by_label("Name", exact=True).fill("late")
    page.get_by_role("button", name="Create principal").click()
    forbidden = page.locator(".notice-forbidden")
    expect(forbidden.get_by_role("heading", name="Not allowed")).to_be_visible(timeout=WAIT_MS)
    expect(forbidden).to_contain_text("Ask an ADMIN")
    assert "late" not in json.dumps(api("{ principals { name } }"))


def test_sign_out_forgets_the_token_and_back_does_not_bring_it_back(console: Console, api: Api) -> None:
    workspace = api.workspace("session-sign-out")
    console.sign_in(api.token)
    console.go(workspace, "access")
    page = console.page
    expect(page.get_by_role("heading", name="Principals")).to_be_visible(timeout=WAIT_MS)
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_label("API token")).to_be_visible(timeout=WAIT_MS)
    expect(page.get_by_role("status")).to_contain_text("Signed out")
    assert api.token not in json.dumps(console.browser_state())
    page.go_back()
    expect(page.get_by_label("API token")).to_be_visible(timeout=WAIT_MS)
    expect(page.get_by_role("button", name="Sign out")).to_have_count(0)
    page.go_forward()
    expect(page.get_by_label("API token")).to_be_visible(timeout=WAIT_MS)
    expect(page.get_by_role("button", name="Sign out")).to_have_count(0)
    page.reload()
    expect(page.get_by_label("API token")).to_be_visible(timeout=WAIT_MS)
    expect(page.get_by_role("button", name="Sign out")).to_have_count(0)


def test_the_token_travels_only_in_the_authorization_header(console: Console, api: Api) -> None:
    workspace = api.workspace("session-travel")
    console.sign_in(api.token)
    console.go(workspace, "access")
    page = console.page
    expect(page.get_by_role("heading", name="Principals")).to_be_visible(timeout=WAIT_MS)
    state = console.browser_state()
    assert api.token not in json.dumps(state)
    assert state["cookie"] == ""
    requests = [response.request for response in console.watch.responses]
    assert requests, "no request was watched"
    graphql = [r for r in requests if r.url.endswith("/graphql")]
    assert graphql and all(r.headers.get("authorization") == f"Bearer {api.token}" for r in graphql)
    assert all(api.token not in r.url and api.token not in (r.post_data or "") for r in requests)
    assert all(api.token not in socket.url for socket in console.watch.websockets)
