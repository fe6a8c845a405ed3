"""The web console (console/, a TypeScript single-page app), served at /console.

`make run` and `make test` build it with Vite into CONSOLE_DIR; this module
serves its index page under a strict Content-Security-Policy and its hashed
assets under /console/assets. The page holds no secret itself but it is
where people type tokens and reveal values, so it gets the same page headers
as GraphiQL (no-store, no referrer, no framing) and a CSP that allows
scripts, styles, images and connections from this origin only: no inline
script or style, nothing from any other host, no form posting anywhere, no
plugin, no base URL change.
"""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from graphql_api.graphiql import PAGE_HEADERS, AssetFiles, same_host_socket_sources

CONSOLE_DIR: Path = Path(__file__).resolve().parent / "static" / "console"
"""Where `npm run build` in console/ puts the built app (generated; not in git)."""

CONSOLE_PATH = "/console"
BUILD_COMMAND = "make console"


def console_built(console_dir: Path = CONSOLE_DIR) -> bool:
    return (console_dir / "index.html").is_file()


def content_security_policy(host: str | None = None) -> str:
    """The console's CSP: this origin only, for everything it loads or connects to.

    Same-host websockets are listed as GraphiQL's are (same_host_socket_sources).
    """
    connect = ["'self'", *same_host_socket_sources(host)]
    directives = {
        "default-src": "'none'",
        "script-src": "'self'",
        "style-src": "'self'",
        "img-src": "'self'",
        "font-src": "'self'",
        "connect-src": " ".join(connect),
        "manifest-src": "'self'",
        "object-src": "'none'",
        "base-uri": "'none'",
        "frame-ancestors": "'none'",
        "form-action": "'none'",
    }
    return "; ".join(f"{name} {value}" for name, value in directives.items())


_NOT_BUILT = """<!doctype html>
<html lang="en"><head><meta charset="utf-8" /><title>Strongroom console</title></head>
<body><h1>The console is not built</h1>
<p>Run <code>make console</code> (or <code>make run</code>) from the project root, then reload this page.</p>
</body></html>
"""


def console_response(request: Request, console_dir: Path = CONSOLE_DIR) -> Response:
    headers = {**PAGE_HEADERS, "Content-Security-Policy": content_security_policy(request.headers.get("host"))}
    if not console_built(console_dir):
        return HTMLResponse(_NOT_BUILT, status_code=503, headers=headers)
    return HTMLResponse((console_dir / "index.html").read_text(encoding="utf-8"), headers=headers)


def console_routes(console_dir: Path = CONSOLE_DIR) -> list[BaseRoute]:
    """/console (the page), /console/ and /console/index.html (the same), and its files."""

    async def page(request: Request) -> Response:
        return console_response(request, console_dir)

    async def slash(request: Request) -> Response:
        return RedirectResponse(f"{CONSOLE_PATH}/", status_code=308)

    return [
        Route(CONSOLE_PATH, slash, methods=["GET", "HEAD"]),
        Route(f"{CONSOLE_PATH}/", page, methods=["GET", "HEAD"]),
        Route(f"{CONSOLE_PATH}/index.html", page, methods=["GET", "HEAD"]),
        Mount(CONSOLE_PATH, app=AssetFiles(directory=console_dir, check_dir=False), name="console-assets"),
    ]
