"""The committed schema.graphql is the schema the code serves, and meets the contract.

Why: clients and the shared contract check read schema.graphql, not the
code; a schema change without `make schema` silently breaks them.
"""

from __future__ import annotations

import difflib
import subprocess
import sys
from pathlib import Path

import pytest

from graphql_api.schema import build_schema

REPO_ROOT = Path(__file__).resolve().parent.parent
SCHEMA_FILE = REPO_ROOT / "schema.graphql"
CONTRACT_TOOL = REPO_ROOT.parent / "shared" / "tools" / "check_contract.py"


def test_committed_schema_matches_the_code() -> None:
    expected = build_schema().as_str() + "\n"
    committed = SCHEMA_FILE.read_text(encoding="utf-8")
    if committed != expected:
        diff = "".join(
            difflib.unified_diff(
                committed.splitlines(keepends=True),
                expected.splitlines(keepends=True),
                "schema.graphql (committed)",
                "build_schema() (code)",
                n=2,
            )
        )
        pytest.fail(f"schema.graphql is out of date: run `make schema` and commit it.\n{diff[:4000]}")


@pytest.mark.skipif(not CONTRACT_TOOL.is_file(), reason=f"contract checker not found at {CONTRACT_TOOL}")
def test_schema_meets_the_shared_contract() -> None:
    result = subprocess.run(
        [sys.executable, str(CONTRACT_TOOL), str(SCHEMA_FILE)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, f"check_contract.py failed:\n{result.stdout}{result.stderr}"
