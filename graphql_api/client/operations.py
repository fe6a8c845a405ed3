"""Every operation the client performs, once: its GraphQL document, its
variables and how its answer becomes a result.

The sync client (`Strongroom`) and the async one (`AsyncStrongroom`) both
run these, so the two cannot drift apart in what they ask or return.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from graphql_api.client.models import (
    ApiToken,
    AuditCheckpoint,
    AuditEvent,
    AuditIntegrity,
    CreatedToken,
    EncryptionHealth,
    ImportResult,
    KeyRotationProgress,
    Principal,
    Secret,
    SecretDigest,
    SecretPage,
    SecretValue,
    Workspace,
)

T = TypeVar("T")

# Page size of listings; the server's cap.
MAX_PAGE = 500


@dataclass(frozen=True)
class Operation(Generic[T]):
    document: str
    variables: Mapping[str, Any]
    parse: Callable[[dict[str, Any]], T]


_PRINCIPAL = "id name isSuperadmin bindings { workspaceId role }"
_TOKEN = "id name principalId createdAt expiresAt lastUsedAt revoked prefix"
_EVENT = "id workspaceId secretId action userId ipAddress userAgent details success createdAt hash seq"
_SECRET = (
    "id workspaceId name secretType usage tags rotationPolicy lastRotatedAt rotationDueAt isActive "
    "currentVersion encryptionBackend createdAt updatedAt"
)
_VERSIONS = "versions { version createdAt createdByUserId encryptionBackend keyId state destroyed }"
_VALUE = "secretId name version value"
_CHECKPOINT = "workspaceId seq headHash createdAt keyId publicKey previousSignature signature"

VIEWER = f"query Viewer {{ viewer {{ {_PRINCIPAL} }} }}"
WORKSPACES = "query Workspaces { workspaces { id name createdAt } }"
CREATE_WORKSPACE = (
    "mutation CreateWorkspace($id: ID!, $name: String) { createWorkspace(id: $id, name: $name) { id name createdAt } }"
)
SECRETS = f"""
query Secrets($w: ID!, $first: Int, $after: String, $filter: SecretFilter) {{
  secrets(workspaceId: $w, first: $first, after: $after, filter: $filter) {{
    totalCount
    pageInfo {{ hasNextPage endCursor }}
    edges {{ node {{ {_SECRET} }} }}
  }}
}}"""
SECRET = f"query Secret($w: ID!, $id: ID!) {{ secret(workspaceId: $w, id: $id) {{ {_SECRET} {_VERSIONS} }} }}"
SECRET_BY_NAME = f"query SecretByName($w: ID!, $name: String!) {{ secretByName(workspaceId: $w, name: $name) {{ {_SECRET} {_VERSIONS} }} }}"
SECRET_VALUE = f"""
query SecretValue($w: ID!, $id: ID!, $version: Int) {{ secretValue(workspaceId: $w, id: $id, version: $version) {{ {_VALUE} }} }}"""
SECRET_VALUES = (
    f"query SecretValues($w: ID!, $names: [String!]) {{ secretValues(workspaceId: $w, names: $names) {{ {_VALUE} }} }}"
)
SECRET_DIGESTS = """
query SecretDigests($w: ID!, $names: [String!]) { secretDigests(workspaceId: $w, names: $names) { secretId name version digest } }"""
CREATE_SECRET = f"""
mutation CreateSecret($w: ID!, $input: CreateSecretInput!) {{ createSecret(workspaceId: $w, input: $input) {{ {_SECRET} }} }}"""
UPDATE_SECRET = f"""
mutation UpdateSecret($w: ID!, $id: ID!, $input: UpdateSecretInput!) {{
  updateSecret(workspaceId: $w, id: $id, input: $input) {{ {_SECRET} }}
}}"""
ROTATE_SECRET = f"""
mutation RotateSecret($w: ID!, $id: ID!, $value: String, $expected: Int) {{
  rotateSecret(workspaceId: $w, id: $id, newValue: $value, expectedVersion: $expected) {{ {_SECRET} }}
}}"""
ROLLBACK_SECRET = f"""
mutation RollbackSecret($w: ID!, $id: ID!, $to: Int!) {{ rollbackSecret(workspaceId: $w, id: $id, toVersion: $to) {{ {_SECRET} }} }}"""
DELETE_SECRET = f"mutation DeleteSecret($w: ID!, $id: ID!) {{ deleteSecret(workspaceId: $w, id: $id) {{ {_SECRET} }} }}"
RESTORE_SECRET = (
    f"mutation RestoreSecret($w: ID!, $id: ID!) {{ restoreSecret(workspaceId: $w, id: $id) {{ {_SECRET} }} }}"
)
IMPORT_SECRETS = """
mutation ImportSecrets(
  $w: ID!, $dotenv: String!, $overwrite: Boolean, $dryRun: Boolean,
  $secretType: SecretType, $rotationPolicy: RotationPolicy, $tags: [String!]
) {
  importSecrets(
    workspaceId: $w, dotenv: $dotenv, overwrite: $overwrite, dryRun: $dryRun,
    secretType: $secretType, rotationPolicy: $rotationPolicy, tags: $tags
  ) {
    created updated skipped unchanged
    plan { name line action secretType rotationPolicy }
  }
}"""
SECRET_AUDIT = f"""
query SecretAudit($w: ID!, $id: ID!, $first: Int, $after: String) {{
  secretAudit(workspaceId: $w, secretId: $id, first: $first, after: $after) {{
    edges {{ node {{ {_EVENT} }} }}
    pageInfo {{ hasNextPage endCursor }}
  }}
}}"""
WORKSPACE_AUDIT = f"""
query WorkspaceAudit($w: ID!, $first: Int, $after: String, $action: AuditAction, $success: Boolean) {{
  workspaceAudit(workspaceId: $w, first: $first, after: $after, action: $action, success: $success) {{
    edges {{ node {{ {_EVENT} }} }}
    pageInfo {{ hasNextPage endCursor }}
  }}
}}"""
AUDIT_INTEGRITY = """
query AuditIntegrity($w: ID!) { auditIntegrity(workspaceId: $w) { valid checkedEvents firstInvalidEventId headHash } }"""
AUDIT_INTEGRITY_AT = """
query AuditIntegrityAt($w: ID!, $checkpoint: AuditCheckpointInput) {
  auditIntegrity(workspaceId: $w, checkpoint: $checkpoint) { valid checkedEvents firstInvalidEventId headHash headSeq reason }
}"""
AUDIT_CHECKPOINT = f"query AuditCheckpoint($w: ID!) {{ auditCheckpoint(workspaceId: $w) {{ {_CHECKPOINT} }} }}"
AUDIT_EVENTS = (
    f"subscription AuditEvents($w: ID!, $s: ID) {{ auditEvents(workspaceId: $w, secretId: $s) {{ {_EVENT} }} }}"
)
SECRET_CHANGES = (
    "subscription SecretChanges($w: ID!, $names: [String!]) {"
    " secretChanges(workspaceId: $w, names: $names) { secretId name action version createdAt } }"
)
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
mutation GrantRole($p: ID!, $w: ID!, $role: Role!) {{ grantRole(principalId: $p, workspaceId: $w, role: $role) {{ {_PRINCIPAL} }} }}"""
REVOKE_ROLE = (
    f"mutation RevokeRole($p: ID!, $w: ID!) {{ revokeRole(principalId: $p, workspaceId: $w) {{ {_PRINCIPAL} }} }}"
)
ROTATE_ENCRYPTION_KEY = """
mutation RotateEncryptionKey($target: String) { rotateEncryptionKey(targetBackend: $target) { backend keyId rewrapped remaining } }"""
ENCRYPTION_HEALTH = (
    "query EncryptionHealth { encryptionHealth { currentBackend backends { name healthy keyId lastCheck error } } }"
)


