"""The `vault` backend on the shared retry policy, against the Vault double (tests/fakes/vault_transit.py).

A real OpenBao cannot fail or stall on demand, so these run on the double,
behind a small ASGI layer (`Faults`) that can hold requests (latency) or
answer with an error whose text echoes a marker, as Vault's own error text
may echo a request.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import hvac
import pytest
import pytest_asyncio
import stamina
from stamina.instrumentation import RetryDetails, set_on_retry_hooks
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from graphql_api.settings import Settings
from plugins import ConfigError
from plugins.builtin.vault_transit_backend import VaultTransitBackend
from plugins.interfaces import KeyUnavailable, PluginConfig
from plugins.manager import build_plugin_manager, collect_encryption_backends
from plugins.retries import RetryPolicy
from tests.fakes.serving import serve_in_thread
from tests.fakes.vault_transit import VaultDouble
from tests.plugins.key_material import assert_no_key_material

TOKEN = "s.strongroom-retry-token"
KEY = "strongroom"
CONTEXT = {"workspace_id": "default", "secret_id": "00000000-0000-0000-0000-000000000001"}
MakeBackend = Callable[..., VaultTransitBackend]


class Faults:
    """ASGI layer in front of the double: holds requests while `open` is clear, or answers `answers` first."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.open = threading.Event()
        self.open.set()
        self.held = 0
        self.seen: list[str] = []
        self.answers: list[tuple[int, str]] = []
        self.lock = threading.Lock()
        self.idle = threading.Condition(self.lock)
        self.in_flight = 0

    def reset(self) -> None:
        with self.lock:
            self.open.set()
            self.held = 0
            self.seen.clear()
            self.answers.clear()

    def release(self) -> None:
        """Let held requests through and wait (10 s at most) until every request has been answered."""
        self.open.set()
        with self.idle:
            if not self.idle.wait_for(lambda: self.in_flight == 0, timeout=10):
                raise AssertionError("requests still in flight after 10 s")

    def count(self, suffix: str) -> int:
        with self.lock:
            return sum(1 for path in self.seen if path.endswith(suffix))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        with self.lock:
            self.seen.append(scope["path"])
            answer = self.answers.pop(0) if self.answers else None
            hold = not self.open.is_set()
            self.held += hold
            self.in_flight += 1
        try:
            if answer is not None:
                status, text = answer
                await JSONResponse({"errors": [text]}, status_code=status)(scope, receive, send)
                return
            if hold:
                await asyncio.to_thread(self.open.wait, 10)
            await self.app(scope, receive, send)
        finally:
            with self.idle:
                self.in_flight -= 1
                self.idle.notify_all()


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[VaultDouble, Faults]]:
    double = VaultDouble(TOKEN)
    faults = Faults(double.app)
    with serve_in_thread(faults, "vault-retries") as port:
        double.url = f"http://127.0.0.1:{port}"
        yield double, faults
        faults.open.set()


@pytest.fixture
def vault(served: tuple[VaultDouble, Faults]) -> Iterator[tuple[VaultDouble, Faults]]:
    double, faults = served
    double.reset()
    faults.reset()
    client = hvac.Client(url=double.url, token=TOKEN)
    client.secrets.transit.create_key(KEY)
    client.adapter.close()
    faults.reset()
    yield double, faults
    faults.release()  # never leave a request held into the next test


@pytest.fixture
def double(vault: tuple[VaultDouble, Faults]) -> VaultDouble:
    return vault[0]


@pytest.fixture
def faults(vault: tuple[VaultDouble, Faults]) -> Faults:
    return vault[1]


@pytest.fixture
def no_waits() -> Iterator[None]:
    """stamina's test mode: the configured attempts, every wait zero."""
    with stamina.set_testing(True, attempts=100, cap=True):
        yield


@pytest_asyncio.fixture
async def make_backend(double: VaultDouble) -> AsyncIterator[MakeBackend]:
    made: list[VaultTransitBackend] = []

    def make(**overrides: Any) -> VaultTransitBackend:
        backend = VaultTransitBackend(double.url, TOKEN, KEY, **overrides)
        made.append(backend)
        return backend

    yield make
    for backend in made:
        await backend.aclose()


def collect(environ: dict[str, str], tmp_path: Path, *, with_settings: bool) -> dict[str, Any]:
    settings = Settings.from_environ(environ, env_file=tmp_path / "none") if with_settings else None
    config = PluginConfig(environ=environ, data_dir=tmp_path, settings=settings)
    return dict(collect_encryption_backends(build_plugin_manager(load_entry_points=False), config))


# -- the policy's settings -------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize("with_settings", [True, False])
async def test_vault_retry_variables_configure_the_registered_backend(
    double: VaultDouble, tmp_path: Path, no_waits: None, with_settings: bool
) -> None:
    environ = {
        "VAULT_URL": double.url,
        "VAULT_TOKEN": TOKEN,
        "VAULT_TRANSIT_KEY": KEY,
        "VAULT_RETRY_ATTEMPTS": "5",
        "VAULT_RETRY_DEADLINE": "12",
        "VAULT_RETRY_BACKOFF": "0.2",
        "VAULT_RETRY_BACKOFF_MAX": "3",
    }
    backend = collect(environ, tmp_path, with_settings=with_settings)["vault"]
    try:
        assert isinstance(backend, VaultTransitBackend)
        assert backend.retry == RetryPolicy(attempts=5, deadline=12.0, wait_initial=0.2, wait_max=3.0)
        double.fail_next(10, 503)
        with pytest.raises(KeyUnavailable, match="sealed or down"):
            await backend.wrap(os.urandom(32), CONTEXT)
        assert double.count(f"/encrypt/{KEY}") == 5
    finally:
        await backend.aclose()


