"""Logging for the server process: levels, formats, the request a line
belongs to, and what never reaches a log.

Our own log lines name ids, versions, backends and codes, never a value, key,
token or ciphertext. Libraries are less careful at debug level: Tortoise logs
every statement with its parameters (ciphertexts and wrapped keys among
them), aiosqlite logs every call with its arguments, websockets logs every
frame (the connection_init payload holds the bearer token; `next` messages
hold values). Those loggers are therefore kept at INFO or above whatever
STRONGROOM_LOG_LEVEL says, and every line written is also passed through
`scrub`, which masks anything shaped like a Strongroom token (in the message
and in exception text alike).

Formats (STRONGROOM_LOG_FORMAT): `console`, one human line per record with
the request id in brackets when there is one; `json`, one JSON object per
line with the request id, principal and operation as fields. The request
comes from graphql_api.request_ids, through `RequestFilter`.

Every logger of ours is named in `LOGGERS`, by concern, whatever module it
is in (a test holds every module to it).
"""

from __future__ import annotations

import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

import orjson

from graphql_api import request_ids
from graphql_api.settings import Settings

# Our loggers, by concern: the names operators filter on (and the README table).
LOGGERS = {
    "strongroom.server": "start-up, shutdown (drain) and configuration warnings",
    "strongroom.http": "GraphQL over HTTP: unexpected failures; at debug, one line per request",
    "strongroom.websocket": "GraphQL over a websocket: failed operations; at debug, one line per connection",
    "strongroom.graphql": "resolvers: unexpected errors, with their path (answered as INTERNAL)",
    "strongroom.secrets": "secret writes and reads: failed reads that could not be audited, destroy clean-up",
    "strongroom.encryption": "envelope encryption and its backends (fernet, vault, aws_kms), the server key, key rotation",
    "strongroom.audit": "the audit trail: writes, sinks, retention purges, signed checkpoints",
    "strongroom.access": "authentication and authority: the bootstrap superadmin, re-checks of live subscriptions",
    "strongroom.rotation": "scheduled secret rotation, and the `log` rotation notifier's events",
    "strongroom.notifications": "delivery of rotation notifications (webhook retries, failures)",
    "strongroom.events": "the cross-replica event listener (PostgreSQL LISTEN/NOTIFY)",
    "strongroom.database": "migrations and planner statistics",
    "strongroom.jobs": "background jobs",
    "strongroom.plugins": "plugin loading",
    "strongroom.retries": "retries of calls to remote services (Vault, AWS KMS, webhooks)",
    "strongroom.metrics": "failures gathering metrics",
}

# Loggers that print statement parameters, call arguments or frames at DEBUG.
QUIET_LIBRARY_LOGGERS = (
    "tortoise",
    "tortoise.db_client",
    "aiosqlite",
    "asyncpg",
    "websockets",
    "websockets.protocol",
    "websockets.server",
    "websockets.client",
    "uvicorn.protocols",
    # uvicorn logs request headers (Authorization among them) and, through
    # the websockets library, every frame (connection_init's token, values
    # in `next`) on its error logger at DEBUG.
    "uvicorn.error",
    "hpack",
    "httpcore",
    "httpx",
    "botocore",
    "boto3",
    "urllib3",
    "aerich",
)
# Loggers whose INFO lines are already too much: httpx logs every request's
# full URL at INFO ("HTTP Request: POST https://hooks.example/x?token=..."),
# and a webhook URL may carry its receiver's credentials in the query.
WARNING_LIBRARY_LOGGERS = ("httpx", "httpcore")
FORMATS = ("console", "json")
_TOKEN = re.compile(r"sr_[A-Za-z0-9_-]{20,}")
# asyncpg's DataError quotes the first 30 characters of the offending
# argument ("invalid input for query argument $2: b'gAAAA...' (...)"): a
# ciphertext or a value. Masked to the end of the line.
_QUERY_ARGUMENT = re.compile(r"(query argument \$\d+: )[^\n]*")
MASK = "sr_…"


def scrub(text: str) -> str:
    """`text` with token-shaped words and quoted query arguments masked."""
    if "sr_" in text:
        text = _TOKEN.sub(MASK, text)
    if "query argument $" in text:
        text = _QUERY_ARGUMENT.sub(r"\1…", text)
    return text


