"""The builtin Vault Transit backend when things go wrong, against a real OpenBao where it can be.

A sealed server (sys/seal on the shared OpenBao, unsealed again whatever
happens), a wrong or revoked token, a token that cannot look itself up, a
missing key or mount, an unreachable server: all real. Only what a real
server cannot be made to do on demand runs against the hand-written double
(tests/fakes/vault_transit.py): a 5xx or 400 answer to exactly the next
request, and counting the requests a retry sent. Those tests are in the
"injected faults" section at the end.
"""

from __future__ import annotations

import base64
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import hvac
import pytest
import pytest_asyncio

from plugins.builtin.vault_transit_backend import VaultTransitBackend, associated_data
from plugins.interfaces import BackendStatus, KeyUnavailable, WrappedKey
from tests.fakes.vault_transit import VaultDouble, running_vault_double
from tests.openbao import OpenBao, Transit, strongroom_policy
from tests.plugins.key_material import assert_no_key_material
from tests.plugins.vault_server import CONTEXT, FAST, KEY, OTHER_SECRET, MakeBackend
from tests.process import closed_port_url

# -- failures ----------------------------------------------------------------


@pytest.mark.asyncio
async def test_sealed_vault_is_unavailable_and_unhealthy(bao: OpenBao, backend: VaultTransitBackend) -> None:
    data_key = os.urandom(32)
    wrapped = await backend.wrap(data_key, CONTEXT)

    with bao.sealed():
        with pytest.raises(KeyUnavailable, match=f"vault key {KEY}:v1 is unavailable: sealed") as caught:
            await backend.unwrap(wrapped, CONTEXT)
        with pytest.raises(KeyUnavailable, match="sealed"):
            await backend.wrap(data_key, CONTEXT)
        status = await backend.health()

    assert_no_key_material(caught.value, data_key)
    assert status == BackendStatus(healthy=False, key_id=None, error="vault is sealed")
    assert await backend.unwrap(wrapped, CONTEXT) == data_key
    assert (await backend.health()).healthy


@pytest.mark.asyncio
async def test_unreachable_vault_is_unavailable_and_unhealthy(make_backend: MakeBackend) -> None:
    backend = make_backend(url=closed_port_url(), timeout=2.0)

    with pytest.raises(KeyUnavailable, match=f"vault key {KEY} is unavailable: unreachable"):
        await backend.wrap(os.urandom(32), CONTEXT)
    status = await backend.health()

    assert status.healthy is False
    assert status.error is not None and "unreachable" in status.error


@pytest.mark.asyncio
async def test_wrong_token_is_permission_denied(make_backend: MakeBackend) -> None:
    wrong = make_backend(token="s.not-the-token")

    with pytest.raises(KeyUnavailable, match=f"vault key {KEY} is unavailable: permission denied") as caught:
        await wrong.wrap(os.urandom(32), CONTEXT)
    status = await wrong.health()

    assert "s.not-the-token" not in str(caught.value)
    assert status.healthy is False and status.error is not None and "permission denied" in status.error


@pytest.mark.asyncio
async def test_revoked_token_is_permission_denied(bao: OpenBao, transit: Transit, make_backend: MakeBackend) -> None:
    token = bao.create_token(strongroom_policy(transit.mount, KEY))
    backend = make_backend(token=token)
    wrapped = await backend.wrap(os.urandom(32), CONTEXT)

    bao.revoke_token(token)

    with pytest.raises(KeyUnavailable, match=f"vault key {KEY}:v1 is unavailable: permission denied"):
        await backend.unwrap(wrapped, CONTEXT)
    assert (await backend.health()).healthy is False


@pytest.mark.asyncio
async def test_health_checks_the_token_lookup(bao: OpenBao, transit: Transit, make_backend: MakeBackend) -> None:
    """Without the default policy a token cannot look itself up: health says so, although wrap works."""
    token = bao.create_token(strongroom_policy(transit.mount, KEY), default_policy=False)
    backend = make_backend(token=token)
    data_key = os.urandom(32)

    assert await backend.unwrap(await backend.wrap(data_key, CONTEXT), CONTEXT) == data_key
    status = await backend.health()

    assert status == BackendStatus(
        healthy=False,
        key_id=None,
        error=f"vault key {KEY} is unavailable: permission denied (HTTP 403): check VAULT_TOKEN and its policy",
    )


