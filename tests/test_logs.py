"""Structured logs: formats, a request id per request (and per websocket
operation) on every line it causes, and the names of our loggers.

The app runs in-process (SQLite only: nothing here depends on the dialect)
with the server's own log handler (graphql_api.logs.configure) writing to a
buffer that the tests read back line by line.
"""

from __future__ import annotations

import asyncio
import importlib
import io
import json
import logging
import logging.config
import pickle
import pkgutil
import re
import sys
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from starlette.types import Message, Receive, Scope, Send

import graphql_api
import models
import plugins
from graphql_api import logs, request_ids
from graphql_api.errors import AuditUnavailable
from graphql_api.request_ids import RequestIds
from graphql_api.services.audit import AuditRecord
from graphql_api.settings import ConfigError, Settings
from tests.harness import ADMIN_TOKEN, Server

HOSTILE_IDS = [
    b"x" * 10_240,
    b"a" * 65,
    b"abc\ndef",
    b"abc\r\nX-Injected: 1",
    b'"quoted"',
    b"it's",
    b"caf\xc3\xa9",
    b"two words",
    b"a;b",
    b"{json}",
    b"",
]
SAFE_IDS = [b"a", b"req-1", b"4bf92f3577b34da6a3ce929d0e0e4736", b"svc.web_1-2", b"A" * 64]
GENERATED = re.compile(r"^[0-9a-f]{8}-[0-9a-f]+$")
TOKEN_IN_ERROR = "sr_exception-text-token-ABCDEFGHIJKLMNOPQRSTUV"


@pytest.fixture
def dialect() -> str:
    return "sqlite"


class Captured:
    """What the server's handler wrote, one record per line."""

    def __init__(self, stream: io.StringIO) -> None:
        self.stream = stream

    def text(self) -> str:
        return self.stream.getvalue()

    def lines(self) -> list[str]:
        return [line for line in self.text().splitlines() if line]

    def records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.lines()]

    def ours(self, logger: str | None = None) -> list[dict[str, Any]]:
        return [r for r in self.records() if r["logger"].startswith("strongroom.") and logger in (None, r["logger"])]


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    quiet = {
        name: logging.getLogger(name).level for name in (*logs.QUIET_LIBRARY_LOGGERS, *logs.WARNING_LIBRARY_LOGGERS)
    }
    installed = logs._installed
    try:
        yield
    finally:
        logs._installed = installed
        for handler in list(root.handlers):
            if handler not in handlers:
                root.removeHandler(handler)
        root.setLevel(level)
        for name, was in quiet.items():
            logging.getLogger(name).setLevel(was)


def capture(log_format: str, level: str = "info") -> Captured:
    stream = io.StringIO()
    logs.install(level, log_format, stream)
    return Captured(stream)


@pytest.fixture
def json_logs(restore_logging: None) -> Captured:
    return capture("json")


@pytest.fixture
def console_logs(restore_logging: None) -> Captured:
    return capture("console")


def fail_audit_of_failures(server: Server, monkeypatch: pytest.MonkeyPatch, error: Exception | None = None) -> None:
    """Recording a failed read fails: the reader logs it, deep in the service."""
    audit = server.services.audit
    record = audit.record

    async def failing(records: Sequence[AuditRecord]) -> None:
        if any(not r.success for r in records):
            raise error or AuditUnavailable("down")
        await record(records)

    monkeypatch.setattr(audit, "record", failing)


MISSING_READ = 'query ReadMissing($w: ID!) { secretValues(workspaceId: $w, names: ["NOT_THERE"]) { value } }'


async def post(server: Server, query: str, variables: Mapping[str, Any] | None = None, **headers: str) -> Any:
    return await server.client.post(
        "/graphql",
        json={"query": query, "variables": dict(variables or {})},
        headers={"authorization": f"Bearer {ADMIN_TOKEN}", **headers},
    )


async def admin_id(server: Server) -> str:
    return str((await server.data("{ viewer { id } }"))["viewer"]["id"])


# ---- settings ---------------------------------------------------------------------


