"""The builtin rotation notifiers (plugins/builtin/notifiers.py).

The webhook is tested against a real HTTP receiver: a Starlette app served by
uvicorn on 127.0.0.1 in a background thread, which records every request,
checks its signature with `verify_signature` (as a Python receiver would) and
can be told how to answer the next requests.
"""

from __future__ import annotations

import email.utils
import json
import logging
import re
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pluggy
import pytest
import pytest_asyncio

from plugins import hookspecs
from plugins.builtin import notifiers
from plugins.builtin.notifiers import (
    ATTEMPTS_VARIABLE,
    SECRET_VARIABLE,
    URL_VARIABLE,
    LogNotifier,
    WebhookDeliveryError,
    WebhookNotifier,
    compute_signature,
    event_body,
    register_rotation_notifiers,
    verify_signature,
)
from plugins.interfaces import PluginConfig, RotationEvent, RotationNotifier
from plugins.retries import DeliveryFailure
from tests.process import closed_port_url
from tests.support.webhook_receiver import PATH, SECRET, Receiver

FAST: dict[str, Any] = {"timeout": 5.0}


# -- the receiver ---------------------------------------------------------------


@pytest.fixture
def receiver(served_receiver: Receiver) -> Iterator[Receiver]:
    served_receiver.reset()
    yield served_receiver
    served_receiver.reset()


MakeNotifier = Callable[..., WebhookNotifier]


@pytest_asyncio.fixture
async def make_notifier(receiver: Receiver) -> AsyncIterator[MakeNotifier]:
    made: list[WebhookNotifier] = []

    def make(url: str | None = None, **overrides: Any) -> WebhookNotifier:
        notifier = WebhookNotifier(url or receiver.url, SECRET, **{**FAST, **overrides})
        made.append(notifier)
        return notifier

    yield make
    for notifier in made:
        await notifier.aclose()


def make_event(kind: str = "rotated", **overrides: Any) -> RotationEvent:
    fields: dict[str, Any] = {
        "id": "evt-0001",
        "kind": kind,
        "workspace_id": "default",
        "secret_id": "00000000-0000-0000-0000-000000000001",
        "secret_name": "db-password",
        "secret_type": "PASSWORD",
        "rotation_policy": "AUTO_30_DAYS",
        "rotation_due_at": "2030-01-31T00:00:00+00:00",
        "version": 3,
        "occurred_at": "2030-01-01T00:00:00+00:00",
        "details": {"generator": "random"},
    }
    fields.update(overrides)
    return RotationEvent(**fields)


# -- the request and its signature ------------------------------------------------


@pytest.mark.asyncio
async def test_delivery_is_signed_and_verifies(receiver: Receiver, make_notifier: MakeNotifier) -> None:
    event = make_event("rotation_due")
    await make_notifier().notify(event)

    assert len(receiver.requests) == 1
    (request,) = receiver.delivered
    assert request.verified
    headers = request.headers
    assert headers["content-type"] == "application/json"
    assert headers["user-agent"] == "strongroom-webhook/1"
    assert headers["x-strongroom-event"] == "rotation_due"
    assert headers["x-strongroom-event-id"] == "evt-0001"
    assert abs(int(headers["x-strongroom-timestamp"]) - time.time()) < 5
    assert re.fullmatch(r"v1=[0-9a-f]{64}", headers["x-strongroom-signature"])
    assert headers["x-strongroom-signature"] == compute_signature(
        SECRET, headers["x-strongroom-timestamp"], request.body
    )

    payload = json.loads(request.body)
    assert payload == {
        "id": "evt-0001",
        "kind": "rotation_due",
        "workspace_id": "default",
        "secret_id": "00000000-0000-0000-0000-000000000001",
        "secret_name": "db-password",
        "secret_type": "PASSWORD",
        "rotation_policy": "AUTO_30_DAYS",
        "rotation_due_at": "2030-01-31T00:00:00+00:00",
        "version": 3,
        "occurred_at": "2030-01-01T00:00:00+00:00",
        "details": {"generator": "random"},
    }
    # Sorted keys, compact: the exact bytes a receiver must sign over.
    assert request.body == json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
    assert request.body == event_body(event)


