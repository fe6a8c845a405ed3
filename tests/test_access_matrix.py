"""Who may do what, where: every root field of the schema × every role.

Columns: the five workspace roles (each held by a principal bound to "alpha"
only), NONE (a principal bound only to "gamma") and SUPERADMIN (the bootstrap
admin, as a sanity column: every case of the table must be answerable).
Rows: every Query, Mutation and Subscription field, each asked in "alpha"
(where the role is bound) and in "beta" (where it is not). Secret ids are
always those of secrets living in "alpha", so a "beta" case is also a
cross-workspace probe: it must never answer with alpha's data.

The expected table is written out here from the README's access table,
independently of graphql_api/services/access.py, so a change there that
breaks the documented contract fails here.

`test_every_root_field_is_in_the_matrix` fails when an operation is added to
the schema without a row in OPERATIONS.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import graphql
import httpx
import pytest
import strawberry

from graphql_api.context import Context, Credentials
from graphql_api.schema import build_schema
from tests.clock import MutableClock
from tests.harness import ADMIN_TOKEN, Server, dicts_in, error_codes
from tests.support.access_table import ALLOWED_ROLES, COLUMNS, NONE, ROLES, SUPERADMIN, Need

UA = "strongroom-access-matrix/1"
CLIENT_IP = "127.0.0.1"  # what httpx.ASGITransport reports as the peer
SCHEMA_FILE = Path(__file__).resolve().parent.parent / "schema.graphql"

BOUND, UNBOUND = "alpha", "beta"

# Every FORBIDDEN refusal in a workspace that exists must leave an ACCESS_DENIED
# event there naming the permission (NOT_FOUND refusals hide a principal and
# record nothing).
WORKSPACE_PERMISSIONS = frozenset(name for need in Need if need.scoped and (name := need.permission_name) is not None)


def expected_allowed(column: str, need: Need, workspace: str | None) -> bool:
    if column == SUPERADMIN or need is Need.ANY:
        return True
    if need is Need.SUPERADMIN or workspace != BOUND:
        return False
    return column in ALLOWED_ROLES[need]


# ---------------------------------------------------------------------------
# The world every matrix test starts from, made through the API as the admin.
# ---------------------------------------------------------------------------

SECRET_FIELDS = "id workspaceId name isActive currentVersion usage"
CREATE_WORKSPACE = "mutation($id: ID!) { createWorkspace(id: $id) { id } }"
CREATE_SECRET = f"""mutation($ws: ID!, $input: CreateSecretInput!) {{
  createSecret(workspaceId: $ws, input: $input) {{ {SECRET_FIELDS} }} }}"""
ROTATE_SECRET = (
    """mutation($ws: ID!, $id: ID!, $v: String) { rotateSecret(workspaceId: $ws, id: $id, newValue: $v) { id } }"""
)
DELETE_SECRET = """mutation($ws: ID!, $id: ID!) { deleteSecret(workspaceId: $ws, id: $id) { id } }"""
CREATE_PRINCIPAL = """mutation($name: String!, $bindings: [RoleBindingInput!]!, $superadmin: Boolean) {
  createPrincipal(name: $name, bindings: $bindings, superadmin: $superadmin) { id name isSuperadmin bindings { workspaceId role } } }"""
CREATE_TOKEN = """mutation($pid: ID!, $name: String!, $exp: DateTime) {
  createApiToken(principalId: $pid, name: $name, expiresAt: $exp) { token apiToken { id principalId expiresAt } } }"""
REVOKE_TOKEN = "mutation($id: ID!) { revokeApiToken(id: $id) { id revoked } }"
GRANT_ROLE = """mutation($pid: ID!, $ws: ID!, $role: Role!) {
  grantRole(principalId: $pid, workspaceId: $ws, role: $role) { id bindings { workspaceId role } } }"""
REVOKE_ROLE = """mutation($pid: ID!, $ws: ID!) { revokeRole(principalId: $pid, workspaceId: $ws) { id bindings { workspaceId role } } }"""
VIEWER_Q = "query { viewer { id name isSuperadmin bindings { workspaceId role } } }"
LIST_SECRETS = "query($ws: ID!) { secrets(workspaceId: $ws) { totalCount edges { node { id workspaceId name } } } }"
DENIALS = """query($ws: ID!) { workspaceAudit(workspaceId: $ws, action: ACCESS_DENIED, first: 500) {
  edges { node { workspaceId action userId ipAddress userAgent success details } } } }"""
AUDIT_EVENTS = """subscription($ws: ID!, $secretId: ID) { auditEvents(workspaceId: $ws, secretId: $secretId) {
  id workspaceId secretId action userId success details } }"""
SECRET_CHANGES = """subscription($ws: ID!) { secretChanges(workspaceId: $ws) { secretId name action version } }"""


def marker(workspace: str) -> str:
    """Put in every secret name and value of `workspace`, so a leak shows anywhere."""
    return f"{workspace.upper()}_"


@dataclass
class World:
    server: Server
    schema: strawberry.Schema
    seeded: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # workspace -> secrets made at set-up
    ids: dict[str, set[str]] = field(default_factory=dict)  # workspace -> every secret id made there
    principals: dict[str, str] = field(default_factory=dict)  # column -> principal id
    tokens: dict[str, str] = field(default_factory=dict)  # column -> token
    targets: dict[str, str] = field(default_factory=dict)  # workspace -> a principal bound only to it (VIEWER)
    made: dict[str, tuple[int, bool]] = field(
        default_factory=dict
    )  # secret id -> (version, active) as the admin left it
    _serial: Iterator[int] = field(default_factory=itertools.count)

    def unique(self, prefix: str) -> str:
        return f"{prefix}{next(self._serial)}"

    async def admin(self, document: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        return await self.server.data(document, variables)

    async def secret(self, workspace: str, *, versions: int = 1, deleted: bool = False) -> str:
        """A throw-away secret in `workspace`, made as the admin."""
        name = self.unique(f"{marker(workspace)}FRESH_")
        made = await self.admin(
            CREATE_SECRET,
            {"ws": workspace, "input": {"name": name, "secretType": "GENERIC", "value": f"{name}_value"}},
        )
        secret_id: str = made["createSecret"]["id"]
        self.ids.setdefault(workspace, set()).add(secret_id)
        for version in range(2, versions + 1):
            await self.admin(ROTATE_SECRET, {"ws": workspace, "id": secret_id, "v": f"{name}_value_v{version}"})
        if deleted:
            await self.admin(DELETE_SECRET, {"ws": workspace, "id": secret_id})
        self.made[secret_id] = (versions, not deleted)
        return secret_id

    async def principal(self, name: str, bindings: list[tuple[str, str]], superadmin: bool = False) -> str:
        made = await self.admin(
            CREATE_PRINCIPAL,
            {"name": name, "bindings": [{"workspaceId": w, "role": r} for w, r in bindings], "superadmin": superadmin},
        )
        principal_id: str = made["createPrincipal"]["id"]
        return principal_id

    async def token(self, principal_id: str, name: str = "matrix") -> tuple[str, str]:
        made = await self.admin(CREATE_TOKEN, {"pid": principal_id, "name": name})
        return made["createApiToken"]["token"], made["createApiToken"]["apiToken"]["id"]

    def seeded_secret(self, workspace: str = BOUND) -> dict[str, Any]:
        return self.seeded[workspace][0]


async def build_world(server: Server) -> World:
    world = World(server=server, schema=build_schema())
    for workspace in ("alpha", "beta", "gamma"):
        await world.admin(CREATE_WORKSPACE, {"id": workspace})
    for workspace, count in (("alpha", 3), ("beta", 2)):
        world.seeded[workspace] = []
        for n in range(1, count + 1):
            name = f"{marker(workspace)}SEEDED_{n}"
            made = await world.admin(
                CREATE_SECRET,
                {"ws": workspace, "input": {"name": name, "secretType": "API_KEY", "value": f"{name}_value"}},
            )
            world.seeded[workspace].append(made["createSecret"])
            world.made[made["createSecret"]["id"]] = (1, True)
            world.ids.setdefault(workspace, set()).add(made["createSecret"]["id"])
    for role in ROLES:
        world.principals[role] = await world.principal(f"{role.lower()}-of-alpha", [(BOUND, role)])
    world.principals[NONE] = await world.principal("unbound", [("gamma", "VIEWER")])
    for column in (*ROLES, NONE):
        world.tokens[column], _ = await world.token(world.principals[column])
    world.tokens[SUPERADMIN] = ADMIN_TOKEN
    world.principals[SUPERADMIN] = (await world.admin(VIEWER_Q))["viewer"]["id"]
    for workspace in (BOUND, UNBOUND):
        world.targets[workspace] = await world.principal(f"target-{workspace}", [(workspace, "VIEWER")])
    return world


# ---------------------------------------------------------------------------
# The operations: one row per root field.
# ---------------------------------------------------------------------------

Variables = Callable[[World, str | None], Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class Operation:
    need: Need
    document: str
    variables: Variables
    refusal: str = "FORBIDDEN"
    # Error codes an allowed call may still answer with in its own workspace
    # (an operation this version does not provide yet).
    tolerated: frozenset[str] = frozenset()

    @property
    def scoped(self) -> bool:
        return self.need.scoped


async def no_variables(world: World, ws: str | None) -> dict[str, Any]:
    return {}


async def workspace_only(world: World, ws: str | None) -> dict[str, Any]:
    return {"ws": ws}


async def seeded_id(world: World, ws: str | None) -> dict[str, Any]:
    return {"ws": ws, "id": world.seeded_secret()["id"]}


async def seeded_name(world: World, ws: str | None) -> dict[str, Any]:
    return {"ws": ws, "name": world.seeded_secret()["name"]}


async def seeded_secret_id(world: World, ws: str | None) -> dict[str, Any]:
    return {"ws": ws, "secretId": world.seeded_secret()["id"]}


async def fresh_workspace(world: World, ws: str | None) -> dict[str, Any]:
    return {"id": world.unique("made-")}


async def new_secret_input(world: World, ws: str | None) -> dict[str, Any]:
    name = world.unique(f"{marker(ws or BOUND)}CREATED_")
    return {"ws": ws, "input": {"name": name, "secretType": "PASSWORD", "value": f"{name}_value"}}


async def fresh_id(world: World, ws: str | None) -> dict[str, Any]:
    return {"ws": ws, "id": await world.secret(BOUND)}


async def fresh_update(world: World, ws: str | None) -> dict[str, Any]:
    return {**await fresh_id(world, ws), "input": {"usage": "changed by the matrix"}}


async def fresh_rotate(world: World, ws: str | None) -> dict[str, Any]:
    return {**await fresh_id(world, ws), "v": f"{marker(ws or BOUND)}ROTATED_value"}


async def fresh_two_versions(world: World, ws: str | None) -> dict[str, Any]:
    return {"ws": ws, "id": await world.secret(BOUND, versions=2)}


async def fresh_deleted(world: World, ws: str | None) -> dict[str, Any]:
    return {"ws": ws, "id": await world.secret(BOUND, deleted=True)}


async def dotenv(world: World, ws: str | None) -> dict[str, Any]:
    return {"ws": ws, "dotenv": f"{marker(ws or BOUND)}IMPORTED=1\n"}


async def new_principal(world: World, ws: str | None) -> dict[str, Any]:
    return {"name": world.unique("made-by-matrix-"), "bindings": [{"workspaceId": ws, "role": "VIEWER"}]}


async def target_of(world: World, ws: str | None) -> dict[str, Any]:
    assert ws is not None
    return {"pid": world.targets[ws], "name": world.unique("matrix-token-")}


async def target_token(world: World, ws: str | None) -> dict[str, Any]:
    assert ws is not None
    _, token_id = await world.token(world.targets[ws], world.unique("to-revoke-"))
    return {"id": token_id}


async def grant_target(world: World, ws: str | None) -> dict[str, Any]:
    assert ws is not None
    return {"pid": world.targets[ws], "ws": ws, "role": "READER"}


async def revoke_fresh_binding(world: World, ws: str | None) -> dict[str, Any]:
    assert ws is not None
    return {"pid": await world.principal(world.unique(f"bound-to-{ws}-"), [(ws, "VIEWER")]), "ws": ws}


OPERATIONS: dict[str, Operation] = {
    # --- Query ---------------------------------------------------------------
    "Query.viewer": Operation(Need.ANY, VIEWER_Q, no_variables),
    "Query.workspaces": Operation(Need.ANY, "query { workspaces { id name } }", no_variables),
    "Query.secrets": Operation(Need.LIST, LIST_SECRETS, workspace_only),
    "Query.secret": Operation(
        Need.LIST, f"query($ws: ID!, $id: ID!) {{ secret(workspaceId: $ws, id: $id) {{ {SECRET_FIELDS} }} }}", seeded_id
    ),
    "Query.secretByName": Operation(
        Need.LIST,
        f"query($ws: ID!, $name: String!) {{ secretByName(workspaceId: $ws, name: $name) {{ {SECRET_FIELDS} }} }}",
        seeded_name,
    ),
    "Query.secretValue": Operation(
        Need.VALUES,
        "query($ws: ID!, $id: ID!) { secretValue(workspaceId: $ws, id: $id) { secretId name version value } }",
        seeded_id,
    ),
    "Query.secretValues": Operation(
        Need.VALUES,
        "query($ws: ID!) { secretValues(workspaceId: $ws) { secretId name version value } }",
        workspace_only,
    ),
    "Query.secretDigests": Operation(
        Need.VALUES,
        "query($ws: ID!) { secretDigests(workspaceId: $ws) { secretId name version digest } }",
        workspace_only,
    ),
    "Query.compareSecretVersions": Operation(
        Need.VALUES,
        "query($ws: ID!, $id: ID!) { compareSecretVersions(workspaceId: $ws, id: $id, a: 1, b: 1) { secretId a b same } }",
        seeded_id,
    ),
    "Query.rotationDue": Operation(
        Need.LIST,
        f"query($ws: ID!) {{ rotationDue(workspaceId: $ws, daysAhead: 365) {{ {SECRET_FIELDS} }} }}",
        workspace_only,
    ),
    "Query.secretAudit": Operation(
        Need.AUDIT,
        """query($ws: ID!, $secretId: ID!) { secretAudit(workspaceId: $ws, secretId: $secretId) {
             totalCount edges { node { workspaceId secretId action details } } } }""",
        seeded_secret_id,
    ),
    "Query.workspaceAudit": Operation(
        Need.AUDIT,
        """query($ws: ID!) { workspaceAudit(workspaceId: $ws, first: 500) {
             totalCount edges { node { workspaceId secretId action details } } } }""",
        workspace_only,
    ),
    "Query.auditIntegrity": Operation(
        Need.AUDIT,
        "query($ws: ID!) { auditIntegrity(workspaceId: $ws) { valid checkedEvents headHash } }",
        workspace_only,
    ),
    "Query.auditCheckpoint": Operation(
        Need.AUDIT,
        "query($ws: ID!) { auditCheckpoint(workspaceId: $ws) { workspaceId seq headHash signature publicKey } }",
        workspace_only,
    ),
    "Query.auditCheckpoints": Operation(
        Need.AUDIT,
        "query($ws: ID!) { auditCheckpoints(workspaceId: $ws) { workspaceId seq signature } }",
        workspace_only,
    ),
    "Query.secretStatistics": Operation(
        Need.AUDIT,
        "query($ws: ID!) { secretStatistics(workspaceId: $ws) { totalSecrets activeSecrets accessesLast24h } }",
        workspace_only,
    ),
    "Query.principals": Operation(
        Need.PRINCIPALS,
        "query($ws: ID) { principals(workspaceId: $ws) { id name bindings { workspaceId role } } }",
        workspace_only,
    ),
    # A principal outside what the caller manages is NOT_FOUND: its existence is not revealed.
    "Query.apiTokens": Operation(
        Need.PRINCIPALS,
        "query($pid: ID!) { apiTokens(principalId: $pid) { id principalId name revoked } }",
        target_of,
        refusal="NOT_FOUND",
    ),
    "Query.encryptionHealth": Operation(
        Need.SUPERADMIN, "query { encryptionHealth { currentBackend backends { name healthy } } }", no_variables
    ),
    # --- Mutation ------------------------------------------------------------
    "Mutation.createWorkspace": Operation(Need.SUPERADMIN, CREATE_WORKSPACE, fresh_workspace),
    "Mutation.createSecret": Operation(Need.WRITE, CREATE_SECRET, new_secret_input),
    "Mutation.updateSecret": Operation(
        Need.WRITE,
        f"""mutation($ws: ID!, $id: ID!, $input: UpdateSecretInput!) {{
              updateSecret(workspaceId: $ws, id: $id, input: $input) {{ {SECRET_FIELDS} }} }}""",
        fresh_update,
    ),
    "Mutation.rotateSecret": Operation(
        Need.WRITE,
        f"""mutation($ws: ID!, $id: ID!, $v: String) {{
              rotateSecret(workspaceId: $ws, id: $id, newValue: $v) {{ {SECRET_FIELDS} }} }}""",
        fresh_rotate,
    ),
    "Mutation.rollbackSecret": Operation(
        Need.WRITE,
        f"""mutation($ws: ID!, $id: ID!) {{ rollbackSecret(workspaceId: $ws, id: $id, toVersion: 1) {{ {SECRET_FIELDS} }} }}""",
        fresh_two_versions,
    ),
    "Mutation.deleteSecret": Operation(
        Need.WRITE,
        f"mutation($ws: ID!, $id: ID!) {{ deleteSecret(workspaceId: $ws, id: $id) {{ {SECRET_FIELDS} }} }}",
        fresh_id,
    ),
    "Mutation.restoreSecret": Operation(
        Need.WRITE,
        f"mutation($ws: ID!, $id: ID!) {{ restoreSecret(workspaceId: $ws, id: $id) {{ {SECRET_FIELDS} }} }}",
        fresh_deleted,
    ),
    "Mutation.destroySecret": Operation(
        Need.DESTROY, "mutation($ws: ID!, $id: ID!) { destroySecret(workspaceId: $ws, id: $id) }", fresh_id
    ),
    "Mutation.importSecrets": Operation(
        Need.WRITE,
        """mutation($ws: ID!, $dotenv: String!) { importSecrets(workspaceId: $ws, dotenv: $dotenv) {
             created updated skipped secrets { id workspaceId name } } }""",
        dotenv,
        tolerated=frozenset({"INTERNAL"}),  # "not available in this version"
    ),
    "Mutation.rotateEncryptionKey": Operation(
        Need.SUPERADMIN,
        "mutation { rotateEncryptionKey { backend keyId rewrapped remaining } }",
        no_variables,
        tolerated=frozenset({"INTERNAL"}),  # "not available in this version"
    ),
    "Mutation.generateEncryptionKey": Operation(
        Need.SUPERADMIN, "mutation { generateEncryptionKey { backend } }", no_variables
    ),
    "Mutation.createPrincipal": Operation(Need.PRINCIPALS, CREATE_PRINCIPAL, new_principal),
    "Mutation.createApiToken": Operation(Need.PRINCIPALS, CREATE_TOKEN, target_of, refusal="NOT_FOUND"),
    "Mutation.revokeApiToken": Operation(Need.PRINCIPALS, REVOKE_TOKEN, target_token, refusal="NOT_FOUND"),
    "Mutation.grantRole": Operation(Need.PRINCIPALS, GRANT_ROLE, grant_target),
    "Mutation.revokeRole": Operation(Need.PRINCIPALS, REVOKE_ROLE, revoke_fresh_binding),
    # --- Subscription (run through schema.subscribe, see subscribe_case) --------
    "Subscription.auditEvents": Operation(Need.AUDIT, AUDIT_EVENTS, workspace_only),
    "Subscription.secretChanges": Operation(Need.LIST, SECRET_CHANGES, workspace_only),
}


def root_field(key: str) -> str:
    return key.split(".", 1)[1]


# ---------------------------------------------------------------------------
# Running and judging one cell.
# ---------------------------------------------------------------------------


def find_leak(value: Any, ws: str | None, world: World) -> str | None:
    """Why `value`, answered for workspace `ws`, holds another workspace's data (None when it does not)."""
    if ws is None or value is None:
        return None
    text = json.dumps(value)
    for other in ("alpha", "beta", "gamma"):
        if other != ws and marker(other) in text:
            return f"answer for {ws} holds {other}'s marker {marker(other)!r}: {text[:300]}"
    foreign = set().union(*(ids for w, ids in world.ids.items() if w != ws))
    for node in dicts_in(value):
        if "role" in node:  # a RoleBinding names whatever workspace the principal is bound to
            continue
        if "workspaceId" in node and node["workspaceId"] != ws:
            return f"answer for {ws} holds an object of workspace {node['workspaceId']}: {node}"
        if "action" not in node and node.get("id") in foreign:  # a Secret of elsewhere
            return f"answer for {ws} holds secret {node['id']} of another workspace"
        if "value" in node and node.get("secretId") in foreign:  # a SecretValue of elsewhere
            return f"answer for {ws} holds the value of secret {node['secretId']} of another workspace"
    return None


