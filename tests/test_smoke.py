from __future__ import annotations

import pytest

from tests.harness import Server


@pytest.mark.asyncio
async def test_viewer_is_the_bootstrap_superadmin(server: Server) -> None:
    data = await server.data("{ viewer { name isSuperadmin } workspaces { id } }")
    assert data == {"viewer": {"name": "admin", "isSuperadmin": True}, "workspaces": [{"id": "default"}]}
