"""Refusals: every bad input is BAD_USER_INPUT naming its field and changes
nothing; authentication is required; unexpected errors are masked; no error
echoes a value."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from models import Secret, SecretAudit, SecretVersion
from tests.harness import Server

pytestmark = pytest.mark.asyncio

CREATE = """mutation($ws: ID!, $input: CreateSecretInput!) { createSecret(workspaceId: $ws, input: $input) { id } }"""
UPDATE = """mutation($id: ID!, $input: UpdateSecretInput!) { updateSecret(workspaceId: "default", id: $id, input: $input) { id } }"""
VALID = {"name": "OK_NAME", "secretType": "GENERIC", "value": "v"}


async def counts() -> tuple[int, int, int]:
    return (await Secret.all().count(), await SecretVersion.all().count(), await SecretAudit.all().count())


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"name": "1STARTS_WITH_DIGIT"}, "input.name"),
        ({"name": "has-dash"}, "input.name"),
        ({"name": "A" * 129}, "input.name"),
        ({"name": ""}, "input.name"),
        ({"value": "x" * (64 * 1024 + 1)}, "input.value"),
        ({"value": "é" * (32 * 1024 + 1)}, "input.value"),
        ({"tags": [f"t{i}" for i in range(51)]}, "input.tags"),
        ({"tags": ["x" * 65]}, "input.tags[0]"),
        ({"tags": ["ok", ""]}, "input.tags[1]"),
        ({"metadata": [1, 2]}, "input.metadata"),
        ({"metadata": {"k": "x" * (16 * 1024)}}, "input.metadata"),
        ({"usage": "u" * 1001}, "input.usage"),
        ({"encryptionBackend": "nosuch"}, "input.encryptionBackend"),
    ],
)
async def test_create_refusals_name_the_field_and_change_nothing(
    server: Server, override: dict[str, Any], field: str
) -> None:
    before = await counts()
    error = await server.error(CREATE, {"ws": "default", "input": {**VALID, **override}})
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["field"] == field
    assert error["message"].startswith(field)
    assert await counts() == before


async def test_limits_are_inclusive(server: Server) -> None:
    accepted = {
        "name": "N" * 128,
        "value": "x" * (64 * 1024),
        "tags": [f"{i:064d}" for i in range(50)],
        "usage": "u" * 1000,
        "metadata": {"k": "x" * (16 * 1024 - 10)},
    }
    created = await server.data(CREATE, {"ws": "default", "input": {**VALID, **accepted}})
    sid = created["createSecret"]["id"]
    stored = await server.data(
        'query($id: ID!) { secret(workspaceId: "default", id: $id) { name tags usage metadata } }', {"id": sid}
    )
    assert stored["secret"] == {k: accepted[k] for k in ("name", "tags", "usage", "metadata")}
    value = await server.data('query($id: ID!) { secretValue(workspaceId: "default", id: $id) { value } }', {"id": sid})
    assert value["secretValue"]["value"] == accepted["value"]


async def test_update_refusals_change_nothing(server: Server) -> None:
    created = await server.data(CREATE, {"ws": "default", "input": {**VALID, "tags": ["keep"]}})
    secret_id = created["createSecret"]["id"]
    before = await counts()
    for change, field in (
        ({"value": "v2", "tags": ["x" * 65]}, "input.tags[0]"),
        ({"value": "x" * (64 * 1024 + 1)}, "input.value"),
        ({"metadata": "not an object", "value": "v2"}, "input.metadata"),
    ):
        error = await server.error(UPDATE, {"id": secret_id, "input": change})
        assert (error["extensions"]["code"], error["extensions"]["field"]) == ("BAD_USER_INPUT", field)
    assert await counts() == before
    row = await Secret.get(id=secret_id)
    assert (row.current_version, row.tags) == (1, ["keep"])


async def test_malformed_ids_are_bad_user_input(server: Server) -> None:
    error = await server.error('{ secret(workspaceId: "default", id: "not-a-uuid") { id } }')
    assert error["extensions"]["code"] == "BAD_USER_INPUT" and error["extensions"]["field"] == "id"


async def test_duplicate_name_is_conflict(server: Server) -> None:
    await server.data(CREATE, {"ws": "default", "input": VALID})
    before = await counts()
    error = await server.error(CREATE, {"ws": "default", "input": {**VALID, "value": "other"}})
    assert error["extensions"]["code"] == "CONFLICT"
    assert await counts() == before


@pytest.mark.parametrize(
    "headers",
    [{}, {"authorization": "Bearer sr_wrong"}, {"authorization": "Basic abc"}, {"authorization": "Bearer "}],
)
async def test_every_operation_needs_a_valid_bearer_token(server: Server, headers: dict[str, str]) -> None:
    for query in ("{ workspaces { id } }", "{ viewer { id } }", '{ secrets(workspaceId: "default") { totalCount } }'):
        error = await server.error(query, token=None, headers=headers)
        assert error["extensions"]["code"] == "UNAUTHENTICATED", (query, headers)
    error = await server.error(CREATE, {"ws": "default", "input": VALID}, token=None, headers=headers)
    assert error["extensions"]["code"] == "UNAUTHENTICATED"
    assert await Secret.all().count() == 0


async def test_unexpected_errors_are_masked_as_internal(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    async def explode(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("database password is hunter2")

    monkeypatch.setattr(server.services.secret_reads, "page", explode)
    error = await server.error('{ secrets(workspaceId: "default") { totalCount } }')
    assert error["extensions"] == {"code": "INTERNAL"}
    assert "hunter2" not in error["message"]


async def test_type_errors_do_not_echo_the_value(server: Server) -> None:
    secret_like = 424242424242
    error = await server.error(CREATE, {"ws": "default", "input": {**VALID, "value": secret_like}})
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert str(secret_like) not in error["message"]
    inline = await server.error(
        'mutation { createSecret(workspaceId: "default", input: {name: "X", secretType: GENERIC, value: 31337313373}) { id } }'
    )
    assert inline["extensions"]["code"] == "BAD_USER_INPUT"
    assert "31337313373" not in inline["message"]


async def test_query_depth_and_aliases_are_limited(server: Server) -> None:
    deep = "{ viewer { bindings { workspaceId } } }"
    await server.data(deep)
    aliases = "{ " + " ".join(f"a{i}: viewer {{ id }}" for i in range(40)) + " }"
    error = (await server.execute(aliases))["errors"][0]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"


async def test_graphiql_page_is_served_offline(server: Server) -> None:
    response = await server.client.get("/graphql", headers={"accept": "text/html"})
    assert response.status_code == 200
    assert "https://" not in response.text and "http://" not in response.text


async def test_health_endpoints(server: Server) -> None:
    assert (await server.client.get("/healthz")).json() == {"status": "ok"}
    ready = await server.client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["backends"] == {"fernet": "ok"} and ready.json()["database"] == "ok"


async def test_token_values_appear_only_in_the_create_answer(server: Server, caplog: pytest.LogCaptureFixture) -> None:
    import logging

    caplog.set_level(logging.DEBUG)
    principal = await server.data(
        'mutation { createPrincipal(name: "bot", bindings: [{workspaceId: "default", role: READER}]) { id } }'
    )
    pid = principal["createPrincipal"]["id"]
    created = await server.execute(
        'mutation($p: ID!) { createApiToken(principalId: $p, name: "ci") { token apiToken { id prefix } } }', {"p": pid}
    )
    token = created["data"]["createApiToken"]["token"]
    token_id = created["data"]["createApiToken"]["apiToken"]["id"]
    assert token.startswith("sr_") and len(token) >= 40
    answers = [
        await server.execute("{ viewer { id name } }", token=token),
        await server.execute("query($p: ID!) { apiTokens(principalId: $p) { id name prefix revoked } }", {"p": pid}),
        await server.execute("mutation($t: ID!) { revokeApiToken(id: $t) { id revoked } }", {"t": token_id}),
        await server.execute("{ viewer { id } }", token=token),  # refused now
        await server.execute("{ viewer { id } }", token=token[:-1] + "x"),
    ]
    assert answers[-2]["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    for answer in answers:
        assert token not in str(answer) and token[3:] not in str(answer)
    assert token not in caplog.text
    events = await SecretAudit.all()
    assert events and all(token not in str(e.details) for e in events)


async def test_reprs_hold_no_token_or_key(tmp_path: Path) -> None:
    from graphql_api.context import Context, Credentials
    from plugins.interfaces import PluginConfig

    secret_token = "sr_repr-check-token-0123456789"
    credentials = Credentials(authorization=f"Bearer {secret_token}", ip_address="127.0.0.1", user_agent="t")
    context = Context(
        services=None,  # type: ignore[arg-type]
        credentials=credentials,
        loaders=None,  # type: ignore[arg-type]
    )
    assert secret_token not in repr(context) and secret_token not in repr(credentials)
    config = PluginConfig(
        environ={"SECRET_ENCRYPTION_KEY": "k3y-material", "VAULT_TOKEN": "hvs.x"}, data_dir=Path(tmp_path)
    )
    assert "k3y-material" not in repr(config) and "hvs.x" not in repr(config)
