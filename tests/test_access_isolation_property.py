"""Property: no answer ever carries another workspace's data.

Hypothesis draws sequences of operations — reads, writes, audit reads and
role changes — by principals bound to several workspaces with different
roles, asking about any workspace and naming secret ids and names of any
workspace. Each sequence runs against a fresh in-process server through the
GraphQL API, next to a model of what should exist and who may do what.
Every answer is checked:

- refused exactly when the principal's current role in the workspace asked
  does not allow that kind of access (FORBIDDEN, and no data);
- every secret, value and audit event returned has the workspaceId asked for,
  and no part of an answer holds another workspace's marker: every secret
  name is "W_<workspace>_<n>" and every value "V_<workspace>_<n>_v<k>";
- what is returned is what the model says that workspace holds (values,
  counts, listings), so a leak that keeps the markers (a count, an id) shows
  too.

SQLite only: each example needs its own server and database, which SQLite
gives for the price of a file copy; PostgreSQL isolation is covered by the
role × operation matrix (tests/test_access_matrix.py), which runs on both.
Shrinking is off: one example is a few seconds of requests, and a shrink
would outlast the test timeout; a failure names the offending operation,
its request and the answer instead.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from graphql_api.app import create_app
from tests.clock import MutableClock
from tests.conftest import make_settings
from tests.harness import ADMIN_TOKEN, Server, dicts_in, error_codes
from tests.support.access_table import ALLOWED_ROLES, ROLES, Need

WORKSPACES = ("alpha", "beta", "gamma", "delta")  # delta: nobody bound at first
SUPER = 4  # actor index of the bootstrap superadmin; 0..3 are the principals below
OPS_PER_EXAMPLE = 400
EXAMPLES = 6
MIN_TOTAL_OPS = 2_000

# Fixed principals, bound to several workspaces with different roles; a
# fourth one's bindings are drawn.
FIXED_BINDINGS: tuple[dict[str, str], ...] = (
    {"alpha": "READER", "beta": "AUDITOR", "gamma": "WRITER"},
    {"alpha": "ADMIN", "gamma": "VIEWER"},
    {"alpha": "VIEWER", "beta": "WRITER", "gamma": "AUDITOR"},
)

NEEDS: dict[str, Need] = {
    "list": Need.LIST,
    "get": Need.LIST,
    "by_name": Need.LIST,
    "due": Need.LIST,
    "value": Need.VALUES,
    "values": Need.VALUES,
    "ws_audit": Need.AUDIT,
    "secret_audit": Need.AUDIT,
    "stats": Need.AUDIT,
    "create": Need.WRITE,
    "update": Need.WRITE,
    "delete": Need.WRITE,
    "restore": Need.WRITE,
    "destroy": Need.DESTROY,
    "principals": Need.PRINCIPALS,
    "grant": Need.PRINCIPALS,
    "revoke": Need.PRINCIPALS,
    "workspaces": Need.ANY,
}
# Reads weigh most: the property is about what answers carry.
KIND_POOL = (
    ["list", "get", "by_name", "value", "values", "ws_audit", "secret_audit"] * 3
    + ["due", "stats", "principals", "workspaces"]
    + ["create"] * 3
    + ["update", "delete", "restore", "destroy", "grant", "revoke"]
)

SECRET_FIELDS = "id workspaceId name isActive currentVersion usage tags metadata"
EVENT_FIELDS = "id workspaceId secretId action userId success details"
DOCUMENTS = {
    "list": f"""query($ws: ID!, $all: Boolean) {{ secrets(workspaceId: $ws, first: 500, filter: {{includeInactive: $all}}) {{
                 totalCount edges {{ node {{ {SECRET_FIELDS} }} }} }} }}""",
    "get": f"query($ws: ID!, $id: ID!) {{ secret(workspaceId: $ws, id: $id) {{ {SECRET_FIELDS} }} }}",
    "by_name": f"query($ws: ID!, $name: String!) {{ secretByName(workspaceId: $ws, name: $name) {{ {SECRET_FIELDS} }} }}",
    "due": f"query($ws: ID!) {{ rotationDue(workspaceId: $ws, daysAhead: 365) {{ {SECRET_FIELDS} }} }}",
    "value": "query($ws: ID!, $id: ID!) { secretValue(workspaceId: $ws, id: $id) { secretId name version value } }",
    "values": "query($ws: ID!, $names: [String!]) { secretValues(workspaceId: $ws, names: $names) { secretId name version value } }",
    "ws_audit": f"query($ws: ID!) {{ workspaceAudit(workspaceId: $ws, first: 30) {{ edges {{ node {{ {EVENT_FIELDS} }} }} }} }}",
    "secret_audit": f"""query($ws: ID!, $id: ID!) {{ secretAudit(workspaceId: $ws, secretId: $id, first: 60) {{
                         edges {{ node {{ {EVENT_FIELDS} }} }} }} }}""",
    "stats": "query($ws: ID!) { secretStatistics(workspaceId: $ws) { totalSecrets activeSecrets inactiveSecrets } }",
    "create": f"""mutation($ws: ID!, $input: CreateSecretInput!) {{ createSecret(workspaceId: $ws, input: $input) {{
                   {SECRET_FIELDS} }} }}""",
    "update": f"""mutation($ws: ID!, $id: ID!, $input: UpdateSecretInput!) {{
                   updateSecret(workspaceId: $ws, id: $id, input: $input) {{ {SECRET_FIELDS} }} }}""",
    "delete": f"mutation($ws: ID!, $id: ID!) {{ deleteSecret(workspaceId: $ws, id: $id) {{ {SECRET_FIELDS} }} }}",
    "restore": f"mutation($ws: ID!, $id: ID!) {{ restoreSecret(workspaceId: $ws, id: $id) {{ {SECRET_FIELDS} }} }}",
    "destroy": "mutation($ws: ID!, $id: ID!) { destroySecret(workspaceId: $ws, id: $id) }",
    "principals": "query($ws: ID) { principals(workspaceId: $ws) { id name bindings { workspaceId role } } }",
    "grant": """mutation($pid: ID!, $ws: ID!, $role: Role!) { grantRole(principalId: $pid, workspaceId: $ws, role: $role) {
                  id bindings { workspaceId role } } }""",
    "revoke": """mutation($pid: ID!, $ws: ID!) { revokeRole(principalId: $pid, workspaceId: $ws) {
                   id bindings { workspaceId role } } }""",
    "workspaces": "query { workspaces { id name } }",
}
ROOT_FIELD = {
    "list": "secrets",
    "get": "secret",
    "by_name": "secretByName",
    "due": "rotationDue",
    "value": "secretValue",
    "values": "secretValues",
    "ws_audit": "workspaceAudit",
    "secret_audit": "secretAudit",
    "stats": "secretStatistics",
    "create": "createSecret",
    "update": "updateSecret",
    "delete": "deleteSecret",
    "restore": "restoreSecret",
    "destroy": "destroySecret",
    "principals": "principals",
    "grant": "grantRole",
    "revoke": "revokeRole",
    "workspaces": "workspaces",
}
CREATE_WORKSPACE = "mutation($id: ID!) { createWorkspace(id: $id) { id } }"
CREATE_PRINCIPAL = """mutation($name: String!, $bindings: [RoleBindingInput!]!) {
  createPrincipal(name: $name, bindings: $bindings) { id } }"""
CREATE_TOKEN = 'mutation($pid: ID!) { createApiToken(principalId: $pid, name: "isolation") { token } }'


def name_marker(ws: str) -> str:
    return f"W_{ws}_"


def value_marker(ws: str) -> str:
    return f"V_{ws}_"


@dataclass(frozen=True)
class Op:
    kind: str
    actor: int  # 0..3 a principal, SUPER the superadmin
    ws: int  # index into WORKSPACES
    pick: int  # chooses a secret id / name of ANY workspace, or the principal a role change is about
    role: str
    flag: bool


op_strategy = st.builds(
    Op,
    kind=st.sampled_from(KIND_POOL),
    actor=st.integers(0, SUPER),
    ws=st.integers(0, len(WORKSPACES) - 1),
    pick=st.integers(0, 1_000_000),
    role=st.sampled_from(ROLES),
    flag=st.booleans(),
)
drawn_bindings = st.fixed_dictionaries({ws: st.sampled_from((None, *ROLES)) for ws in WORKSPACES})


# ---------------------------------------------------------------------------
# The model: what exists, and who holds which role where.
# ---------------------------------------------------------------------------


@dataclass
class SecretState:
    id: str
    ws: str
    name: str
    value: str
    version: int = 1
    active: bool = True
    destroyed: bool = False


@dataclass
class Model:
    roles: dict[int, dict[str, str]]
    principal_ids: dict[int, str] = field(default_factory=dict)
    tokens: dict[int, str] = field(default_factory=dict)
    secrets: dict[str, SecretState] = field(default_factory=dict)
    serial: Iterator[int] = field(default_factory=itertools.count)

    def may(self, actor: int, need: Need, ws: str) -> bool:
        if actor == SUPER or need is Need.ANY:
            return True
        role = self.roles[actor].get(ws)
        return role is not None and role in ALLOWED_ROLES[need]

    def live(self, ws: str, *, inactive: bool = True) -> list[SecretState]:
        return [s for s in self.secrets.values() if s.ws == ws and not s.destroyed and (inactive or s.active)]

    def ids_of(self, ws: str) -> set[str]:
        return {s.id for s in self.secrets.values() if s.ws == ws}

    def pick_secret(self, pick: int) -> SecretState:
        ordered = sorted(self.secrets.values(), key=lambda s: s.id)
        return ordered[pick % len(ordered)]

    def in_ws(self, secret: SecretState, ws: str) -> SecretState | None:
        """`secret` when it is alive in `ws`, else None."""
        return secret if secret.ws == ws and not secret.destroyed else None

    def new_secret_input(self, ws: str) -> dict[str, Any]:
        name = f"{name_marker(ws)}{next(self.serial)}"
        return {"name": name, "secretType": "API_KEY", "value": f"{value_marker(ws)}{name}_v1"}

    def bindings_view(self, actor: int, viewer: int | None = None) -> list[dict[str, str]]:
        """`actor`'s bindings as `viewer` sees them: all of them for a
        superadmin and for itself, else only those where the viewer is ADMIN
        (a workspace admin never learns of another tenant's bindings)."""
        every = sorted(self.roles[actor].items())
        if viewer in (None, SUPER, actor):
            return [{"workspaceId": w, "role": r} for w, r in every]
        return [{"workspaceId": w, "role": r} for w, r in every if self.roles[viewer].get(w) == "ADMIN"]


class Mismatch(AssertionError):
    pass


def leak_in(value: Any, ws: str) -> str | None:
    """Another workspace's data in an answer about `ws`."""
    text = json.dumps(value)
    for other in WORKSPACES:
        if other != ws and (name_marker(other) in text or value_marker(other) in text):
            return f"holds a marker of workspace {other}"
    for node in dicts_in(value):
        if "workspaceId" in node and "role" not in node and node["workspaceId"] != ws:
            return f"holds an object of workspace {node['workspaceId']}: {node}"
    return None


# ---------------------------------------------------------------------------
# Running one example
# ---------------------------------------------------------------------------


async def set_up(server: Server, bindings: dict[str, str | None]) -> Model:
    model = Model(roles={i: dict(b) for i, b in enumerate(FIXED_BINDINGS)})
    model.roles[3] = {w: r for w, r in bindings.items() if r is not None}
    for ws in WORKSPACES:
        await server.data(CREATE_WORKSPACE, {"id": ws})
        for _ in range(2):
            made = (await server.data(DOCUMENTS["create"], {"ws": ws, "input": model.new_secret_input(ws)}))[
                "createSecret"
            ]
            model.secrets[made["id"]] = SecretState(
                made["id"], ws, made["name"], f"{value_marker(ws)}{made['name']}_v1"
            )
    for actor, roles in model.roles.items():
        created = await server.data(
            CREATE_PRINCIPAL,
            {"name": f"p{actor}", "bindings": [{"workspaceId": w, "role": r} for w, r in sorted(roles.items())]},
        )
        model.principal_ids[actor] = created["createPrincipal"]["id"]
        model.tokens[actor] = (await server.data(CREATE_TOKEN, {"pid": model.principal_ids[actor]}))["createApiToken"][
            "token"
        ]
    model.tokens[SUPER] = ADMIN_TOKEN
    return model


def request_for(model: Model, op: Op) -> tuple[dict[str, Any], SecretState | None]:
    ws = WORKSPACES[op.ws]
    secret = model.pick_secret(op.pick)
    if op.kind in ("get", "value", "secret_audit", "delete", "restore", "destroy"):
        return {"ws": ws, "id": secret.id}, secret
    if op.kind == "update":
        value = f"{value_marker(ws)}{secret.name}_v{secret.version + 1}_{next(model.serial)}"
        return {"ws": ws, "id": secret.id, "input": {"value": value}}, secret
    if op.kind == "by_name":
        return {"ws": ws, "name": secret.name}, secret
    if op.kind == "values":
        return {"ws": ws, "names": [secret.name] if op.flag else None}, secret
    if op.kind == "list":
        return {"ws": ws, "all": op.flag}, None
    if op.kind == "create":
        return {"ws": ws, "input": model.new_secret_input(ws)}, None
    if op.kind in ("grant", "revoke"):
        variables = {"pid": model.principal_ids[op.pick % 4], "ws": ws}
        return ({**variables, "role": op.role} if op.kind == "grant" else variables), None
    if op.kind == "workspaces":
        return {}, None
    return {"ws": ws}, None


def check_allowed(
    model: Model, op: Op, variables: dict[str, Any], secret: SecretState | None, body: dict[str, Any]
) -> None:
    """Check an allowed operation's answer against the model, then apply it to the model."""
    ws = WORKSPACES[op.ws]
    codes = error_codes(body)
    value = (body.get("data") or {}).get(ROOT_FIELD[op.kind])
    if "FORBIDDEN" in codes or "UNAUTHENTICATED" in codes:
        raise Mismatch(f"allowed but refused: {codes}")
    if op.kind != "workspaces" and (leak := leak_in(value, ws)):
        raise Mismatch(f"LEAK: answer about {ws} {leak}")
    mine = model.in_ws(secret, ws) if secret is not None else None

    def expect(condition: bool, what: str) -> None:
        if not condition:
            raise Mismatch(f"{what}; codes={codes} answer={json.dumps(value)[:400]}")

    def expect_codes(*wanted: str) -> None:
        expect(codes == list(wanted), f"expected codes {list(wanted)}")

    kind = op.kind
    if kind == "list":
        expect_codes()
        want = {s.name for s in model.live(ws, inactive=op.flag)}
        expect(
            {e["node"]["name"] for e in value["edges"]} == want and value["totalCount"] == len(want), f"listing of {ws}"
        )
    elif kind == "get":
        expect_codes()
        expect((value or {}).get("id") == (mine.id if mine else None), "secret by id")
    elif kind == "by_name":
        expect_codes()
        expect((value or {}).get("id") == (mine.id if mine else None), "secret by name")
    elif kind == "due":
        expect_codes()
        expect({s["id"] for s in value} == {s.id for s in model.live(ws, inactive=False)}, "rotation due")
    elif kind == "value":
        if mine is not None and mine.active:
            expect_codes()
            expect(
                value == {"secretId": mine.id, "name": mine.name, "version": mine.version, "value": mine.value}, "value"
            )
        else:
            expect_codes("NOT_FOUND")
    elif kind == "values":
        if variables["names"] is None:
            expect_codes()
            want = {(s.id, s.value) for s in model.live(ws, inactive=False)}
            expect({(v["secretId"], v["value"]) for v in value} == want, f"every value of {ws}")
        elif mine is not None and mine.active:
            expect_codes()
            expect([(v["secretId"], v["value"]) for v in value] == [(mine.id, mine.value)], "value by name")
        else:
            expect_codes("NOT_FOUND")
    elif kind in ("ws_audit", "secret_audit"):
        expect_codes()
        own = model.ids_of(ws)
        for edge in value["edges"]:
            event = edge["node"]
            # A refused read names the id it was asked for, whatever workspace that id is from.
            echoed = event["action"] == "ACCESSED" and event["success"] is False
            expect(
                event["secretId"] is None or event["secretId"] in own or echoed,
                f"audit event about a secret of elsewhere: {event}",
            )
            if kind == "secret_audit":
                expect(event["secretId"] == variables["id"], "event of another secret")
    elif kind == "stats":
        expect_codes()
        total, active = len(model.live(ws)), len(model.live(ws, inactive=False))
        expect((value["totalSecrets"], value["activeSecrets"]) == (total, active), f"statistics of {ws}")
    elif kind == "create":
        expect_codes()
        new = variables["input"]
        model.secrets[value["id"]] = SecretState(value["id"], ws, new["name"], new["value"])
    elif kind == "update":
        if mine is None:
            expect_codes("NOT_FOUND")
        elif not mine.active:
            expect_codes("CONFLICT")
        else:
            expect_codes()
            mine.version += 1
            mine.value = variables["input"]["value"]
            expect(value["currentVersion"] == mine.version, "version after update")
    elif kind in ("delete", "restore", "destroy"):
        if mine is None:
            expect_codes("NOT_FOUND")
        else:
            expect_codes()
            if kind == "destroy":
                expect(value is True, "destroy answers true")
                mine.destroyed, mine.active = True, False
            else:
                mine.active = kind == "restore"
                expect(value["isActive"] is mine.active, "isActive")
    elif kind == "principals":
        expect_codes()
        returned = {p["id"]: p for p in value}
        for principal in returned.values():
            expect(ws in {b["workspaceId"] for b in principal["bindings"]}, f"principal not bound to {ws}")
        for actor, principal_id in model.principal_ids.items():
            bound = ws in model.roles[actor]
            expect((principal_id in returned) == bound, f"p{actor} listed={principal_id in returned}, bound={bound}")
            if bound:
                expect(
                    returned[principal_id]["bindings"] == model.bindings_view(actor, op.actor), f"bindings of p{actor}"
                )
    elif kind in ("grant", "revoke"):
        target = op.pick % 4
        if kind == "revoke" and ws not in model.roles[target]:
            expect_codes("NOT_FOUND")
            return
        # A workspace admin reaches only principals it already manages: bound
        # somewhere, and only in workspaces where the admin is ADMIN.
        manageable = (
            op.actor == SUPER
            or op.actor == target
            or (bool(model.roles[target]) and all(model.roles[op.actor].get(w) == "ADMIN" for w in model.roles[target]))
        )
        if kind == "grant" and not manageable:
            expect_codes("NOT_FOUND")
            return
        expect_codes()
        if kind == "grant":
            model.roles[target][ws] = op.role
        else:
            del model.roles[target][ws]
        expect(value["bindings"] == model.bindings_view(target, op.actor), f"bindings of p{target} after {kind}")
    elif kind == "workspaces":
        expect_codes()
        got = {w["id"] for w in value}
        if op.actor == SUPER:
            expect(got >= set(WORKSPACES), "a superadmin sees every workspace")
        else:
            expect(got == set(model.roles[op.actor]), f"workspaces of p{op.actor}")


async def run_sequence(server: Server, bindings: dict[str, str | None], ops: list[Op]) -> int:
    model = await set_up(server, bindings)
    for index, op in enumerate(ops):
        ws = WORKSPACES[op.ws]
        variables, secret = request_for(model, op)
        body = await server.execute(DOCUMENTS[op.kind], variables, token=model.tokens[op.actor])
        try:
            if model.may(op.actor, NEEDS[op.kind], ws):
                check_allowed(model, op, variables, secret, body)
            else:
                value = (body.get("data") or {}).get(ROOT_FIELD[op.kind])
                if error_codes(body) != ["FORBIDDEN"] or value is not None:
                    raise Mismatch(f"should be FORBIDDEN for p{op.actor} ({model.roles[op.actor]}) in {ws}")
        except Mismatch as exc:
            roles = "superadmin" if op.actor == SUPER else model.roles[op.actor]
            raise AssertionError(
                f"operation #{index} {op} by {roles} in {ws}: {exc}\n"
                f"variables: {json.dumps(variables)}\nanswer: {json.dumps(body)[:1500]}"
            ) from None
    return len(ops)


async def run_example(template: Path, bindings: dict[str, str | None], ops: list[Op]) -> int:
    with tempfile.TemporaryDirectory(prefix="strongroom-isolation-") as scratch:
        database = Path(scratch) / "strongroom.db"
        shutil.copyfile(template, database)
        app = create_app(
            make_settings(f"sqlite://{database}", Path(scratch) / "data"),
            now=MutableClock(),
            migrate_on_start=False,
            announce=lambda _message: None,
        )
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://strongroom.test") as client:
                server = Server(app=app, client=client, services=app.state.services)
                return await run_sequence(server, bindings, ops)


def test_no_answer_carries_another_workspaces_data(sqlite_template: Path) -> None:
    executed: list[int] = []

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        phases=(Phase.explicit, Phase.generate),
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
    )
    @given(bindings=drawn_bindings, ops=st.lists(op_strategy, min_size=OPS_PER_EXAMPLE, max_size=OPS_PER_EXAMPLE))
    def sequence(bindings: dict[str, str | None], ops: list[Op]) -> None:
        executed.append(asyncio.run(run_example(sqlite_template, bindings, ops)))

    sequence()
    assert sum(executed) >= MIN_TOTAL_OPS, f"only {sum(executed)} operations in {len(executed)} examples"
