"""The systems of one run, their data, and their clean-up.

`Lab` starts each system the first time a scenario asks for it, builds its
data (the same number of secrets and the same value size everywhere), checks
one answer by hand so that load is never measured against errors, and keeps
it running for the next scenario. `close()` stops every process it started,
drops its PostgreSQL databases and removes its temporary directory, on
success, failure and Ctrl-C alike.

Data: workspace `bench` holds `small_secrets` secrets `S_00000...` (the read,
bulk-read and "1,000" listing workspace); `writes` takes createSecret load;
`large` holds `large_secrets` secrets, built only when a scenario needs it.
OpenBao holds the same names under `secret/data/bench/`, the floor the same
rows in its own tables. Every system is read with an application token, not
an administrator's: Strongroom's `bench-app` principal is READER of `bench`
and `large` and WRITER of `writes`; OpenBao's token has a policy granting
create/read/update on `secret/data/*`; the floor's token names `bench`.
"""

from __future__ import annotations

import secrets
import shutil
import sqlite3
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from cryptography.fernet import Fernet

from bench import floor, postgres
from bench.config import Config
from bench.errors import BenchError
from bench.servers import SERVER_CPUS, FloorServer, GraphQLClient, OpenBaoServer, StrongroomServer
from bench.wrk import Requests, json_lines

WORKSPACE = "bench"
SECRET_VALUE = (
    "query($workspaceId: ID!, $id: ID!) { secretValue(workspaceId: $workspaceId, id: $id) "
    "{ secretId name version value } }"
)
CREATE_WORKSPACE = "mutation($id: ID!, $name: String) { createWorkspace(id: $id, name: $name) { id } }"
IMPORT = (
    "mutation($w: ID!, $text: String!) { importSecrets(workspaceId: $w, dotenv: $text) "
    "{ created secrets { id name } } }"
)
CREATE_PRINCIPAL = (
    "mutation($name: String!, $bindings: [RoleBindingInput!]!) "
    "{ createPrincipal(name: $name, bindings: $bindings) { id } }"
)
CREATE_TOKEN = "mutation($p: ID!, $name: String!) { createApiToken(principalId: $p, name: $name) { token } }"
GRANT = "mutation($p: ID!, $w: ID!, $role: Role!) { grantRole(principalId: $p, workspaceId: $w, role: $role) { id } }"


def random_value(size: int) -> str:
    return secrets.token_urlsafe(size)[:size]


@dataclass
class ReadTarget:
    """One system's read requests: the same secret over and over, or a random one of many."""

    name: str
    url: str
    kind: str
    headers: dict[str, str]
    one: list[str]
    many: list[str]
    pid: int | None = None  # the server's, pinned to core 0 (bench/cpu.py)

    def requests(self, mode: str) -> Requests:
        if mode == "one":
            return Requests("GET" if self.kind == "path" else "POST", self.kind, self.one[:1], "cycle", self.headers)
        return Requests("GET" if self.kind == "path" else "POST", self.kind, self.many, "random", self.headers)


@dataclass
class OpenBaoSystem:
    server: OpenBaoServer
    names: list[str]
    values: dict[str, str]

    def read_target(self) -> ReadTarget:
        lines = [f"/v1/secret/data/{WORKSPACE}/{name}" for name in self.names]
        return ReadTarget(
            "OpenBao kv-v2",
            self.server.url,
            "path",
            {"X-Vault-Token": self.server.app_token},
            lines,
            lines,
            _pid(self.server),
        )

    def write_requests(self, value: str) -> Requests:
        body = json_lines([{"data": {"value": value}}])[0]
        return Requests(
            "POST",
            "path",
            [f"/v1/secret/data/writes/w_%UNIQUE%\t{body}"],
            "unique",
            {"X-Vault-Token": self.server.app_token, "Content-Type": "application/json"},
        )