@pytest.mark.asyncio
async def test_tampered_body_stale_timestamp_or_wrong_secret_fail_verification(
    receiver: Receiver, make_notifier: MakeNotifier
) -> None:
    await make_notifier().notify(make_event())
    (request,) = receiver.delivered
    timestamp = request.headers["x-strongroom-timestamp"]
    signature = request.headers["x-strongroom-signature"]
    body = request.body
    stamp = int(timestamp)

    assert verify_signature(SECRET, timestamp, body, signature, now=stamp)
    assert verify_signature(SECRET, stamp, body.decode(), signature, now=stamp)
    # Tampering.
    assert not verify_signature(SECRET, timestamp, body.replace(b'"version":3', b'"version":4'), signature, now=stamp)
    assert not verify_signature(SECRET, timestamp, body + b" ", signature, now=stamp)
    assert not verify_signature(SECRET, str(stamp + 1), body, signature, now=stamp)
    assert not verify_signature(SECRET + "x", timestamp, body, signature, now=stamp)
    assert not verify_signature(
        SECRET, timestamp, body, signature[:-1] + ("0" if signature[-1] != "0" else "1"), now=stamp
    )
    # Freshness: within the tolerance either way, and no further.
    assert verify_signature(SECRET, timestamp, body, signature, now=stamp + 300)
    assert not verify_signature(SECRET, timestamp, body, signature, now=stamp + 301)
    assert not verify_signature(SECRET, timestamp, body, signature, now=stamp - 301)
    assert not verify_signature(SECRET, timestamp, body, signature, tolerance_seconds=10, now=stamp + 11)
    # Malformed input is a refusal, not an exception.
    assert not verify_signature(SECRET, "", body, signature, now=stamp)
    assert not verify_signature(SECRET, "12.5", body, signature, now=stamp)
    assert not verify_signature(SECRET, timestamp, body, "", now=stamp)
    assert not verify_signature(SECRET, timestamp, body, signature.removeprefix("v1="), now=stamp)
    assert not verify_signature(SECRET, timestamp, body, "v0=" + signature.removeprefix("v1="), now=stamp)
    assert not verify_signature(SECRET, timestamp, body, "v1=ünïcode", now=stamp)
    # Several entries (a receiver rotating its secret): any v1 match suffices.
    other = compute_signature("another-secret-0123456789", timestamp, body)
    assert verify_signature(SECRET, timestamp, body, f"{other}, v2=abc, {signature}", now=stamp)


@pytest.mark.asyncio
async def test_each_attempt_is_signed_with_its_own_timestamp_same_body_and_id(
    receiver: Receiver, make_notifier: MakeNotifier
) -> None:
    receiver.fail_next(1, 500)
    notifier = make_notifier()
    with pytest.raises(WebhookDeliveryError):
        await notifier.notify(make_event())
    await notifier.notify(make_event())
    first, second = receiver.requests
    assert first.verified and second.verified
    assert first.body == second.body
    assert first.headers["x-strongroom-event-id"] == second.headers["x-strongroom-event-id"] == "evt-0001"


# -- one POST per delivery: the outbox retries ------------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize("status", [500, 502, 503, 504, 408, 425, 429])
async def test_a_retryable_answer_is_one_post_and_says_retry(
    receiver: Receiver, make_notifier: MakeNotifier, status: int
) -> None:
    receiver.fail_next(5, status)
    notifier = make_notifier()
    with pytest.raises(WebhookDeliveryError) as raised:
        await notifier.notify(make_event())
    assert len(receiver.requests) == 1 and not receiver.delivered  # no retry inside the notifier
    error = raised.value
    assert isinstance(error, DeliveryFailure) and error.retryable is True
    assert (error.status_code, error.host, error.retry_after) == (status, notifier.host, None)
    assert str(error) == f"rotation webhook to {notifier.host} failed: HTTP {status}"


