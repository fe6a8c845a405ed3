"""Logging for the server process: levels, and what never reaches a log.

Our own log lines name ids, versions, backends and codes, never a value, key,
token or ciphertext. Libraries are less careful at debug level: Tortoise logs
every statement with its parameters (ciphertexts and wrapped keys among
them), aiosqlite logs every call with its arguments, websockets logs every
frame (the connection_init payload holds the bearer token; `next` messages
hold values). Those loggers are therefore kept at INFO or above whatever
STRONGROOM_LOG_LEVEL says, and every handler also passes records through
`SecretScrubber`, which masks anything shaped like a Strongroom token.
"""

from __future__ import annotations

import logging
import re
import sys

from graphql_api.settings import Settings

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
_TOKEN = re.compile(r"sr_[A-Za-z0-9_-]{20,}")
MASK = "sr_…"


class SecretScrubber(logging.Filter):
    """Masks token-shaped text in a record's message and arguments."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string must not break logging
            return True
        if _TOKEN.search(message):
            record.msg = _TOKEN.sub(MASK, message)
            record.args = None
        return True


def configure(settings: Settings, stream: object = None) -> None:
    """Set up the root logger for a server process (idempotent)."""
    level = getattr(logging, settings.log_level.upper(), logging.INFO)
    root = logging.getLogger()
    handler = logging.StreamHandler(stream or sys.stderr)  # type: ignore[arg-type]
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(SecretScrubber())
    for existing in list(root.handlers):
        if getattr(existing, "_strongroom", False):
            root.removeHandler(existing)
    handler._strongroom = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    for name in QUIET_LIBRARY_LOGGERS:
        logging.getLogger(name).setLevel(max(level, logging.INFO))


def uvicorn_log_config() -> dict[str, object]:
    """uvicorn's own logging config, routed to the root handler (and its scrubber)."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "loggers": {
            "uvicorn": {"handlers": [], "propagate": True},
            "uvicorn.error": {"handlers": [], "propagate": True},
            "uvicorn.access": {"handlers": [], "propagate": True},
        },
    }
