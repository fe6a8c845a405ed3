"""Fixtures of the console's browser tests: a real server, a watched browser, a signed-in page.

Every test drives Debian's Chromium (tests/browser.py) against a real
`strongroom serve` on loopback that serves the console's production build.
The `console` fixture fails its test if the page made any request off
loopback, any request failed, a response was an error the test did not
expect, the console logged an error or the CSP refused anything; it also
checks, after the test, that neither the token nor any value the test
revealed is in the browser's storage or the URL.
Screenshots go to console-screenshots/ at the repository root (kept by CI as
the run's record; the README shows two of them).
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import BrowserContext, Page, expect, sync_playwright

from graphql_api.console import CONSOLE_DIR, console_built
from tests.browser import BrowserWatch, launch, require_chromium
from tests.process import ServerProcess, clean_environ, start_healthy

REPO_ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO_ROOT / "console-screenshots"
AXE_SOURCE = REPO_ROOT / "console" / "node_modules" / "axe-core" / "axe.min.js"
WAIT_MS = 15_000

BROWSER_STATE = """async () => ({
  localStorage: Object.entries(localStorage),
  sessionStorage: Object.entries(sessionStorage),
  indexedDB: (await indexedDB.databases()).map((database) => database.name),
  cacheStorage: await caches.keys(),
  cookie: document.cookie,
  href: location.href,
})"""


def _require_console_built() -> None:
    if console_built():
        return
    result = subprocess.run(
        ["make", "console"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=900, check=False
    )
    if result.returncode == 0 and console_built():
        return
    reason = f"the console is not built in {CONSOLE_DIR} and `make console` failed: {result.stderr.strip()[-500:]}"
    if os.environ.get("STRONGROOM_REQUIRE_BROWSER") == "1":
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


@dataclass
class Api:
    """GraphQL over HTTP against the test server, as some token (for set-up and for checks)."""

    server: ServerProcess
    token: str

    def __call__(
        self, query: str, variables: dict[str, Any] | None = None, *, token: str | None = None
    ) -> dict[str, Any]:
        body = self.raw(query, variables, token=token)
        assert not body.get("errors"), body["errors"]
        data: dict[str, Any] = body["data"]
        return data

    def raw(self, query: str, variables: dict[str, Any] | None = None, *, token: str | None = None) -> dict[str, Any]:
        response = httpx.post(
            f"{self.server.base_url}/graphql",
            json={"query": query, "variables": variables or {}},
            headers={"authorization": f"Bearer {token or self.token}"},
            timeout=20.0,
        )
        assert response.status_code in (200, 400), response.text
        result: dict[str, Any] = response.json()
        return result

    def principal_with_token(
        self, name: str, bindings: list[dict[str, str]], superadmin: bool = False
    ) -> tuple[str, str]:
        """A new principal with these bindings and a token of its own: (principal id, token)."""
        created = self(
            "mutation ($n: String!, $b: [RoleBindingInput!]!, $s: Boolean) "
            "{ createPrincipal(name: $n, bindings: $b, superadmin: $s) { id } }",
            {"n": name, "b": bindings, "s": superadmin},
        )
        principal_id = created["createPrincipal"]["id"]
        token = self(
            'mutation ($p: ID!) { createApiToken(principalId: $p, name: "console test") { token } }',
            {"p": principal_id},
        )["createApiToken"]["token"]
        return principal_id, token

    def workspace(self, workspace_id: str) -> str:
        self("mutation ($id: ID!) { createWorkspace(id: $id) { id } }", {"id": workspace_id})
        return workspace_id

    def secret(self, workspace_id: str, name: str, value: str, **input_fields: Any) -> str:
        data = self(
            "mutation ($w: ID!, $i: CreateSecretInput!) { createSecret(workspaceId: $w, input: $i) { id } }",
            {"w": workspace_id, "i": {"name": name, "value": value, "secretType": "GENERIC", **input_fields}},
        )
        secret_id: str = data["createSecret"]["id"]
        return secret_id

    def audit(self, workspace_id: str, action: str | None = None) -> list[dict[str, Any]]:
        """The workspace's audit events, newest first (up to 500)."""
        data = self(
            "query ($w: ID!, $a: AuditAction) { workspaceAudit(workspaceId: $w, first: 500, action: $a) "
            "{ edges { node { action secretId userId success details } } } }",
            {"w": workspace_id, "a": action},
        )
        return [edge["node"] for edge in data["workspaceAudit"]["edges"]]


