"""Running GraphQL documents: parse and validate once, execute per operation.

Both transports (graphql_api.http, graphql_api.websocket) come through here,
so every operation gets the same limits, the same error mapping and the same
guarantee that no error message echoes a value the client sent.

- Documents are parsed (with the token limit) and validated (the spec's
  rules, the depth and alias limits, no introspection when it is off, and
  `PlainStringsRule`) once per distinct text, then cached: the rules are
  built here once, so the cache is never defeated by per-request rules.
- A request error (syntax, validation, no such operation, several operations
  without `operationName`, variables that do not fit) is reported before any
  resolver runs; the transports answer it without `data`.
- Variables are checked by `check_variables`, which reports *where* a value is
  wrong and what type was expected, never the value.
- Every error leaves with `extensions.code` (graphql_api.schema.errors
  maps them once), and with any string the client sent taken out of its
  message (`Redactor`), whatever wording graphql-core or a resolver used.

The schema's types and resolvers are Strawberry's; execution is graphql-core's
own, on Strawberry's GraphQLSchema (`strawberry.Schema._schema`, the one
private attribute used here): Strawberry's per-request extension machinery
cost as much as the rest of a value read, and everything it did for us
(parser and validation caches, limits, error masking) is done here once.
"""

from __future__ import annotations

import math
import re
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
import strawberry
from graphql import (
    DocumentNode,
    ExecutionResult,
    GraphQLError,
    GraphQLSchema,
    GraphQLSyntaxError,
    OperationDefinitionNode,
    OperationType,
    StringValueNode,
    ValueNode,
    execute,
    parse,
    specified_rules,
    validate,
)
from graphql.execution import (
    Executor,
    create_source_event_stream,
    execute_subscription_event,
    map_source_to_response_event,
)
from graphql.execution.executor_throwing_on_incremental import ExecutorThrowingOnIncremental
from graphql.language import print_ast
from graphql.pyutils import Undefined
from graphql.type import (
    GraphQLEnumType,
    GraphQLID,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLScalarType,
    GraphQLString,
    is_input_type,
    is_required_input_field,
)
from graphql.utilities import coerce_input_value, type_from_ast
from graphql.utilities.validate_input_value import validate_input_literal
from graphql.validation import ASTValidationRule, NoSchemaIntrospectionCustomRule, ValidationRule
from graphql.validation.rules.values_of_correct_type import ValuesOfCorrectTypeRule
from strawberry.execution import optimized_is_awaitable
from strawberry.extensions.max_aliases import create_validator as alias_rule
from strawberry.extensions.query_depth_limiter import create_validator as depth_rule

from graphql_api.errors import StrongroomError
from graphql_api.fan_out import SharedResults, is_shared
from graphql_api.schema.errors import map_error

DOCUMENT_CACHE_SIZE = 512
MAX_VARIABLE_DEPTH = 32
# Strings this long or longer are taken out of error messages wherever they appear.
REDACT_MIN_LENGTH = 4
REDACTED = "…"


# ---- validation rules that report where, never what -------------------------


def has_bad_characters(text: str) -> bool:
    """NUL (PostgreSQL refuses it in text) or an unpaired surrogate (not UTF-8)."""
    if "\x00" in text:
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


class PlainStringsRule(ValidationRule):
    """String literals must be storable text: no NUL, no unpaired surrogate."""

    def enter_string_value(self, node: StringValueNode, *_args: Any) -> None:
        if has_bad_characters(node.value):
            self.report_error(
                GraphQLError("A string in the document contains a NUL or an unpaired surrogate character.", node)
            )


class LiteralValuesRule(ValuesOfCorrectTypeRule):
    """graphql-core's ValuesOfCorrectTypeRule, reporting the expected type and
    the path inside the literal instead of the literal itself."""

    def is_valid_value_node(self, node: ValueNode, input_type: GraphQLInputType | None) -> Any:
        from graphql.language.visitor import SKIP

        if input_type:
            reported = False

            def on_error(error: GraphQLError, path: list[str | int]) -> None:
                nonlocal reported
                if reported:
                    return
                reported = True
                where = f" at '{'.'.join(str(p) for p in path)}'" if path else ""
                self.report_error(GraphQLError(f"Expected a value of type '{input_type}'{where}.", node))

            validate_input_literal(node, input_type, on_error, None, None, self.context.hide_suggestions)
        return SKIP


