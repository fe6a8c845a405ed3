"""The offline GraphiQL page: same-origin assets only, and they are served.

Why: Strawberry's own page loads GraphiQL from unpkg.com, which is blank in
air-gapped sites. These tests pin down that our page references nothing
outside this server, that everything it references is built and served, and
that an unbuilt checkout gets instructions instead of a blank page.
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

from graphql_api.graphiql import (
    ASSET_ROUTE_PREFIX,
    ASSETS_DIR,
    EXPLORER_CSS,
    REQUIRED_ASSETS,
    assets_built,
    graphiql_asset_routes,
    render_graphiql_page,
)

REPO_ROOT = Path(__file__).resolve().parent.parent
BUILD_SCRIPT = REPO_ROOT / "graphiql" / "build.py"
NOT_BUILT_REASON = (
    f"GraphiQL assets are not built in {ASSETS_DIR}; run `make graphiql` "
    "(or `python graphiql/build.py`) to run this test"
)

requires_built_assets = pytest.mark.skipif(not assets_built(), reason=NOT_BUILT_REASON)


class _References(HTMLParser):
    """Collects every src/href value and all CSS text (for url(...))."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.css: list[str] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        self.tags.append((tag, attributes))
        for name, value in attrs:
            if name in ("src", "href"):
                self.urls.append(value or "")
            elif name == "style" and value:
                self.css.append(value)
        self._in_style = tag == "style"

    def handle_endtag(self, tag: str) -> None:
        if tag == "style":
            self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.css.append(data)


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

    expected = {
        f"{ASSET_ROUTE_PREFIX}/{name}" for name in (*REQUIRED_ASSETS, EXPLORER_CSS)
    }
    assert set(refs.urls) == expected


def test_explorer_css_is_optional(fake_assets: Path) -> None:
    (fake_assets / EXPLORER_CSS).unlink()

    page = render_graphiql_page(assets_dir=fake_assets)

    assert assets_built(fake_assets)
    assert EXPLORER_CSS not in page
    assert "GraphiQLPluginExplorer.explorerPlugin()" in page


def test_page_keeps_strawberry_fetcher_and_offers_bearer_header(
    fake_assets: Path,
) -> None:
    page = render_graphiql_page(assets_dir=fake_assets)

    assert 'window.location.href.split("?")[0]' in page
    assert "const SUBSCRIPTIONS_ENABLED = true;" in page
    assert "isHeadersEditorEnabled: true" in page
    assert "shouldPersistHeaders: false" in page
    # Inline JSON escapes "<" so "</script>" can never close the element early.
    assert '"{\\n  \\"Authorization\\": \\"Bearer \\u003ctoken\\u003e\\"\\n}"' in page
    assert "parameters.headers" not in page


def test_subscriptions_can_be_disabled(fake_assets: Path) -> None:
    page = render_graphiql_page(subscriptions_enabled=False, assets_dir=fake_assets)

    assert "const SUBSCRIPTIONS_ENABLED = false;" in page


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


def test_build_script_copies_the_files_the_page_needs() -> None:
    build = runpy.run_path(str(BUILD_SCRIPT), run_name="graphiql_build")

    required = {asset.served_as for asset in build["ASSETS"] if asset.required}
    optional = {asset.served_as for asset in build["ASSETS"] if not asset.required}
    assert required == set(REQUIRED_ASSETS)
    assert optional == {EXPLORER_CSS}
    assert build["DEST"] == ASSETS_DIR


@requires_built_assets
def test_every_asset_the_built_page_references_exists() -> None:
    refs = _references(render_graphiql_page())

    assert refs.urls
    for url in refs.urls:
        _assert_same_origin(url)
        assert url.startswith(f"{ASSET_ROUTE_PREFIX}/"), url
        name = url.removeprefix(f"{ASSET_ROUTE_PREFIX}/")
        assert (ASSETS_DIR / name).is_file(), (
            f"{url} is referenced but {name} is not built"
        )


@requires_built_assets
def test_built_assets_match_manifest_and_strawberrys_pinned_hashes() -> None:
    import strawberry

    manifest = json.loads((ASSETS_DIR / "manifest.json").read_text(encoding="utf-8"))
    files: dict[str, dict[str, object]] = manifest["files"]
    for name, entry in files.items():
        assert (
            hashlib.sha256((ASSETS_DIR / name).read_bytes()).hexdigest()
            == entry["sha256"]
        )

    # Strawberry's CDN page pins each file with a sha384 integrity hash. Where
    # we serve the same package version, the bytes must be identical.
    strawberry_page = Path(strawberry.__file__).parent / "static" / "graphiql.html"
    pinned = {
        urlsplit(url).path.lstrip("/"): digest
        for tag, attrs in _references(strawberry_page.read_text(encoding="utf-8")).tags
        if (url := attrs.get("src") or attrs.get("href"))
        and (digest := attrs.get("integrity"))
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


async def _get(app: Starlette, path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver"
    ) as client:
        return await client.get(path)


def test_asset_routes_serve_javascript(tmp_path: Path) -> None:
    (tmp_path / "react.production.min.js").write_text(
        "window.React = {};\n", encoding="utf-8"
    )
    app = Starlette(routes=graphiql_asset_routes(tmp_path))

    response = asyncio.run(_get(app, f"{ASSET_ROUTE_PREFIX}/react.production.min.js"))

    assert response.status_code == 200
    assert "javascript" in response.headers["content-type"]
    assert response.text == "window.React = {};\n"


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
