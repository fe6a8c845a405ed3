"""Test doubles of every plugin interface, public, beside the interfaces.

As httpx ships MockTransport beside BaseTransport, each interface of
`plugins.interfaces` has a double here that a plugin's tests and ours use:

- `InMemoryBackend`: a RotatableBackend (EncryptionBackend) that wraps with
  AES-GCM under keys held in a dict, binds the context, and can be made
  unavailable.
- `RecordingAuditSink`: an AuditSink that records every batch, can be held
  (a slow sink) and told to fail.
- `ScriptedGenerator`: a ValueGenerator returning scripted values (or
  numbered ones), or raising a given exception; `TwoPhaseScriptedGenerator`
  adds `apply` and `check` (a TwoPhaseGenerator) that can be told to fail.
- `RecordingNotifier`: a RotationNotifier that records events and can be
  told to fail its first deliveries.

The recording doubles offer `wait_for(count)`, which waits (with a deadline)
until that many items arrived, so a test never sleeps to wait. None is
registered in production; none puts a value in its repr.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from plugins.interfaces import BackendStatus, GenerationRequest, KeyContext, KeyUnavailable, RotationEvent, WrappedKey

#: How long `wait_for` waits by default before failing the test.
WAIT_SECONDS = 10.0

__all__ = [
    "InMemoryBackend",
    "RecordingAuditSink",
    "RecordingNotifier",
    "ScriptedGenerator",
    "TwoPhaseScriptedGenerator",
]


class InMemoryBackend:
    """RotatableBackend double: AES-GCM under in-memory keys; `available = False` makes it refuse."""

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


class _Arrivals:
    """Lets a test wait, with a deadline, until a list has grown to a size."""

    def __init__(self) -> None:
        self._grew = asyncio.Event()

    def grew(self) -> None:
        self._grew.set()

    async def wait_for(self, items: Sequence[Any], count: int, timeout: float, what: str) -> None:
        try:
            async with asyncio.timeout(timeout):
                while len(items) < count:
                    self._grew.clear()
                    await self._grew.wait()
        except TimeoutError:
            raise AssertionError(f"{what}: {len(items)} of {count} arrived within {timeout}s") from None


class RecordingAuditSink:
    """AuditSink double: `events` holds every event written, `batches` counts the writes.

    `held=True` makes `write` wait until `release()` (a slow sink); `fail=True`
    makes it raise after recording the batch (a sink whose destination is
    down). `closed` says whether `aclose` ran.
    """

    def __init__(self, name: str = "recording", *, held: bool = False, fail: bool = False) -> None:
        self.name = name
        self.events: list[Mapping[str, Any]] = []
        self.batches = 0
        self.fail = fail
        self.closed = False
        self._open = asyncio.Event()
        if not held:
            self._open.set()
        self._arrivals = _Arrivals()

    def __repr__(self) -> str:
        return f"<RecordingAuditSink {self.name} events={len(self.events)}>"

    def hold(self) -> None:
        self._open.clear()

    def release(self) -> None:
        self._open.set()

    async def write(self, events: Sequence[Mapping[str, Any]]) -> None:
        await self._open.wait()
        self.batches += 1
        self.events.extend(events)
        self._arrivals.grew()
        if self.fail:
            raise RuntimeError(f"audit sink {self.name} is down")

    async def aclose(self) -> None:
        self.closed = True

    async def wait_for(self, count: int, timeout: float = WAIT_SECONDS) -> list[Mapping[str, Any]]:
        """The events, once at least `count` were written (AssertionError after `timeout`)."""
        await self._arrivals.wait_for(self.events, count, timeout, f"audit sink {self.name}")
        return list(self.events)


class ScriptedGenerator:
    """ValueGenerator double serving `secret_types`.

    `generate` records the request and returns the next of `values`, then
    (when they run out) `generated-<secret name>-<n>` for the n-th call; with
    `error` set it raises that instead (a ValueError is the documented way to
    refuse bad options).
    """

    def __init__(
        self,
        secret_types: Iterable[str],
        *,
        name: str = "scripted",
        values: Iterable[str] = (),
        error: Exception | None = None,
    ) -> None:
        self.name = name
        self.secret_types = frozenset(secret_types)
        self.requests: list[GenerationRequest] = []
        self.error = error
        self._script = list(values)

    def __repr__(self) -> str:
        # Never the scripted values: they are secret values in the making.
        return f"<{type(self).__name__} {self.name} serves={sorted(self.secret_types)} made={self.made}>"

    @property
    def made(self) -> int:
        return len(self.requests)

    async def generate(self, request: GenerationRequest) -> str:
        self.requests.append(request)
        if self.error is not None:
            raise self.error
        if self._script:
            return self._script.pop(0)
        return f"generated-{request.name}-{self.made}"


class TwoPhaseScriptedGenerator(ScriptedGenerator):
    """TwoPhaseGenerator double: `applied` and `checked` hold the values each
    phase saw; `apply_error` / `check_error`, when set, are raised by that
    phase (after recording the value)."""

    def __init__(
        self,
        secret_types: Iterable[str],
        *,
        name: str = "two-phase",
        values: Iterable[str] = (),
        error: Exception | None = None,
        apply_error: Exception | None = None,
        check_error: Exception | None = None,
    ) -> None:
        super().__init__(secret_types, name=name, values=values, error=error)
        self.applied: list[str] = []
        self.checked: list[str] = []
        self.apply_error = apply_error
        self.check_error = check_error

    async def apply(self, request: GenerationRequest, value: str) -> None:
        self.applied.append(value)
        if self.apply_error is not None:
            raise self.apply_error

    async def check(self, request: GenerationRequest, value: str) -> None:
        self.checked.append(value)
        if self.check_error is not None:
            raise self.check_error


class RecordingNotifier:
    """RotationNotifier double: `events` holds what was delivered, `calls` counts attempts.

    The first `fail_first` calls raise RuntimeError(`message`) (a receiver
    that is down, then recovers); `failing = True` makes every call fail.
    """

    def __init__(self, name: str = "recording", *, fail_first: int = 0, message: str = "receiver down") -> None:
        self.name = name
        self.events: list[RotationEvent] = []
        self.calls = 0
        self.fail_first = fail_first
        self.failing = False
        self.message = message
        self._arrivals = _Arrivals()

    def __repr__(self) -> str:
        return f"<RecordingNotifier {self.name} events={len(self.events)} calls={self.calls}>"

    async def notify(self, event: RotationEvent) -> None:
        self.calls += 1
        if self.failing or self.calls <= self.fail_first:
            raise RuntimeError(self.message)
        self.events.append(event)
        self._arrivals.grew()

    async def wait_for(self, count: int, timeout: float = WAIT_SECONDS) -> list[RotationEvent]:
        """The events, once at least `count` were delivered (AssertionError after `timeout`)."""
        await self._arrivals.wait_for(self.events, count, timeout, f"notifier {self.name}")
        return list(self.events)
