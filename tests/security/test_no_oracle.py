"""No existence oracle across tenants (SQLite and PostgreSQL).

A principal bound only to workspace "alpha" cannot tell a workspace that
exists ("beta") from one that does not ("gamma"), by answer or by timing; a
workspace ADMIN cannot learn of principals, bindings or tokens of another
tenant, and its principal names never collide with another tenant's.
"""

from __future__ import annotations

import json
import statistics
import time
import uuid
from typing import Any

import pytest

from tests.harness import Server
from tests.security.conftest import (
    codes,
    create_principal,
    create_secret,
    create_workspace,
    ok,
    principal_with_token,
)

pytestmark = pytest.mark.asyncio

TIMING_SAMPLES = 30
TIMING_BOUND_SECONDS = 0.050

PROBES: dict[str, tuple[str, dict[str, Any]]] = {
    "secretValue": (
        "query($w: ID!, $id: ID!) { secretValue(workspaceId: $w, id: $id) { value } }",
        {"id": "00000000-0000-4000-8000-000000000001"},
    ),
    "secrets": ("query($w: ID!) { secrets(workspaceId: $w) { totalCount } }", {}),
    "secret": (
        "query($w: ID!, $id: ID!) { secret(workspaceId: $w, id: $id) { name } }",
        {"id": "00000000-0000-4000-8000-000000000001"},
    ),
    "secretByName": ('query($w: ID!) { secretByName(workspaceId: $w, name: "DB_PASSWORD") { id } }', {}),
    "secretValues": ("query($w: ID!) { secretValues(workspaceId: $w) { value } }", {}),
    "workspaceAudit": ("query($w: ID!) { workspaceAudit(workspaceId: $w) { totalCount } }", {}),
    "auditIntegrity": ("query($w: ID!) { auditIntegrity(workspaceId: $w) { valid } }", {}),
    "rotationDue": ("query($w: ID!) { rotationDue(workspaceId: $w) { id } }", {}),
    "principals": ("query($w: ID!) { principals(workspaceId: $w) { id } }", {}),
    "createSecret": (
        'mutation($w: ID!) { createSecret(workspaceId: $w, input: {name: "PROBE", secretType: GENERIC, value: "v"}) { id } }',
        {},
    ),
    "grantRole": (
        "mutation($w: ID!, $p: ID!) { grantRole(principalId: $p, workspaceId: $w, role: READER) { id } }",
        {"p": "00000000-0000-4000-8000-000000000002"},
    ),
}


def shape(body: dict[str, Any], *names: str) -> str:
    """The errors of `body` with each of `names` (what the caller typed) blanked."""
    text = json.dumps(body.get("errors"), sort_keys=True)
    for name in names:
        text = text.replace(name, "<typed>")
    return text


async def world(server: Server) -> tuple[str, str]:
    """alpha, beta (with a secret of that name) exist; gamma does not. (principal id, token) bound to alpha only."""
    for workspace in ("alpha", "beta"):
        await create_workspace(server, workspace)
    await create_secret(server, "beta", "DB_PASSWORD", "beta-secret")
    await create_secret(server, "alpha", "DB_PASSWORD", "alpha-secret")
    pid, token, _ = await principal_with_token(server, "alpha-only", {"alpha": "ADMIN"})
    return pid, token


async def test_existing_and_missing_workspaces_answer_alike(server: Server) -> None:
    _, token = await world(server)
    different = {}
    for name, (query, extra) in PROBES.items():
        beta = await server.execute(query, {"w": "beta", **extra}, token=token)
        gamma = await server.execute(query, {"w": "gamma", **extra}, token=token)
        assert codes(beta) == ["FORBIDDEN"], (name, beta)
        assert "beta-secret" not in json.dumps(beta)
        if shape(beta, "beta") != shape(gamma, "gamma") or beta.get("data") != gamma.get("data"):
            different[name] = (beta, gamma)
    assert different == {}


async def test_existing_and_missing_workspaces_take_the_same_time(server: Server) -> None:
    _, token = await world(server)
    for name in ("secretValue", "secrets"):
        query, extra = PROBES[name]
        samples: dict[str, list[float]] = {"beta": [], "gamma": []}
        for _ in range(3):  # warm up both paths
            for workspace in samples:
                await server.execute(query, {"w": workspace, **extra}, token=token)
        for _ in range(TIMING_SAMPLES):
            for workspace, times in samples.items():  # interleaved, so drift hits both alike
                started = time.perf_counter()
                body = await server.execute(query, {"w": workspace, **extra}, token=token)
                times.append(time.perf_counter() - started)
                assert codes(body) == ["FORBIDDEN"], body
        medians = {w: statistics.median(t) for w, t in samples.items()}
        print(f"\n{name}: median existing {medians['beta'] * 1000:.2f} ms, missing {medians['gamma'] * 1000:.2f} ms")
        assert abs(medians["beta"] - medians["gamma"]) < TIMING_BOUND_SECONDS, medians


