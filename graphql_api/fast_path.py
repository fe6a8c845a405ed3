"""Compiled plans for the hottest operation: a document that reads one value.

Why: applications read values at every start, deploy and autoscale event,
and graphql-core's general executor (resolver wrapping, result completion,
per-field futures) cost more than the read itself. A document whose only
root field is `secretValue` with plain leaf selections is compiled once, when
it is first prepared, into a plan that resolves the three arguments, calls
`ValueReader.read` (one query: token, binding, secret, version) and builds
the answer with the selected fields in order, under their aliases.

It keeps every check of the general path. The document was parsed and
validated with all the rules (depth, aliases, tokens, introspection, literal
values) before a plan exists; variables are checked by the same
`check_variables` before the plan runs; authentication, authorization, the
denial record and the fail-closed audit are the services' own; errors are
formatted by the same `map_error` and redacted the same way. Anything the
plan does not know (fragments, directives, default values, other fields) is
not compiled and goes through the general executor. A test runs a corpus of
documents through both and compares the answers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from graphql import (
    FieldNode,
    GraphQLError,
    IntValueNode,
    NullValueNode,
    OperationDefinitionNode,
    OperationType,
    StringValueNode,
    VariableNode,
)

from graphql_api.context import Context
from graphql_api.execution import Engine, Outcome, Prepared
from graphql_api.services.secret_inputs import parse_secret_id
from graphql_api.services.value_reads import Caller

SECRET_VALUE_FIELDS = {"secretId", "name", "version", "value", "__typename"}
_UNSET = object()


@dataclass(frozen=True)
class Argument:
    """An argument given as a literal or as a variable."""

    literal: Any = _UNSET
    variable: str | None = None

    def value(self, variables: Mapping[str, Any]) -> Any:
        if self.variable is not None:
            return variables.get(self.variable)
        return None if self.literal is _UNSET else self.literal


def _argument(node: Any, kind: str) -> Argument | None:
    if isinstance(node, VariableNode):
        return Argument(variable=node.name.value)
    if isinstance(node, NullValueNode):
        return Argument(literal=None)
    if kind == "ID" and isinstance(node, (StringValueNode, IntValueNode)):
        return Argument(literal=str(node.value))
    if kind == "Int" and isinstance(node, IntValueNode):
        return Argument(literal=int(node.value))
    return None


def _id(value: Any) -> str | None:
    if value is None:
        return None
    return str(value)


@dataclass(frozen=True)
class SecretValuePlan:
    engine: Engine
    prepared: Prepared
    field: FieldNode
    response_key: str
    workspace_id: Argument
    secret_id: Argument
    version: Argument | None
    selections: tuple[tuple[str, str], ...]

    async def run(self, context: Context, variables: Mapping[str, Any]) -> Outcome | None:
        workspace_id = _id(self.workspace_id.value(variables))
        secret_text = _id(self.secret_id.value(variables))
        version = self.version.value(variables) if self.version is not None else None
        if workspace_id is None or secret_text is None:
            return None  # cannot happen after validation; let the executor say so
        credentials = context.credentials
        try:
            secret_id = parse_secret_id(secret_text)
            identity, revealed = await context.services.values.read(
                Caller(credentials.authorization, credentials.ip_address, credentials.user_agent),
                workspace_id,
                secret_id,
                version,
            )
        except Exception as exc:
            error = GraphQLError(str(exc), nodes=[self.field], path=[self.response_key], original_error=exc)
            return Outcome(None, self.engine.format_errors([error], self.engine.redactor(self.prepared, variables)))
        context._identity = identity
        fields = {
            "secretId": str(revealed.secret_id),
            "name": revealed.name,
            "version": revealed.version,
            "value": revealed.value,
            "__typename": "SecretValue",
        }
        return Outcome({self.response_key: {key: fields[name] for key, name in self.selections}}, [])


def plan_operation(engine: Engine, prepared: Prepared, operation: OperationDefinitionNode) -> SecretValuePlan | None:
    """A plan for `operation`, or None when the general executor must run it."""
    if operation.operation is not OperationType.QUERY or operation.directives:
        return None
    if any(definition.default_value is not None or definition.directives for definition in operation.variable_definitions or ()):
        return None
    selections = operation.selection_set.selections
    if len(selections) != 1 or not isinstance(selections[0], FieldNode):
        return None
    root = selections[0]
    if root.name.value != "secretValue" or root.directives or root.selection_set is None:
        return None
    arguments: dict[str, Argument] = {}
    for argument in root.arguments or ():
        kind = "Int" if argument.name.value == "version" else "ID"
        parsed = _argument(argument.value, kind)
        if parsed is None:
            return None
        arguments[argument.name.value] = parsed
    if "workspaceId" not in arguments or "id" not in arguments or set(arguments) - {"workspaceId", "id", "version"}:
        return None
    leaves: list[tuple[str, str]] = []
    for selection in root.selection_set.selections:
        if not isinstance(selection, FieldNode) or selection.directives or selection.selection_set or selection.arguments:
            return None
        if selection.name.value not in SECRET_VALUE_FIELDS:
            return None
        key = selection.alias.value if selection.alias else selection.name.value
        if any(existing == key for existing, _ in leaves):
            if (key, selection.name.value) in leaves:
                continue  # the same field twice merges into one
            return None
        leaves.append((key, selection.name.value))
    return SecretValuePlan(
        engine=engine,
        prepared=prepared,
        field=root,
        response_key=root.alias.value if root.alias else root.name.value,
        workspace_id=arguments["workspaceId"],
        secret_id=arguments["id"],
        version=arguments.get("version"),
        selections=tuple(leaves),
    )
