"""The HTTP exchange both clients share: headers, and an answer turned into
its `data` or a StrongroomAPIError."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from graphql_api import __version__
from graphql_api.client.errors import UNAVAILABLE, Redactor, StrongroomAPIError, api_error

USER_AGENT = f"strongroom-client/{__version__}"


def headers(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}", "user-agent": USER_AGENT}


def unreachable(exc: httpx.HTTPError, endpoint: str, redact: Redactor) -> StrongroomAPIError:
    return StrongroomAPIError(
        UNAVAILABLE, redact(f"cannot reach {endpoint}: {type(exc).__name__}: {exc or 'no detail'}")
    )


def response_data(response: httpx.Response, endpoint: str, redact: Redactor) -> dict[str, Any]:
    """The operation's `data`, or the first GraphQL error, or UNAVAILABLE for anything else."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, Mapping):
        errors = body.get("errors")
        if isinstance(errors, list) and errors:
            raise api_error(errors, redact)
        data = body.get("data")
        if response.status_code == 200 and isinstance(data, dict):
            return data
    raise StrongroomAPIError(
        UNAVAILABLE,
        redact(
            f"unexpected answer from {endpoint}: HTTP {response.status_code} {response.reason_phrase or ''}".rstrip()
        ),
    )