def build_rules(
    *, max_depth: int, max_aliases: int, introspection: bool
) -> tuple[tuple[type[ASTValidationRule], ...], tuple[type[ASTValidationRule], ...]]:
    """The spec's rules (with literal values reported safely), then the limits.

    Two passes because the limit rules assume a valid document (the depth
    rule looks fragments up without checking they exist).
    """
    rules: list[type[ASTValidationRule]] = [
        LiteralValuesRule if rule is ValuesOfCorrectTypeRule else rule for rule in specified_rules
    ]
    rules.append(PlainStringsRule)
    if not introspection:
        rules.append(NoSchemaIntrospectionCustomRule)
    return tuple(rules), (depth_rule(max_depth, None), alias_rule(max_aliases))


# ---- variables ---------------------------------------------------------------


def _describe_path(name: str, path: Sequence[str | int]) -> str:
    text = name
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text


def _problem(
    value: Any, type_: GraphQLInputType, path: list[str | int], depth: int
) -> tuple[list[str | int], str] | None:
    """Where `value` does not fit `type_` and what was expected, or None."""
    if depth > MAX_VARIABLE_DEPTH:
        return path, "a value nested less deeply"
    if isinstance(type_, GraphQLNonNull):
        if value is None:
            return path, f"a non-null value of type '{type_.of_type}'"
        return _problem(value, type_.of_type, path, depth)
    if value is None:
        return None
    if isinstance(type_, GraphQLList):
        if not isinstance(value, list):
            return _problem(value, type_.of_type, path, depth + 1)
        inner = type_.of_type
        for index, item in enumerate(value):
            # The item's path is made only for a problem: a list of 200 names
            # is checked on every bulk read.
            found = _problem(item, inner, path, depth + 1)
            if found:
                item_path, expected = found
                return [*path, index, *item_path[len(path) :]], expected
        return None
    if isinstance(type_, GraphQLInputObjectType):
        if not isinstance(value, dict):
            return path, f"an object of type '{type_.name}'"
        for key in value:
            if key not in type_.fields:
                # The unknown key is the client's text: named by position, not echoed.
                return path, f"an object of type '{type_.name}' (it has a field '{type_.name}' does not define)"
        for name, field_ in type_.fields.items():
            if name in value:
                found = _problem(value[name], field_.type, [*path, name], depth + 1)
                if found:
                    return found
            elif is_required_input_field(field_):
                return [*path, name], f"a value of type '{field_.type}' (required)"
        return None
    if type(value) is str and (type_ is GraphQLString or type_ is GraphQLID):
        # What parse_value would accept as is; the common case, checked directly.
        if has_bad_characters(value):
            return path, f"a value of type '{type_.name}' without NUL or unpaired surrogate characters"
        return None
    if isinstance(type_, (GraphQLScalarType, GraphQLEnumType)):
        if _has_bad_strings(value, depth):
            return path, f"a value of type '{type_.name}' without NUL or unpaired surrogate characters"
        try:
            parsed = type_.parse_value(value)
        except (GraphQLError, ValueError, TypeError, OverflowError, ArithmeticError):
            return path, f"a value of type '{type_.name}'"
        if parsed is Undefined or (isinstance(parsed, float) and not math.isfinite(parsed)):
            return path, f"a value of type '{type_.name}'"
        return None
    return path, "an input value"


def _has_bad_strings(value: Any, depth: int) -> bool:
    stack = [(value, depth)]
    while stack:
        item, level = stack.pop()
        if level > MAX_VARIABLE_DEPTH:
            return True
        if isinstance(item, str):
            if has_bad_characters(item):
                return True
        elif isinstance(item, dict):
            for key, inner in item.items():
                if isinstance(key, str) and has_bad_characters(key):
                    return True
                stack.append((inner, level + 1))
        elif isinstance(item, list):
            stack.extend((inner, level + 1) for inner in item)
    return False


VariableTypes = tuple[tuple[Any, str, GraphQLInputType], ...]


def variable_types(schema: GraphQLSchema, operation: OperationDefinitionNode) -> VariableTypes:
    found = []
    for definition in operation.variable_definitions or ():
        type_ = type_from_ast(schema, definition.type)
        if type_ is not None and is_input_type(type_):
            found.append((definition, definition.variable.name.value, type_))
    return tuple(found)


