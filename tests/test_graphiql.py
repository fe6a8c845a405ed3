"""The offline GraphiQL page: same-origin assets only, served, keeping nothing.

Why: Strawberry's own page loads GraphiQL from unpkg.com, which is blank in
air-gapped sites, and leaves tokens and secret values in localStorage and the
URL. These tests pin down that our page references nothing outside this
server, that everything it references is built and served, that an unbuilt
checkout gets instructions instead of a blank page, and, statically, what
tests/test_graphiql_browser.py proves in Chromium: no inline script or style
(the CSP forbids them), no storage or URL writes in our page script, and the
page's headers. The assets are served with headers of their own.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import re
import runpy
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from graphql_api.graphiql import (
    ASSET_ROUTE_PREFIX,
    ASSETS_DIR,
    DEFAULT_HEADERS_TEXT,
    EXPLORER_CSS,
    EXPLORER_JS,
    FAVICON,
    PAGE_CSS,
    PAGE_JS,
    REQUIRED_ASSETS,
    assets_built,
    content_security_policy,
    graphiql_asset_routes,
    graphiql_response,
    render_graphiql_page,
)

REPO_ROOT = Path(__file__).resolve().parent.parent
BUILD_SCRIPT = REPO_ROOT / "graphiql" / "build.py"
PAGE_SOURCES = REPO_ROOT / "graphiql" / "page"
NOT_BUILT_REASON = (
    f"GraphiQL assets are not built in {ASSETS_DIR}; run `make graphiql` "
    "(or `python graphiql/build.py`) to run this test"
)

requires_built_assets = pytest.mark.skipif(not assets_built(), reason=NOT_BUILT_REASON)


class _References(HTMLParser):
    """Collects every src/href value, all CSS text (for url(...)), inline
    <style> and <script> texts, and inline event handler attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.css: list[str] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.styles: list[str] = []
        self.scripts: list[str] = []
        self.style_attributes: list[str] = []
        self.handlers: list[str] = []
        self._in: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        self.tags.append((tag, attributes))
        for name, value in attrs:
            if name in ("src", "href"):
                self.urls.append(value or "")
            elif name == "style" and value is not None:
                self.css.append(value)
                self.style_attributes.append(value)
            elif name.startswith("on"):
                self.handlers.append(f"{tag} {name}")
        self._in = tag if tag in ("style", "script") else None
        if tag == "style":
            self.styles.append("")
        elif tag == "script":
            self.scripts.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == self._in:
            self._in = None

    def handle_data(self, data: str) -> None:
        if self._in == "style":
            self.css.append(data)
            self.styles[-1] += data
        elif self._in == "script":
            self.scripts[-1] += data


def _references(page: str) -> _References:
    parser = _References()
    parser.feed(page)
    parser.close()
    return parser


def _css_urls(css_chunks: list[str]) -> list[str]:
    pattern = re.compile(r"""url\(\s*['"]?([^'")\s]*)""", re.IGNORECASE)
    return [match for chunk in css_chunks for match in pattern.findall(chunk)]


def _assert_same_origin(url: str) -> None:
    assert url.startswith("/"), f"{url!r} is not a same-origin path"
    assert not url.startswith("//"), f"{url!r} is protocol-relative (another host)"
    assert "http://" not in url and "https://" not in url, url


def _csp(header: str) -> dict[str, list[str]]:
    directives: dict[str, list[str]] = {}
    for directive in header.split(";"):
        name, *values = directive.split()
        assert name not in directives, f"{name} given twice"
        directives[name] = values
    return directives