def _without_none(values: Mapping[str, Any]) -> dict[str, Any]:
    """Input fields that were given: an omitted field is left as it is, never cleared."""
    return {key: value for key, value in values.items() if value is not None}


def _names(names: Sequence[str] | None) -> list[str] | None:
    return list(names) if names is not None else None


def _audit_page(page: Mapping[str, Any]) -> tuple[list[AuditEvent], str | None, bool]:
    events = [AuditEvent.from_api(edge["node"]) for edge in page["edges"]]
    return events, page["pageInfo"]["endCursor"], bool(page["pageInfo"]["hasNextPage"])


def _optional_secret(row: Mapping[str, Any] | None) -> Secret | None:
    return Secret.from_api(row) if row is not None else None


# -- builders, one per operation -------------------------------------------------


def viewer() -> Operation[Principal]:
    return Operation(VIEWER, {}, lambda d: Principal.from_api(d["viewer"]))


def workspaces() -> Operation[list[Workspace]]:
    return Operation(WORKSPACES, {}, lambda d: [Workspace.from_api(w) for w in d["workspaces"]])


def create_workspace(id: str, name: str | None = None) -> Operation[Workspace]:
    return Operation(CREATE_WORKSPACE, {"id": id, "name": name}, lambda d: Workspace.from_api(d["createWorkspace"]))


