"""`strongroom import` and `strongroom export` against a real server."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from tests.cli.conftest import Live, ok, one_error_line
from tests.support.hostile import HOSTILE

DOTENV = "DB_PASSWORD='pw'\nGITHUB_TOKEN=ghp_x\nSTRIPE_API_KEY=sk_1\nLOG_LEVEL=info\n"


def _plan(live: Live, *args: str, input: str = DOTENV) -> dict[str, object]:
    document: dict[str, object] = json.loads(ok(live.cli("import", "-", *args, "--json", input=input)))
    return document


def test_types_come_from_names_and_plain_names_are_manual(live: Live) -> None:
    workspace = live.workspace()
    result = _plan(live, "-w", workspace)
    rows = {row["name"]: row for row in result["plan"]}  # type: ignore[attr-defined]
    assert {name: (row["action"], row["secretType"], row["line"]) for name, row in rows.items()} == {
        "DB_PASSWORD": ("CREATE", "DATABASE_CREDENTIAL", 1),
        "GITHUB_TOKEN": ("CREATE", "OAUTH_TOKEN", 2),
        "STRIPE_API_KEY": ("CREATE", "API_KEY", 3),
        "LOG_LEVEL": ("CREATE", "GENERIC", 4),
    }
    assert rows["LOG_LEVEL"]["rotationPolicy"] == "MANUAL"
    assert rows["STRIPE_API_KEY"]["rotationPolicy"] != "MANUAL"


def test_reimport_skips_overwrite_updates_only_what_changed(live: Live) -> None:
    workspace = live.workspace()
    ok(live.cli("import", "-", "-w", workspace, input=DOTENV))
    skipped = ok(live.cli("import", "-", "-w", workspace, input=DOTENV))
    assert skipped.strip() == "created 0, updated 0, unchanged 0, skipped 4 (existing; --overwrite updates them)"
    changed = DOTENV.replace("sk_1", "sk_2") + "NEW_SECRET=n\n"
    overwritten = ok(live.cli("import", "-", "-w", workspace, "--overwrite", input=changed))
    assert overwritten.strip() == "created 1, updated 1, unchanged 3, skipped 0"
    with live.client() as client:
        versions = {s.name: s.current_version for s in client.iter_secrets(workspace)}
    assert versions == {"DB_PASSWORD": 1, "GITHUB_TOKEN": 1, "STRIPE_API_KEY": 2, "LOG_LEVEL": 1, "NEW_SECRET": 1}


def test_dry_run_shows_the_plan_without_values_and_changes_nothing(live: Live) -> None:
    workspace = live.workspace()
    ok(live.cli("import", "-", "-w", workspace, input="STRIPE_API_KEY=sk_old\n"))
    text = "STRIPE_API_KEY=sk_new_secret_value\nFRESH_TOKEN=tok_secret_value\n"
    out = ok(live.cli("import", "-", "-w", workspace, "--dry-run", "--overwrite", input=text))
    rows = [line.split() for line in out.splitlines()]
    assert rows[0] == ["NAME", "LINE", "ACTION", "TYPE", "POLICY"]
    assert [r[:3] for r in rows[1:3]] == [["STRIPE_API_KEY", "1", "UPDATE"], ["FRESH_TOKEN", "2", "CREATE"]]
    assert out.splitlines()[-1] == "dry run, nothing changed: would create 1, update 1, leave 0 unchanged, skip 0"
    assert "secret_value" not in out
    with live.client() as client:
        assert [(s.name, s.current_version) for s in client.iter_secrets(workspace)] == [("STRIPE_API_KEY", 1)]


def test_type_policy_and_tags_apply_to_every_entry(live: Live) -> None:
    workspace = live.workspace()
    ok(
        live.cli(
            "import",
            "-",
            "-w",
            workspace,
            "--type",
            "password",
            "--policy",
            "auto_30_days",
            "--tag",
            "imported",
            "--tag",
            "legacy",
            input="A=1\nB_KEY=2\n",
        )
    )
    with live.client() as client:
        rows = {s.name: (s.secret_type, s.rotation_policy, sorted(s.tags)) for s in client.iter_secrets(workspace)}
    assert rows == {name: ("PASSWORD", "AUTO_30_DAYS", ["imported", "legacy"]) for name in ("A", "B_KEY")}


def test_a_bad_file_is_refused_by_line_before_anything_is_sent(live: Live, here: Path) -> None:
    workspace = live.workspace()
    bad = here / "bad.env"
    bad.write_text("GOOD=sk_good_value\nsk_live_pasted_alone\nDUP=1\nDUP=sk_dup_value\n")
    line = one_error_line(live.cli("import", str(bad), "-w", workspace), "BAD_USER_INPUT")
    assert line == (
        f"strongroom: BAD_USER_INPUT: {bad}: line 2: expected KEY=VALUE; line 4: DUP is already set on line 3"
    )
    with live.client() as client:
        assert list(client.iter_secrets(workspace)) == []


def test_a_large_file_goes_in_pieces_and_server_errors_keep_the_files_line_numbers(live: Live, here: Path) -> None:
    workspace = live.workspace()
    big = here / "big.env"
    lines = [f"VAR_{i:05d}='value {i}'" for i in range(2500)]
    big.write_text("# generated\n" + "\n".join(lines) + "\n")
    assert (
        ok(live.cli("import", str(big), "-w", workspace, timeout=180)).strip()
        == "created 2500, updated 0, unchanged 0, skipped 0"
    )
    # Only the server knows a value is too large: its "line N" of a piece is reported as the file's line.
    lines[2100] = "VAR_02100='" + "x" * (64 * 1024 + 1) + "'"
    big.write_text("# generated\n" + "\n".join(lines) + "\n")
    line = one_error_line(live.cli("import", str(big), "-w", workspace, "--overwrite", timeout=180), "BAD_USER_INPUT")
    assert "line 2102" in line and "xxxx" not in line
    with live.client() as client:
        assert {s.current_version for s in client.iter_secrets(workspace)} == {1}  # checked first: nothing written


def test_from_env_imports_secret_looking_names_but_never_strongrooms_own(live: Live) -> None:
    workspace = live.workspace()
    env = live.env(APP_API_KEY="k1", DB_PASSWORD="p1", PLAIN_SETTING="no", OAUTH_TOKEN="t1", lower_secret="s1")
    out = ok(live.cli("import", "--from-env", "-w", workspace, env=env))
    with live.client() as client:
        names = {s.name for s in client.iter_secrets(workspace)}
    assert {"APP_API_KEY", "DB_PASSWORD", "OAUTH_TOKEN", "lower_secret"} <= names
    assert "PLAIN_SETTING" not in names and "STRONGROOM_TOKEN" not in names
    assert out.startswith("created ")
    chosen = ok(live.cli("import", "--from-env", "--pattern", "PLAIN_*", "-w", workspace, env=env))
    assert chosen.strip() == "created 1, updated 0, unchanged 0, skipped 0"


@pytest.mark.parametrize("fmt", ["dotenv", "json", "yaml", "shell"])
def test_export_round_trips_hostile_values_through_import_byte_exactly(live: Live, fmt: str, here: Path) -> None:
    source = live.workspace("hostile")
    with live.client() as client:
        for name, value in HOSTILE:
            client.create_secret(source, name, value)
    first = ok(live.cli("export", "-w", source, "--format", fmt))
    copy = live.workspace("hostile-copy")
    target = here / f"exported.{ {'dotenv': 'env', 'json': 'json', 'yaml': 'yaml', 'shell': 'sh'}[fmt] }"
    target.write_text(first, encoding="utf-8")
    ok(live.cli("import", str(target), "-w", copy))
    assert ok(live.cli("export", "-w", copy, "--format", fmt)) == first
    with live.client() as client:
        assert {v.name: v.value for v in client.secret_values(copy)} == dict(HOSTILE)
    ok(live.cli("diff", source, copy, "--exit-code"))


def test_export_to_a_file_is_private(live: Live, here: Path) -> None:
    workspace = live.workspace()
    with live.client() as client:
        client.create_secret(workspace, "A", "1")
    target = here / "out.env"
    ok(live.cli("export", "-w", workspace, "-o", str(target)))
    assert target.read_text() == "A=1\n" and stat.S_IMODE(target.stat().st_mode) == 0o600


def test_server_errors_about_converted_files_name_the_source_line_or_name(live: Live, here: Path) -> None:
    workspace = live.workspace()
    big = "x" * (64 * 1024 + 1)
    yaml_file = here / "app.yaml"
    yaml_file.write_text(f'# settings\nA: "1"\nB: "{big}"\n')
    line = one_error_line(live.cli("import", str(yaml_file), "-w", workspace), "BAD_USER_INPUT")
    assert line.startswith(f"strongroom: BAD_USER_INPUT: {yaml_file}: ") and "line 3" in line and "xxxx" not in line
    json_file = here / "app.json"
    json_file.write_text(json.dumps({"A": "1", "B": big}))
    line = one_error_line(live.cli("import", str(json_file), "-w", workspace), "BAD_USER_INPUT")
    assert "B" in line.split(f"{json_file}: ", 1)[1] and "xxxx" not in line
