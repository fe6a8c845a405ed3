"""The `strongroom` command as operators run it: a real subprocess.

Why: bad configuration must stop `strongroom serve` before it serves, with
exit status 2 and one line naming the variable to fix (no traceback, no
echo of secret values), `migrate` / `schema` must work from a bare shell, and
the database commands must not create a database by accident.
Every run uses a controlled environment (tests/process.py) in a temporary
directory, so no `.env` or developer variable leaks in.
"""

from __future__ import annotations

import re
import socket
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from tests.process import GENERATED_TOKEN, clean_environ, run_strongroom, start_server

EXIT_CONFIG = 2
BAD_FERNET_KEY = "not-a-key"


def _assert_config_error(result_stdout: str, result_stderr: str, returncode: int, variable: str) -> str:
    combined = result_stdout + result_stderr
    assert returncode == EXIT_CONFIG, f"exit {returncode}; output:\n{combined}"
    assert "Traceback" not in combined, combined
    lines = result_stderr.splitlines()
    assert len(lines) == 1, f"expected exactly one line on stderr, got {len(lines)}:\n{result_stderr}"
    assert variable in lines[0], lines[0]
    assert lines[0].startswith("strongroom: configuration error: "), lines[0]
    return lines[0]


def _serve(tmp_path: Path, **variables: str) -> tuple[str, str, int]:
    result = run_strongroom(["serve"], cwd=tmp_path, env=clean_environ(**variables))
    return result.stdout, result.stderr, result.returncode


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        pytest.param("SECRET_ENCRYPTION_BACKEND", "nosuch", id="unknown-backend"),
        pytest.param("SECRET_ROTATION_DAYS", "45", id="rotation-days-not-a-choice"),
        pytest.param("DATABASE_URL", "postgres://postgres@127.0.0.1:1/nowhere", id="unreachable-database"),
        pytest.param("STRONGROOM_PORT", "abc", id="port-not-a-number"),
    ],
)
def test_serve_stops_on_bad_configuration(tmp_path: Path, variable: str, value: str) -> None:
    stdout, stderr, code = _serve(tmp_path, **{variable: value})
    _assert_config_error(stdout, stderr, code, variable)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        pytest.param("SECRET_ENCRYPTION_BACKEND", "nosuch", id="unknown-backend"),
        pytest.param("DATABASE_URL", "postgres://postgres@127.0.0.1:1/nowhere", id="unreachable-database"),
    ],
)
def test_serve_stops_on_bad_configuration_with_explicit_key(tmp_path: Path, variable: str, value: str) -> None:
    # Same errors with a valid key supplied: nothing to generate either way.
    key = Fernet.generate_key().decode("ascii")
    stdout, stderr, code = _serve(tmp_path, SECRET_ENCRYPTION_KEY=key, **{variable: value})
    _assert_config_error(stdout, stderr, code, variable)
    assert key not in stdout + stderr


def test_serve_stops_on_malformed_fernet_key_without_echoing_it(tmp_path: Path) -> None:
    stdout, stderr, code = _serve(tmp_path, SECRET_ENCRYPTION_KEY=BAD_FERNET_KEY)
    _assert_config_error(stdout, stderr, code, "SECRET_ENCRYPTION_KEY")
    assert BAD_FERNET_KEY not in stdout + stderr


@pytest.mark.parametrize(
    "variables",
    [
        {"SECRET_ROTATION_DAYS": "45"},
        {"SECRET_ENCRYPTION_BACKEND": "nosuch"},
        {"DATABASE_URL": "postgres://postgres@127.0.0.1:1/nowhere"},
    ],
)
def test_bad_configuration_leaves_no_data_dir(tmp_path: Path, variables: dict[str, str]) -> None:
    stdout, stderr, code = _serve(tmp_path, **variables)
    assert code == EXIT_CONFIG, stdout + stderr
    assert not (tmp_path / ".strongroom").exists()


