"""The default encryption backend: a Fernet keyring (MultiFernet semantics).

The keyring comes from SECRET_ENCRYPTION_KEY (comma-separated, first is
primary) or, in development, from `<data dir>/fernet.keys`, generated once with
mode 0600. Each key is identified by a digest of itself, so the version row can
name the key that wrapped its data key without revealing it.

Fernet has no associated data, so the wrapped payload starts with a SHA-256
digest of the key context and unwrap refuses a payload bound to another
secret: a wrapped key copied to another row fails even before AES-GCM would.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from plugins import ConfigError, hookimpl
from plugins.interfaces import BackendStatus, KeyContext, KeyUnavailable, PluginConfig, WrappedKey

logger = logging.getLogger("strongroom.encryption")

NAME = "fernet"
KEYRING_FILE = "fernet.keys"
_DIGEST_SIZE = 32


def fernet_key_id(key: str) -> str:
    return "fernet-" + hashlib.sha256(key.encode("ascii")).hexdigest()[:16]


def context_digest(context: KeyContext) -> bytes:
    """SHA-256 of the context as `json.dumps(context, sort_keys=True,
    separators=(",", ":"))` writes it (the bytes every stored data key is
    bound to, so they never change).

    Written by hand for the context every data key has (`key_context`: a
    workspace and a secret): a key rotation digests each version's context
    twice, and the encoder (behind a cache that 100,000 distinct secrets
    defeat) was a seventh of a rotation's CPU. A property test compares the
    two writings."""
    workspace_id, secret_id = context.get("workspace_id"), context.get("secret_id")
    if len(context) == 2 and type(workspace_id) is str and type(secret_id) is str:
        canonical = f'{{"secret_id":{_string(secret_id)},"workspace_id":{_string(workspace_id)}}}'
    else:
        canonical = _CANONICAL.encode(dict(context))
    return hashlib.sha256(canonical.encode("ascii")).digest()


_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"))
# A JSON string as json.dumps writes it with ensure_ascii (the default): pure ASCII.
_string = json.encoder.encode_basestring_ascii


class FernetBackend:
    """EncryptionBackend over a local keyring; the first key wraps."""

    name = NAME
    local = True  # the keyring is in this process (EncryptionBackend)

    def __init__(self, keys: Sequence[str], keyring_file: Path | None = None) -> None:
        if not keys:
            raise ConfigError("SECRET_ENCRYPTION_KEY", "the Fernet keyring is empty")
        try:
            self._keys = {fernet_key_id(key): Fernet(key) for key in keys}
        except (TypeError, ValueError):
            # Never the key, nor cryptography's message about it.
            raise ConfigError("SECRET_ENCRYPTION_KEY", "holds a malformed Fernet key") from None
        self._primary_id = fernet_key_id(keys[0])
        self.keyring_file = keyring_file

    def __repr__(self) -> str:
        return f"<FernetBackend primary={self._primary_id} keys={len(self._keys)}>"

    @property
    def key_ids(self) -> list[str]:
        return list(self._keys)

    async def wrap(self, data_key: bytes, context: KeyContext) -> WrappedKey:
        return self._seal(data_key, context_digest(context))

    def _seal(self, data_key: bytes, digest: bytes) -> WrappedKey:
        token = self._keys[self._primary_id].encrypt(digest + data_key)
        return WrappedKey(ciphertext=token, key_id=self._primary_id)

    async def unwrap(self, wrapped: WrappedKey, context: KeyContext) -> bytes:
        return self._open(wrapped, context_digest(context))

    def _open(self, wrapped: WrappedKey, digest: bytes) -> bytes:
        fernet = self._keys.get(wrapped.key_id)
        if fernet is None:
            raise KeyUnavailable(f"fernet key {wrapped.key_id} is not in the keyring")
        try:
            payload = fernet.decrypt(wrapped.ciphertext)
        except InvalidToken:
            raise KeyUnavailable(
                f"fernet key {wrapped.key_id} cannot decrypt this data key (wrong key or altered data)"
            ) from None
        bound_to, data_key = payload[:_DIGEST_SIZE], payload[_DIGEST_SIZE:]
        if not hmac.compare_digest(bound_to, digest):
            raise KeyUnavailable(f"data key wrapped by fernet key {wrapped.key_id} belongs to another secret")
        return data_key

    async def current_key_id(self) -> str:
        return self._primary_id

    async def health(self) -> BackendStatus:
        probe = os.urandom(32)
        context = {"workspace_id": "-", "secret_id": "health"}
        try:
            ok = await self.unwrap(await self.wrap(probe, context), context) == probe
        except Exception as exc:  # health reports, never raises
            return BackendStatus(healthy=False, key_id=self._primary_id, error=type(exc).__name__)
        return BackendStatus(healthy=ok, key_id=self._primary_id, error=None if ok else "round trip failed")

    async def aclose(self) -> None:
        return None

    async def rotate_key(self) -> str:
        """Make a new key primary.

        With a keyring file (development default) a new key is generated and
        put first in the file; with SECRET_ENCRYPTION_KEY the operator rotates
        by putting a new key first in the variable and restarting, so the
        current primary is returned unchanged.
        """
        if self.keyring_file is None:
            return self._primary_id
        key = Fernet.generate_key().decode("ascii")
        existing = [k.strip() for k in self.keyring_file.read_text("ascii").splitlines() if k.strip()]
        _write_keyring(self.keyring_file, [key, *existing])
        self._keys = {fernet_key_id(key): Fernet(key), **self._keys}
        self._primary_id = fernet_key_id(key)
        return self._primary_id

    async def rewrap(self, wrapped: WrappedKey, context: KeyContext) -> WrappedKey:
        if wrapped.key_id == self._primary_id:
            return wrapped
        # unwrap then wrap with the context digested once and no coroutine in
        # between: a key rotation does this for every version it rewraps.
        digest = context_digest(context)
        return self._seal(self._open(wrapped, digest), digest)

    async def generate_key_material(self) -> str | None:
        return Fernet.generate_key().decode("ascii")


def _write_keyring(path: Path, keys: Sequence[str]) -> None:
    """Replace the keyring file atomically, keeping mode 0600."""
    fd, temporary = tempfile.mkstemp(prefix=".fernet-", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write("".join(k + "\n" for k in keys))
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def load_or_create_keyring(data_dir: Path) -> tuple[list[str], Path]:
    """The development keyring in the data directory, created once (0600)."""
    path = data_dir / KEYRING_FILE
    if path.exists():
        try:
            text = path.read_text("ascii")
        except (UnicodeDecodeError, OSError):
            raise ConfigError("SECRET_ENCRYPTION_KEY", f"{path} is not a readable Fernet keyring") from None
        keys = [line.strip() for line in text.splitlines() if line.strip()]
        if not keys:
            raise ConfigError("SECRET_ENCRYPTION_KEY", f"{path} holds no Fernet key")
        for key in keys:
            try:
                Fernet(key)
            except ValueError:
                raise ConfigError("SECRET_ENCRYPTION_KEY", f"{path} holds a malformed Fernet key") from None
        return keys, path
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = Fernet.generate_key().decode("ascii")
    # Written whole to a private temporary file, then linked into place: two
    # processes starting together never see a half-written keyring, and the
    # loser of the race reads the winner's key instead of writing its own.
    fd, temporary = tempfile.mkstemp(prefix=".fernet-", dir=data_dir)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(key + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, 0o600)
        try:
            os.link(temporary, path)
        except FileExistsError:
            return load_or_create_keyring(data_dir)
    finally:
        os.unlink(temporary)
    logger.warning(
        "SECRET_ENCRYPTION_KEY is not set: generated a development Fernet key in %s (mode 0600). "
        "Back it up: without it no secret can be decrypted. In production pass keys by environment.",
        path,
    )
    return [key], path


@hookimpl(trylast=True)
def register_encryption_backends(config: PluginConfig) -> Iterable[FernetBackend]:
    settings = config.settings
    configured = [k.reveal() for k in settings.encryption_keys] if settings is not None else []
    if not configured and config.environ.get("SECRET_ENCRYPTION_KEY"):
        configured = [k.strip() for k in config.environ["SECRET_ENCRYPTION_KEY"].split(",")]
    if configured:
        return [FernetBackend(configured)]
    chosen = (
        settings.encryption_backend if settings is not None else config.environ.get("SECRET_ENCRYPTION_BACKEND", NAME)
    )
    if chosen != NAME and not (config.data_dir / KEYRING_FILE).exists():
        # Without a configured key, Fernet exists only as the development
        # default: do not litter a data directory with a key nobody asked for.
        return []
    keys, path = load_or_create_keyring(config.data_dir)
    return [FernetBackend(keys, keyring_file=path)]