def check_variables(
    schema: GraphQLSchema,
    operation: OperationDefinitionNode,
    inputs: Mapping[str, Any],
    types: VariableTypes | None = None,
) -> list[GraphQLError]:
    """Errors for variables that do not fit their declared types, naming the
    variable, the path inside it and the expected type, never the value."""
    errors: list[GraphQLError] = []
    for definition, name, type_ in types if types is not None else variable_types(schema, operation):
        if name not in inputs:
            if isinstance(type_, GraphQLNonNull) and definition.default_value is None:
                errors.append(
                    GraphQLError(f"Variable '${name}' of required type '{type_}' was not provided.", definition)
                )
            continue
        found = _problem(inputs[name], type_, [], 0)
        if found is not None:
            path, expected = found
            where = f" at '{_describe_path(name, path)}'" if path else ""
            errors.append(
                GraphQLError(f"Variable '${name}' has an invalid value{where}: expected {expected}.", definition)
            )
        elif coerce_input_value(inputs[name], type_) is Undefined:
            errors.append(GraphQLError(f"Variable '${name}' has an invalid value.", definition))
    return errors


# ---- redaction ----------------------------------------------------------------


class Redactor:
    """Takes every string (and long number) the client sent out of messages."""

    def __init__(self, values: Sequence[str]) -> None:
        wanted = sorted({v for v in values if len(v) >= REDACT_MIN_LENGTH}, key=len, reverse=True)
        self._pattern = re.compile("|".join(re.escape(v) for v in wanted)) if wanted else None

    def __call__(self, message: str) -> str:
        if self._pattern is None:
            return message
        return self._pattern.sub(REDACTED, message)


def _strings_in(value: Any, out: list[str], depth: int = 0) -> None:
    if depth > MAX_VARIABLE_DEPTH + 2:
        return
    if isinstance(value, str):
        out.append(value)
    elif isinstance(value, bool) or value is None:
        return
    elif isinstance(value, (int, float)):
        out.append(str(value))
    elif isinstance(value, dict):
        for inner in value.values():  # keys are names the schema defines, not values
            _strings_in(inner, out, depth + 1)
    elif isinstance(value, list):
        for inner in value:
            _strings_in(inner, out, depth + 1)


def literal_strings(document: DocumentNode) -> list[str]:
    """The values of every string, number and enum literal of a document."""
    found: list[str] = []

    def walk(node: Any) -> None:
        kind = getattr(node, "kind", None)
        if kind in ("string_value", "int_value", "float_value", "enum_value"):
            found.append(str(node.value))
        for key in getattr(node, "keys", ()):
            child = getattr(node, key, None)
            if isinstance(child, (list, tuple)):
                for item in child:
                    if hasattr(item, "kind"):
                        walk(item)
            elif hasattr(child, "kind"):
                walk(child)

    walk(document)
    return found


_QUOTED = re.compile(r"\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*'")


def syntax_error_message(error: GraphQLSyntaxError) -> str:
    """graphql-core's syntax error without the token text it quotes."""
    return _QUOTED.sub('"…"', error.message)


# ---- documents and results ------------------------------------------------------


@dataclass
class Prepared:
    """A parsed and validated document, or the request errors it has."""

    document: DocumentNode | None
    errors: list[GraphQLError]
    literals: list[str] = field(default_factory=list)
    operations: dict[str | None, OperationDefinitionNode] = field(default_factory=dict)
    # Filled by graphql_api.fast_path for operations it can run itself.
    plans: dict[str | None, Any] = field(default_factory=dict)
    # Each operation's declared variables with their types, resolved once.
    variables: dict[str | None, VariableTypes] = field(default_factory=dict)
    # Each operation's duration metric, `observe(seconds)` (Engine.operation_timer).
    timers: dict[str | None, Callable[[float], None]] = field(default_factory=dict)

    def operation(self, name: str | None) -> OperationDefinitionNode | GraphQLError:
        if name is not None:
            found = self.operations.get(name)
            if found is None:
                return GraphQLError("The document has no operation of the given operationName.")
            return found
        if len(self.operations) == 1:
            return next(iter(self.operations.values()))
        if not self.operations:
            return GraphQLError("The document contains no operation.")
        return GraphQLError("The document contains several operations: operationName must say which one to run.")


@dataclass
class Outcome:
    """The answer to one operation.

    `request_error` means nothing was executed (the transports then send no
    `data`); `errors` are already mapped to codes and redacted.
    """

    data: dict[str, Any] | None
    errors: list[dict[str, Any]]
    request_error: bool = False

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {}
        if not self.request_error:
            body["data"] = self.data
        if self.errors:
            body["errors"] = self.errors
        return body


