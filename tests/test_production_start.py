"""STRONGROOM_ENV=production: what a production start refuses, each with one
clear line naming the variable to fix (graphql_api.production.check_production),
and a production start that passes, serving HTTPS itself.
"""

from __future__ import annotations

import ipaddress
import ssl
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from graphql_api.app import create_app
from graphql_api.production import check_production, production_problems
from graphql_api.serving import uvicorn_options
from graphql_api.settings import ConfigError, Settings
from tests.process import START_TIMEOUT_SECONDS, ServerProcess, clean_environ, free_port, run_strongroom, start_server

KEY = Fernet.generate_key().decode("ascii")
SAFE = {
    "STRONGROOM_ENV": "production",
    "SECRET_ENCRYPTION_KEY": KEY,
    "STRONGROOM_GRAPHIQL": "false",
    "STRONGROOM_INTROSPECTION": "false",
    "STRONGROOM_ALLOW_HTTP": "true",
}


def load(tmp_path: Path, **environ: str) -> Settings:
    base = {"STRONGROOM_DATA_DIR": str(tmp_path / "data")}
    return Settings.from_environ({**base, **environ}, env_file=tmp_path / "missing.env")


def production(tmp_path: Path, *, drop: tuple[str, ...] = (), **extra: str) -> Settings:
    environ = {k: v for k, v in SAFE.items() if k not in drop}
    return load(tmp_path, **{**environ, **extra})


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key (PEM files)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "server.crt", directory / "server.key"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    key_file.chmod(0o600)
    return cert_file, key_file


# ---- the checks -------------------------------------------------------------------


def test_development_refuses_nothing(tmp_path: Path) -> None:
    settings = load(tmp_path)
    assert settings.environment == "development"
    assert production_problems(settings) == []
    check_production(settings)


def test_production_with_the_defaults_refuses_everything_in_one_line(tmp_path: Path) -> None:
    settings = load(tmp_path, STRONGROOM_ENV="production")
    assert [variable for variable, _ in production_problems(settings)] == [
        "SECRET_ENCRYPTION_KEY",
        "STRONGROOM_GRAPHIQL",
        "STRONGROOM_INTROSPECTION",
        "STRONGROOM_TLS_CERT_FILE",
    ]
    with pytest.raises(ConfigError) as refused:
        check_production(settings)
    assert refused.value.variable == "SECRET_ENCRYPTION_KEY"
    line = str(refused.value)
    assert "\n" not in line
    assert "also fix STRONGROOM_GRAPHIQL, STRONGROOM_INTROSPECTION, STRONGROOM_TLS_CERT_FILE" in line
    assert "STRONGROOM_ENV=production" in line


@pytest.mark.parametrize(
    ("drop", "extra", "variable"),
    [
        (("SECRET_ENCRYPTION_KEY",), {}, "SECRET_ENCRYPTION_KEY"),
        ((), {"STRONGROOM_GRAPHIQL": "true"}, "STRONGROOM_GRAPHIQL"),
        (("STRONGROOM_GRAPHIQL",), {}, "STRONGROOM_GRAPHIQL"),
        ((), {"STRONGROOM_INTROSPECTION": "true"}, "STRONGROOM_INTROSPECTION"),
        (("STRONGROOM_INTROSPECTION",), {}, "STRONGROOM_INTROSPECTION"),
        (("STRONGROOM_ALLOW_HTTP",), {}, "STRONGROOM_TLS_CERT_FILE"),
        ((), {"STRONGROOM_ALLOW_HTTP": "false"}, "STRONGROOM_TLS_CERT_FILE"),
    ],
)
def test_each_refusal_names_its_variable(
    tmp_path: Path, drop: tuple[str, ...], extra: dict[str, str], variable: str
) -> None:
    settings = production(tmp_path, drop=drop, **extra)
    assert [name for name, _ in production_problems(settings)] == [variable]
    with pytest.raises(ConfigError) as refused:
        check_production(settings)
    assert refused.value.variable == variable
    assert "also fix" not in str(refused.value)


