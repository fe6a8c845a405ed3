"""An in-process Strongroom for tests: the real app, its lifespan, and an
httpx client speaking GraphQL to it."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
from starlette.applications import Starlette

from graphql_api.app import Services

ADMIN_TOKEN = "sr_test-admin-token-0123456789abcdefghijklmnop"


class GraphQLErrors(AssertionError):
    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(errors)
        self.errors = errors

    @property
    def codes(self) -> list[str]:
        return [e.get("extensions", {}).get("code", "") for e in self.errors]


@dataclass
class Server:
    app: Starlette
    client: httpx.AsyncClient
    services: Services

    async def execute(
        self,
        query: str,
        variables: Mapping[str, Any] | None = None,
        *,
        token: str | None = ADMIN_TOKEN,
        headers: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """The raw GraphQL response body."""
        sent = {"content-type": "application/json", **(headers or {})}
        if token is not None:
            sent["authorization"] = f"Bearer {token}"
        response = await self.client.post(
            "/graphql", json={"query": query, "variables": dict(variables or {})}, headers=sent
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def data(self, query: str, variables: Mapping[str, Any] | None = None, **kwargs: Any) -> dict[str, Any]:
        """The data of a response that must have no errors."""
        body = await self.execute(query, variables, **kwargs)
        if body.get("errors"):
            raise GraphQLErrors(body["errors"])
        result: dict[str, Any] = body["data"]
        return result

    async def error(self, query: str, variables: Mapping[str, Any] | None = None, **kwargs: Any) -> dict[str, Any]:
        """The single error of a response that must fail."""
        body = await self.execute(query, variables, **kwargs)
        errors = body.get("errors") or []
        assert len(errors) == 1, body
        error: dict[str, Any] = errors[0]
        return error


def error_codes(body: Mapping[str, Any]) -> list[str]:
    """The extensions.code of every error of a GraphQL response body."""
    return [(e.get("extensions") or {}).get("code", "") for e in body.get("errors") or []]


def dicts_in(value: Any) -> Iterator[dict[str, Any]]:
    """Every JSON object nested anywhere in `value`."""
    if isinstance(value, dict):
        yield value
        for item in value.values():
            yield from dicts_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from dicts_in(item)
