"""The interfaces plugins implement.

These are Protocols: a third-party plugin satisfies them by shape and never
needs to import Strongroom. Each interface states its contract here and ships
with a public test double in `plugins.testing` (InMemoryBackend,
RecordingAuditSink, ScriptedGenerator and TwoPhaseScriptedGenerator,
RecordingNotifier), the way httpx pairs BaseTransport with MockTransport.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

#: What a data key is bound to: {"workspace_id": ..., "secret_id": ...}. A
#: backend that supports it must refuse to unwrap under another context
#: (AWS KMS EncryptionContext, Vault's associated data, a digest for Fernet).
KeyContext = Mapping[str, str]


@dataclass(frozen=True)
class WrappedKey:
    """A data key encrypted by a backend, and the id of the key that did it."""

    ciphertext: bytes = field(repr=False)
    key_id: str


@dataclass(frozen=True)
class BackendStatus:
    healthy: bool
    key_id: str | None
    error: str | None = None


@dataclass(frozen=True)
class PluginConfig:
    """What every plugin hook receives to configure itself.

    `environ` holds every variable of the environment and the `.env` file, so a
    third-party plugin reads its own settings without importing ours;
    `settings` is Strongroom's typed Settings for the builtins.
    """

    # Holds keys and tokens: never part of a repr.
    environ: Mapping[str, str] = field(repr=False)
    data_dir: Path
    settings: Any = field(default=None, repr=False)


class KeyUnavailable(Exception):
    """Raised by a backend when a key cannot be used: unknown id, wrong
    material, revoked, disabled or the service is unreachable.

    The message is shown to clients: it names the backend and key id, never key
    material or plaintext.
    """


@runtime_checkable
class EncryptionBackend(Protocol):
    """Wraps and unwraps data keys (DEKs); it never sees secret values.

    Contract:
    - `name` is unique among backends and stored on every version row; it must
      never change for a backend whose keys wrap stored data.
    - `wrap(data_key, context)` encrypts a 32-byte data key under the backend's
      current key and returns the ciphertext with that key's id. It must bind
      the result to `context` when the backend can.
    - `unwrap(wrapped, context)` returns the data key, using the key named by
      `wrapped.key_id` (which may be older than the current one). It raises
      KeyUnavailable (or any exception, which is treated the same) when it
      cannot; it must not return a wrong key silently.
    - `current_key_id()` names the key `wrap` would use now.
    - `health()` answers whether wrap and unwrap work right now.
    - `aclose()` releases connections; called once at shutdown.
    - Optional: a class attribute `local = True` says that wrap and unwrap
      never wait on I/O (the keys are in this process); a key rotation then
      rewraps row after row instead of in concurrent calls. Absent means
      remote.
    All methods may be called concurrently. None may log key material.
    """

    name: str

    async def wrap(self, data_key: bytes, context: KeyContext) -> WrappedKey: ...

    async def unwrap(self, wrapped: WrappedKey, context: KeyContext) -> bytes: ...

    async def current_key_id(self) -> str: ...

    async def health(self) -> BackendStatus: ...

    async def aclose(self) -> None: ...


@runtime_checkable
class RotatableBackend(EncryptionBackend, Protocol):
    """An EncryptionBackend whose keys can be rotated in place.

    Contract, on top of EncryptionBackend's:
    - `rotate_key()` makes a new key current and returns its id; data wrapped
      under older keys must stay unwrappable. A backend that cannot make keys
      (a fixed KMS key) returns its current key id unchanged.
    - `rewrap(wrapped, context)` returns the data key wrapped under the
      current key. It should not expose the data key where the service can
      rewrap by itself (Vault Transit's rewrap, KMS ReEncrypt); otherwise it
      may unwrap and wrap in memory. Rewrapping data already under the current
      key returns an equivalent WrappedKey.
    - `generate_key_material()` returns fresh key material an operator could
      configure (a Fernet key), or None when the backend keeps its keys itself.
    """

    async def rotate_key(self) -> str: ...

    async def rewrap(self, wrapped: WrappedKey, context: KeyContext) -> WrappedKey: ...

    async def generate_key_material(self) -> str | None: ...


@runtime_checkable
class AuditSink(Protocol):
    """Receives committed audit events, e.g. to ship them to a SIEM.

    Contract:
    - `write(events)` gets committed events in commit order, as plain JSON-able
      mappings with the fields of the GraphQL AuditEvent (snake_case) plus
      `seq` and `prev_hash`. Events never hold a secret value, key or token.
    - It runs in a background task with a bounded queue: a slow or failing
      sink never blocks or fails a request. When its queue is full, events for
      it are dropped and counted (the audit table keeps them all).
    - Exceptions are logged and the batch is not retried: a sink that must not
      lose events keeps its own retry and position (seq per workspace).
    - `aclose()` is called once at shutdown after the last `write`.
    """

    name: str

    async def write(self, events: Sequence[Mapping[str, Any]]) -> None: ...

    async def aclose(self) -> None: ...


@dataclass(frozen=True)
class GenerationRequest:
    """What a value generator knows about the secret it makes a value for.

    `metadata` is the secret's metadata; generators read their options from
    its "rotation" object, e.g. {"rotation": {"length": 48, "alphabet": "hex"}}.
    """

    workspace_id: str
    secret_id: str
    name: str
    secret_type: str
    metadata: Mapping[str, Any]


@runtime_checkable
class ValueGenerator(Protocol):
    """Makes new values for the secret types it serves.

    Contract:
    - `secret_types` names the SecretType values served (e.g. {"PASSWORD"});
      the first registered generator serving a type is used.
    - `generate(request)` returns a new value (at most 64 KiB of UTF-8) from a
      cryptographically secure source. Bad options in the metadata raise
      ValueError("rotation.<option>: what is wrong"), shown to the client.
    - A generator that also has `apply` and `check` is a TwoPhaseGenerator
      (below) and rotates in two phases.
    Never log or put a value in an exception message.
    """

    name: str
    secret_types: frozenset[str]

    async def generate(self, request: GenerationRequest) -> str: ...


@runtime_checkable
class TwoPhaseGenerator(ValueGenerator, Protocol):
    """A ValueGenerator for values that must also change somewhere else (a
    database password).

    Contract, on top of ValueGenerator's:
    - `apply(request, value)` makes the staged value effective there, then
      `check(request, value)` proves it works (log in with it).
    - Until both return, the new version is PENDING and the old value stays
      current. If either raises, the pending version is marked FAILED, the
      current value is untouched, notifiers get `rotation_failed` and the
      client a CONFLICT naming the exception's type (never its text).
    - Both are needed: a generator with only one of them is a plain
      ValueGenerator.
    """

    async def apply(self, request: GenerationRequest, value: str) -> None: ...

    async def check(self, request: GenerationRequest, value: str) -> None: ...


@dataclass(frozen=True)
class RotationEvent:
    """What a notifier is told. Never holds a value.

    `kind` is "rotation_due", "rotated" or "rotation_failed"; `id` is unique
    per event and stable across redeliveries (receivers deduplicate on it).
    """

    id: str
    kind: str
    workspace_id: str
    secret_id: str
    secret_name: str
    secret_type: str
    rotation_policy: str
    rotation_due_at: str | None
    version: int
    occurred_at: str
    details: Mapping[str, Any] = field(default_factory=dict)


@runtime_checkable
class RotationNotifier(Protocol):
    """Tells people or systems about rotations.

    Contract: `notify(event)` delivers one event or raises; Strongroom
    retries a failed delivery later (with backoff) and records every outcome
    in the audit trail. A notifier that raises never blocks rotation or the
    other notifiers. `name` is stable: delivery state is kept per name.
    """

    name: str

    async def notify(self, event: RotationEvent) -> None: ...
