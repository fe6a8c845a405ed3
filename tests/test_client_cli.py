"""graphql_api.client and the `strongroom` commands built on it.

Why: operators manage principals, tokens, roles and the audit trail from a
shell, against a running server, and applications import the same client.
So the CLI runs here as a real subprocess against a real `strongroom serve`
(one per module, its superadmin token fixed by STRONGROOM_BOOTSTRAP_TOKEN),
and what matters is what an operator sees: exit codes, one-line errors, the
token printed once and alone, no secret in any other output, and a live
audit tail that stops cleanly on Ctrl-C. The client's error mapping and its
reprs are unit-tested with httpx.MockTransport.
"""

from __future__ import annotations

import json
import queue
import re
import secrets
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet

from graphql_api.client import (
    ApiToken,
    ClientConfigError,
    CreatedToken,
    SecretValue,
    StrongroomAPIError,
    StrongroomClient,
)
from tests.process import (
    GENERATED_TOKEN,
    ServerProcess,
    clean_environ,
    free_port,
    run_strongroom,
    start_server,
    strongroom_command,
)

WORKSPACE = "default"
UUID_LINE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
CREATE_SECRET = """
mutation Create($w: ID!, $input: CreateSecretInput!) { createSecret(workspaceId: $w, input: $input) { id name } }
"""


@dataclass
class Served:
    process: ServerProcess
    token: str
    cwd: Path

    @property
    def url(self) -> str:
        return self.process.base_url

    def client(self, token: str | None = None) -> StrongroomClient:
        return StrongroomClient(self.url, token or self.token, timeout=10.0)

    def env(self, token: str | None = None) -> dict[str, str]:
        return clean_environ(STRONGROOM_URL=self.url, STRONGROOM_TOKEN=token or self.token)

    def cli(self, *args: str, token: str | None = None) -> subprocess.CompletedProcess[str]:
        return run_strongroom(list(args), cwd=self.cwd, env=self.env(token), timeout=30.0)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    cwd = tmp_path_factory.mktemp("client_cli")
    token = "sr_" + secrets.token_urlsafe(32)
    env = clean_environ(
        STRONGROOM_DATA_DIR=str(cwd / "data"),
        STRONGROOM_BOOTSTRAP_TOKEN=token,
        SECRET_ENCRYPTION_KEY=Fernet.generate_key().decode("ascii"),
        STRONGROOM_LOG_LEVEL="warning",
    )
    server = start_server(cwd=cwd, env=env, log_path=cwd / "server.log")
    try:
        server.wait_healthy()
        yield Served(server, token, cwd)
        server.stop()
    finally:
        server.kill()


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def _ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert "Traceback" not in result.stdout + result.stderr, result.stderr
    return result.stdout


def _one_error_line(result: subprocess.CompletedProcess[str], code: str, exit_status: int = 1) -> str:
    combined = result.stdout + result.stderr
    assert result.returncode == exit_status, f"exit {result.returncode}\n{combined}"
    assert "Traceback" not in combined, combined
    lines = result.stderr.splitlines()
    assert len(lines) == 1, f"expected one line on stderr:\n{result.stderr}"
    assert lines[0].startswith(f"strongroom: {code}: "), lines[0]
    return lines[0]


def _new_principal(served: Served, *bindings: tuple[str, str]) -> tuple[str, str]:
    name = _unique("svc")
    with served.client() as client:
        return client.create_principal(name, list(bindings)).id, name


def _create_secret(client: StrongroomClient, name: str, value: str) -> str:
    variables = {"w": WORKSPACE, "input": {"name": name, "secretType": "GENERIC", "value": value}}
    secret_id: str = client.execute(CREATE_SECRET, variables)["createSecret"]["id"]
    return secret_id


# -- configuration ------------------------------------------------------------


@pytest.mark.parametrize("command", [["principal", "list"], ["audit", "tail", "--workspace", WORKSPACE]])
def test_missing_token_exits_2_with_one_line_naming_it(tmp_path: Path, command: list[str]) -> None:
    result = run_strongroom(command, cwd=tmp_path, env=clean_environ(STRONGROOM_URL="http://127.0.0.1:9"))
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("strongroom: configuration error: STRONGROOM_TOKEN"), lines[0]
    assert result.stdout == ""


def test_from_environ_requires_the_token_and_defaults_the_url() -> None:
    with pytest.raises(ClientConfigError) as raised:
        StrongroomClient.from_environ({"STRONGROOM_URL": "http://example.test"})
    assert raised.value.variable == "STRONGROOM_TOKEN"
    assert "STRONGROOM_TOKEN" in str(raised.value)
    with StrongroomClient.from_environ({"STRONGROOM_TOKEN": "sr_x"}) as client:
        assert client.url == "http://127.0.0.1:8000"
        assert client.endpoint == "http://127.0.0.1:8000/graphql"
        assert client.ws_endpoint == "ws://127.0.0.1:8000/graphql"