def judge(op: Operation, key: str, body: dict[str, Any], *, allowed: bool, ws: str | None, world: World) -> str | None:
    """What is wrong with `body` (None when it is right)."""
    codes = error_codes(body)
    messages = [e.get("message") for e in body.get("errors") or []]
    value = (body.get("data") or {}).get(root_field(key))
    if not allowed:
        if codes != [op.refusal]:
            return f"should be refused with {op.refusal}, got codes={codes} {messages} data={str(value)[:200]}"
        if value is not None:
            return f"refused but answered data {str(value)[:200]}"
        return None
    if any(code in ("FORBIDDEN", "UNAUTHENTICATED") for code in codes):
        return f"should be allowed, got codes={codes} {messages}"
    # In its own workspace (or server-wide) an allowed call must work; a
    # superadmin asking beta about alpha's secret ids gets NOT_FOUND or null.
    acceptable = op.tolerated if ws != UNBOUND else op.tolerated | {"NOT_FOUND", "BAD_USER_INPUT"}
    unexpected = [code for code in codes if code not in acceptable]
    if unexpected:
        return f"allowed but failed with codes={codes} {messages}"
    if not codes and ws != UNBOUND and value is None:
        return "allowed but answered null"
    return find_leak(value, ws, world)


async def http_case(world: World, op: Operation, variables: dict[str, Any], token: str) -> dict[str, Any]:
    return await world.server.execute(op.document, variables, token=token, headers={"user-agent": UA})


