"""Key rotation and migration between backends: rewrap every data key.

`rotateEncryptionKey(targetBackend)` makes the target backend's newest key
current, then rewraps every data key still under an older key or another
backend. Values are never decrypted: only data keys move (through the
backend's own rewrap where it has one).

The work is a job row (`key_rotation_job`) walked in batches of versions in
id order; each batch's rewraps and the job's progress commit together, so a
crash loses at most one uncommitted batch and a restart resumes where the last
committed batch ended. Each row is updated only if it still holds what was
read (optimistic), so concurrent writes, destroys and a second worker are
harmless. The job ends when a full pass finds nothing left; a heartbeat lets
another process take over a job whose worker died.

One job is open at a time: starting a rotation closes any other unfinished
job (FAILED with finished_at set: superseded, never resumed), and a worker
stops as soon as its job is no longer RUNNING. The job's own row updates are
optimistic too (`status = RUNNING`). When the target backend's current key
moves during a job (Vault auto-rotation, another process), the job adopts the
key its rewraps now produce and makes another pass, instead of looping.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from tortoise.expressions import F
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from graphql_api.errors import BackendUnavailable, BadUserInput, StrongroomError
from graphql_api.jobs import STOP_WAIT_SECONDS
from graphql_api.services.audit import Actor, AuditLog, AuditRecord
from graphql_api.services.envelope import Backends, key_context
from graphql_api.services.secret_store import KeyStore, WrappedVersion
from graphql_api.services.server_keys import ServerKeys
from models import AuditAction, KeyRotationJob, KeyRotationStatus, Secret, Workspace
from plugins.interfaces import KeyUnavailable, RotatableBackend, WrappedKey

logger = logging.getLogger("strongroom.encryption")

# Versions per committed batch (STRONGROOM_KEY_ROTATION_BATCH). Measured on
# 100,000 Fernet versions (SQLite): 1,000 a batch rewrapped 10,600-15,200/s
# against 9,200-12,500/s at 200 (the write 9.4 us a version instead of 17),
# since each batch pays a query, a transaction with its fsyncs and a progress
# update; the writer lock is held about 10 ms a batch.
BATCH = 1000
STALE_AFTER = timedelta(seconds=30)
# How long the mutation waits for the job before answering with progress.
ANSWER_WITHIN = 20.0
REWRAP_CONCURRENCY = 8


class _JobClosed(Exception):
    """The job is no longer RUNNING (superseded or finished elsewhere): stop quietly."""


@dataclass(frozen=True)
class BatchCommitted:
    """What a progress listener hears after each committed batch (no key material)."""

    job_id: UUID
    backend: str
    key_id: str
    rewrapped: int  # data keys rewrapped by the job so far


ProgressListener = Callable[[BatchCommitted], Awaitable[None] | None]


@dataclass(frozen=True)
class RotationProgress:
    backend: str
    key_id: str
    rewrapped: int
    remaining: int
    status: KeyRotationStatus


class KeyRotationService:
    def __init__(
        self,
        *,
        backends: Backends,
        audit: AuditLog,
        now: Callable[[], datetime],
        keys: KeyStore,
        server_keys: ServerKeys,
        batch: int = BATCH,
    ) -> None:
        self._backends = backends
        self._audit = audit
        self._now = now
        self._keys = keys
        self._server_keys = server_keys
        self._batch = batch
        self._workers: dict[UUID, asyncio.Task[None]] = {}
        # Set by stop: workers end after the batch under way (see stop).
        self._stopping = asyncio.Event()
        # Finding or creating the job is serialized: concurrent calls rotate the key once.
        self._starting = asyncio.Lock()
        self._listeners: list[ProgressListener] = []

    def add_progress_listener(self, listener: ProgressListener) -> Callable[[], None]:
        """Call (and await) `listener` in the worker after each committed batch,
        for progress reporting; returns the function that removes it.

        It runs between batches, so a slow listener slows the rotation, and
        what it raises ends the worker as a crash would: the committed batches
        stay, the job stays open and is resumed (a listener that must never stop
        a rotation catches its own errors)."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    async def rotate(self, target_name: str | None, actor: Actor, wait: float = ANSWER_WITHIN) -> RotationProgress:
        """Start (or join) the rotation to `target_name` and report progress."""
        target = self._backends.for_write(target_name, "targetBackend")
        async with self._starting:
            job = await self._open_jobs().filter(target_backend=target.name).order_by("-started_at").first()
            if job is None:
                if not isinstance(target, RotatableBackend):
                    raise BadUserInput("targetBackend", f"backend {target.name!r} cannot rotate or rewrap keys")
                try:
                    await target.rotate_key()
                    key_id = await target.current_key_id()
                except Exception as exc:
                    raise BackendUnavailable(
                        f"encryption backend {target.name!r} could not rotate its key: {_reason(exc)}"
                    ) from None
                now = self._now()
                job = await KeyRotationJob.create(
                    target_backend=target.name,
                    target_key_id=key_id,
                    status=KeyRotationStatus.RUNNING,
                    started_by_user_id=actor.user_id,
                    started_at=now,
                    updated_at=now,
                )
            elif job.status is KeyRotationStatus.FAILED:
                job.status, job.error = KeyRotationStatus.RUNNING, None  # type: ignore[assignment]  # nullable
                await KeyRotationJob.filter(id=job.id, finished_at__isnull=True).update(status=job.status, error=None)
            await self._supersede_all_but(job)
            worker = self._ensure_worker(job, actor)
        if wait > 0:
            await asyncio.wait({worker}, timeout=wait)
        if worker.done() and not worker.cancelled() and worker.exception() is not None:
            raise BackendUnavailable(f"key rotation stopped: {_reason(worker.exception())}")
        return await self.progress(job.id)

    async def progress(self, job_id: UUID) -> RotationProgress:
        job = await KeyRotationJob.get(id=job_id)
        return RotationProgress(
            backend=job.target_backend,
            key_id=job.target_key_id,
            rewrapped=job.rewrapped,
            remaining=await self._keys.count_pending(job.target_backend, job.target_key_id),
            status=job.status,
        )

    async def resume_abandoned(self) -> None:
        """Pick up RUNNING jobs whose worker stopped (a crash or a restart)."""
        stale = self._now() - STALE_AFTER
        for job in await KeyRotationJob.filter(status=KeyRotationStatus.RUNNING, updated_at__lt=stale):
            logger.info("resuming key rotation %s to %s:%s", job.id, job.target_backend, job.target_key_id)
            self._ensure_worker(job, Actor(user_id=job.started_by_user_id, user_agent="strongroom (resumed)"))

    async def stop(self, wait: float = STOP_WAIT_SECONDS) -> None:
        """Let each worker finish the batch under way, then end it; cancel
        only what is still running after `wait` seconds. Why not cancel at
        once: a task cancelled while Tortoise's SQLite client opens a
        transaction never releases the connection's lock (graphql_api/jobs.py),
        and every later write of the process would wait for ever. The job
        stays RUNNING; the next start resumes it from its last committed batch."""
        self._stopping.set()
        workers = [task for task in self._workers.values() if not task.done()]
        if not workers:
            return
        _done, pending = await asyncio.wait(workers, timeout=wait)
        for task in pending:
            logger.warning("key rotation worker still running after %.0f s at stop: cancelled", wait)
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)

    def _open_jobs(self) -> QuerySet[KeyRotationJob]:
        """Unfinished jobs: RUNNING, or FAILED and resumable (a superseded job has finished_at)."""
        return KeyRotationJob.filter(
            status__in=[KeyRotationStatus.RUNNING, KeyRotationStatus.FAILED], finished_at__isnull=True
        )

    async def _supersede_all_but(self, job: KeyRotationJob) -> None:
        """Close every other unfinished job: two jobs to different keys would move rows back and forth."""
        for other in await self._open_jobs().exclude(id=job.id):
            now = self._now()
            await KeyRotationJob.filter(id=other.id, finished_at__isnull=True).update(
                status=KeyRotationStatus.FAILED,
                finished_at=now,
                updated_at=now,
                error=f"superseded by key rotation {job.id} to {job.target_backend!r}",
            )
            worker = self._workers.get(other.id)
            if worker is not None:
                # At once, not at its next progress update: a worker left to
                # end its pass would go on to rewrap the server key to its
                # own, superseded, target.
                worker.cancel()
            logger.info("key rotation %s superseded by %s", other.id, job.id)

    def _ensure_worker(self, job: KeyRotationJob, actor: Actor) -> asyncio.Task[None]:
        worker = self._workers.get(job.id)
        if worker is None or worker.done():
            worker = asyncio.create_task(self._run(job.id, actor), name=f"key-rotation:{job.id}")
            self._workers[job.id] = worker
        return worker

    async def _run(self, job_id: UUID, actor: Actor) -> None:
        job = await KeyRotationJob.get(id=job_id)
        try:
            while True:
                if self._stopping.is_set():
                    logger.info("key rotation %s paused by shutdown; it resumes at the next start", job.id)
                    return
                moved = await self._batch_once(job)
                if moved is None:  # end of a pass
                    if await self._keys.count_pending(job.target_backend, job.target_key_id) == 0:
                        break
                    job.last_version_id = 0  # written meanwhile under an old key: another pass
                    await self._save_progress(job, self._running(job))
                if self._listeners:
                    committed = BatchCommitted(job.id, job.target_backend, job.target_key_id, job.rewrapped)
                    for listener in list(self._listeners):
                        result = listener(committed)
                        if result is not None:
                            await result
        except asyncio.CancelledError:
            raise
        except _JobClosed:
            logger.info("key rotation %s stopped: the job is no longer running", job.id)
            return
        except Exception as exc:
            job.status, job.error = KeyRotationStatus.FAILED, _reason(exc)
            job.updated_at = self._now()
            await self._running(job).update(status=job.status, error=job.error, updated_at=job.updated_at)
            logger.error("key rotation %s failed: %s", job.id, job.error)
            raise
        try:
            # The server key (audit chain, checkpoints, digests) moves with the data keys.
            await self._server_keys.rewrap(self._backends.for_read(job.target_backend))
        except Exception as exc:
            job.status, job.error = KeyRotationStatus.FAILED, f"the server key could not be rewrapped: {_reason(exc)}"
            job.updated_at = self._now()
            await self._running(job).update(status=job.status, error=job.error, updated_at=job.updated_at)
            logger.error("key rotation %s failed: %s", job.id, job.error)
            raise
        await self._finish(job, actor)

    def _running(self, job: KeyRotationJob) -> QuerySet[KeyRotationJob]:
        return KeyRotationJob.filter(id=job.id, status=KeyRotationStatus.RUNNING, finished_at__isnull=True)

    async def _save_progress(self, job: KeyRotationJob, query: QuerySet[KeyRotationJob], done: int = 0) -> None:
        """Cursor, target key, count and heartbeat, only while the job is still RUNNING."""
        job.updated_at = self._now()
        updated = await query.update(
            last_version_id=job.last_version_id,
            target_key_id=job.target_key_id,
            rewrapped=F("rewrapped") + done,
            updated_at=job.updated_at,
        )
        if not updated:
            raise _JobClosed
        job.rewrapped += done

    async def _batch_once(self, job: KeyRotationJob) -> int | None:
        """Rewrap one batch after job.last_version_id; None when the pass is done."""
        rows = await self._keys.pending(job.target_backend, job.target_key_id, job.last_version_id, self._batch)
        if not rows:
            return None
        target = self._backends.for_read(job.target_backend)
        # A runtime Protocol check is slow (typing inspects the class): once a batch, not once a row.
        rotator = target if isinstance(target, RotatableBackend) else None

        async def rewrap(row: WrappedVersion) -> tuple[WrappedVersion, bytes, str]:
            context = key_context(row.workspace_id, row.secret_id)
            wrapped = WrappedKey(ciphertext=row.wrapped_key, key_id=row.key_id)
            try:
                if rotator is not None and row.backend == target.name:
                    new = await rotator.rewrap(wrapped, context)
                else:
                    source = self._backends.for_read(row.backend)
                    new = await target.wrap(await source.unwrap(wrapped, context), context)
            except BackendUnavailable:
                raise
            except Exception as exc:
                raise BackendUnavailable(
                    f"could not rewrap version {row.version} of secret {row.secret_id} "
                    f"(backend {row.backend!r}, key {row.key_id}): {_reason(exc)}"
                ) from None
            return row, new.ciphertext, new.key_id

        if all(self._backends.is_local(name) for name in {target.name, *(row.backend for row in rows)}):
            # A keyring in this process answers at once: one row after another,
            # without a task per row.
            rewrapped = [await rewrap(row) for row in rows]
        else:
            # Remote backends answer in milliseconds each: rewrap a batch's rows
            # concurrently, bounded so a KMS or Vault is not flooded.
            limit = asyncio.Semaphore(REWRAP_CONCURRENCY)

            async def bounded(row: WrappedVersion) -> tuple[WrappedVersion, bytes, str]:
                async with limit:
                    return await rewrap(row)

            rewrapped = list(await asyncio.gather(*(bounded(row) for row in rows)))
        # The target's current key moved since the job started (rotated elsewhere):
        # adopt the key the rewraps now produce, and revisit rows already done.
        produced = rewrapped[-1][2]
        if produced != job.target_key_id:
            logger.info(
                "key rotation %s: %s now wraps with %s (was %s)", job.id, target.name, produced, job.target_key_id
            )
            job.target_key_id, cursor = produced, 0
        else:
            cursor = rows[-1].id
        async with in_transaction() as connection:
            # Secrets first, in id order, then versions: destroy and writers lock
            # the secret before its versions, so the same order cannot deadlock.
            moved_secrets = sorted({row.secret_id for row, _w, _k in rewrapped if row.secret_backend != target.name})
            if moved_secrets:
                await Secret.filter(id__in=moved_secrets).order_by("id").select_for_update().using_db(connection)
                await Secret.filter(id__in=moved_secrets).using_db(connection).update(encryption_backend=target.name)
            done = await self._keys.rewrite(connection, rewrapped, target.name)
            job.last_version_id = cursor
            await self._save_progress(job, self._running(job).using_db(connection), done)
        return done

    async def _finish(self, job: KeyRotationJob, actor: Actor) -> None:
        now = self._now()
        job.status, job.finished_at, job.updated_at = KeyRotationStatus.COMPLETED, now, now
        async with self._audit.transaction() as connection:
            closed = (
                await self._running(job)
                .using_db(connection)
                .update(status=job.status, finished_at=now, updated_at=now, target_key_id=job.target_key_id)
            )
            if not closed:  # superseded meanwhile: not this job's rotation to announce
                logger.info("key rotation %s stopped: the job is no longer running", job.id)
                return
            job.rewrapped = (await KeyRotationJob.filter(id=job.id).using_db(connection).get()).rewrapped
            for workspace_id in await Workspace.all().using_db(connection).values_list("id", flat=True):
                await self._audit.append(
                    AuditRecord(
                        str(workspace_id),
                        AuditAction.KEY_ROTATED,
                        actor,
                        details={
                            "backend": job.target_backend,
                            "key_id": job.target_key_id,
                            "job_id": str(job.id),
                            "rewrapped_total": job.rewrapped,
                        },
                    ),
                    connection,
                )
        logger.info("key rotation %s done: %d data key(s) rewrapped", job.id, job.rewrapped)


def _reason(exc: BaseException | None) -> str:
    if isinstance(exc, (KeyUnavailable, StrongroomError)):
        return str(exc)
    return type(exc).__name__
