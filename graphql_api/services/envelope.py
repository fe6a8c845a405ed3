"""Envelope encryption of secret values, bound to their row.

Each version gets a fresh 256-bit data key (DEK). The value is sealed locally
with AES-256-GCM under that key with associated data
``workspace_id|secret_id|version``, so a ciphertext moved to another row,
workspace or version fails to open. The DEK is wrapped by an encryption
backend plugin, which binds it to {workspace_id, secret_id} where it can.
Plaintext and DEKs live only in local variables of these functions.
"""

from __future__ import annotations

import os
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from graphql_api.errors import BackendUnavailable, BadUserInput
from plugins.interfaces import EncryptionBackend, KeyUnavailable, WrappedKey

NONCE_SIZE = 12
DATA_KEY_SIZE = 32


@dataclass(frozen=True)
class SealedValue:
    ciphertext: bytes = field(repr=False)
    wrapped_key: bytes = field(repr=False)
    backend: str
    key_id: str


def associated_data(workspace_id: str, secret_id: UUID, version: int) -> bytes:
    return f"{workspace_id}|{secret_id}|{version}".encode()


def key_context(workspace_id: str, secret_id: UUID) -> dict[str, str]:
    return {"workspace_id": workspace_id, "secret_id": str(secret_id)}


class Backends:
    """The available encryption backends and the default one."""

    def __init__(self, backends: Mapping[str, EncryptionBackend], default: str) -> None:
        if default not in backends:
            raise KeyError(default)
        self._backends = dict(backends)
        self.default_name = default

    @property
    def names(self) -> list[str]:
        return sorted(self._backends)

    def items(self) -> list[tuple[str, EncryptionBackend]]:
        return sorted(self._backends.items())

    def for_write(self, name: str | None, field_name: str = "input.encryptionBackend") -> EncryptionBackend:
        chosen = name or self.default_name
        backend = self._backends.get(chosen)
        if backend is None:
            available = ", ".join(self.names)
            raise BadUserInput(
                field_name, f"unknown or unavailable encryption backend {chosen!r} (available: {available})"
            )
        return backend

    def is_local(self, name: str) -> bool:
        """Whether backend `name` declares its keys in this process (`local`)."""
        return bool(getattr(self._backends.get(name), "local", False))

    def for_read(self, name: str) -> EncryptionBackend:
        backend = self._backends.get(name)
        if backend is None:
            raise BackendUnavailable(f"encryption backend {name!r} is not configured on this server")
        return backend

    async def aclose(self) -> None:
        for backend in self._backends.values():
            await backend.aclose()


class DataKeyCache:
    """Unwrapped data keys, kept for a while to skip the backend on hot reads.

    Entries live at most `max_age` seconds and serve at most `max_uses`
    reads, and only for the backends named in `backends` (settings:
    STRONGROOM_DEK_CACHE, default "fernet"). Why Fernet by default and not
    KMS or Vault: the Fernet keyring is in this process's memory anyway, so a
    cached data key exposes nothing new, while for KMS and Vault the cache
    would keep keys the process otherwise never holds for long, and would
    hide reads from the provider's own log of every unwrap (and from a key
    disabled there) for up to `max_age`. The key of an entry is the wrapped
    key itself: a rewrapped or destroyed version can never hit a stale entry.
    """

    def __init__(self, backends: frozenset[str], max_age: float, max_uses: int, size: int = 10_000) -> None:
        self.backends = backends
        self._max_age = max_age
        self._max_uses = max_uses
        self._size = size
        # The cipher made from each key, not the key's bytes: making an AESGCM
        # (its key schedule) cost more than the decryption it then does.
        self._entries: OrderedDict[tuple[str, str, bytes], tuple[AESGCM, float, int]] = OrderedDict()
        self.hits = 0

    def __repr__(self) -> str:
        return f"<DataKeyCache backends={sorted(self.backends)} entries={len(self._entries)}>"

    def get(self, backend: str, key_id: str, wrapped: bytes) -> AESGCM | None:
        """The cipher of a cached data key, or None."""
        if backend not in self.backends:
            return None
        slot = (backend, key_id, wrapped)
        entry = self._entries.get(slot)
        if entry is None:
            return None
        cipher, expires, uses = entry
        if uses <= 0 or time.monotonic() >= expires:
            del self._entries[slot]
            return None
        self._entries[slot] = (cipher, expires, uses - 1)
        self.hits += 1
        return cipher

    def put(self, backend: str, key_id: str, wrapped: bytes, cipher: AESGCM) -> None:
        if backend not in self.backends or self._max_uses <= 0:
            return
        self._entries[(backend, key_id, wrapped)] = (cipher, time.monotonic() + self._max_age, self._max_uses - 1)
        if len(self._entries) > self._size:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        self._entries.clear()


