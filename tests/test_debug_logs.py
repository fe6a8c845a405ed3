"""At STRONGROOM_LOG_LEVEL=debug, nothing secret reaches the server's output.

A real `strongroom serve` at debug level, in each log format (console and
JSON), runs a workload over HTTP and the websocket (values written, read, imported, rotated, destroyed; tokens
created, used, refused); then every line it printed (ours, uvicorn's,
websockets', the ORM's) is searched for each token, token hash, value,
ciphertext and wrapped data key, in the spellings a log would use (text,
hex, base64, Python's bytes repr).
"""

from __future__ import annotations

import base64
import hashlib
import json
import sqlite3
from pathlib import Path

import pytest
from websockets.sync.client import connect

from tests.process import ServerProcess, clean_environ, graphql, start_healthy

TOKEN = "sr_debug-log-test-token-0123456789abcdefghijk"
VALUES = ["debug-value-ALPHA-1c2d3e", "debug-value-BRAVO-4f5a6b\nwith a second line", "debug-value-CHARLIE-7c8d9e"]


def spellings(blob: bytes) -> list[str]:
    return [blob.hex(), base64.b64encode(blob).decode(), base64.urlsafe_b64encode(blob).decode(), repr(blob)[2:-1]]


@pytest.mark.parametrize("log_format", ["console", "json"])
def test_debug_logs_hold_no_token_value_ciphertext_or_key(
    tmp_path: Path, served: list[ServerProcess], log_format: str
) -> None:
    data = tmp_path / "data"
    env = clean_environ(
        STRONGROOM_DATA_DIR=str(data),
        STRONGROOM_BOOTSTRAP_TOKEN=TOKEN,
        STRONGROOM_LOG_LEVEL="debug",
        STRONGROOM_LOG_FORMAT=log_format,
    )
    server = start_healthy(served, tmp_path, env, "server.log")
    created_token = ""
    with server.client(TOKEN) as client:
        ids = []
        for index, value in enumerate(VALUES[:2]):
            made = graphql(
                client,
                'mutation($n: String!, $v: String!) { createSecret(workspaceId: "default", input: {name: $n, secretType: PASSWORD, value: $v}) { id } }',
                {"n": f"DEBUG_{index}", "v": value},
            )
            ids.append(made["createSecret"]["id"])
        graphql(
            client,
            'mutation($t: String!) { importSecrets(workspaceId: "default", dotenv: $t) { created } }',
            {"t": f'IMPORTED="{VALUES[2]}"\n'},
        )
        for secret_id in ids:
            graphql(
                client, 'query($id: ID!) { secretValue(workspaceId: "default", id: $id) { value } }', {"id": secret_id}
            )
        graphql(client, '{ secretValues(workspaceId: "default") { name value } }')
        principal = graphql(
            client,
            'mutation { createPrincipal(name: "debugger", bindings: [{workspaceId: "default", role: READER}]) { id } }',
        )
        made = graphql(
            client,
            'mutation($p: ID!) { createApiToken(principalId: $p, name: "debug") { token apiToken { id } } }',
            {"p": principal["createPrincipal"]["id"]},
        )
        created_token = made["createApiToken"]["token"]
        # Websocket: the token travels in connection_init, values in `next`.
        url = server.base_url.replace("http://", "ws://") + "/graphql"
        with connect(url, subprotocols=["graphql-transport-ws"], open_timeout=10) as socket:  # type: ignore[list-item]
            assert socket.response is not None and socket.response.headers["x-request-id"]
            socket.send(
                json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {created_token}"}})
            )
            assert json.loads(socket.recv(timeout=10))["type"] == "connection_ack"
            socket.send(
                json.dumps(
                    {
                        "id": "1",
                        "type": "subscribe",
                        "payload": {"query": '{ secretValues(workspaceId: "default") { value } }'},
                    }
                )
            )
            assert json.loads(socket.recv(timeout=10))["type"] == "next"
        refused = client.post(
            "/graphql",
            json={"query": "{ viewer { name } }"},
            headers={"authorization": "Bearer sr_wrong-token-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},
        )
        assert refused.status_code == 200
        refused_id = refused.headers["x-request-id"]
        echoed = client.get("/healthz", headers={"x-request-id": "debug-test.1"})
        assert echoed.headers.get_list("x-request-id") == ["debug-test.1"]
        graphql(client, "mutation { rotateEncryptionKey { rewrapped remaining } }")
        versions = (
            sqlite3.connect(data / "strongroom.db")
            .execute("SELECT ciphertext, wrapped_key FROM secret_version WHERE ciphertext IS NOT NULL")
            .fetchall()
        )
        graphql(client, 'mutation($id: ID!) { destroySecret(workspaceId: "default", id: $id) }', {"id": ids[0]})
    server.stop()
    output = server.output()
    assert "DEBUG" in output, "the server did not log at debug level: the check would prove nothing"
    if log_format == "json":
        records = [json.loads(line) for line in output.splitlines() if line.strip()]
        assert {"DEBUG", "INFO"} <= {r["level"] for r in records}, "every line is a JSON record"
        answered = [r for r in records if r["request_id"] == refused_id]
        assert [r["message"] for r in answered] == ["POST /graphql answered 200"], answered

    needles = {"bootstrap token": TOKEN, "created token": created_token}
    needles.update(
        {f"hash of {name}": hashlib.sha256(token.encode()).hexdigest() for name, token in list(needles.items())}
    )
    needles.update({f"value {i}": value.split("\n")[0] for i, value in enumerate(VALUES)})
    for number, (ciphertext, wrapped) in enumerate(versions):
        for kind, blob in (("ciphertext", bytes(ciphertext)), ("wrapped key", bytes(wrapped))):
            for spelling in spellings(blob):
                needles[f"{kind} {number} ({spelling[:12]}…)"] = spelling[:40]
    leaked = sorted(name for name, needle in needles.items() if needle and needle in output)
    # Loggers shorten long frames ("{...}…"): any 12 characters of a token or
    # a value give part of it away.
    for name, secret in [
        ("bootstrap token", TOKEN),
        ("created token", created_token),
        *[(f"value {i}", v) for i, v in enumerate(VALUES)],
    ]:
        text = secret.replace("\n", "")
        if any(text[i : i + 12] in output for i in range(0, max(1, len(text) - 11))):
            leaked.append(f"part of {name}")
    assert not leaked, f"found in the debug log: {leaked}"
