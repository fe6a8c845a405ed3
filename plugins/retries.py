"""One retry policy for calls to remote services (AWS KMS, Vault, webhooks).

`RetryPolicy` says how often and how long to try: `attempts` in all,
exponential backoff from `wait_initial` doubling up to `wait_max`, each wait
jittered (drawn in ``[(1 - jitter) * w, w]`` so that clients failing together
do not retry together), and a total `deadline` for all attempts and waits.
What is worth retrying is the caller's decision: `call` takes a classifier
that maps an exception to `Transient` (retry, with a safe reason and maybe the
service's Retry-After) or None (raise it as it is).

`call` runs on stamina's retry loop: stamina stops after `attempts` or at the
deadline, runs its instrumentation hooks, and has a test mode
(``stamina.set_testing(True, attempts=..., cap=True)``) that keeps the
attempts and makes every wait zero. The waits themselves are computed here
(`next_wait`), so the deadline and Retry-After shape them:

- A Retry-After is a floor: the wait is ``max(backoff, retry_after)``
  (capped by `retry_after_max` when set), so a server asking for a pause
  gets at least that pause.
- The deadline caps everything: when the next wait would end past it, the
  policy gives up at once instead of sleeping for an attempt that has no time
  left; each attempt is also cut at the deadline (`asyncio.timeout`), so a
  hanging service cannot hold the caller longer.

Sync libraries (boto3, hvac) are called in threads by their backends; the
policy is async and waits on the event loop, never in a worker thread.

Nothing unsafe reaches a log or a metric: stamina's hooks and this module's
log line see only the classifier's `reason` (an internal exception carries
it), never the original exception, whose text may echo a request.

`DeliveryFailure` is the other half, for work retried durably rather than in
process (the rotation notification outbox): a notifier raises it to say
whether trying again can help and when, and the outbox schedules the next
attempt with `RetryPolicy.next_wait`.

`parse_retry_after` reads an HTTP Retry-After header (delta-seconds or an
HTTP date).
"""

from __future__ import annotations

import asyncio
import dataclasses
import email.utils
import logging
import math
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple, TypeVar

import stamina

from plugins import ConfigError

logger = logging.getLogger("strongroom.retries")

T = TypeVar("T")

#: Bounds of the variables read by `RetryPolicy.from_environ`.
MAX_ENV_ATTEMPTS = 10
MAX_ENV_SECONDS = 300.0
#: Longer Retry-After values are read as this many seconds (then capped or refused by the policy).
_RETRY_AFTER_CEILING = 10.0**9


class RetryVariables(NamedTuple):
    """The names of a plugin's retry settings, spelled out so a reader (and the
    README check) finds them: `<PREFIX>_RETRY_ATTEMPTS` (1..10),
    `_RETRY_DEADLINE` (seconds, above 0), `_RETRY_BACKOFF` and
    `_RETRY_BACKOFF_MAX` (seconds, 0 or more; each at most 300)."""

    attempts: str
    deadline: str
    backoff: str
    backoff_max: str


@dataclass(frozen=True)
class Transient:
    """A classifier's verdict on a failure: it may succeed if tried again.

    `reason` is logged and may end up in an error message: a short text that
    names no secret and does not echo the service's own error text.
    `retry_after` is the wait the service asked for (seconds), if any.
    """

    reason: str
    retry_after: float | None = None


#: Maps an exception raised by one attempt to Transient (retry it) or None (raise it).
Classifier = Callable[[Exception], Transient | None]


class RetriesExhausted(Exception):
    """Every attempt failed with a transient error, or the deadline came first.

    `reason` is the last Transient reason, followed by a note when the
    deadline ended the retries; `attempts` how many were made. Callers turn
    it into their own domain error (KeyUnavailable).
    """

    def __init__(self, label: str, reason: str, attempts: int, *, deadline_reached: bool = False) -> None:
        plural = "" if attempts == 1 else "s"
        super().__init__(f"{label}: {reason} (after {attempts} attempt{plural})")
        self.label = label
        self.reason = reason
        self.attempts = attempts
        self.deadline_reached = deadline_reached