class Envelope:
    def __init__(self, backends: Backends, cache: DataKeyCache | None = None) -> None:
        self.backends = backends
        self.cache = cache or DataKeyCache(frozenset(), 0, 0)
        # Told of each backend call: (backend, "wrap" or "unwrap", seconds) (graphql_api.metrics).
        self.observe: Callable[[str, str, float], None] | None = None

    async def seal(
        self,
        value: str,
        *,
        backend: EncryptionBackend,
        workspace_id: str,
        secret_id: UUID,
        version: int,
    ) -> SealedValue:
        data_key = AESGCM.generate_key(bit_length=DATA_KEY_SIZE * 8)
        nonce = os.urandom(NONCE_SIZE)
        ciphertext = nonce + AESGCM(data_key).encrypt(
            nonce, value.encode("utf-8"), associated_data(workspace_id, secret_id, version)
        )
        started = time.perf_counter()
        try:
            wrapped = await backend.wrap(data_key, key_context(workspace_id, secret_id))
        except Exception as exc:
            raise BackendUnavailable(
                f"encryption backend {backend.name!r} could not wrap a data key: {_describe(exc)}"
            ) from None
        finally:
            if self.observe is not None:
                self.observe(backend.name, "wrap", time.perf_counter() - started)
        return SealedValue(ciphertext, wrapped.ciphertext, backend.name, wrapped.key_id)

    async def open(
        self,
        *,
        ciphertext: bytes,
        wrapped_key: bytes,
        backend_name: str,
        key_id: str,
        workspace_id: str,
        secret_id: UUID,
        version: int,
    ) -> str:
        backend = self.backends.for_read(backend_name)
        wrapped = bytes(wrapped_key)
        cipher = self.cache.get(backend_name, key_id, wrapped)
        data_key = b""
        if cipher is None:
            started = time.perf_counter()
            try:
                data_key = await backend.unwrap(
                    WrappedKey(ciphertext=wrapped, key_id=key_id), key_context(workspace_id, secret_id)
                )
            except Exception as exc:
                raise BackendUnavailable(
                    f"encryption backend {backend_name!r} could not unwrap the data key of version "
                    f"{version} (key {key_id}): {_describe(exc)}"
                ) from None
            finally:
                if self.observe is not None:
                    self.observe(backend_name, "unwrap", time.perf_counter() - started)
        blob = bytes(ciphertext)
        try:
            if cipher is None:  # a key of the wrong size is refused here (ValueError)
                cipher = AESGCM(data_key)
                self.cache.put(backend_name, key_id, wrapped, cipher)
            plaintext = cipher.decrypt(
                blob[:NONCE_SIZE], blob[NONCE_SIZE:], associated_data(workspace_id, secret_id, version)
            )
        except (InvalidTag, ValueError):
            raise BackendUnavailable(
                f"version {version} of secret {secret_id} failed its integrity check "
                f"(backend {backend_name!r}, key {key_id}): the stored ciphertext does not belong to this row"
            ) from None
        return plaintext.decode("utf-8")


def _describe(exc: BaseException) -> str:
    # Our own KeyUnavailable messages are written to be safe to show; anything
    # else from a client library is reduced to its type, which cannot leak.
    if isinstance(exc, KeyUnavailable):
        return str(exc)
    return type(exc).__name__
