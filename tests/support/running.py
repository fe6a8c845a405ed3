"""An extra in-process server on given settings (and clock, plugins)."""

from __future__ import annotations

from typing import Any

import httpx

from graphql_api.app import create_app
from graphql_api.settings import Settings
from tests.clock import MutableClock
from tests.harness import Server


class running:
    """An extra in-process server on given settings (and clock, plugins)."""

    def __init__(self, settings: Settings, clock: MutableClock | None = None, plugins: Any = None) -> None:
        self.app = create_app(
            settings, now=clock or MutableClock(), migrate_on_start=True, plugins=plugins, announce=lambda _m: None
        )
        self._lifespan = self.app.router.lifespan_context(self.app)
        self._client = httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url="http://strongroom.test")

    async def __aenter__(self) -> Server:
        await self._lifespan.__aenter__()
        await self._client.__aenter__()
        return Server(app=self.app, client=self._client, services=self.app.state.services)

    async def __aexit__(self, *exc: object) -> None:
        await self._client.__aexit__(None, None, None)
        await self._lifespan.__aexit__(None, None, None)
