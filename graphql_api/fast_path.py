"""Compiled plans for the hottest operations: documents that read values.

Why: applications read values at every start, deploy and autoscale event,
and graphql-core's general executor (resolver wrapping, result completion,
per-field futures) cost more than the read itself; for `secretValues` of 200
secrets, completing 200 objects cost as much as decrypting and auditing them.
A document whose only root field is `secretValue` or `secretValues` with
plain leaf selections is compiled once, when it is first prepared, into a
plan that resolves the arguments, calls the same service the resolver calls
and builds the answer with the selected fields in order, under their aliases.

It keeps every check of the general path. The document was parsed and
validated with all the rules (depth, aliases, tokens, introspection, literal
values) before a plan exists; variables are checked by the same
`check_variables` before the plan runs; authentication, authorization, the
denial record and the fail-closed audit are the services' own; errors are
formatted by the same `map_error` and redacted the same way. Anything the
plan does not know (fragments, directives, default values, other fields,
variables inside lists) is not compiled and goes through the general
executor. tests/test_fast_path.py runs a corpus of documents through both and
compares the answers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from graphql import (
    FieldNode,
    GraphQLError,
    IntValueNode,
    ListValueNode,
    NullValueNode,
    OperationDefinitionNode,
    OperationType,
    StringValueNode,
    VariableNode,
)

from graphql_api.context import Context
from graphql_api.execution import Engine, Outcome, Prepared
from graphql_api.services.access import Permission
from graphql_api.services.secret_inputs import RevealedValue, parse_secret_id
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
    """`node` as an argument of GraphQL type `kind` (ID, Int or [String!]),
    or None when the plan does not know the form."""
    if isinstance(node, VariableNode):
        return Argument(variable=node.name.value)
    if isinstance(node, NullValueNode):
        return Argument(literal=None)
    if kind == "ID" and isinstance(node, (StringValueNode, IntValueNode)):
        return Argument(literal=str(node.value))
    if kind == "Int" and isinstance(node, IntValueNode):
        return Argument(literal=int(node.value))
    if kind == "[String!]":
        # A single value stands for a list of one (GraphQL's list coercion).
        items = node.values if isinstance(node, ListValueNode) else (node,)
        strings = [item.value for item in items if isinstance(item, StringValueNode)]
        if len(strings) == len(items):
            return Argument(literal=strings)
    return None


def _id(value: Any) -> str | None:
    if value is None:
        return None
    return str(value)


def _strings(value: Any) -> list[str] | None:
    """A [String!] variable's value as the executor would coerce it."""
    if value is None or isinstance(value, list):
        return value
    return [value]


Resolve = Callable[[Context, Mapping[str, Any]], Awaitable["RevealedValue | Sequence[RevealedValue]"]]


async def _secret_value(context: Context, arguments: Mapping[str, Any]) -> RevealedValue:
    workspace_id, secret_text = _id(arguments["workspaceId"]), _id(arguments["id"])
    assert workspace_id is not None and secret_text is not None  # non-null arguments, validated
    credentials = context.credentials
    secret_id = parse_secret_id(secret_text)
    identity, revealed = await context.services.values.read(
        Caller(credentials.authorization, credentials.ip_address, credentials.user_agent),
        workspace_id,
        secret_id,
        arguments.get("version"),
    )
    context._identity = identity
    return revealed


async def _secret_values(context: Context, arguments: Mapping[str, Any]) -> list[RevealedValue]:
    workspace_id = _id(arguments["workspaceId"])
    assert workspace_id is not None
    await context.authorize(Permission.READ_VALUES, workspace_id)
    return await context.services.secret_reads.reveal_many(
        workspace_id, _strings(arguments.get("names")), context.actor
    )


@dataclass(frozen=True)
class RootField:
    """What the plan knows of one root field: its arguments' kinds, which
    are required, and the service call that answers it."""

    arguments: Mapping[str, str]
    required: frozenset[str]
    resolve: Resolve


ROOT_FIELDS: dict[str, RootField] = {
    "secretValue": RootField(
        {"workspaceId": "ID", "id": "ID", "version": "Int"}, frozenset({"workspaceId", "id"}), _secret_value
    ),
    "secretValues": RootField({"workspaceId": "ID", "names": "[String!]"}, frozenset({"workspaceId"}), _secret_values),
}


@dataclass(frozen=True)
class ValuePlan:
    engine: Engine
    prepared: Prepared
    field: FieldNode
    response_key: str
    root: RootField
    arguments: Mapping[str, Argument]
    selections: tuple[tuple[str, str], ...]

    async def run(self, context: Context, variables: Mapping[str, Any]) -> Outcome:
        arguments = {name: argument.value(variables) for name, argument in self.arguments.items()}
        try:
            result = await self.root.resolve(context, arguments)
        except Exception as exc:
            error = GraphQLError(str(exc), nodes=[self.field], path=[self.response_key], original_error=exc)
            return Outcome(None, self.engine.format_errors([error], self.engine.redactor(self.prepared, variables)))
        if isinstance(result, RevealedValue):
            return Outcome({self.response_key: self._project(result)}, [])
        return Outcome({self.response_key: [self._project(item) for item in result]}, [])

    def _project(self, revealed: RevealedValue) -> dict[str, Any]:
        fields = {
            "secretId": str(revealed.secret_id),
            "name": revealed.name,
            "version": revealed.version,
            "value": revealed.value,
            "__typename": "SecretValue",
        }
        return {key: fields[name] for key, name in self.selections}


def plan_operation(engine: Engine, prepared: Prepared, operation: OperationDefinitionNode) -> ValuePlan | None:
    """A plan for `operation`, or None when the general executor must run it."""
    if operation.operation is not OperationType.QUERY or operation.directives:
        return None
    if any(
        definition.default_value is not None or definition.directives
        for definition in operation.variable_definitions or ()
    ):
        return None
    selections = operation.selection_set.selections
    if len(selections) != 1 or not isinstance(selections[0], FieldNode):
        return None
    node = selections[0]
    root = ROOT_FIELDS.get(node.name.value)
    if root is None or node.directives or node.selection_set is None:
        return None
    arguments: dict[str, Argument] = {}
    for argument in node.arguments or ():
        kind = root.arguments.get(argument.name.value)
        parsed = _argument(argument.value, kind) if kind is not None else None
        if parsed is None:
            return None
        arguments[argument.name.value] = parsed
    if not root.required <= set(arguments):
        return None
    leaves: list[tuple[str, str]] = []
    for selection in node.selection_set.selections:
        if (
            not isinstance(selection, FieldNode)
            or selection.directives
            or selection.selection_set
            or selection.arguments
        ):
            return None
        if selection.name.value not in SECRET_VALUE_FIELDS:
            return None
        key = selection.alias.value if selection.alias else selection.name.value
        if any(existing == key for existing, _ in leaves):
            if (key, selection.name.value) in leaves:
                continue  # the same field twice merges into one
            return None
        leaves.append((key, selection.name.value))
    return ValuePlan(
        engine=engine,
        prepared=prepared,
        field=node,
        response_key=node.alias.value if node.alias else node.name.value,
        root=root,
        arguments=arguments,
        selections=tuple(leaves),
    )
