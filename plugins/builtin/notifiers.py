"""Builtin rotation notifiers: a log line (`log`) and a signed webhook (`webhook`).

`log` is always on: every RotationEvent is one line on the logger
`strongroom.rotation`, at WARNING for `rotation_due` and `rotation_failed`
and INFO for `rotated`.

`webhook` is enabled by configuration (environment or `.env`):

- STRONGROOM_ROTATION_WEBHOOK_URL: the http(s) URL events are POSTed to.
- STRONGROOM_WEBHOOK_SECRET: required with the URL, at least 16 characters;
  the HMAC key shared with the receiver.
- STRONGROOM_WEBHOOK_ATTEMPTS: optional, deliveries tried per event (1..10,
  default 3).

The request
-----------

Each event is one ``POST`` whose body is the event as JSON: the fields of
RotationEvent (`id`, `kind`, `workspace_id`, `secret_id`, `secret_name`,
`secret_type`, `rotation_policy`, `rotation_due_at`, `version`,
`occurred_at`, `details`), keys sorted, no whitespace, non-ASCII escaped. It
never holds a secret value. Headers::

    Content-Type: application/json
    User-Agent: strongroom-webhook/1
    X-Strongroom-Event: <kind>
    X-Strongroom-Event-Id: <event id>
    X-Strongroom-Timestamp: <unix seconds, decimal>
    X-Strongroom-Signature: v1=<hex HMAC-SHA256>

Verifying a request (receivers)
-------------------------------

1. Read the raw body bytes before any JSON parsing.
2. Compute ``HMAC-SHA256(key=UTF-8 bytes of the secret, message=timestamp +
   "." + raw body)`` where timestamp is the X-Strongroom-Timestamp header
   exactly as sent, and hex-encode it (lowercase).
3. The X-Strongroom-Signature header is a comma-separated list of
   ``<scheme>=<signature>`` entries (one today); accept when a ``v1`` entry
   equals ``v1=<your hex digest>`` under a constant-time comparison, and
   ignore schemes you do not know.
4. Reject timestamps more than 5 minutes from your clock, so a captured
   request cannot be replayed later.
5. Deduplicate on X-Strongroom-Event-Id: an event is delivered at least
   once (a retry after a timeout may repeat a request that did arrive), and
   its id and body stay the same across retries. Each attempt is signed with
   a fresh timestamp.

`verify_signature` does steps 2 to 4 for Python receivers.

Delivery
--------

Any 2xx answer is a delivery (the response body is never read). Connection
errors, timeouts, 5xx and 429 are retried inside `notify` with exponential
backoff (`base_delay` doubled per attempt, jittered, at most `max_delay`); a
429 or 503 with ``Retry-After: <seconds>`` (or an HTTP date) waits that long
instead, capped at `max_delay`. Any other answer (3xx, 4xx) fails at once.
A delivery that fails raises WebhookDeliveryError, whose message names the
URL's host and the last status or exception type, never the URL's path or
query, the secret, or the body; Strongroom then retries the event later.
"""

from __future__ import annotations

import asyncio
import email.utils
import hashlib
import hmac
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import fields
from typing import Any

import httpx
import pluggy

from plugins.interfaces import PluginConfig, RotationEvent, RotationNotifier

hookimpl = pluggy.HookimplMarker("strongroom")
logger = logging.getLogger(__name__)
rotation_logger = logging.getLogger("strongroom.rotation")

URL_VARIABLE = "STRONGROOM_ROTATION_WEBHOOK_URL"
SECRET_VARIABLE = "STRONGROOM_WEBHOOK_SECRET"
ATTEMPTS_VARIABLE = "STRONGROOM_WEBHOOK_ATTEMPTS"

USER_AGENT = "strongroom-webhook/1"
SIGNATURE_SCHEME = "v1"
MIN_SECRET_LENGTH = 16
MAX_ATTEMPTS = 10
DEFAULT_TOLERANCE_SECONDS = 300
_EVENT_FIELDS = tuple(f.name for f in fields(RotationEvent))
_MAX_SIGNATURE_ENTRIES = 16


# -- signing -------------------------------------------------------------------


def _as_bytes(value: str | bytes) -> bytes:
    return value.encode("utf-8") if isinstance(value, str) else bytes(value)


def compute_signature(secret: str | bytes, timestamp: str | int, body: str | bytes) -> str:
    """The X-Strongroom-Signature value for a body sent at `timestamp`: "v1=<hex>"."""
    message = str(timestamp).encode("ascii") + b"." + _as_bytes(body)
    digest = hmac.new(_as_bytes(secret), message, hashlib.sha256).hexdigest()
    return f"{SIGNATURE_SCHEME}={digest}"


