"""An offline GraphiQL page that keeps nothing, served with its assets by this app.

Why offline: Strawberry's built-in GraphiQL page (strawberry/static/graphiql.html)
loads React, GraphiQL and the explorer plugin from unpkg.com, so it renders a
blank page in air-gapped sites and whenever the CDN is unreachable. Every
file this page loads comes from this server under ASSET_ROUTE_PREFIX: the npm
files are byte-identical to the ones Strawberry pins with `integrity=` hashes
(see graphiql/package.json), and the page's own script, styles and favicon are
in graphiql/page/; `python graphiql/build.py` (or `make graphiql`) copies them
all into ASSETS_DIR.

Why it keeps nothing: people type a superadmin token into the headers editor
and secret values into queries and variables. Strawberry's page leaves them
behind in localStorage (GraphiQL's history, tabs, variables) and in the URL
(`history.replaceState` mirrors query and variables into browser history).
This page (see graphiql/page/strongroom-graphiql.js):

* gives GraphiQL a `storage` that lives in page memory, and does not persist
  headers (`shouldPersistHeaders: false`); reloading starts from the defaults;
* neither writes the URL nor reads it (a crafted link cannot prefill an
  operation or a token), and uses no cookie;
* starts with the headers editor open, pre-filled with an Authorization
  template (DEFAULT_HEADERS_TEXT).

The HTTP layer serves it with `graphiql_response(request)`, which adds the
headers of PAGE_HEADERS and a Content-Security-Policy (content_security_policy):
`Cache-Control: no-store`, no inline script or style (the page's settings
travel in data- attributes), connections only to this origin. The assets are
public npm bytes and our own page files, with nothing secret in them, so they
may be cached, but with `Cache-Control: no-cache` (revalidate by ETag) so that
an upgrade's new page script is picked up at once rather than by heuristic
freshness.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
from html import escape
from pathlib import Path

from starlette.requests import HTTPConnection
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

ASSETS_DIR: Path = Path(__file__).resolve().parent / "static" / "graphiql"
"""Where graphiql/build.py puts the assets (generated; not in git)."""

ASSET_ROUTE_PREFIX = "/graphiql-assets"
"""URL path under which ASSETS_DIR is served, relative to the server root."""

REACT_JS = "react.production.min.js"
REACT_DOM_JS = "react-dom.production.min.js"
GRAPHIQL_JS = "graphiql.min.js"
GRAPHIQL_CSS = "graphiql.min.css"
EXPLORER_JS = "plugin-explorer.umd.js"
EXPLORER_CSS = "plugin-explorer.css"
"""Optional: linked only when the build produced it."""
PAGE_JS = "strongroom-graphiql.js"
"""Starts GraphiQL (from graphiql/page/)."""
PAGE_CSS = "strongroom-graphiql.css"
FAVICON = "favicon.svg"

REQUIRED_ASSETS: tuple[str, ...] = (
    REACT_JS,
    REACT_DOM_JS,
    GRAPHIQL_JS,
    GRAPHIQL_CSS,
    EXPLORER_JS,
    PAGE_JS,
    PAGE_CSS,
    FAVICON,
)
"""Files the page cannot work without; must match graphiql/build.py."""

DEFAULT_HEADERS_TEXT = '{\n  "Authorization": "Bearer <token>"\n}'
"""Initial text of GraphiQL's headers editor: replace <token> with a real one."""

BUILD_COMMAND = "make graphiql"
BUILD_SCRIPT_COMMAND = "python graphiql/build.py"

PAGE_HEADERS: dict[str, str] = {
    # The page holds no secret itself, but it is where secrets are typed:
    # no cache keeps it, and most browsers then keep it out of their
    # back/forward cache too, which would otherwise bring the live page back,
    # token still in its headers editor, after the user has navigated away.
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    # GraphiQL's markdown (schema descriptions) may link elsewhere: a click
    # must not tell that site where its user came from.
    "Referrer-Policy": "no-referrer",
    # frame-ancestors 'none' for browsers without CSP level 2.
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}
"""Headers of the GraphiQL page (and of the "not built" page), besides its CSP."""

ASSET_HEADERS: dict[str, str] = {
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
    "Cross-Origin-Resource-Policy": "same-origin",
}
"""Headers added to every asset response (see the module docstring)."""

# A Host header that is safe to quote in a CSP source expression; anything
# else (";", spaces, quotes, "*", userinfo, ...) is ignored, not escaped.
_HOST = re.compile(
    r"""
    (?: [A-Za-z0-9-]+ (?: \. [A-Za-z0-9-]+ )*   # DNS name or IPv4 address
      | \[ [0-9A-Fa-f:.]+ \]                    # IPv6 literal
    )
    (?: : [0-9]{1,5} )?                          # port
    """,
    re.VERBOSE,
)


def assets_built(assets_dir: Path = ASSETS_DIR) -> bool:
    """True when every file the page needs exists in `assets_dir`.

    Checked on each render rather than cached, so building the assets while
    the server runs takes effect on the next page load.
    """
    return all((assets_dir / name).is_file() for name in REQUIRED_ASSETS)