class Engine:
    def __init__(
        self,
        schema: strawberry.Schema,
        *,
        max_depth: int,
        max_aliases: int,
        max_tokens: int,
        introspection: bool,
    ) -> None:
        self.strawberry_schema = schema
        self.schema: GraphQLSchema = schema._schema
        self._rules, self._limits = build_rules(
            max_depth=max_depth, max_aliases=max_aliases, introspection=introspection
        )
        self._max_tokens = max_tokens
        self.hide_suggestions = not introspection
        self._documents: OrderedDict[str, Prepared] = OrderedDict()
        self.shared_results = SharedResults()
        # Compiles a fast plan for a prepared operation, or None (set_planner).
        self.planner: Any = None
        # The duration metric of an operation, resolved once per prepared
        # document (graphql_api.metrics); the transports observe it.
        self.operation_timer: Callable[[OperationDefinitionNode], Callable[[float], None]] | None = None

    def set_planner(self, planner: Any) -> None:
        """Use `planner` (None: the general executor for everything); cached
        documents are dropped, their plans were the old planner's."""
        self.planner = planner
        self._documents.clear()

    # ---- documents

    def prepare(self, query: str) -> Prepared:
        cached = self._documents.get(query)
        if cached is not None:
            self._documents.move_to_end(query)
            return cached
        prepared = self._prepare(query)
        self._documents[query] = prepared
        if len(self._documents) > DOCUMENT_CACHE_SIZE:
            self._documents.popitem(last=False)
        return prepared

    def _prepare(self, query: str) -> Prepared:
        try:
            document = parse(query, max_tokens=self._max_tokens)
        except GraphQLSyntaxError as error:
            return Prepared(
                None, [GraphQLError(syntax_error_message(error), source=error.source, positions=error.positions)]
            )
        except RecursionError:
            return Prepared(None, [GraphQLError("The document is nested too deeply to parse.")])
        literals = literal_strings(document)
        try:
            errors = validate(self.schema, document, self._rules, max_errors=20, hide_suggestions=self.hide_suggestions)
            if not errors:
                errors = validate(
                    self.schema, document, self._limits, max_errors=20, hide_suggestions=self.hide_suggestions
                )
        except RecursionError:
            errors = [GraphQLError("The document is nested too deeply to validate.")]
        if errors:
            return Prepared(None, errors, literals)
        operations: dict[str | None, OperationDefinitionNode] = {}
        for definition in document.definitions:
            if isinstance(definition, OperationDefinitionNode):
                operations[definition.name.value if definition.name else None] = definition
        prepared = Prepared(document, [], literals, operations)
        prepared.variables = {name: variable_types(self.schema, op) for name, op in operations.items()}
        if self.operation_timer is not None:
            timer = self.operation_timer
            prepared.timers = {
                name: timer(op) for name, op in operations.items() if op.operation is not OperationType.SUBSCRIPTION
            }
        if self.planner is not None:
            for name, operation in operations.items():
                plan = self.planner(self, prepared, operation)
                if plan is not None:
                    prepared.plans[name] = plan
        return prepared

    # ---- errors

    def redactor(self, prepared: Prepared | None, variables: Mapping[str, Any] | None) -> Redactor:
        values: list[str] = list(prepared.literals) if prepared else []
        if variables:
            _strings_in(dict(variables), values)
        return Redactor(values)

    def request_error(self, errors: Sequence[GraphQLError], redact: Redactor | None = None) -> Outcome:
        return Outcome(None, self.format_errors(errors, redact or Redactor(())), request_error=True)

    def format_errors(self, errors: Sequence[GraphQLError], redact: Redactor) -> list[dict[str, Any]]:
        """Mapped to codes; GraphQL's own messages (not our domain errors,
        which are written to name fields and ids, never values) redacted."""
        formatted: list[dict[str, Any]] = []
        for error in errors:
            mapped: dict[str, Any] = dict(map_error(error).formatted)
            if not isinstance(error.original_error, StrongroomError):
                mapped["message"] = redact(mapped["message"])
            formatted.append(mapped)
        return formatted

    # ---- execution

    def select(
        self,
        prepared: Prepared,
        operation_name: str | None,
        variables: Mapping[str, Any] | None,
    ) -> OperationDefinitionNode | Outcome:
        """The operation to run, or the request error that prevents it."""
        if prepared.errors or prepared.document is None:
            return self.request_error(prepared.errors, self.redactor(prepared, variables))
        operation = prepared.operation(operation_name)
        if isinstance(operation, GraphQLError):
            return self.request_error([operation], self.redactor(prepared, variables))
        name = operation.name.value if operation.name else None
        problems = check_variables(self.schema, operation, variables or {}, prepared.variables.get(name))
        if problems:
            return self.request_error(problems, self.redactor(prepared, variables))
        return operation

    async def execute(
        self,
        prepared: Prepared,
        operation: OperationDefinitionNode,
        variables: Mapping[str, Any] | None,
        context: Any,
    ) -> Outcome:
        assert prepared.document is not None
        result = execute(
            self.schema,
            prepared.document,
            context_value=context,
            variable_values=dict(variables or {}),
            operation_name=operation.name.value if operation.name else None,
            is_awaitable=optimized_is_awaitable,  # type: ignore[arg-type]  # a bool-returning TypeGuard in all but name
            hide_suggestions=self.hide_suggestions,
        )
        if optimized_is_awaitable(result):
            result = await result  # type: ignore[misc]  # graphql-core's is_awaitable is no TypeGuard: not narrowed
        assert isinstance(result, ExecutionResult)
        return self._outcome(result, prepared, variables)

    def _outcome(self, result: ExecutionResult, prepared: Prepared, variables: Mapping[str, Any] | None) -> Outcome:
        if not result.errors:
            return Outcome(result.data, [])
        redact = self.redactor(prepared, variables)
        # graphql-core reports variable coercion problems with data None and
        # no path: a request error, although check_variables catches them first.
        request_error = result.data is None and all(not e.path for e in result.errors)
        return Outcome(None if request_error else result.data, self.format_errors(result.errors, redact), request_error)

    async def subscribe(
        self,
        prepared: Prepared,
        operation: OperationDefinitionNode,
        variables: Mapping[str, Any] | None,
        context: Any,
    ) -> AsyncIterator[Outcome] | Outcome:
        """An iterator of outcomes, or the one outcome that ended it before it began.

        graphql-core's subscribe, composed from its parts so that each event
        is completed once for every subscriber of the same document
        (graphql_api.fan_out)."""
        assert prepared.document is not None
        operation_name = operation.name.value if operation.name else None
        executor = ExecutorThrowingOnIncremental.build(
            self.schema,
            prepared.document,
            context_value=context,
            raw_variable_values=dict(variables or {}),
            operation_name=operation_name,
            hide_suggestions=self.hide_suggestions,
        )
        if isinstance(executor, list):
            return self._outcome(ExecutionResult(None, errors=executor), prepared, variables)
        source = create_source_event_stream(executor)
        if optimized_is_awaitable(source):
            source = await source  # type: ignore[misc]  # likewise: is_awaitable does not narrow
        if isinstance(source, ExecutionResult):
            return self._outcome(source, prepared, variables)
        document = prepared.document
        key = (id(document), operation_name, orjson.dumps(variables or {}, option=orjson.OPT_SORT_KEYS))
        shared = self.shared_results

        def complete(event_executor: Executor[Any]) -> Any:
            payload = event_executor.root_value
            if not is_shared(payload):
                return execute_subscription_event(event_executor)
            found = shared.get(payload, document, key)
            if found is not None:
                return found
            result = execute_subscription_event(event_executor)
            if optimized_is_awaitable(result):
                return _store_when_done(result, shared, payload, document, key)  # type: ignore[arg-type]  # not narrowed
            shared.put(payload, document, key, result)  # type: ignore[arg-type]  # not narrowed (is_awaitable)
            return result

        results = map_source_to_response_event(executor, source, complete)  # type: ignore[arg-type]  # not narrowed
        return self._stream(results, prepared, variables)

    async def _stream(
        self, source: AsyncIterator[ExecutionResult], prepared: Prepared, variables: Mapping[str, Any] | None
    ) -> AsyncIterator[Outcome]:
        try:
            async for result in source:
                yield self._outcome(result, prepared, variables)
        finally:
            closing = getattr(source, "aclose", None)
            if closing is not None:
                await closing()


async def _store_when_done(
    pending: Awaitable[ExecutionResult], shared: SharedResults, payload: object, document: object, key: Any
) -> ExecutionResult:
    result = await pending
    shared.put(payload, document, key, result)
    return result


def operation_type(operation: OperationDefinitionNode) -> OperationType:
    return operation.operation


def describe_operation(operation: OperationDefinitionNode) -> str:
    """The operation's name, or the first root field, for logs and metrics."""
    if operation.name:
        return operation.name.value
    for selection in operation.selection_set.selections:
        name = getattr(selection, "name", None)
        if name is not None:
            return str(name.value)
    return print_ast(operation)[:40]