# -- principals ---------------------------------------------------------------


def test_principal_create_and_list(served: Served) -> None:
    name = _unique("cli-reader")
    stdout = _ok(served.cli("principal", "create", name, "--role", f"{WORKSPACE}:reader"))
    principal_id = stdout.splitlines()[0]
    assert UUID_LINE.match(principal_id), stdout
    assert f"{WORKSPACE}:READER" in stdout
    assert "superadmin: no" in stdout

    rows = [line.split() for line in _ok(served.cli("principal", "list")).splitlines()]
    assert rows[0] == ["ID", "NAME", "SUPERADMIN", "BINDINGS"]
    assert [principal_id, name, "no", f"{WORKSPACE}:READER"] in rows
    assert any(row[1:3] == ["admin", "yes"] for row in rows[1:]), rows

    in_workspace = _ok(served.cli("principal", "list", "--workspace", WORKSPACE))
    assert principal_id in in_workspace
    assert "admin" not in in_workspace.split()  # the superadmin is bound nowhere

    duplicate = served.cli("principal", "create", name)
    _one_error_line(duplicate, "CONFLICT")


def test_principal_create_rejects_a_malformed_role_binding(served: Served) -> None:
    result = served.cli("principal", "create", _unique("bad"), "--role", "default-READER")
    assert result.returncode == 2, result.stderr
    assert "WORKSPACE:ROLE" in result.stderr
    assert "Traceback" not in result.stderr


# -- tokens -------------------------------------------------------------------


def test_token_create_prints_only_the_token_once_and_it_works(served: Served) -> None:
    principal_id, name = _new_principal(served, (WORKSPACE, "READER"))
    expires = (datetime.now(UTC) + timedelta(days=30)).replace(microsecond=0)
    result = served.cli(
        "token", "create", "--principal", principal_id, "--name", "deploy", "--expires", expires.isoformat()
    )
    stdout = _ok(result)
    token = stdout.removesuffix("\n")
    assert stdout == token + "\n", stdout
    assert GENERATED_TOKEN.fullmatch(token), stdout
    assert token not in result.stderr
    assert "once" in result.stderr

    with served.client(token) as client:
        viewer = client.viewer()
    assert viewer.id == principal_id
    assert viewer.name == name
    assert [(b.workspace_id, b.role) for b in viewer.bindings] == [(WORKSPACE, "READER")]

    listing = _ok(served.cli("token", "list", "--principal", principal_id))
    assert token not in listing
    assert token[:8] in listing
    assert expires.strftime("%Y-%m-%dT%H:%M:%SZ") in listing
    with served.client() as client:
        (row,) = client.tokens(principal_id)
    assert row.prefix == token[:8]
    assert row.expires_at == expires
    assert row.last_used_at is not None  # the viewer call above


def test_token_revoke_then_the_token_is_unauthenticated(served: Served) -> None:
    principal_id, name = _new_principal(served, (WORKSPACE, "AUDITOR"))
    with served.client() as client:
        created = client.create_token(principal_id, "short-lived")
    token = created.token
    with served.client(token) as client:
        assert client.viewer().name == name

    revoked = _ok(served.cli("token", "revoke", created.api_token.id))
    assert created.api_token.id in revoked
    assert token not in revoked

    with served.client(token) as client, pytest.raises(StrongroomAPIError) as raised:
        client.viewer()
    assert raised.value.code == "UNAUTHENTICATED"
    assert token not in str(raised.value) + repr(raised.value)

    refused = served.cli("audit", "verify", "--workspace", WORKSPACE, token=token)
    line = _one_error_line(refused, "UNAUTHENTICATED")
    assert token not in line
    assert refused.stdout == ""

    with served.client() as client:
        (row,) = client.tokens(principal_id)
    assert row.id == created.api_token.id and row.revoked


def test_token_with_an_expiry_without_offset_is_not_an_internal_error(served: Served) -> None:
    principal_id, _ = _new_principal(served)
    with served.client() as client:
        try:
            client.create_token(principal_id, "naive", datetime(2099, 1, 1))  # no offset, on purpose
        except StrongroomAPIError as error:
            assert error.code == "BAD_USER_INPUT", error


# -- roles --------------------------------------------------------------------