def test_log_format_setting(tmp_path: Path) -> None:
    env_file = tmp_path / "missing.env"
    assert Settings.from_environ({}, env_file=env_file).log_format == "console"
    assert Settings.from_environ({"STRONGROOM_LOG_FORMAT": "JSON"}, env_file=env_file).log_format == "json"
    with pytest.raises(ConfigError) as raised:
        Settings.from_environ({"STRONGROOM_LOG_FORMAT": "xml"}, env_file=env_file)
    assert raised.value.variable == "STRONGROOM_LOG_FORMAT"


# ---- incoming ids -----------------------------------------------------------------


@pytest.mark.parametrize("raw", SAFE_IDS)
def test_a_safe_incoming_id_is_kept(raw: bytes) -> None:
    assert request_ids.accepted(raw) == raw.decode()


@pytest.mark.parametrize("raw", HOSTILE_IDS, ids=lambda raw: repr(raw[:12]))
def test_a_hostile_incoming_id_is_refused(raw: bytes) -> None:
    assert request_ids.accepted(raw) is None


async def call(app: Any, scope: Scope, messages: Sequence[Message] = ()) -> list[Message]:
    sent: list[Message] = []
    pending = list(messages) or [{"type": "http.request", "body": b""}]

    async def receive() -> Message:
        return pending.pop(0) if pending else {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent


def http_scope(*headers: tuple[bytes, bytes], path: str = "/") -> Scope:
    return {"type": "http", "method": "GET", "path": path, "headers": list(headers), "query_string": b""}


def response_ids(sent: Sequence[Message]) -> list[bytes]:
    start = next(m for m in sent if m["type"] in ("http.response.start", "websocket.accept"))
    return [value for name, value in start["headers"] if name == b"x-request-id"]


async def logging_app(scope: Scope, receive: Receive, send: Send) -> None:
    """Logs a line from a task it starts (context flows into tasks), then answers."""

    async def deep() -> None:
        logging.getLogger("strongroom.secrets").warning("deep down")

    await asyncio.create_task(deep())
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"ok"})


@pytest.mark.parametrize("raw", HOSTILE_IDS, ids=lambda raw: repr(raw[:12]))
@pytest.mark.asyncio
async def test_a_hostile_incoming_id_is_replaced_in_the_header_and_the_log(raw: bytes, json_logs: Captured) -> None:
    sent = await call(RequestIds(logging_app), http_scope((b"x-request-id", raw)))

    [echoed] = response_ids(sent)
    assert echoed != raw and GENERATED.match(echoed.decode()), echoed[:80]
    [line] = json_logs.lines()
    assert json.loads(line)["request_id"] == echoed.decode()
    if len(raw) > 3:
        assert raw.decode("utf-8", "replace") not in line


@pytest.mark.asyncio
async def test_each_request_gets_its_own_id_and_none_outlives_it(json_logs: Captured) -> None:
    app = RequestIds(logging_app)
    first, second = response_ids(await call(app, http_scope())), response_ids(await call(app, http_scope()))

    assert first != second
    assert [r["request_id"] for r in json_logs.records()] == [first[0].decode(), second[0].decode()]
    assert request_ids.current() is None
    logging.getLogger("strongroom.server").warning("outside any request")
    assert json_logs.records()[-1]["request_id"] is None


# ---- through the app: the header and the lines ----------------------------------


@pytest.mark.asyncio
async def test_json_lines_carry_the_id_the_response_header_shows(
    server: Server, json_logs: Captured, monkeypatch: pytest.MonkeyPatch
) -> None:
    principal = await admin_id(server)
    fail_audit_of_failures(server, monkeypatch)

    response = await post(server, MISSING_READ, {"w": "default"})

    assert response.status_code == 200 and response.json()["errors"]
    rid = response.headers["x-request-id"]
    assert GENERATED.match(rid)
    [line] = json_logs.ours("strongroom.secrets")
    assert line["message"] == "could not record a failed bulk read in default"
    assert line["request_id"] == rid
    assert line["principal"] == principal
    assert line["operation"] == "ReadMissing"
    assert line["level"] == "ERROR"
    assert datetime.fromisoformat(line["time"]).utcoffset() is not None and line["time"].endswith("Z")
    assert "exc_info" not in line


