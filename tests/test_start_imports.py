"""What a server loads at start: no client library of a backend it does not use.

Why: importing modules is most of a cold start (issue 10's target is 3 s to
the first answer), and boto3 with botocore, hvac with requests, and the
Python client's httpx, websockets and rich were about a third of the
server's imports while most servers use none of them. Each test runs in a
fresh interpreter, since this one has imported everything long ago.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BACKEND_LIBRARIES = ("boto3", "botocore", "hvac", "requests")
# The Python client's transport, and the webhook notifier's when one is configured.
CLIENT_LIBRARIES = ("httpx", "websockets")


def _loaded_after(code: str, tmp_path: Path, environ: dict[str, str] | None = None) -> set[str]:
    """The top-level modules loaded once `code` ran in a new interpreter."""
    script = f"import sys, json\n{code}\nprint(json.dumps(sorted({{name.partition('.')[0] for name in sys.modules}})))"
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), **(environ or {})},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return set(json.loads(result.stdout.splitlines()[-1]))


def _collect_backends(environ: dict[str, str], data_dir: Path) -> str:
    return (
        "import graphql_api.app, graphql_api.cli\n"
        "from pathlib import Path\n"
        "from plugins.interfaces import PluginConfig\n"
        "from plugins.manager import build_plugin_manager, collect_encryption_backends\n"
        f"config = PluginConfig(environ={environ!r}, data_dir=Path({str(data_dir)!r}))\n"
        "backends = collect_encryption_backends(build_plugin_manager(load_entry_points=False), config)\n"
        "print(sorted(backends), file=sys.stderr)\n"
    )


def test_a_server_on_fernet_imports_no_backend_or_client_library(tmp_path: Path) -> None:
    environ = {"SECRET_ENCRYPTION_KEY": "x" * 43 + "="}
    loaded = _loaded_after(_collect_backends(environ, tmp_path), tmp_path)
    assert "graphql_api" in loaded and "plugins" in loaded
    unneeded = {*BACKEND_LIBRARIES, *CLIENT_LIBRARIES}
    assert loaded.isdisjoint(unneeded), loaded & unneeded


def test_a_configured_backend_loads_its_library(tmp_path: Path) -> None:
    """The other side: the deferred import does happen, and the backend registers."""
    environ = {
        "AWS_KMS_KEY_ID": "alias/strongroom",
        "AWS_REGION": "eu-west-1",
        "VAULT_URL": "http://127.0.0.1:1",
        "VAULT_TOKEN": "t",
        "VAULT_TRANSIT_KEY": "k",
    }
    loaded = _loaded_after(_collect_backends(environ, tmp_path), tmp_path)
    assert {"boto3", "botocore", "hvac"} <= loaded


def test_the_client_package_loads_a_module_when_a_name_is_first_used(tmp_path: Path) -> None:
    # The server imports the client's errors, naming and dotenv modules only.
    loaded = _loaded_after(
        "import graphql_api.client.errors, graphql_api.client.naming, graphql_api.client.dotenv", tmp_path
    )
    assert loaded.isdisjoint({"httpx", "websockets", "rich"}), loaded
    # Every public name still resolves from the package, as the docs show it.
    code = (
        "import graphql_api.client as c\n"
        "assert sorted(c.__all__) == sorted(c._MODULE_OF), 'every lazily exported name is public, and back'\n"
        "missing = [n for n in c.__all__ if getattr(c, n, None) is None]\nassert not missing, missing"
    )
    assert "httpx" in _loaded_after(code, tmp_path)
