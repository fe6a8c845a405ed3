"""GraphQL over a websocket at /graphql: the graphql-transport-ws protocol
(https://github.com/enisdenjo/graphql-ws/blob/master/PROTOCOL.md).

A connection is not a session. `connection_init` must carry a token
(`{"authorization": "Bearer <token>"}`, any case of the key); a bad one closes
the socket with 4403 instead of an acknowledgement. After that every
operation (query, mutation or subscription start) gets a Context of its own:
its token is looked up again, its bindings read again, its DataLoaders new.
A subscription holds a lease on its authority and is ended with an `error`
message when the token is revoked or expires or the role is removed; when the
token itself is gone, every operation of the socket is ended and the socket
closed with 4403.

The legacy `graphql-ws` subprotocol (subscriptions-transport-ws) is refused
with close code 4406 and a reason naming the fix, unless STRONGROOM_LEGACY_WS
turns it on; then the same per-operation rules apply to it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from time import perf_counter
from typing import Any

import orjson
from graphql import GraphQLError, OperationType
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from graphql_api.context import Context, Credentials
from graphql_api.drain import CLOSE_CODE as GOING_AWAY
from graphql_api.drain import CLOSE_REASON as GOING_AWAY_REASON
from graphql_api.errors import RateLimited, StrongroomError, Unauthenticated
from graphql_api.execution import Engine, Outcome
from graphql_api.http import credentials_of, headers_too_large, reject_constant, request_id
from graphql_api.request_ids import begin_operation, note
from graphql_api.schema.errors import map_error
from graphql_api.services.wiring import Services

logger = logging.getLogger("strongroom.websocket")

TRANSPORT_WS = "graphql-transport-ws"
LEGACY_WS = "graphql-ws"
CONNECTION_INIT_TIMEOUT = 10.0
MAX_OPERATIONS = 100
MAX_OPERATION_ID = 128
MAX_MESSAGE_BYTES = 1 << 20


@dataclass(frozen=True)
class Dialect:
    """Message names of one subprotocol."""

    subscribe: str
    next: str
    complete_server: str
    complete_client: str
    error: str
    legacy: bool


TRANSPORT = Dialect("subscribe", "next", "complete", "complete", "error", legacy=False)
LEGACY = Dialect("start", "data", "complete", "stop", "error", legacy=True)


class _Close(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


@dataclass
class _Connection:
    websocket: WebSocket
    dialect: Dialect
    credentials: Credentials
    acknowledged: bool = False
    operations: dict[str, asyncio.Task[None]] = field(default_factory=dict)
    closed: bool = False
    # The operations that are subscriptions (ended at once by a drain).
    streams: set[str] = field(default_factory=set)


def _authorization(payload: Mapping[str, Any]) -> str | None:
    for key, value in payload.items():
        if isinstance(key, str) and key.lower() == "authorization" and isinstance(value, str):
            return value
    headers = payload.get("headers")
    if isinstance(headers, Mapping):
        return _authorization(headers)
    return None


class GraphQLWebSocket:
    def __init__(self, services: Services, engine: Engine) -> None:
        self.services = services
        self.engine = engine
        # Live connections, for the drain (`go_away`).
        self._live: dict[int, _Connection] = {}
        self.draining = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        websocket = WebSocket(scope, receive, send)
        if headers_too_large(scope):
            await websocket.close(code=1009, reason="request headers too large")
            return
        offered = list(scope.get("subprotocols") or [])
        if TRANSPORT_WS in offered:
            dialect = TRANSPORT
            await websocket.accept(subprotocol=TRANSPORT_WS)
        elif LEGACY_WS in offered and self.services.settings.legacy_ws_enabled:
            dialect = LEGACY
            await websocket.accept(subprotocol=LEGACY_WS)
        else:
            await websocket.accept()
            reason = (
                "Subprotocol not acceptable: the legacy graphql-ws protocol is disabled; use graphql-transport-ws"
                if LEGACY_WS in offered
                else "Subprotocol not acceptable: use graphql-transport-ws"
            )
            await websocket.close(code=4406, reason=reason)
            return
        connection = _Connection(websocket, dialect, credentials_of(scope, self.services, request_id()))
        self._live[id(connection)] = connection
        try:
            if self.draining:
                raise _Close(GOING_AWAY, GOING_AWAY_REASON)
            await self._serve(connection)
        except _Close as close:
            await self._close(connection, close.code, close.reason)
        except WebSocketDisconnect:
            pass
        finally:
            self._live.pop(id(connection), None)
            for task in list(connection.operations.values()):
                task.cancel()
            if connection.operations:
                await asyncio.gather(*connection.operations.values(), return_exceptions=True)

    async def go_away(self, deadline: float) -> None:
        """The drain (graphql_api.drain): end every live connection. Its
        subscriptions end at once, its other operations are let finish (until
        `deadline`, event loop time), then it is closed with 1012; operations
        that arrive meanwhile are refused."""
        self.draining = True
        await asyncio.gather(*(self._go_away(c, deadline) for c in list(self._live.values())))

    async def _go_away(self, connection: _Connection, deadline: float) -> None:
        running = []
        for operation_id, task in list(connection.operations.items()):
            if operation_id in connection.streams:
                task.cancel()
            else:
                running.append(task)
        if running:
            await asyncio.wait(running, timeout=max(0.0, deadline - asyncio.get_running_loop().time()))
        await self._close(connection, GOING_AWAY, GOING_AWAY_REASON)

    # ---- the connection -------------------------------------------------------

    async def _serve(self, connection: _Connection) -> None:
        websocket = connection.websocket
        try:
            first = await asyncio.wait_for(self._receive(connection), CONNECTION_INIT_TIMEOUT)
        except TimeoutError:
            raise _Close(4408, "Connection initialisation timeout") from None
        if first.get("type") != "connection_init":
            raise _Close(4401 if not connection.dialect.legacy else 4400, "Unauthorized")
        await self._init(connection, first)
        while True:
            message = await self._receive(connection)
            kind = message.get("type")
            if kind == "connection_init":
                raise _Close(4429, "Too many initialisation requests")
            if kind == "ping" and not connection.dialect.legacy:
                await self._send(connection, {"type": "pong"})
            elif kind == "pong" and not connection.dialect.legacy:
                continue
            elif kind == connection.dialect.subscribe:
                self._subscribe(connection, message)
            elif kind == connection.dialect.complete_client:
                operation_id = message.get("id")
                task = connection.operations.pop(operation_id, None) if isinstance(operation_id, str) else None
                if task is not None:
                    task.cancel()
            elif kind == "connection_terminate" and connection.dialect.legacy:
                raise _Close(1000, "terminated")
            else:
                raise _Close(4400, "Unknown message type")
        del websocket

    async def _receive(self, connection: _Connection) -> dict[str, Any]:
        message = await connection.websocket.receive()
        if message["type"] == "websocket.disconnect":
            raise WebSocketDisconnect(message.get("code", 1000))
        text = message.get("text")
        if text is None:
            raise _Close(4400, "WebSocket message type must be text")
        if len(text) > MAX_MESSAGE_BYTES:
            raise _Close(4400, "Message too large")
        try:
            parsed = orjson.loads(text)
        except orjson.JSONDecodeError:
            try:
                parsed = json.loads(text, parse_constant=reject_constant)
            except (ValueError, RecursionError):
                raise _Close(4400, "WebSocket message must be valid JSON") from None
        if not isinstance(parsed, dict) or not isinstance(parsed.get("type"), str):
            raise _Close(4400, "Invalid message")
        return parsed

    async def _init(self, connection: _Connection, message: Mapping[str, Any]) -> None:
        payload = message.get("payload") or {}
        if not isinstance(payload, dict):
            raise _Close(4400, "Invalid connection init payload")
        credentials = Credentials(
            authorization=_authorization(payload),
            ip_address=connection.credentials.ip_address,
            user_agent=connection.credentials.user_agent,
            request_id=connection.credentials.request_id,
        )
        try:
            await self.services.authenticator.authenticate(credentials.authorization, credentials.ip_address)
        except (Unauthenticated, RateLimited):
            if connection.dialect.legacy:
                await self._send(connection, {"type": "connection_error", "payload": {"message": "Forbidden"}})
            raise _Close(4403, "Forbidden") from None
        connection.credentials = credentials
        connection.acknowledged = True
        await self._send(connection, {"type": "connection_ack"})

    def _subscribe(self, connection: _Connection, message: Mapping[str, Any]) -> None:
        operation_id = message.get("id")
        payload = message.get("payload")
        if not isinstance(operation_id, str) or not operation_id or len(operation_id) > MAX_OPERATION_ID:
            raise _Close(4400, "Invalid operation id")
        if not isinstance(payload, dict) or not isinstance(payload.get("query"), str):
            raise _Close(4400, "Invalid subscribe payload")
        if operation_id in connection.operations:
            raise _Close(4409, f"Subscriber for {operation_id} already exists")
        variables = payload.get("variables")
        operation_name = payload.get("operationName")
        if (variables is not None and not isinstance(variables, dict)) or (
            operation_name is not None and not isinstance(operation_name, str)
        ):
            raise _Close(4400, "Invalid subscribe payload")
        if self.draining:
            refusal = {"message": "the server is shutting down", "extensions": {"code": "UNAVAILABLE"}}
            task = asyncio.create_task(self._send_errors(connection, operation_id, [refusal]))
            return
        if len(connection.operations) >= MAX_OPERATIONS:
            task = asyncio.create_task(
                self._send_errors(connection, operation_id, [_error(f"at most {MAX_OPERATIONS} operations at once")])
            )
            return
        task = asyncio.create_task(
            self._operation(connection, operation_id, payload["query"], variables, operation_name)
        )
        connection.operations[operation_id] = task

        def forget(_done: asyncio.Task[None], op: str = operation_id) -> None:
            connection.operations.pop(op, None)
            connection.streams.discard(op)

        task.add_done_callback(forget)

    # ---- one operation ----------------------------------------------------------

    async def _operation(
        self,
        connection: _Connection,
        operation_id: str,
        query: str,
        variables: dict[str, Any] | None,
        operation_name: str | None,
    ) -> None:
        engine = self.engine
        started = perf_counter()
        # Its own request id (naming the socket's), set in this task's context only.
        begin_operation()
        try:
            prepared = engine.prepare(query)
            selected = engine.select(prepared, operation_name, variables)
            if isinstance(selected, Outcome):
                await self._send_errors(connection, operation_id, selected.errors)
                return
            # A fresh Context: authority and DataLoaders belong to this operation only.
            context = Context.for_operation(self.services, connection.credentials)
            note(context, selected)
            if selected.operation is OperationType.SUBSCRIPTION:
                if self.draining:
                    return  # started just as the drain began: the drain closes the socket
                connection.streams.add(operation_id)
                await self._stream(connection, operation_id, prepared, selected, variables, context)
                return
            plan_key = (
                operation_name if operation_name is not None else (selected.name.value if selected.name else None)
            )
            plan = prepared.plans.get(plan_key)
            outcome = await plan.run(context, variables or {}) if plan is not None else None
            if outcome is None:
                outcome = await engine.execute(prepared, selected, variables, context)
            observe = prepared.timers.get(plan_key)
            if observe is not None:
                observe(perf_counter() - started)
            if outcome.request_error:
                await self._send_errors(connection, operation_id, outcome.errors)
                return
            await self._send(
                connection, {"id": operation_id, "type": connection.dialect.next, "payload": outcome.to_json()}
            )
            await self._send(connection, {"id": operation_id, "type": connection.dialect.complete_server})
            await self._after(connection, outcome)
        except asyncio.CancelledError:
            raise
        except (WebSocketDisconnect, RuntimeError):
            return
        except Exception as exc:
            logger.error("websocket operation failed: %s", type(exc).__name__, exc_info=exc)
            with contextlib.suppress(Exception):
                await self._send_errors(connection, operation_id, [_formatted(exc)])

    async def _stream(
        self,
        connection: _Connection,
        operation_id: str,
        prepared: Any,
        selected: Any,
        variables: dict[str, Any] | None,
        context: Context,
    ) -> None:
        started = await self.engine.subscribe(prepared, selected, variables, context)
        if isinstance(started, Outcome):
            await self._send_errors(connection, operation_id, started.errors)
            await self._after(connection, started)
            return
        try:
            async for outcome in started:
                await self._send(
                    connection, {"id": operation_id, "type": connection.dialect.next, "payload": outcome.to_json()}
                )
        except StrongroomError as exc:
            formatted = _formatted(exc)
            await self._send_errors(connection, operation_id, [formatted])
            if isinstance(exc, Unauthenticated):
                await self._token_gone(connection)
            return
        finally:
            closing = getattr(started, "aclose", None)
            if closing is not None:
                with contextlib.suppress(Exception):
                    await closing()
        await self._send(connection, {"id": operation_id, "type": connection.dialect.complete_server})

    async def _after(self, connection: _Connection, outcome: Outcome) -> None:
        """An operation refused for its token: the socket's token is gone."""
        codes = {(e.get("extensions") or {}).get("code") for e in outcome.errors}
        if "UNAUTHENTICATED" in codes:
            await self._token_gone(connection)

    async def _token_gone(self, connection: _Connection) -> None:
        current = asyncio.current_task()
        for task in list(connection.operations.values()):
            if task is not current:
                task.cancel()
        await self._close(connection, 4403, "Forbidden: the connection's token is no longer valid")

    # ---- sending ----------------------------------------------------------------

    async def _send_errors(self, connection: _Connection, operation_id: str, errors: list[dict[str, Any]]) -> None:
        payload: Any = errors
        if connection.dialect.legacy:
            payload = errors[0] if errors else {"message": "error"}
        await self._send(connection, {"id": operation_id, "type": connection.dialect.error, "payload": payload})

    async def _send(self, connection: _Connection, message: Mapping[str, Any]) -> None:
        if connection.closed or connection.websocket.application_state != WebSocketState.CONNECTED:
            return
        await connection.websocket.send_text(orjson.dumps(message).decode("utf-8"))

    async def _close(self, connection: _Connection, code: int, reason: str) -> None:
        if connection.closed:
            return
        connection.closed = True
        with contextlib.suppress(Exception):
            if connection.websocket.application_state == WebSocketState.CONNECTED:
                await connection.websocket.close(code=code, reason=reason)


def _error(message: str) -> dict[str, Any]:
    return {"message": message, "extensions": {"code": "BAD_USER_INPUT"}}


def _formatted(exc: Exception) -> dict[str, Any]:
    error = GraphQLError(str(exc), original_error=exc)
    return dict(map_error(error).formatted)
