"""Fixtures of the `vault` backend tests: a real OpenBao (tests/openbao.py), a fresh mount per test.

One OpenBao process serves the whole test session; every test gets its own
transit mount with a fresh `strongroom` key (version 1), so tests do not see
each other's keys or versions. tests/plugins/conftest.py makes the fixtures
visible to the test modules.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import hvac
import pytest
import pytest_asyncio

from plugins.builtin.vault_transit_backend import VaultTransitBackend
from tests.openbao import OpenBao, Transit, shared_openbao

KEY = "strongroom"
CONTEXT = {"workspace_id": "default", "secret_id": "00000000-0000-0000-0000-000000000001"}
OTHER_SECRET = {"workspace_id": "default", "secret_id": "00000000-0000-0000-0000-000000000002"}
FAST = {"backoff_base": 0.001, "backoff_cap": 0.005}

MakeBackend = Callable[..., VaultTransitBackend]


@pytest.fixture(scope="session")
def bao() -> Iterator[OpenBao]:
    with shared_openbao() as server:
        yield server


@pytest.fixture
def transit(bao: OpenBao) -> Iterator[Transit]:
    """A fresh transit mount holding a fresh `strongroom` key (version 1)."""
    mount = bao.new_transit()
    bao.create_key(mount, KEY)
    yield mount
    bao.drop_transit(mount)


@pytest.fixture
def admin(bao: OpenBao) -> Iterator[hvac.Client]:
    """Another Vault client (root token), as an operator or another Strongroom replica would be."""
    client = hvac.Client(url=bao.url, token=bao.root_token)
    yield client
    client.adapter.close()


@pytest_asyncio.fixture
async def make_backend(bao: OpenBao, transit: Transit) -> AsyncIterator[MakeBackend]:
    made: list[VaultTransitBackend] = []

    def make(**overrides: Any) -> VaultTransitBackend:
        arguments: dict[str, Any] = {
            "url": bao.url,
            "token": bao.root_token,
            "key_name": KEY,
            "mount_point": transit.mount,
            **FAST,
            **overrides,
        }
        backend = VaultTransitBackend(**arguments)
        made.append(backend)
        return backend

    yield make
    for backend in made:
        await backend.aclose()


@pytest.fixture
def backend(make_backend: MakeBackend) -> VaultTransitBackend:
    return make_backend()
