"""The builtin Fernet backend: wrapping, rotation, context binding, keyring file."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import stat
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from hypothesis import given, settings
from hypothesis import strategies as st

from plugins.builtin.fernet import KEYRING_FILE, FernetBackend, context_digest, fernet_key_id, load_or_create_keyring
from plugins.interfaces import EncryptionBackend, KeyUnavailable, WrappedKey

CONTEXT = {"workspace_id": "default", "secret_id": "00000000-0000-0000-0000-000000000001"}
OTHER_SECRET = {"workspace_id": "default", "secret_id": "00000000-0000-0000-0000-000000000002"}


def new_key() -> str:
    return Fernet.generate_key().decode("ascii")


def test_is_an_encryption_backend() -> None:
    assert isinstance(FernetBackend([new_key()]), EncryptionBackend)


@pytest.mark.asyncio
async def test_wrap_unwrap_round_trip() -> None:
    backend = FernetBackend([new_key()])
    data_key = os.urandom(32)

    wrapped = await backend.wrap(data_key, CONTEXT)

    assert data_key not in wrapped.ciphertext
    assert wrapped.key_id == await backend.current_key_id()
    assert await backend.unwrap(wrapped, CONTEXT) == data_key


@settings(max_examples=500, deadline=None)
@given(
    context=st.fixed_dictionaries({"workspace_id": st.text(max_size=40), "secret_id": st.text(max_size=40)})
    | st.dictionaries(
        st.sampled_from(["workspace_id", "secret_id", "version"]) | st.text(max_size=12),
        st.text(max_size=40) | st.integers(),
        max_size=4,
    )
)
def test_context_digest_is_the_digest_of_canonical_json(context: dict[str, str]) -> None:
    # Every stored data key is bound to these bytes: the hand-written form
    # must equal the encoder's for any context, escapes and non-ASCII included.
    canonical = json.dumps(context, sort_keys=True, separators=(",", ":"))
    assert context_digest(context) == hashlib.sha256(canonical.encode("ascii")).digest()


@pytest.mark.asyncio
async def test_a_data_key_wrapped_by_an_earlier_release_still_unwraps() -> None:
    # The payload layout every stored data key has (SHA-256 of the canonical
    # context, then the key), built with cryptography's Fernet and a pinned
    # digest, not with the backend's own code: a change to how the backend
    # digests a context cannot pass by changing both sides.
    key = "m3Kc0wXvKm0F4Kx6ZB8f5oXJ6bS3jvH4W1m0l2lQ9bE="
    data_key = bytes(range(32))
    digest = bytes.fromhex("9b64d98d02f12769fdfe715d56a0979f36379381b6dd8589c0031243a06d8da2")
    assert hashlib.sha256(json.dumps(CONTEXT, sort_keys=True, separators=(",", ":")).encode()).digest() == digest
    wrapped = WrappedKey(ciphertext=Fernet(key).encrypt(digest + data_key), key_id=fernet_key_id(key))

    assert await FernetBackend([key]).unwrap(wrapped, CONTEXT) == data_key
    with pytest.raises(KeyUnavailable):
        await FernetBackend([key]).unwrap(wrapped, OTHER_SECRET)


def test_key_id_is_stable_distinct_and_opaque() -> None:
    key, other = new_key(), new_key()

    assert fernet_key_id(key) == fernet_key_id(key)
    assert fernet_key_id(key) != fernet_key_id(other)
    assert fernet_key_id(key).startswith("fernet-")
    assert key not in fernet_key_id(key)
    assert key[:16] not in fernet_key_id(key)


@pytest.mark.asyncio
async def test_rotation_keyring_unwraps_old_and_wraps_with_new() -> None:
    old, new = new_key(), new_key()
    data_key = os.urandom(32)
    wrapped_by_old = await FernetBackend([old]).wrap(data_key, CONTEXT)

    rotated = FernetBackend([new, old])

    assert await rotated.unwrap(wrapped_by_old, CONTEXT) == data_key
    assert await rotated.current_key_id() == fernet_key_id(new)
    assert (await rotated.wrap(data_key, CONTEXT)).key_id == fernet_key_id(new)
    assert rotated.key_ids == [fernet_key_id(new), fernet_key_id(old)]


@pytest.mark.asyncio
async def test_unwrap_for_another_secret_is_refused() -> None:
    backend = FernetBackend([new_key()])
    wrapped = await backend.wrap(os.urandom(32), CONTEXT)

    with pytest.raises(KeyUnavailable, match="another secret"):
        await backend.unwrap(wrapped, OTHER_SECRET)


@pytest.mark.asyncio
async def test_unwrap_with_unknown_key_id_names_it() -> None:
    old = FernetBackend([new_key()])
    wrapped = await old.wrap(os.urandom(32), CONTEXT)

    with pytest.raises(KeyUnavailable) as caught:
        await FernetBackend([new_key()]).unwrap(wrapped, CONTEXT)

    assert wrapped.key_id in str(caught.value)


@pytest.mark.asyncio
async def test_tampered_ciphertext_is_refused() -> None:
    backend = FernetBackend([new_key()])
    wrapped = await backend.wrap(os.urandom(32), CONTEXT)
    token = bytearray(wrapped.ciphertext)
    token[40] = ord("A") if token[40] != ord("A") else ord("B")

    with pytest.raises(KeyUnavailable):
        await backend.unwrap(WrappedKey(ciphertext=bytes(token), key_id=wrapped.key_id), CONTEXT)


@pytest.mark.asyncio
async def test_health_is_healthy() -> None:
    key = new_key()
    status = await FernetBackend([key]).health()

    assert status.healthy is True
    assert status.key_id == fernet_key_id(key)
    assert status.error is None


def test_repr_holds_no_key_material() -> None:
    key = new_key()

    text = repr(FernetBackend([key, new_key()]))

    assert key not in text
    assert key[:10] not in text
    assert fernet_key_id(key) in text


def test_empty_keyring_is_refused() -> None:
    with pytest.raises(ValueError, match="^SECRET_ENCRYPTION_KEY"):
        FernetBackend([])


def test_keyring_file_is_created_once_with_mode_0600(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="plugins.builtin.fernet"):
        keys, path = load_or_create_keyring(tmp_path)

    assert path == tmp_path / KEYRING_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(keys) == 1
    Fernet(keys[0])  # a usable key
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "SECRET_ENCRYPTION_KEY" in warnings[0].getMessage()
    assert keys[0] not in caplog.text

    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="plugins.builtin.fernet"):
        again, _ = load_or_create_keyring(tmp_path)

    assert again == keys
    assert caplog.records == []


def test_keyring_file_creates_the_data_dir(tmp_path: Path) -> None:
    keys, path = load_or_create_keyring(tmp_path / "nested" / "data")

    assert path.read_text("ascii").split() == keys


@pytest.mark.parametrize("content", ["not a fernet key\n", "\n\n"])
def test_malformed_keyring_file_names_the_variable(tmp_path: Path, content: str) -> None:
    (tmp_path / KEYRING_FILE).write_text(content)

    with pytest.raises(ValueError, match="^SECRET_ENCRYPTION_KEY"):
        load_or_create_keyring(tmp_path)


def test_non_ascii_keyring_file_names_the_variable(tmp_path: Path) -> None:
    (tmp_path / KEYRING_FILE).write_bytes("clé\n".encode())

    with pytest.raises(ValueError, match="^SECRET_ENCRYPTION_KEY"):
        load_or_create_keyring(tmp_path)
