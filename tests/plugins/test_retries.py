"""The shared retry policy (plugins/retries.py): waits, deadline, Retry-After, classification, safety.

Loops that would wait run under stamina's test mode (`no_waits`): the
configured attempts are kept and every wait is zero, while the waits the
policy computed are still visible in its log line.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
import stamina
from stamina.instrumentation import RetryDetails, set_on_retry_hooks

from plugins import ConfigError
from plugins.retries import (
    MAX_ENV_ATTEMPTS,
    DeliveryFailure,
    RetriesExhausted,
    RetryPolicy,
    RetryVariables,
    Transient,
    parse_retry_after,
)

VAULT = RetryVariables("VAULT_RETRY_ATTEMPTS", "VAULT_RETRY_DEADLINE", "VAULT_RETRY_BACKOFF", "VAULT_RETRY_BACKOFF_MAX")
MARKER = "secret-marker-4d1f"  # stands for key material or a service's error text echoing a request


class Flaky(Exception):
    pass


class Refused(Exception):
    pass


@pytest.fixture
def no_waits() -> Iterator[None]:
    with stamina.set_testing(True, attempts=100, cap=True):
        yield


@dataclass
class Operation:
    """Fails `failures` times with Flaky (carrying MARKER), then answers "ok"."""

    failures: int
    error: type[Exception] = Flaky
    calls: int = 0
    seen: list[float] = field(default_factory=list)

    async def __call__(self) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error(f"upstream said: {MARKER}")
        return "ok"


def flaky_is_transient(exc: Exception) -> Transient | None:
    return Transient("flaky upstream") if isinstance(exc, Flaky) else None


# -- waits -----------------------------------------------------------------------


def test_backoff_doubles_from_wait_initial_up_to_wait_max_jittered_below() -> None:
    policy = RetryPolicy(wait_initial=0.1, wait_max=2.0, jitter=0.5)
    for retry in range(1, 12):
        ceiling = min(2.0, 0.1 * 2 ** (retry - 1))
        samples = [policy.backoff(retry) for _ in range(200)]
        assert all(ceiling / 2 <= wait <= ceiling for wait in samples), retry
        assert len(set(samples)) > 1, "jittered"
    assert RetryPolicy(wait_initial=0.1, wait_max=2.0, jitter=0).backoff(3) == pytest.approx(0.4)
    assert RetryPolicy(wait_initial=1.0, wait_max=60.0, jitter=0).backoff(10_000) == 60.0  # no overflow


def test_retry_after_is_a_floor_capped_by_retry_after_max() -> None:
    policy = RetryPolicy(wait_initial=0.1, wait_max=2.0, jitter=0, deadline=None)
    assert policy.next_wait(1, retry_after=30.0) == 30.0  # longer than wait_max: honoured
    assert policy.next_wait(1, retry_after=0.0) == pytest.approx(0.1)  # shorter than the backoff: backoff
    assert policy.next_wait(2, retry_after=None) == pytest.approx(0.2)
    capped = RetryPolicy(wait_initial=0.1, wait_max=2.0, jitter=0, deadline=None, retry_after_max=10.0)
    assert capped.next_wait(1, retry_after=3600.0) == 10.0


def test_a_wait_reaching_the_deadline_is_refused() -> None:
    policy = RetryPolicy(wait_initial=1.0, wait_max=1.0, jitter=0)
    assert policy.next_wait(1, remaining=1.5) == 1.0
    assert policy.next_wait(1, remaining=1.0) is None
    assert policy.next_wait(1, retry_after=5.0, remaining=4.0) is None


@pytest.mark.parametrize(
    "fields",
    [
        {"attempts": 0},
        {"attempts": True},
        {"attempts": 2.5},
        {"wait_initial": -1},
        {"wait_max": math.inf},
        {"jitter": 1.5},
        {"deadline": 0},
        {"deadline": -3},
        {"deadline": math.nan},
        {"retry_after_max": -1},
    ],
)
def test_nonsense_policies_are_refused(fields: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(**fields)  # type: ignore[arg-type]


def test_updated_changes_only_what_is_given() -> None:
    policy = RetryPolicy(attempts=4, deadline=9.0)
    assert policy.updated(attempts=None, wait_initial=0.5) == RetryPolicy(attempts=4, deadline=9.0, wait_initial=0.5)


# -- the loop ----------------------------------------------------------------------


@pytest.mark.asyncio
async def test_transient_failures_are_retried_until_success(no_waits: None) -> None:
    operation = Operation(failures=2)
    assert await RetryPolicy(attempts=3).call(operation, flaky_is_transient, label="svc") == "ok"
    assert operation.calls == 3


@pytest.mark.asyncio
async def test_exhausted_attempts_raise_retries_exhausted_with_the_reason_only(no_waits: None) -> None:
    operation = Operation(failures=10)
    with pytest.raises(RetriesExhausted) as raised:
        await RetryPolicy(attempts=4).call(operation, flaky_is_transient, label="svc key k1")
    assert operation.calls == 4
    error = raised.value
    assert (error.reason, error.attempts, error.deadline_reached) == ("flaky upstream", 4, False)
    assert str(error) == "svc key k1: flaky upstream (after 4 attempts)"
    assert error.__cause__ is None and error.__suppress_context__
    assert MARKER not in str(error) and MARKER not in repr(error)


@pytest.mark.asyncio
async def test_what_the_classifier_refuses_is_raised_at_once_unchanged(no_waits: None) -> None:
    operation = Operation(failures=10, error=Refused)
    with pytest.raises(Refused) as raised:
        await RetryPolicy(attempts=5).call(operation, flaky_is_transient, label="svc")
    assert operation.calls == 1
    assert MARKER in str(raised.value)  # the caller's own exception, for the caller to map


@pytest.mark.asyncio
async def test_cancellation_is_never_retried(no_waits: None) -> None:
    calls = 0

    async def cancelled() -> str:
        nonlocal calls
        calls += 1
        raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        await RetryPolicy(attempts=5).call(cancelled, lambda exc: Transient("anything"), label="svc")
    assert calls == 1


@pytest.mark.asyncio
async def test_one_attempt_policy_never_retries(no_waits: None) -> None:
    operation = Operation(failures=1)
    with pytest.raises(RetriesExhausted, match=r"after 1 attempt\)$"):
        await RetryPolicy(attempts=1).call(operation, flaky_is_transient, label="svc")
    assert operation.calls == 1


@pytest.mark.asyncio
async def test_the_log_line_shows_the_computed_wait_and_retry_after(
    no_waits: None, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="test.retries")
    operation = Operation(failures=2)

    def slow_down(exc: Exception) -> Transient | None:
        return Transient("rate limited (HTTP 429)", retry_after=7.0)

    policy = RetryPolicy(attempts=3, wait_initial=0.1, wait_max=2.0, deadline=60.0)
    assert await policy.call(operation, slow_down, label="svc key k1", log=logging.getLogger("test.retries")) == "ok"
    messages = [r.getMessage() for r in caplog.records if r.name == "test.retries"]
    assert messages == [
        "svc key k1: rate limited (HTTP 429), retry 1 of 2 in 7.00s",
        "svc key k1: rate limited (HTTP 429), retry 2 of 2 in 7.00s",
    ]
    assert MARKER not in caplog.text


@pytest.mark.asyncio
async def test_a_retry_after_past_the_deadline_gives_up_at_once() -> None:
    """No test mode: the policy must not sleep at all, since the wait would cross the deadline."""
    operation = Operation(failures=10)
    policy = RetryPolicy(attempts=5, deadline=5.0)
    with pytest.raises(RetriesExhausted) as raised:
        await policy.call(operation, lambda exc: Transient("throttled", retry_after=60.0), label="svc")
    assert operation.calls == 1
    assert raised.value.deadline_reached
    assert raised.value.reason == "throttled (retry deadline of 5s reached)"


@pytest.mark.asyncio
async def test_a_hanging_attempt_is_cut_at_the_deadline() -> None:
    never = asyncio.Event()
    calls = 0

    async def hang() -> str:
        nonlocal calls
        calls += 1
        await never.wait()
        return "never"

    with pytest.raises(RetriesExhausted) as raised:
        await RetryPolicy(attempts=3, deadline=0.2).call(hang, lambda exc: Transient("x"), label="svc")
    assert calls == 1 and raised.value.deadline_reached
    assert raised.value.reason == "no answer within the retry deadline of 0.2s"


@pytest.mark.asyncio
async def test_an_operations_own_timeout_error_is_classified_not_taken_for_the_deadline(no_waits: None) -> None:
    calls = 0

    async def times_out() -> str:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise TimeoutError("read timed out")
        return "ok"

    def timeouts(exc: Exception) -> Transient | None:
        return Transient("timed out") if isinstance(exc, TimeoutError) else None

    assert await RetryPolicy(attempts=2, deadline=30.0).call(times_out, timeouts, label="svc") == "ok"
    assert calls == 2


@pytest.mark.asyncio
async def test_stamina_hooks_see_only_the_safe_reason(no_waits: None) -> None:
    seen: list[RetryDetails] = []
    set_on_retry_hooks([seen.append])
    try:
        await RetryPolicy(attempts=3).call(Operation(failures=2), flaky_is_transient, label="svc")
    finally:
        set_on_retry_hooks(None)
    assert len(seen) == 2
    for details in seen:
        assert MARKER not in repr(details.caused_by) and "flaky upstream" in repr(details.caused_by)
        assert details.args == () and details.kwargs == {}


@pytest.mark.asyncio
async def test_retrying_waits_on_the_event_loop_without_blocking_it() -> None:
    """A retry's wait is an await: other tasks run meanwhile (no time.sleep, no wait in a thread)."""
    other_ran = asyncio.Event()
    seen_on_retry: list[bool] = []
    operation = Operation(failures=1)

    async def checks_the_other_task() -> str:
        if operation.calls:
            seen_on_retry.append(other_ran.is_set())
        return await operation()

    async def other() -> None:
        other_ran.set()

    task = asyncio.create_task(other())
    policy = RetryPolicy(attempts=2, wait_initial=0.05, wait_max=0.05, jitter=0)
    assert await policy.call(checks_the_other_task, flaky_is_transient, label="svc") == "ok"
    await task
    assert seen_on_retry == [True] and operation.calls == 2