@pytest.mark.asyncio
@pytest.mark.parametrize("status", [301, 302, 400, 401, 403, 404, 410, 422])
async def test_a_permanent_answer_is_one_post_and_says_do_not_retry(
    receiver: Receiver, make_notifier: MakeNotifier, status: int
) -> None:
    receiver.fail_next(5, status, retry_after="60")  # a Retry-After on a refusal changes nothing
    with pytest.raises(WebhookDeliveryError) as raised:
        await make_notifier().notify(make_event())
    assert len(receiver.requests) == 1
    error = raised.value
    assert error.retryable is False and error.retry_after is None and error.status_code == status
    assert str(error).endswith(f"HTTP {status} (not retried)")


@pytest.mark.asyncio
async def test_retry_after_in_seconds_is_passed_to_the_outbox(receiver: Receiver, make_notifier: MakeNotifier) -> None:
    receiver.fail_next(1, 429, retry_after="120")
    with pytest.raises(WebhookDeliveryError) as raised:
        await make_notifier().notify(make_event())
    assert raised.value.retry_after == 120.0 and raised.value.retryable is True
    assert "HTTP 429 (Retry-After 120s)" in str(raised.value)
    assert len(receiver.requests) == 1


@pytest.mark.asyncio
async def test_retry_after_as_an_http_date_is_passed_to_the_outbox(
    receiver: Receiver, make_notifier: MakeNotifier
) -> None:
    when = email.utils.formatdate(time.time() + 600, usegmt=True)
    receiver.fail_next(1, 503, retry_after=when)
    with pytest.raises(WebhookDeliveryError) as raised:
        await make_notifier().notify(make_event())
    retry_after = raised.value.retry_after
    assert retry_after is not None and 590 <= retry_after <= 600


@pytest.mark.asyncio
@pytest.mark.parametrize("header", ["soon", "-5", "1.5", "Tue, 99 Foo 2030", ""])
async def test_a_malformed_retry_after_is_ignored(receiver: Receiver, make_notifier: MakeNotifier, header: str) -> None:
    receiver.fail_next(1, 503, retry_after=header)
    with pytest.raises(WebhookDeliveryError) as raised:
        await make_notifier().notify(make_event())
    assert raised.value.retry_after is None and raised.value.retryable is True


@pytest.mark.asyncio
async def test_a_failure_then_a_second_call_delivers_the_same_event_once(
    receiver: Receiver, make_notifier: MakeNotifier
) -> None:
    """What the outbox does: call again later; the receiver sees two POSTs, one delivery."""
    receiver.fail_next(1, 500)
    notifier = make_notifier()
    with pytest.raises(WebhookDeliveryError):
        await notifier.notify(make_event())
    await notifier.notify(make_event())
    assert [r.status for r in receiver.requests] == [500, 200]
    assert len(receiver.delivered) == 1


@pytest.mark.asyncio
async def test_wrong_secret_is_refused_by_the_receiver_at_once(receiver: Receiver) -> None:
    notifier = WebhookNotifier(receiver.url, "not-the-receivers-secret", **FAST)
    try:
        with pytest.raises(WebhookDeliveryError, match="HTTP 401") as raised:
            await notifier.notify(make_event())
    finally:
        await notifier.aclose()
    (request,) = receiver.requests
    assert not request.verified
    assert raised.value.retryable is False


@pytest.mark.asyncio
async def test_connection_refused_is_one_attempt_and_retryable(make_notifier: MakeNotifier) -> None:
    url = closed_port_url() + PATH
    notifier = make_notifier(url)
    with pytest.raises(WebhookDeliveryError) as raised:
        await notifier.notify(make_event())
    assert raised.value.status_code is None and raised.value.retryable is True
    assert str(raised.value) == f"rotation webhook to {notifier.host} failed: ConnectError"


@pytest.mark.asyncio
async def test_timeout_is_one_attempt_and_retryable(receiver: Receiver, make_notifier: MakeNotifier) -> None:
    receiver.hang_next(0.4)
    with pytest.raises(WebhookDeliveryError, match=r"failed: ReadTimeout$") as raised:
        await make_notifier(timeout=0.1).notify(make_event())
    assert raised.value.retryable is True
    assert len(receiver.requests) == 1