@pytest.mark.asyncio
async def test_missing_key_is_reported(make_backend: MakeBackend) -> None:
    backend = make_backend(key_name="never-created")

    with pytest.raises(KeyUnavailable, match="vault key never-created is unavailable: not found"):
        await backend.current_key_id()
    with pytest.raises(KeyUnavailable, match="vault key never-created:v1 is unavailable: key not found$"):
        await backend.unwrap(WrappedKey(b"vault:v1:" + base64.b64encode(os.urandom(44)), "never-created:v1"), CONTEXT)
    status = await backend.health()
    assert status.healthy is False and status.error is not None and "not found" in status.error


@pytest.mark.asyncio
async def test_missing_mount_is_reported(make_backend: MakeBackend) -> None:
    backend = make_backend(mount_point="no-such-mount")

    with pytest.raises(KeyUnavailable, match="not found \\(HTTP 404\\): check VAULT_MOUNT_POINT"):
        await backend.wrap(os.urandom(32), CONTEXT)


@pytest.mark.asyncio
async def test_no_error_message_contains_the_data_key(bao: OpenBao, backend: VaultTransitBackend) -> None:
    data_key = os.urandom(32)
    wrapped = await backend.wrap(data_key, CONTEXT)
    failures: list[KeyUnavailable] = []
    attempts: list[Callable[[], Awaitable[Any]]] = [
        lambda: backend.unwrap(wrapped, OTHER_SECRET),
        lambda: backend.unwrap(WrappedKey(wrapped.ciphertext[:-4] + b"AAA=", wrapped.key_id), CONTEXT),
        lambda: backend.unwrap(WrappedKey(wrapped.ciphertext, f"{KEY}:v7"), CONTEXT),
        lambda: backend.unwrap(WrappedKey(wrapped.ciphertext.replace(b"v1", b"v9", 1), f"{KEY}:v9"), CONTEXT),
    ]
    for attempt in attempts:
        with pytest.raises(KeyUnavailable) as caught:
            await attempt()
        failures.append(caught.value)
    with bao.sealed():
        for attempt in (lambda: backend.wrap(data_key, CONTEXT), lambda: backend.unwrap(wrapped, CONTEXT)):
            with pytest.raises(KeyUnavailable) as caught:
                await attempt()
            failures.append(caught.value)

    for failure in failures:
        assert_no_key_material(failure, data_key)
        assert wrapped.ciphertext.decode() not in str(failure)
        assert bao.root_token not in str(failure)
        assert str(failure).startswith("vault key ")


@pytest.mark.asyncio
async def test_closed_backend_refuses(make_backend: MakeBackend) -> None:
    backend = make_backend()
    await backend.aclose()

    with pytest.raises(KeyUnavailable, match="backend closed"):
        await backend.wrap(os.urandom(32), CONTEXT)


# -- injected faults (the double: a real server cannot fail on demand) --------------

DOUBLE_TOKEN = "s.strongroom-test-token"


@pytest.fixture(scope="module")
def served_double() -> Iterator[VaultDouble]:
    with running_vault_double(DOUBLE_TOKEN) as double:
        yield double


@pytest.fixture
def double(served_double: VaultDouble) -> Iterator[VaultDouble]:
    served_double.reset()
    client = hvac.Client(url=served_double.url, token=DOUBLE_TOKEN)
    client.secrets.transit.create_key(KEY)
    client.adapter.close()
    served_double.requests.clear()
    yield served_double


@pytest_asyncio.fixture
async def make_double_backend(double: VaultDouble) -> AsyncIterator[MakeBackend]:
    made: list[VaultTransitBackend] = []

    def make(**overrides: Any) -> VaultTransitBackend:
        arguments: dict[str, Any] = {"url": double.url, "token": DOUBLE_TOKEN, "key_name": KEY, **FAST, **overrides}
        backend = VaultTransitBackend(**arguments)
        made.append(backend)
        return backend

    yield make
    for backend in made:
        await backend.aclose()


@pytest.mark.asyncio
async def test_one_503_is_retried(double: VaultDouble, make_double_backend: MakeBackend) -> None:
    backend = make_double_backend()
    data_key = os.urandom(32)
    double.fail_next(1, 503)

    wrapped = await backend.wrap(data_key, CONTEXT)

    assert double.count(f"/encrypt/{KEY}") == 2
    assert await backend.unwrap(wrapped, CONTEXT) == data_key


@pytest.mark.asyncio
async def test_persistent_503_ends_in_key_unavailable_after_the_attempts(
    double: VaultDouble, make_double_backend: MakeBackend
) -> None:
    backend = make_double_backend()
    data_key = os.urandom(32)
    double.fail_next(10, 503)

    with pytest.raises(KeyUnavailable, match="sealed or down") as caught:
        await backend.wrap(data_key, CONTEXT)

    assert double.count(f"/encrypt/{KEY}") == backend.attempts == 3
    assert_no_key_material(caught.value, data_key)