def _sha256_source(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


@pytest.fixture
def fake_assets(tmp_path: Path) -> Path:
    """An assets dir holding placeholder files, so the full page renders."""
    for name in (*REQUIRED_ASSETS, EXPLORER_CSS):
        (tmp_path / name).write_text("/* placeholder */\n", encoding="utf-8")
    return tmp_path


def test_page_references_only_same_origin_paths(fake_assets: Path) -> None:
    page = render_graphiql_page(assets_dir=fake_assets)
    refs = _references(page)

    assert refs.urls, "the page references no assets at all"
    for url in [*refs.urls, *_css_urls(refs.css)]:
        _assert_same_origin(url)
    assert "://" not in page
    for needle in (
        "unpkg",
        "jsdelivr",
        "cdnjs",
        "googleapis",
        "integrity=",
        "crossorigin",
    ):
        assert needle not in page


def test_page_links_every_asset_under_the_route_prefix(fake_assets: Path) -> None:
    refs = _references(render_graphiql_page(assets_dir=fake_assets))

    expected = {f"{ASSET_ROUTE_PREFIX}/{name}" for name in (*REQUIRED_ASSETS, EXPLORER_CSS)}
    assert set(refs.urls) == expected


def test_explorer_css_is_optional(fake_assets: Path) -> None:
    (fake_assets / EXPLORER_CSS).unlink()

    page = render_graphiql_page(assets_dir=fake_assets)

    assert assets_built(fake_assets)
    assert EXPLORER_CSS not in page
    assert f"{ASSET_ROUTE_PREFIX}/{EXPLORER_JS}" in page


def _graphiql_root(page: str) -> dict[str, str | None]:
    roots = [attrs for tag, attrs in _references(page).tags if attrs.get("id") == "graphiql"]
    assert len(roots) == 1, page
    return roots[0]


def test_page_has_no_inline_script_or_style(fake_assets: Path) -> None:
    refs = _references(render_graphiql_page(assets_dir=fake_assets))

    # The CSP says script-src 'self' and allows no inline style of ours.
    assert refs.scripts, "the page loads no script"
    assert all(text.strip() == "" for text in refs.scripts), refs.scripts
    assert all(attrs.get("src") for tag, attrs in refs.tags if tag == "script")
    assert refs.styles == []
    assert refs.style_attributes == []
    assert refs.handlers == []
    assert "javascript:" not in " ".join(refs.urls)
    # Our own script runs last, after GraphiQL and the explorer plugin.
    scripts = [attrs["src"] for tag, attrs in refs.tags if tag == "script"]
    assert scripts[-1] == f"{ASSET_ROUTE_PREFIX}/{PAGE_JS}"
    assert scripts.index(f"{ASSET_ROUTE_PREFIX}/{EXPLORER_JS}") < len(scripts) - 1
    icons = [attrs for tag, attrs in refs.tags if tag == "link" and attrs.get("rel") == "icon"]
    assert [icon.get("href") for icon in icons] == [f"{ASSET_ROUTE_PREFIX}/{FAVICON}"]


def test_page_passes_its_settings_as_data_attributes(fake_assets: Path) -> None:
    page = render_graphiql_page(assets_dir=fake_assets)

    root = _graphiql_root(page)
    assert root["data-subscriptions"] == "true"
    assert root["data-default-headers"] == DEFAULT_HEADERS_TEXT
    assert "Bearer &lt;token&gt;" in page  # escaped in the attribute
    assert "Bearer <token>" not in page


def test_subscriptions_can_be_disabled(fake_assets: Path) -> None:
    page = render_graphiql_page(subscriptions_enabled=False, assets_dir=fake_assets)

    assert _graphiql_root(page)["data-subscriptions"] == "false"


def _page_script() -> str:
    """Our page script with its comments removed (they name what it avoids)."""
    source = (PAGE_SOURCES / PAGE_JS).read_text(encoding="utf-8")
    source = re.sub(r"/\*.*?\*/", "", source, flags=re.DOTALL)
    return re.sub(r"^\s*//.*$", "", source, flags=re.MULTILINE)


def test_page_script_keeps_nothing_and_reads_nothing_from_the_url() -> None:
    script = _page_script()

    for needle in (
        "localStorage",
        "sessionStorage",
        "indexedDB",
        "cookie",
        "Cookies",
        "replaceState",
        "pushState",
        "history.",
        "location.search",
        "location.hash",
        "searchParams",
        "createLocalStorage",
        "eval(",
        "innerHTML",
        "://",
    ):
        assert needle not in script, needle
    # GraphiQL gets a storage that lives in page memory, and keeps no headers.
    assert "storage: storage" in script
    assert "const items = new Map();" in script
    assert "shouldPersistHeaders: false" in script
    assert "isHeadersEditorEnabled: true" in script
    assert 'defaultEditorToolsVisibility: "headers"' in script
    # The endpoint is the page's own URL without query or fragment, and
    # subscriptions use the same URL with a ws:/wss: scheme.
    assert "new URL(window.location.href)" in script
    assert 'endpoint.search = "";' in script
    assert "fetcherOptions.subscriptionUrl = socket.href;" in script
    assert 'root.dataset.subscriptions === "true"' in script
    assert "root.dataset.defaultHeaders" in script


def test_page_styles_leave_body_overflow_alone() -> None:
    # See the comment in strongroom-graphiql.css and _SCROLL_LOCK_STYLE.
    css = (PAGE_SOURCES / PAGE_CSS).read_text(encoding="utf-8")
    css = re.sub(r"/\*.*?\*/", "", css, flags=re.DOTALL)
    body = re.search(r"(?m)^body\s*\{([^}]*)\}", css)
    assert body is not None
    assert "overflow" not in body.group(1)
    assert "margin: 0;" in body.group(1)
    assert re.search(r"(?m)^html\s*\{[^}]*overflow: hidden;", css)


def test_content_security_policy() -> None:
    csp = _csp(content_security_policy("127.0.0.1:8000"))

    assert csp["default-src"] == ["'none'"]
    assert csp["script-src"] == ["'self'"]
    assert csp["style-src"][0] == "'self'"
    assert all(source.startswith("'sha256-") for source in csp["style-src"][1:])
    assert csp["img-src"] == ["'self'", "data:"]
    assert csp["font-src"] == ["'self'", "data:"]
    assert csp["connect-src"] == ["'self'", "ws://127.0.0.1:8000", "wss://127.0.0.1:8000"]
    for directive in ("object-src", "base-uri", "frame-ancestors", "form-action"):
        assert csp[directive] == ["'none'"], directive
    flat = " ".join(value for values in csp.values() for value in values)
    assert "unsafe" not in flat
    assert "*" not in flat
    assert "http:" not in flat and "https:" not in flat


@pytest.mark.parametrize(
    "host",
    [
        "strongroom.example.com",
        "strongroom.example.com:8443",
        "[::1]:8000",
        "10.0.0.7",
    ],
)
def test_csp_allows_websockets_to_the_requested_host(host: str) -> None:
    assert _csp(content_security_policy(host))["connect-src"] == ["'self'", f"ws://{host}", f"wss://{host}"]


@pytest.mark.parametrize(
    "host",
    [
        None,
        "",
        "evil.example; script-src *",
        "evil.example 'unsafe-inline'",
        "*",
        "a.example,b.example",
        "user@host",
        "host:port",
        "host:123456",
    ],
)
def test_csp_ignores_a_host_header_it_cannot_quote(host: str | None) -> None:
    csp = _csp(content_security_policy(host))

    assert csp["connect-src"] == ["'self'"]
    assert csp["script-src"] == ["'self'"]


async def _serve_page(assets_dir: Path, headers: dict[str, str] | None = None) -> httpx.Response:
    async def page(request: Request) -> Response:
        return graphiql_response(request, assets_dir=assets_dir)

    return await _get(Starlette(routes=[Route("/graphql", page)]), "/graphql", headers)


def test_graphiql_response_has_the_page_and_its_headers(fake_assets: Path) -> None:
    response = asyncio.run(_serve_page(fake_assets, {"host": "strongroom.example:8000"}))

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.text == render_graphiql_page(assets_dir=fake_assets)
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["content-security-policy"] == content_security_policy("strongroom.example:8000")
    assert "set-cookie" not in response.headers


def test_graphiql_response_before_the_build_allows_only_its_own_style(tmp_path: Path) -> None:
    response = asyncio.run(_serve_page(tmp_path / "not-built"))

    assert response.status_code == 200
    assert "not built" in response.text
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-content-type-options"] == "nosniff"
    csp = _csp(response.headers["content-security-policy"])
    refs = _references(response.text)
    assert len(refs.styles) == 1
    assert csp["style-src"] == [_sha256_source(refs.styles[0])]
    assert csp["default-src"] == ["'none'"]
    assert "script-src" not in csp
    assert csp["frame-ancestors"] == ["'none'"]


def test_unbuilt_assets_give_build_instructions(tmp_path: Path) -> None:
    assert not assets_built(tmp_path)
    assert not assets_built(tmp_path / "missing")

    page = render_graphiql_page(assets_dir=tmp_path)
    refs = _references(page)

    assert "not built" in page
    assert "make graphiql" in page
    assert "python graphiql/build.py" in page
    assert "POST" in page
    assert not any(tag == "script" for tag, _ in refs.tags)
    assert refs.urls == []
    assert "://" not in page


def test_render_graphiql_page_still_returns_the_page(fake_assets: Path) -> None:
    # graphql_api/app.py serves this string until it calls graphiql_response().
    page = render_graphiql_page(assets_dir=fake_assets)

    assert page.startswith("<!doctype html>")
    assert 'id="graphiql"' in page


def test_build_script_copies_the_files_the_page_needs() -> None:
    build = runpy.run_path(str(BUILD_SCRIPT), run_name="graphiql_build")

    required = {asset.served_as for asset in build["ASSETS"] if asset.required}
    optional = {asset.served_as for asset in build["ASSETS"] if not asset.required}
    page_files = set(build["PAGE_FILES"])
    assert required | page_files == set(REQUIRED_ASSETS)
    assert not required & page_files
    assert optional == {EXPLORER_CSS}
    assert page_files == {PAGE_JS, PAGE_CSS, FAVICON}
    assert all((PAGE_SOURCES / name).is_file() for name in page_files)
    assert build["DEST"] == ASSETS_DIR


@requires_built_assets
def test_built_page_files_are_the_current_sources() -> None:
    for name in (PAGE_JS, PAGE_CSS, FAVICON):
        assert (ASSETS_DIR / name).read_bytes() == (PAGE_SOURCES / name).read_bytes(), (
            f"{ASSETS_DIR / name} is stale: run `make graphiql` (or `python graphiql/build.py`)"
        )


@requires_built_assets
def test_every_asset_the_built_page_references_exists() -> None:
    refs = _references(render_graphiql_page())

    assert refs.urls
    for url in refs.urls:
        _assert_same_origin(url)
        assert url.startswith(f"{ASSET_ROUTE_PREFIX}/"), url
        name = url.removeprefix(f"{ASSET_ROUTE_PREFIX}/")
        assert (ASSETS_DIR / name).is_file(), f"{url} is referenced but {name} is not built"


@requires_built_assets
def test_built_assets_match_manifest_and_strawberrys_pinned_hashes() -> None:
    import strawberry

    manifest = json.loads((ASSETS_DIR / "manifest.json").read_text(encoding="utf-8"))
    files: dict[str, dict[str, object]] = manifest["files"]
    for name, entry in files.items():
        assert hashlib.sha256((ASSETS_DIR / name).read_bytes()).hexdigest() == entry["sha256"]

    # Strawberry's CDN page pins each file with a sha384 integrity hash. Where
    # we serve the same package version, the bytes must be identical.
    strawberry_page = Path(strawberry.__file__).parent / "static" / "graphiql.html"
    pinned = {
        urlsplit(url).path.lstrip("/"): digest
        for tag, attrs in _references(strawberry_page.read_text(encoding="utf-8")).tags
        if (url := attrs.get("src") or attrs.get("href")) and (digest := attrs.get("integrity"))
    }
    compared = 0
    for name, entry in files.items():
        expected = pinned.get(str(entry["source"]))
        if expected is None:
            continue
        actual = hashlib.sha384((ASSETS_DIR / name).read_bytes()).digest()
        assert expected == "sha384-" + base64.b64encode(actual).decode(), name
        compared += 1
    if compared == 0:
        pytest.skip("Strawberry's page pins other versions than graphiql/package.json")


async def _get(app: Starlette, path: str, headers: dict[str, str] | None = None) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        return await client.get(path, headers=headers)


def test_asset_routes_serve_javascript(tmp_path: Path) -> None:
    (tmp_path / "react.production.min.js").write_text("window.React = {};\n", encoding="utf-8")
    app = Starlette(routes=graphiql_asset_routes(tmp_path))

    response = asyncio.run(_get(app, f"{ASSET_ROUTE_PREFIX}/react.production.min.js"))

    assert response.status_code == 200
    assert "javascript" in response.headers["content-type"]
    assert response.text == "window.React = {};\n"
    # Public bytes, cacheable, but revalidated so an upgrade shows at once.
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cross-origin-resource-policy"] == "same-origin"
    assert response.headers["etag"]


def test_asset_routes_revalidate_with_etag(tmp_path: Path) -> None:
    (tmp_path / PAGE_JS).write_text("void 0;\n", encoding="utf-8")
    app = Starlette(routes=graphiql_asset_routes(tmp_path))
    url = f"{ASSET_ROUTE_PREFIX}/{PAGE_JS}"

    first = asyncio.run(_get(app, url))
    again = asyncio.run(_get(app, url, {"if-none-match": first.headers["etag"]}))

    assert again.status_code == 304
    assert again.headers["cache-control"] == "no-cache"


def test_asset_routes_serve_the_favicon(tmp_path: Path) -> None:
    (tmp_path / FAVICON).write_bytes((PAGE_SOURCES / FAVICON).read_bytes())
    app = Starlette(routes=graphiql_asset_routes(tmp_path))

    response = asyncio.run(_get(app, f"{ASSET_ROUTE_PREFIX}/{FAVICON}"))

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("image/svg+xml")
    assert response.content.startswith(b"<svg")
    assert b"<script" not in response.content


def test_asset_routes_start_without_the_directory(tmp_path: Path) -> None:
    app = Starlette(routes=graphiql_asset_routes(tmp_path / "not-built"))

    response = asyncio.run(_get(app, f"{ASSET_ROUTE_PREFIX}/graphiql.min.js"))

    assert response.status_code == 404


@requires_built_assets
def test_asset_routes_serve_the_built_files() -> None:
    app = Starlette(routes=graphiql_asset_routes())

    response = asyncio.run(_get(app, f"{ASSET_ROUTE_PREFIX}/graphiql.min.js"))

    assert response.status_code == 200
    assert "javascript" in response.headers["content-type"]
    assert response.content == (ASSETS_DIR / "graphiql.min.js").read_bytes()
