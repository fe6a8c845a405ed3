"""The client address cannot be forged with X-Forwarded-For / Forwarded:
neither in the audit trail nor in the failed-authentication throttle."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect

from models import SecretAudit
from tests.conftest import make_settings
from tests.harness import ADMIN_TOKEN, Server
from tests.process import clean_environ, start_healthy
from tests.security.conftest import TRANSPORT_WS, LiveClock, close_code, codes, running, ws_request

LIST = '{ secrets(workspaceId: "default") { totalCount } }'
BAD_TOKEN = "sr_wrong-token-for-the-throttle-000000000000"
SPOOF = {"x-forwarded-for": "203.0.113.9", "forwarded": "for=198.51.100.7;proto=https", "x-real-ip": "192.0.2.1"}


async def ip_of(server: Server, marker: str, headers: dict[str, str]) -> str | None:
    body = await server.execute(LIST, headers={"user-agent": marker, **headers})
    assert not body.get("errors"), body
    event = await SecretAudit.get(user_agent=marker)
    return event.ip_address


@pytest.mark.asyncio
async def test_forwarding_headers_are_ignored_without_trusted_proxies(server: Server, ws_url: str) -> None:
    assert await ip_of(server, "spoof-http", SPOOF) == "127.0.0.1"
    # The websocket believes the same address for the operations it runs.
    socket_ = await connect(ws_url, subprotocols=TRANSPORT_WS, additional_headers=SPOOF, user_agent_header="spoof-ws")
    try:
        await socket_.send(
            json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {ADMIN_TOKEN}"}})
        )
        assert json.loads(await socket_.recv())["type"] == "connection_ack"
        assert not (await ws_request(socket_, "1", LIST)).get("errors")
    finally:
        await socket_.close()
    event = await SecretAudit.get(user_agent="spoof-ws")
    assert event.ip_address == "127.0.0.1"


@pytest.mark.asyncio
async def test_rotating_forwarded_for_does_not_escape_the_throttle(server: Server, ws_url: str) -> None:
    value = 'query { secretValue(workspaceId: "default", id: "00000000-0000-0000-0000-000000000000") { value } }'
    for n in range(5):
        body = await server.execute(
            "{ viewer { id } }" if n % 2 else value,
            token=BAD_TOKEN,
            headers={"x-forwarded-for": f"198.51.100.{n}", "forwarded": f"for=192.0.2.{n}"},
        )
        assert codes(body) == ["UNAUTHENTICATED"], body
    for n in range(5, 10):  # failed connection_init counts too
        async with connect(
            ws_url, subprotocols=TRANSPORT_WS, additional_headers={"x-forwarded-for": f"198.51.100.{n}"}
        ) as socket_:
            await socket_.send(
                json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {BAD_TOKEN}"}})
            )
            assert (await close_code(socket_))[0] == 4403
    limited = await server.execute("{ viewer { id } }", token=BAD_TOKEN, headers={"x-forwarded-for": "198.51.100.250"})
    assert codes(limited) == ["RATE_LIMITED"], limited
    limited_fast = await server.execute(
        value, token=BAD_TOKEN, headers={"x-forwarded-for": "10.9.8.7", "forwarded": "for=10.9.8.7"}
    )
    assert codes(limited_fast) == ["RATE_LIMITED"], limited_fast


@pytest.mark.asyncio
async def test_behind_trusted_proxies_the_nearest_untrusted_hop_is_believed(
    database_url: str, tmp_path: Path, clock: LiveClock
) -> None:
    data_dir = tmp_path / "data"
    cases = [
        # (trusted, headers, believed)
        ("127.0.0.1", {"x-forwarded-for": "198.51.100.1, 10.1.2.3"}, "10.1.2.3"),
        ("127.0.0.1,10.0.0.0/8", {"x-forwarded-for": "198.51.100.1, 203.0.113.9, 10.1.2.3"}, "203.0.113.9"),
        # A client prepending hops cannot move the answer: the proxy appended the real one.
        ("127.0.0.1", {"x-forwarded-for": "1.2.3.4, 5.6.7.8, 203.0.113.20"}, "203.0.113.20"),
        ("127.0.0.1", {"forwarded": 'for=192.0.2.60;proto=http, for="[2001:db8::1]:4711"'}, "2001:db8::1"),
        # An unparsable hop stops the walk at the last trusted hop.
        ("127.0.0.1", {"x-forwarded-for": "203.0.113.5, garbage"}, "127.0.0.1"),
        ("10.0.0.0/8", {"x-forwarded-for": "203.0.113.9"}, "127.0.0.1"),  # the peer is not a trusted proxy
    ]
    for index, (trusted, headers, believed) in enumerate(cases):
        settings = make_settings(database_url, data_dir, STRONGROOM_TRUSTED_PROXIES=trusted)
        async with running(settings, clock) as server:
            assert await ip_of(server, f"proxied-{index}", headers) == believed, (trusted, headers)


@pytest.mark.asyncio
async def test_behind_a_trusted_proxy_the_throttle_counts_the_believed_client(
    database_url: str, tmp_path: Path, clock: LiveClock
) -> None:
    settings = make_settings(database_url, tmp_path / "data", STRONGROOM_TRUSTED_PROXIES="127.0.0.1")
    async with running(settings, clock) as server:
        for n in range(10):
            # The attacker rotates what it controls (the left part); the proxy appends its address.
            body = await server.execute(
                "{ viewer { id } }", token=BAD_TOKEN, headers={"x-forwarded-for": f"10.0.0.{n}, 203.0.113.66"}
            )
            assert codes(body) == ["UNAUTHENTICATED"], body
        limited = await server.execute(
            "{ viewer { id } }", token=BAD_TOKEN, headers={"x-forwarded-for": "10.0.0.99, 203.0.113.66"}
        )
        assert codes(limited) == ["RATE_LIMITED"], limited
        other = await server.execute("{ viewer { id } }", headers={"x-forwarded-for": "203.0.113.67"})
        assert not other.get("errors"), other  # another client behind the same proxy is not locked out


def test_a_real_server_does_not_believe_forwarded_for_from_loopback(tmp_path: Path, served: list) -> None:  # type: ignore[type-arg]
    env = clean_environ(
        STRONGROOM_DATA_DIR=str(tmp_path / "data"),
        STRONGROOM_BOOTSTRAP_TOKEN=ADMIN_TOKEN,
        SECRET_ENCRYPTION_KEY="Q2DprzUCeh7ok2yOr8i8y7Tt0QAPGt9zQiLlh8PDxv4=",
    )
    process = start_healthy(served, tmp_path, env, "serve.log")
    with httpx.Client(base_url=process.base_url, timeout=10) as client:
        auth = {"authorization": f"Bearer {ADMIN_TOKEN}"}
        response = client.post("/graphql", json={"query": LIST}, headers={**auth, **SPOOF, "user-agent": "real-spoof"})
        assert response.status_code == 200 and not response.json().get("errors"), response.text
        trail = client.post(
            "/graphql",
            json={
                "query": '{ workspaceAudit(workspaceId: "default", action: LISTED) { edges { node { ipAddress userAgent } } } }'
            },
            headers=auth,
        ).json()
        nodes = [e["node"] for e in trail["data"]["workspaceAudit"]["edges"] if e["node"]["userAgent"] == "real-spoof"]
        assert nodes == [{"ipAddress": "127.0.0.1", "userAgent": "real-spoof"}], trail
        for n in range(10):
            body = client.post(
                "/graphql",
                json={"query": "{ viewer { id } }"},
                headers={"authorization": f"Bearer {BAD_TOKEN}", "x-forwarded-for": f"198.51.100.{n}"},
            ).json()
            assert codes(body) == ["UNAUTHENTICATED"], body
        limited = client.post(
            "/graphql",
            json={"query": "{ viewer { id } }"},
            headers={"authorization": f"Bearer {BAD_TOKEN}", "x-forwarded-for": "198.51.100.200"},
        ).json()
        assert codes(limited) == ["RATE_LIMITED"], limited
    assert "Traceback" not in process.output()
