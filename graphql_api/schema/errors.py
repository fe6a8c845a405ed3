"""Maps every error of a result to one public code, once, for all operations.

Domain errors keep their message and get their code; GraphQL's own parse and
validation errors become BAD_USER_INPUT with any echoed input value removed
(a mistyped variable may be a secret); anything else is logged and masked as
INTERNAL.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator

from graphql import GraphQLError
from strawberry.extensions import SchemaExtension

from graphql_api.errors import INTERNAL_CODE, INTERNAL_MESSAGE, StrongroomError

logger = logging.getLogger("strongroom.graphql")

_VARIABLE_VALUE = re.compile(r"^(Variable '\$\w+') got invalid value .*? at '([^']+)'", re.S)
_VARIABLE_ANY = re.compile(r"^(Variable '\$\w+') got invalid value", re.S)
_EXPECTED_TYPE = re.compile(r"^Expected value of type '([^']+)'", re.S)
_QUOTED = re.compile(r"\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*'")


def sanitize_message(message: str) -> str:
    """GraphQL's message with any echoed input value taken out."""
    if match := _VARIABLE_VALUE.match(message):
        return f"{match.group(1)} has an invalid value at '{match.group(2)}'."
    if match := _VARIABLE_ANY.match(message):
        return f"{match.group(1)} has an invalid value."
    if match := _EXPECTED_TYPE.match(message):
        return f"Expected a value of type '{match.group(1)}'."
    if "cannot represent" in message:
        return message.split(":", 1)[0].rstrip(".") + "."
    if message.startswith("Syntax Error"):
        return _QUOTED.sub('"…"', message)
    return message


def map_error(error: GraphQLError) -> GraphQLError:
    original = error.original_error
    if isinstance(original, StrongroomError):
        return GraphQLError(
            original.message, nodes=error.nodes, source=error.source, positions=error.positions,
            path=error.path, extensions=original.extensions,
        )
    if original is None or isinstance(original, GraphQLError):
        # GraphQL's own parse, validation and coercion errors: the client's input.
        return GraphQLError(
            sanitize_message(error.message), nodes=error.nodes, source=error.source,
            positions=error.positions, path=error.path, extensions={"code": "BAD_USER_INPUT"},
        )
    logger.error(
        "unexpected %s at %s", type(original).__name__, ".".join(str(p) for p in error.path or ()),
        exc_info=(type(original), original, original.__traceback__),
    )
    return GraphQLError(
        INTERNAL_MESSAGE, nodes=error.nodes, source=error.source, positions=error.positions,
        path=error.path, extensions={"code": INTERNAL_CODE},
    )


class ErrorCodes(SchemaExtension):
    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        errors = getattr(result, "errors", None)
        if result is not None and errors:
            result.errors = [map_error(error) for error in errors]
