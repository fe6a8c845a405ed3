"""Everyday secret commands, by name, against a real server: values never on
the command line, never in any output but `secrets get`'s."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.conftest import Live, ok, one_error_line


def test_set_get_rotate_rollback_delete_restore_history(live: Live, here: Path) -> None:
    w = live.workspace()
    created = ok(
        live.cli(
            "secrets", "set", "STRIPE_API_KEY", "-w", w, "--type", "api_key", "--tag", "payments", input="sk_first\n"
        )
    )
    assert created.strip() == "created STRIPE_API_KEY (API_KEY, version 1)"
    assert ok(live.cli("secrets", "get", "STRIPE_API_KEY", "-w", w)) == "sk_first\n"  # one line end was removed
    pem = here / "key.pem"
    pem.write_bytes(b"-----BEGIN-----\nabc\n-----END-----\n")
    assert ok(live.cli("secrets", "set", "STRIPE_API_KEY", "-w", w, "--from-file", str(pem))).strip() == (
        "updated STRIPE_API_KEY: version 2"
    )
    assert ok(live.cli("secrets", "get", "STRIPE_API_KEY", "-w", w, "-n")) == pem.read_text()  # byte for byte
    rotated = ok(live.cli("secrets", "rotate", "STRIPE_API_KEY", "-w", w, input="sk_third"))
    assert rotated.startswith("rotated STRIPE_API_KEY: version 3")
    assert ok(live.cli("secrets", "rollback", "STRIPE_API_KEY", "-w", w, "--to", "1")).startswith(
        "rolled back STRIPE_API_KEY to the value of version 1: now version 4"
    )
    assert json.loads(ok(live.cli("secrets", "get", "STRIPE_API_KEY", "-w", w, "--json")))["value"] == "sk_first"
    old = json.loads(ok(live.cli("secrets", "get", "STRIPE_API_KEY", "-w", w, "--version", "3", "--json")))
    assert (old["version"], old["value"]) == (3, "sk_third")

    listing = ok(live.cli("secrets", "list", "-w", w))
    rows = [line.split() for line in listing.splitlines()]
    assert rows[0] == ["NAME", "TYPE", "VERSION", "POLICY", "ROTATION", "DUE", "TAGS"]
    assert rows[1][:3] == ["STRIPE_API_KEY", "API_KEY", "4"] and rows[1][-1] == "payments"
    assert "sk_" not in listing

    history = ok(live.cli("secrets", "history", "STRIPE_API_KEY", "-w", w))
    assert [line.split()[0] for line in history.splitlines()] == ["VERSION", "1", "2", "3", "4"]
    assert history.splitlines()[-1].rstrip().endswith("*") and "sk_" not in history

    assert ok(live.cli("secrets", "delete", "STRIPE_API_KEY", "-w", w)).startswith("deleted STRIPE_API_KEY")
    assert "STRIPE_API_KEY" not in ok(live.cli("secrets", "list", "-w", w))
    assert "STRIPE_API_KEY" in ok(live.cli("secrets", "list", "-w", w, "--all"))
    assert ok(live.cli("secrets", "restore", "STRIPE_API_KEY", "-w", w)).startswith("restored STRIPE_API_KEY")
    assert ok(live.cli("secrets", "get", "STRIPE_API_KEY", "-w", w)) == "sk_first\n"


def test_secret_commands_fail_in_one_line(live: Live) -> None:
    w = live.workspace()
    one_error_line(live.cli("secrets", "get", "NOPE", "-w", w), "NOT_FOUND")
    ok(live.cli("secrets", "set", "A", "-w", w, input="v"))
    one_error_line(live.cli("secrets", "set", "A", "-w", w, "--expected-version", "7", input="w"), "CONFLICT")
    line = one_error_line(live.cli("secrets", "set", "A", "-w", w, "--type", "PASSWORD", input="w"), "BAD_USER_INPUT")
    assert "a type cannot change" in line
    missing = live.cli("secrets", "list", "-w", "no-such-workspace")
    assert missing.returncode == 1 and len(missing.stderr.splitlines()) == 1
    assert missing.stderr.startswith(("strongroom: NOT_FOUND: ", "strongroom: FORBIDDEN: "))


def test_the_workspace_can_come_from_the_environment(live: Live) -> None:
    w = live.workspace()
    env = live.env(STRONGROOM_WORKSPACE=w)
    ok(live.cli("secrets", "set", "FROM_ENV", input="v", env=env))
    assert ok(live.cli("secrets", "get", "FROM_ENV", env=env)) == "v\n"


def test_a_profile_replaces_the_environment(live: Live, here: Path) -> None:
    w = live.workspace()
    profile = here / "dev.toml"
    profile.write_text(f'url = "{live.url}"\ntoken = "{live.token}"\n')
    profile.chmod(0o600)
    env = {k: v for k, v in live.env().items() if k not in ("STRONGROOM_URL", "STRONGROOM_TOKEN")}
    ok(live.cli("--profile", str(profile), "secrets", "set", "P", "-w", w, input="v", env=env))
    assert ok(live.cli("--profile", str(profile), "secrets", "get", "P", "-w", w, env=env)) == "v\n"
    profile.chmod(0o644)
    line = one_error_line(
        live.cli("--profile", str(profile), "secrets", "get", "P", "-w", w, env=env), "configuration error", 2
    )
    assert "chmod 600" in line and live.token not in line


def test_diff_compares_without_a_value(live: Live) -> None:
    staging, prod = live.workspace("acme-staging"), live.workspace("acme-prod")
    with live.client() as client:
        for workspace, values in (
            (staging, {"SAME": "1", "DIFFERENT": "sk_staging_value", "STAGING_ONLY": "x"}),
            (prod, {"SAME": "1", "DIFFERENT": "sk_prod_value", "PROD_ONLY": "y"}),
        ):
            for name, value in values.items():
                client.create_secret(workspace, name, value)
    out = ok(live.cli("diff", staging, prod))
    rows = {line.split()[0]: line for line in out.splitlines()[1:-1]}
    assert "same" in rows["SAME"] and "different" in rows["DIFFERENT"]
    assert f"only in {staging}" in rows["STAGING_ONLY"] and f"only in {prod}" in rows["PROD_ONLY"]
    assert out.splitlines()[-1] == f"1 only in {staging}, 1 only in {prod}, 1 different, 1 same"
    assert "sk_" not in out
    document = json.loads(ok(live.cli("diff", staging, prod, "--json")))
    assert document == {
        "workspaces": [staging, prod],
        "onlyIn": {staging: ["STAGING_ONLY"], prod: ["PROD_ONLY"]},
        "different": ["DIFFERENT"],
        "same": ["SAME"],
    }
    assert live.cli("diff", staging, prod, "--exit-code").returncode == 1