def test_a_development_keyring_left_in_the_data_dir_is_refused_even_for_another_backend(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "fernet.keys").write_text(KEY + "\n")
    settings = production(tmp_path, drop=("SECRET_ENCRYPTION_KEY",), SECRET_ENCRYPTION_BACKEND="vault")
    problems = production_problems(settings)
    assert [name for name, _ in problems] == ["SECRET_ENCRYPTION_KEY"]
    assert "fernet.keys" in problems[0][1]
    assert KEY not in problems[0][1]


def test_a_remote_backend_without_any_fernet_key_passes(tmp_path: Path) -> None:
    settings = production(tmp_path, drop=("SECRET_ENCRYPTION_KEY",), SECRET_ENCRYPTION_BACKEND="vault")
    assert production_problems(settings) == []


def test_plain_http_passes_behind_a_trusted_proxy_or_with_tls(tmp_path: Path) -> None:
    proxied = production(tmp_path, drop=("STRONGROOM_ALLOW_HTTP",), STRONGROOM_TRUSTED_PROXIES="10.0.0.0/8")
    assert production_problems(proxied) == []
    cert_file, key_file = self_signed(tmp_path)
    tls = production(
        tmp_path,
        drop=("STRONGROOM_ALLOW_HTTP",),
        STRONGROOM_TLS_CERT_FILE=str(cert_file),
        STRONGROOM_TLS_KEY_FILE=str(key_file),
    )
    assert production_problems(tls) == []
    options = uvicorn_options(tls)
    assert (options["ssl_certfile"], options["ssl_keyfile"]) == (str(cert_file), str(key_file))
    assert "ssl_certfile" not in uvicorn_options(proxied)


def test_the_app_factory_refuses_before_any_key_is_generated(tmp_path: Path) -> None:
    settings = load(tmp_path, STRONGROOM_ENV="production")
    with pytest.raises(ConfigError) as refused:
        create_app(settings, migrate_on_start=False)
    assert refused.value.variable == "SECRET_ENCRYPTION_KEY"
    assert not (tmp_path / "data").exists()


# ---- the settings -------------------------------------------------------------------


def test_serving_settings_are_read(tmp_path: Path) -> None:
    cert_file, key_file = self_signed(tmp_path)
    settings = load(
        tmp_path,
        STRONGROOM_ENV="Production",
        STRONGROOM_SHUTDOWN_GRACE="40",
        STRONGROOM_TLS_CERT_FILE=str(cert_file),
        STRONGROOM_TLS_KEY_FILE=str(key_file),
        STRONGROOM_ALLOW_HTTP="yes",
    )
    assert settings.environment == "production"
    assert settings.shutdown_grace_seconds == 40
    assert (settings.tls_cert_file, settings.tls_key_file) == (cert_file, key_file)
    assert settings.allow_http is True
    assert uvicorn_options(settings)["timeout_graceful_shutdown"] == 40
    defaults = load(tmp_path)
    assert (defaults.environment, defaults.shutdown_grace_seconds, defaults.allow_http) == ("development", 25, False)
    assert defaults.tls_cert_file is None and defaults.tls_key_file is None


@pytest.mark.parametrize(
    ("environ", "variable"),
    [
        ({"STRONGROOM_ENV": "staging"}, "STRONGROOM_ENV"),
        ({"STRONGROOM_SHUTDOWN_GRACE": "0"}, "STRONGROOM_SHUTDOWN_GRACE"),
        ({"STRONGROOM_SHUTDOWN_GRACE": "soon"}, "STRONGROOM_SHUTDOWN_GRACE"),
        ({"STRONGROOM_ALLOW_HTTP": "maybe"}, "STRONGROOM_ALLOW_HTTP"),
        # A certificate without its key names the key to set, and the other way round.
        ({"STRONGROOM_TLS_CERT_FILE": "{cert}"}, "STRONGROOM_TLS_KEY_FILE"),
        ({"STRONGROOM_TLS_KEY_FILE": "{key}"}, "STRONGROOM_TLS_CERT_FILE"),
        (
            {"STRONGROOM_TLS_CERT_FILE": "/nonexistent.crt", "STRONGROOM_TLS_KEY_FILE": "{key}"},
            "STRONGROOM_TLS_CERT_FILE",
        ),
        ({"STRONGROOM_TLS_CERT_FILE": "{cert}", "STRONGROOM_TLS_KEY_FILE": "{dir}"}, "STRONGROOM_TLS_KEY_FILE"),
    ],
)
def test_bad_serving_settings_name_their_variable(tmp_path: Path, environ: dict[str, str], variable: str) -> None:
    cert_file, key_file = self_signed(tmp_path)
    resolved = {k: v.format(cert=cert_file, key=key_file, dir=tmp_path) for k, v in environ.items()}
    with pytest.raises(ConfigError) as refused:
        load(tmp_path, **resolved)
    assert refused.value.variable == variable