def test_role_grant_and_revoke(served: Served) -> None:
    principal_id, name = _new_principal(served)

    granted = _ok(served.cli("role", "grant", principal_id, WORKSPACE, "writer"))
    assert f"{WORKSPACE}:WRITER" in granted
    with served.client() as client:
        bound = {p.id: p for p in client.principals(WORKSPACE)}
    assert [(b.workspace_id, b.role) for b in bound[principal_id].bindings] == [(WORKSPACE, "WRITER")]

    with served.client() as client:
        replaced = client.grant_role(principal_id, WORKSPACE, "AUDITOR")
    assert [(b.workspace_id, b.role) for b in replaced.bindings] == [(WORKSPACE, "AUDITOR")]

    revoked = _ok(served.cli("role", "revoke", principal_id, WORKSPACE))
    assert WORKSPACE not in revoked.replace(name, "")
    with served.client() as client:
        assert principal_id not in {p.id for p in client.principals(WORKSPACE)}

    _one_error_line(served.cli("role", "revoke", principal_id, WORKSPACE), "NOT_FOUND")
    bad_role = served.cli("role", "grant", principal_id, WORKSPACE, "OWNER")
    assert bad_role.returncode == 2 and "Traceback" not in bad_role.stderr


def test_principals_of_a_missing_workspace_is_not_found(served: Served) -> None:
    with served.client() as client, pytest.raises(StrongroomAPIError) as raised:
        client.principals("no-such-workspace")
    assert raised.value.code == "NOT_FOUND"


# -- audit --------------------------------------------------------------------


def test_audit_verify_on_the_default_workspace_is_valid(served: Served) -> None:
    _new_principal(served, (WORKSPACE, "VIEWER"))  # at least one event
    stdout = _ok(served.cli("audit", "verify", "--workspace", WORKSPACE))
    match = re.fullmatch(r"valid: (\d+) events checked, head ([0-9a-f]{64})\n", stdout)
    assert match, stdout
    with served.client() as client:
        integrity = client.audit_integrity(WORKSPACE)
        events, _, _ = client.workspace_audit(WORKSPACE, first=500)
    assert integrity.valid
    assert int(match.group(1)) >= 1
    assert integrity.checked_events >= int(match.group(1))
    assert {event.seq for event in events} >= set(range(1, int(match.group(1)) + 1))

    _one_error_line(served.cli("audit", "verify", "--workspace", "no-such-workspace"), "NOT_FOUND")


