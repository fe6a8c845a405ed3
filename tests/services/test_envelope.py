"""Envelope encryption: exact round trips, row binding, and safe failures."""

from __future__ import annotations

from dataclasses import replace
from uuid import UUID, uuid4

import pytest
from cryptography.fernet import Fernet

from graphql_api.errors import BackendUnavailable, BadUserInput
from graphql_api.services.envelope import Backends, Envelope, SealedValue
from plugins.builtin.fernet import FernetBackend
from plugins.interfaces import EncryptionBackend
from plugins.testing import InMemoryBackend

WORKSPACE = "default"
PLAINTEXT = "p4ssw0rd-that-must-never-leak"

TRICKY_VALUES = {
    "crlf-multiline": "line one\r\nline two\nline three\r\n",
    "quotes-backslashes": "'single' \"double\" `back` \\ \\\\ \\n \\u0000",
    "emoji-combining": "🔐👩‍💻 e\u0301 n\u0303 Å ﷽",
    "nul": "before\x00after",
    "empty": "",
    "64KiB": "x" * (64 * 1024),
}


def fernet_backend() -> EncryptionBackend:
    return FernetBackend([Fernet.generate_key().decode()])


@pytest.fixture(params=["memory", "fernet"])
def backend(request: pytest.FixtureRequest) -> EncryptionBackend:
    return InMemoryBackend() if request.param == "memory" else fernet_backend()


@pytest.fixture
def envelope(backend: EncryptionBackend) -> Envelope:
    return Envelope(Backends({backend.name: backend}, backend.name))


async def seal(envelope: Envelope, value: str, secret_id: UUID, version: int = 1) -> SealedValue:
    return await envelope.seal(
        value,
        backend=envelope.backends.for_write(None),
        workspace_id=WORKSPACE,
        secret_id=secret_id,
        version=version,
    )


async def open_(
    envelope: Envelope,
    sealed: SealedValue,
    secret_id: UUID,
    version: int = 1,
    workspace_id: str = WORKSPACE,
) -> str:
    return await envelope.open(
        ciphertext=sealed.ciphertext,
        wrapped_key=sealed.wrapped_key,
        backend_name=sealed.backend,
        key_id=sealed.key_id,
        workspace_id=workspace_id,
        secret_id=secret_id,
        version=version,
    )


@pytest.mark.asyncio
@pytest.mark.parametrize("value", TRICKY_VALUES.values(), ids=TRICKY_VALUES.keys())
async def test_round_trip_is_exact(envelope: Envelope, backend: EncryptionBackend, value: str) -> None:
    secret_id = uuid4()

    sealed = await seal(envelope, value, secret_id)

    assert sealed.backend == backend.name
    assert sealed.key_id == await backend.current_key_id()
    assert await open_(envelope, sealed, secret_id) == value


@pytest.mark.asyncio
async def test_same_value_seals_differently(envelope: Envelope) -> None:
    secret_id = uuid4()

    first = await seal(envelope, PLAINTEXT, secret_id)
    second = await seal(envelope, PLAINTEXT, secret_id)

    assert first.ciphertext != second.ciphertext
    assert first.wrapped_key != second.wrapped_key
    assert PLAINTEXT.encode() not in first.ciphertext


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "moved_to",
    [
        {"version": 2},
        {"secret_id": UUID(int=42)},
        {"workspace_id": "other-workspace"},
    ],
    ids=["other-version", "other-secret", "other-workspace"],
)
async def test_sealed_value_is_bound_to_its_row(envelope: Envelope, moved_to: dict[str, object]) -> None:
    secret_id = uuid4()
    sealed = await seal(envelope, PLAINTEXT, secret_id)
    row = {"secret_id": secret_id, "version": 1, "workspace_id": WORKSPACE, **moved_to}

    with pytest.raises(BackendUnavailable) as caught:
        await open_(envelope, sealed, **row)  # type: ignore[arg-type]

    assert PLAINTEXT not in caught.value.message


