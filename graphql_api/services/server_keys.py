"""The server key and the keys derived from it.

One 256-bit server key is generated on first start and stored only wrapped by
the default encryption backend (`server_key` table, bound to the context
{"workspace_id": "-", "secret_id": "server-key"}), exactly like a secret's
data key. From it, with HKDF-SHA256 and one label each, come:

- the audit chain key: ``hash = HMAC(chain key, prev_hash || event)``, and
  the MACs that authenticate each chain head and retention purge point;
- the Ed25519 key that signs audit checkpoints (its public key is published);
- the digest key: keyed digests of values, so two values can be compared
  (`secretDigests`, `strongroom diff`) without either being shipped.

Why derived, not stored separately: one wrapped blob to back up, rewrap and
migrate between backends, and none of the derived keys is ever on disk.
Someone with the database alone (a DBA, a stolen backup, an injected
statement) has only the wrapped blob, which the backend will not open for
them, so they can neither re-hash the trail, fake a purge, sign a checkpoint
nor test a guessed value against a digest.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from graphql_api.errors import BackendUnavailable
from graphql_api.services.envelope import Backends
from models import ServerKey
from plugins.interfaces import EncryptionBackend, WrappedKey

logger = logging.getLogger("strongroom.encryption")

SERVER_KEY_ID = "server"
SERVER_KEY_CONTEXT = {"workspace_id": "-", "secret_id": "server-key"}
_LABEL_CHAIN = b"strongroom audit chain v1"
_LABEL_SIGNING = b"strongroom audit checkpoint signing v1"
_LABEL_DIGEST = b"strongroom value digest v1"


def _derive(master: bytes, label: bytes) -> bytes:
    return HKDF(algorithm=SHA256(), length=32, salt=None, info=label).derive(master)


@dataclass(frozen=True)
class DerivedKeys:
    """The keys the server works with; never printed, never stored."""

    chain_key: bytes = field(repr=False)
    digest_key: bytes = field(repr=False)
    signing_key: Ed25519PrivateKey = field(repr=False)
    # HMAC under the chain key with its pads computed once: every event
    # appended or verified is one chain hash, and keying an HMAC for each
    # was a third of it.
    _chain_mac: hmac.HMAC = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_chain_mac", hmac.new(self.chain_key, digestmod=hashlib.sha256))

    @classmethod
    def from_master(cls, master: bytes) -> DerivedKeys:
        return cls(
            chain_key=_derive(master, _LABEL_CHAIN),
            digest_key=_derive(master, _LABEL_DIGEST),
            signing_key=Ed25519PrivateKey.from_private_bytes(_derive(master, _LABEL_SIGNING)),
        )

    def mac(self, *parts: bytes) -> str:
        """HMAC-SHA256 under the chain key over length-prefixed parts (hex)."""
        mac = hmac.new(self.chain_key, digestmod=hashlib.sha256)
        for part in parts:
            mac.update(len(part).to_bytes(4, "big"))
            mac.update(part)
        return mac.hexdigest()

    def chain_hash(self, prev_hash: str, event: bytes) -> str:
        mac = self._chain_mac.copy()
        mac.update(prev_hash.encode("ascii"))
        mac.update(event)
        return mac.hexdigest()

    def value_digest(self, value: str) -> str:
        return hmac.new(self.digest_key, value.encode("utf-8"), hashlib.sha256).hexdigest()

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self.signing_key.public_key()

    @property
    def public_key_b64(self) -> str:
        raw = self.public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return base64.b64encode(raw).decode("ascii")

    @property
    def signing_key_id(self) -> str:
        """A short, public name of the signing key (digest of its public key)."""
        raw = self.public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return "ed25519-" + hashlib.sha256(raw).hexdigest()[:16]

    def sign(self, message: bytes) -> str:
        return base64.b64encode(self.signing_key.sign(message)).decode("ascii")

    def signed(self, message: bytes, signature: str) -> bool:
        """Whether `signature` (as `sign` writes it) is this key's over `message`."""
        try:
            self.public_key.verify(base64.b64decode(signature, validate=True), message)
        except (InvalidSignature, ValueError):
            return False
        return True

    def __repr__(self) -> str:
        return "DerivedKeys(<hidden>)"