def subscription_context(world: World, token: str) -> Context:
    services = world.server.services
    return Context.for_operation(
        services, Credentials(authorization=f"Bearer {token}", ip_address=CLIENT_IP, user_agent=UA)
    )


async def subscribed(world: World, before: int) -> None:
    """Wait until a new subscriber is on the event bus (it joins after authorizing)."""
    bus = world.server.services.bus
    for _ in range(500):
        if bus.subscriber_count > before:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the subscription never reached the event bus")


async def unsubscribed(world: World, before: int) -> None:
    """Wait until a closed subscription has left the event bus (it leaves a moment after aclose)."""
    bus = world.server.services.bus
    for _ in range(500):
        if bus.subscriber_count <= before:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("a closed subscription stayed on the event bus")


def result_body(result: Any) -> dict[str, Any]:
    errors = [{"message": e.message, "extensions": dict(e.extensions or {})} for e in result.errors or []]
    return {"data": result.data, "errors": errors}


async def subscribe_case(
    world: World, document: str, field: str, variables: dict[str, Any], token: str, *, allowed: bool
) -> dict[str, Any]:
    """Subscribe as `token`; a refusal is the first result. An allowed
    subscription stays quiet for a moment; then a secret made in the
    workspace must arrive as a CREATED event. Answers a body like HTTP's,
    with data.<field> the list of events seen."""
    ws = variables["ws"]
    before = world.server.services.bus.subscriber_count
    stream = await world.schema.subscribe(
        document, variable_values=variables, context_value=subscription_context(world, token)
    )
    assert isinstance(stream, AsyncIterator), stream
    events: list[dict[str, Any]] = []

    async def next_result() -> Any:
        return await anext(stream)

    pending: asyncio.Task[Any] | None = asyncio.create_task(next_result())
    try:
        # A refusal comes at once (waiting longer costs nothing); an allowed
        # subscription must stay quiet for a moment.
        done, _ = await asyncio.wait({pending}, timeout=0.2 if allowed else 5)
        if done:
            result, pending = pending.result(), None
            if result.errors:
                return result_body(result)
            events.append(result.data[field])
        if not allowed:
            return {"data": {field: events or "(subscription stayed open)"}, "errors": []}
        await subscribed(world, before)
        secret_id = await world.secret(ws)
        while not any(e["action"] == "CREATED" and e["secretId"] == secret_id for e in events):
            if pending is None:
                pending = asyncio.create_task(next_result())
            try:
                result = await asyncio.wait_for(pending, timeout=5)
            except TimeoutError:
                return {
                    "data": None,
                    "errors": [{"message": "no CREATED event within 5 s", "extensions": {"code": "NO_EVENT"}}],
                }
            pending = None
            if result.errors:
                return result_body(result)
            events.append(result.data[field])
        return {"data": {field: events}, "errors": []}
    finally:
        if pending is not None:
            pending.cancel()
            await asyncio.gather(pending, return_exceptions=True)
        await stream.aclose()
        await unsubscribed(world, before)


