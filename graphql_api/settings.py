"""Typed settings, read once from the environment and an optional file.

The file is `STRONGROOM_CONFIG` (default `./strongroom.env`), never a plain
`.env`: the server is often started in an application's folder, whose `.env`
holds the application's own DATABASE_URL and keys. The environment wins over
the file. Every problem is a ConfigError naming the variable, so that start-up
can stop with one clear line; messages never echo the value of a sensitive
variable.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from dotenv import dotenv_values

from graphql_api.client.errors import ConfigError as ConfigError  # re-exported: the one ConfigError
from models.enums import ROTATION_DAY_CHOICES

BUILTIN_BACKENDS = ("fernet", "aws_kms", "vault")
CONFIG_FILE = "strongroom.env"
LOG_FORMATS = ("console", "json")
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
_DURATION = re.compile(r"^(\d+)\s*([smhd]?)$")
_DURATION_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


class Sensitive:
    """A configuration value that must never be printed (keys, tokens)."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Sensitive('**********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sensitive) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True)
class Settings:
    data_dir: Path = Path(".strongroom")
    database_url: str = ""
    encryption_backend: str = "fernet"
    encryption_keys: tuple[Sensitive, ...] = ()
    vault_url: str | None = None
    vault_token: Sensitive | None = None
    vault_mount_point: str = "transit"
    vault_transit_key: str | None = None
    vault_namespace: str | None = None
    aws_kms_key_id: str | None = None
    aws_region: str | None = None
    aws_endpoint_url_kms: str | None = None
    rotation_days: int = 90
    audit_enabled: bool = True
    audit_retention_days: int = 365
    bootstrap_token: Sensitive | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    graphiql_enabled: bool = True
    console_enabled: bool = True
    introspection_enabled: bool = True
    log_level: str = "info"
    log_format: str = "console"
    max_query_depth: int = 12
    max_aliases: int = 30
    max_tokens: int = 5000
    trusted_proxies: tuple[IpNetwork, ...] = ()
    max_token_ttl: timedelta | None = None
    max_request_bytes: int = 16 * 1024 * 1024
    legacy_ws_enabled: bool = False
    db_pool_size: int = 10
    dek_cache_backends: tuple[str, ...] = ("fernet",)
    dek_cache_seconds: int = 300
    dek_cache_uses: int = 10_000
    audit_purge_interval_seconds: int = 3600
    key_rotation_batch: int = 1_000
    rotation_interval_seconds: int = 60
    # Serving (graphql_api.serving, graphql_api.drain): STRONGROOM_ENV, STRONGROOM_SHUTDOWN_GRACE,
    # STRONGROOM_TLS_CERT_FILE / STRONGROOM_TLS_KEY_FILE, STRONGROOM_ALLOW_HTTP.
    environment: str = "development"
    shutdown_grace_seconds: int = 25
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    allow_http: bool = False
    # STRONGROOM_METRICS_PUBLIC / STRONGROOM_METRICS_ADDRESS (graphql_api.metrics_server).
    metrics_public: bool = False
    metrics_address: tuple[str, int] | None = None
    # Every variable seen (environment over .env), for plugins that read their own.
    environ: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite:")

    @property
    def database_url_redacted(self) -> str:
        return redact_url(self.database_url)

    @classmethod
    def from_environ(
        cls,
        environ: Mapping[str, str] | None = None,
        env_file: Path | None = None,
    ) -> Settings:
        """Settings from `environ` (default os.environ) over `env_file`
        (default: STRONGROOM_CONFIG, or ./strongroom.env when it exists)."""
        env = _merge_env(os.environ if environ is None else environ, env_file)
        return _parse(env)

    def with_overrides(self, **changes: object) -> Settings:
        from dataclasses import replace

        return replace(self, **changes)  # type: ignore[arg-type]  # each override has its field's type; replace checks names


