"""Live audit events over `graphql-transport-ws`, for both clients.

`SubscriptionProtocol` is the protocol without I/O (what to send, what a
received message means); `AuditTail` runs it over websockets' sync client
(closable from another thread), `AsyncAuditTail` over its asyncio client.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from websockets.asyncio.client import ClientConnection as AsyncConnection
from websockets.asyncio.client import connect as async_connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI
from websockets.sync.client import ClientConnection, connect
from websockets.typing import Subprotocol

from graphql_api.client.errors import UNAVAILABLE, Redactor, StrongroomAPIError, api_error
from graphql_api.client.models import AuditEvent
from graphql_api.client.operations import AUDIT_EVENTS

WS_SUBPROTOCOL = Subprotocol("graphql-transport-ws")
SUBSCRIPTION_ID = "1"
# Close codes graphql-transport-ws servers use for refused authentication.
_CLOSE_CODES = {4401: "UNAUTHENTICATED", 4403: "FORBIDDEN"}


@dataclass(frozen=True)
class _Reply:
    """What the protocol says about one received message."""

    send: Mapping[str, Any] | None = None
    event: Any = None
    acknowledged: bool = False
    completed: bool = False


class SubscriptionProtocol:
    """One subscription: `auditEvents` by default, or any whose answers
    `parse` turns into events (e.g. `secretChanges`)."""

    def __init__(
        self,
        token: str,
        workspace: str,
        secret_id: str | None,
        redact: Redactor,
        endpoint: str,
        *,
        query: str = AUDIT_EVENTS,
        field: str = "auditEvents",
        variables: Mapping[str, Any] | None = None,
        parse: Callable[[Mapping[str, Any]], Any] = AuditEvent.from_api,
    ) -> None:
        self._token = token
        self._variables = dict(variables) if variables is not None else {"w": workspace, "s": secret_id}
        self._redact = redact
        self._endpoint = endpoint
        self._query = query
        self._field = field
        self._parse = parse

    def init(self) -> dict[str, Any]:
        return {"type": "connection_init", "payload": {"authorization": f"Bearer {self._token}"}}

    def subscribe(self) -> dict[str, Any]:
        return {
            "id": SUBSCRIPTION_ID,
            "type": "subscribe",
            "payload": {"query": self._query, "variables": self._variables},
        }

    @staticmethod
    def complete() -> dict[str, Any]:
        return {"id": SUBSCRIPTION_ID, "type": "complete"}

    def unavailable(self, message: str) -> StrongroomAPIError:
        return StrongroomAPIError(UNAVAILABLE, self._redact(message))

    def decode(self, raw: str | bytes) -> dict[str, Any]:
        try:
            message = json.loads(raw)
        except ValueError:
            raise self.unavailable("the server sent a message that is not JSON") from None
        if not isinstance(message, dict):
            raise self.unavailable("the server sent a message that is not a JSON object")
        return message

    def before_ack(self, message: Mapping[str, Any]) -> _Reply:
        kind = message.get("type")
        if kind == "connection_ack":
            return _Reply(acknowledged=True)
        if kind == "ping":
            return _Reply(send={"type": "pong"})
        if kind == "pong":
            return _Reply()
        raise self.unavailable(f"expected connection_ack, got {str(kind)[:40]!r}")

    def after_subscribe(self, message: Mapping[str, Any]) -> _Reply:
        kind = message.get("type")
        if kind == "next":
            payload = message.get("payload")
            payload = payload if isinstance(payload, Mapping) else {}
            errors = payload.get("errors")
            if isinstance(errors, list) and errors:
                raise api_error(errors, self._redact)
            data = payload.get("data")
            if isinstance(data, Mapping) and isinstance(data.get(self._field), Mapping):
                return _Reply(event=self._parse(data[self._field]))
            return _Reply()
        if kind == "error":
            errors = message.get("payload")
            raise api_error(errors if isinstance(errors, list) else [], self._redact)
        if kind == "complete":
            return _Reply(completed=True)
        if kind == "ping":
            return _Reply(send={"type": "pong"})
        return _Reply()

    def closed(self, exc: ConnectionClosed) -> StrongroomAPIError:
        received = exc.rcvd
        if received is not None and received.code in _CLOSE_CODES:
            reason = received.reason or "the server closed the subscription"
            return StrongroomAPIError(_CLOSE_CODES[received.code], self._redact(reason))
        detail = f" ({received.code} {received.reason})".rstrip() if received is not None else ""
        return self.unavailable(f"the server closed the connection{detail}")

    def cannot_open(self, exc: BaseException) -> StrongroomAPIError:
        return self.unavailable(f"cannot open {self._endpoint}: {type(exc).__name__}: {exc or 'no detail'}")


class AuditTail:
    """Every audit event of a workspace as it is committed, until closed.

    Iterate it (it connects on first use, or call `open()` to connect and
    subscribe first); `close()` may be called from another thread and ends
    the iteration. A context manager.
    """

    def __init__(self, endpoint: str, protocol: SubscriptionProtocol, *, timeout: float, user_agent: str) -> None:
        self._endpoint = endpoint
        self._protocol = protocol
        self._timeout = timeout
        self._user_agent = user_agent
        self._connection: ClientConnection | None = None
        self._subscribed = False
        self._closed = threading.Event()
        self._lock = threading.Lock()

    def open(self) -> AuditTail:
        """Connect, authenticate and subscribe (idempotent)."""
        if self._connection is not None:
            return self
        if self._closed.is_set():
            raise self._protocol.unavailable("the subscription was closed")
        try:
            connection = connect(
                self._endpoint,
                subprotocols=[WS_SUBPROTOCOL],
                open_timeout=self._timeout,
                user_agent_header=self._user_agent,
            )
        except (OSError, TimeoutError, InvalidHandshake, InvalidURI) as exc:
            raise self._protocol.cannot_open(exc) from None
        with self._lock:
            self._connection = connection
        try:
            self._send(self._protocol.init())
            while True:
                reply = self._protocol.before_ack(self._receive(self._timeout))
                if reply.send is not None:
                    self._send(reply.send)
                if reply.acknowledged:
                    break
            self._send(self._protocol.subscribe())
            self._subscribed = True
        except BaseException:
            self.close()
            raise
        return self

    def __iter__(self) -> Iterator[AuditEvent]:
        return self

    def __next__(self) -> AuditEvent:
        self.open()
        while True:
            if self._closed.is_set():
                raise StopIteration
            try:
                reply = self._protocol.after_subscribe(self._receive(None))
            except StrongroomAPIError:
                self._subscribed = False
                if self._closed.is_set():
                    raise StopIteration from None
                raise
            if reply.send is not None:
                self._send(reply.send)
            if reply.completed:
                self._subscribed = False
                raise StopIteration
            if reply.event is not None:
                return reply.event

    def close(self) -> None:
        self._closed.set()
        with self._lock:
            connection, self._connection = self._connection, None
        if connection is None:
            return
        try:
            if self._subscribed:
                connection.send(json.dumps(self._protocol.complete()))
        except (ConnectionClosed, OSError, RuntimeError):
            pass
        finally:
            self._subscribed = False
            connection.close()

    def __enter__(self) -> AuditTail:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _send(self, message: Mapping[str, Any]) -> None:
        connection = self._connection
        if connection is None:
            raise self._protocol.unavailable("the subscription was closed")
        try:
            connection.send(json.dumps(message))
        except ConnectionClosed as exc:
            raise self._protocol.closed(exc) from None

    def _receive(self, timeout: float | None) -> dict[str, Any]:
        connection = self._connection
        if connection is None:
            raise self._protocol.unavailable("the subscription was closed")
        try:
            raw = connection.recv(timeout=timeout)
        except TimeoutError:
            raise self._protocol.unavailable(f"no answer from {self._endpoint} within {timeout:g} s") from None
        except ConnectionClosed as exc:
            raise self._protocol.closed(exc) from None
        return self._protocol.decode(raw)


class AsyncAuditTail:
    """The asyncio twin of AuditTail: `async for event in tail`, `await tail.aclose()`."""

    def __init__(self, endpoint: str, protocol: SubscriptionProtocol, *, timeout: float, user_agent: str) -> None:
        self._endpoint = endpoint
        self._protocol = protocol
        self._timeout = timeout
        self._user_agent = user_agent
        self._connection: AsyncConnection | None = None
        self._subscribed = False

    async def open(self) -> AsyncAuditTail:
        if self._connection is not None:
            return self
        try:
            self._connection = await async_connect(
                self._endpoint,
                subprotocols=[WS_SUBPROTOCOL],
                open_timeout=self._timeout,
                user_agent_header=self._user_agent,
            )
        except (OSError, TimeoutError, InvalidHandshake, InvalidURI) as exc:
            raise self._protocol.cannot_open(exc) from None
        try:
            await self._send(self._protocol.init())
            while True:
                reply = self._protocol.before_ack(await self._receive(self._timeout))
                if reply.send is not None:
                    await self._send(reply.send)
                if reply.acknowledged:
                    break
            await self._send(self._protocol.subscribe())
            self._subscribed = True
        except BaseException:
            await self.aclose()
            raise
        return self

    def __aiter__(self) -> AsyncIterator[AuditEvent]:
        return self

    async def __anext__(self) -> AuditEvent:
        await self.open()
        while True:
            try:
                reply = self._protocol.after_subscribe(await self._receive(None))
            except StrongroomAPIError:
                self._subscribed = False
                raise
            if reply.send is not None:
                await self._send(reply.send)
            if reply.completed:
                self._subscribed = False
                raise StopAsyncIteration
            if reply.event is not None:
                return reply.event

    async def aclose(self) -> None:
        connection, self._connection = self._connection, None
        if connection is None:
            return
        try:
            if self._subscribed:
                await connection.send(json.dumps(self._protocol.complete()))
        except (ConnectionClosed, OSError):
            pass
        finally:
            self._subscribed = False
            await connection.close()

    async def __aenter__(self) -> AsyncAuditTail:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def _send(self, message: Mapping[str, Any]) -> None:
        if self._connection is None:
            raise self._protocol.unavailable("the subscription was closed")
        try:
            await self._connection.send(json.dumps(message))
        except ConnectionClosed as exc:
            raise self._protocol.closed(exc) from None

    async def _receive(self, timeout: float | None) -> dict[str, Any]:
        if self._connection is None:
            raise self._protocol.unavailable("the subscription was closed")
        try:
            raw = await asyncio.wait_for(self._connection.recv(), timeout)
        except TimeoutError:
            raise self._protocol.unavailable(f"no answer from {self._endpoint} within {timeout:g} s") from None
        except ConnectionClosed as exc:
            raise self._protocol.closed(exc) from None
        return self._protocol.decode(raw)