@pytest.mark.asyncio
async def test_swapping_only_the_wrapped_key_fails(envelope: Envelope) -> None:
    secret_id = uuid4()
    first = await seal(envelope, PLAINTEXT, secret_id)
    second = await seal(envelope, "another value", secret_id)

    with pytest.raises(BackendUnavailable, match="integrity check") as caught:
        await open_(envelope, replace(first, wrapped_key=second.wrapped_key), secret_id)

    assert PLAINTEXT not in caught.value.message
    assert "another value" not in caught.value.message


@pytest.mark.asyncio
async def test_swapping_only_the_ciphertext_fails(envelope: Envelope) -> None:
    secret_id = uuid4()
    first = await seal(envelope, PLAINTEXT, secret_id)
    second = await seal(envelope, "another value", secret_id)

    with pytest.raises(BackendUnavailable, match="integrity check") as caught:
        await open_(envelope, replace(first, ciphertext=second.ciphertext), secret_id)

    assert PLAINTEXT not in caught.value.message
    assert "another value" not in caught.value.message


@pytest.mark.asyncio
@pytest.mark.parametrize("ciphertext", [b"", b"short", b"\x00" * 40], ids=["empty", "short", "garbage"])
async def test_damaged_ciphertext_fails_cleanly(envelope: Envelope, ciphertext: bytes) -> None:
    secret_id = uuid4()
    sealed = await seal(envelope, PLAINTEXT, secret_id)

    with pytest.raises(BackendUnavailable):
        await open_(envelope, replace(sealed, ciphertext=ciphertext), secret_id)


@pytest.mark.asyncio
async def test_unavailable_backend_fails_seal_naming_it() -> None:
    backend = InMemoryBackend("vaulty")
    backend.available = False
    envelope = Envelope(Backends({"vaulty": backend}, "vaulty"))

    with pytest.raises(BackendUnavailable, match="'vaulty'") as caught:
        await seal(envelope, PLAINTEXT, uuid4())

    assert PLAINTEXT not in caught.value.message


@pytest.mark.asyncio
async def test_open_through_an_unavailable_backend_fails() -> None:
    backend = InMemoryBackend()
    envelope = Envelope(Backends({"memory": backend}, "memory"))
    secret_id = uuid4()
    sealed = await seal(envelope, PLAINTEXT, secret_id)
    backend.available = False

    with pytest.raises(BackendUnavailable, match="'memory'") as caught:
        await open_(envelope, sealed, secret_id)

    assert PLAINTEXT not in caught.value.message


def test_for_write_unknown_backend_is_bad_user_input() -> None:
    backends = Backends({"memory": InMemoryBackend()}, "memory")

    with pytest.raises(BadUserInput) as caught:
        backends.for_write("nope")

    assert caught.value.field == "input.encryptionBackend"
    assert "memory" in caught.value.message


def test_for_write_defaults_to_the_default_backend() -> None:
    memory, other = InMemoryBackend("memory"), InMemoryBackend("other")
    backends = Backends({"memory": memory, "other": other}, "other")

    assert backends.for_write(None) is other
    assert backends.for_write("memory") is memory


def test_for_read_unknown_backend_is_unavailable() -> None:
    backends = Backends({"memory": InMemoryBackend()}, "memory")

    with pytest.raises(BackendUnavailable, match="'nope'"):
        backends.for_read("nope")


def test_default_must_be_a_known_backend() -> None:
    with pytest.raises(KeyError):
        Backends({"memory": InMemoryBackend()}, "fernet")


def test_sealed_value_repr_shows_no_bytes() -> None:
    sealed = SealedValue(
        ciphertext=b"\x01secret-bytes", wrapped_key=b"\x02wrapped-bytes", backend="memory", key_id="k1"
    )

    text = repr(sealed)

    assert "secret-bytes" not in text
    assert "wrapped-bytes" not in text
    assert "b'" not in text
    assert "k1" in text and "memory" in text