class _Lines:
    """A child's stdout, line by line, readable with a timeout."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        assert process.stdout is not None
        self._thread = threading.Thread(target=self._pump, args=(process.stdout,), daemon=True)
        self._thread.start()

    def _pump(self, stream: Any) -> None:
        for line in stream:
            self.lines.put(line)

    def get(self, timeout: float) -> str | None:
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            return None
        self.seen.append(line)
        return line

    def join(self) -> None:
        self._thread.join(timeout=10)


def test_audit_tail_streams_events_as_json_lines_and_stops_on_ctrl_c(served: Served) -> None:
    marker = f"TAIL-VALUE-{uuid.uuid4().hex}"
    process = subprocess.Popen(
        [*strongroom_command(), "audit", "tail", "--workspace", WORKSPACE, "--json"],
        cwd=served.cwd,
        env=served.env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
    )
    try:
        lines = _Lines(process)
        with served.client() as client:
            # Subscribed once an event made after the start comes through.
            deadline = time.monotonic() + 10
            while lines.get(0.2) is None:
                assert process.poll() is None, process.communicate()
                assert time.monotonic() < deadline, "the tail printed nothing within 10 s"
                _create_secret(client, "WARMUP_" + uuid.uuid4().hex[:12].upper(), marker)
            name = "TAILED_" + uuid.uuid4().hex[:12].upper()
            secret_id = _create_secret(client, name, marker)
            found: dict[str, Any] | None = None
            deadline = time.monotonic() + 10
            while found is None and time.monotonic() < deadline:
                line = lines.get(0.5)
                if line is None:
                    continue
                event = json.loads(line)
                if event["secretId"] == secret_id and event["action"] == "CREATED":
                    found = event
            assert found is not None, "".join(lines.seen)
        assert found["workspaceId"] == WORKSPACE
        assert found["success"] is True
        assert found["details"]["name"] == name
        assert re.fullmatch(r"[0-9a-f]{64}", found["hash"]) and found["seq"] >= 1
        datetime.fromisoformat(found["createdAt"])

        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) in (0, 130)
        lines.join()
        assert process.stderr is not None
        stderr = process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()
    while lines.get(0) is not None:
        pass
    assert "Traceback" not in stderr, stderr
    assert stderr == "", stderr
    output = "".join(lines.seen)
    assert marker not in output
    assert all(json.loads(line)["workspaceId"] == WORKSPACE for line in lines.seen)


def test_audit_tail_with_a_bad_token_exits_1_with_the_code(served: Served) -> None:
    result = served.cli("audit", "tail", "--workspace", WORKSPACE, token="sr_" + secrets.token_urlsafe(32))
    # The websocket refuses connection_init with 4401 (UNAUTHENTICATED) or graphql-transport-ws's 4403.
    code = "FORBIDDEN" if result.stderr.startswith("strongroom: FORBIDDEN: ") else "UNAUTHENTICATED"
    line = _one_error_line(result, code)
    assert "sr_" not in line


def test_secret_values_reprs_hide_values(served: Served) -> None:
    marker = f"REPR-VALUE-{uuid.uuid4().hex}"
    name = "REPR_" + uuid.uuid4().hex[:12].upper()
    with served.client() as client:
        secret_id = _create_secret(client, name, marker)
        one = client.secret_value(WORKSPACE, secret_id)
        bulk = client.secret_values(WORKSPACE, names=[name])
    assert one.value == marker and bulk == [one]
    assert marker not in repr(one) + repr(bulk) + str(one)


# -- the client, unit ---------------------------------------------------------

TOKEN = "sr_" + "A" * 43


def _mock_client(handler: Any) -> StrongroomClient:
    return StrongroomClient("http://strongroom.test/", TOKEN, transport=httpx.MockTransport(handler))


def test_graphql_error_maps_to_its_code_and_field() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(
            200,
            json={
                "data": None,
                "errors": [
                    {
                        "message": "name: must match ^[A-Za-z_]",
                        "path": ["createPrincipal"],
                        "extensions": {"code": "BAD_USER_INPUT", "field": "name"},
                    }
                ],
            },
        )

    with _mock_client(handler) as client, pytest.raises(StrongroomAPIError) as raised:
        client.create_principal("!!", [(WORKSPACE, "READER")])
    assert (raised.value.code, raised.value.field) == ("BAD_USER_INPUT", "name")
    assert raised.value.message == "name: must match ^[A-Za-z_]"
    (request,) = seen
    assert str(request.url) == "http://strongroom.test/graphql"
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    body = json.loads(request.content)
    assert body["variables"] == {
        "name": "!!",
        "bindings": [{"workspaceId": WORKSPACE, "role": "READER"}],
        "superadmin": False,
    }


def test_error_without_field_and_echoing_the_token_never_shows_it() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        message = f"this token was revoked: {TOKEN}"
        return httpx.Response(
            200, json={"data": None, "errors": [{"message": message, "extensions": {"code": "UNAUTHENTICATED"}}]}
        )

    with _mock_client(handler) as client, pytest.raises(StrongroomAPIError) as raised:
        client.viewer()
    assert raised.value.code == "UNAUTHENTICATED" and raised.value.field is None
    assert TOKEN not in str(raised.value) + repr(raised.value) + raised.value.message


def _refused(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("[Errno 111] Connection refused", request=request)


def _too_slow(request: httpx.Request) -> httpx.Response:
    raise httpx.ReadTimeout("timed out", request=request)


def _bad_gateway(request: httpx.Request) -> httpx.Response:
    return httpx.Response(502, text="<html>bad gateway</html>")


def _no_data(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json={"nothing": True})


@pytest.mark.parametrize("respond", [_refused, _too_slow, _bad_gateway, _no_data])
def test_transport_and_http_failures_are_unavailable(respond: Any) -> None:
    with _mock_client(respond) as client, pytest.raises(StrongroomAPIError) as raised:
        client.workspaces()
    assert raised.value.code == "UNAVAILABLE"
    assert TOKEN not in str(raised.value) + repr(raised.value)


def test_tail_against_nothing_listening_is_unavailable() -> None:
    with StrongroomClient(f"http://127.0.0.1:{free_port()}", TOKEN, timeout=5) as client:
        events = client.tail_audit(WORKSPACE)
        with pytest.raises(StrongroomAPIError) as raised:
            next(events)
    assert raised.value.code == "UNAVAILABLE"
    assert TOKEN not in str(raised.value)


def test_reprs_hide_the_token_and_values() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        api_token = {
            "id": str(uuid.uuid4()),
            "name": "deploy",
            "principalId": str(uuid.uuid4()),
            "createdAt": "2030-01-01T00:00:00+00:00",
            "expiresAt": None,
            "lastUsedAt": None,
            "revoked": False,
            "prefix": TOKEN[:8],
        }
        return httpx.Response(200, json={"data": {"createApiToken": {"token": TOKEN, "apiToken": api_token}}})

    with _mock_client(handler) as client:
        assert repr(client) == "Strongroom(url='http://strongroom.test')"
        assert TOKEN not in repr(client) + str(client)
        created = client.create_token(str(uuid.uuid4()), "deploy")
    assert isinstance(created, CreatedToken) and isinstance(created.api_token, ApiToken)
    assert created.token == TOKEN
    assert TOKEN not in repr(created) + str(created)
    assert created.api_token.prefix in repr(created)
    value = SecretValue(secret_id="x", name="N", version=1, value="s3cr3t-value")
    assert "s3cr3t-value" not in repr(value) + str(value)
