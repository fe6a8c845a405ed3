"""A third-party encryption backend, installed through a real entry point
(a distribution's metadata on sys.path), used end to end over the API."""

from __future__ import annotations

from pathlib import Path

import pytest

from models import SecretVersion
from plugins.manager import build_plugin_manager
from tests.conftest import make_settings
from tests.distribution import installed_plugin
from tests.support.running import running

pytestmark = pytest.mark.asyncio

PLUGIN = """
import pluggy
from plugins.testing import InMemoryBackend  # the example reuses our test double's logic

hookimpl = pluggy.HookimplMarker("strongroom")


class ExampleBackend(InMemoryBackend):
    def __init__(self):
        super().__init__(name="example")


@hookimpl
def register_encryption_backends(config):
    if config.environ.get("EXAMPLE_BACKEND") != "on":
        return None
    return [ExampleBackend()]
"""


async def test_entry_point_backend_end_to_end(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with installed_plugin(tmp_path / "site", "sr_example_backend", PLUGIN, monkeypatch):
        settings = make_settings(database_url, tmp_path / "data", EXAMPLE_BACKEND="on")
        async with running(settings, plugins=build_plugin_manager()) as server:
            created = await server.data(
                'mutation { createSecret(workspaceId: "default", input: {name: "VIA_PLUGIN", secretType: GENERIC, value: "plugin-sealed", encryptionBackend: "example"}) { id encryptionBackend versions { encryptionBackend keyId } } }'
            )
            secret = created["createSecret"]
            assert secret["encryptionBackend"] == "example"
            assert secret["versions"] == [{"encryptionBackend": "example", "keyId": "example-key-1"}]
            value = await server.data(
                'query($id: ID!) { secretValue(workspaceId: "default", id: $id) { value } }', {"id": secret["id"]}
            )
            assert value["secretValue"]["value"] == "plugin-sealed"
            row = await SecretVersion.get(secret_id=secret["id"])
            assert row.backend == "example"
            health = await server.data("{ encryptionHealth { currentBackend backends { name healthy keyId } } }")
            names = {b["name"]: b for b in health["encryptionHealth"]["backends"]}
            assert names["example"]["healthy"] is True and health["encryptionHealth"]["currentBackend"] == "fernet"
            moved = await server.data(
                'mutation { rotateEncryptionKey(targetBackend: "example") { backend rewrapped remaining } }'
            )
            assert moved["rotateEncryptionKey"]["remaining"] == 0


def readme_backend_example() -> str:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    section = readme.split("### Writing an encryption backend", 1)[1]
    return section.split("```python\n", 1)[1].split("```", 1)[0]


async def test_the_readme_backend_example_works_as_written(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with installed_plugin(tmp_path / "site", "sr_readme_backend", readme_backend_example(), monkeypatch):
        settings = make_settings(
            database_url, tmp_path / "data", LOCAL_AES_KEY="11" * 32, SECRET_ENCRYPTION_BACKEND="local_aes"
        )
        async with running(settings, plugins=build_plugin_manager()) as server:
            created = await server.data(
                'mutation { createSecret(workspaceId: "default", input: {name: "AES", secretType: GENERIC, value: "readme"}) { id encryptionBackend } }'
            )
            assert created["createSecret"]["encryptionBackend"] == "local_aes"
            value = await server.data(
                'query($id: ID!) { secretValue(workspaceId: "default", id: $id) { value } }',
                {"id": created["createSecret"]["id"]},
            )
            assert value["secretValue"]["value"] == "readme"