async def run_column(world: World, column: str) -> tuple[list[str], dict[str, Counter[str]]]:
    """Every operation in every workspace as `column`: the wrong cells, and
    the refusals per workspace (by permission) that must have left ACCESS_DENIED."""
    token = world.tokens[column]
    wrong: list[str] = []
    refused: dict[str, Counter[str]] = {BOUND: Counter(), UNBOUND: Counter()}
    for key, op in OPERATIONS.items():
        for ws in (BOUND, UNBOUND) if op.scoped else (None,):
            allowed = expected_allowed(column, op.need, ws)
            variables = await op.variables(world, ws)
            if key.startswith("Subscription."):
                body = await subscribe_case(world, op.document, root_field(key), variables, token, allowed=allowed)
            else:
                body = await http_case(world, op, variables, token)
            problem = judge(op, key, body, allowed=allowed, ws=ws, world=world)
            if problem:
                wrong.append(f"{column} × {key} × {ws or '(server)'}: {problem}")
            if ws is not None and not allowed and op.refusal == "FORBIDDEN":
                refused[ws][op.need.permission_name or ""] += 1
    return wrong, refused


async def denials_of(world: World, principal_id: str, ws: str) -> list[dict[str, Any]]:
    # Denials are committed with the next batch, without the refusal waiting for it.
    await world.server.services.audit.drain()
    data = await world.admin(DENIALS, {"ws": ws})
    return [e["node"] for e in data["workspaceAudit"]["edges"] if e["node"]["userId"] == principal_id]