def verify_signature(
    secret: str | bytes,
    timestamp: str | int,
    body: str | bytes,
    header: str,
    tolerance_seconds: float = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> bool:
    """Whether a webhook request is authentic and fresh.

    `timestamp` and `header` are the X-Strongroom-Timestamp and
    X-Strongroom-Signature headers as received, `body` the raw body. False
    for a malformed timestamp, one more than `tolerance_seconds` away from
    `now` (default: the current time) in either direction, or no matching
    `v1` signature. Comparisons are constant-time.
    """
    if isinstance(timestamp, bool):
        return False
    if isinstance(timestamp, int):
        stamp_text = str(timestamp)
    elif isinstance(timestamp, str) and timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 15:
        stamp_text = timestamp
    else:
        return False
    moment = time.time() if now is None else now
    if abs(moment - int(stamp_text)) > tolerance_seconds:
        return False
    if not isinstance(header, str):
        return False
    expected = compute_signature(secret, stamp_text, body).encode("ascii")
    entries = [entry.strip() for entry in header.split(",")][:_MAX_SIGNATURE_ENTRIES]
    matched = False
    for entry in entries:
        if entry.startswith(f"{SIGNATURE_SCHEME}="):
            matched |= hmac.compare_digest(entry.encode("utf-8"), expected)
    return matched


def event_payload(event: RotationEvent) -> dict[str, Any]:
    """The event's fields as a JSON-able mapping (snake_case, as on the wire)."""
    payload = {name: getattr(event, name) for name in _EVENT_FIELDS}
    payload["details"] = dict(payload["details"] or {})
    return payload


def event_body(event: RotationEvent) -> bytes:
    """The exact bytes POSTed (and signed) for an event."""
    text = json.dumps(event_payload(event), sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=str)
    return text.encode("ascii")


# -- log -----------------------------------------------------------------------


def _one_line(value: object) -> str:
    text = str(value)
    return text if text.isprintable() else text.encode("unicode_escape").decode("ascii")


class LogNotifier:
    """RotationNotifier writing one log line per event on `strongroom.rotation`."""

    name = "log"

    def __init__(self, log: logging.Logger | None = None) -> None:
        self._logger = log or rotation_logger

    def __repr__(self) -> str:
        return f"<LogNotifier {self._logger.name}>"

    async def notify(self, event: RotationEvent) -> None:
        level = logging.INFO if event.kind == "rotated" else logging.WARNING
        details = event_payload(event)["details"]
        self._logger.log(
            level,
            "rotation %s: workspace=%s secret=%s secret_id=%s type=%s policy=%s due=%s version=%s event_id=%s%s",
            _one_line(event.kind),
            _one_line(event.workspace_id),
            _one_line(event.secret_name),
            _one_line(event.secret_id),
            _one_line(event.secret_type),
            _one_line(event.rotation_policy),
            _one_line(event.rotation_due_at or "-"),
            event.version,
            _one_line(event.id),
            " details=" + json.dumps(details, sort_keys=True, separators=(",", ":"), default=str) if details else "",
        )

    async def aclose(self) -> None:
        return None


# -- webhook -------------------------------------------------------------------


class WebhookDeliveryError(Exception):
    """A webhook delivery failed for good (after its last attempt, or at once
    for an answer that retrying cannot fix).

    The message names the URL's host and the last HTTP status or exception
    type; never the path, the query, the secret or the body.
    """

    def __init__(self, host: str, attempts: int, reason: str, status_code: int | None = None) -> None:
        plural = "" if attempts == 1 else "s"
        super().__init__(f"rotation webhook to {host} failed after {attempts} attempt{plural}: {reason}")
        self.host = host
        self.attempts = attempts
        self.reason = reason
        self.status_code = status_code


def _parse_url(url: str) -> httpx.URL:
    problem = f"{URL_VARIABLE}: must be an absolute http or https URL with a host"
    if not isinstance(url, str) or not url.strip() or any(c.isspace() for c in url.strip()):
        raise ValueError(problem)
    try:
        parsed = httpx.URL(url.strip())
    except (httpx.InvalidURL, TypeError, ValueError):
        raise ValueError(problem) from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ValueError(problem)
    return parsed


def _parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP date)."""
    if value is None:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(int(value[:12]))
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        return None
    return max(0.0, moment.timestamp() - time.time())


class WebhookNotifier:
    """RotationNotifier POSTing each event, HMAC-signed, to one URL."""

    name = "webhook"

    def __init__(
        self,
        url: str,
        secret: str,
        *,
        attempts: int = 3,
        base_delay: float = 0.5,
        max_delay: float = 8.0,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._url = _parse_url(url)
        if not isinstance(secret, str) or not secret:
            raise ValueError(f"{SECRET_VARIABLE}: required when {URL_VARIABLE} is set")
        if len(secret) < MIN_SECRET_LENGTH:
            raise ValueError(f"{SECRET_VARIABLE}: must be at least {MIN_SECRET_LENGTH} characters")
        if isinstance(attempts, bool) or not isinstance(attempts, int) or not 1 <= attempts <= MAX_ATTEMPTS:
            raise ValueError(f"{ATTEMPTS_VARIABLE}: must be an integer between 1 and {MAX_ATTEMPTS}")
        if base_delay < 0 or max_delay < 0:
            raise ValueError("webhook backoff delays must not be negative")
        if timeout <= 0:
            raise ValueError("webhook timeout must be positive")
        self._secret = secret.encode("utf-8")
        self.attempts = attempts
        self.base_delay = float(base_delay)
        self.max_delay = float(max_delay)
        self.timeout = float(timeout)
        self.host = self._url.host if self._url.port is None else f"{self._url.host}:{self._url.port}"
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(self.timeout),
            follow_redirects=False,
            headers={"User-Agent": USER_AGENT},
            transport=transport,
        )
        self._closed = False
        #: How backoff waits; a test may replace it to record the delays.
        self._sleep: Callable[[float], Awaitable[None]] = asyncio.sleep

    @classmethod
    def from_environ(cls, environ: Mapping[str, str], **options: Any) -> WebhookNotifier | None:
        """The notifier configured by the environment, or None without a URL."""
        url = environ.get(URL_VARIABLE, "").strip()
        if not url:
            return None
        _parse_url(url)  # name the URL as the problem before the secret
        secret = environ.get(SECRET_VARIABLE, "").strip()
        raw_attempts = environ.get(ATTEMPTS_VARIABLE, "").strip()
        if raw_attempts:
            if not (raw_attempts.isascii() and raw_attempts.isdigit()) or not 1 <= int(raw_attempts) <= MAX_ATTEMPTS:
                raise ValueError(f"{ATTEMPTS_VARIABLE}: must be an integer between 1 and {MAX_ATTEMPTS}")
            options.setdefault("attempts", int(raw_attempts))
        return cls(url, secret, **options)

    def __repr__(self) -> str:
        return f"<WebhookNotifier {self._url.scheme}://{self.host} attempts={self.attempts}>"

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(self.max_delay, retry_after)
        ceiling = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        return random.uniform(ceiling / 2, ceiling)

    async def notify(self, event: RotationEvent) -> None:
        if self._closed:
            raise WebhookDeliveryError(self.host, 0, "notifier is closed")
        body = event_body(event)
        reason = "not attempted"
        status: int | None = None
        for attempt in range(1, self.attempts + 1):
            timestamp = str(int(time.time()))
            headers = {
                "Content-Type": "application/json",
                "X-Strongroom-Event": event.kind,
                "X-Strongroom-Event-Id": event.id,
                "X-Strongroom-Timestamp": timestamp,
                "X-Strongroom-Signature": compute_signature(self._secret, timestamp, body),
            }
            retry_after: float | None = None
            try:
                request = self._client.build_request("POST", self._url, content=body, headers=headers)
                response = await self._client.send(request, stream=True)
            except httpx.TransportError as exc:
                reason, status = type(exc).__name__, None
            else:
                await response.aclose()  # the answer's body is never read
                status = response.status_code
                if 200 <= status < 300:
                    if attempt > 1:
                        logger.info(
                            "rotation webhook to %s: event %s delivered on attempt %d", self.host, event.id, attempt
                        )
                    return
                reason = f"HTTP {status}"
                if status != 429 and status < 500:
                    raise WebhookDeliveryError(self.host, attempt, reason, status)
                if status in (429, 503):
                    retry_after = _parse_retry_after(response.headers.get("Retry-After"))
            if attempt < self.attempts:
                delay = self._backoff(attempt, retry_after)
                logger.info(
                    "rotation webhook to %s: %s for event %s (attempt %d of %d), retrying in %.2fs",
                    self.host,
                    reason,
                    event.id,
                    attempt,
                    self.attempts,
                    delay,
                )
                await self._sleep(delay)
        raise WebhookDeliveryError(self.host, self.attempts, reason, status)

    async def aclose(self) -> None:
        self._closed = True
        await self._client.aclose()


@hookimpl(trylast=True)
def register_rotation_notifiers(config: PluginConfig) -> Iterable[RotationNotifier]:
    notifiers: list[RotationNotifier] = [LogNotifier()]
    webhook = WebhookNotifier.from_environ(config.environ)
    if webhook is not None:
        notifiers.append(webhook)
    return notifiers
