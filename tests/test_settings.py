"""Settings: defaults, every variable, `.env` precedence, and safe errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from graphql_api.settings import ConfigError, Sensitive, Settings

BOOTSTRAP = "b" * 40


def load(tmp_path: Path, **environ: str) -> Settings:
    return Settings.from_environ(environ, env_file=tmp_path / "missing.env")


def test_defaults(tmp_path: Path) -> None:
    settings = load(tmp_path)

    assert settings.data_dir == Path(".strongroom")
    assert settings.database_url == "sqlite://.strongroom/strongroom.db"
    assert settings.is_sqlite
    assert settings.encryption_backend == "fernet"
    assert settings.encryption_keys == ()
    assert settings.vault_mount_point == "transit"
    assert settings.rotation_days == 90
    assert settings.audit_enabled is True
    assert settings.audit_retention_days == 365
    assert settings.port == 8000
    assert settings.bootstrap_token is None


def test_default_database_lives_in_the_data_dir(tmp_path: Path) -> None:
    settings = load(tmp_path, STRONGROOM_DATA_DIR=str(tmp_path / "data"))

    assert settings.data_dir == tmp_path / "data"
    assert settings.database_url == f"sqlite://{(tmp_path / 'data' / 'strongroom.db').as_posix()}"


def test_every_variable_is_read(tmp_path: Path) -> None:
    key1, key2 = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings = load(
        tmp_path,
        SECRET_ENCRYPTION_BACKEND="vault",
        SECRET_ENCRYPTION_KEY=f"{key1}, {key2}",
        VAULT_URL="https://vault.example.com:8200",
        VAULT_TOKEN="hvs.vault-token",
        VAULT_MOUNT_POINT="transit-prod",
        VAULT_TRANSIT_KEY="strongroom",
        VAULT_NAMESPACE="team-a",
        AWS_KMS_KEY_ID="alias/strongroom",
        AWS_REGION="eu-west-1",
        AWS_ENDPOINT_URL_KMS="http://localhost:4566",
        SECRET_ROTATION_DAYS="30",
        ENABLE_SECRET_AUDIT_LOGGING="false",
        SECRET_AUDIT_RETENTION_DAYS="730",
        DATABASE_URL="postgresql://sr:pw@db.example.com:5432/strongroom",
        STRONGROOM_DATA_DIR="/var/lib/strongroom",
        STRONGROOM_BOOTSTRAP_TOKEN=BOOTSTRAP,
        STRONGROOM_HOST="0.0.0.0",
        STRONGROOM_PORT="9443",
    )

    assert settings.encryption_backend == "vault"
    assert settings.encryption_keys == (Sensitive(key1), Sensitive(key2))
    assert all(isinstance(key, Sensitive) for key in settings.encryption_keys)
    assert settings.vault_url == "https://vault.example.com:8200"
    assert settings.vault_token == Sensitive("hvs.vault-token")
    assert settings.vault_mount_point == "transit-prod"
    assert settings.vault_transit_key == "strongroom"
    assert settings.vault_namespace == "team-a"
    assert settings.aws_kms_key_id == "alias/strongroom"
    assert settings.aws_region == "eu-west-1"
    assert settings.aws_endpoint_url_kms == "http://localhost:4566"
    assert settings.rotation_days == 30
    assert settings.audit_enabled is False
    assert settings.audit_retention_days == 730
    assert settings.database_url == "postgres://sr:pw@db.example.com:5432/strongroom"
    assert not settings.is_sqlite
    assert settings.data_dir == Path("/var/lib/strongroom")
    assert settings.bootstrap_token == Sensitive(BOOTSTRAP)
    assert settings.host == "0.0.0.0"
    assert settings.port == 9443


def test_encryption_keys_keep_their_order(tmp_path: Path) -> None:
    keys = [Fernet.generate_key().decode() for _ in range(3)]

    settings = load(tmp_path, SECRET_ENCRYPTION_KEY=",".join(keys))

    assert [key.reveal() for key in settings.encryption_keys] == keys


def test_env_file_is_read_and_the_environment_wins(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("STRONGROOM_PORT=9000\nSTRONGROOM_HOST=10.0.0.1\nSECRET_ROTATION_DAYS=180\n")

    settings = Settings.from_environ({"STRONGROOM_PORT": "9001"}, env_file=env_file)

    assert settings.port == 9001
    assert settings.host == "10.0.0.1"
    assert settings.rotation_days == 180


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("SECRET_ROTATION_DAYS", "45"),
        ("SECRET_ROTATION_DAYS", "ninety"),
        ("STRONGROOM_PORT", "http"),
        ("STRONGROOM_PORT", "65536"),
        ("SECRET_AUDIT_RETENTION_DAYS", "0"),
        ("ENABLE_SECRET_AUDIT_LOGGING", "maybe"),
        ("VAULT_URL", "vault.example.com:8200"),
        ("VAULT_URL", "ftp://vault.example.com"),
        ("AWS_ENDPOINT_URL_KMS", "localhost:4566"),
        ("DATABASE_URL", "mysql://db.example.com/app"),
        pytest.param("DATABASE_URL", "postgres://db.example.com:5432/", id="DATABASE_URL-without-a-database-name"),
    ],
)
def test_bad_value_names_its_variable(tmp_path: Path, variable: str, value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, **{variable: value})

    assert caught.value.variable == variable
    assert str(caught.value).startswith(f"{variable}: ")


def test_malformed_fernet_key_is_not_echoed(tmp_path: Path) -> None:
    good = Fernet.generate_key().decode()
    bad = "not-a-fernet-key-but-a-secret-anyway"

    with pytest.raises(ConfigError) as caught:
        load(tmp_path, SECRET_ENCRYPTION_KEY=f"{good},{bad}")

    assert caught.value.variable == "SECRET_ENCRYPTION_KEY"
    assert "key #2 of 2" in str(caught.value)
    assert bad not in str(caught.value)
    assert good not in str(caught.value)


def test_unsupported_database_url_hides_its_password(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, DATABASE_URL="mysql://admin:hunter2-pass@db.example.com/app")

    assert caught.value.variable == "DATABASE_URL"
    assert "hunter2-pass" not in str(caught.value)
    assert "db.example.com" in str(caught.value)


def test_unsupported_database_url_hides_a_password_with_a_hash(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, DATABASE_URL="mysql://admin:hunter2#pass@db.example.com/app")

    assert "hunter2" not in str(caught.value)


def test_short_bootstrap_token_is_rejected_without_echo(tmp_path: Path) -> None:
    token = "short-token-31-characters-long!"
    assert len(token) == 31

    with pytest.raises(ConfigError) as caught:
        load(tmp_path, STRONGROOM_BOOTSTRAP_TOKEN=token)

    assert caught.value.variable == "STRONGROOM_BOOTSTRAP_TOKEN"
    assert token not in str(caught.value)
    assert load(tmp_path, STRONGROOM_BOOTSTRAP_TOKEN=token + "x").bootstrap_token == Sensitive(token + "x")


def test_sensitive_never_shows_its_value() -> None:
    value = Sensitive("top-secret-value")

    assert "top-secret-value" not in repr(value)
    assert "top-secret-value" not in str(value)
    assert "top-secret-value" not in f"{value}"
    assert value.reveal() == "top-secret-value"


def test_settings_repr_hides_keys_and_tokens(tmp_path: Path) -> None:
    key = Fernet.generate_key().decode()
    vault_token = "hvs.CAESIvault-token-value"

    settings = load(
        tmp_path,
        SECRET_ENCRYPTION_KEY=key,
        VAULT_TOKEN=vault_token,
        STRONGROOM_BOOTSTRAP_TOKEN=BOOTSTRAP,
    )

    text = repr(settings)
    assert key not in text
    assert vault_token not in text
    assert BOOTSTRAP not in text
    assert "encryption_keys=(Sensitive(" in text
