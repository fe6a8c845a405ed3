"""The Vault test double against Vault's documented HTTP API.

hvac, the real client, is used wherever it can be (so hvac accepting the
shapes is checked too); raw httpx checks status codes and error bodies.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from typing import Any

import httpx
import hvac
import pytest
from hvac import exceptions as vault_errors

from tests.fakes.vault_transit import VaultDouble, running_vault_double

TOKEN = "s.double-test-token"
ENVELOPE_KEYS = {"request_id", "lease_id", "renewable", "lease_duration", "data", "wrap_info", "warnings", "auth"}
CIPHERTEXT = re.compile(r"^vault:v(\d+):([A-Za-z0-9+/]+={0,2})$")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


@pytest.fixture(scope="module")
def served_vault() -> Iterator[VaultDouble]:
    with running_vault_double(TOKEN) as double:
        yield double


@pytest.fixture
def vault(served_vault: VaultDouble) -> VaultDouble:
    served_vault.reset()
    return served_vault


@pytest.fixture
def client(vault: VaultDouble) -> Iterator[Any]:
    client = hvac.Client(url=vault.url, token=TOKEN)
    yield client
    client.adapter.close()


@pytest.fixture
def http(vault: VaultDouble) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=vault.url, headers={"X-Vault-Token": TOKEN}) as http:
        yield http


def assert_envelope(body: dict[str, Any]) -> dict[str, Any]:
    assert set(body) == ENVELOPE_KEYS
    assert body["lease_id"] == "" and body["renewable"] is False and body["lease_duration"] == 0
    assert body["wrap_info"] is None and body["warnings"] is None and body["auth"] is None
    assert isinstance(body["request_id"], str) and body["request_id"]
    data: dict[str, Any] = body["data"]
    return data


def assert_error(response: httpx.Response, status: int, message: str | None) -> None:
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"errors": [message] if message is not None else []}


# -- keys ------------------------------------------------------------------


def test_create_key_answers_204_and_read_key_describes_it(client: Any, http: httpx.Client) -> None:
    created = client.secrets.transit.create_key("app")
    assert created.status_code == 204 and created.content == b""

    data = assert_envelope(client.secrets.transit.read_key("app"))

    assert data["type"] == "aes256-gcm96"
    assert data["name"] == "app"
    assert data["latest_version"] == 1
    assert data["min_decryption_version"] == 1
    assert data["min_encryption_version"] == 0
    assert data["supports_encryption"] is data["supports_decryption"] is True
    assert list(data["keys"]) == ["1"] and isinstance(data["keys"]["1"], int)
    # Creating an existing key again changes nothing.
    assert http.post("/v1/transit/keys/app", json={}).status_code == 204
    assert client.secrets.transit.read_key("app")["data"]["keys"] == data["keys"]


def test_create_key_of_an_unimplemented_type_is_refused(http: httpx.Client) -> None:
    response = http.post("/v1/transit/keys/signer", json={"type": "ed25519"})

    assert response.status_code == 400
    assert "not implemented" in response.json()["errors"][0]


def test_read_missing_key_is_404_with_empty_errors(client: Any, http: httpx.Client) -> None:
    assert_error(http.get("/v1/transit/keys/missing"), 404, None)
    with pytest.raises(vault_errors.InvalidPath):
        client.secrets.transit.read_key("missing")


def test_rotate_adds_a_version_and_new_encryptions_use_it(client: Any, http: httpx.Client) -> None:
    client.secrets.transit.create_key("app")
    old = client.secrets.transit.encrypt_data("app", plaintext=b64(b"before"))["data"]["ciphertext"]

    rotated = client.secrets.transit.rotate_key("app")

    assert rotated.status_code == 204
    data = client.secrets.transit.read_key("app")["data"]
    assert data["latest_version"] == 2 and sorted(data["keys"]) == ["1", "2"]
    new = client.secrets.transit.encrypt_data("app", plaintext=b64(b"after"))["data"]
    assert new["ciphertext"].startswith("vault:v2:") and new["key_version"] == 2
    assert client.secrets.transit.decrypt_data("app", ciphertext=old)["data"]["plaintext"] == b64(b"before")
    assert_error(http.post("/v1/transit/keys/missing/rotate"), 400, "key not found")


def test_config_min_decryption_version_refuses_older_ciphertexts(client: Any, http: httpx.Client) -> None:
    client.secrets.transit.create_key("app")
    old = client.secrets.transit.encrypt_data("app", plaintext=b64(b"v1"))["data"]["ciphertext"]
    client.secrets.transit.rotate_key("app")

    configured = client.secrets.transit.update_key_configuration("app", min_decryption_version=2)

    assert configured.status_code == 204
    assert client.secrets.transit.read_key("app")["data"]["min_decryption_version"] == 2
    assert_error(
        http.post("/v1/transit/decrypt/app", json={"ciphertext": old}),
        400,
        "ciphertext or signature version is disallowed by policy (too old)",
    )
    assert_error(
        http.post("/v1/transit/keys/app/config", json={"min_decryption_version": 5}),
        400,
        "cannot set min decryption version of 5, latest key version is 2",
    )
    assert_error(
        http.post("/v1/transit/keys/missing/config", json={"min_decryption_version": 1}),
        400,
        "no existing key named missing could be found",
    )


# -- encrypt / decrypt / rewrap -------------------------------------------


def test_encrypt_returns_a_versioned_aes_gcm_ciphertext(client: Any) -> None:
    client.secrets.transit.create_key("app")
    plaintext = b"a 32-byte data key, more or less"

    body = client.secrets.transit.encrypt_data("app", plaintext=b64(plaintext))
    data = assert_envelope(body)

    assert set(data) == {"ciphertext", "key_version"}
    match = CIPHERTEXT.match(data["ciphertext"])
    assert match is not None and match.group(1) == "1" and data["key_version"] == 1
    blob = base64.b64decode(match.group(2))
    assert len(blob) == 12 + len(plaintext) + 16  # nonce || ciphertext || tag
    assert plaintext not in blob
    again = client.secrets.transit.encrypt_data("app", plaintext=b64(plaintext))["data"]["ciphertext"]
    assert again != data["ciphertext"]  # a fresh nonce every time


def test_encrypt_upserts_a_missing_key_like_vault(client: Any) -> None:
    data = client.secrets.transit.encrypt_data("fresh", plaintext=b64(b"x"))["data"]

    assert data["ciphertext"].startswith("vault:v1:")
    assert client.secrets.transit.read_key("fresh")["data"]["type"] == "aes256-gcm96"


def test_encrypt_rejects_bad_base64(http: httpx.Client) -> None:
    assert_error(
        http.post("/v1/transit/encrypt/app", json={"plaintext": "not base64!"}),
        400,
        "failed to base64-decode plaintext",
    )


def test_decrypt_round_trip_with_associated_data(client: Any, http: httpx.Client) -> None:
    client.secrets.transit.create_key("app")
    aad, other = b64(b'{"secret_id":"1"}'), b64(b'{"secret_id":"2"}')
    ciphertext = client.secrets.transit.encrypt_data("app", plaintext=b64(b"dek"), associated_data=aad)["data"][
        "ciphertext"
    ]

    data = assert_envelope(client.secrets.transit.decrypt_data("app", ciphertext=ciphertext, associated_data=aad))

    assert data == {"plaintext": b64(b"dek")}
    assert_error(
        http.post("/v1/transit/decrypt/app", json={"ciphertext": ciphertext, "associated_data": other}),
        400,
        "cipher: message authentication failed",
    )
    assert_error(
        http.post("/v1/transit/decrypt/app", json={"ciphertext": ciphertext}),
        400,
        "cipher: message authentication failed",
    )
    with pytest.raises(vault_errors.InvalidRequest, match="message authentication failed"):
        client.secrets.transit.decrypt_data("app", ciphertext=ciphertext, associated_data=other)


def test_decrypt_errors_follow_vault(client: Any, http: httpx.Client) -> None:
    client.secrets.transit.create_key("app")

    def decrypt(ciphertext: str, key: str = "app") -> httpx.Response:
        return http.post(f"/v1/transit/decrypt/{key}", json={"ciphertext": ciphertext})

    assert_error(decrypt("vault:v1:AAAA", key="missing"), 400, "encryption key not found")
    assert_error(decrypt("garbage"), 400, "invalid ciphertext: no prefix")
    assert_error(decrypt("vault:v1"), 400, "invalid ciphertext: wrong number of fields")
    assert_error(decrypt("vault:vX:AAAA"), 400, "invalid ciphertext: version number could not be decoded")
    assert_error(decrypt("vault:v9:AAAA"), 400, "invalid ciphertext: version is too new")
    assert_error(decrypt("vault:v1:!!!"), 400, "invalid ciphertext: could not decode base64")
    assert_error(decrypt("vault:v1:" + b64(b"short")), 400, "invalid ciphertext length")
    assert_error(http.post("/v1/transit/decrypt/app", json={}), 400, "missing ciphertext to decrypt")


def test_rewrap_moves_to_the_latest_version_without_plaintext(client: Any) -> None:
    client.secrets.transit.create_key("app")
    old = client.secrets.transit.encrypt_data("app", plaintext=b64(b"dek"))["data"]["ciphertext"]
    client.secrets.transit.rotate_key("app")

    data = assert_envelope(client.secrets.transit.rewrap_data("app", ciphertext=old))

    assert set(data) == {"ciphertext", "key_version"}
    assert data["ciphertext"].startswith("vault:v2:") and data["key_version"] == 2
    assert client.secrets.transit.decrypt_data("app", ciphertext=data["ciphertext"])["data"]["plaintext"] == b64(b"dek")


def test_rewrap_takes_no_associated_data_so_bound_ciphertexts_fail(client: Any, http: httpx.Client) -> None:
    client.secrets.transit.create_key("app")
    aad = b64(b"context")
    bound = client.secrets.transit.encrypt_data("app", plaintext=b64(b"dek"), associated_data=aad)["data"]["ciphertext"]
    client.secrets.transit.rotate_key("app")

    response = http.post("/v1/transit/rewrap/app", json={"ciphertext": bound, "associated_data": aad})

    assert_error(response, 400, "cipher: message authentication failed")


def test_batch_encrypt_and_decrypt(client: Any, http: httpx.Client) -> None:
    client.secrets.transit.create_key("app")
    batch = [{"plaintext": b64(b"one"), "reference": "r1"}, {"plaintext": b64(b"two"), "reference": "r2"}]

    encrypted = assert_envelope(client.secrets.transit.encrypt_data("app", batch_input=batch))["batch_results"]

    assert [r["reference"] for r in encrypted] == ["r1", "r2"]
    assert all(r["ciphertext"].startswith("vault:v1:") and r["key_version"] == 1 for r in encrypted)
    mixed = [{"ciphertext": encrypted[0]["ciphertext"]}, {"ciphertext": "garbage"}]
    decrypted = client.secrets.transit.decrypt_data("app", batch_input=mixed)["data"]["batch_results"]
    assert decrypted == [
        {"plaintext": b64(b"one"), "reference": ""},
        {"error": "invalid ciphertext: no prefix", "reference": ""},
    ]
    all_failed = http.post("/v1/transit/decrypt/app", json={"batch_input": [{"ciphertext": "garbage"}]})
    assert all_failed.status_code == 400
    assert assert_envelope(all_failed.json())["batch_results"][0]["error"] == "invalid ciphertext: no prefix"
    assert_error(http.post("/v1/transit/encrypt/app", json={"batch_input": []}), 400, "missing batch input to process")


# -- system and auth paths -------------------------------------------------


def test_sys_health_is_bare_json_and_503_when_sealed(vault: VaultDouble, client: Any) -> None:
    health = client.sys.read_health_status(method="GET")

    assert health["initialized"] is True and health["sealed"] is False and health["standby"] is False
    assert health["version"] == "1.15.0-double"
    assert "data" not in health  # sys/health is not wrapped in the envelope

    vault.seal()
    sealed = client.sys.read_health_status(method="GET")
    assert sealed.status_code == 503 and sealed.json()["sealed"] is True
    assert client.sys.read_health_status(method="GET", sealed_code=200)["sealed"] is True
    assert client.sys.read_health_status(method="HEAD").status_code == 503


def test_sys_health_and_seal_status_need_no_token(vault: VaultDouble) -> None:
    with httpx.Client(base_url=vault.url) as anonymous:
        assert anonymous.get("/v1/sys/health").status_code == 200
        status = anonymous.get("/v1/sys/seal-status").json()
    assert status["sealed"] is False and status["initialized"] is True and status["type"] == "shamir"


def test_seal_status_through_hvac(vault: VaultDouble, client: Any) -> None:
    assert client.sys.is_sealed() is False
    vault.seal()
    assert client.sys.is_sealed() is True


def test_lookup_self_describes_the_token(client: Any) -> None:
    data = assert_envelope(client.auth.token.lookup_self())

    assert data["id"] == TOKEN
    assert data["policies"] == ["root"]
    assert data["type"] == "service"
    assert client.is_authenticated() is True


def test_a_token_is_required(vault: VaultDouble, http: httpx.Client) -> None:
    with httpx.Client(base_url=vault.url) as anonymous:
        assert_error(anonymous.get("/v1/auth/token/lookup-self"), 403, "permission denied")
        assert_error(
            anonymous.post(
                "/v1/transit/encrypt/app", json={"plaintext": b64(b"x")}, headers={"X-Vault-Token": "wrong"}
            ),
            403,
            "permission denied",
        )
    wrong = hvac.Client(url=vault.url, token="wrong")
    try:
        with pytest.raises(vault_errors.Forbidden):
            wrong.secrets.transit.encrypt_data("app", plaintext=b64(b"x"))
        assert wrong.is_authenticated() is False
    finally:
        wrong.adapter.close()


def test_sealed_vault_answers_503_everywhere(vault: VaultDouble, client: Any, http: httpx.Client) -> None:
    vault.seal()

    assert_error(http.post("/v1/transit/encrypt/app", json={"plaintext": b64(b"x")}), 503, "Vault is sealed")
    with pytest.raises(vault_errors.VaultDown):
        client.auth.token.lookup_self()
    vault.unseal()
    assert client.auth.token.lookup_self()["data"]["id"] == TOKEN


def test_namespaces_scope_keys(vault: VaultDouble) -> None:
    team_a = hvac.Client(url=vault.url, token=TOKEN, namespace="team-a")
    team_b = hvac.Client(url=vault.url, token=TOKEN, namespace="team-b")
    try:
        team_a.secrets.transit.create_key("app")
        ciphertext = team_a.secrets.transit.encrypt_data("app", plaintext=b64(b"x"))["data"]["ciphertext"]

        with pytest.raises(vault_errors.InvalidRequest, match="encryption key not found"):
            team_b.secrets.transit.decrypt_data("app", ciphertext=ciphertext)
        assert vault.key("app", namespace="team-a") is not None
        assert vault.key("app") is None and vault.key("app", namespace="team-b") is None
        assert vault.requests[-1].namespace == "team-b"
    finally:
        team_a.adapter.close()
        team_b.adapter.close()


def test_unknown_mount_and_path_and_method(vault: VaultDouble, http: httpx.Client) -> None:
    assert_error(
        http.post("/v1/nowhere/encrypt/app", json={}),
        404,
        'no handler for route "nowhere/encrypt/app". route entry not found.',
    )
    assert_error(http.post("/v1/transit/hmac/app", json={}), 404, "unsupported path")
    assert_error(http.get("/v1/transit/encrypt/app"), 405, "unsupported operation")
    assert_error(http.get("/not-api"), 404, None)
    vault.mounts.add("other-transit")
    assert http.post("/v1/other-transit/keys/app", json={}).status_code == 204


def test_put_is_post_and_bad_json_is_400(http: httpx.Client) -> None:
    assert http.put("/v1/transit/keys/app", json={}).status_code == 204
    response = http.post("/v1/transit/encrypt/app", content=b"{not json", headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json()["errors"][0].startswith("failed to parse JSON input")


def test_fail_next_injects_failures_then_recovers(vault: VaultDouble, client: Any) -> None:
    vault.fail_next(2, 503)

    with pytest.raises(vault_errors.VaultDown):
        client.auth.token.lookup_self()
    with pytest.raises(vault_errors.VaultDown):
        client.auth.token.lookup_self()
    assert client.auth.token.lookup_self()["data"]["id"] == TOKEN
    assert vault.count("auth/token/lookup-self") == 3

    vault.fail_next(1, 500)
    with pytest.raises(vault_errors.InternalServerError):
        client.secrets.transit.encrypt_data("app", plaintext=b64(b"x"))
