"""GraphiQL in a real browser: it works offline, and it keeps nothing.

Why: the static checks in test_graphiql.py cannot tell whether GraphiQL
actually starts from our own assets, runs queries and subscriptions with a
token typed into its headers editor, and leaves that token and the secret
values typed into it nowhere in the browser (localStorage, sessionStorage,
IndexedDB, cookies, the URL, the profile on disk). This drives headless
Chromium (tests/browser.py) through the page as a user would, against a real
`strongroom serve` on loopback; any request off loopback is aborted and fails
the test. Screenshots are kept under each test's tmp_path (paths printed).
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page, Response, WebSocket, expect, sync_playwright

from graphql_api.graphiql import (
    ASSET_ROUTE_PREFIX,
    ASSETS_DIR,
    FAVICON,
    PAGE_JS,
    assets_built,
    content_security_policy,
)
from tests.browser import BrowserWatch, launch, require_chromium
from tests.process import ServerProcess, clean_environ, graphql, start_healthy

REPO_ROOT = Path(__file__).resolve().parent.parent
BUILD_SCRIPT = REPO_ROOT / "graphiql" / "build.py"
WAIT_MS = 15_000
SUBSCRIPTION_DEADLINE_SECONDS = 20.0

QUERY_EDITOR = "section.graphiql-query-editor .CodeMirror"
# The variables and headers editors share one section; the shown one is not .hidden.
TOOL_EDITOR = "section.graphiql-editor-tool .graphiql-editor:not(.hidden) .CodeMirror"
RESPONSE = ".graphiql-response .CodeMirror"
EXECUTE = "button.graphiql-execute-button"
SECRET_NAME = "GRAPHIQL_BROWSER_SECRET"

CREATE_SECRET = """mutation CreateFromGraphiQL($value: String!) {
  createSecret(
    workspaceId: "default"
    input: {name: "GRAPHIQL_BROWSER_SECRET", secretType: GENERIC, value: $value}
  ) {
    name
    currentVersion
  }
}"""

SECRET_ID = """query ($name: String!) { secretByName(workspaceId: "default", name: $name) { id } }"""
READ_VALUE = """query ($id: ID!) { secretValue(workspaceId: "default", id: $id) { value } }"""

BROWSER_STATE = """async () => ({
  localStorage: Object.entries(localStorage),
  sessionStorage: Object.entries(sessionStorage),
  indexedDB: (await indexedDB.databases()).map((database) => database.name),
  cacheStorage: await caches.keys(),
  cookie: document.cookie,
  href: location.href,
})"""


def _require_built_assets() -> None:
    """Build GraphiQL's assets if needed; skip (fail when required) if that is impossible."""
    if assets_built():
        return
    result = subprocess.run(
        [sys.executable, str(BUILD_SCRIPT)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if result.returncode == 0 and assets_built():
        return
    last = (result.stderr.strip().splitlines() or ["no output"])[-1]
    reason = f"GraphiQL's assets are not built in {ASSETS_DIR} and `python graphiql/build.py` failed: {last}"
    if os.environ.get("STRONGROOM_REQUIRE_BROWSER") == "1":
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def token() -> str:
    return "sr_" + secrets.token_urlsafe(32)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, token: str) -> Iterator[ServerProcess]:
    require_chromium()
    _require_built_assets()
    cwd = tmp_path_factory.mktemp("graphiql-browser")
    env = clean_environ(STRONGROOM_DATA_DIR=str(cwd / "data"), STRONGROOM_BOOTSTRAP_TOKEN=token)
    started: list[ServerProcess] = []
    try:
        yield start_healthy(started, cwd, env, "serve.log")
    finally:
        for process in started:
            process.kill()


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[tuple[BrowserContext, BrowserWatch]]:
    with sync_playwright() as playwright:
        context, watch = launch(playwright, tmp_path / "profile")
        try:
            yield context, watch
        finally:
            context.close()


def _screenshot(page: Page, tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")
    return path


def _is_introspection(response: Response) -> bool:
    request = response.request
    return request.method == "POST" and "IntrospectionQuery" in (request.post_data or "")


def _open_graphiql(page: Page, server: ServerProcess) -> None:
    """Load the page and wait until GraphiQL has its schema (introspection needs no token)."""
    with page.expect_response(_is_introspection, timeout=WAIT_MS) as introspection:
        response = page.goto(f"{server.base_url}/graphql", wait_until="load")
    assert response is not None and response.status == 200
    assert introspection.value.status == 200
    expect(page.locator(QUERY_EDITOR)).to_be_visible(timeout=WAIT_MS)


def _replace_editor_text(page: Page, selector: str, text: str) -> None:
    """Click into a CodeMirror editor, select all and type `text` over it.

    insert_text types the whole string as one input (like a paste), so
    CodeMirror's bracket auto-closing and GraphiQL's autocompletion popups do
    not alter it.
    """
    editor = page.locator(selector)
    editor.click()
    page.keyboard.press("Control+A")
    page.keyboard.insert_text(text)
    first_line = text.splitlines()[0]
    expect(editor.locator(".CodeMirror-line").first).to_contain_text(first_line.strip(), timeout=WAIT_MS)


def _type_operation(page: Page, text: str, name: str) -> None:
    """Type an operation into the query editor and wait until GraphiQL has parsed it.

    GraphiQL parses the query 100 ms after the last change (debounced) and only
    then knows whether it is a subscription (to run over the websocket), so a
    run started sooner goes out as the previous operation's kind. Parsing also
    renames the active tab after the operation: that is what this waits for.
    """
    _replace_editor_text(page, QUERY_EDITOR, text)
    expect(page.locator(".graphiql-tab-active .graphiql-tab-button")).to_have_text(name, timeout=WAIT_MS)


def _show_tool(page: Page, name: str) -> None:
    page.locator(f".graphiql-editor-tools button[data-name={name}]").click()
    expect(page.locator("section.graphiql-editor-tool")).to_have_attribute(
        "aria-label", name.capitalize(), timeout=WAIT_MS
    )


def _run(page: Page) -> None:
    page.locator(EXECUTE).click()


def _wait_for_frame(socket: WebSocket, frames: list[str], event: str, needle: str) -> str:
    """The first frame of `socket` containing `needle`: already in `frames` (recorded
    by BrowserWatch; no event is delivered between that check and the wait), or the
    next `event` ("framesent"/"framereceived") that contains it."""
    for frame in frames:
        if needle in frame:
            return frame
    payload = socket.wait_for_event(event, predicate=lambda data: needle in _text(data), timeout=WAIT_MS)
    return _text(payload)


def _text(payload: str | bytes) -> str:
    return payload if isinstance(payload, str) else payload.decode("utf-8", errors="replace")


@pytest.mark.slow
def test_graphiql_runs_queries_and_subscriptions_and_keeps_nothing(
    server: ServerProcess, browser: tuple[BrowserContext, BrowserWatch], token: str, tmp_path: Path
) -> None:
    context, watch = browser
    secret_value = f"graphiql-secret-{uuid.uuid4()}"
    page = context.new_page()

    _open_graphiql(page, server)
    expect(page.locator(QUERY_EDITOR)).to_contain_text("Welcome to Strongroom")
    expect(page.locator(TOOL_EDITOR)).to_contain_text('"Authorization": "Bearer <token>"')
    _screenshot(page, tmp_path, "1-page-loaded")
    watch.assert_clean()

    # A second tab (tab titles show only with two): it starts with the default
    # query and headers too, and the token goes into its headers editor, which
    # the page opens by default.
    page.get_by_role("button", name="Add tab").click()
    expect(page.locator(".graphiql-tab")).to_have_count(2, timeout=WAIT_MS)
    expect(page.locator(TOOL_EDITOR)).to_contain_text('"Authorization": "Bearer <token>"')
    _replace_editor_text(page, TOOL_EDITOR, json.dumps({"Authorization": f"Bearer {token}"}))
    _type_operation(page, "query Viewer { viewer { name isSuperadmin } }", "Viewer")
    _run(page)
    expect(page.locator(RESPONSE)).to_contain_text('"name": "admin"', timeout=WAIT_MS)
    expect(page.locator(RESPONSE)).to_contain_text('"isSuperadmin": true')

    # A secret value typed into the variables editor, as someone would.
    _type_operation(page, CREATE_SECRET, "CreateFromGraphiQL")
    _show_tool(page, "variables")
    _replace_editor_text(page, TOOL_EDITOR, json.dumps({"value": secret_value}))
    _run(page)
    expect(page.locator(RESPONSE)).to_contain_text(f'"name": "{SECRET_NAME}"', timeout=WAIT_MS)
    _screenshot(page, tmp_path, "2-query-result")
    with server.client(token) as client:
        secret_id = graphql(client, SECRET_ID, {"name": SECRET_NAME})["secretByName"]["id"]
        assert graphql(client, READ_VALUE, {"id": secret_id})["secretValue"]["value"] == secret_value

    # A subscription over graphql-transport-ws, authenticated by the headers
    # editor's Authorization in connection_init; another client reads the
    # secret until the ACCESSED event shows in the result pane (the first read
    # may come before the server has registered the subscription).
    _type_operation(
        page,
        f'subscription WatchSecret {{ auditEvents(workspaceId: "default", secretId: "{secret_id}") '
        "{ action secretId success } }",
        "WatchSecret",
    )
    with page.expect_websocket(timeout=WAIT_MS) as opened:
        _run(page)
    socket = opened.value
    assert socket.url == f"ws://127.0.0.1:{server.port}/graphql"
    init = json.loads(_wait_for_frame(socket, watch.frames_sent, "framesent", '"connection_init"'))
    assert init["payload"] == {"Authorization": f"Bearer {token}"}
    _wait_for_frame(socket, watch.frames_received, "framereceived", '"connection_ack"')
    _wait_for_frame(socket, watch.frames_sent, "framesent", '"subscribe"')
    deadline = time.monotonic() + SUBSCRIPTION_DEADLINE_SECONDS
    with server.client(token) as client:
        while True:
            assert graphql(client, READ_VALUE, {"id": secret_id})["secretValue"]["value"] == secret_value
            try:
                expect(page.locator(RESPONSE)).to_contain_text('"action": "ACCESSED"', timeout=1_000)
                break
            except AssertionError:
                if time.monotonic() > deadline:
                    raise
    expect(page.locator(RESPONSE)).to_contain_text(f'"secretId": "{secret_id}"')
    _screenshot(page, tmp_path, "3-subscription-event")
    _run(page)  # the execute button stops a running subscription

    # The settings dialog offers no "persist headers" switch (there is nowhere
    # to persist), and its scroll lock's <style> passes the CSP (by hash).
    page.get_by_role("button", name="Open settings dialog").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("Clear storage", timeout=WAIT_MS)
    expect(dialog).not_to_contain_text("Persist headers")
    page.keyboard.press("Escape")
    expect(dialog).to_have_count(0, timeout=WAIT_MS)

    # The history panel lists this session's operations (GraphiQL stored them
    # in its in-page storage)...
    page.get_by_role("button", name="Show History").click()
    expect(page.locator(".graphiql-history-item").first).to_be_visible(timeout=WAIT_MS)

    # ...and nothing of the session is anywhere the browser keeps state.
    needles = (token, secret_value)
    state = page.evaluate(BROWSER_STATE)
    assert state == {
        "localStorage": [],
        "sessionStorage": [],
        "indexedDB": [],
        "cacheStorage": [],
        "cookie": "",
        "href": f"{server.base_url}/graphql",
    }
    assert context.cookies() == []
    assert page.url == f"{server.base_url}/graphql"

    # A reload starts afresh: one tab, default query and headers, empty
    # variables and history.
    page.reload(wait_until="load")
    expect(page.locator(QUERY_EDITOR)).to_contain_text("Welcome to Strongroom", timeout=WAIT_MS)
    expect(page.locator(".graphiql-tab")).to_have_count(0)
    expect(page.locator(TOOL_EDITOR)).to_contain_text('"Authorization": "Bearer <token>"')
    _show_tool(page, "variables")
    expect(page.locator(TOOL_EDITOR).locator(".CodeMirror-line")).to_have_count(1)
    expect(page.locator(TOOL_EDITOR).locator(".CodeMirror-line")).to_have_text("")
    page.get_by_role("button", name="Show History").click()
    expect(page.locator(".graphiql-history")).to_be_visible(timeout=WAIT_MS)
    expect(page.locator(".graphiql-history-item")).to_have_count(0)
    html = page.content()
    assert not [needle for needle in needles if needle in html]
    assert page.evaluate(BROWSER_STATE)["localStorage"] == []
    watch.assert_clean()

    # Nor did Chromium write either to its profile on disk.
    context.close()
    profile = tmp_path / "profile"
    leaked = [
        f"{path.relative_to(profile)} holds the {'token' if needle == token else 'secret value'}"
        for path in profile.rglob("*")
        if path.is_file()
        for needle in needles
        if needle.encode() in path.read_bytes()
    ]
    assert not leaked, leaked


def _csp(header: str) -> dict[str, list[str]]:
    directives: dict[str, list[str]] = {}
    for directive in header.split(";"):
        name, *values = directive.split()
        directives[name] = values
    return directives


@pytest.mark.slow
def test_graphiql_page_headers_and_favicon(server: ServerProcess, browser: tuple[BrowserContext, BrowserWatch]) -> None:
    context, watch = browser
    page = context.new_page()
    favicon_url = f"{server.base_url}{ASSET_ROUTE_PREFIX}/{FAVICON}"

    with page.expect_response(favicon_url, timeout=WAIT_MS) as favicon:
        response = page.goto(f"{server.base_url}/graphql", wait_until="load")
    assert response is not None and response.status == 200
    assert favicon.value.status == 200
    assert favicon.value.headers["content-type"].startswith("image/svg+xml")
    expect(page.locator(QUERY_EDITOR)).to_be_visible(timeout=WAIT_MS)

    headers = response.headers
    assert headers["cache-control"] == "no-store"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"
    host = f"127.0.0.1:{server.port}"
    assert headers["content-security-policy"] == content_security_policy(host)
    csp = _csp(headers["content-security-policy"])
    assert csp["default-src"] == ["'none'"]
    assert csp["script-src"] == ["'self'"]
    assert csp["style-src"][0] == "'self'"
    assert all(source.startswith("'sha256-") for source in csp["style-src"][1:])
    for directive in ("object-src", "base-uri", "frame-ancestors", "form-action"):
        assert csp[directive] == ["'none'"], directive
    assert csp["connect-src"] == ["'self'", f"ws://{host}", f"wss://{host}"]

    # Assets: cacheable but revalidated, never sniffed into another type.
    script = next(r for r in watch.responses if r.url.endswith(f"{ASSET_ROUTE_PREFIX}/{PAGE_JS}"))
    assert script.status == 200
    assert script.headers["cache-control"] == "no-cache"
    assert script.headers["x-content-type-options"] == "nosniff"
    assert "javascript" in script.headers["content-type"]

    watch.assert_clean()

    # The policy is enforced: an inline script injected now does not run.
    with page.expect_console_message(lambda m: "Content Security Policy" in m.text, timeout=WAIT_MS):
        page.evaluate(
            """() => {
              const script = document.createElement("script");
              script.textContent = "window.inlineScriptRan = true";
              document.body.appendChild(script);
            }"""
        )
    assert page.evaluate("() => window.inlineScriptRan === true") is False
