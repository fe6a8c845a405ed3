"""The HashiCorp Vault Transit encryption backend's plugin (`vault`): its
configuration and registration. The backend itself is
plugins/builtin/vault_transit_backend.py, imported only when VAULT_URL is
set, so a server without Vault never loads hvac and requests.

Configuration (environment or `.env`):

- VAULT_URL, VAULT_TOKEN, VAULT_TRANSIT_KEY: all three make the backend
  available; VAULT_URL without the others is a configuration error.
- VAULT_MOUNT_POINT: the transit engine's mount (default `transit`).
- VAULT_NAMESPACE: a Vault Enterprise namespace (sent as X-Vault-Namespace).
- VAULT_RETRY_ATTEMPTS (3), VAULT_RETRY_DEADLINE (20 s), VAULT_RETRY_BACKOFF
  (0.1 s), VAULT_RETRY_BACKOFF_MAX (2 s): the retry policy (plugins/retries.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from plugins import ConfigError, hookimpl
from plugins.interfaces import PluginConfig
from plugins.retries import RetryPolicy, RetryVariables

if TYPE_CHECKING:
    from plugins.builtin.vault_transit_backend import VaultTransitBackend

RETRY_VARIABLES = RetryVariables(
    "VAULT_RETRY_ATTEMPTS", "VAULT_RETRY_DEADLINE", "VAULT_RETRY_BACKOFF", "VAULT_RETRY_BACKOFF_MAX"
)


@hookimpl(trylast=True)
def register_encryption_backends(config: PluginConfig) -> Iterable[VaultTransitBackend]:
    settings = config.settings
    if settings is not None:
        url, key, mount, namespace = (
            settings.vault_url,
            settings.vault_transit_key,
            settings.vault_mount_point,
            settings.vault_namespace,
        )
        token = settings.vault_token.reveal() if settings.vault_token is not None else None
    else:

        def text(name: str) -> str | None:
            return (config.environ.get(name) or "").strip() or None

        url, key, token = text("VAULT_URL"), text("VAULT_TRANSIT_KEY"), text("VAULT_TOKEN")
        mount, namespace = text("VAULT_MOUNT_POINT") or "transit", text("VAULT_NAMESPACE")
    if not url:
        return []
    if not key:
        raise ConfigError("VAULT_TRANSIT_KEY", "must be set with VAULT_URL")
    if not token:
        raise ConfigError("VAULT_TOKEN", "must be set with VAULT_URL")
    retry = RetryPolicy.from_environ(config.environ, RETRY_VARIABLES)
    from plugins.builtin.vault_transit_backend import VaultTransitBackend  # hvac only when configured

    return [VaultTransitBackend(url, token, key, mount_point=mount.strip("/"), namespace=namespace, retry=retry)]