@pytest.mark.asyncio
async def test_500_and_502_are_retried(double: VaultDouble, make_double_backend: MakeBackend) -> None:
    double.fail_next(1, 500)
    double.fail_next(1, 502)

    assert (await make_double_backend().wrap(os.urandom(32), CONTEXT)).key_id == f"{KEY}:v1"
    assert double.count(f"/encrypt/{KEY}") == 3


@pytest.mark.asyncio
async def test_client_errors_are_not_retried(double: VaultDouble, make_double_backend: MakeBackend) -> None:
    wrong_token = make_double_backend(token="not-the-token")

    with pytest.raises(KeyUnavailable, match="permission denied"):
        await wrong_token.wrap(os.urandom(32), CONTEXT)
    assert double.count(f"/encrypt/{KEY}") == 1

    double.fail_next(1, 400)
    with pytest.raises(KeyUnavailable, match="request rejected"):
        await make_double_backend().wrap(os.urandom(32), CONTEXT)
    assert double.count(f"/encrypt/{KEY}") == 2


class Recorder:
    """Sends requests to one server's transit mount and records (label, status, errors) of each answer."""

    def __init__(self, http: httpx.Client) -> None:
        self.http = http
        self.seen: list[tuple[str, int, Any]] = []

    def send(self, label: str, method: str, path: str, body: Any = None, **headers: str) -> Any:
        response = self.http.request(method, path, json=body, headers=headers)
        payload = response.json() if response.content else None
        self.seen.append((label, response.status_code, payload.get("errors") if isinstance(payload, dict) else None))
        return payload


def test_the_double_answers_like_openbao_where_the_backend_reads_the_answer(
    bao: OpenBao, transit: Transit, double: VaultDouble
) -> None:
    """The fault tests above trust the double; here it is held to the real server, request for request:
    the same status and the same error text (which the backend's messages are chosen from)."""
    double.mounts.add(transit.mount)
    targets = {"openbao": (bao.url, bao.root_token), "double": (double.url, DOUBLE_TOKEN)}
    aad, other = associated_data(CONTEXT), associated_data(OTHER_SECRET)
    answers: dict[str, list[tuple[str, int, Any]]] = {}
    for name, (url, token) in targets.items():
        with httpx.Client(base_url=f"{url}/v1/{transit.mount}", headers={"X-Vault-Token": token}) as http:
            server = Recorder(http)
            http.post(f"/keys/{KEY}", json={})  # the double's fixture created it on "transit" only
            plaintext = base64.b64encode(os.urandom(32)).decode()
            encrypted = server.send(
                "encrypt", "POST", f"/encrypt/{KEY}", {"plaintext": plaintext, "associated_data": aad}
            )
            ciphertext = encrypted["data"]["ciphertext"]
            assert ciphertext.startswith("vault:v1:"), name
            server.send(
                "wrong context", "POST", f"/decrypt/{KEY}", {"ciphertext": ciphertext, "associated_data": other}
            )
            server.send("no context", "POST", f"/decrypt/{KEY}", {"ciphertext": ciphertext})
            opened = server.send(
                "decrypt", "POST", f"/decrypt/{KEY}", {"ciphertext": ciphertext, "associated_data": aad}
            )
            assert opened["data"]["plaintext"] == plaintext, name
            server.send("bad base64", "POST", f"/decrypt/{KEY}", {"ciphertext": "vault:v1:not base64!"})
            server.send("missing key", "GET", "/keys/never-created")
            server.send("missing key decrypt", "POST", "/decrypt/never-created", {"ciphertext": ciphertext})
            server.send("wrong token", "POST", f"/encrypt/{KEY}", {"plaintext": plaintext}, **{"X-Vault-Token": "s.no"})
            http.post(f"/keys/{KEY}/rotate")
            read = server.send("read key", "GET", f"/keys/{KEY}")
            assert read["data"]["latest_version"] == 2 and read["data"]["type"] == "aes256-gcm96", name
            http.post(f"/keys/{KEY}/config", json={"min_decryption_version": 2})
            server.send("too old", "POST", f"/decrypt/{KEY}", {"ciphertext": ciphertext, "associated_data": aad})
            with bao.sealed() if name == "openbao" else sealed_double(double):
                server.send("sealed", "POST", f"/encrypt/{KEY}", {"plaintext": plaintext})
                health = http.get(f"{url}/v1/sys/health")
                server.seen.append(("sealed health", health.status_code, health.json()["sealed"]))
        answers[name] = server.seen

    assert answers["double"] == answers["openbao"]


@contextmanager
def sealed_double(double: VaultDouble) -> Iterator[None]:
    double.seal()
    try:
        yield
    finally:
        double.unseal()
