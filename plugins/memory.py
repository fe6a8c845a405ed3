"""In-memory EncryptionBackend: the test double of the interface.

It wraps with AES-GCM under keys held in a dict, binds the context as
associated data, and can be told to fail, so tests exercise every path of the
envelope without a real key service. Not registered in production.
"""

from __future__ import annotations

import json
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from plugins.interfaces import BackendStatus, KeyContext, KeyUnavailable, WrappedKey


class InMemoryBackend:
    def __init__(self, name: str = "memory") -> None:
        self.name = name
        self._keys: dict[str, bytes] = {}
        self._current = ""
        self.available = True
        self.wrap_calls = 0
        self.unwrap_calls = 0
        self._rotate()

    def __repr__(self) -> str:
        return f"<InMemoryBackend {self.name} current={self._current}>"

    def _rotate(self) -> str:
        self._current = f"{self.name}-key-{len(self._keys) + 1}"
        self._keys[self._current] = AESGCM.generate_key(bit_length=256)
        return self._current

    def _check(self) -> None:
        if not self.available:
            raise KeyUnavailable(f"{self.name} backend is unavailable")

    async def wrap(self, data_key: bytes, context: KeyContext) -> WrappedKey:
        self._check()
        self.wrap_calls += 1
        nonce = os.urandom(12)
        sealed = AESGCM(self._keys[self._current]).encrypt(nonce, data_key, _aad(context))
        return WrappedKey(ciphertext=nonce + sealed, key_id=self._current)

    async def unwrap(self, wrapped: WrappedKey, context: KeyContext) -> bytes:
        self._check()
        self.unwrap_calls += 1
        key = self._keys.get(wrapped.key_id)
        if key is None:
            raise KeyUnavailable(f"{self.name} key {wrapped.key_id} is unknown")
        try:
            return AESGCM(key).decrypt(wrapped.ciphertext[:12], wrapped.ciphertext[12:], _aad(context))
        except InvalidTag:
            raise KeyUnavailable(f"{self.name} key {wrapped.key_id} cannot unwrap this data key") from None

    async def current_key_id(self) -> str:
        self._check()
        return self._current

    async def health(self) -> BackendStatus:
        if not self.available:
            return BackendStatus(healthy=False, key_id=self._current, error="unavailable")
        return BackendStatus(healthy=True, key_id=self._current)

    async def aclose(self) -> None:
        return None

    async def rotate_key(self) -> str:
        self._check()
        return self._rotate()

    async def rewrap(self, wrapped: WrappedKey, context: KeyContext) -> WrappedKey:
        if wrapped.key_id == self._current:
            return wrapped
        return await self.wrap(await self.unwrap(wrapped, context), context)

    async def generate_key_material(self) -> str | None:
        return None


def _aad(context: KeyContext) -> bytes:
    return json.dumps(dict(context), sort_keys=True).encode()