def denial_problems(events: list[dict[str, Any]], expected: Counter[str], permissions: set[str], ws: str) -> list[str]:
    problems = []
    seen = Counter(e["details"].get("permission") for e in events if e["details"].get("permission") in permissions)
    if seen != expected:
        problems.append(f"ACCESS_DENIED events in {ws} by permission: expected {dict(expected)}, recorded {dict(seen)}")
    for event in events:
        if event["success"] is not False or event["ipAddress"] != CLIENT_IP or event["userAgent"] != UA:
            problems.append(f"ACCESS_DENIED event in {ws} does not name the request: {event}")
    return problems


# ---------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------


def test_every_root_field_is_in_the_matrix() -> None:
    built = build_schema()._schema
    from_code = {
        f"{root.name}.{name}"
        for root in (built.query_type, built.mutation_type, built.subscription_type)
        if root is not None
        for name in root.fields
    }
    sdl = graphql.build_schema(SCHEMA_FILE.read_text(encoding="utf-8"))
    from_file = {
        f"{root.name}.{name}"
        for root in (sdl.query_type, sdl.mutation_type, sdl.subscription_type)
        if root is not None
        for name in root.fields
    }
    assert from_code == from_file, "schema.graphql and the built schema disagree"
    untested = sorted(from_code - set(OPERATIONS))
    assert not untested, f"root fields with no row in OPERATIONS (add one with the access it needs): {untested}"
    stale = sorted(set(OPERATIONS) - from_code)
    assert not stale, f"OPERATIONS rows for fields the schema no longer has: {stale}"
    for key, op in OPERATIONS.items():
        graphql.parse(op.document)  # every document at least parses
        assert f"{root_field(key)}(" in op.document or f"{root_field(key)} " in op.document, key