@pytest.mark.asyncio
async def test_an_unnamed_operation_is_logged_by_its_root_fields(
    server: Server, json_logs: Captured, monkeypatch: pytest.MonkeyPatch
) -> None:
    fail_audit_of_failures(server, monkeypatch)

    await post(server, '{ secretValues(workspaceId: "default", names: ["NOPE"]) { value } }')

    assert [r["operation"] for r in json_logs.ours("strongroom.secrets")] == ["secretValues"]


@pytest.mark.asyncio
async def test_a_long_operation_name_is_bounded(
    server: Server, json_logs: Captured, monkeypatch: pytest.MonkeyPatch
) -> None:
    fail_audit_of_failures(server, monkeypatch)
    name = "Op" + "x" * 5000

    await post(server, f'query {name} {{ secretValues(workspaceId: "default", names: ["NOPE"]) {{ value }} }}')

    [line] = json_logs.ours("strongroom.secrets")
    assert line["operation"].startswith("Opxxx") and len(line["operation"]) <= request_ids.MAX_OPERATION_LABEL


@pytest.mark.asyncio
async def test_a_safe_incoming_id_is_honoured_end_to_end(
    server: Server, json_logs: Captured, monkeypatch: pytest.MonkeyPatch
) -> None:
    fail_audit_of_failures(server, monkeypatch)

    response = await post(server, MISSING_READ, {"w": "default"}, **{"X-Request-Id": "proxy-7f3a.01_Z"})

    assert response.headers["x-request-id"] == "proxy-7f3a.01_Z"
    assert [r["request_id"] for r in json_logs.ours()] == ["proxy-7f3a.01_Z"]


@pytest.mark.parametrize("hostile", ["x" * 10_240, '"><script>', "a,b", "id with spaces"])
@pytest.mark.asyncio
async def test_a_hostile_incoming_id_is_replaced_end_to_end(
    server: Server, json_logs: Captured, monkeypatch: pytest.MonkeyPatch, hostile: str
) -> None:
    fail_audit_of_failures(server, monkeypatch)

    response = await post(server, MISSING_READ, {"w": "default"}, **{"X-Request-Id": hostile})

    rid = response.headers["x-request-id"]
    assert rid != hostile and GENERATED.match(rid)
    assert [r["request_id"] for r in json_logs.ours()] == [rid]
    assert hostile not in json_logs.text()


@pytest.mark.parametrize(
    ("method", "path", "headers"),
    [
        ("GET", "/healthz", {}),
        ("GET", "/metrics", {}),
        ("GET", "/no-such-page", {}),
        ("POST", "/graphql", {"authorization": "Bearer sr_not-a-real-token-AAAAAAAAAAAAAAAAAAAAA"}),
        ("POST", "/graphql", {"content-type": "text/plain"}),
        ("PUT", "/graphql", {}),
        ("GET", "/graphql?query=%7B", {}),
    ],
)
@pytest.mark.asyncio
async def test_every_response_carries_an_id(server: Server, method: str, path: str, headers: dict[str, str]) -> None:
    body = b'{"query": "{ viewer { name } }"}'
    response = await server.client.request(
        method, path, content=body, headers={"content-type": "application/json", **headers}
    )

    assert response.headers.get_list("x-request-id") and GENERATED.match(response.headers["x-request-id"])
    assert len(response.headers.get_list("x-request-id")) == 1
    echoed = await server.client.request(method, path, content=body, headers={**headers, "x-request-id": "mine-1"})
    assert echoed.headers.get_list("x-request-id") == ["mine-1"]


