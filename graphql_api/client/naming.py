"""What a variable's name says about it (the seed's rules, in one place).

A name looks secret when it contains one of `SECRET_WORDS` (any case):
`strongroom import --from-env` picks those variables, and the importer types
them: password -> DATABASE_CREDENTIAL, token -> OAUTH_TOKEN, any other
key/secret/credential -> API_KEY. Everything else (LOG_LEVEL, PORT) is
GENERIC, and an importer gives it the MANUAL rotation policy.
"""

from __future__ import annotations

SECRET_WORDS = ("key", "secret", "token", "password", "credential")


def looks_secret(name: str) -> bool:
    lowered = name.lower()
    return any(word in lowered for word in SECRET_WORDS)


def detect_secret_type(name: str) -> str:
    lowered = name.lower()
    if "password" in lowered:
        return "DATABASE_CREDENTIAL"
    if "token" in lowered:
        return "OAUTH_TOKEN"
    if looks_secret(name):
        return "API_KEY"
    return "GENERIC"
