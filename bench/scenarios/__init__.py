"""One module per scenario, each with `run(lab, report)`; see bench/README.md."""

from __future__ import annotations

DATABASES = ("sqlite", "postgres")
