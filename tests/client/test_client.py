"""The Python client without a server: its configuration, how answers map to
results and errors (httpx.MockTransport), the sync and async twins, and
that it imports nothing of the server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from graphql_api.client import (
    AsyncStrongroom,
    ClientConfigError,
    ClientSettings,
    SecretValue,
    Strongroom,
    StrongroomAPIError,
    normalize_url,
)

TOKEN = "sr_" + "B" * 43
VALUE = "sk_live_the-value-itself"


# -- configuration -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "base"),
    [
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000"),
        ("http://127.0.0.1:8000/", "http://127.0.0.1:8000"),
        # As `strongroom serve` prints it: serving on http://HOST:PORT/graphql
        ("http://127.0.0.1:8000/graphql", "http://127.0.0.1:8000"),
        ("  https://vault.example/strongroom/graphql/  ", "https://vault.example/strongroom"),
    ],
)
def test_urls_as_printed_by_the_server_work(given: str, base: str) -> None:
    assert normalize_url(given) == base
    with Strongroom(given, TOKEN) as client:
        assert client.endpoint == base + "/graphql"
        assert client.ws_endpoint == base.replace("http", "ws", 1) + "/graphql"


@pytest.mark.parametrize("bad", ["127.0.0.1:8000", "ftp://x", "http://", "http://h/graphql?x=1"])
def test_bad_urls_name_the_variable(bad: str) -> None:
    with pytest.raises(ClientConfigError) as raised:
        ClientSettings.load({"STRONGROOM_URL": bad, "STRONGROOM_TOKEN": TOKEN})
    assert raised.value.variable == "STRONGROOM_URL"


def test_environment_needs_a_token_and_defaults_the_url() -> None:
    with pytest.raises(ClientConfigError) as raised:
        ClientSettings.load({"STRONGROOM_URL": "http://example.test"})
    assert raised.value.variable == "STRONGROOM_TOKEN"
    settings = ClientSettings.load({"STRONGROOM_TOKEN": TOKEN})
    assert settings.url == "http://127.0.0.1:8000" and TOKEN not in repr(settings)


def test_a_dotenv_in_the_working_directory_is_never_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".env").write_text("STRONGROOM_TOKEN=sr_from_an_apps_env_file\nSTRONGROOM_URL=http://wrong\n")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ClientConfigError):
        ClientSettings.load({})


def _profile(path: Path, text: str, mode: int = 0o600) -> Path:
    path.write_text(text)
    path.chmod(mode)
    return path


def test_profile_by_path_and_by_name(tmp_path: Path) -> None:
    profile = _profile(tmp_path / "prod.toml", f'url = "https://prod.example/graphql"\ntoken = "{TOKEN}"\n')
    settings = ClientSettings.load({"STRONGROOM_TOKEN": "sr_env", "STRONGROOM_URL": "http://env"}, str(profile))
    assert (settings.url, settings.token, settings.source) == ("https://prod.example", TOKEN, str(profile))
    by_name = ClientSettings.load({"STRONGROOM_PROFILE_DIR": str(tmp_path)}, "prod")
    assert by_name.token == TOKEN
    xdg = tmp_path / "xdg" / "strongroom" / "profiles"
    xdg.mkdir(parents=True)
    _profile(xdg / "ci.toml", 'url = "http://ci:8000"\n')  # no token: it comes from the environment
    from_xdg = ClientSettings.load(
        {"XDG_CONFIG_HOME": str(tmp_path / "xdg"), "STRONGROOM_PROFILE": "ci", "STRONGROOM_TOKEN": TOKEN}
    )
    assert (from_xdg.url, from_xdg.token) == ("http://ci:8000", TOKEN)


@pytest.mark.parametrize(
    ("text", "mode", "message"),
    [
        (f'token = "{TOKEN}"\n', 0o644, "readable by others; run `chmod 600"),
        (f'token = "{TOKEN}"\nurl = [1]\n', 0o600, "`url` must be a string"),
        (f'token = "{TOKEN}"\nuser = "x"\n', 0o600, "unknown key(s) user"),
        (f'token = "{TOKEN}\n', 0o600, "is not a TOML file"),
    ],
)
def test_bad_profiles_are_refused_without_echoing_them(tmp_path: Path, text: str, mode: int, message: str) -> None:
    profile = _profile(tmp_path / "p.toml", text, mode)
    with pytest.raises(ClientConfigError) as raised:
        ClientSettings.load({}, str(profile))
    assert raised.value.variable == "--profile" and message in raised.value.message
    assert TOKEN not in str(raised.value)


def test_a_missing_profile_says_where_it_looked(tmp_path: Path) -> None:
    with pytest.raises(ClientConfigError, match=r"nope\.toml does not exist"):
        ClientSettings.load({"STRONGROOM_PROFILE_DIR": str(tmp_path)}, "nope")


# -- answers and errors ---------------------------------------------------------------------


def _answer(data: dict[str, Any] | None = None, errors: list[dict[str, Any]] | None = None) -> httpx.Response:
    body: dict[str, Any] = {"data": data}
    if errors is not None:
        body["errors"] = errors
    return httpx.Response(200, json=body)


def _values_answer(request: httpx.Request) -> httpx.Response:
    return _answer({"secretValues": [{"secretId": "s1", "name": "STRIPE_API_KEY", "version": 3, "value": VALUE}]})


def test_error_code_field_and_redaction() -> None:
    def echo(request: httpx.Request) -> httpx.Response:
        message = f"name: token {TOKEN} is not allowed"
        return _answer(None, [{"message": message, "extensions": {"code": "BAD_USER_INPUT", "field": "name"}}])

    with (
        Strongroom("http://strongroom.test", TOKEN, transport=httpx.MockTransport(echo)) as client,
        pytest.raises(StrongroomAPIError) as raised,
    ):
        client.viewer()
    assert (raised.value.code, raised.value.field) == ("BAD_USER_INPUT", "name")
    assert TOKEN not in str(raised.value) + repr(raised.value) and "**********" in raised.value.message


def test_inject_environment_with_only_and_prefix() -> None:
    seen: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        return _values_answer(request)

    environ: dict[str, str] = {"KEEP": "1"}
    with Strongroom("http://strongroom.test/graphql", TOKEN, transport=httpx.MockTransport(handler)) as client:
        names = client.inject_environment("payments", only=["STRIPE_API_KEY"], prefix="SECRET_", environ=environ)
    assert names == ["SECRET_STRIPE_API_KEY"]
    assert environ == {"KEEP": "1", "SECRET_STRIPE_API_KEY": VALUE}
    assert seen[0]["variables"] == {"w": "payments", "names": ["STRIPE_API_KEY"]}
    with pytest.raises(ClientConfigError):
        Strongroom("http://x", TOKEN, transport=httpx.MockTransport(handler)).environment("payments", prefix="1BAD")


def test_a_value_with_nul_cannot_become_an_environment_variable() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return _answer({"secretValues": [{"secretId": "s", "name": "BIN", "version": 1, "value": "a\0b"}]})

    with (
        Strongroom("http://x", TOKEN, transport=httpx.MockTransport(handler)) as client,
        pytest.raises(ClientConfigError) as raised,
    ):
        client.environment("w")
    assert raised.value.variable == "BIN" and "a\0b" not in str(raised.value)


@pytest.mark.parametrize(
    "respond",
    [
        lambda r: (_ for _ in ()).throw(httpx.ConnectError("refused", request=r)),
        lambda r: httpx.Response(502, text="<html>bad gateway</html>"),
        lambda r: httpx.Response(200, json={"nothing": True}),
    ],
    ids=["refused", "bad-gateway", "not-graphql"],
)
def test_transport_failures_are_unavailable(respond: Any) -> None:
    with (
        Strongroom("http://x", TOKEN, transport=httpx.MockTransport(respond)) as client,
        pytest.raises(StrongroomAPIError) as raised,
    ):
        client.workspaces()
    assert raised.value.code == "UNAVAILABLE" and TOKEN not in str(raised.value)


def test_import_sends_every_option_and_reads_the_plan() -> None:
    seen: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        plan = [{"name": "A", "line": 1, "action": "UNCHANGED", "secretType": "API_KEY", "rotationPolicy": "MANUAL"}]
        return _answer({"importSecrets": {"created": 0, "updated": 0, "skipped": 0, "unchanged": 1, "plan": plan}})

    with Strongroom("http://x", TOKEN, transport=httpx.MockTransport(handler)) as client:
        result = client.import_secrets(
            "w", "A=1\n", overwrite=True, dry_run=True, secret_type="API_KEY", rotation_policy="MANUAL", tags=["t"]
        )
    assert result.unchanged == 1 and result.plan[0].action == "UNCHANGED"
    assert seen[0]["variables"] == {
        "w": "w",
        "dotenv": "A=1\n",
        "overwrite": True,
        "dryRun": True,
        "secretType": "API_KEY",
        "rotationPolicy": "MANUAL",
        "tags": ["t"],
    }


async def _async_values() -> tuple[list[SecretValue], dict[str, str]]:
    async with AsyncStrongroom("http://x/graphql", TOKEN, transport=httpx.MockTransport(_values_answer)) as client:
        values = await client.secret_values("payments")
        environ: dict[str, str] = {}
        await client.inject_environment("payments", environ=environ)
    return values, environ


def test_the_async_client_answers_the_same() -> None:
    import asyncio

    values, environ = asyncio.run(_async_values())
    assert values == [SecretValue("s1", "STRIPE_API_KEY", 3, VALUE)]
    assert environ == {"STRIPE_API_KEY": VALUE}
    assert VALUE not in repr(values)


def test_sync_and_async_clients_have_the_same_methods() -> None:
    def public(cls: type) -> set[str]:
        return {name for name in dir(cls) if not name.startswith("_")}

    assert public(Strongroom) - {"close"} == public(AsyncStrongroom) - {"aclose"}


def test_the_client_imports_nothing_of_the_server() -> None:
    # An application installs the client and uses it without the ORM, plugins or server settings.
    probe = (
        "import sys, graphql_api.client, graphql_api.client.dotenv, graphql_api.client.checkpoint;"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('tortoise', 'pluggy', 'plugins', 'models', "
        "'starlette', 'strawberry', 'uvicorn', 'aerich', 'boto3', 'hvac', 'dotenv') or m in ("
        "'graphql_api.settings', 'graphql_api.app', 'graphql_api.errors', 'graphql_api.services'));"
        "print(','.join(bad))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, env={**os.environ}, timeout=60
    )
    assert result.stdout.strip() == "", result.stdout


def test_reprs_hide_token_and_values() -> None:
    client = Strongroom("http://x", TOKEN)
    assert repr(client) == "Strongroom(url='http://x')"
    value = SecretValue(secret_id=str(uuid.uuid4()), name="N", version=1, value=VALUE)
    assert VALUE not in repr(value) + str(value)
    client.close()