# -- configuration -------------------------------------------------------------------


def test_from_environ_reads_the_prefixed_variables_over_defaults() -> None:
    environ = {
        "VAULT_RETRY_ATTEMPTS": "5",
        "VAULT_RETRY_DEADLINE": "7.5",
        "VAULT_RETRY_BACKOFF": "0.25",
        "VAULT_RETRY_BACKOFF_MAX": "4",
        "AWS_KMS_RETRY_ATTEMPTS": "9",  # another backend's
    }
    assert RetryPolicy.from_environ(environ, VAULT) == RetryPolicy(
        attempts=5, deadline=7.5, wait_initial=0.25, wait_max=4.0
    )
    assert RetryPolicy.from_environ({}, VAULT) == RetryPolicy()
    assert RetryPolicy.from_environ({"VAULT_RETRY_ATTEMPTS": " "}, VAULT, attempts=2) == RetryPolicy(attempts=2)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("VAULT_RETRY_ATTEMPTS", "0"),
        ("VAULT_RETRY_ATTEMPTS", str(MAX_ENV_ATTEMPTS + 1)),
        ("VAULT_RETRY_ATTEMPTS", "three"),
        ("VAULT_RETRY_ATTEMPTS", "-1"),
        ("VAULT_RETRY_DEADLINE", "0"),
        ("VAULT_RETRY_DEADLINE", "-2"),
        ("VAULT_RETRY_DEADLINE", "nan"),
        ("VAULT_RETRY_DEADLINE", "inf"),
        ("VAULT_RETRY_DEADLINE", "301"),
        ("VAULT_RETRY_BACKOFF", "soon"),
        ("VAULT_RETRY_BACKOFF_MAX", "-0.1"),
    ],
)
def test_from_environ_names_the_malformed_variable(variable: str, value: str) -> None:
    with pytest.raises(ConfigError) as raised:
        RetryPolicy.from_environ({variable: value}, VAULT)
    assert raised.value.variable == variable
    assert str(raised.value).startswith(f"{variable}: ")


# -- Retry-After and DeliveryFailure ---------------------------------------------------------


def test_parse_retry_after() -> None:
    now = 1_900_000_000.0
    assert parse_retry_after("120", now) == 120.0
    assert parse_retry_after(" 0 ", now) == 0.0
    assert parse_retry_after(email.utils.formatdate(now + 90, usegmt=True), now) == pytest.approx(90.0)
    assert parse_retry_after(email.utils.formatdate(now - 90, usegmt=True), now) == 0.0
    assert parse_retry_after("9" * 5000, now) == 1e9  # absurd, but bounded and no int() of 5000 digits
    for bad in (None, "", "-5", "1.5", "soon", "Tue, 99 Foo 2030 00:00:00 GMT", "Tue, 01 Jan 2030 00:00:00"):
        assert parse_retry_after(bad, now) is None, bad
    assert parse_retry_after("10") == 10.0 and time.time() > 0


def test_delivery_failure_carries_the_advice() -> None:
    failure = DeliveryFailure("receiver busy", retry_after=30.0)
    assert (str(failure), failure.retryable, failure.retry_after) == ("receiver busy", True, 30.0)
    assert DeliveryFailure("refused", retryable=False).retryable is False
