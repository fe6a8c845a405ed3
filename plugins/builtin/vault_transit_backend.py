"""The HashiCorp Vault Transit encryption backend (`vault`).

Configured and registered by plugins/builtin/vault_transit.py, which imports this
module only when the backend is configured.

How it works:

- `wrap` is transit encrypt of the base64 data key with `associated_data` =
  base64 of the canonical JSON of the context {workspace_id, secret_id}
  (AES-GCM additional data, supported by aes256-gcm96 keys): Vault refuses to
  decrypt it under another context, so a wrapped key copied to another secret
  does not open. The stored ciphertext is Vault's `vault:vN:...` string
  (ASCII bytes) and the key id is `<key name>:v<N>`, read from its prefix.
- `unwrap` sends that ciphertext to the key named in the key id (so data
  wrapped before VAULT_TRANSIT_KEY changed still opens).
- `rotate_key` asks Vault to rotate the key and returns the new version.
- `rewrap` trade-off: Vault's own rewrap endpoint takes no associated data,
  so it cannot open data bound to a context. Binding to the secret matters
  more than keeping the data key out of this process for a few
  microseconds, so `rewrap` decrypts and encrypts again: the data key lives
  briefly in a local variable, as it does on every read.
- The latest key version (`current_key_id`) is cached for `version_ttl`
  seconds, refreshed by `rotate_key` and by every encrypt answer.
- hvac is synchronous: calls run in a small bounded thread pool, each
  thread with its own hvac client (a requests session is not shared across
  threads). Vault down or sealed (503), 5xx, 429 and connection errors are
  retried by the shared policy (plugins/retries.py: jittered exponential
  backoff, 3 attempts and a 20 s total deadline by default; hvac does not
  expose Retry-After, so none is read); every other error is KeyUnavailable
  at once. Messages name the key id and a short reason,
  never key material, and never echo Vault's own error text.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import hvac
import requests
from hvac import exceptions as vault_errors

from plugins.interfaces import BackendStatus, KeyContext, KeyUnavailable, WrappedKey
from plugins.retries import RetriesExhausted, RetryPolicy, Transient

logger = logging.getLogger("strongroom.encryption")

NAME = "vault"
DEFAULT_VERSION_TTL = 30.0
HEALTH_CONTEXT = {"workspace_id": "-", "secret_id": "health"}
T = TypeVar("T")

#: Errors worth retrying: Vault sealed or restarting, overloaded, unreachable.
RETRYABLE_ERRORS: tuple[type[BaseException], ...] = (
    vault_errors.VaultDown,
    vault_errors.InternalServerError,
    vault_errors.BadGateway,
    vault_errors.RateLimitExceeded,
    requests.exceptions.ConnectionError,
    requests.exceptions.Timeout,
)


def associated_data(context: KeyContext) -> str:
    """Base64 of the canonical JSON of the context, as Vault expects it."""
    canonical = json.dumps(dict(context), sort_keys=True, separators=(",", ":"))
    return base64.b64encode(canonical.encode("utf-8")).decode("ascii")


def key_id_of(key_name: str, ciphertext: str) -> str:
    """`<key name>:v<N>` from a `vault:v<N>:...` ciphertext."""
    return f"{key_name}:v{ciphertext_version(ciphertext)}"


def ciphertext_version(ciphertext: str) -> int:
    prefix, version, rest = (ciphertext.split(":", 2) + ["", ""])[:3]
    if prefix != "vault" or not version.startswith("v") or not version[1:].isdigit() or not rest:
        raise ValueError("not a Vault ciphertext")
    return int(version[1:])


def parse_key_id(key_id: str) -> tuple[str, int]:
    """(key name, version) from `<key name>:v<N>`."""
    name, separator, version = key_id.rpartition(":v")
    if not separator or not name or not version.isdigit():
        raise ValueError("not a Vault key id")
    return name, int(version)


class VaultTransitBackend:
    """RotatableBackend over one Vault Transit key."""

    name = NAME

    def __init__(
        self,
        url: str,
        token: str,
        key_name: str,
        mount_point: str = "transit",
        namespace: str | None = None,
        *,
        timeout: float = 10.0,
        attempts: int | None = None,
        backoff_base: float | None = None,
        backoff_cap: float | None = None,
        retry: RetryPolicy | None = None,
        max_workers: int = 8,
        version_ttl: float = DEFAULT_VERSION_TTL,
    ) -> None:
        # `retry` is the whole policy; attempts and backoff_* override its fields.
        self.retry = (retry or RetryPolicy()).updated(
            attempts=attempts, wait_initial=backoff_base, wait_max=backoff_cap
        )
        self.url = url
        self.key_name = key_name
        self.mount_point = mount_point
        self.namespace = namespace
        self.timeout = timeout
        self.version_ttl = version_ttl
        self._token = token
        self._executor = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="vault")
        self._local = threading.local()
        self._clients: list[hvac.Client] = []
        self._clients_lock = threading.Lock()
        self._latest: int | None = None
        self._latest_expires = 0.0

    def __repr__(self) -> str:
        return f"<VaultTransitBackend key={self.key_name} mount={self.mount_point} url={self.url}>"

    @property
    def attempts(self) -> int:
        return self.retry.attempts

    # -- EncryptionBackend -------------------------------------------------

    async def wrap(self, data_key: bytes, context: KeyContext) -> WrappedKey:
        plaintext = base64.b64encode(data_key).decode("ascii")
        aad = associated_data(context)
        response = await self._call(
            self.key_name,
            lambda client: client.secrets.transit.encrypt_data(
                name=self.key_name, plaintext=plaintext, associated_data=aad, mount_point=self.mount_point
            ),
        )
        ciphertext = _data(response, self.key_name).get("ciphertext")
        try:
            version = ciphertext_version(str(ciphertext))
        except ValueError:
            raise KeyUnavailable(f"vault key {self.key_name} answered without a Vault ciphertext") from None
        self._saw_version(version)
        return WrappedKey(ciphertext=str(ciphertext).encode("ascii"), key_id=f"{self.key_name}:v{version}")

    async def unwrap(self, wrapped: WrappedKey, context: KeyContext) -> bytes:
        try:
            key_name, version = parse_key_id(wrapped.key_id)
            ciphertext = bytes(wrapped.ciphertext).decode("ascii")
            stored_version = ciphertext_version(ciphertext)
        except (ValueError, UnicodeDecodeError):
            raise KeyUnavailable(f"vault key {wrapped.key_id}: the stored data key is not a Vault ciphertext") from None
        if stored_version != version:
            raise KeyUnavailable(
                f"vault key {wrapped.key_id}: the stored data key was wrapped by version {stored_version}"
            )
        aad = associated_data(context)
        response = await self._call(
            wrapped.key_id,
            lambda client: client.secrets.transit.decrypt_data(
                name=key_name, ciphertext=ciphertext, associated_data=aad, mount_point=self.mount_point
            ),
        )
        try:
            return base64.b64decode(str(_data(response, wrapped.key_id)["plaintext"]), validate=True)
        except (KeyError, binascii.Error):
            raise KeyUnavailable(f"vault key {wrapped.key_id} answered without a plaintext") from None

    async def current_key_id(self) -> str:
        if self._latest is None or time.monotonic() >= self._latest_expires:
            await self._read_latest()
        return f"{self.key_name}:v{self._latest}"

    async def health(self) -> BackendStatus:
        key_id: str | None = None
        try:
            status = await self._call(
                self.key_name,
                lambda client: client.sys.read_health_status(method="GET", standby_ok=True),
                namespaced=False,
            )
            if not isinstance(status, dict):
                code = getattr(status, "status_code", 0)
                return BackendStatus(healthy=False, key_id=None, error=f"vault is {_health_problem(code)}")
            if not status.get("initialized", False) or status.get("sealed", True):
                return BackendStatus(healthy=False, key_id=None, error="vault is sealed or not initialized")
            await self._call(self.key_name, lambda client: client.auth.token.lookup_self())
            key_id = await self.current_key_id()
            probe = os.urandom(32)
            ok = await self.unwrap(await self.wrap(probe, HEALTH_CONTEXT), HEALTH_CONTEXT) == probe
        except KeyUnavailable as exc:  # our messages are safe to show
            return BackendStatus(healthy=False, key_id=key_id, error=str(exc))
        except Exception as exc:  # health reports, never raises
            return BackendStatus(healthy=False, key_id=key_id, error=type(exc).__name__)
        return BackendStatus(healthy=ok, key_id=key_id, error=None if ok else "round trip failed")

    async def aclose(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
        with self._clients_lock:
            clients, self._clients = self._clients, []
        for client in clients:
            client.adapter.close()

    # -- RotatableBackend --------------------------------------------------

    async def rotate_key(self) -> str:
        await self._call(
            self.key_name,
            lambda client: client.secrets.transit.rotate_key(name=self.key_name, mount_point=self.mount_point),
        )
        await self._read_latest()
        return f"{self.key_name}:v{self._latest}"

    async def rewrap(self, wrapped: WrappedKey, context: KeyContext) -> WrappedKey:
        """Decrypt and encrypt again (see the module docstring: Vault's rewrap ignores associated data)."""
        name, _, _ = wrapped.key_id.rpartition(":v")
        if name == self.key_name and wrapped.key_id == await self.current_key_id():
            return wrapped
        return await self.wrap(await self.unwrap(wrapped, context), context)

    async def generate_key_material(self) -> str | None:
        return None

    # -- internals ---------------------------------------------------------

    async def _read_latest(self) -> None:
        response = await self._call(
            self.key_name,
            lambda client: client.secrets.transit.read_key(name=self.key_name, mount_point=self.mount_point),
        )
        latest = _data(response, self.key_name).get("latest_version")
        if not isinstance(latest, int) or latest < 1:
            raise KeyUnavailable(f"vault key {self.key_name} has no usable version")
        self._latest = latest
        self._latest_expires = time.monotonic() + self.version_ttl

    def _saw_version(self, version: int) -> None:
        if self._latest is None or version > self._latest:
            self._latest = version
            self._latest_expires = time.monotonic() + self.version_ttl

    def _client(self, namespaced: bool) -> hvac.Client:
        """This worker thread's client (sys/health goes to the root namespace)."""
        attribute = "namespaced" if namespaced else "root"
        client: hvac.Client | None = getattr(self._local, attribute, None)
        if client is None:
            client = hvac.Client(
                url=self.url,
                token=self._token,
                namespace=self.namespace if namespaced else None,
                timeout=self.timeout,
            )
            setattr(self._local, attribute, client)
            with self._clients_lock:
                self._clients.append(client)
        return client

    async def _call(self, key_id: str, operation: Callable[[hvac.Client], T], *, namespaced: bool = True) -> T:
        """One Vault request off the event loop, retried when transient."""

        def run() -> T:
            return operation(self._client(namespaced))

        loop = asyncio.get_running_loop()
        try:
            return await self.retry.call(
                lambda: loop.run_in_executor(self._executor, run), _transient, label=f"vault key {key_id}", log=logger
            )
        except RetriesExhausted as exc:
            raise KeyUnavailable(f"vault key {key_id} is unavailable: {exc.reason}") from None
        except (vault_errors.VaultError, requests.exceptions.RequestException) as exc:
            raise KeyUnavailable(f"vault key {key_id} is unavailable: {_reason(exc)}") from None
        except RuntimeError:  # the executor is shut down
            raise KeyUnavailable(f"vault key {key_id} is unavailable: backend closed") from None


def _transient(exc: Exception) -> Transient | None:
    """The retry policy's classifier: RETRYABLE_ERRORS, named by `_reason` (never Vault's text)."""
    return Transient(_reason(exc)) if isinstance(exc, RETRYABLE_ERRORS) else None


def _data(response: Any, key_id: str) -> dict[str, Any]:
    data = response.get("data") if isinstance(response, dict) else None
    if not isinstance(data, dict):
        raise KeyUnavailable(f"vault key {key_id} answered without data")
    return data


def _reason(exc: BaseException) -> str:
    """A short, safe description: never Vault's text, which may echo input."""
    if isinstance(exc, vault_errors.InvalidRequest):
        text = ", ".join(str(e) for e in (exc.errors or ()))
        if "authentication failed" in text:
            return "cannot decrypt this data key (wrong key, wrong context or altered data)"
        if "disallowed by policy" in text or "too old" in text:
            return "key version is below min_decryption_version"
        if "not found" in text:
            return "key not found"
        if "invalid ciphertext" in text:
            return "invalid ciphertext"
        return "request rejected (HTTP 400)"
    reasons: dict[type[BaseException], str] = {
        vault_errors.Unauthorized: "token rejected (HTTP 401)",
        vault_errors.Forbidden: "permission denied (HTTP 403): check VAULT_TOKEN and its policy",
        vault_errors.InvalidPath: "not found (HTTP 404): check VAULT_MOUNT_POINT and VAULT_TRANSIT_KEY",
        vault_errors.RateLimitExceeded: "rate limited (HTTP 429)",
        vault_errors.InternalServerError: "internal server error (HTTP 500)",
        vault_errors.VaultNotInitialized: "not initialized (HTTP 501)",
        vault_errors.BadGateway: "bad gateway (HTTP 502)",
        vault_errors.VaultDown: "sealed or down (HTTP 503)",
        requests.exceptions.Timeout: "timed out",
        requests.exceptions.ConnectionError: "unreachable (connection error)",
    }
    for kind, reason in reasons.items():
        if isinstance(exc, kind):
            return reason
    return f"unexpected error ({type(exc).__name__})"


def _health_problem(status_code: int) -> str:
    return {
        429: "a standby node",
        472: "a disaster-recovery secondary",
        473: "a performance standby",
        501: "not initialized",
        503: "sealed",
    }.get(status_code, f"unhealthy (HTTP {status_code})")
