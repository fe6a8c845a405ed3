"""A small typed client for a Strongroom server; the `strongroom` CLI uses it.

    from graphql_api.client import StrongroomClient

    with StrongroomClient.from_environ() as client:      # STRONGROOM_URL, STRONGROOM_TOKEN
        print(client.viewer().name)
        for value in client.secret_values("payments", names=["STRIPE_API_KEY"]):
            use(value.value)
        for event in client.tail_audit("payments"):      # live, over graphql-transport-ws
            print(event.action, event.success)

Every failure is a StrongroomAPIError: a GraphQL error keeps the server's
`extensions.code` (and `extensions.field`), an HTTP or transport failure is
UNAVAILABLE. Neither the token nor any secret value ever appears in an
exception message or a repr.
"""

from __future__ import annotations

import json
import os
from collections.abc import Generator, Mapping, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI
from websockets.sync.client import ClientConnection, connect
from websockets.typing import Subprotocol

from graphql_api.client_models import (
    REDACTED,
    ApiToken,
    AuditEvent,
    AuditIntegrity,
    CreatedToken,
    Principal,
    RoleBinding,
    SecretValue,
    Workspace,
    _api_token,
    _audit_event,
    _datetime,
    _principal,
    _secret_value,
)

__all__ = [
    "ApiToken",
    "AuditEvent",
    "AuditIntegrity",
    "ClientConfigError",
    "CreatedToken",
    "Principal",
    "RoleBinding",
    "SecretValue",
    "StrongroomAPIError",
    "StrongroomClient",
    "Workspace",
]

DEFAULT_URL = "http://127.0.0.1:8000"
URL_VARIABLE = "STRONGROOM_URL"
TOKEN_VARIABLE = "STRONGROOM_TOKEN"
UNAVAILABLE = "UNAVAILABLE"
WS_SUBPROTOCOL = Subprotocol("graphql-transport-ws")
USER_AGENT = "strongroom-client/0.1"


class ClientConfigError(Exception):
    """Bad client configuration: `variable` names what to fix."""

    def __init__(self, variable: str, message: str) -> None:
        super().__init__(f"{variable}: {message}")
        self.variable = variable
        self.message = message


class StrongroomAPIError(Exception):
    """The server refused (its `extensions.code`), or could not be reached (UNAVAILABLE)."""

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.field = field

    def __repr__(self) -> str:
        return f"StrongroomAPIError(code={self.code!r}, message={self.message!r}, field={self.field!r})"


_PRINCIPAL = "id name isSuperadmin bindings { workspaceId role }"
_TOKEN = "id name principalId createdAt expiresAt lastUsedAt revoked prefix"
_EVENT = "id workspaceId secretId action userId ipAddress userAgent details success createdAt hash seq"

VIEWER = f"query Viewer {{ viewer {{ {_PRINCIPAL} }} }}"
WORKSPACES = "query Workspaces { workspaces { id name createdAt } }"
CREATE_PRINCIPAL = f"""
mutation CreatePrincipal($name: String!, $bindings: [RoleBindingInput!]!, $superadmin: Boolean) {{
  createPrincipal(name: $name, bindings: $bindings, superadmin: $superadmin) {{ {_PRINCIPAL} }}
}}"""
PRINCIPALS = f"query Principals($w: ID) {{ principals(workspaceId: $w) {{ {_PRINCIPAL} }} }}"
CREATE_TOKEN = f"""
mutation CreateToken($p: ID!, $name: String!, $expiresAt: DateTime) {{
  createApiToken(principalId: $p, name: $name, expiresAt: $expiresAt) {{ token apiToken {{ {_TOKEN} }} }}
}}"""
TOKENS = f"query Tokens($p: ID!) {{ apiTokens(principalId: $p) {{ {_TOKEN} }} }}"
REVOKE_TOKEN = f"mutation RevokeToken($id: ID!) {{ revokeApiToken(id: $id) {{ {_TOKEN} }} }}"
GRANT_ROLE = f"""
mutation GrantRole($p: ID!, $w: ID!, $role: Role!) {{
  grantRole(principalId: $p, workspaceId: $w, role: $role) {{ {_PRINCIPAL} }}
}}"""
REVOKE_ROLE = f"""
mutation RevokeRole($p: ID!, $w: ID!) {{ revokeRole(principalId: $p, workspaceId: $w) {{ {_PRINCIPAL} }} }}"""
AUDIT_INTEGRITY = """
query AuditIntegrity($w: ID!) { auditIntegrity(workspaceId: $w) { valid checkedEvents firstInvalidEventId headHash } }"""
WORKSPACE_AUDIT = f"""
query WorkspaceAudit($w: ID!, $first: Int, $after: String, $action: AuditAction, $success: Boolean) {{
  workspaceAudit(workspaceId: $w, first: $first, after: $after, action: $action, success: $success) {{
    edges {{ node {{ {_EVENT} }} }}
    pageInfo {{ hasNextPage endCursor }}
  }}
}}"""
SECRET_VALUE = """
query SecretValue($w: ID!, $id: ID!, $version: Int) {
  secretValue(workspaceId: $w, id: $id, version: $version) { secretId name version value }
}"""
SECRET_VALUES = """
query SecretValues($w: ID!, $names: [String!]) {
  secretValues(workspaceId: $w, names: $names) { secretId name version value }
}"""
AUDIT_EVENTS = f"""
subscription($w: ID!, $s: ID) {{ auditEvents(workspaceId: $w, secretId: $s) {{ {_EVENT} }} }}"""