def test_the_key_generation_command_the_error_suggests_exists(tmp_path: Path) -> None:
    result = run_strongroom(["keys", "generate"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    Fernet(result.stdout.strip())  # a usable key, not just any text


def test_migrate_applies_once(tmp_path: Path) -> None:
    env = clean_environ(STRONGROOM_DATA_DIR=str(tmp_path / "data"))
    first = run_strongroom(["migrate", "--init"], cwd=tmp_path, env=env)
    assert first.returncode == 0, first.stdout + first.stderr
    assert re.search(r"applied [1-9][0-9]* migration\(s\)", first.stdout), first.stdout
    assert (tmp_path / "data" / "strongroom.db").is_file()
    assert f"strongroom: database sqlite://{tmp_path / 'data' / 'strongroom.db'}" in first.stderr
    second = run_strongroom(["migrate"], cwd=tmp_path, env=env)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "applied 0 migration(s)" in second.stdout, second.stdout
    assert "Traceback" not in first.stderr + second.stderr


@pytest.mark.parametrize(
    "command", [["migrate"], ["token", "bootstrap"], ["rotation", "run-once"]], ids=lambda c: "-".join(c)
)
def test_database_commands_refuse_to_create_a_database_without_init(tmp_path: Path, command: list[str]) -> None:
    # Run from the wrong folder, they used to make a fresh empty database (and a token for it).
    result = run_strongroom(command, cwd=tmp_path, env=clean_environ())
    line = _assert_config_error(result.stdout, result.stderr, result.returncode, "STRONGROOM_DATA_DIR")
    assert str(tmp_path / ".strongroom" / "strongroom.db") in line and "--init" in line
    assert result.stdout == ""
    assert not (tmp_path / ".strongroom").exists()
    explicit = run_strongroom(command, cwd=tmp_path, env=clean_environ(DATABASE_URL=f"sqlite://{tmp_path}/x.db"))
    _assert_config_error(explicit.stdout, explicit.stderr, explicit.returncode, "DATABASE_URL")


def test_token_bootstrap_with_init_prints_the_token_alone_and_the_database_on_stderr(tmp_path: Path) -> None:
    result = run_strongroom(["token", "bootstrap", "--init"], cwd=tmp_path, env=clean_environ())
    assert result.returncode == 0, result.stderr
    assert GENERATED_TOKEN.fullmatch(result.stdout.strip()), result.stdout
    assert (
        result.stderr.splitlines()[0] == f"strongroom: database sqlite://{tmp_path / '.strongroom' / 'strongroom.db'}"
    )


def test_serve_refuses_workers_on_sqlite(tmp_path: Path) -> None:
    result = run_strongroom(["serve", "--workers", "2"], cwd=tmp_path, env=clean_environ())
    _assert_config_error(result.stdout, result.stderr, result.returncode, "--workers")
    assert not (tmp_path / ".strongroom").exists()


def test_a_busy_port_stops_serve_before_it_bootstraps(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        busy = run_strongroom(["serve", "--port", str(port)], cwd=tmp_path, env=clean_environ())
    line = _assert_config_error(busy.stdout, busy.stderr, busy.returncode, "STRONGROOM_PORT")
    assert f"127.0.0.1:{port} is already in use" in line
    # Nothing was created, so the first real start still prints the one-time token.
    assert not (tmp_path / ".strongroom").exists()
    server = start_server(cwd=tmp_path, env=clean_environ(), log_path=tmp_path / "server.log")
    try:
        server.wait_healthy()
        assert GENERATED_TOKEN.search(server.output()), server.output()
        assert f"serving on http://127.0.0.1:{server.port}/graphql" in server.output()
    finally:
        server.kill()


def test_schema_prints_sdl(tmp_path: Path) -> None:
    result = run_strongroom(["schema"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "type Query" in result.stdout
    assert "type Mutation" in result.stdout
    assert "Traceback" not in result.stderr