# ---- real processes -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("drop", "extra", "variable"),
    [
        (("SECRET_ENCRYPTION_KEY",), {}, "SECRET_ENCRYPTION_KEY"),
        ((), {"STRONGROOM_GRAPHIQL": "true"}, "STRONGROOM_GRAPHIQL"),
        ((), {"STRONGROOM_INTROSPECTION": "true"}, "STRONGROOM_INTROSPECTION"),
        (("STRONGROOM_ALLOW_HTTP",), {}, "STRONGROOM_TLS_CERT_FILE"),
    ],
)
def test_serve_refuses_with_one_line_and_writes_nothing(
    tmp_path: Path, drop: tuple[str, ...], extra: dict[str, str], variable: str
) -> None:
    environ = {k: v for k, v in SAFE.items() if k not in drop}
    env = clean_environ(STRONGROOM_DATA_DIR=str(tmp_path / "data"), **{**environ, **extra})
    result = run_strongroom(["serve", "--port", str(free_port())], cwd=tmp_path, env=env)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"strongroom: configuration error: {variable}: "), lines[0]
    assert KEY not in result.stderr
    assert not (tmp_path / "data").exists(), list((tmp_path / "data").iterdir())


def _wait_https(server: ServerProcess, context: ssl.SSLContext) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    with httpx.Client(base_url=f"https://127.0.0.1:{server.port}", verify=context, timeout=1.0) as client:
        while time.monotonic() < deadline:
            assert server.process.poll() is None, server.output()
            try:
                if client.get("/healthz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
    raise AssertionError(f"no HTTPS answer within {START_TIMEOUT_SECONDS:.0f} s; output:\n{server.output()}")


def test_a_production_start_that_passes_serves_https_only(tmp_path: Path, served: list[ServerProcess]) -> None:
    cert_file, key_file = self_signed(tmp_path)
    token = "sr_" + "p" * 43
    environ = {k: v for k, v in SAFE.items() if k != "STRONGROOM_ALLOW_HTTP"}
    env = clean_environ(
        STRONGROOM_DATA_DIR=str(tmp_path / "data"),
        STRONGROOM_BOOTSTRAP_TOKEN=token,
        STRONGROOM_TLS_CERT_FILE=str(cert_file),
        STRONGROOM_TLS_KEY_FILE=str(key_file),
        **environ,
    )
    server = start_server(cwd=tmp_path, env=env, log_path=tmp_path / "run.log")
    served.append(server)
    context = ssl.create_default_context(cafile=str(cert_file))
    _wait_https(server, context)
    headers = {"authorization": f"Bearer {token}"}
    with httpx.Client(base_url=f"https://127.0.0.1:{server.port}", verify=context, headers=headers) as client:
        viewer = client.post("/graphql", json={"query": "{ viewer { name } }"})
        assert viewer.json() == {"data": {"viewer": {"name": "admin"}}}, viewer.text
        introspection = client.post("/graphql", json={"query": "{ __schema { types { name } } }"}).json()
        assert introspection.get("errors"), introspection
        assert client.get("/readyz").status_code == 200
    with pytest.raises(httpx.TransportError), httpx.Client(timeout=5.0) as plain:
        plain.get(f"http://127.0.0.1:{server.port}/healthz")
    assert server.stop() == 0, server.output()
    output = server.output()
    assert f"serving on https://127.0.0.1:{server.port}/graphql" in output, output
    assert not (tmp_path / "data" / "fernet.keys").exists()
    assert KEY not in output