async def test_another_workspaces_secret_id_is_not_found_like_a_random_one(server: Server) -> None:
    await world(server)
    _, reader, _ = await principal_with_token(server, "alpha-reader", {"alpha": "READER"})
    beta_secret = await create_secret(server, "beta", "ONLY_IN_BETA", "beta-value")
    random_id = str(uuid.uuid4())
    for query in (
        'query($id: ID!) { secretValue(workspaceId: "alpha", id: $id) { value } }',
        'query($id: ID!) { secret(workspaceId: "alpha", id: $id) { name } }',
    ):
        theirs = await server.execute(query, {"id": beta_secret}, token=reader)
        missing = await server.execute(query, {"id": random_id}, token=reader)
        assert "beta-value" not in json.dumps(theirs) and "ONLY_IN_BETA" not in json.dumps(theirs)
        assert shape(theirs, beta_secret) == shape(missing, random_id), (theirs, missing)
        assert theirs.get("data") == missing.get("data")


async def test_a_workspace_admin_sees_no_binding_of_another_workspace(server: Server) -> None:
    _, admin = await world(server)
    both, _ = await create_principal(server, "both", {"alpha": "READER", "beta": "WRITER"})
    beta_only, _ = await create_principal(server, "beta-only", {"beta": "ADMIN"})
    listed = await ok(
        server, 'query { principals(workspaceId: "alpha") { id name bindings { workspaceId role } } }', token=admin
    )
    rows = {row["id"]: row for row in listed["principals"]}
    assert both in rows and beta_only not in rows
    assert rows[both]["bindings"] == [{"workspaceId": "alpha", "role": "READER"}]
    assert all(b["workspaceId"] == "alpha" for row in rows.values() for b in row["bindings"]), rows
    assert "beta" not in json.dumps(listed)


async def test_principal_names_are_namespaced_per_tenant(server: Server) -> None:
    _, alpha_admin = await world(server)
    _, beta_admin, _ = await principal_with_token(server, "beta-admin", {"beta": "ADMIN"})
    await create_principal(server, "ci", {"default": "READER"})  # a global "ci" (superadmin)
    _, beta_name = await create_principal(server, "ci", {"beta": "READER"}, token=beta_admin)
    _, alpha_name = await create_principal(server, "ci", {"alpha": "READER"}, token=alpha_admin)
    assert (beta_name, alpha_name) == ("beta/ci", "alpha/ci")
    again = await server.execute(
        'mutation { createPrincipal(name: "ci", bindings: [{workspaceId: "alpha", role: READER}]) { id } }',
        token=alpha_admin,
    )
    assert codes(again) == ["CONFLICT"]  # its own namespace only
    for forged in ("beta/ci", "/ci", "alpha/../beta/ci"):
        refused = await server.execute(
            'mutation($n: String!) { createPrincipal(name: $n, bindings: [{workspaceId: "alpha", role: READER}]) { id } }',
            {"n": forged},
            token=alpha_admin,
        )
        assert codes(refused) == ["BAD_USER_INPUT"], (forged, refused)


async def test_another_tenants_tokens_and_principals_are_not_found_like_random_ids(server: Server) -> None:
    _, alpha_admin = await world(server)
    beta_pid, _, beta_token_id = await principal_with_token(server, "beta-app", {"beta": "READER"})
    admin_pid = (await ok(server, "{ viewer { id } }"))["viewer"]["id"]
    admin_token_id = (await ok(server, "query($p: ID!) { apiTokens(principalId: $p) { id } }", {"p": admin_pid}))[
        "apiTokens"
    ][0]["id"]
    random_id = str(uuid.uuid4())
    probes = {
        "revokeApiToken": ("mutation($id: ID!) { revokeApiToken(id: $id) { id } }", "id"),
        "apiTokens": ("query($id: ID!) { apiTokens(principalId: $id) { id } }", "id"),
        "createApiToken": ('mutation($id: ID!) { createApiToken(principalId: $id, name: "x") { token } }', "id"),
        "grantRole": (
            'mutation($id: ID!) { grantRole(principalId: $id, workspaceId: "alpha", role: ADMIN) { id } }',
            "id",
        ),
    }
    targets = {
        "revokeApiToken": [beta_token_id, admin_token_id],
        "apiTokens": [beta_pid, admin_pid],
        "createApiToken": [beta_pid, admin_pid],
        "grantRole": [beta_pid, admin_pid],
    }
    for name, (query, _) in probes.items():
        missing = await server.execute(query, {"id": random_id}, token=alpha_admin)
        assert codes(missing) == ["NOT_FOUND"], (name, missing)
        for target in targets[name]:
            theirs = await server.execute(query, {"id": target}, token=alpha_admin)
            assert shape(theirs, target) == shape(missing, random_id), (name, theirs, missing)
    # Nothing was changed by the refused attempts.
    assert await ok(server, "{ viewer { id } }")
    tokens = await ok(server, "query($p: ID!) { apiTokens(principalId: $p) { revoked } }", {"p": beta_pid})
    assert tokens["apiTokens"] == [{"revoked": False}]
    principal = await ok(server, "query { principals { id bindings { workspaceId } } }")
    beta_bindings = next(p["bindings"] for p in principal["principals"] if p["id"] == beta_pid)
    assert beta_bindings == [{"workspaceId": "beta"}]
