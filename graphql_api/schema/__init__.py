"""The GraphQL schema: Strawberry types and resolvers.

Limits, caches and error mapping are not Strawberry extensions here: they
live in graphql_api.execution, which runs every operation of both
transports.
"""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.schema.config import StrawberryConfig

from graphql_api.schema.mutation import Mutation
from graphql_api.schema.query import Query
from graphql_api.schema.scalars import DATETIME
from graphql_api.schema.subscription import Subscription


def build_schema() -> strawberry.Schema:
    return strawberry.Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        config=StrawberryConfig(auto_camel_case=True),
        scalar_overrides={datetime: DATETIME},
    )
