"""What a production start must pass (STRONGROOM_ENV=production).

Checked by `strongroom serve` before it binds anything and by the app
factory of every worker, so a refused setting stops the process with one line
before anything is written. A module of its own: the app factory needs it, and
graphql_api.serving (which imports the app for its workers) must not be
imported back.
"""

from __future__ import annotations

from graphql_api.settings import ConfigError, Settings

PRODUCTION = "production"


def production_problems(settings: Settings) -> list[tuple[str, str]]:
    """What STRONGROOM_ENV=production refuses, as (variable to fix, why); empty in development."""
    if settings.environment != PRODUCTION:
        return []
    from plugins.builtin.fernet import KEYRING_FILE

    problems: list[tuple[str, str]] = []
    keyring = settings.data_dir / KEYRING_FILE
    if not settings.encryption_keys and (settings.encryption_backend == "fernet" or keyring.exists()):
        if keyring.exists():
            problems.append(
                (
                    "SECRET_ENCRYPTION_KEY",
                    f"is not set, and production refuses the generated development keyring {keyring}: "
                    "pass its keys in SECRET_ENCRYPTION_KEY (comma-separated, first line first)",
                )
            )
        else:
            problems.append(
                (
                    "SECRET_ENCRYPTION_KEY",
                    "is not set, and production refuses a generated development key: "
                    "make one with `strongroom keys generate` and pass it in SECRET_ENCRYPTION_KEY",
                )
            )
    if settings.graphiql_enabled:
        problems.append(("STRONGROOM_GRAPHIQL", "is on, which production refuses: set STRONGROOM_GRAPHIQL=false"))
    if settings.introspection_enabled:
        problems.append(
            ("STRONGROOM_INTROSPECTION", "is on, which production refuses: set STRONGROOM_INTROSPECTION=false")
        )
    if settings.tls_cert_file is None and not settings.trusted_proxies and not settings.allow_http:
        problems.append(
            (
                "STRONGROOM_TLS_CERT_FILE",
                "production refuses plain HTTP: serve HTTPS (STRONGROOM_TLS_CERT_FILE and STRONGROOM_TLS_KEY_FILE), "
                "or name the TLS-terminating proxy in STRONGROOM_TRUSTED_PROXIES, or set STRONGROOM_ALLOW_HTTP=true",
            )
        )
    return problems


def check_production(settings: Settings) -> None:
    """Raise one ConfigError (one line) for everything STRONGROOM_ENV=production refuses."""
    problems = production_problems(settings)
    if not problems:
        return
    (variable, message), others = problems[0], problems[1:]
    if others:
        message += "; also fix " + ", ".join(name for name, _ in others)
    raise ConfigError(variable, f"{message} (STRONGROOM_ENV=production)")