def _asset_url(name: str) -> str:
    return f"{ASSET_ROUTE_PREFIX}/{name}"


def render_graphiql_page(*, subscriptions_enabled: bool = True, assets_dir: Path = ASSETS_DIR) -> str:
    """The GraphiQL page, or a short "assets not built" page if they are missing.

    Queries are POSTed to the page's own URL; subscriptions use
    graphql-transport-ws (GraphiQL's createFetcher, via the bundled graphql-ws
    client) on the same URL with a ws:/wss: scheme, authenticated by the
    headers editor's JSON as connection_init payload.
    `subscriptions_enabled=False` gives the fetcher no subscription URL, so
    GraphiQL never opens a WebSocket. The page has no inline script or style:
    prefer graphiql_response(), which serves it under a CSP saying so.
    """
    if not assets_built(assets_dir):
        return _render_not_built_page()
    explorer_css = ""
    if (assets_dir / EXPLORER_CSS).is_file():
        explorer_css = f'\n    <link rel="stylesheet" href="{_asset_url(EXPLORER_CSS)}" />'
    return (
        _PAGE_TEMPLATE.replace("__FAVICON__", _asset_url(FAVICON))
        .replace("__GRAPHIQL_CSS__", _asset_url(GRAPHIQL_CSS))
        .replace("__EXPLORER_CSS_LINK__", explorer_css)
        .replace("__PAGE_CSS__", _asset_url(PAGE_CSS))
        .replace("__REACT_JS__", _asset_url(REACT_JS))
        .replace("__REACT_DOM_JS__", _asset_url(REACT_DOM_JS))
        .replace("__GRAPHIQL_JS__", _asset_url(GRAPHIQL_JS))
        .replace("__EXPLORER_JS__", _asset_url(EXPLORER_JS))
        .replace("__PAGE_JS__", _asset_url(PAGE_JS))
        .replace("__SUBSCRIPTIONS__", "true" if subscriptions_enabled else "false")
        .replace("__DEFAULT_HEADERS__", escape(DEFAULT_HEADERS_TEXT, quote=True))
    )


def content_security_policy(host: str | None = None) -> str:
    """The GraphiQL page's Content-Security-Policy.

    Scripts, styles and images only from this origin: no inline script at
    all, and one inline style, by hash (_SCROLL_LOCK_STYLE); fonts and a few
    icons are data: URLs inside GraphiQL's CSS. Connections only to this
    origin: `'self'` covers same-host ws:/wss: in CSP level 3 browsers only,
    so when `host` (the request's Host header, the host the page builds its
    subscription URL from) is a plain host[:port], `ws://host` and
    `wss://host` are listed as well.
    """
    connect = ["'self'", *same_host_socket_sources(host)]
    directives = {
        "default-src": "'none'",
        "script-src": "'self'",
        "style-src": f"'self' {_sha256_source(_SCROLL_LOCK_STYLE)}",
        "img-src": "'self' data:",
        "font-src": "'self' data:",
        "connect-src": " ".join(connect),
        "object-src": "'none'",
        "base-uri": "'none'",
        "frame-ancestors": "'none'",
        "form-action": "'none'",
    }
    return "; ".join(f"{name} {value}" for name, value in directives.items())


def same_host_socket_sources(host: str | None) -> list[str]:
    """`ws://host` and `wss://host` for a plain host[:port] Host header, else nothing.

    `'self'` covers same-host websockets only in CSP level 3 browsers. A Host
    header that is anything but a plain host[:port] is ignored, never quoted.
    """
    if host and _HOST.fullmatch(host):
        return [f"ws://{host}", f"wss://{host}"]
    return []


def _sha256_source(text: str) -> str:
    """A CSP hash source allowing the inline <script>/<style> whose text is `text`."""
    return f"'sha256-{base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()}'"


def graphiql_response(
    request: HTTPConnection,
    *,
    subscriptions_enabled: bool = True,
    assets_dir: Path = ASSETS_DIR,
) -> Response:
    """The GraphiQL page as a response, with PAGE_HEADERS and its CSP.

    What the HTTP layer returns for `GET /graphql` that accepts text/html
    when GraphiQL is enabled. While the assets are not built, it is the page
    explaining how to build them (also 200, also no-store), under a CSP that
    allows its one inline style by hash and nothing else.
    """
    if not assets_built(assets_dir):
        return HTMLResponse(
            _render_not_built_page(),
            headers={**PAGE_HEADERS, "Content-Security-Policy": _NOT_BUILT_CSP},
        )
    page = render_graphiql_page(subscriptions_enabled=subscriptions_enabled, assets_dir=assets_dir)
    csp = content_security_policy(request.headers.get("host"))
    return HTMLResponse(page, headers={**PAGE_HEADERS, "Content-Security-Policy": csp})


def _render_not_built_page() -> str:
    """A self-contained page explaining how to build the missing assets.

    Served instead of a GraphiQL page that would load nothing and stay blank.
    """
    return _NOT_BUILT_TEMPLATE.format(
        style=_NOT_BUILT_STYLE,
        build_command=escape(BUILD_COMMAND),
        build_script_command=escape(BUILD_SCRIPT_COMMAND),
    )