@pytest.mark.parametrize(("variable", "value"), [("VAULT_RETRY_ATTEMPTS", "0"), ("VAULT_RETRY_DEADLINE", "never")])
def test_a_malformed_retry_variable_stops_registration_naming_it(
    double: VaultDouble, tmp_path: Path, variable: str, value: str
) -> None:
    environ = {"VAULT_URL": double.url, "VAULT_TOKEN": TOKEN, "VAULT_TRANSIT_KEY": KEY, variable: value}
    with pytest.raises(ConfigError) as raised:
        collect(environ, tmp_path, with_settings=True)
    assert raised.value.variable == variable
    assert TOKEN not in str(raised.value)


def test_constructor_arguments_override_the_policy(make_backend: MakeBackend) -> None:
    backend = make_backend(retry=RetryPolicy(attempts=2, deadline=3.0), backoff_cap=0.5)
    assert backend.retry == RetryPolicy(attempts=2, deadline=3.0, wait_max=0.5)
    assert backend.attempts == 2
    assert make_backend().retry == RetryPolicy()  # 3 attempts, 0.1 s doubling to 2 s, 20 s deadline
    with pytest.raises(ValueError, match="attempts must be at least 1"):
        make_backend(attempts=0)


# -- what is retried -----------------------------------------------------------------


@pytest.mark.asyncio
async def test_rate_limiting_is_retried(double: VaultDouble, make_backend: MakeBackend, no_waits: None) -> None:
    double.fail_next(2, 429)
    data_key = os.urandom(32)
    wrapped = await make_backend().wrap(data_key, CONTEXT)
    assert double.count(f"/encrypt/{KEY}") == 3
    assert await make_backend().unwrap(wrapped, CONTEXT) == data_key


@pytest.mark.asyncio
@pytest.mark.parametrize("status", [400, 403, 404])
async def test_refusals_are_not_retried(
    double: VaultDouble, make_backend: MakeBackend, no_waits: None, status: int
) -> None:
    double.fail_next(5, status)
    with pytest.raises(KeyUnavailable):
        await make_backend(attempts=5).wrap(os.urandom(32), CONTEXT)
    assert double.count(f"/encrypt/{KEY}") == 1


# -- the deadline -------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_a_stalled_vault_is_given_up_at_the_deadline_not_at_the_client_timeout(
    faults: Faults, make_backend: MakeBackend
) -> None:
    backend = make_backend(timeout=30.0, retry=RetryPolicy(attempts=3, deadline=0.5))
    faults.open.clear()

    with pytest.raises(KeyUnavailable) as raised:
        await backend.wrap(os.urandom(32), CONTEXT)

    assert str(raised.value) == f"vault key {KEY} is unavailable: no answer within the retry deadline of 0.5s"
    # Given up while the one request was still held: the caller did not wait for Vault (or hvac's 30 s).
    assert not faults.open.is_set() and faults.held == 1 and faults.count(f"/encrypt/{KEY}") == 1


@pytest.mark.asyncio
async def test_the_deadline_ends_retries_before_the_attempts_run_out(
    double: VaultDouble, make_backend: MakeBackend
) -> None:
    backend = make_backend(retry=RetryPolicy(attempts=10, wait_initial=0.6, wait_max=0.6, jitter=0, deadline=1.0))
    double.fail_next(20, 503)

    with pytest.raises(KeyUnavailable) as raised:
        await backend.wrap(os.urandom(32), CONTEXT)

    # Usually "sealed or down (HTTP 503) (retry deadline of 1s reached)"; on a loaded machine the second
    # attempt may itself be cut at the deadline ("no answer within the retry deadline of 1s").
    assert "retry deadline of 1s" in str(raised.value)
    assert 1 <= double.count(f"/encrypt/{KEY}") <= 2  # one wait of 0.6 s fits in 1 s, a second does not


# -- nothing leaks -------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_vaults_error_text_reaches_no_error_log_or_retry_hook(
    faults: Faults, make_backend: MakeBackend, no_waits: None, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    data_key = os.urandom(32)
    echoed = f"upstream echoed {base64.b64encode(data_key).decode()} marker-9b2e"
    faults.answers.extend([(503, echoed)] * 3)
    seen: list[RetryDetails] = []
    set_on_retry_hooks([seen.append])
    try:
        with pytest.raises(KeyUnavailable) as raised:
            await make_backend().wrap(data_key, CONTEXT)
    finally:
        set_on_retry_hooks(None)

    error = raised.value
    assert str(error) == f"vault key {KEY} is unavailable: sealed or down (HTTP 503)"
    assert_no_key_material(error, data_key)
    assert "marker-9b2e" not in repr(error) and error.__cause__ is None
    assert len(seen) == 2
    for details in seen:
        assert "marker-9b2e" not in repr(details.caused_by) and "sealed or down" in repr(details.caused_by)
    retries = [r.getMessage() for r in caplog.records if "retry" in r.getMessage()]
    assert retries and all(f"vault key {KEY}: sealed or down (HTTP 503), retry" in m for m in retries)
    assert "marker-9b2e" not in caplog.text and base64.b64encode(data_key).decode() not in caplog.text