@pytest.mark.asyncio
async def test_closed_notifier_refuses(make_notifier: MakeNotifier) -> None:
    notifier = make_notifier()
    await notifier.aclose()
    with pytest.raises(WebhookDeliveryError, match="closed"):
        await notifier.notify(make_event())


# -- nothing leaks --------------------------------------------------------------


@pytest.mark.asyncio
async def test_secret_body_and_path_never_appear_in_errors_or_logs(
    receiver: Receiver, make_notifier: MakeNotifier, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    event = make_event(details={"reason": "marker-reason-7f3a"})
    body = event_body(event).decode()
    errors: list[WebhookDeliveryError] = []

    await make_notifier(receiver.url + "?token=query-token-9c1e").notify(event)
    receiver.fail_next(1, 500)
    receiver.fail_next(1, 403)
    receiver.fail_next(1, 429, retry_after="7")
    for url in (receiver.url + "?token=query-token-9c1e", receiver.url, receiver.url, closed_port_url() + PATH):
        with pytest.raises(WebhookDeliveryError) as raised:
            await make_notifier(url).notify(event)
        errors.append(raised.value)
    receiver.fail_next(1, 502)
    configured = WebhookNotifier.from_environ(
        {URL_VARIABLE: receiver.url + "?token=query-token-9c1e", SECRET_VARIABLE: SECRET, ATTEMPTS_VARIABLE: "3"}
    )
    assert configured is not None
    try:
        with pytest.raises(WebhookDeliveryError) as raised:
            await configured.notify(event)
    finally:
        await configured.aclose()
    errors.append(raised.value)

    assert len(errors) == 5
    signatures = [r.headers["x-strongroom-signature"].removeprefix("v1=") for r in receiver.requests]
    for error in errors:
        for text in (str(error), repr(error), str(error.args)):
            assert SECRET not in text
            assert body not in text and "marker-reason-7f3a" not in text
            assert PATH not in text and "query-token-9c1e" not in text
            assert not any(signature in text for signature in signatures)
        assert error.__cause__ is None and error.__context__ is None  # no chained httpx exception to log
    assert caplog.records, "the ignored attempts variable is logged"
    logged = caplog.text
    assert SECRET not in logged
    assert body not in logged and "marker-reason-7f3a" not in logged
    assert not any(signature in logged for signature in signatures)
    ours = [r for r in caplog.records if r.name == notifiers.logger.name]
    assert ours and all("query-token-9c1e" not in r.getMessage() for r in ours)


def test_repr_holds_no_secret() -> None:
    notifier = WebhookNotifier("https://hooks.example.com/path?token=t0ken", SECRET)
    assert SECRET not in repr(notifier) and "t0ken" not in repr(notifier)
    assert repr(notifier) == "<WebhookNotifier https://hooks.example.com>"


# -- configuration and registration ---------------------------------------------------


CONFIGURED = {URL_VARIABLE: "https://hooks.example.com/x", SECRET_VARIABLE: SECRET}


def config(tmp_path: Path, **environ: str) -> PluginConfig:
    return PluginConfig(environ=environ, data_dir=tmp_path)


@pytest.mark.parametrize(
    ("environ", "variable"),
    [
        ({URL_VARIABLE: "ftp://hooks.example.com/x", SECRET_VARIABLE: SECRET}, URL_VARIABLE),
        ({URL_VARIABLE: "hooks.example.com/x", SECRET_VARIABLE: SECRET}, URL_VARIABLE),
        ({URL_VARIABLE: "http://", SECRET_VARIABLE: SECRET}, URL_VARIABLE),
        ({URL_VARIABLE: "https://hooks example.com/", SECRET_VARIABLE: SECRET}, URL_VARIABLE),
        ({URL_VARIABLE: "https://hooks.example.com/x"}, SECRET_VARIABLE),
        ({URL_VARIABLE: "https://hooks.example.com/x", SECRET_VARIABLE: "  "}, SECRET_VARIABLE),
        ({URL_VARIABLE: "https://hooks.example.com/x", SECRET_VARIABLE: "short-secret"}, SECRET_VARIABLE),
    ],
)
def test_malformed_configuration_names_the_variable(tmp_path: Path, environ: dict[str, str], variable: str) -> None:
    with pytest.raises(ValueError) as raised:
        register_rotation_notifiers(config(tmp_path, **environ))
    message = str(raised.value)
    assert message.startswith(f"{variable}: ")
    assert SECRET not in message and "short-secret" not in message


def test_without_webhook_url_only_the_log_notifier(tmp_path: Path) -> None:
    for environ in ({}, {SECRET_VARIABLE: SECRET}, {URL_VARIABLE: "  "}):
        registered = list(register_rotation_notifiers(config(tmp_path, **environ)))
        assert [n.name for n in registered] == ["log"]
        assert isinstance(registered[0], LogNotifier)


def test_registered_trylast_through_pluggy() -> None:
    manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    manager.add_hookspecs(hookspecs)
    manager.register(notifiers)
    (impl,) = manager.hook.register_rotation_notifiers.get_hookimpls()
    assert impl.trylast


@pytest.mark.asyncio
async def test_configured_webhook_is_registered(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    environ = {URL_VARIABLE: " https://hooks.example.com/rotation ", SECRET_VARIABLE: SECRET}
    registered = list(register_rotation_notifiers(config(tmp_path, **environ)))
    assert [n.name for n in registered] == ["log", "webhook"]
    assert all(isinstance(n, RotationNotifier) for n in registered)
    webhook = registered[1]
    assert isinstance(webhook, WebhookNotifier)
    assert webhook.host == "hooks.example.com"
    assert not [r for r in caplog.records if ATTEMPTS_VARIABLE in r.getMessage()]
    await webhook.aclose()


@pytest.mark.asyncio
@pytest.mark.parametrize("value", ["5", "10", "0", "three"])
async def test_the_attempts_variable_is_ignored_with_a_warning(
    receiver: Receiver, tmp_path: Path, caplog: pytest.LogCaptureFixture, value: str
) -> None:
    """Kept configurations still start, and no longer multiply the POSTs per delivery."""
    caplog.set_level(logging.WARNING)
    environ = {URL_VARIABLE: receiver.url, SECRET_VARIABLE: SECRET, ATTEMPTS_VARIABLE: value}
    (_, webhook) = register_rotation_notifiers(config(tmp_path, **environ))
    assert isinstance(webhook, WebhookNotifier)
    try:
        receiver.fail_next(5, 503)
        with pytest.raises(WebhookDeliveryError):
            await webhook.notify(make_event())
    finally:
        await webhook.aclose()
    assert len(receiver.requests) == 1
    (warning,) = [r for r in caplog.records if ATTEMPTS_VARIABLE in r.getMessage()]
    assert warning.levelno == logging.WARNING and "ignored" in warning.getMessage()


# -- the log notifier ----------------------------------------------------------------


@pytest.mark.asyncio
async def test_log_notifier_logs_one_line_per_event(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="strongroom.rotation")
    notifier = LogNotifier()
    assert isinstance(notifier, RotationNotifier) and notifier.name == "log"
    events = [
        make_event("rotation_due", id="evt-due", details={}),
        make_event("rotated", id="evt-rotated", version=4, rotation_due_at=None),
        make_event("rotation_failed", id="evt-failed", secret_name="line\nbreak", details={"error": "check failed"}),
    ]
    for event in events:
        await notifier.notify(event)

    records = [r for r in caplog.records if r.name == "strongroom.rotation"]
    assert len(records) == 3
    assert [r.levelno for r in records] == [logging.WARNING, logging.INFO, logging.WARNING]
    messages = [r.getMessage() for r in records]
    for message, event in zip(messages, events, strict=True):
        assert "\n" not in message and "\r" not in message
        assert f"rotation {event.kind}:" in message
        assert "workspace=default" in message
        assert f"secret_id={event.secret_id}" in message
        assert "type=PASSWORD" in message
        assert f"version={event.version}" in message
        assert f"event_id={event.id}" in message
    assert "secret=db-password" in messages[0] and "due=2030-01-31T00:00:00+00:00" in messages[0]
    assert "due=-" in messages[1]
    assert "secret=line\\nbreak" in messages[2]
    assert 'details={"error":"check failed"}' in messages[2]
    await notifier.aclose()