class SecretScrubber(logging.Filter):
    """Masks token-shaped text in a record's message and arguments."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string must not break logging
            return True
        scrubbed = scrub(message)
        if scrubbed != message:
            record.msg = scrubbed
            record.args = None
        return True


class RequestFilter(logging.Filter):
    """Adds `request_id`, `connection_id`, `principal` and `operation` to
    every record (None outside a request), from graphql_api.request_ids."""

    def filter(self, record: logging.LogRecord) -> bool:
        scope = request_ids.current()
        if scope is None:
            record.request_id = record.connection_id = record.principal = record.operation = None
        else:
            record.request_id = scope.request_id
            record.connection_id = scope.connection_id
            try:
                record.principal = scope.principal
                record.operation = scope.operation_label
            except Exception:  # never let a log line fail on its decoration
                record.principal = record.operation = None
        return True


class AccessLogFilter(logging.Filter):
    """uvicorn's access lines without the query string: a GET /graphql
    carries its variables (values among them) there."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str) and "?" in args[2]:
            record.args = (*args[:2], args[2].split("?", 1)[0] + "?…", *args[3:])
        return True


class ConsoleFormatter(logging.Formatter):
    """Today's human line, with `[request id]` (and `ws=<socket id>` for a
    websocket operation) after the logger's name when there is one."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s%(request_tag)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        request_id = getattr(record, "request_id", None)
        connection_id = getattr(record, "connection_id", None)
        if request_id is None:
            record.request_tag = ""
        elif connection_id is None:
            record.request_tag = f" [{request_id}]"
        else:
            record.request_tag = f" [{request_id} ws={connection_id}]"
        return scrub(super().format(record))


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (RFC 3339, UTC), level, logger,
    message, request_id, connection_id, principal, operation, and exc_info
    (the traceback as text) when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        try:
            message = record.getMessage()
        except Exception:
            message = str(record.msg)
        moment = datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
        entry: dict[str, Any] = {
            "time": moment.replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": scrub(message),
            "request_id": getattr(record, "request_id", None),
            "connection_id": getattr(record, "connection_id", None),
            "principal": getattr(record, "principal", None),
            "operation": getattr(record, "operation", None),
        }
        if record.exc_info:
            entry["exc_info"] = scrub(self.formatException(record.exc_info))
        elif record.exc_text:
            entry["exc_info"] = scrub(record.exc_text)
        if record.stack_info:
            entry["stack_info"] = scrub(self.formatStack(record.stack_info))
        try:
            return orjson.dumps(entry).decode("utf-8")
        except TypeError:  # a lone surrogate, say: the standard encoder escapes it
            import json

            return json.dumps(entry)


def build_handler(log_format: str, stream: TextIO | None = None) -> logging.Handler:
    """The handler every line of the process goes through."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else ConsoleFormatter())
    handler.addFilter(RequestFilter())
    handler.addFilter(SecretScrubber())
    handler._strongroom = True  # type: ignore[attr-defined]  # our mark on a stdlib handler, to replace ours only
    return handler


# What configure() last installed in this process, for uvicorn_log_config.
_installed: dict[str, str] | None = None


def configure(settings: Settings, stream: TextIO | None = None) -> None:
    """Set up the root logger for a server process (idempotent)."""
    install(settings.log_level, settings.log_format, stream)


def install(log_level: str, log_format: str, stream: TextIO | None = None) -> None:
    global _installed
    level = getattr(logging, log_level.upper(), logging.INFO)
    root = logging.getLogger()
    for existing in list(root.handlers):
        if getattr(existing, "_strongroom", False):
            root.removeHandler(existing)
    root.addHandler(build_handler(log_format, stream))
    root.setLevel(level)
    for name in QUIET_LIBRARY_LOGGERS:
        logging.getLogger(name).setLevel(max(level, logging.INFO))
    for name in WARNING_LIBRARY_LOGGERS:
        logging.getLogger(name).setLevel(max(level, logging.WARNING))
    _installed = {"log_level": log_level, "log_format": log_format}


class _Installed(logging.Filter):
    """A dictConfig entry that installs the handler configure() installed in
    the parent, in a worker process uvicorn spawned (`--workers N`): those
    start with bare logging. A no-op where it is installed already."""

    def __init__(self, log_level: str, log_format: str) -> None:
        super().__init__()
        if not any(getattr(h, "_strongroom", False) for h in logging.getLogger().handlers):
            install(log_level, log_format)


def uvicorn_log_config() -> dict[str, object]:
    """uvicorn's own logging config, routed to the root handler (its format
    and scrubber); uvicorn applies it in each worker process too."""
    config: dict[str, Any] = {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"access": {"()": f"{__name__}.AccessLogFilter"}},
        "loggers": {
            "uvicorn": {"handlers": [], "propagate": True},
            "uvicorn.error": {"handlers": [], "propagate": True},
            "uvicorn.access": {"handlers": [], "propagate": True, "filters": ["access"]},
        },
    }
    if _installed is not None:
        config["filters"]["strongroom"] = {"()": f"{__name__}._Installed", **_installed}
    return config
