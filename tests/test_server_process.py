"""The real server, as operators start it: `strongroom serve` in a subprocess.

Why: the in-process tests (tests/conftest.py) skip what only a real process
shows: the superadmin token announced once on first start, graceful SIGTERM,
data surviving a restart byte for byte, no plaintext value on disk or in the
logs, the keyring's file mode, and the offline GraphiQL page over real HTTP.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import secrets
import shutil
import stat
import subprocess
import sys
import uuid
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
import pytest

from graphql_api.graphiql import ASSET_ROUTE_PREFIX, ASSETS_DIR
from tests import pg
from tests.process import GENERATED_TOKEN, ServerProcess, clean_environ, graphql, start_healthy

REPO_ROOT = Path(__file__).resolve().parent.parent
BUILD_SCRIPT = REPO_ROOT / "graphiql" / "build.py"
MANIFEST = ASSETS_DIR / "manifest.json"
WORKSPACE = "default"

CREATE_SECRET = """
mutation Create($ws: ID!, $input: CreateSecretInput!) {
  createSecret(workspaceId: $ws, input: $input) { id name currentVersion }
}
"""
SECRET_VALUE = """
query Value($ws: ID!, $id: ID!) {
  secretValue(workspaceId: $ws, id: $id) { secretId name version value }
}
"""
SECRET_VALUES = """
query Values($ws: ID!, $names: [String!]) {
  secretValues(workspaceId: $ws, names: $names) { secretId name version value }
}
"""
VIEWER = "{ viewer { name isSuperadmin } }"


def tricky_values(marker: str) -> dict[str, str]:
    """Secret name -> value; every non-empty value contains `marker`."""
    return {
        "PLAIN_MARKER": marker,
        "CRLF_MULTILINE": f"first line\r\n{marker}-crlf\r\n\r\nlast line without newline",
        "LF_AND_CR": f"unix\nold mac\rwindows\r\n{marker}-mixed\n",
        "QUOTES": f"single ' double \" backtick ` {marker}-quotes '\"'",
        "BACKSLASHES": f"C:\\path\\to\\{marker}-backslash \\n is not a newline \\\\ \\u0041 \\",
        "EMOJI": f"🔐 {marker}-emoji 🗝️ ünïcödé 漢字 👩‍👩‍👧 \u200b zero-width",
        "WHITESPACE": f"  \t leading and trailing {marker}-space \t  ",
        "JSON_LIKE": f'{{"key": "{marker}-json", "list": [1, 2], "nested": {{"a": null}}}}',
        "EMPTY": "",
    }


def _create_all(client: httpx.Client, values: dict[str, str]) -> dict[str, str]:
    ids: dict[str, str] = {}
    for name, value in values.items():
        created = graphql(
            client,
            CREATE_SECRET,
            {"ws": WORKSPACE, "input": {"name": name, "secretType": "GENERIC", "value": value}},
        )["createSecret"]
        assert created["name"] == name
        assert created["currentVersion"] == 1
        ids[name] = created["id"]
    return ids


def _assert_all_readable(client: httpx.Client, values: dict[str, str], ids: dict[str, str]) -> None:
    for name, secret_id in ids.items():
        got = graphql(client, SECRET_VALUE, {"ws": WORKSPACE, "id": secret_id})["secretValue"]
        assert got["name"] == name
        assert got["secretId"] == secret_id
        assert got["value"].encode("utf-8") == values[name].encode("utf-8"), name
    bulk = graphql(client, SECRET_VALUES, {"ws": WORKSPACE, "names": sorted(values)})["secretValues"]
    assert {row["name"]: row["value"] for row in bulk} == values
    assert {row["name"]: row["secretId"] for row in bulk} == ids


def _the_generated_token(output: str) -> str:
    found = GENERATED_TOKEN.findall(output)
    assert len(found) == 1, f"expected the superadmin token exactly once, found {len(found)}:\n{output}"
    token: str = found[0]
    assert output.count(token) == 1
    return token


def _files_under(directory: Path) -> list[Path]:
    return sorted(path for path in directory.rglob("*") if path.is_file())


def _assert_not_in_files(directory: Path, needles: list[bytes]) -> None:
    files = _files_under(directory)
    assert files, f"no files under {directory}"
    for path in files:
        content = path.read_bytes()
        for needle in needles:
            assert needle not in content, f"plaintext {needle!r} found in {path}"


def _stop(server: ServerProcess) -> str:
    code = server.stop()
    output = server.output()
    # A drained stop exits 0 (uvicorn alone would re-raise the signal: -15).
    assert code == 0, f"strongroom serve exited with {code} after SIGTERM; output:\n{output}"
    assert "Application shutdown complete" in output, output
    assert "Traceback" not in output, output
    return output


def test_secrets_survive_restart_byte_exact_and_never_in_plaintext(tmp_path: Path, served: list[ServerProcess]) -> None:
    data_dir = tmp_path / "data"
    env = clean_environ(STRONGROOM_DATA_DIR=str(data_dir))
    marker = f"MARKER-{uuid.uuid4()}"
    values = tricky_values(marker)
    needles = [marker.encode("utf-8")] + [v.encode("utf-8") for v in values.values() if len(v) >= 8]

    first = start_healthy(served, tmp_path, env, "run1.log")
    token = _the_generated_token(first.output())
    with first.client(token) as client:
        assert graphql(client, VIEWER)["viewer"] == {"name": "admin", "isSuperadmin": True}
        ids = _create_all(client, values)
        _assert_all_readable(client, values, ids)
        ready = client.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert ready.json()["database"] == "ok"
        assert ready.json()["status"] == "ready"
    _assert_not_in_files(data_dir, needles)  # while running: the WAL is still there
    first_output = _stop(first)

    second = start_healthy(served, tmp_path, env, "run2.log")
    with second.client(token) as client:
        _assert_all_readable(client, values, ids)
    second_output = _stop(second)
    assert token not in second_output
    assert not GENERATED_TOKEN.findall(second_output), second_output

    _assert_not_in_files(data_dir, needles)
    assert (data_dir / "strongroom.db").is_file()
    combined = (first_output + second_output).encode("utf-8")
    for needle in needles:
        assert needle not in combined, f"plaintext {needle!r} in the server output"
    keyring = data_dir / "fernet.keys"
    assert stat.S_IMODE(keyring.stat().st_mode) == 0o600, oct(keyring.stat().st_mode)


def test_bootstrap_token_from_environment_is_not_printed_and_works(tmp_path: Path, served: list[ServerProcess]) -> None:
    fixed = "sr_" + secrets.token_urlsafe(32)
    env = clean_environ(STRONGROOM_DATA_DIR=str(tmp_path / "data"), STRONGROOM_BOOTSTRAP_TOKEN=fixed)
    server = start_healthy(served, tmp_path, env, "run.log")
    with server.client(fixed) as client:
        assert graphql(client, VIEWER)["viewer"] == {"name": "admin", "isSuperadmin": True}
    with server.client("sr_" + secrets.token_urlsafe(32)) as client:
        body = client.post("/graphql", json={"query": VIEWER}).json()
        assert body.get("errors"), body
    output = _stop(server)
    assert fixed not in output
    assert not GENERATED_TOKEN.findall(output), output


class _Assets(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[str | None] = []
        self.stylesheets: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "script":
            self.scripts.append(attributes.get("src"))
        elif tag == "link" and attributes.get("rel") == "stylesheet":
            self.stylesheets.append(attributes.get("href") or "")


@pytest.fixture(scope="session")
def graphiql_assets() -> dict[str, Any]:
    """GraphiQL's built assets (manifest), building them once if needed."""
    if not MANIFEST.is_file():
        if shutil.which("npm") is None and not (BUILD_SCRIPT.parent / "node_modules").is_dir():
            pytest.skip(f"GraphiQL assets are not built in {ASSETS_DIR} and npm is not installed to build them")
        result = subprocess.run(
            [sys.executable, str(BUILD_SCRIPT)],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if result.returncode != 0 or not MANIFEST.is_file():
            last = (result.stderr.strip().splitlines() or ["no output"])[-1]
            pytest.skip(f"`python graphiql/build.py` could not build GraphiQL's assets: {last}")
    manifest: dict[str, Any] = json.loads(MANIFEST.read_text("utf-8"))
    return manifest


def test_graphiql_page_and_its_assets_are_served_by_the_server(
    tmp_path: Path, served: list[ServerProcess], graphiql_assets: dict[str, Any]
) -> None:
    env = clean_environ(STRONGROOM_DATA_DIR=str(tmp_path / "data"))
    server = start_healthy(served, tmp_path, env, "run.log")
    with server.client() as client:
        page = client.get("/graphql", headers={"accept": "text/html"})
        assert page.status_code == 200, page.text
        assert page.headers["content-type"].startswith("text/html")
        parser = _Assets()
        parser.feed(page.text)
        parser.close()
        external = [src for src in parser.scripts if src is not None]
        assert external, page.text
        prefix = ASSET_ROUTE_PREFIX + "/"
        assert all(src.startswith(prefix) for src in external), external
        assert all(href.startswith(prefix) for href in parser.stylesheets), parser.stylesheets
        name = external[0].removeprefix(prefix)
        asset = client.get(external[0])
        assert asset.status_code == 200, external[0]
        assert hashlib.sha256(asset.content).hexdigest() == graphiql_assets["files"][name]["sha256"]
    _stop(server)


@pytest.mark.postgres
def test_secrets_survive_restart_on_postgresql(tmp_path: Path, served: list[ServerProcess]) -> None:
    asyncio.run(pg.require_postgres())
    name = asyncio.run(pg.create_database("sr_proc"))
    try:
        env = clean_environ(STRONGROOM_DATA_DIR=str(tmp_path / "data"), DATABASE_URL=pg.database_url(name))
        marker = f"MARKER-{uuid.uuid4()}"
        value = f'postgres\r\n{marker} "quoted" \\ 🔐'

        first = start_healthy(served, tmp_path, env, "run1.log")
        token = _the_generated_token(first.output())
        with first.client(token) as client:
            ids = _create_all(client, {"PG_SECRET": value})
            _assert_all_readable(client, {"PG_SECRET": value}, ids)
            assert client.get("/readyz").json()["database"] == "ok"
        first_output = _stop(first)

        second = start_healthy(served, tmp_path, env, "run2.log")
        with second.client(token) as client:
            _assert_all_readable(client, {"PG_SECRET": value}, ids)
        second_output = _stop(second)
        assert token not in second_output
        assert marker not in first_output + second_output
    finally:
        for server in served:
            server.kill()  # disconnect before the forced drop
        asyncio.run(pg.drop_database(name))
    assert not os.path.exists(tmp_path / "data" / "strongroom.db"), "PostgreSQL run wrote a SQLite database"
