"""Headless Chromium for tests, through Playwright, confined to loopback.

The browser is Debian's /usr/bin/chromium (CI installs it), never one that
`playwright install` downloads. Tests that need it call `require_chromium()`:
without it they skip, unless STRONGROOM_REQUIRE_BROWSER=1 (CI), where they
fail. `launch()` starts it on a fresh profile with `BrowserWatch` attached:
every request that is not to 127.0.0.1 is aborted and recorded, and so are
failed requests, error responses, console errors and uncaught exceptions, so
a test can assert that a page did nothing unexpected.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import (
    BrowserContext,
    ConsoleMessage,
    Page,
    Playwright,
    Request,
    Response,
    Route,
    WebSocket,
)

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
LOOPBACK = "127.0.0.1"
# Schemes that never reach the network (GraphiQL's CSS embeds fonts as data:).
LOCAL_SCHEMES = frozenset({"data", "blob", "about"})


def require_chromium() -> None:
    """Skip the calling test without /usr/bin/chromium, or fail if it is required."""
    if CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK):
        return
    reason = f"{CHROMIUM} is not installed (apt-get install chromium) to run browser tests"
    if os.environ.get("STRONGROOM_REQUIRE_BROWSER") == "1":
        pytest.fail(f"STRONGROOM_REQUIRE_BROWSER=1 but {reason}", pytrace=False)
    pytest.skip(reason)


@dataclass
class BrowserWatch:
    """What the pages of one browser context did that a test may object to."""

    off_loopback: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    error_responses: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    websockets: list[WebSocket] = field(default_factory=list)
    frames_sent: list[str] = field(default_factory=list)
    frames_received: list[str] = field(default_factory=list)
    responses: list[Response] = field(default_factory=list)

    def problems(self) -> list[str]:
        """Everything recorded that should not have happened, one line each."""
        return [
            *(f"request off loopback (aborted): {url}" for url in self.off_loopback),
            *(f"request failed: {line}" for line in self.failed_requests),
            *(f"error response: {line}" for line in self.error_responses),
            *(f"console error: {text}" for text in self.console_errors),
            *(f"uncaught exception: {text}" for text in self.page_errors),
            *(f"websocket off loopback: {ws.url}" for ws in self.websockets if not _is_loopback(ws.url)),
        ]

    def assert_clean(self) -> None:
        problems = self.problems()
        assert not problems, "the browser saw:\n" + "\n".join(problems)

    def watch(self, page: Page) -> None:
        page.on("requestfailed", self._on_request_failed)
        page.on("response", self._on_response)
        page.on("console", self._on_console)
        page.on("pageerror", lambda error: self.page_errors.append(str(error)))
        page.on("websocket", self._on_websocket)

    def _on_request_failed(self, request: Request) -> None:
        self.failed_requests.append(f"{request.method} {request.url}: {request.failure}")

    def _on_response(self, response: Response) -> None:
        self.responses.append(response)
        if response.status >= 400:
            self.error_responses.append(f"{response.status} {response.request.method} {response.url}")

    def _on_websocket(self, websocket: WebSocket) -> None:
        self.websockets.append(websocket)
        websocket.on("framesent", lambda payload: self.frames_sent.append(_text(payload)))
        websocket.on("framereceived", lambda payload: self.frames_received.append(_text(payload)))

    def _on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.console_errors.append(f"{message.text} ({message.location})")

    def _route(self, route: Route) -> None:
        url = route.request.url
        if _is_loopback(url):
            route.continue_()
        else:
            self.off_loopback.append(url)
            route.abort("blockedbyclient")


def _text(payload: str | bytes) -> str:
    return payload if isinstance(payload, str) else payload.decode("utf-8", errors="replace")


def _is_loopback(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in LOCAL_SCHEMES or parts.hostname == LOOPBACK


def launch(playwright: Playwright, profile_dir: Path) -> tuple[BrowserContext, BrowserWatch]:
    """Chromium on a fresh profile in `profile_dir`, every page of it watched."""
    require_chromium()
    assert not profile_dir.exists() or not any(profile_dir.iterdir()), f"{profile_dir} is not a fresh profile"
    context = playwright.chromium.launch_persistent_context(
        str(profile_dir),
        executable_path=str(CHROMIUM),
        headless=True,
        args=list(CHROMIUM_ARGS),
        service_workers="block",
    )
    watch = BrowserWatch()
    context.route("**/*", watch._route)
    for page in context.pages:
        watch.watch(page)
    context.on("page", watch.watch)
    return context, watch
