"""The `vault` backend tests' fixtures (tests/plugins/vault_server.py): OpenBao, a transit mount, backends."""

from tests.plugins.vault_server import admin, backend, bao, make_backend, transit

__all__ = ["admin", "backend", "bao", "make_backend", "transit"]
