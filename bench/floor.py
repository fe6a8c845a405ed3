"""The floor: `secretValue`'s work done by hand, and nothing more.

A deliberately plain Starlette app, served by uvicorn exactly as `strongroom
serve` is (one worker, uvicorn's defaults: uvloop and httptools when
installed), that answers the same request body as Strongroom's
`secretValue` query and keeps the same promises:

1. the bearer token is looked up by its SHA-256 (one indexed read, no cache),
   so a revoked token stops working from the next request on;
2. one indexed read of the secret's current version by id: ciphertext and
   wrapped data key, in the workspace the request names;
3. the data key is unwrapped with Fernet (cryptography's), bound to the
   secret by a digest of {workspace_id, secret_id} inside the token, as
   Strongroom's Fernet backend does;
4. the value is decrypted with AES-256-GCM, associated data
   ``workspace_id|secret_id|version``;
5. one audit row (hash-chained: ``sha256(prev_hash || canonical row)``) is
   inserted and committed durably — SQLite in WAL mode with synchronous=FULL,
   or PostgreSQL with its default synchronous_commit=on — before the value
   is answered;
6. JSON out, shaped like the GraphQL answer.

Commit policy: group commit, the simplest a competent engineer writes by
hand. Requests put their audit row on a queue and wait; one writer task takes
everything queued, inserts it in one transaction, commits, and wakes the
waiters. There is no timer: while one commit is in flight the next batch
gathers by itself, so under load batches grow and at one request at a time
each request commits alone. Commit per request would make the floor a
measurement of the disk's fsync rate rather than of the work per read, and
Strongroom batches too, so the comparison would say nothing.

What it does not do, on purpose: no GraphQL parsing or validation, no roles
(a token names the one workspace it may read), one audit chain per process
instead of one per workspace, no event bus, no metrics. Whatever Strongroom
spends beyond this is the price of those.

Run: ``FLOOR_DATABASE_URL=sqlite:///path/floor.db FLOOR_FERNET_KEY=<key>
python bench/floor.py --port 8100`` (or ``postgres://user@host:port/db``).
The harness (`bench/data.py`) creates the tables with `schema()` and seals
the values with `seal()`.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import hmac
import json
import os
import sqlite3
import sys
import uuid
from collections.abc import Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

GENESIS_HASH = "0" * 64
NONCE_SIZE = 12
DIGEST_SIZE = 32

# (workspace_id, secret_id, action, principal, ip, user agent, created_at)
AuditRow = tuple[str, str, str, str, str | None, str | None, str]


def schema(dialect: str) -> list[str]:
    """CREATE TABLE statements for `sqlite` or `postgres`."""
    blob = "BYTEA" if dialect == "postgres" else "BLOB"
    return [
        "CREATE TABLE floor_token (digest TEXT PRIMARY KEY, principal TEXT NOT NULL, "
        "workspace_id TEXT NOT NULL, revoked_at TEXT)",
        f"CREATE TABLE floor_secret (id TEXT PRIMARY KEY, workspace_id TEXT NOT NULL, name TEXT NOT NULL, "
        f"version INTEGER NOT NULL, ciphertext {blob} NOT NULL, wrapped_key {blob} NOT NULL)",
        "CREATE TABLE floor_audit (seq BIGINT PRIMARY KEY, id TEXT NOT NULL, workspace_id TEXT NOT NULL, "
        "secret_id TEXT, action TEXT NOT NULL, principal TEXT, ip_address TEXT, user_agent TEXT, "
        "created_at TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL)",
    ]


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _context_digest(workspace_id: str, secret_id: str) -> bytes:
    canonical = json.dumps({"secret_id": secret_id, "workspace_id": workspace_id}, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).digest()


def _associated_data(workspace_id: str, secret_id: str, version: int) -> bytes:
    return f"{workspace_id}|{secret_id}|{version}".encode()


def seal(fernet: Fernet, value: str, workspace_id: str, secret_id: str, version: int) -> tuple[bytes, bytes]:
    """(ciphertext, wrapped_key) for a value, as Strongroom stores them."""
    data_key = AESGCM.generate_key(bit_length=256)
    nonce = os.urandom(NONCE_SIZE)
    ciphertext = nonce + AESGCM(data_key).encrypt(
        nonce, value.encode("utf-8"), _associated_data(workspace_id, secret_id, version)
    )
    wrapped = fernet.encrypt(_context_digest(workspace_id, secret_id) + data_key)
    return ciphertext, wrapped


def open_value(
    fernet: Fernet, ciphertext: bytes, wrapped_key: bytes, workspace_id: str, secret_id: str, version: int
) -> str:
    payload = fernet.decrypt(bytes(wrapped_key))
    if not hmac.compare_digest(payload[:DIGEST_SIZE], _context_digest(workspace_id, secret_id)):
        raise InvalidToken()
    blob = bytes(ciphertext)
    plaintext = AESGCM(payload[DIGEST_SIZE:]).decrypt(
        blob[:NONCE_SIZE], blob[NONCE_SIZE:], _associated_data(workspace_id, secret_id, version)
    )
    return plaintext.decode("utf-8")


def _chain(rows: Sequence[AuditRow], seq: int, prev_hash: str) -> tuple[list[tuple[Any, ...]], int, str]:
    """Rows ready to insert, with their seq and hash; the new chain head."""
    out = []
    for workspace_id, secret_id, action, principal, ip, agent, created_at in rows:
        seq += 1
        event_id = str(uuid.uuid4())
        canonical = json.dumps(
            [seq, event_id, workspace_id, secret_id, action, principal, ip, agent, created_at],
            separators=(",", ":"),
        ).encode("utf-8")
        digest = hashlib.sha256(prev_hash.encode("ascii") + canonical).hexdigest()
        out.append(
            (seq, event_id, workspace_id, secret_id, action, principal, ip, agent, created_at, prev_hash, digest)
        )
        prev_hash = digest
    return out, seq, prev_hash


_INSERT_COLUMNS = (
    "seq, id, workspace_id, secret_id, action, principal, ip_address, user_agent, created_at, prev_hash, hash"
)


class SqliteStore:
    """A read connection used on the event loop, a write connection in a thread."""

    def __init__(self, path: str) -> None:
        self.path = path

    async def open(self) -> tuple[int, str]:
        self._reader = sqlite3.connect(self.path, check_same_thread=False)
        self._writer = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._writer.execute("PRAGMA journal_mode=WAL")
        self._writer.execute("PRAGMA synchronous=FULL")
        self._reader.execute("PRAGMA synchronous=FULL")
        row = self._writer.execute("SELECT seq, hash FROM floor_audit ORDER BY seq DESC LIMIT 1").fetchone()
        return (row[0], row[1]) if row else (0, GENESIS_HASH)

    async def close(self) -> None:
        self._reader.close()
        self._writer.close()

    async def principal(self, digest: str) -> tuple[str, str] | None:
        return self._reader.execute(  # type: ignore[no-any-return]
            "SELECT principal, workspace_id FROM floor_token WHERE digest = ? AND revoked_at IS NULL", (digest,)
        ).fetchone()

    async def version(self, secret_id: str, workspace_id: str) -> tuple[str, int, bytes, bytes] | None:
        return self._reader.execute(  # type: ignore[no-any-return]
            "SELECT name, version, ciphertext, wrapped_key FROM floor_secret WHERE id = ? AND workspace_id = ?",
            (secret_id, workspace_id),
        ).fetchone()

    async def insert(self, rows: list[tuple[Any, ...]]) -> None:
        await asyncio.to_thread(self._insert, rows)

    def _insert(self, rows: list[tuple[Any, ...]]) -> None:
        self._writer.execute("BEGIN IMMEDIATE")
        try:
            self._writer.executemany(
                f"INSERT INTO floor_audit ({_INSERT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows
            )
            self._writer.execute("COMMIT")
        except BaseException:
            self._writer.execute("ROLLBACK")
            raise


class PostgresStore:
    """A pool for reads, one dedicated connection for the audit writer."""

    def __init__(self, url: str) -> None:
        self.url = url

    async def open(self) -> tuple[int, str]:
        import asyncpg

        self._pool = await asyncpg.create_pool(self.url, min_size=4, max_size=16)
        self._writer = await asyncpg.connect(self.url)
        row = await self._writer.fetchrow("SELECT seq, hash FROM floor_audit ORDER BY seq DESC LIMIT 1")
        return (row[0], row[1]) if row else (0, GENESIS_HASH)

    async def close(self) -> None:
        await self._writer.close()
        await self._pool.close()

    async def principal(self, digest: str) -> tuple[str, str] | None:
        return await self._pool.fetchrow(  # type: ignore[no-any-return]
            "SELECT principal, workspace_id FROM floor_token WHERE digest = $1 AND revoked_at IS NULL", digest
        )

    async def version(self, secret_id: str, workspace_id: str) -> tuple[str, int, bytes, bytes] | None:
        return await self._pool.fetchrow(  # type: ignore[no-any-return]
            "SELECT name, version, ciphertext, wrapped_key FROM floor_secret WHERE id = $1 AND workspace_id = $2",
            secret_id,
            workspace_id,
        )

    async def insert(self, rows: list[tuple[Any, ...]]) -> None:
        async with self._writer.transaction():
            await self._writer.executemany(
                f"INSERT INTO floor_audit ({_INSERT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                rows,
            )


class GroupCommit:
    """One writer task; each caller returns once its row is committed."""

    def __init__(self, store: SqliteStore | PostgresStore, seq: int, prev_hash: str) -> None:
        self._store = store
        self._seq, self._prev_hash = seq, prev_hash
        self._queue: asyncio.Queue[tuple[AuditRow, asyncio.Future[None]]] = asyncio.Queue()

    async def record(self, row: AuditRow) -> None:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((row, done))
        await done

    async def run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while not self._queue.empty():
                batch.append(self._queue.get_nowait())
            rows, seq, prev_hash = _chain([row for row, _ in batch], self._seq, self._prev_hash)
            try:
                await self._store.insert(rows)
            except Exception as exc:  # fail closed: nobody gets a value
                for _, done in batch:
                    if not done.done():
                        done.set_exception(exc)
                continue
            self._seq, self._prev_hash = seq, prev_hash
            for _, done in batch:
                if not done.done():
                    done.set_result(None)


def create_app(database_url: str, fernet_key: str) -> Starlette:
    fernet = Fernet(fernet_key)
    if database_url.startswith("sqlite://"):
        store: SqliteStore | PostgresStore = SqliteStore(database_url.removeprefix("sqlite://"))
    else:
        store = PostgresStore(database_url)
    state: dict[str, GroupCommit] = {}

    @asynccontextmanager
    async def lifespan(app: Starlette):  # type: ignore[no-untyped-def]
        seq, prev_hash = await store.open()
        state["audit"] = audit = GroupCommit(store, seq, prev_hash)
        writer = asyncio.create_task(audit.run())
        try:
            yield
        finally:
            writer.cancel()
            await store.close()

    async def secret_value(request: Request) -> Response:
        authorization = request.headers.get("authorization", "")
        if not authorization.startswith("Bearer "):
            return JSONResponse({"errors": [{"message": "unauthenticated"}]}, status_code=401)
        principal = await store.principal(token_digest(authorization[7:]))
        if principal is None:
            return JSONResponse({"errors": [{"message": "unauthenticated"}]}, status_code=401)
        variables = json.loads(await request.body())["variables"]
        workspace_id, secret_id = variables["workspaceId"], variables["id"]
        if principal[1] != workspace_id:
            return JSONResponse({"errors": [{"message": "forbidden"}]}, status_code=403)
        row = await store.version(secret_id, workspace_id)
        if row is None:
            return JSONResponse({"errors": [{"message": "not found"}]}, status_code=404)
        name, version, ciphertext, wrapped_key = row
        value = open_value(fernet, ciphertext, wrapped_key, workspace_id, secret_id, version)
        client = request.client.host if request.client else None
        created_at = datetime.now(UTC).isoformat(timespec="microseconds")
        await state["audit"].record(
            (workspace_id, secret_id, "ACCESSED", principal[0], client, request.headers.get("user-agent"), created_at)
        )
        answer = {"secretId": secret_id, "name": name, "version": version, "value": value}
        return JSONResponse({"data": {"secretValue": answer}})

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    routes = [Route("/graphql", secret_value, methods=["POST"]), Route("/healthz", healthz)]
    return Starlette(routes=routes, lifespan=lifespan)


def new_fernet_key() -> str:
    return base64.urlsafe_b64encode(os.urandom(32)).decode("ascii")


def main(argv: Sequence[str] | None = None) -> int:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8100)
    args = parser.parse_args(argv)
    try:
        database_url, fernet_key = os.environ["FLOOR_DATABASE_URL"], os.environ["FLOOR_FERNET_KEY"]
    except KeyError as missing:
        print(f"floor: {missing.args[0]} is not set", file=sys.stderr)
        return 2
    app = create_app(database_url, fernet_key)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False, lifespan="on")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
