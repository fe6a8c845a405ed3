"""GraphQL over HTTP at /graphql, as the GraphQL-over-HTTP specification says.

- POST with `application/json` (a body of `query`, `variables`,
  `operationName`, `extensions`); GET for queries only (mutations over GET
  are 405); subscriptions are the websocket's (a client error here).
- The answer is `application/graphql-response+json` when the client accepts
  it (request errors then have status 400), else `application/json` (status
  200 for every well-formed request). `data` is absent on request errors.
- Bounded before anything is parsed: the body (413, by Content-Length or as
  it streams in), the headers (431), the nesting of `variables`.
- Answers carry `Cache-Control: no-store` (they hold secret values) and an
  `X-Request-Id`.

Every operation gets its own Context (graphql_api.context): authority is
established for it alone.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from time import perf_counter
from typing import Any
from urllib.parse import parse_qsl

import orjson
from graphql import OperationType
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from graphql_api.addresses import client_address
from graphql_api.context import Context, Credentials
from graphql_api.errors import INTERNAL_CODE, INTERNAL_MESSAGE
from graphql_api.execution import MAX_VARIABLE_DEPTH, Engine, Outcome
from graphql_api.request_ids import current_request_id, new_request_id, note
from graphql_api.services.wiring import Services

logger = logging.getLogger("strongroom.http")

GRAPHQL_RESPONSE = "application/graphql-response+json"
JSON = "application/json"
MAX_HEADER_BYTES = 32 * 1024
MAX_USER_AGENT_HEADER = 4096
CLIENT_ERROR = "BAD_USER_INPUT"

GraphiQL = Callable[[Request], Awaitable[Response] | Response]


class RequestProblem(Exception):
    """A request that is not a well-formed GraphQL-over-HTTP request."""

    def __init__(self, status: int, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})


def request_id() -> str:
    """The id of the request being handled (graphql_api.request_ids)."""
    return current_request_id() or new_request_id()


def header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


def headers_too_large(scope: Scope) -> bool:
    return sum(len(k) + len(v) for k, v in scope["headers"]) > MAX_HEADER_BYTES


def credentials_of(scope: Scope, services: Services, rid: str) -> Credentials:
    client = scope.get("client")
    peer = client[0] if client else None
    user_agent = header(scope, b"user-agent")
    return Credentials(
        authorization=header(scope, b"authorization"),
        ip_address=client_address(peer, scope["headers"], services.settings.trusted_proxies),
        user_agent=user_agent[:MAX_USER_AGENT_HEADER] if user_agent else None,
        request_id=rid,
    )


def _media_types(accept: str | None) -> list[tuple[str, float]]:
    if not accept:
        return []
    found = []
    for part in accept.split(","):
        kind, *params = (p.strip() for p in part.split(";"))
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        found.append((kind.lower(), quality))
    return found


def negotiate(accept: str | None) -> str | None:
    """The media type to answer with, or None when nothing acceptable is offered."""
    types = _media_types(accept)
    if not types:
        return JSON  # no Accept: the legacy default
    best: tuple[float, int, str] | None = None
    for kind, quality in types:
        if quality <= 0:
            continue
        if kind == GRAPHQL_RESPONSE:
            choice = (quality, 2, GRAPHQL_RESPONSE)
        elif kind in (JSON, "application/*", "*/*"):
            # Prefer the spec's type for wildcards only when JSON was not named.
            choice = (quality, 1, JSON if kind == JSON else GRAPHQL_RESPONSE if kind != JSON else JSON)
            if kind == "*/*" or kind == "application/*":
                choice = (quality, 0, JSON)
        else:
            continue
        if best is None or choice[:2] > best[:2]:
            best = choice
    return best[2] if best else None


def _too_deep(value: Any, limit: int) -> bool:
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(item, dict):
            stack.extend((inner, depth + 1) for inner in item.values())
        elif isinstance(item, list):
            stack.extend((inner, depth + 1) for inner in item)
    return False


def loads(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        # orjson refuses lone surrogate escapes ("\ud800"), which are valid
        # JSON: the standard parser reads them, and the value is then refused
        # as bad input with a code, field by field.
        try:
            return json.loads(body.decode("utf-8"), parse_constant=reject_constant)
        except (ValueError, RecursionError, UnicodeDecodeError):
            raise RequestProblem(400, "The request body is not valid JSON (UTF-8).") from None


def reject_constant(name: str) -> Any:
    """For json.loads: NaN and Infinity are not JSON."""
    raise ValueError(f"{name} is not JSON")


def graphql_params(payload: Any) -> tuple[str, dict[str, Any] | None, str | None]:
    if not isinstance(payload, dict):
        raise RequestProblem(400, "The request body must be a JSON object with a `query`.")
    query = payload.get("query")
    if not isinstance(query, str):
        raise RequestProblem(400, "`query` must be a string holding a GraphQL document.")
    variables = payload.get("variables")
    if variables is not None and not isinstance(variables, dict):
        raise RequestProblem(400, "`variables` must be a JSON object (or null).")
    if variables is not None and _too_deep(variables, MAX_VARIABLE_DEPTH):
        raise RequestProblem(400, f"`variables` are nested more than {MAX_VARIABLE_DEPTH} levels deep.")
    operation_name = payload.get("operationName")
    if operation_name is not None and not isinstance(operation_name, str):
        raise RequestProblem(400, "`operationName` must be a string (or null).")
    extensions = payload.get("extensions")
    if extensions is not None and not isinstance(extensions, dict):
        raise RequestProblem(400, "`extensions` must be a JSON object (or null).")
    return query, variables, operation_name


class GraphQLHTTP:
    """The ASGI endpoint for GraphQL over HTTP."""

    def __init__(self, services: Services, engine: Engine, *, graphiql: GraphiQL | None = None) -> None:
        self.services = services
        self.engine = engine
        self.graphiql = graphiql
        self.max_body = services.settings.max_request_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        rid = request_id()
        media_type = negotiate(header(scope, b"accept")) or JSON
        try:
            await self._handle(scope, receive, send, rid)
        except RequestProblem as problem:
            await self._send(
                send,
                problem.status,
                {"errors": [{"message": problem.message, "extensions": {"code": CLIENT_ERROR}}]},
                media_type,
                rid,
                problem.headers,
            )
        except Exception as exc:
            # Unexpected: logged with its traceback here, answered with a fixed message.
            logger.error("unexpected %s serving /graphql", type(exc).__name__, exc_info=exc)
            await self._send(
                send,
                500,
                {"errors": [{"message": INTERNAL_MESSAGE, "extensions": {"code": INTERNAL_CODE}}]},
                media_type,
                rid,
            )

    async def _handle(self, scope: Scope, receive: Receive, send: Send, rid: str) -> None:
        if headers_too_large(scope):
            raise RequestProblem(431, f"The request headers are larger than {MAX_HEADER_BYTES} bytes.")
        method = scope["method"]
        accept = header(scope, b"accept")
        if method in ("GET", "HEAD") and self.graphiql is not None and accept and "text/html" in accept:
            response = self.graphiql(Request(scope, receive))
            if not isinstance(response, Response):
                response = await response
            await response(scope, receive, send)
            return
        if method not in ("GET", "POST"):
            raise RequestProblem(405, "Use POST (or GET for queries).", {"allow": "GET, POST"})
        media_type = negotiate(accept)
        if media_type is None:
            raise RequestProblem(
                406, f"This endpoint answers {GRAPHQL_RESPONSE} or {JSON}; the Accept header allows neither."
            )
        if method == "POST":
            content_type = (header(scope, b"content-type") or "").split(";")[0].strip().lower()
            if content_type != JSON:
                raise RequestProblem(415, "Send the request as application/json.")
            body = await self._body(scope, receive)
            query, variables, operation_name = graphql_params(loads(body))
        else:
            query, variables, operation_name = self._get_params(scope)
        outcome = await self._run(scope, rid, method, query, variables, operation_name)
        status = 400 if outcome.request_error and media_type == GRAPHQL_RESPONSE else 200
        extra = {"allow": "POST"} if getattr(outcome, "method_not_allowed", False) else None
        if extra is not None:
            status = 405
        await self._send(send, status, outcome.to_json(), media_type, rid, extra)

    def _get_params(self, scope: Scope) -> tuple[str, dict[str, Any] | None, str | None]:
        raw = scope.get("query_string", b"")
        if len(raw) > self.max_body:
            raise RequestProblem(414, "The query string is too long.")
        params = dict(parse_qsl(raw.decode("latin-1"), keep_blank_values=True))
        payload: dict[str, Any] = {"query": params.get("query"), "operationName": params.get("operationName") or None}
        if params.get("variables"):
            payload["variables"] = loads(params["variables"].encode("utf-8", errors="surrogatepass"))
        if params.get("extensions"):
            payload["extensions"] = loads(params["extensions"].encode("utf-8", errors="surrogatepass"))
        return graphql_params(payload)

    async def _body(self, scope: Scope, receive: Receive) -> bytes:
        length = header(scope, b"content-length")
        if length is not None:
            if not length.isdigit():
                raise RequestProblem(400, "Content-Length is not a number.")
            if int(length) > self.max_body:
                raise RequestProblem(413, f"The request body is larger than {self.max_body} bytes.")
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise RequestProblem(400, "The client went away.")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                raise RequestProblem(413, f"The request body is larger than {self.max_body} bytes.")
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)

    async def _run(
        self,
        scope: Scope,
        rid: str,
        method: str,
        query: str,
        variables: dict[str, Any] | None,
        operation_name: str | None,
    ) -> Outcome:
        started = perf_counter()
        engine = self.engine
        prepared = engine.prepare(query)
        selected = engine.select(prepared, operation_name, variables)
        if isinstance(selected, Outcome):
            return selected
        kind = selected.operation
        if kind is OperationType.SUBSCRIPTION:
            return engine.request_error(
                [_client_error("Subscriptions are served over the websocket at this path (graphql-transport-ws).")]
            )
        if method == "GET" and kind is not OperationType.QUERY:
            outcome = engine.request_error([_client_error("Mutations must be sent with POST.")])
            outcome.method_not_allowed = True  # type: ignore[attr-defined]  # a mark on this one answer, read with getattr
            return outcome
        context = Context.for_operation(self.services, credentials_of(scope, self.services, rid))
        note(context, selected)
        key = operation_name if operation_name is not None else (selected.name.value if selected.name else None)
        plan = prepared.plans.get(key)
        try:
            if plan is not None:
                fast = await plan.run(context, variables or {})
                if fast is not None:
                    return fast
            return await engine.execute(prepared, selected, variables, context)
        finally:
            # The fast path and the executor alike (graphql_api.metrics).
            observe = prepared.timers.get(key)
            if observe is not None:
                observe(perf_counter() - started)

    async def _send(
        self,
        send: Send,
        status: int,
        body: dict[str, Any],
        media_type: str,
        rid: str,
        extra: Mapping[str, str] | None = None,
    ) -> None:
        payload = orjson.dumps(body)
        headers = [
            (b"content-type", f"{media_type}; charset=utf-8".encode()),
            (b"content-length", str(len(payload)).encode()),
            (b"cache-control", b"no-store"),
            (b"x-content-type-options", b"nosniff"),
            # X-Request-Id is added by graphql_api.request_ids, on every route.
        ]
        for name, value in (extra or {}).items():
            headers.append((name.encode(), value.encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})


def _client_error(message: str) -> Any:
    from graphql import GraphQLError

    return GraphQLError(message)
