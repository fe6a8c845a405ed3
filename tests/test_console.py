"""The console as files and headers: how /console is served, and that its build is tied to the schema.

The browser tests (tests/console/) drive the built console; these check what
they cannot see directly: the exact CSP and page headers, the behaviour
before the console is built, and that a schema change removing a field the
console uses fails the console's build (codegen validates every operation
against schema.graphql).
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from graphql_api.app import create_app
from graphql_api.console import CONSOLE_DIR, console_built, console_routes, content_security_policy
from graphql_api.settings import Settings

REPO_ROOT = Path(__file__).resolve().parent.parent
CONSOLE_SOURCE = REPO_ROOT / "console"
SCHEMA = REPO_ROOT / "schema.graphql"


def _client(console_dir: Path) -> httpx.AsyncClient:
    app = Starlette(routes=console_routes(console_dir))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1:8000")


@pytest.fixture
def built(tmp_path: Path) -> Path:
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_text('<!doctype html><script type="module" src="/console/assets/app.js"></script>')
    (tmp_path / "assets" / "app.js").write_text("console.log(1)")
    return tmp_path


@pytest.mark.asyncio
async def test_the_page_is_served_under_a_self_only_csp_and_never_cached(built: Path) -> None:
    async with _client(built) as client:
        response = await client.get("/console/")
    assert response.status_code == 200
    csp = response.headers["content-security-policy"]
    directives = dict(part.strip().split(" ", 1) for part in csp.split(";"))
    assert directives["default-src"] == "'none'"
    for name in ("script-src", "style-src", "img-src", "font-src"):
        assert directives[name] == "'self'", name
    assert directives["connect-src"] == "'self' ws://127.0.0.1:8000 wss://127.0.0.1:8000"
    assert directives["frame-ancestors"] == "'none'" and directives["form-action"] == "'none'"
    assert "unsafe" not in csp and "data:" not in csp and "*" not in csp
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "no-referrer"


@pytest.mark.asyncio
async def test_bare_path_redirects_and_assets_are_served_same_origin(built: Path) -> None:
    async with _client(built) as client:
        bare = await client.get("/console")
        asset = await client.get("/console/assets/app.js")
        missing = await client.get("/console/assets/nope.js")
    assert bare.status_code == 308 and bare.headers["location"] == "/console/"
    assert asset.status_code == 200 and asset.headers["cross-origin-resource-policy"] == "same-origin"
    assert missing.status_code == 404


@pytest.mark.parametrize("host", ['evil.example"; script-src *', "a b", "*", "x;y"])
def test_a_hostile_host_header_is_never_quoted_into_the_csp(host: str) -> None:
    csp = content_security_policy(host)
    assert "connect-src 'self';" in csp
    assert "evil" not in csp and "*" not in csp


@pytest.mark.asyncio
async def test_before_the_build_it_says_how_to_build_it(tmp_path: Path) -> None:
    async with _client(tmp_path / "absent") as client:
        page = await client.get("/console/")
        asset = await client.get("/console/assets/app.js")
    assert page.status_code == 503 and "make console" in page.text
    assert page.headers["content-security-policy"].startswith("default-src 'none'")
    assert asset.status_code == 404


def test_the_production_build_loads_only_from_its_own_origin() -> None:
    if not console_built():
        pytest.skip(f"the console is not built in {CONSOLE_DIR} (make console)")
    index = (CONSOLE_DIR / "index.html").read_text()
    sources = re.findall(r'(?:src|href)="([^"]+)"', index)
    assert sources and all(source.startswith("/console/") for source in sources), sources
    assert "<script>" not in index and "style=" not in index
    assert not [path for path in CONSOLE_DIR.rglob("*.map")], "source maps are not shipped"


def _npm() -> str:
    npm = shutil.which("npm")
    if npm is None or not (CONSOLE_SOURCE / "node_modules" / ".bin" / "graphql-codegen").exists():
        reason = "npm or the console's node_modules are missing (make console)"
        if os.environ.get("STRONGROOM_REQUIRE_NODE") == "1":
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    return npm


def _codegen_against(schema_text: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """Run the console's codegen on a copy of its sources against `schema_text`."""
    copy = tmp_path / "console"
    shutil.copytree(CONSOLE_SOURCE, copy, ignore=shutil.ignore_patterns("node_modules", "gql"))
    (copy / "node_modules").symlink_to(CONSOLE_SOURCE / "node_modules")
    (tmp_path / "schema.graphql").write_text(schema_text)
    return subprocess.run(
        [_npm(), "run", "--silent", "codegen"], cwd=copy, capture_output=True, text=True, timeout=300, check=False
    )


@pytest.mark.slow
def test_removing_a_field_the_console_uses_fails_its_build(tmp_path: Path) -> None:
    schema = SCHEMA.read_text()
    principal = re.search(r"type Principal \{.*?\n\}", schema, re.S)
    assert principal is not None and "isSuperadmin: Boolean!" in principal.group(0)
    without = schema.replace(principal.group(0), principal.group(0).replace("  isSuperadmin: Boolean!\n", ""))
    assert without != schema

    intact = _codegen_against(schema, tmp_path / "intact")
    assert intact.returncode == 0, intact.stdout + intact.stderr
    broken = _codegen_against(without, tmp_path / "broken")
    assert broken.returncode != 0
    assert 'Cannot query field "isSuperadmin"' in broken.stdout + broken.stderr


@pytest.mark.asyncio
async def test_strongroom_console_false_serves_no_console(settings: Settings) -> None:
    for enabled, status in ((True, {200, 503}), (False, {404})):
        app = create_app(
            dataclasses.replace(settings, console_enabled=enabled), migrate_on_start=False, announce=lambda _m: None
        )
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
                response = await client.get("/console/")
        assert response.status_code in status, (enabled, response.status_code)