class DeliveryFailure(Exception):
    """A failed delivery that says whether trying again can help, and when.

    A rotation notifier raises it from `notify`; the notification outbox reads
    `retryable` (False: retrying cannot fix it, abandon now) and `retry_after`
    (seconds the receiver asked to wait, or None) to schedule the next
    attempt. Any other exception counts as retryable with the outbox's
    backoff. The message is recorded in the audit trail: it holds no secret.
    """

    def __init__(self, message: str, *, retryable: bool = True, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after


class _Retry(Exception):
    """Carries a Transient verdict through stamina (so its hooks never see the original error)."""

    def __init__(self, reason: str, retry_after: float | None, *, deadline_reached: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after
        self.deadline_reached = deadline_reached


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date.

    None when absent or malformed; a date in the past is 0. `now` is the
    current Unix time (default: the clock).
    """
    if value is None:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(int(value)) if len(value) <= 10 else _RETRY_AFTER_CEILING
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        return None
    return max(0.0, moment.timestamp() - (time.time() if now is None else now))


def _seconds(value: float, name: str, *, allow_zero: bool = True) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number of seconds")
    if value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"{name} must be {'at least 0' if allow_zero else 'positive'}")
    return float(value)


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry one call (see the module docstring)."""

    attempts: int = 3
    wait_initial: float = 0.1
    wait_max: float = 2.0
    jitter: float = 0.5
    deadline: float | None = 20.0
    retry_after_max: float | None = None

    def __post_init__(self) -> None:
        if isinstance(self.attempts, bool) or not isinstance(self.attempts, int) or self.attempts < 1:
            raise ValueError("attempts must be at least 1")
        _seconds(self.wait_initial, "wait_initial")
        _seconds(self.wait_max, "wait_max")
        if isinstance(self.jitter, bool) or not isinstance(self.jitter, int | float) or not 0 <= self.jitter <= 1:
            raise ValueError("jitter must be between 0 and 1")
        if self.deadline is not None:
            _seconds(self.deadline, "deadline", allow_zero=False)
        if self.retry_after_max is not None:
            _seconds(self.retry_after_max, "retry_after_max")

    @classmethod
    def from_environ(cls, environ: Mapping[str, str], variables: RetryVariables, **defaults: Any) -> RetryPolicy:
        """The policy set by a plugin's retry variables over `defaults` (field values).

        Raises ConfigError (a ValueError) naming the variable for a malformed value.
        """
        fields: dict[str, Any] = dict(defaults)
        raw = (environ.get(variables.attempts) or "").strip()
        if raw:
            if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_ENV_ATTEMPTS:
                raise ConfigError(variables.attempts, f"must be an integer between 1 and {MAX_ENV_ATTEMPTS}")
            fields["attempts"] = int(raw)
        for variable, field_name, allow_zero in (
            (variables.deadline, "deadline", False),
            (variables.backoff, "wait_initial", True),
            (variables.backoff_max, "wait_max", True),
        ):
            raw = (environ.get(variable) or "").strip()
            if not raw:
                continue
            try:
                seconds = float(raw)
            except ValueError:
                seconds = math.nan
            if (
                not math.isfinite(seconds)
                or seconds < 0
                or (seconds == 0 and not allow_zero)
                or seconds > MAX_ENV_SECONDS
            ):
                low = "from 0" if allow_zero else "above 0"
                raise ConfigError(variable, f"must be a number of seconds {low} up to {MAX_ENV_SECONDS:g}")
            fields[field_name] = seconds
        return cls(**fields)

    def updated(self, **changes: Any) -> RetryPolicy:
        """A copy with the given fields changed; None values change nothing."""
        return dataclasses.replace(self, **{name: value for name, value in changes.items() if value is not None})

    def backoff(self, retry: int) -> float:
        """The jittered wait before retry number `retry` (1 for the first retry)."""
        ceiling = min(self.wait_max, self.wait_initial * 2.0 ** min(max(retry, 1) - 1, 64))
        return ceiling - random.uniform(0, ceiling * self.jitter)

    def next_wait(self, retry: int, retry_after: float | None = None, remaining: float | None = None) -> float | None:
        """The wait before retry number `retry`, or None to give up.

        `retry_after` is a floor (capped by `retry_after_max`); `remaining`
        is the time left before the deadline: a wait that would reach it is
        refused.
        """
        wait = self.backoff(retry)
        if retry_after is not None and retry_after > 0:
            advised = retry_after if self.retry_after_max is None else min(retry_after, self.retry_after_max)
            wait = max(wait, advised)
        if remaining is not None and wait >= remaining:
            return None
        return wait

    async def call(
        self,
        operation: Callable[[], Awaitable[T]],
        classify: Classifier,
        *,
        label: str,
        log: logging.Logger | None = None,
    ) -> T:
        """Await `operation()` until it succeeds, retrying what `classify` calls Transient.

        An exception `classify` maps to None is raised as it is, at once.
        When the attempts or the deadline run out: RetriesExhausted. `label`
        names the call in logs and errors ("vault key app:v1"): no secrets.
        """
        log = log or logger
        started = time.monotonic()
        deadline = None if self.deadline is None else started + self.deadline
        made = 0

        def retry_on(exc: Exception) -> bool | float:
            if not isinstance(exc, _Retry) or made >= self.attempts or exc.deadline_reached:
                return False
            remaining = None if deadline is None else deadline - time.monotonic()
            wait = self.next_wait(made, exc.retry_after, remaining)
            if wait is None:
                exc.deadline_reached = True
                exc.reason = f"{exc.reason} (retry deadline of {self.deadline:g}s reached)"
                return False
            log.info("%s: %s, retry %d of %d in %.2fs", label, exc.reason, made, self.attempts - 1, wait)
            return wait

        try:
            async for attempt in stamina.retry_context(on=retry_on, attempts=self.attempts, timeout=self.deadline):
                with attempt:
                    made += 1
                    return await self._attempt(operation, classify, deadline)
        except _Retry as exc:
            raise RetriesExhausted(label, exc.reason, made, deadline_reached=exc.deadline_reached) from None
        raise AssertionError("unreachable: stamina either returns or raises")  # pragma: no cover

    async def _attempt(self, operation: Callable[[], Awaitable[T]], classify: Classifier, deadline: float | None) -> T:
        scope = asyncio.timeout(None if deadline is None else max(0.0, deadline - time.monotonic()))
        try:
            async with scope:
                return await operation()
        except Exception as exc:
            if scope.expired():
                reason = f"no answer within the retry deadline of {self.deadline:g}s"
                raise _Retry(reason, None, deadline_reached=True) from None
            verdict = classify(exc)
            if verdict is None:
                raise
            raise _Retry(verdict.reason, verdict.retry_after) from None