@pytest.fixture(scope="module")
def superadmin_token() -> str:
    return "sr_" + secrets.token_urlsafe(32)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, superadmin_token: str) -> Iterator[ServerProcess]:
    """A server of this test module's own (its own SQLite database), serving the built console."""
    require_chromium()
    _require_console_built()
    cwd = tmp_path_factory.mktemp("console")
    env = clean_environ(STRONGROOM_DATA_DIR=str(cwd / "data"), STRONGROOM_BOOTSTRAP_TOKEN=superadmin_token)
    started: list[ServerProcess] = []
    try:
        yield start_healthy(started, cwd, env, "serve.log")
    finally:
        for process in started:
            process.kill()


@pytest.fixture(scope="module")
def api(server: ServerProcess, superadmin_token: str) -> Api:
    return Api(server, superadmin_token)


@dataclass
class Console:
    """One browser page on the console, watched, with what it must never keep."""

    page: Page
    context: BrowserContext
    watch: BrowserWatch
    server: ServerProcess
    test_name: str
    #: Strings that must never be found in the browser's storage or URL
    #: (tokens typed, values revealed); the fixture checks at teardown.
    never_kept: list[str] = field(default_factory=list)
    #: Error responses the test provoked on purpose (e.g. a 4xx for a revoked token).
    expected_errors: list[str] = field(default_factory=list)

    def open(self, route: str = "") -> None:
        response = self.page.goto(f"{self.server.base_url}/console/{route}", wait_until="load")
        assert response is not None and response.status == 200

    def sign_in(self, token: str) -> None:
        """Open the console and sign in with `token` (remembered as never to be kept)."""
        self.never_kept.append(token)
        self.open()
        self.page.get_by_label("API token").fill(token)
        self.page.get_by_role("button", name="Sign in").click()
        expect(self.page.get_by_role("button", name="Sign out")).to_be_visible(timeout=WAIT_MS)

    def go(self, workspace_id: str, screen: str, secret_id: str | None = None) -> None:
        """Navigate inside the signed-in app (hash route, no reload)."""
        parts = ["w", workspace_id, screen, *([secret_id] if secret_id else [])]
        self.page.evaluate("(hash) => { location.hash = hash }", "#/" + "/".join(parts))

    def screenshot(self, name: str) -> Path:
        SCREENSHOTS.mkdir(exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        print(f"screenshot: {path}")
        return path

    def check_accessibility(self, what: str) -> None:
        """axe-core on the page as it is now: no violation of WCAG 2 A/AA rules."""
        assert AXE_SOURCE.is_file(), f"{AXE_SOURCE} is missing: run `make console`"
        # Runtime evaluation is not subject to the page's CSP (an injected
        # <script> would be, and must be refused).
        self.page.evaluate(AXE_SOURCE.read_text(encoding="utf-8") + "\n;0")
        result = self.page.evaluate(
            "async () => (await axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}}))"
            ".violations.map(v => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 5)}))"
        )
        assert result == [], f"axe-core violations on {what}:\n" + json.dumps(result, indent=2)

    def browser_state(self) -> dict[str, Any]:
        state: dict[str, Any] = self.page.evaluate(BROWSER_STATE)
        return state

    def assert_nothing_kept(self) -> None:
        state = json.dumps(self.browser_state())
        for needle in self.never_kept:
            assert needle not in state, "the browser kept a token or value in its storage or URL"


@pytest.fixture
def console(server: ServerProcess, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Console]:
    with sync_playwright() as playwright:
        context, watch = launch(playwright, tmp_path / "profile")
        context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.base_url)
        page = context.new_page()
        csp_violations: list[str] = []
        page.on(
            "console",
            lambda message: csp_violations.append(message.text) if "Content Security Policy" in message.text else None,
        )
        handle = Console(page, context, watch, server, request.node.name)
        try:
            yield handle
            if not page.is_closed():
                handle.assert_nothing_kept()
            assert not csp_violations, f"CSP violations: {csp_violations}"
            # urql cancels a query whose screen went away or whose variables
            # changed (fetch aborted by the page itself): not a failure.
            cancelled = f"{server.base_url}/graphql: net::ERR_ABORTED"
            unexpected = [
                line
                for line in watch.problems()
                if not any(e in line for e in handle.expected_errors) and not line.endswith(cancelled)
            ]
            assert not unexpected, "the browser saw:\n" + "\n".join(unexpected)
        finally:
            context.close()


Waiter = Callable[[Callable[[], bool], str], None]