def secrets(
    workspace: str,
    *,
    first: int = MAX_PAGE,
    after: str | None = None,
    name_contains: str | None = None,
    tags: Sequence[str] | None = None,
    secret_type: str | None = None,
    include_inactive: bool = False,
) -> Operation[SecretPage]:
    query_filter = _without_none({"nameContains": name_contains, "tags": _names(tags), "secretType": secret_type}) | {
        "includeInactive": include_inactive
    }

    def parse(data: dict[str, Any]) -> SecretPage:
        page = data["secrets"]
        return SecretPage(
            secrets=tuple(Secret.from_api(edge["node"]) for edge in page["edges"]),
            total_count=int(page["totalCount"]),
            end_cursor=page["pageInfo"]["endCursor"],
            has_next_page=bool(page["pageInfo"]["hasNextPage"]),
        )

    return Operation(SECRETS, {"w": workspace, "first": first, "after": after, "filter": query_filter}, parse)


def secret(workspace: str, id: str) -> Operation[Secret | None]:
    return Operation(SECRET, {"w": workspace, "id": id}, lambda d: _optional_secret(d["secret"]))


def secret_by_name(workspace: str, name: str) -> Operation[Secret | None]:
    return Operation(SECRET_BY_NAME, {"w": workspace, "name": name}, lambda d: _optional_secret(d["secretByName"]))


def secret_value(workspace: str, id: str, version: int | None = None) -> Operation[SecretValue]:
    variables = {"w": workspace, "id": id, "version": version}
    return Operation(SECRET_VALUE, variables, lambda d: SecretValue.from_api(d["secretValue"]))


def secret_values(workspace: str, names: Sequence[str] | None = None) -> Operation[list[SecretValue]]:
    variables = {"w": workspace, "names": _names(names)}
    return Operation(SECRET_VALUES, variables, lambda d: [SecretValue.from_api(v) for v in d["secretValues"]])


def secret_digests(workspace: str, names: Sequence[str] | None = None) -> Operation[list[SecretDigest]]:
    variables = {"w": workspace, "names": _names(names)}
    return Operation(SECRET_DIGESTS, variables, lambda d: [SecretDigest.from_api(v) for v in d["secretDigests"]])


def create_secret(
    workspace: str,
    name: str,
    value: str,
    *,
    secret_type: str = "GENERIC",
    usage: str | None = None,
    rotation_policy: str | None = None,
    tags: Sequence[str] | None = None,
    metadata: Mapping[str, Any] | None = None,
    encryption_backend: str | None = None,
) -> Operation[Secret]:
    payload = _without_none(
        {
            "name": name,
            "secretType": secret_type,
            "value": value,
            "usage": usage,
            "rotationPolicy": rotation_policy,
            "tags": _names(tags),
            "metadata": dict(metadata) if metadata is not None else None,
            "encryptionBackend": encryption_backend,
        }
    )
    return Operation(CREATE_SECRET, {"w": workspace, "input": payload}, lambda d: Secret.from_api(d["createSecret"]))


def update_secret(
    workspace: str,
    id: str,
    *,
    value: str | None = None,
    usage: str | None = None,
    tags: Sequence[str] | None = None,
    metadata: Mapping[str, Any] | None = None,
    rotation_policy: str | None = None,
    expected_version: int | None = None,
) -> Operation[Secret]:
    payload = _without_none(
        {
            "value": value,
            "usage": usage,
            "tags": _names(tags),
            "metadata": dict(metadata) if metadata is not None else None,
            "rotationPolicy": rotation_policy,
            "expectedVersion": expected_version,
        }
    )
    variables = {"w": workspace, "id": id, "input": payload}
    return Operation(UPDATE_SECRET, variables, lambda d: Secret.from_api(d["updateSecret"]))


def rotate_secret(
    workspace: str, id: str, new_value: str | None = None, expected_version: int | None = None
) -> Operation[Secret]:
    variables = {"w": workspace, "id": id, "value": new_value, "expected": expected_version}
    return Operation(ROTATE_SECRET, variables, lambda d: Secret.from_api(d["rotateSecret"]))


def rollback_secret(workspace: str, id: str, to_version: int) -> Operation[Secret]:
    variables = {"w": workspace, "id": id, "to": to_version}
    return Operation(ROLLBACK_SECRET, variables, lambda d: Secret.from_api(d["rollbackSecret"]))


def delete_secret(workspace: str, id: str) -> Operation[Secret]:
    return Operation(DELETE_SECRET, {"w": workspace, "id": id}, lambda d: Secret.from_api(d["deleteSecret"]))


def restore_secret(workspace: str, id: str) -> Operation[Secret]:
    return Operation(RESTORE_SECRET, {"w": workspace, "id": id}, lambda d: Secret.from_api(d["restoreSecret"]))