@pytest.mark.asyncio
async def test_concurrent_requests_keep_their_own_ids(
    server: Server, json_logs: Captured, monkeypatch: pytest.MonkeyPatch
) -> None:
    workspaces = [f"logs-{n}" for n in range(6)]
    for workspace in workspaces:
        await server.data("mutation($id: ID!) { createWorkspace(id: $id) { id } }", {"id": workspace})
    fail_audit_of_failures(server, monkeypatch)

    responses = await asyncio.gather(
        *(post(server, MISSING_READ, {"w": w}, **{"x-request-id": f"req-{w}"}) for w in workspaces)
    )

    assert [r.headers["x-request-id"] for r in responses] == [f"req-{w}" for w in workspaces]
    lines = json_logs.ours("strongroom.secrets")
    assert len(lines) == len(workspaces)
    for line in lines:
        workspace = line["message"].rsplit(" ", 1)[1]
        assert line["request_id"] == f"req-{workspace}", line


@pytest.mark.asyncio
async def test_an_unexpected_error_is_logged_once_with_its_traceback_scrubbed(
    server: Server, json_logs: Captured, monkeypatch: pytest.MonkeyPatch
) -> None:
    fail_audit_of_failures(server, monkeypatch, RuntimeError(f"boom {TOKEN_IN_ERROR}"))

    response = await post(server, MISSING_READ, {"w": "default"})

    assert response.json()["errors"][0]["extensions"]["code"] == "INTERNAL"
    [line] = json_logs.ours()
    assert line["logger"] == "strongroom.graphql"
    assert line["request_id"] == response.headers["x-request-id"]
    assert "Traceback" in line["exc_info"] and "RuntimeError: boom sr_…" in line["exc_info"]
    assert TOKEN_IN_ERROR not in json_logs.text()
    assert len(json_logs.lines()) == len(json_logs.records())  # one line per record, traceback inside


@pytest.mark.asyncio
async def test_console_lines_show_the_request_id(
    server: Server, console_logs: Captured, monkeypatch: pytest.MonkeyPatch
) -> None:
    fail_audit_of_failures(server, monkeypatch, RuntimeError(f"boom {TOKEN_IN_ERROR}"))

    response = await post(server, MISSING_READ, {"w": "default"}, **{"x-request-id": "console-1"})

    assert response.headers["x-request-id"] == "console-1"
    first = console_logs.lines()[0]
    assert re.match(
        r"^\S+ \S+ ERROR strongroom\.graphql \[console-1\]: unexpected RuntimeError at secretValues$", first
    )
    assert "RuntimeError: boom sr_…" in console_logs.text()
    assert TOKEN_IN_ERROR not in console_logs.text()
    logging.getLogger("strongroom.server").warning("no request here")
    assert re.search(r" WARNING strongroom\.server: no request here$", console_logs.text().rstrip("\n"))


@pytest.mark.asyncio
async def test_at_debug_each_request_ends_with_a_line_naming_it(server: Server, restore_logging: None) -> None:
    principal = await admin_id(server)
    captured = capture("json", "debug")

    response = await post(server, "query Who { viewer { name } }", None, **{"x-request-id": "debug-7"})
    await server.client.get("/healthz?token=sr_in-a-query-string-AAAAAAAAAAAAAAAAAAAAAA")

    lines = [r for r in captured.ours() if r["logger"] == "strongroom.http"]
    assert response.headers["x-request-id"] == "debug-7"
    assert [(r["message"], r["request_id"], r["principal"], r["operation"]) for r in lines[:1]] == [
        ("POST /graphql answered 200", "debug-7", principal, "Who")
    ]
    assert lines[1]["message"] == "GET /healthz answered 200" and lines[1]["principal"] is None
    assert "in-a-query-string" not in captured.text()


# ---- websocket: an id per operation, naming the socket -------------------------


