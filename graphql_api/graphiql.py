"""An offline GraphiQL page, served with its assets from this application.

Why: Strawberry's built-in GraphiQL page (strawberry/static/graphiql.html)
loads React, GraphiQL and the explorer plugin from unpkg.com, so it renders a
blank page in air-gapped sites and whenever the CDN is unreachable. This
module serves the same page, with the same fetcher and subscription
behaviour, but every script and stylesheet comes from this server under
ASSET_ROUTE_PREFIX. The files are byte-identical to the ones Strawberry pins
with `integrity=` hashes (see graphiql/package.json); `python graphiql/build.py`
(or `make graphiql`) copies them into ASSETS_DIR.

The page differs from Strawberry's on purpose in three ways, because every
operation of this API needs `Authorization: Bearer <token>`:

* the headers editor starts open, pre-filled with an Authorization template;
* headers are not persisted to localStorage by default (a bearer token for a
  secret store should not outlive the tab; users can opt in from GraphiQL's
  settings dialog);
* headers are never read from the page URL, so a crafted link cannot make
  someone run operations with another person's token.

There is no favicon link (Strawberry's is an inline data: URL) so that every
`src`/`href` on the page is a same-origin path.
"""

from __future__ import annotations

import json
from html import escape
from pathlib import Path

from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles

ASSETS_DIR: Path = Path(__file__).resolve().parent / "static" / "graphiql"
"""Where graphiql/build.py puts the assets (generated; not in git)."""

ASSET_ROUTE_PREFIX = "/graphiql-assets"
"""URL path under which ASSETS_DIR is served, relative to the server root."""

REACT_JS = "react.production.min.js"
REACT_DOM_JS = "react-dom.production.min.js"
JS_COOKIE_JS = "js.cookie.min.js"
GRAPHIQL_JS = "graphiql.min.js"
GRAPHIQL_CSS = "graphiql.min.css"
EXPLORER_JS = "plugin-explorer.umd.js"
EXPLORER_CSS = "plugin-explorer.css"
"""Optional: linked only when the build produced it."""

REQUIRED_ASSETS: tuple[str, ...] = (
    REACT_JS,
    REACT_DOM_JS,
    JS_COOKIE_JS,
    GRAPHIQL_JS,
    GRAPHIQL_CSS,
    EXPLORER_JS,
)
"""Files the page cannot work without; must match graphiql/build.py."""

DEFAULT_HEADERS_TEXT = '{\n  "Authorization": "Bearer <token>"\n}'
"""Initial text of GraphiQL's headers editor: replace <token> with a real one."""

BUILD_COMMAND = "make graphiql"
BUILD_SCRIPT_COMMAND = "python graphiql/build.py"


def assets_built(assets_dir: Path = ASSETS_DIR) -> bool:
    """True when every file the page needs exists in `assets_dir`.

    Checked on each render rather than cached, so building the assets while
    the server runs takes effect on the next page load.
    """
    return all((assets_dir / name).is_file() for name in REQUIRED_ASSETS)


def _asset_url(name: str) -> str:
    return f"{ASSET_ROUTE_PREFIX}/{name}"


def _script_json(value: object) -> str:
    """JSON for inlining in a <script>: `<`, `>`, `&` cannot end the element."""
    return (
        json.dumps(value)
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
    )