def _merge_env(environ: Mapping[str, str], env_file: Path | None) -> dict[str, str]:
    named = environ.get("STRONGROOM_CONFIG")
    path = env_file if env_file is not None else Path(named or CONFIG_FILE)
    merged: dict[str, str] = {}
    if named and env_file is None and not path.is_file():
        raise ConfigError("STRONGROOM_CONFIG", f"{path} is not a readable file")
    if path.is_file():
        merged.update({k: v for k, v in dotenv_values(path).items() if v is not None})
    merged.update(environ)
    return merged


def _parse(env: Mapping[str, str]) -> Settings:
    def text(name: str, default: str | None = None) -> str | None:
        value = env.get(name)
        if value is None or value.strip() == "":
            return default
        return value.strip()

    def integer(name: str, default: int, minimum: int = 1, maximum: int = 2**31) -> int:
        raw = text(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise ConfigError(name, f"must be a whole number (got {raw!r})") from None
        if not minimum <= value <= maximum:
            raise ConfigError(name, f"must be between {minimum} and {maximum} (got {value})")
        return value

    def boolean(name: str, default: bool) -> bool:
        raw = text(name)
        if raw is None:
            return default
        lowered = raw.lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise ConfigError(name, f"must be true or false (got {raw!r})")

    data_dir = Path(text("STRONGROOM_DATA_DIR", ".strongroom") or ".strongroom")

    backend = (text("SECRET_ENCRYPTION_BACKEND", "fernet") or "fernet").lower()
    if not backend.replace("_", "").isalnum():
        raise ConfigError("SECRET_ENCRYPTION_BACKEND", f"is not a backend name (got {backend!r})")

    keys: tuple[Sensitive, ...] = ()
    raw_keys = text("SECRET_ENCRYPTION_KEY")
    if raw_keys is not None:
        parts = [part.strip() for part in raw_keys.split(",")]
        for position, part in enumerate(parts, start=1):
            if not is_fernet_key(part):
                raise ConfigError(
                    "SECRET_ENCRYPTION_KEY",
                    f"key #{position} of {len(parts)} is not a Fernet key "
                    "(32 bytes, url-safe base64); generate one with `strongroom keys generate`",
                )
        keys = tuple(Sensitive(part) for part in parts)

    rotation_days = integer("SECRET_ROTATION_DAYS", 90)
    if rotation_days not in ROTATION_DAY_CHOICES:
        choices = ", ".join(str(d) for d in ROTATION_DAY_CHOICES)
        raise ConfigError("SECRET_ROTATION_DAYS", f"must be one of {choices} (got {rotation_days})")

    database_url = text("DATABASE_URL") or f"sqlite://{(data_dir / 'strongroom.db').as_posix()}"
    database_url = _check_database_url(database_url)

    vault_url = text("VAULT_URL")
    if vault_url is not None and urlsplit(vault_url).scheme not in ("http", "https"):
        raise ConfigError("VAULT_URL", "must be an http:// or https:// URL")
    kms_endpoint = text("AWS_ENDPOINT_URL_KMS")
    if kms_endpoint is not None and urlsplit(kms_endpoint).scheme not in ("http", "https"):
        raise ConfigError("AWS_ENDPOINT_URL_KMS", "must be an http:// or https:// URL")

    bootstrap = text("STRONGROOM_BOOTSTRAP_TOKEN")
    if bootstrap is not None and len(bootstrap) < 32:
        raise ConfigError("STRONGROOM_BOOTSTRAP_TOKEN", "must be at least 32 characters of high-entropy text")
    vault_token = text("VAULT_TOKEN")

    log_level = (text("STRONGROOM_LOG_LEVEL", "info") or "info").lower()
    if log_level not in ("critical", "error", "warning", "info", "debug"):
        raise ConfigError("STRONGROOM_LOG_LEVEL", f"must be one of error, warning, info, debug (got {log_level!r})")

    log_format = (text("STRONGROOM_LOG_FORMAT", "console") or "console").lower()
    if log_format not in LOG_FORMATS:
        raise ConfigError("STRONGROOM_LOG_FORMAT", f"must be console or json (got {log_format!r})")

    proxies: list[IpNetwork] = []
    for entry in (text("STRONGROOM_TRUSTED_PROXIES") or "").split(","):
        if not entry.strip():
            continue
        try:
            proxies.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            raise ConfigError(
                "STRONGROOM_TRUSTED_PROXIES", "must be comma-separated IP addresses or networks (10.0.0.0/8)"
            ) from None

    raw_cache = (text("STRONGROOM_DEK_CACHE", "fernet") or "fernet").lower()
    dek_cache = (
        ()
        if raw_cache in ("none", "off", "false", "0")
        else tuple(part.strip() for part in raw_cache.split(",") if part.strip())
    )
    if any(not name.replace("_", "").isalnum() for name in dek_cache):
        raise ConfigError("STRONGROOM_DEK_CACHE", "must be comma-separated backend names, or none")

    def duration(name: str) -> timedelta | None:
        raw = text(name)
        if raw is None:
            return None
        match = _DURATION.match(raw.lower())
        if match is None or int(match.group(1)) == 0:
            raise ConfigError(name, f"must be a duration such as 3600, 90m, 12h or 30d (got {raw!r})")
        return timedelta(seconds=int(match.group(1)) * _DURATION_UNITS[match.group(2)])

    return Settings(
        data_dir=data_dir,
        database_url=database_url,
        encryption_backend=backend,
        encryption_keys=keys,
        vault_url=vault_url,
        vault_token=Sensitive(vault_token) if vault_token else None,
        vault_mount_point=text("VAULT_MOUNT_POINT", "transit") or "transit",
        vault_transit_key=text("VAULT_TRANSIT_KEY"),
        vault_namespace=text("VAULT_NAMESPACE"),
        aws_kms_key_id=text("AWS_KMS_KEY_ID"),
        aws_region=text("AWS_REGION"),
        aws_endpoint_url_kms=kms_endpoint,
        rotation_days=rotation_days,
        audit_enabled=boolean("ENABLE_SECRET_AUDIT_LOGGING", True),
        audit_retention_days=integer("SECRET_AUDIT_RETENTION_DAYS", 365, maximum=36500),
        bootstrap_token=Sensitive(bootstrap) if bootstrap else None,
        host=text("STRONGROOM_HOST", "127.0.0.1") or "127.0.0.1",
        port=integer("STRONGROOM_PORT", 8000, minimum=0, maximum=65535),
        graphiql_enabled=boolean("STRONGROOM_GRAPHIQL", True),
        console_enabled=boolean("STRONGROOM_CONSOLE", True),
        introspection_enabled=boolean("STRONGROOM_INTROSPECTION", True),
        log_level=log_level,
        log_format=log_format,
        max_query_depth=integer("STRONGROOM_MAX_QUERY_DEPTH", 12, maximum=100),
        max_aliases=integer("STRONGROOM_MAX_ALIASES", 30, maximum=1000),
        max_tokens=integer("STRONGROOM_MAX_TOKENS", 5000, maximum=1_000_000),
        trusted_proxies=tuple(proxies),
        max_token_ttl=duration("STRONGROOM_MAX_TOKEN_TTL"),
        max_request_bytes=integer("STRONGROOM_MAX_REQUEST_BYTES", 16 * 1024 * 1024, minimum=64 * 1024, maximum=1 << 30),
        legacy_ws_enabled=boolean("STRONGROOM_LEGACY_WS", False),
        db_pool_size=integer("STRONGROOM_DB_POOL_SIZE", 10, maximum=200),
        dek_cache_backends=dek_cache,
        dek_cache_seconds=integer("STRONGROOM_DEK_CACHE_SECONDS", 300, maximum=86400),
        dek_cache_uses=integer("STRONGROOM_DEK_CACHE_USES", 10_000, maximum=10_000_000),
        audit_purge_interval_seconds=integer("STRONGROOM_AUDIT_PURGE_INTERVAL", 3600, maximum=7 * 86400),
        key_rotation_batch=integer("STRONGROOM_KEY_ROTATION_BATCH", 1_000, maximum=10_000),
        rotation_interval_seconds=integer("STRONGROOM_ROTATION_INTERVAL", 60, maximum=86400),
        environment=_environment(text("STRONGROOM_ENV")),
        shutdown_grace_seconds=integer("STRONGROOM_SHUTDOWN_GRACE", 25, maximum=3600),
        tls_cert_file=_tls_file(
            "STRONGROOM_TLS_CERT_FILE", text("STRONGROOM_TLS_CERT_FILE"), text("STRONGROOM_TLS_KEY_FILE")
        ),
        tls_key_file=_tls_file(
            "STRONGROOM_TLS_KEY_FILE", text("STRONGROOM_TLS_KEY_FILE"), text("STRONGROOM_TLS_CERT_FILE")
        ),
        allow_http=boolean("STRONGROOM_ALLOW_HTTP", False),
        metrics_public=boolean("STRONGROOM_METRICS_PUBLIC", False),
        metrics_address=listen_address("STRONGROOM_METRICS_ADDRESS", text("STRONGROOM_METRICS_ADDRESS")),
        environ=dict(env),
    )


def listen_address(variable: str, raw: str | None) -> tuple[str, int] | None:
    """`host:port` (`[::1]:9100` for IPv6; port 0: any free port) as (host, port)."""
    if raw is None:
        return None
    host, colon, port = raw.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not colon or not host or not port.isdigit() or int(port) > 65535:
        raise ConfigError(variable, f"must be host:port, such as 127.0.0.1:9100 or [::1]:9100 (got {raw!r})")
    return host, int(port)


ENVIRONMENTS = ("development", "production")


def _environment(raw: str | None) -> str:
    value = (raw or "development").lower()
    if value not in ENVIRONMENTS:
        raise ConfigError("STRONGROOM_ENV", f"must be development or production (got {raw!r})")
    return value


def _tls_file(name: str, raw: str | None, other: str | None) -> Path | None:
    """A TLS certificate or key file: both are given or neither, and it must be readable."""
    if raw is None:
        if other is not None:
            pair = "STRONGROOM_TLS_KEY_FILE" if name.endswith("CERT_FILE") else "STRONGROOM_TLS_CERT_FILE"
            raise ConfigError(name, f"must be set together with {pair}")
        return None
    path = Path(raw)
    if not path.is_file() or not os.access(path, os.R_OK):
        raise ConfigError(name, f"{path} is not a readable file")
    return path


def is_fernet_key(candidate: str) -> bool:
    try:
        return len(base64.urlsafe_b64decode(candidate.encode("ascii"))) == 32
    except (binascii.Error, ValueError, UnicodeEncodeError):
        return False


def _check_database_url(url: str) -> str:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "postgresql":
        # Tortoise names the asyncpg engine "postgres"; accept the libpq spelling too.
        url = urlunsplit(("postgres", *parts[1:]))
        scheme = "postgres"
    if scheme not in ("sqlite", "postgres"):
        raise ConfigError("DATABASE_URL", f"must start with sqlite:// or postgres:// (got {redact_url(url)!r})")
    if scheme == "postgres" and not parts.path.strip("/"):
        raise ConfigError("DATABASE_URL", "names no database (postgres://user@host:port/DATABASE)")
    if scheme == "sqlite" and not (parts.netloc + parts.path):
        raise ConfigError("DATABASE_URL", "names no file (sqlite:///absolute/path or sqlite://relative/path)")
    return url


def redact_url(url: str) -> str:
    """The URL with any password replaced, safe for messages and logs.

    Textual rather than parsed: a password with an unencoded '#', '/' or '?'
    confuses URL parsers, which would then see no password and echo it.
    """
    match = _USERINFO_PASSWORD.match(url)
    if match is None:
        return url
    return f"{match.group(1)}***{match.group(3)}"


# scheme://user:PASSWORD@rest, the password running to the last '@'.
_USERINFO_PASSWORD = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://[^:/@]*:)(.*)(@[^@]*)$", re.S)
