"""Maps every error of a result to one public code, once, for all operations.

Domain errors (graphql_api.errors) keep their message and get their code.
GraphQL's own errors (syntax, validation, variables) are the client's input:
BAD_USER_INPUT; graphql_api.execution words them so that they never hold a
value the client sent, and redacts every such value from every message as a
last line of defence. Anything else is a bug or an outage: it is logged with
its traceback server-side and reaches the client as INTERNAL with a fixed
message.
"""

from __future__ import annotations

import logging

from graphql import GraphQLError

from graphql_api.errors import INTERNAL_CODE, INTERNAL_MESSAGE, StrongroomError

logger = logging.getLogger("strongroom.graphql")

CLIENT_ERROR_CODE = "BAD_USER_INPUT"


def map_error(error: GraphQLError) -> GraphQLError:
    original = error.original_error
    if isinstance(original, StrongroomError):
        return GraphQLError(
            original.message,
            nodes=error.nodes,
            source=error.source,
            positions=error.positions,
            path=error.path,
            extensions=original.extensions,
        )
    if original is None or isinstance(original, GraphQLError):
        code = (error.extensions or {}).get("code") if error.extensions else None
        return GraphQLError(
            error.message,
            nodes=error.nodes,
            source=error.source,
            positions=error.positions,
            path=error.path,
            extensions={"code": code if isinstance(code, str) else CLIENT_ERROR_CODE},
        )
    logger.error(
        "unexpected %s at %s",
        type(original).__name__,
        ".".join(str(p) for p in error.path or ()),
        exc_info=(type(original), original, original.__traceback__),
    )
    return GraphQLError(
        INTERNAL_MESSAGE,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        extensions={"code": INTERNAL_CODE},
    )