@dataclass
class FloorSystem:
    server: FloorServer
    db: str
    token: str
    ids: list[str]

    def read_target(self) -> ReadTarget:
        bodies = json_lines({"query": SECRET_VALUE, "variables": {"workspaceId": WORKSPACE, "id": i}} for i in self.ids)
        return ReadTarget(
            f"floor ({self.db})",
            self.server.graphql_url,
            "body",
            {"Content-Type": "application/json", "Authorization": f"Bearer {self.token}"},
            bodies,
            bodies,
            _pid(self.server),
        )


@dataclass
class StrongroomSystem:
    server: StrongroomServer
    db: str
    app_principal: str
    app_token: str
    auditor_token: str
    ids: list[str]
    names: list[str]
    values: dict[str, str]
    large_ids: list[str] = field(default_factory=list)
    extra_workspaces: int = 0

    @property
    def label(self) -> str:
        return f"Strongroom ({self.db})"

    @property
    def client(self) -> GraphQLClient:
        return self.server.client

    def headers(self, token: str | None = None) -> dict[str, str]:
        return {"Content-Type": "application/json", "Authorization": f"Bearer {token or self.app_token}"}

    def read_target(self, server: StrongroomServer | None = None, name: str | None = None) -> ReadTarget:
        bodies = json_lines({"query": SECRET_VALUE, "variables": {"workspaceId": WORKSPACE, "id": i}} for i in self.ids)
        chosen = server or self.server
        return ReadTarget(
            name or self.label,
            chosen.graphql_url,
            "body",
            self.headers(),
            bodies,
            bodies,
            _pid(chosen) if chosen.cpus == SERVER_CPUS else None,
        )

    @property
    def pid(self) -> int | None:
        return _pid(self.server)

    def new_workspace(self, prefix: str, role: str = "WRITER") -> str:
        """A fresh workspace the app principal holds `role` in."""
        self.extra_workspaces += 1
        workspace = f"{prefix}-{self.extra_workspaces}"
        self.client(CREATE_WORKSPACE, {"id": workspace, "name": workspace})
        self.client(GRANT, {"p": self.app_principal, "w": workspace, "role": role})
        return workspace


def import_secrets(
    client: GraphQLClient,
    workspace: str,
    items: Sequence[tuple[str, str]],
    chunk: int,
    progress: Callable[[int], None] | None = None,
) -> dict[str, str]:
    """importSecrets in chunks; name -> id."""
    ids: dict[str, str] = {}
    for start in range(0, len(items), chunk):
        text = "\n".join(f"{name}={value}" for name, value in items[start : start + chunk])
        answer = client(IMPORT, {"w": workspace, "text": text})["importSecrets"]
        ids.update({secret["name"]: secret["id"] for secret in answer["secrets"]})
        if progress:
            progress(start + chunk)
    if len(ids) != len(items):
        raise BenchError(f"importSecrets into {workspace} created {len(ids)} of {len(items)} secrets")
    return ids


