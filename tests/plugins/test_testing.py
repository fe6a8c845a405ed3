"""The public test doubles of plugins.testing implement their interfaces and
behave as documented (a double that drifts from its interface would let
every test using it pass wrongly)."""

from __future__ import annotations

import asyncio

import pytest

from plugins.interfaces import (
    AuditSink,
    GenerationRequest,
    KeyUnavailable,
    RotatableBackend,
    RotationEvent,
    RotationNotifier,
    TwoPhaseGenerator,
    ValueGenerator,
)
from plugins.testing import (
    InMemoryBackend,
    RecordingAuditSink,
    RecordingNotifier,
    ScriptedGenerator,
    TwoPhaseScriptedGenerator,
)

pytestmark = pytest.mark.asyncio

REQUEST = GenerationRequest(workspace_id="w", secret_id="s", name="DB", secret_type="PASSWORD", metadata={})
EVENT = RotationEvent(
    id="e1",
    kind="rotated",
    workspace_id="w",
    secret_id="s",
    secret_name="DB",
    secret_type="PASSWORD",
    rotation_policy="MANUAL",
    rotation_due_at=None,
    version=2,
    occurred_at="2030-01-01T00:00:00+00:00",
)


async def test_each_double_implements_its_interface() -> None:
    assert isinstance(InMemoryBackend(), RotatableBackend)
    assert isinstance(RecordingAuditSink(), AuditSink)
    assert isinstance(RecordingNotifier(), RotationNotifier)
    plain, two_phase = ScriptedGenerator({"PASSWORD"}), TwoPhaseScriptedGenerator({"PASSWORD"})
    assert isinstance(plain, ValueGenerator) and not isinstance(plain, TwoPhaseGenerator)
    assert isinstance(two_phase, TwoPhaseGenerator)


async def test_in_memory_backend_binds_the_context_and_can_refuse() -> None:
    backend = InMemoryBackend()
    wrapped = await backend.wrap(b"k" * 32, {"secret_id": "a"})
    assert await backend.unwrap(wrapped, {"secret_id": "a"}) == b"k" * 32
    with pytest.raises(KeyUnavailable, match="cannot unwrap"):
        await backend.unwrap(wrapped, {"secret_id": "b"})
    backend.available = False
    with pytest.raises(KeyUnavailable, match="unavailable"):
        await backend.wrap(b"k" * 32, {})


async def test_scripted_generator_plays_its_script_then_numbers_and_hides_values() -> None:
    generator = ScriptedGenerator({"PASSWORD"}, values=["first-s3cr3t"])
    assert [await generator.generate(REQUEST), await generator.generate(REQUEST)] == ["first-s3cr3t", "generated-DB-2"]
    assert generator.made == 2 and generator.requests == [REQUEST, REQUEST]
    assert "s3cr3t" not in repr(ScriptedGenerator({"PASSWORD"}, values=["x-s3cr3t"]))
    generator.error = ValueError("rotation.length: must be an integer")
    with pytest.raises(ValueError, match="rotation.length"):
        await generator.generate(REQUEST)


async def test_two_phase_generator_records_each_phase_and_fails_on_demand() -> None:
    generator = TwoPhaseScriptedGenerator({"PASSWORD"}, check_error=RuntimeError("login failed"))
    await generator.apply(REQUEST, "v1")
    with pytest.raises(RuntimeError, match="login failed"):
        await generator.check(REQUEST, "v1")
    assert (generator.applied, generator.checked) == (["v1"], ["v1"])
    generator.apply_error = OSError("unreachable")
    with pytest.raises(OSError):
        await generator.apply(REQUEST, "v2")


async def test_recording_notifier_fails_its_first_deliveries_then_records() -> None:
    notifier = RecordingNotifier(fail_first=2, message="receiver down")
    for _ in range(2):
        with pytest.raises(RuntimeError, match="^receiver down$"):
            await notifier.notify(EVENT)
    await notifier.notify(EVENT)
    assert (notifier.calls, notifier.events) == (3, [EVENT])
    notifier.failing = True
    with pytest.raises(RuntimeError):
        await notifier.notify(EVENT)
    assert notifier.events == [EVENT]


async def test_recording_sink_holds_fails_and_waits_with_a_deadline() -> None:
    sink = RecordingAuditSink(held=True, fail=True)
    writing = asyncio.create_task(sink.write([{"action": "CREATED"}]))
    waiting = asyncio.create_task(sink.wait_for(1))
    await asyncio.sleep(0)
    assert sink.events == [] and not waiting.done()
    sink.release()
    with pytest.raises(RuntimeError, match="is down"):
        await writing
    assert await waiting == [{"action": "CREATED"}] and sink.batches == 1
    with pytest.raises(AssertionError, match="1 of 2 arrived"):
        await sink.wait_for(2, timeout=0.05)
    await sink.aclose()
    assert sink.closed


async def test_recording_notifier_wait_for_returns_once_delivered() -> None:
    notifier = RecordingNotifier()
    waiting = asyncio.create_task(notifier.wait_for(1))
    await asyncio.sleep(0)
    assert not waiting.done()
    await notifier.notify(EVENT)
    assert await waiting == [EVENT]
