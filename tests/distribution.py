"""Installing a plugin the way pip would, for tests: a package and its
distribution metadata (with a `strongroom` entry point) in a folder on sys.path."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


@contextmanager
def installed_plugin(site: Path, package: str, source: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """`package` (module text `source`) installed with entry point `strongroom: <package>`."""
    (site / package).mkdir(parents=True)
    (site / package / "__init__.py").write_text(source)
    info = site / f"{package}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {package.replace('_', '-')}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[strongroom]\n{package} = {package}\n")
    monkeypatch.syspath_prepend(str(site))
    try:
        yield
    finally:
        sys.modules.pop(package, None)
