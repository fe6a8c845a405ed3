"""Builtin rotation notifiers: a log line (`log`) and a signed webhook (`webhook`).

`log` is always on: every RotationEvent is one line on the logger
`strongroom.rotation`, at WARNING for `rotation_due` and `rotation_failed`
and INFO for `rotated`.

`webhook` is enabled by configuration (environment or `.env`):

- STRONGROOM_ROTATION_WEBHOOK_URL: the http(s) URL events are POSTed to.
- STRONGROOM_WEBHOOK_SECRET: required with the URL, at least 16 characters;
  the HMAC key shared with the receiver.
- STRONGROOM_WEBHOOK_ATTEMPTS: ignored (a warning at start-up says so): each
  delivery is one POST and the notification outbox does the retrying.

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

Any 2xx answer is a delivery (the response body is never read). Each call
of `notify` is exactly one POST: the notification outbox
(graphql_api/services/notifications.py) is the one place that retries, with
jittered exponential backoff across restarts, so one event costs a receiver
at most as many POSTs as the outbox makes attempts. A failure raises
WebhookDeliveryError (a plugins.retries.DeliveryFailure) that tells the
outbox what to do: connection errors, timeouts, 408, 425, 429 and 5xx are
retryable, and their ``Retry-After: <seconds>`` (or HTTP date) is passed on
as the least wait before the next attempt; any other answer (3xx, 4xx) is
permanent and the outbox abandons the event at once. The message names the
URL's host and the status or exception type, never the URL's path or query,
the secret, or the body.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import fields
from typing import TYPE_CHECKING, Any

from plugins import ConfigError, hookimpl
from plugins.interfaces import PluginConfig, RotationEvent, RotationNotifier
from plugins.retries import DeliveryFailure, parse_retry_after

if TYPE_CHECKING:
    import httpx

logger = logging.getLogger("strongroom.notifications")
rotation_logger = logging.getLogger("strongroom.rotation")

URL_VARIABLE = "STRONGROOM_ROTATION_WEBHOOK_URL"
SECRET_VARIABLE = "STRONGROOM_WEBHOOK_SECRET"
ATTEMPTS_VARIABLE = "STRONGROOM_WEBHOOK_ATTEMPTS"

USER_AGENT = "strongroom-webhook/1"
SIGNATURE_SCHEME = "v1"
MIN_SECRET_LENGTH = 16
#: Answers below 500 worth another attempt later (with every 5xx).
RETRYABLE_STATUSES = frozenset({408, 425, 429})
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


class WebhookDeliveryError(DeliveryFailure):
    """One webhook delivery failed; the notification outbox decides what next.

    `retryable` is True for connection errors, timeouts, 408, 425, 429 and
    5xx (the outbox tries again later) and False for any other answer (3xx,
    4xx: retrying the same request cannot fix it, so the outbox abandons it);
    `retry_after` is the receiver's Retry-After in seconds, if it sent one.
    The message names the URL's host and the HTTP status or exception type;
    never the path, the query, the secret or the body.
    """

    def __init__(
        self,
        host: str,
        reason: str,
        status_code: int | None = None,
        *,
        retryable: bool = True,
        retry_after: float | None = None,
    ) -> None:
        note = "" if retryable else " (not retried)"
        if retry_after is not None:
            note = f" (Retry-After {retry_after:.0f}s)"
        super().__init__(
            f"rotation webhook to {host} failed: {reason}{note}", retryable=retryable, retry_after=retry_after
        )
        self.host = host
        self.reason = reason
        self.status_code = status_code


def _parse_url(url: str) -> httpx.URL:
    # httpx is imported by the webhook only: with its command-line extras it
    # was 80 ms of every server's start, for a notifier most never configure.
    import httpx

    problem = ConfigError(URL_VARIABLE, "must be an absolute http or https URL with a host")
    if not isinstance(url, str) or not url.strip() or any(c.isspace() for c in url.strip()):
        raise problem
    try:
        parsed = httpx.URL(url.strip())
    except (httpx.InvalidURL, TypeError, ValueError):
        raise problem from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise problem
    return parsed


def _retryable_status(status: int) -> bool:
    return status in RETRYABLE_STATUSES or status >= 500


class WebhookNotifier:
    """RotationNotifier POSTing each event, HMAC-signed, to one URL: one POST per `notify`."""

    name = "webhook"

    def __init__(
        self,
        url: str,
        secret: str,
        *,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        import httpx  # only with a webhook configured (see _parse_url)

        self._url = _parse_url(url)
        if not isinstance(secret, str) or not secret:
            raise ConfigError(SECRET_VARIABLE, f"required when {URL_VARIABLE} is set")
        if len(secret) < MIN_SECRET_LENGTH:
            raise ConfigError(SECRET_VARIABLE, f"must be at least {MIN_SECRET_LENGTH} characters")
        if timeout <= 0:
            raise ValueError("webhook timeout must be positive")
        self._secret = secret.encode("utf-8")
        self.timeout = float(timeout)
        self.host = self._url.host if self._url.port is None else f"{self._url.host}:{self._url.port}"
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(self.timeout),
            follow_redirects=False,
            headers={"User-Agent": USER_AGENT},
            transport=transport,
        )
        self._closed = False

    @classmethod
    def from_environ(cls, environ: Mapping[str, str], **options: Any) -> WebhookNotifier | None:
        """The notifier configured by the environment, or None without a URL."""
        url = environ.get(URL_VARIABLE, "").strip()
        if not url:
            return None
        _parse_url(url)  # name the URL as the problem before the secret
        secret = environ.get(SECRET_VARIABLE, "").strip()
        if environ.get(ATTEMPTS_VARIABLE, "").strip():
            logger.warning(
                "%s is ignored: each delivery is one POST and the notification outbox retries failed ones",
                ATTEMPTS_VARIABLE,
            )
        return cls(url, secret, **options)

    def __repr__(self) -> str:
        return f"<WebhookNotifier {self._url.scheme}://{self.host}>"

    async def notify(self, event: RotationEvent) -> None:
        """One signed POST of the event; raises WebhookDeliveryError unless answered 2xx.

        No retry here: the notification outbox retries each failed delivery
        with backoff (honouring Retry-After) across restarts, so a retry loop
        inside would multiply the POSTs a receiver sees per event.
        """
        import httpx  # loaded by __init__ already: a dictionary lookup

        if self._closed:
            raise WebhookDeliveryError(self.host, "notifier is closed")
        body = event_body(event)
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "X-Strongroom-Event": event.kind,
            "X-Strongroom-Event-Id": event.id,
            "X-Strongroom-Timestamp": timestamp,
            "X-Strongroom-Signature": compute_signature(self._secret, timestamp, body),
        }
        transport_error: str | None = None
        try:
            request = self._client.build_request("POST", self._url, content=body, headers=headers)
            response = await self._client.send(request, stream=True)
        except httpx.TransportError as exc:
            transport_error = type(exc).__name__
        else:
            await response.aclose()  # the answer's body is never read
        # Raised outside the except block: no httpx exception chained to log.
        if transport_error is not None:
            raise WebhookDeliveryError(self.host, transport_error)
        status = response.status_code
        if 200 <= status < 300:
            return
        retryable = _retryable_status(status)
        retry_after = parse_retry_after(response.headers.get("Retry-After")) if retryable else None
        raise WebhookDeliveryError(self.host, f"HTTP {status}", status, retryable=retryable, retry_after=retry_after)

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