def test_matrix_size() -> None:
    """Every kind of access is exercised, and scoped rows are asked in both workspaces."""
    assert {op.need for op in OPERATIONS.values()} == set(Need)
    scoped = sum(op.scoped for op in OPERATIONS.values())
    cells_per_column = 2 * scoped + (len(OPERATIONS) - scoped)
    assert cells_per_column == len(OPERATIONS) + scoped


@pytest.mark.asyncio
@pytest.mark.parametrize("column", COLUMNS)
async def test_role_matrix(server: Server, column: str) -> None:
    world = await build_world(server)
    wrong, refused = await run_column(world, column)
    if column != SUPERADMIN:
        for ws in (BOUND, UNBOUND):
            events = await denials_of(world, world.principals[column], ws)
            wrong += denial_problems(events, refused[ws], set(WORKSPACE_PERMISSIONS), ws)
    assert not wrong, f"{len(wrong)} wrong cell(s):\n" + "\n".join(wrong)


@pytest.mark.asyncio
async def test_alpha_ids_through_beta_never_return_alpha_data(server: Server) -> None:
    """A principal with every right in beta (its ADMIN), asking beta about
    alpha's secrets, gets NOT_FOUND or null and changes nothing in alpha."""
    world = await build_world(server)
    beta_admin = await world.principal("beta-admin", [(UNBOUND, "ADMIN")])
    token, _ = await world.token(beta_admin)
    wrong = []
    for key, op in OPERATIONS.items():
        if not op.scoped or key.startswith("Subscription."):
            continue
        body = await http_case(world, op, await op.variables(world, UNBOUND), token)
        codes = error_codes(body)
        if "FORBIDDEN" in codes or "UNAUTHENTICATED" in codes:
            wrong.append(f"{key}: beta's ADMIN refused in beta: {body.get('errors')}")
        leak = find_leak((body.get("data") or {}).get(root_field(key)), UNBOUND, world)
        if leak:
            wrong.append(f"{key}: {leak}")
    # Every alpha secret is as the admin left it.
    for secret_id in sorted(world.ids[BOUND]):
        found = (await world.admin(OPERATIONS["Query.secret"].document, {"ws": BOUND, "id": secret_id}))["secret"]
        version, active = world.made[secret_id]
        if found is None or (found["currentVersion"], found["isActive"], found["usage"]) != (version, active, None):
            wrong.append(
                f"alpha secret {secret_id} was changed through beta: {found}, expected {(version, active, None)}"
            )
    assert not wrong, "\n".join(wrong)