# -- the client ---------------------------------------------------------------


class StrongroomClient:
    """Synchronous client for `{url}/graphql`; use as a context manager or call close()."""

    def __init__(
        self,
        url: str,
        token: str,
        *,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        parts = urlsplit(url.strip())
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ClientConfigError(URL_VARIABLE, "must be an http:// or https:// URL (e.g. http://127.0.0.1:8000)")
        if not token:
            raise ClientConfigError(TOKEN_VARIABLE, "is empty")
        self._url = url.strip().rstrip("/")
        self._token = token
        self._timeout = timeout
        self._http = httpx.Client(
            transport=transport,
            timeout=timeout,
            headers={"authorization": f"Bearer {token}", "user-agent": USER_AGENT},
        )

    @classmethod
    def from_environ(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> StrongroomClient:
        """A client for STRONGROOM_URL (default http://127.0.0.1:8000) with STRONGROOM_TOKEN."""
        env = os.environ if environ is None else environ
        token = (env.get(TOKEN_VARIABLE) or "").strip()
        if not token:
            raise ClientConfigError(TOKEN_VARIABLE, "is not set; export an API token (`sr_...`) to use the server")
        url = (env.get(URL_VARIABLE) or "").strip() or DEFAULT_URL
        return cls(url, token, timeout=timeout, transport=transport)

    @property
    def url(self) -> str:
        return self._url

    @property
    def endpoint(self) -> str:
        return f"{self._url}/graphql"

    @property
    def ws_endpoint(self) -> str:
        parts = urlsplit(self.endpoint)
        return urlunsplit(("wss" if parts.scheme == "https" else "ws", *parts[1:]))

    def __repr__(self) -> str:
        return f"StrongroomClient(url={self._url!r})"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> StrongroomClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- transport ------------------------------------------------------------

    def _scrub(self, text: str) -> str:
        """`text` with the token taken out, should anything ever echo it."""
        return text.replace(self._token, REDACTED) if self._token else text

    def _unavailable(self, message: str) -> StrongroomAPIError:
        return StrongroomAPIError(UNAVAILABLE, self._scrub(message))

    def _api_error(self, errors: Sequence[Any]) -> StrongroomAPIError:
        first: Mapping[str, Any] = errors[0] if errors and isinstance(errors[0], Mapping) else {}
        raw_extensions = first.get("extensions")
        extensions: Mapping[str, Any] = raw_extensions if isinstance(raw_extensions, Mapping) else {}
        code = extensions.get("code")
        field_name = extensions.get("field")
        message = first.get("message")
        return StrongroomAPIError(
            code if isinstance(code, str) and code else "INTERNAL",
            self._scrub(message if isinstance(message, str) else "the server reported an error"),
            field_name if isinstance(field_name, str) else None,
        )

    def execute(self, query: str, variables: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Run one GraphQL operation; its `data`, or StrongroomAPIError."""
        try:
            response = self._http.post(self.endpoint, json={"query": query, "variables": dict(variables or {})})
        except httpx.HTTPError as exc:
            raise self._unavailable(
                f"cannot reach {self.endpoint}: {type(exc).__name__}: {exc or 'no detail'}"
            ) from None
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, Mapping):
            errors = body.get("errors")
            if isinstance(errors, list) and errors:
                raise self._api_error(errors)
            data = body.get("data")
            if response.status_code == 200 and isinstance(data, dict):
                return data
        raise self._unavailable(
            f"unexpected answer from {self.endpoint}: HTTP {response.status_code} "
            f"{response.reason_phrase or ''}".rstrip()
        )

    # -- operations -----------------------------------------------------------

    def viewer(self) -> Principal:
        return _principal(self.execute(VIEWER)["viewer"])

    def workspaces(self) -> list[Workspace]:
        return [
            Workspace(id=row["id"], name=row["name"], created_at=_datetime(row["createdAt"]))
            for row in self.execute(WORKSPACES)["workspaces"]
        ]

    def create_principal(
        self, name: str, bindings: Sequence[tuple[str, str]] = (), superadmin: bool = False
    ) -> Principal:
        variables = {
            "name": name,
            "bindings": [{"workspaceId": workspace, "role": role} for workspace, role in bindings],
            "superadmin": superadmin,
        }
        return _principal(self.execute(CREATE_PRINCIPAL, variables)["createPrincipal"])

    def principals(self, workspace: str | None = None) -> list[Principal]:
        return [_principal(row) for row in self.execute(PRINCIPALS, {"w": workspace})["principals"]]

    def create_token(self, principal_id: str, name: str, expires_at: datetime | None = None) -> CreatedToken:
        variables = {
            "p": principal_id,
            "name": name,
            "expiresAt": expires_at.isoformat() if expires_at is not None else None,
        }
        row = self.execute(CREATE_TOKEN, variables)["createApiToken"]
        return CreatedToken(token=row["token"], api_token=_api_token(row["apiToken"]))

    def tokens(self, principal_id: str) -> list[ApiToken]:
        return [_api_token(row) for row in self.execute(TOKENS, {"p": principal_id})["apiTokens"]]

    def revoke_token(self, token_id: str) -> ApiToken:
        return _api_token(self.execute(REVOKE_TOKEN, {"id": token_id})["revokeApiToken"])

    def grant_role(self, principal_id: str, workspace: str, role: str) -> Principal:
        variables = {"p": principal_id, "w": workspace, "role": role}
        return _principal(self.execute(GRANT_ROLE, variables)["grantRole"])

    def revoke_role(self, principal_id: str, workspace: str) -> Principal:
        return _principal(self.execute(REVOKE_ROLE, {"p": principal_id, "w": workspace})["revokeRole"])

    def audit_integrity(self, workspace: str) -> AuditIntegrity:
        row = self.execute(AUDIT_INTEGRITY, {"w": workspace})["auditIntegrity"]
        return AuditIntegrity(
            valid=bool(row["valid"]),
            checked_events=int(row["checkedEvents"]),
            first_invalid_event_id=row["firstInvalidEventId"],
            head_hash=row["headHash"],
        )

    def workspace_audit(
        self,
        workspace: str,
        first: int = 50,
        after: str | None = None,
        action: str | None = None,
        success: bool | None = None,
    ) -> tuple[list[AuditEvent], str | None, bool]:
        """One page of the workspace's trail: (events, end cursor, has next page)."""
        variables = {"w": workspace, "first": first, "after": after, "action": action, "success": success}
        page = self.execute(WORKSPACE_AUDIT, variables)["workspaceAudit"]
        events = [_audit_event(edge["node"]) for edge in page["edges"]]
        return events, page["pageInfo"]["endCursor"], bool(page["pageInfo"]["hasNextPage"])

    def secret_value(self, workspace: str, id: str, version: int | None = None) -> SecretValue:
        row = self.execute(SECRET_VALUE, {"w": workspace, "id": id, "version": version})["secretValue"]
        return _secret_value(row)

    def secret_values(self, workspace: str, names: Sequence[str] | None = None) -> list[SecretValue]:
        variables = {"w": workspace, "names": list(names) if names is not None else None}
        return [_secret_value(row) for row in self.execute(SECRET_VALUES, variables)["secretValues"]]

    # -- live audit -----------------------------------------------------------

    def tail_audit(self, workspace: str, secret_id: str | None = None) -> Generator[AuditEvent, None, None]:
        """Every audit event of `workspace` (of one secret) as it is committed, until closed.

        graphql-transport-ws over `{ws_url}/graphql`; closing the generator
        completes the subscription and closes the socket.
        """
        try:
            connection = connect(
                self.ws_endpoint,
                subprotocols=[WS_SUBPROTOCOL],
                open_timeout=self._timeout,
                user_agent_header=USER_AGENT,
            )
        except (OSError, TimeoutError, InvalidHandshake, InvalidURI) as exc:
            raise self._unavailable(
                f"cannot open {self.ws_endpoint}: {type(exc).__name__}: {exc or 'no detail'}"
            ) from None
        subscribed = False
        try:
            self._ws_send(connection, {"type": "connection_init", "payload": {"authorization": f"Bearer {self._token}"}})
            while True:
                message = self._ws_receive(connection, self._timeout)
                kind = message.get("type")
                if kind == "connection_ack":
                    break
                if kind == "ping":
                    self._ws_send(connection, {"type": "pong"})
                elif kind != "pong":
                    raise self._unavailable(f"expected connection_ack, got {kind!r}")
            self._ws_send(
                connection,
                {
                    "id": "1",
                    "type": "subscribe",
                    "payload": {"query": AUDIT_EVENTS, "variables": {"w": workspace, "s": secret_id}},
                },
            )
            subscribed = True
            while True:
                message = self._ws_receive(connection, None)
                kind = message.get("type")
                if kind == "next":
                    payload = message.get("payload")
                    payload = payload if isinstance(payload, Mapping) else {}
                    errors = payload.get("errors")
                    if isinstance(errors, list) and errors:
                        subscribed = False
                        raise self._api_error(errors)
                    data = payload.get("data")
                    if isinstance(data, Mapping) and isinstance(data.get("auditEvents"), Mapping):
                        yield _audit_event(data["auditEvents"])
                elif kind == "error":
                    subscribed = False
                    errors = message.get("payload")
                    raise self._api_error(errors if isinstance(errors, list) else [])
                elif kind == "complete":
                    subscribed = False
                    return
                elif kind == "ping":
                    self._ws_send(connection, {"type": "pong"})
        finally:
            try:
                if subscribed:
                    connection.send(json.dumps({"id": "1", "type": "complete"}))
            except ConnectionClosed:
                pass
            finally:
                connection.close()

    def _ws_send(self, connection: ClientConnection, message: Mapping[str, Any]) -> None:
        try:
            connection.send(json.dumps(message))
        except ConnectionClosed as exc:
            raise self._closed(exc) from None

    def _ws_receive(self, connection: ClientConnection, timeout: float | None) -> dict[str, Any]:
        try:
            raw = connection.recv(timeout=timeout)
        except TimeoutError:
            raise self._unavailable(f"no answer from {self.ws_endpoint} within {timeout:g} s") from None
        except ConnectionClosed as exc:
            raise self._closed(exc) from None
        try:
            message = json.loads(raw)
        except ValueError:
            raise self._unavailable("the server sent a message that is not JSON") from None
        if not isinstance(message, dict):
            raise self._unavailable("the server sent a message that is not a JSON object")
        return message

    def _closed(self, exc: ConnectionClosed) -> StrongroomAPIError:
        received = exc.rcvd
        if received is not None and received.code in (4401, 4403):
            code = "UNAUTHENTICATED" if received.code == 4401 else "FORBIDDEN"
            return StrongroomAPIError(code, self._scrub(received.reason or "the server closed the subscription"))
        detail = f" ({received.code} {received.reason})".rstrip() if received is not None else ""
        return self._unavailable(f"the server closed the connection{detail}")


# -- mapping ------------------------------------------------------------------
