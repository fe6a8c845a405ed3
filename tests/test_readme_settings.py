"""Every variable the server, its plugins or the command line read is in the README.

Why: an operator learns the settings from the README's tables; a setting added
in code and not written down there is one nobody can find. The variables are
found the way a reader of the code finds them, as string literals with a
settings prefix in graphql_api/ and plugins/, so a new one cannot slip past.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_VARIABLE = re.compile(
    r"[\"'](STRONGROOM_[A-Z0-9_]+|SECRET_[A-Z0-9_]+|VAULT_[A-Z0-9_]+|AWS_[A-Z0-9_]+|DATABASE_URL|ENABLE_[A-Z0-9_]+)[\"']"
)

# Literals with a settings prefix that are not settings: an enum member, an
# example name in a docstring, and boto3's own credential chain (documented by
# the README as "boto3's chain").
NOT_SETTINGS = {
    "DATABASE_CREDENTIAL",
    "SECRET_STRIPE_API_KEY",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
}


def _variables_in_code() -> set[str]:
    found: set[str] = set()
    for package in ("graphql_api", "plugins"):
        for path in (ROOT / package).rglob("*.py"):
            found.update(_VARIABLE.findall(path.read_text(encoding="utf-8")))
    return found - NOT_SETTINGS


def test_the_scan_finds_the_settings_it_should() -> None:
    # The scan itself can fail: these are read in settings.py and the client.
    assert {"STRONGROOM_DATA_DIR", "DATABASE_URL", "VAULT_URL", "STRONGROOM_TOKEN"} <= _variables_in_code()


def test_every_variable_read_by_the_code_is_documented() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"`([A-Z][A-Z0-9_]+)", readme))
    missing = sorted(_variables_in_code() - documented)
    assert not missing, f"read by the code but not in README.md: {missing}"