class ServerKeys:
    """Loads (or creates, once) the server key and holds the derived keys."""

    def __init__(self, backends: Backends, now: Callable[[], datetime]) -> None:
        self._backends = backends
        self._now = now
        self._keys: DerivedKeys | None = None

    @property
    def ready(self) -> bool:
        return self._keys is not None

    @property
    def keys(self) -> DerivedKeys:
        if self._keys is None:
            raise RuntimeError("the server key has not been loaded (lifespan not started)")
        return self._keys

    async def load(
        self, on_create: Callable[[BaseDBAsyncClient, DerivedKeys], Awaitable[object]] | None = None
    ) -> DerivedKeys:
        """Unwrap the stored server key, creating it on first start.

        `on_create` runs inside the transaction that stores a new key: work
        that must happen exactly once with it (re-chaining an audit trail
        written before there was a key) commits with it or not at all.
        """
        row = await ServerKey.get_or_none(id=SERVER_KEY_ID)
        if row is None:
            return await self._create(on_create)
        self._keys = await self._unwrap(row)
        return self._keys

    async def _unwrap(self, row: ServerKey) -> DerivedKeys:
        backend = self._backends.for_read(row.backend)
        try:
            master = await backend.unwrap(
                WrappedKey(ciphertext=bytes(row.wrapped_key), key_id=row.key_id), SERVER_KEY_CONTEXT
            )
        except Exception as exc:
            raise BackendUnavailable(
                f"encryption backend {row.backend!r} could not unwrap the server key (key {row.key_id}): "
                f"{type(exc).__name__}; the audit trail cannot be written without it"
            ) from None
        return DerivedKeys.from_master(master)

    async def _create(
        self, on_create: Callable[[BaseDBAsyncClient, DerivedKeys], Awaitable[object]] | None
    ) -> DerivedKeys:
        backend: EncryptionBackend = self._backends.for_read(self._backends.default_name)
        master = os.urandom(32)
        wrapped = await backend.wrap(master, SERVER_KEY_CONTEXT)
        keys = DerivedKeys.from_master(master)
        try:
            async with in_transaction() as connection:
                await ServerKey.create(
                    id=SERVER_KEY_ID,
                    backend=backend.name,
                    key_id=wrapped.key_id,
                    wrapped_key=wrapped.ciphertext,
                    created_at=self._now(),
                    using_db=connection,
                )
                if on_create is not None:
                    await on_create(connection, keys)
        except IntegrityError:
            # Another replica created it at the same moment: use theirs.
            self._keys = await self._unwrap(await ServerKey.get(id=SERVER_KEY_ID))
            return self._keys
        logger.info("generated the server key, wrapped by backend %r", backend.name)
        self._keys = keys
        return keys

    async def rewrap(self, target: EncryptionBackend, connection: BaseDBAsyncClient | None = None) -> bool:
        """Wrap the server key under `target`'s current key (key rotation and
        migration between backends); False when it already was."""
        row = await ServerKey.get(id=SERVER_KEY_ID)
        current = await target.current_key_id()
        if row.backend == target.name and row.key_id == current:
            return False
        master = await self._backends.for_read(row.backend).unwrap(
            WrappedKey(ciphertext=bytes(row.wrapped_key), key_id=row.key_id), SERVER_KEY_CONTEXT
        )
        wrapped = await target.wrap(master, SERVER_KEY_CONTEXT)
        await (
            ServerKey.filter(id=SERVER_KEY_ID)
            .using_db(connection)
            .update(backend=target.name, key_id=wrapped.key_id, wrapped_key=wrapped.ciphertext)
        )
        return True