class FakeSocket:
    """The app's websocket endpoint driven over raw ASGI messages."""

    def __init__(self, app: Any, headers: Sequence[tuple[bytes, bytes]] = ()) -> None:
        self.inbox: asyncio.Queue[Message] = asyncio.Queue()
        self.outbox: asyncio.Queue[Message] = asyncio.Queue()
        scope = {
            "type": "websocket",
            "path": "/graphql",
            "headers": list(headers),
            "subprotocols": ["graphql-transport-ws"],
            "client": ("127.0.0.1", 5000),
            "query_string": b"",
        }
        self.inbox.put_nowait({"type": "websocket.connect"})
        self.task = asyncio.create_task(app(scope, self.inbox.get, self.outbox.put))

    async def next(self) -> Message:
        return await asyncio.wait_for(self.outbox.get(), 10)

    def send(self, message: Mapping[str, Any]) -> None:
        self.inbox.put_nowait({"type": "websocket.receive", "text": json.dumps(message)})

    async def close(self) -> None:
        self.inbox.put_nowait({"type": "websocket.disconnect", "code": 1000})
        await asyncio.wait_for(self.task, 10)


@pytest.mark.asyncio
async def test_websocket_operations_get_their_own_ids_naming_the_socket(
    server: Server, json_logs: Captured, monkeypatch: pytest.MonkeyPatch
) -> None:
    principal = await admin_id(server)
    fail_audit_of_failures(server, monkeypatch)
    socket = FakeSocket(server.app, [(b"x-request-id", b"socket-1")])
    accept = await socket.next()
    assert accept["type"] == "websocket.accept" and response_ids([accept]) == [b"socket-1"]
    socket.send({"type": "connection_init", "payload": {"authorization": f"Bearer {ADMIN_TOKEN}"}})
    assert json.loads((await socket.next())["text"]) == {"type": "connection_ack"}

    for operation_id in ("1", "2"):
        socket.send(
            {"id": operation_id, "type": "subscribe", "payload": {"query": MISSING_READ, "variables": {"w": "default"}}}
        )
        while json.loads((await socket.next())["text"]).get("type") != "complete":
            pass
    await socket.close()

    lines = json_logs.ours("strongroom.secrets")
    assert len(lines) == 2
    assert {line["connection_id"] for line in lines} == {"socket-1"}
    assert all(GENERATED.match(line["request_id"]) for line in lines)
    assert lines[0]["request_id"] != lines[1]["request_id"]
    assert [(line["principal"], line["operation"]) for line in lines] == [(principal, "ReadMissing")] * 2


@pytest.mark.asyncio
async def test_a_websocket_operation_line_in_console_names_both_ids(
    server: Server, console_logs: Captured, monkeypatch: pytest.MonkeyPatch
) -> None:
    fail_audit_of_failures(server, monkeypatch)
    socket = FakeSocket(server.app)
    accept = await socket.next()
    [socket_id] = response_ids([accept])
    socket.send({"type": "connection_init", "payload": {"authorization": f"Bearer {ADMIN_TOKEN}"}})
    await socket.next()
    socket.send({"id": "a", "type": "subscribe", "payload": {"query": MISSING_READ, "variables": {"w": "default"}}})
    while json.loads((await socket.next())["text"]).get("type") != "complete":
        pass
    await socket.close()

    [line] = [x for x in console_logs.lines() if "strongroom.secrets" in x]
    assert re.search(rf" strongroom\.secrets \[[0-9a-f]{{8}}-[0-9a-f]+ ws={socket_id.decode()}\]: could not", line)


# ---- formats, scrubbing, uvicorn --------------------------------------------------


def test_json_format_scrubs_messages_and_keeps_one_line_per_record(json_logs: Captured) -> None:
    log = logging.getLogger("strongroom.access")
    log.warning("token %s\nsecond line", TOKEN_IN_ERROR)
    log.error("bad argument: invalid input for query argument $2: b'gAAAAABpartofaciphertext' (expected str)")
    try:
        raise ValueError("surrogate \ud800 and é")
    except ValueError:
        log.exception("with a traceback")

    records = json_logs.records()
    assert len(json_logs.lines()) == len(records) == 3
    assert records[0]["message"] == "token sr_…\nsecond line"
    assert "gAAAA" not in json_logs.text() and "query argument $2: …" in records[1]["message"]
    assert "ValueError: surrogate" in records[2]["exc_info"]