class AssetFiles(StaticFiles):
    """StaticFiles with ASSET_HEADERS, answering 404 (not 500) until built.

    `check_dir=False` only defers Starlette's check to the first request, which
    then raises RuntimeError (a 500) if the assets were never built. Skipping
    the check for a missing directory makes those requests plain 404s, and
    files appear as soon as graphiql/build.py creates the directory.
    """

    async def check_config(self) -> None:
        if self.directory is None or Path(self.directory).exists():
            await super().check_config()

    def file_response(
        self,
        full_path: str | os.PathLike[str],
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers.update(ASSET_HEADERS)
        return response


def graphiql_asset_routes(assets_dir: Path = ASSETS_DIR) -> list[BaseRoute]:
    """Routes serving `assets_dir` under ASSET_ROUTE_PREFIX (page files and favicon too).

    They work before the assets are built (the application starts, asset
    requests get 404, and the page itself explains how to build them).
    """
    return [
        Mount(
            ASSET_ROUTE_PREFIX,
            app=AssetFiles(directory=assets_dir, check_dir=False),
            name="graphiql-assets",
        )
    ]


_NOT_BUILT_STYLE = """
      body {
        font-family: system-ui, sans-serif;
        max-width: 40rem;
        margin: 3rem auto;
        padding: 0 1rem;
        line-height: 1.5;
      }
      code {
        background: #f2f2f2;
        padding: 0.1rem 0.3rem;
      }
    """

_NOT_BUILT_CSP = (
    f"default-src 'none'; style-src {_sha256_source(_NOT_BUILT_STYLE)}; "
    "base-uri 'none'; frame-ancestors 'none'; form-action 'none'"
)

# The <style> GraphiQL's dialogs and menus (Radix, through react-remove-scroll-bar
# 2.x in graphiql.min.js) add to lock page scrolling while they are open: its
# getStyles() with every measured gap 0, which it always is on this page (the
# viewport never scrolls and body has no margin, see strongroom-graphiql.css).
# The browser test opens a dialog, so a GraphiQL upgrade that changes this text
# fails there, with the new hash in the CSP violation message.
_SCROLL_LOCK_STYLE = (
    "\n  .with-scroll-bars-hidden {\n   overflow: hidden !important;\n   padding-right: 0px !important;\n  }"
    "\n  body {\n    overflow: hidden !important;\n    overscroll-behavior: contain;"
    "\n    position: relative !important;\n    padding-left: 0px;\n    padding-top: 0px;"
    "\n    padding-right: 0px;\n    margin-left:0;\n    margin-top:0;\n    margin-right: 0px !important;"
    "\n    \n  }\n  \n  .right-scroll-bar-position {\n    right: 0px !important;\n  }"
    "\n  \n  .width-before-scroll-bar {\n    margin-right: 0px !important;\n  }"
    "\n  \n  .right-scroll-bar-position .right-scroll-bar-position {\n    right: 0 !important;\n  }"
    "\n  \n  .width-before-scroll-bar .width-before-scroll-bar {\n    margin-right: 0 !important;\n  }"
    "\n  \n  body {\n    --removed-body-scroll-bar-size: 0px;\n  }\n"
)

_NOT_BUILT_TEMPLATE = """<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <title>Strongroom GraphQL API</title>
    <style>{style}</style>
  </head>
  <body>
    <h1>GraphiQL's assets are not built</h1>
    <p>
      This server serves GraphiQL's files itself so that it works offline,
      and they have not been built yet. Run <code>{build_command}</code>
      (or <code>{build_script_command}</code>) from the project root, then
      reload this page.
    </p>
    <p>
      The GraphQL API itself works at this URL: send queries with
      <code>POST</code> and an <code>Authorization: Bearer &lt;token&gt;</code>
      header.
    </p>
  </body>
</html>
"""

# Adapted from strawberry/static/graphiql.html (strawberry-graphql 0.341.2):
# its inline style and script now live in graphiql/page/.
_PAGE_TEMPLATE = """<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <meta name="referrer" content="no-referrer" />
    <title>Strongroom GraphiQL</title>
    <link rel="icon" type="image/svg+xml" href="__FAVICON__" />
    <link rel="stylesheet" href="__GRAPHIQL_CSS__" />__EXPLORER_CSS_LINK__
    <link rel="stylesheet" href="__PAGE_CSS__" />

    <script src="__REACT_JS__"></script>
    <script src="__REACT_DOM_JS__"></script>
  </head>

  <body>
    <div
      id="graphiql"
      class="graphiql-container"
      data-subscriptions="__SUBSCRIPTIONS__"
      data-default-headers="__DEFAULT_HEADERS__"
    >
      Loading...
    </div>
    <script src="__GRAPHIQL_JS__"></script>
    <script src="__EXPLORER_JS__"></script>
    <script src="__PAGE_JS__"></script>
  </body>
</html>
"""
