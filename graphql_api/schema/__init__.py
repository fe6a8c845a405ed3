"""The GraphQL schema: types, resolvers and the extensions every request runs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import strawberry
from graphql.validation import ASTValidationRule
from strawberry.extensions import (
    AddValidationRules,
    DisableIntrospection,
    MaxTokensLimiter,
    ParserCache,
    SchemaExtension,
    ValidationCache,
)
from strawberry.extensions.max_aliases import create_validator as alias_rule
from strawberry.extensions.query_depth_limiter import create_validator as depth_rule
from strawberry.schema.config import StrawberryConfig

from graphql_api.schema.errors import ErrorCodes
from graphql_api.schema.mutation import Mutation
from graphql_api.schema.query import Query
from graphql_api.schema.subscription import Subscription
from graphql_api.settings import Settings


class StrongroomSchema(strawberry.Schema):
    def process_errors(self, errors: Any, execution_context: Any = None) -> None:
        # ErrorCodes logs what is unexpected; domain errors are answers, not incidents.
        return None


def build_schema(settings: Settings | None = None) -> strawberry.Schema:
    """The schema with its limits built once.

    Validation rule classes are created here, not per request: the validation
    cache keys on the rule tuple, so per-request rule classes would defeat it.
    """
    settings = settings or Settings()
    rules: list[type[ASTValidationRule]] = [depth_rule(settings.max_query_depth, None), alias_rule(settings.max_aliases)]
    max_tokens = settings.max_tokens
    extensions: list[type[SchemaExtension] | Callable[[], SchemaExtension]] = [
        lambda: AddValidationRules(rules),
        lambda: MaxTokensLimiter(max_token_count=max_tokens),
        lambda: ParserCache(maxsize=256),
        lambda: ValidationCache(maxsize=256),
        ErrorCodes,
    ]
    if not settings.introspection_enabled:
        extensions.append(DisableIntrospection)
    return StrongroomSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=extensions,
        config=StrawberryConfig(auto_camel_case=True),
    )