class Lab:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.workdir = Path(tempfile.mkdtemp(prefix="strongroom-bench-"))
        self.databases = postgres.Databases()
        self._closers: list[tuple[str, Callable[[], None]]] = []
        self._openbao: OpenBaoSystem | None = None
        self._floors: dict[str, FloorSystem] = {}
        self._strongrooms: dict[str, StrongroomSystem] = {}
        self.postgres_version: str | None = None
        self.openbao_version: str | None = None

    # -- life cycle ---------------------------------------------------------------

    def __enter__(self) -> Lab:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def on_close(self, what: str, closer: Callable[[], None]) -> None:
        self._closers.append((what, closer))

    def close(self) -> None:
        while self._closers:
            what, closer = self._closers.pop()
            try:
                closer()
            except BaseException as exc:  # keep cleaning up; report what did not go
                print(f"  clean-up of {what} failed: {type(exc).__name__}: {exc}")
        self.databases.drop_all()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def scratch(self, name: str) -> Path:
        path = self.workdir / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def require_postgres(self) -> None:
        if self.postgres_version is None:
            self.postgres_version = postgres.server_version()

    # -- systems ------------------------------------------------------------------

    def openbao(self) -> OpenBaoSystem:
        if self._openbao is None:
            server = OpenBaoServer("openbao", workdir=self.workdir)
            self.on_close("OpenBao", server.close)
            self.openbao_version = server.version()
            _say("starting OpenBao (Raft, file audit device, kv-v2)")
            server.start()
            names = [f"S_{i:05d}" for i in range(self.config.small_secrets)]
            values = {name: random_value(self.config.value_size) for name in names}
            with httpx.Client(base_url=server.url, timeout=30.0, headers={"X-Vault-Token": server.app_token}) as http:
                for name in names:
                    response = http.post(f"/v1/secret/data/{WORKSPACE}/{name}", json={"data": {"value": values[name]}})
                    if response.status_code != 200:
                        raise BenchError(f"OpenBao refused a write: {response.status_code} {response.text[:200]}")
                got = http.get(f"/v1/secret/data/{WORKSPACE}/{names[0]}").json()["data"]["data"]["value"]
            if got != values[names[0]]:
                raise BenchError("OpenBao answered another value than the one written")
            self._openbao = OpenBaoSystem(server, names, values)
        return self._openbao

    def floor(self, db: str) -> FloorSystem:
        if db not in self._floors:
            key = Fernet.generate_key().decode("ascii")
            token = "fl_" + secrets.token_urlsafe(32)
            ids = [str(uuid.uuid4()) for _ in range(self.config.small_secrets)]
            values = {i: random_value(self.config.value_size) for i in ids}
            fernet = Fernet(key)
            rows = []
            for n, secret_id in enumerate(ids):
                ciphertext, wrapped = floor.seal(fernet, values[secret_id], WORKSPACE, secret_id, 1)
                rows.append((secret_id, WORKSPACE, f"S_{n:05d}", 1, ciphertext, wrapped))
            if db == "sqlite":
                path = self.scratch("floor-sqlite") / "floor.db"
                _seed_floor_sqlite(path, rows, token)
                url = f"sqlite://{path}"
            else:
                self.require_postgres()
                url = self.databases.create("floor")
                _seed_floor_postgres(url, rows, token)
            server = FloorServer(f"floor-{db}", workdir=self.scratch(f"floor-{db}"), database_url=url, fernet_key=key)
            self.on_close(f"floor ({db})", server.close)
            _say(f"starting the floor on {db}")
            server.start()
            answer = httpx.post(
                server.graphql_url,
                json={"variables": {"workspaceId": WORKSPACE, "id": ids[0]}},
                headers={"authorization": f"Bearer {token}"},
                timeout=10,
            ).json()
            if answer["data"]["secretValue"]["value"] != values[ids[0]]:
                raise BenchError(f"the floor ({db}) answered another value than the one sealed")
            self._floors[db] = FloorSystem(server, db, token, ids)
        return self._floors[db]

    def strongroom(self, db: str) -> StrongroomSystem:
        """Strongroom on `db` with the `bench` workspace; started (again) if it is not running."""
        system = self._strongrooms.get(db)
        if system is not None:
            if system.server.process is None or not system.server.process.alive():
                system.server.start()
            return system
        if db == "postgres":
            self.require_postgres()
            database_url = self.databases.create("strongroom")
        else:
            database_url = f"sqlite://{self.scratch('strongroom-sqlite/data')}/strongroom.db"
        workdir = self.scratch(f"strongroom-{db}")
        server = StrongroomServer(
            f"strongroom-{db}",
            workdir=workdir,
            data_dir=workdir / "data",
            database_url=database_url,
            bootstrap_token="sr_bench_" + secrets.token_urlsafe(32),
        )
        self.on_close(f"Strongroom ({db})", server.close)
        _say(f"starting Strongroom on {db}")
        server.start()  # `serve` migrates the new database and bootstraps the superadmin
        client = server.client
        for workspace in (WORKSPACE, "writes"):
            client(CREATE_WORKSPACE, {"id": workspace, "name": workspace})
        names = [f"S_{i:05d}" for i in range(self.config.small_secrets)]
        values = {name: random_value(self.config.value_size) for name in names}
        by_name = import_secrets(client, WORKSPACE, [(name, values[name]) for name in names], self.config.import_chunk)
        app = client(
            CREATE_PRINCIPAL,
            {
                "name": "bench-app",
                "bindings": [{"workspaceId": WORKSPACE, "role": "READER"}, {"workspaceId": "writes", "role": "WRITER"}],
            },
        )
        app_id = app["createPrincipal"]["id"]
        app_token = client(CREATE_TOKEN, {"p": app_id, "name": "bench"})["createApiToken"]["token"]
        auditor = client(
            CREATE_PRINCIPAL, {"name": "bench-auditor", "bindings": [{"workspaceId": WORKSPACE, "role": "AUDITOR"}]}
        )["createPrincipal"]["id"]
        auditor_token = client(CREATE_TOKEN, {"p": auditor, "name": "bench"})["createApiToken"]["token"]
        ids = [by_name[name] for name in names]
        got = client(SECRET_VALUE, {"workspaceId": WORKSPACE, "id": ids[0]}, token=app_token)
        if got["secretValue"]["value"] != values[names[0]]:
            raise BenchError(f"Strongroom ({db}) answered another value than the one imported")
        system = StrongroomSystem(server, db, app_id, app_token, auditor_token, ids, names, values)
        self._strongrooms[db] = system
        return system

    def strongroom_large(self, db: str) -> StrongroomSystem:
        """Strongroom on `db` with the `large` workspace built as well."""
        system = self.strongroom(db)
        if not system.large_ids:
            count = self.config.large_secrets
            _say(
                f"building {count:,} secrets in workspace 'large' on {db} (importSecrets, "
                f"{self.config.import_chunk:,} lines a call)"
            )
            system.client(CREATE_WORKSPACE, {"id": "large", "name": "large"})
            system.client(GRANT, {"p": system.app_principal, "w": "large", "role": "READER"})
            items = [(f"L_{i:06d}", random_value(self.config.value_size)) for i in range(count)]
            started = time.monotonic()
            step = max(self.config.import_chunk, count // 10)

            def progress(done: int) -> None:
                if done % step == 0 and done < count:
                    print(f"    {done:,} secrets ({time.monotonic() - started:.0f} s)", flush=True)

            by_name = import_secrets(system.client, "large", items, self.config.import_chunk, progress)
            system.large_ids = [by_name[name] for name, _ in items]
            _say(f"built in {time.monotonic() - started:.0f} s")
        return system

    def stop_strongroom(self, db: str) -> None:
        system = self._strongrooms.get(db)
        if system is not None:
            system.server.stop()


def _pid(server: OpenBaoServer | FloorServer | StrongroomServer) -> int | None:
    return server.process.pid if server.process is not None else None


def _seed_floor_sqlite(path: Path, rows: list[tuple[Any, ...]], token: str) -> None:
    connection = sqlite3.connect(path)
    try:
        connection.execute("PRAGMA journal_mode=WAL")
        for statement in floor.schema("sqlite"):
            connection.execute(statement)
        connection.executemany("INSERT INTO floor_secret VALUES (?, ?, ?, ?, ?, ?)", rows)
        connection.execute(
            "INSERT INTO floor_token VALUES (?, ?, ?, NULL)", (floor.token_digest(token), "bench-app", WORKSPACE)
        )
        connection.commit()
    finally:
        connection.close()


def _seed_floor_postgres(url: str, rows: list[tuple[Any, ...]], token: str) -> None:
    import asyncio

    import asyncpg

    async def seed() -> None:
        connection = await asyncpg.connect(url)
        try:
            for statement in floor.schema("postgres"):
                await connection.execute(statement)
            await connection.executemany("INSERT INTO floor_secret VALUES ($1, $2, $3, $4, $5, $6)", rows)
            await connection.execute(
                "INSERT INTO floor_token VALUES ($1, $2, $3, NULL)", floor.token_digest(token), "bench-app", WORKSPACE
            )
            await connection.execute("ANALYZE")
        finally:
            await connection.close()

    asyncio.run(seed())


def _say(text: str) -> None:
    print(f"  · {text}", flush=True)
