"""The API's enums as command-line choices (any case on input)."""

from __future__ import annotations

from enum import Enum


class Role(str, Enum):
    VIEWER = "VIEWER"
    READER = "READER"
    WRITER = "WRITER"
    AUDITOR = "AUDITOR"
    ADMIN = "ADMIN"


class SecretType(str, Enum):
    API_KEY = "API_KEY"
    DATABASE_CREDENTIAL = "DATABASE_CREDENTIAL"
    OAUTH_TOKEN = "OAUTH_TOKEN"
    SSH_KEY = "SSH_KEY"
    JWT_SECRET = "JWT_SECRET"
    ENCRYPTION_KEY = "ENCRYPTION_KEY"
    PASSWORD = "PASSWORD"
    CERTIFICATE = "CERTIFICATE"
    WEBHOOK_SECRET = "WEBHOOK_SECRET"
    GENERIC = "GENERIC"


class RotationPolicy(str, Enum):
    MANUAL = "MANUAL"
    AUTO_30_DAYS = "AUTO_30_DAYS"
    AUTO_60_DAYS = "AUTO_60_DAYS"
    AUTO_90_DAYS = "AUTO_90_DAYS"
    AUTO_180_DAYS = "AUTO_180_DAYS"
    AUTO_365_DAYS = "AUTO_365_DAYS"


class FileFormat(str, Enum):
    DOTENV = "dotenv"
    JSON = "json"
    YAML = "yaml"
    SHELL = "shell"


def value(choice: Enum | None) -> str | None:
    return None if choice is None else str(choice.value)