def test_access_log_lines_drop_the_query_string(json_logs: Captured) -> None:
    logging.config.dictConfig(logs.uvicorn_log_config())
    access = logging.getLogger("uvicorn.access")
    access.setLevel(logging.INFO)
    access.info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "GET", '/graphql?variables={"v":"hush"}', "1.1", 200)

    [line] = json_logs.records()
    assert line["logger"] == "uvicorn.access" and line["message"] == '127.0.0.1:5000 - "GET /graphql?… HTTP/1.1" 200'


def test_uvicorn_config_sets_up_worker_processes_alike(restore_logging: None) -> None:
    capture("json", "debug")
    config = pickle.loads(pickle.dumps(logs.uvicorn_log_config()))  # as a spawned worker gets it
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_strongroom", False):
            root.removeHandler(handler)  # a fresh worker: no handler of ours
    stream = io.StringIO()
    monkey_stderr, sys.stderr = sys.stderr, stream
    try:
        logging.config.dictConfig(config)
        logging.getLogger("strongroom.server").debug("in a worker %s", TOKEN_IN_ERROR)
    finally:
        sys.stderr = monkey_stderr
    [line] = [json.loads(x) for x in stream.getvalue().splitlines()]
    assert line["message"] == "in a worker sr_…" and line["level"] == "DEBUG"
    assert logging.getLogger("tortoise").level == logging.INFO
    assert sum(getattr(h, "_strongroom", False) for h in root.handlers) == 1
    logging.config.dictConfig(config)  # where it is installed already: nothing added
    assert sum(getattr(h, "_strongroom", False) for h in root.handlers) == 1


# ---- logger names -----------------------------------------------------------------


def our_modules() -> Iterator[ModuleType]:
    for package in (graphql_api, plugins, models):
        yield package
        for info in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
            if info.name.rsplit(".", 1)[-1] != "__main__":
                yield importlib.import_module(info.name)


def test_every_logger_is_a_documented_strongroom_name() -> None:
    found = {
        f"{module.__name__}.{attribute}": value.name
        for module in our_modules()
        for attribute, value in vars(module).items()
        if isinstance(value, logging.Logger)
    }

    assert len(found) >= 20, found  # the walk did find the modules
    undocumented = {where: name for where, name in found.items() if name not in logs.LOGGERS}
    assert not undocumented, f"loggers not in graphql_api.logs.LOGGERS: {undocumented}"
    unused = set(logs.LOGGERS) - set(found.values())
    assert not unused, f"documented but used nowhere: {unused}"


def test_no_module_names_a_logger_inline_outside_the_table() -> None:
    pattern = re.compile(r"getLogger\(\s*(__name__|f?[\"'][^\"']*[\"'])")
    for module in our_modules():
        source = Path(module.__file__ or "").read_text(encoding="utf-8")
        for match in pattern.finditer(source):
            argument = match.group(1)
            if module.__name__ == "graphql_api.logs":
                continue
            assert argument != "__name__", f"{module.__name__}: getLogger(__name__) is not a documented name"
            assert argument.strip("\"'") in logs.LOGGERS, f"{module.__name__}: getLogger({argument})"


def test_readme_documents_every_logger() -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    missing = [name for name in logs.LOGGERS if f"`{name}`" not in readme]
    assert not missing, f"README.md does not list: {missing}"
    assert "STRONGROOM_LOG_FORMAT" in readme


@pytest.mark.parametrize("level", ["debug", "info"])
def test_httpx_request_lines_never_show_a_webhook_url(level: str, restore_logging: None) -> None:
    """httpx logs each request's full URL at INFO; a webhook URL can carry its
    receiver's credentials in the query, so httpx is held at WARNING."""
    captured = capture("json", level)
    logging.getLogger("httpx").info('HTTP Request: POST https://hooks.example/in?token=receiver-credential "200 OK"')
    logging.getLogger("httpcore.http11").info("send_request_headers.started request=<Request [b'POST']>")
    logging.getLogger("httpx").warning("a warning still gets through")
    assert "receiver-credential" not in captured.text()
    assert "send_request_headers" not in captured.text()
    assert "a warning still gets through" in captured.text()