def render_graphiql_page(
    *, subscriptions_enabled: bool = True, assets_dir: Path = ASSETS_DIR
) -> str:
    """The GraphiQL page, or a short "assets not built" page if they are missing.

    Behaves like Strawberry's graphiql.html: queries are POSTed to the page's
    own URL, and subscriptions use graphql-transport-ws (GraphiQL's
    createFetcher, via the bundled graphql-ws client) on the same URL with a
    ws:/wss: scheme. Strawberry 0.341's page has no template placeholders to
    fill; `subscriptions_enabled=False` simply gives the fetcher no
    subscription URL, so GraphiQL never opens a WebSocket.
    """
    if not assets_built(assets_dir):
        return _render_not_built_page()
    explorer_css = ""
    if (assets_dir / EXPLORER_CSS).is_file():
        explorer_css = (
            f'\n    <link rel="stylesheet" href="{_asset_url(EXPLORER_CSS)}" />'
        )
    return (
        _PAGE_TEMPLATE.replace("__GRAPHIQL_CSS__", _asset_url(GRAPHIQL_CSS))
        .replace("__EXPLORER_CSS_LINK__", explorer_css)
        .replace("__REACT_JS__", _asset_url(REACT_JS))
        .replace("__REACT_DOM_JS__", _asset_url(REACT_DOM_JS))
        .replace("__JS_COOKIE_JS__", _asset_url(JS_COOKIE_JS))
        .replace("__GRAPHIQL_JS__", _asset_url(GRAPHIQL_JS))
        .replace("__EXPLORER_JS__", _asset_url(EXPLORER_JS))
        .replace("__SUBSCRIPTIONS_ENABLED__", _script_json(subscriptions_enabled))
        .replace("__DEFAULT_HEADERS__", _script_json(DEFAULT_HEADERS_TEXT))
    )


def _render_not_built_page() -> str:
    """A self-contained page explaining how to build the missing assets.

    Served instead of a GraphiQL page that would load nothing and stay blank.
    """
    return _NOT_BUILT_TEMPLATE.format(
        build_command=escape(BUILD_COMMAND),
        build_script_command=escape(BUILD_SCRIPT_COMMAND),
    )


class _StaticFilesUntilBuilt(StaticFiles):
    """StaticFiles that answers 404, not 500, while its directory is missing.

    `check_dir=False` only defers Starlette's check to the first request, which
    then raises RuntimeError (a 500) if the assets were never built. Skipping
    the check for a missing directory makes those requests plain 404s, and
    files appear as soon as graphiql/build.py creates the directory.
    """

    async def check_config(self) -> None:
        if self.directory is None or Path(self.directory).exists():
            await super().check_config()


def graphiql_asset_routes(assets_dir: Path = ASSETS_DIR) -> list[BaseRoute]:
    """Routes serving `assets_dir` under ASSET_ROUTE_PREFIX.

    They work before the assets are built (the application starts, asset
    requests get 404, and the page itself explains how to build them).
    """
    return [
        Mount(
            ASSET_ROUTE_PREFIX,
            app=_StaticFilesUntilBuilt(directory=assets_dir, check_dir=False),
            name="graphiql-assets",
        )
    ]