@pytest.mark.asyncio
async def test_workspace_admin_stays_inside_its_workspace(server: Server) -> None:
    world = await build_world(server)
    admin_token = world.tokens["ADMIN"]
    both = await world.principal("alpha-and-beta", [(BOUND, "READER"), (UNBOUND, "READER")])

    async def as_admin(document: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        return await server.execute(document, variables, token=admin_token, headers={"user-agent": UA})

    def code(body: dict[str, Any]) -> list[str]:
        return error_codes(body)

    # Refused outside alpha, and for superadmin powers.
    assert code(await as_admin(GRANT_ROLE, {"pid": world.targets[UNBOUND], "ws": UNBOUND, "role": "ADMIN"})) == [
        "FORBIDDEN"
    ]
    assert code(await as_admin(GRANT_ROLE, {"pid": world.principals["ADMIN"], "ws": UNBOUND, "role": "ADMIN"})) == [
        "FORBIDDEN"
    ]
    assert code(await as_admin(REVOKE_ROLE, {"pid": both, "ws": UNBOUND})) == ["FORBIDDEN"]
    assert code(
        await as_admin(
            CREATE_PRINCIPAL,
            {"name": "wannabe-root", "bindings": [{"workspaceId": BOUND, "role": "VIEWER"}], "superadmin": True},
        )
    ) == ["FORBIDDEN"]
    assert code(
        await as_admin(
            CREATE_PRINCIPAL,
            {
                "name": "half-mine",
                "bindings": [{"workspaceId": BOUND, "role": "VIEWER"}, {"workspaceId": UNBOUND, "role": "VIEWER"}],
            },
        )
    ) == ["FORBIDDEN"]
    assert code(await as_admin(CREATE_WORKSPACE, {"id": "admins-own"})) == ["FORBIDDEN"]
    principals_q = OPERATIONS["Query.principals"].document
    assert code(await as_admin(principals_q, {"ws": UNBOUND})) == ["FORBIDDEN"]
    assert code(await as_admin(principals_q, {"ws": None})) == ["FORBIDDEN"]
    tokens_q = OPERATIONS["Query.apiTokens"].document
    for outside in (world.targets[UNBOUND], both, world.principals[SUPERADMIN]):
        assert code(await as_admin(tokens_q, {"pid": outside})) == ["NOT_FOUND"], outside
        assert code(await as_admin(CREATE_TOKEN, {"pid": outside, "name": "stolen"})) == ["NOT_FOUND"], outside

    # Allowed inside alpha: principals, roles and tokens of principals bound only to alpha.
    listed = (await as_admin(principals_q, {"ws": BOUND}))["data"]["principals"]
    assert {p["id"] for p in listed} >= {world.principals[r] for r in ROLES} | {world.targets[BOUND], both}
    assert world.targets[UNBOUND] not in {p["id"] for p in listed}
    target = world.targets[BOUND]
    made = await as_admin(CREATE_TOKEN, {"pid": target, "name": "for-target"})
    assert not made.get("errors"), made
    target_token = made["data"]["createApiToken"]["token"]
    assert (await server.data(VIEWER_Q, token=target_token))["viewer"]["id"] == target
    assert code(
        await server.execute(
            CREATE_SECRET,
            {"ws": BOUND, "input": {"name": "ALPHA_BY_TARGET", "secretType": "GENERIC", "value": "x"}},
            token=target_token,
        )
    ) == ["FORBIDDEN"]

    granted = await as_admin(GRANT_ROLE, {"pid": target, "ws": BOUND, "role": "WRITER"})
    assert granted["data"]["grantRole"]["bindings"] == [{"workspaceId": BOUND, "role": "WRITER"}], granted
    created = await server.execute(
        CREATE_SECRET,
        {"ws": BOUND, "input": {"name": "ALPHA_BY_TARGET", "secretType": "GENERIC", "value": "x"}},
        token=target_token,
    )
    assert not created.get("errors"), created  # the new role counts from the very next request

    revoked = await as_admin(REVOKE_ROLE, {"pid": target, "ws": BOUND})
    assert revoked["data"]["revokeRole"]["bindings"] == [], revoked
    assert code(await server.execute(LIST_SECRETS, {"ws": BOUND}, token=target_token)) == ["FORBIDDEN"]

    mine = await as_admin(
        CREATE_PRINCIPAL, {"name": "made-by-alpha-admin", "bindings": [{"workspaceId": BOUND, "role": "READER"}]}
    )
    assert mine["data"]["createPrincipal"]["isSuperadmin"] is False, mine
    new_token = await as_admin(CREATE_TOKEN, {"pid": mine["data"]["createPrincipal"]["id"], "name": "first"})
    assert not new_token.get("errors"), new_token
    listed_tokens = await as_admin(tokens_q, {"pid": mine["data"]["createPrincipal"]["id"]})
    assert [t["name"] for t in listed_tokens["data"]["apiTokens"]] == ["first"]


@pytest.mark.asyncio
async def test_principal_management_refusals_are_audited(server: Server) -> None:
    """principals, grantRole, revokeRole and createPrincipal refusals leave
    ACCESS_DENIED like every other refusal in a workspace."""
    world = await build_world(server)
    expectations = {
        # (column, workspace the refusal is about): documents that must be refused there
        ("VIEWER", BOUND): [
            (OPERATIONS["Query.principals"].document, {"ws": BOUND}),
            (GRANT_ROLE, {"pid": world.targets[BOUND], "ws": BOUND, "role": "ADMIN"}),
            (REVOKE_ROLE, {"pid": world.targets[BOUND], "ws": BOUND}),
            (CREATE_PRINCIPAL, {"name": "by-viewer", "bindings": [{"workspaceId": BOUND, "role": "ADMIN"}]}),
        ],
        ("ADMIN", UNBOUND): [
            (OPERATIONS["Query.principals"].document, {"ws": UNBOUND}),
            (GRANT_ROLE, {"pid": world.targets[UNBOUND], "ws": UNBOUND, "role": "ADMIN"}),
            (REVOKE_ROLE, {"pid": world.targets[UNBOUND], "ws": UNBOUND}),
            (CREATE_PRINCIPAL, {"name": "by-alpha-admin", "bindings": [{"workspaceId": UNBOUND, "role": "ADMIN"}]}),
        ],
    }
    problems = []
    for (column, ws), cases in expectations.items():
        for document, variables in cases:
            body = await server.execute(document, variables, token=world.tokens[column], headers={"user-agent": UA})
            assert error_codes(body) == ["FORBIDDEN"], body
        events = await denials_of(world, world.principals[column], ws)
        problems += denial_problems(events, Counter({"MANAGE_PRINCIPALS": len(cases)}), {"MANAGE_PRINCIPALS"}, ws)
    assert not problems, "\n".join(problems)


@pytest.mark.asyncio
async def test_live_events_stop_when_access_is_revoked(server: Server) -> None:
    world = await build_world(server)
    auditor = world.principals["AUDITOR"]
    token_only = await world.principal("token-revoked-auditor", [(BOUND, "AUDITOR")])
    token, token_id = await world.token(token_only)
    problems = []
    for label, subscriber_token, revoke in (
        ("role revoked", world.tokens["AUDITOR"], (REVOKE_ROLE, {"pid": auditor, "ws": BOUND})),
        ("token revoked", token, (REVOKE_TOKEN, {"id": token_id})),
    ):
        before = world.server.services.bus.subscriber_count
        stream = await world.schema.subscribe(
            AUDIT_EVENTS, variable_values={"ws": BOUND}, context_value=subscription_context(world, subscriber_token)
        )
        assert isinstance(stream, AsyncIterator), stream

        async def next_result(stream: Any = stream) -> Any:
            return await anext(stream)

        pending = asyncio.create_task(next_result())
        try:
            # Events of the previous round (its secret, a recorded denial) may
            # still arrive: drain them; only a refusal here is a failure.
            while (await asyncio.wait({pending}, timeout=0.2))[0]:
                early = pending.result()
                assert not early.errors, f"{label}: the subscription was refused before the revocation: {early}"
                pending = asyncio.create_task(next_result())
            await subscribed(world, before)
            await world.admin(*revoke)
            secret_id = await world.secret(BOUND)
            deadline = asyncio.get_running_loop().time() + 2
            while True:
                try:
                    result = await asyncio.wait_for(
                        pending, timeout=max(0.0, deadline - asyncio.get_running_loop().time())
                    )
                except (TimeoutError, StopAsyncIteration):
                    break  # quiet or ended: nothing more is delivered
                if result.errors:
                    break  # refused from now on
                event = result.data["auditEvents"]
                if event["secretId"] == secret_id:
                    problems.append(f"{label}: still delivered after the revocation: {event}")
                    break
                pending = asyncio.create_task(next_result())
        finally:
            if not pending.done():
                pending.cancel()
            await asyncio.gather(pending, return_exceptions=True)
            await stream.aclose()
            await unsubscribed(world, before)
    assert not problems, "\n".join(problems)


@pytest.mark.asyncio
async def test_expired_token_is_refused_from_the_next_request(server: Server, clock: MutableClock) -> None:
    world_principal = await World(server=server, schema=build_schema()).principal(
        "short-lived", [("default", "VIEWER")]
    )
    past = (clock.current - timedelta(seconds=1)).isoformat()
    refused = await server.execute(CREATE_TOKEN, {"pid": world_principal, "name": "stale", "exp": past})
    assert error_codes(refused) == ["BAD_USER_INPUT"], refused

    soon = (clock.current + timedelta(seconds=5)).isoformat()
    made = await server.data(CREATE_TOKEN, {"pid": world_principal, "name": "soon", "exp": soon})
    token = made["createApiToken"]["token"]
    assert (await server.data(VIEWER_Q, token=token))["viewer"]["id"] == world_principal
    clock.advance(seconds=4)
    assert (await server.data(VIEWER_Q, token=token))["viewer"]["id"] == world_principal
    clock.advance(seconds=1)  # expiresAt reached: expired
    assert error_codes(await server.execute(VIEWER_Q, token=token)) == ["UNAUTHENTICATED"]
    assert error_codes(await server.execute(LIST_SECRETS, {"ws": "default"}, token=token)) == ["UNAUTHENTICATED"]


@pytest.mark.asyncio
async def test_revoked_token_is_refused_from_the_next_request(server: Server) -> None:
    world = World(server=server, schema=build_schema())
    principal = await world.principal("soon-revoked", [("default", "READER")])
    token, token_id = await world.token(principal)
    other_token, _ = await world.token(principal, "other")
    assert (await server.data(LIST_SECRETS, {"ws": "default"}, token=token))["secrets"]["totalCount"] == 0
    revoked = await server.data(REVOKE_TOKEN, {"id": token_id})
    assert revoked["revokeApiToken"]["revoked"] is True
    assert error_codes(await server.execute(LIST_SECRETS, {"ws": "default"}, token=token)) == ["UNAUTHENTICATED"]
    assert error_codes(await server.execute(VIEWER_Q, token=token)) == ["UNAUTHENTICATED"]
    # The principal's other token is untouched.
    assert (await server.data(VIEWER_Q, token=other_token))["viewer"]["id"] == principal


@pytest.mark.asyncio
async def test_failed_authentications_rate_limit_the_client(server: Server, clock: MutableClock) -> None:
    bad_headers: list[dict[str, str]] = [
        {"authorization": "Bearer sr_not-a-real-token"},
        {"authorization": "Basic YWRtaW46YWRtaW4="},
        {"authorization": "Bearer "},
        {},
    ]
    for attempt in range(10):
        body = await server.execute(VIEWER_Q, token=None, headers=bad_headers[attempt % len(bad_headers)])
        assert error_codes(body) == ["UNAUTHENTICATED"], (attempt, body)
    limited = await server.execute(VIEWER_Q)  # the admin's valid token
    assert error_codes(limited) == ["RATE_LIMITED"], limited
    assert error_codes(await server.execute(VIEWER_Q, token="sr_another-guess")) == ["RATE_LIMITED"]

    # Another client address is not affected.
    transport = httpx.ASGITransport(app=server.app, client=("192.0.2.7", 4242))
    async with httpx.AsyncClient(transport=transport, base_url="http://strongroom.test") as elsewhere:
        other = Server(app=server.app, client=elsewhere, services=server.services)
        assert (await other.data(VIEWER_Q))["viewer"]["isSuperadmin"] is True

    clock.advance(seconds=59)
    assert error_codes(await server.execute(VIEWER_Q)) == ["RATE_LIMITED"]
    clock.advance(seconds=2)  # the failures have left the 60 s window
    assert (await server.data(VIEWER_Q))["viewer"]["isSuperadmin"] is True