def import_secrets(
    workspace: str,
    dotenv: str,
    *,
    overwrite: bool = False,
    dry_run: bool = False,
    secret_type: str | None = None,
    rotation_policy: str | None = None,
    tags: Sequence[str] | None = None,
) -> Operation[ImportResult]:
    variables = {
        "w": workspace,
        "dotenv": dotenv,
        "overwrite": overwrite,
        "dryRun": dry_run,
        "secretType": secret_type,
        "rotationPolicy": rotation_policy,
        "tags": _names(tags),
    }
    return Operation(IMPORT_SECRETS, variables, lambda d: ImportResult.from_api(d["importSecrets"]))


def secret_audit(
    workspace: str, secret_id: str, first: int = 50, after: str | None = None
) -> Operation[tuple[list[AuditEvent], str | None, bool]]:
    variables = {"w": workspace, "id": secret_id, "first": first, "after": after}
    return Operation(SECRET_AUDIT, variables, lambda d: _audit_page(d["secretAudit"]))


def workspace_audit(
    workspace: str,
    first: int = 50,
    after: str | None = None,
    action: str | None = None,
    success: bool | None = None,
) -> Operation[tuple[list[AuditEvent], str | None, bool]]:
    variables = {"w": workspace, "first": first, "after": after, "action": action, "success": success}
    return Operation(WORKSPACE_AUDIT, variables, lambda d: _audit_page(d["workspaceAudit"]))


def audit_integrity(workspace: str, checkpoint: AuditCheckpoint | None = None) -> Operation[AuditIntegrity]:
    if checkpoint is None:
        # The fields every server has: verifying the whole chain needs no more.
        return Operation(AUDIT_INTEGRITY, {"w": workspace}, lambda d: AuditIntegrity.from_api(d["auditIntegrity"]))
    variables = {"w": workspace, "checkpoint": {"seq": checkpoint.seq, "headHash": checkpoint.head_hash}}
    return Operation(AUDIT_INTEGRITY_AT, variables, lambda d: AuditIntegrity.from_api(d["auditIntegrity"]))


def audit_checkpoint(workspace: str) -> Operation[AuditCheckpoint]:
    return Operation(AUDIT_CHECKPOINT, {"w": workspace}, lambda d: AuditCheckpoint.from_api(d["auditCheckpoint"]))


def create_principal(
    name: str, bindings: Sequence[tuple[str, str]] = (), superadmin: bool = False
) -> Operation[Principal]:
    variables = {
        "name": name,
        "bindings": [{"workspaceId": workspace, "role": role} for workspace, role in bindings],
        "superadmin": superadmin,
    }
    return Operation(CREATE_PRINCIPAL, variables, lambda d: Principal.from_api(d["createPrincipal"]))


def principals(workspace: str | None = None) -> Operation[list[Principal]]:
    return Operation(PRINCIPALS, {"w": workspace}, lambda d: [Principal.from_api(p) for p in d["principals"]])


def create_token(principal_id: str, name: str, expires_at: datetime | None = None) -> Operation[CreatedToken]:
    variables = {
        "p": principal_id,
        "name": name,
        "expiresAt": expires_at.isoformat() if expires_at is not None else None,
    }

    def parse(data: dict[str, Any]) -> CreatedToken:
        row = data["createApiToken"]
        return CreatedToken(token=row["token"], api_token=ApiToken.from_api(row["apiToken"]))

    return Operation(CREATE_TOKEN, variables, parse)


def tokens(principal_id: str) -> Operation[list[ApiToken]]:
    return Operation(TOKENS, {"p": principal_id}, lambda d: [ApiToken.from_api(t) for t in d["apiTokens"]])


def revoke_token(token_id: str) -> Operation[ApiToken]:
    return Operation(REVOKE_TOKEN, {"id": token_id}, lambda d: ApiToken.from_api(d["revokeApiToken"]))


def grant_role(principal_id: str, workspace: str, role: str) -> Operation[Principal]:
    variables = {"p": principal_id, "w": workspace, "role": role}
    return Operation(GRANT_ROLE, variables, lambda d: Principal.from_api(d["grantRole"]))


def revoke_role(principal_id: str, workspace: str) -> Operation[Principal]:
    variables = {"p": principal_id, "w": workspace}
    return Operation(REVOKE_ROLE, variables, lambda d: Principal.from_api(d["revokeRole"]))


def rotate_encryption_key(target_backend: str | None = None) -> Operation[KeyRotationProgress]:
    return Operation(
        ROTATE_ENCRYPTION_KEY,
        {"target": target_backend},
        lambda d: KeyRotationProgress.from_api(d["rotateEncryptionKey"]),
    )


def encryption_health() -> Operation[EncryptionHealth]:
    return Operation(ENCRYPTION_HEALTH, {}, lambda d: EncryptionHealth.from_api(d["encryptionHealth"]))