_NOT_BUILT_TEMPLATE = """<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <title>Strongroom GraphQL API</title>
    <style>
      body {{
        font-family: system-ui, sans-serif;
        max-width: 40rem;
        margin: 3rem auto;
        padding: 0 1rem;
        line-height: 1.5;
      }}
      code {{
        background: #f2f2f2;
        padding: 0.1rem 0.3rem;
      }}
    </style>
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

# Adapted from strawberry/static/graphiql.html (strawberry-graphql 0.341.2).
_PAGE_TEMPLATE = """<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <title>Strongroom GraphiQL</title>
    <style>
      body {
        height: 100%;
        margin: 0;
        width: 100%;
        overflow: hidden;
      }

      #graphiql {
        height: 100vh;
        display: flex;
      }

      .docExplorerHide {
        display: none;
      }

      .doc-explorer-contents {
        overflow-y: hidden !important;
      }

      .docExplorerWrap {
        width: unset !important;
        min-width: unset !important;
      }

      .graphiql-explorer-actions select {
        margin-left: 4px;
      }
    </style>

    <script src="__REACT_JS__"></script>
    <script src="__REACT_DOM_JS__"></script>
    <script src="__JS_COOKIE_JS__"></script>

    <link rel="stylesheet" href="__GRAPHIQL_CSS__" />__EXPLORER_CSS_LINK__
  </head>

  <body>
    <div id="graphiql" class="graphiql-container">Loading...</div>
    <script src="__GRAPHIQL_JS__"></script>
    <script src="__EXPLORER_JS__"></script>
    <script>
      const SUBSCRIPTIONS_ENABLED = __SUBSCRIPTIONS_ENABLED__;
      const DEFAULT_HEADERS = __DEFAULT_HEADERS__;

      const EXAMPLE_QUERY = `# Welcome to GraphiQL
#
# Every operation needs your API token: open the "Headers" tab below and
# replace <token> in the Authorization header.
#
# GraphiQL is an in-browser tool for writing, validating, and
# testing GraphQL queries.
#
# Type queries into this side of the screen, and you will see intelligent
# typeaheads aware of the current GraphQL type schema and live syntax and
# validation errors highlighted within the text.
#
# Keyboard shortcuts:
#
#       Run Query:  Ctrl-Enter (or press the play button above)
#
#   Auto Complete:  Ctrl-Space (or just start typing)
#
`;

      // Parse URL parameters for sharing queries (never headers: see module docs)
      const parameters = {};

      for (const entry of window.location.search.slice(1).split("&")) {
        const eq = entry.indexOf("=");
        if (eq >= 0) {
          parameters[decodeURIComponent(entry.slice(0, eq))] =
            decodeURIComponent(entry.slice(eq + 1));
        }
      }

      function updateURL(data) {
        Object.assign(parameters, data);

        const newSearch =
          "?" +
          Object.keys(parameters)
            .filter(function (key) {
              return Boolean(parameters[key]);
            })
            .map(function (key) {
              return (
                encodeURIComponent(key) +
                "=" +
                encodeURIComponent(parameters[key])
              );
            })
            .join("&");
        history.replaceState(null, null, newSearch);
      }

      const fetchURL = window.location.href.split("?")[0];

      function httpUrlToWebSockeUrl(url) {
        const parsedURL = new URL(url);
        const protocol = parsedURL.protocol === "http:" ? "ws:" : "wss:";
        parsedURL.protocol = protocol;
        parsedURL.hash = "";
        return parsedURL.toString();
      }

      const defaultHeaders = {};
      const csrfToken = Cookies.get("csrftoken");

      if (csrfToken) {
        defaultHeaders["x-csrftoken"] = csrfToken;
      }

      const fetcherOptions = {
        url: fetchURL,
        headers: defaultHeaders,
      };

      if (SUBSCRIPTIONS_ENABLED) {
        fetcherOptions.subscriptionUrl = httpUrlToWebSockeUrl(fetchURL);
      }

      const fetcher = GraphiQL.createFetcher(fetcherOptions);

      function GraphiQLWithExplorer() {
        const [query, setQuery] = React.useState(
          parameters.q || EXAMPLE_QUERY,
        );
        const [variables, setVariables] = React.useState(
          parameters.variables,
        );

        function onEditQuery(newQuery) {
          setQuery(newQuery);
          updateURL({ q: newQuery });
        }

        function onEditVariables(newVariables) {
          setVariables(newVariables);
          updateURL({ variables: newVariables });
        }

        const explorerPlugin = GraphiQLPluginExplorer.explorerPlugin();

        return React.createElement(GraphiQL, {
          fetcher: fetcher,
          defaultEditorToolsVisibility: "headers",
          plugins: [explorerPlugin],
          query: query,
          variables: variables,
          defaultHeaders: DEFAULT_HEADERS,
          onEditQuery: onEditQuery,
          onEditVariables: onEditVariables,
          inputValueDeprecation: true,
          isHeadersEditorEnabled: true,
          shouldPersistHeaders: false,
        });
      }

      const root = ReactDOM.createRoot(document.getElementById("graphiql"));
      root.render(React.createElement(GraphiQLWithExplorer));
    </script>
  </body>
</html>
"""
