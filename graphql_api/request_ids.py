"""A request id for every HTTP request and every websocket operation, and
what the log lines it causes say about it.

`RequestIds` is a pure ASGI middleware (no BaseHTTPMiddleware: that costs a
task and a stream per request on the hot path). It sets the `Scope` of the
current request in a context variable, so that every log record made while
handling it (in tasks started during it too: asyncio copies the context)
can name it; `graphql_api.logs.RequestFilter` reads it there. The id is
echoed in the `X-Request-Id` header of every HTTP response (errors, 401s,
/metrics and /healthz included) and of the websocket handshake.

An incoming `X-Request-Id` (from a proxy or the client) is kept when it is
short and of a safe charset, so that a caller can follow its own id through
the logs; anything else (too long, a newline, quotes, non-ASCII) is replaced
by a fresh id rather than cleaned up, so that no caller can forge or break a
log line with it.

A websocket connection is not a request: it gets an id of its own (the
handshake's), and every operation sent over it gets a fresh id while naming
the socket's (`connection_id`), so each operation's lines can be told apart
and still be joined to their socket.

The principal and the operation are resolved lazily, when a line is
written: the scope holds the operation's Context and its parsed operation,
and nothing is computed for the (great majority of) requests that log
nothing.
"""

from __future__ import annotations

import itertools
import logging
import os
import re
from contextvars import ContextVar
from typing import TYPE_CHECKING

from starlette.types import ASGIApp, Message, Receive, Scope, Send

if TYPE_CHECKING:
    from graphql import OperationDefinitionNode

    from graphql_api.context import Context

HEADER = b"x-request-id"
MAX_INCOMING = 64
MAX_OPERATION_LABEL = 64
_SAFE = re.compile(rb"[A-Za-z0-9._-]{1,64}")
_PROCESS = os.urandom(4).hex() + "-"
_COUNTER = itertools.count(1)
MAX_LOGGED_PATH = 200
# At DEBUG, one line per request and per websocket connection when it ends.
_http_logger = logging.getLogger("strongroom.http")
_ws_logger = logging.getLogger("strongroom.websocket")


def new_request_id() -> str:
    """Unique per request: a random per-process prefix and a counter (no
    system call per request; worker processes have their own prefix)."""
    return _PROCESS + format(next(_COUNTER), "x")


def accepted(raw: bytes | None) -> str | None:
    """`raw` as a request id when it is safe to log and echo, else None."""
    if raw is None or len(raw) > MAX_INCOMING or _SAFE.fullmatch(raw) is None:
        return None
    return raw.decode("ascii")


class RequestScope:
    """What log lines say about the request (or websocket operation) being handled."""

    __slots__ = ("connection_id", "context", "operation", "request_id", "status")

    def __init__(self, request_id: str, connection_id: str | None = None) -> None:
        self.request_id = request_id
        self.connection_id = connection_id
        self.context: Context | None = None
        self.operation: OperationDefinitionNode | None = None
        self.status = 0  # of the response (101 once a websocket is accepted)

    @property
    def principal(self) -> str | None:
        """The authenticated principal's id (never the token), once known."""
        context = self.context
        principal_id = context.principal_id if context is not None else None
        return str(principal_id) if principal_id is not None else None

    @property
    def operation_label(self) -> str | None:
        """The operation's name, else its root fields, bounded. Both come
        from the parsed document, so they are GraphQL names ([_A-Za-z0-9])."""
        operation = self.operation
        if operation is None:
            return None
        if operation.name is not None:
            label = operation.name.value
        else:
            names = [getattr(getattr(s, "name", None), "value", None) for s in operation.selection_set.selections]
            label = ",".join(name for name in names if isinstance(name, str))
        if not label:
            return None
        return label if len(label) <= MAX_OPERATION_LABEL else label[: MAX_OPERATION_LABEL - 1] + "…"

    def __repr__(self) -> str:
        return f"RequestScope({self.request_id!r}, connection_id={self.connection_id!r})"


_current: ContextVar[RequestScope | None] = ContextVar("strongroom_request", default=None)


def current() -> RequestScope | None:
    """The scope of the request being handled here, if any."""
    return _current.get()


def current_request_id() -> str | None:
    scope = _current.get()
    return scope.request_id if scope is not None else None


def note(context: Context, operation: OperationDefinitionNode) -> None:
    """Record the operation being run (and its Context, for its principal)."""
    scope = _current.get()
    if scope is not None:
        scope.context = context
        scope.operation = operation


def begin_operation() -> RequestScope:
    """A fresh id for one websocket operation, naming its socket's id.

    Call it at the start of the operation's own task: the new scope is set in
    that task's context only, never the socket's.
    """
    socket = _current.get()
    scope = RequestScope(new_request_id(), socket.request_id if socket is not None else None)
    _current.set(scope)
    return scope


class RequestIds:
    """ASGI middleware: a request id per HTTP request and websocket, echoed in
    `X-Request-Id`, and set for the log lines made while handling it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            start = "http.response.start"
        elif kind == "websocket":
            start = "websocket.accept"
        else:
            await self.app(scope, receive, send)
            return
        rid = None
        for name, value in scope["headers"]:
            if name == HEADER:
                rid = accepted(value)
                break
        if rid is None:
            rid = new_request_id()
        request = RequestScope(rid)
        echoed = (HEADER, rid.encode("ascii"))

        async def send_with_id(message: Message) -> None:
            if message["type"] == start:
                request.status = message.get("status", 101)
                # A new list: the app's own (a Response's raw_headers) is left alone.
                message["headers"] = [*message.get("headers", ()), echoed]
            await send(message)

        token = _current.set(request)
        # Reset only when the request ends normally: when it raises, the
        # server logs the traceback after the app returned, in this same
        # task, and that line should carry the id too (each request is its
        # own task in the server, so nothing leaks to the next one).
        await self.app(scope, receive, send_with_id)
        if kind == "http":
            if _http_logger.isEnabledFor(logging.DEBUG):
                _http_logger.debug("%s %s answered %d", scope.get("method"), _logged_path(scope), request.status)
        elif _ws_logger.isEnabledFor(logging.DEBUG):
            _ws_logger.debug("websocket %s %s", _logged_path(scope), "closed" if request.status else "refused")
        _current.reset(token)


def _logged_path(scope: Scope) -> str:
    """The path as sent (undecoded: no newline), bounded; never the query string."""
    raw = scope.get("raw_path")
    path = raw.decode("latin-1") if isinstance(raw, bytes) else repr(scope.get("path", ""))
    path = path.split("?", 1)[0]
    return path if len(path) <= MAX_LOGGED_PATH else path[:MAX_LOGGED_PATH] + "…"
