"""A real HTTP receiver for rotation webhooks: it records each request, checks
its signature, and answers as planned (failures, Retry-After, hangs)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from plugins.builtin.notifiers import verify_signature
from tests.fakes.serving import serve_in_thread

SECRET = "whsec_test-shared-secret-0123456789"
PATH = "/hooks/rotation"


@dataclass
class Recorded:
    headers: dict[str, str]
    body: bytes
    verified: bool
    status: int | None  # None: the receiver never answered (hung past the client's timeout)


@dataclass
class Answer:
    status: int
    retry_after: str | None = None
    hang: float = 0.0


@dataclass
class Receiver:
    secret: str
    url: str = ""
    requests: list[Recorded] = field(default_factory=list)
    plan: list[Answer] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def reset(self) -> None:
        with self.lock:
            self.requests.clear()
            self.plan.clear()

    def fail_next(self, count: int, status: int, retry_after: str | None = None) -> None:
        with self.lock:
            self.plan.extend(Answer(status, retry_after) for _ in range(count))

    def hang_next(self, seconds: float) -> None:
        with self.lock:
            self.plan.append(Answer(503, hang=seconds))

    @property
    def delivered(self) -> list[Recorded]:
        """Requests the receiver accepted: answered 2xx with a valid signature."""
        with self.lock:
            return [r for r in self.requests if r.status is not None and 200 <= r.status < 300]

    async def handle(self, request: Request) -> Response:
        body = await request.body()
        headers = {k.lower(): v for k, v in request.headers.items()}
        verified = verify_signature(
            self.secret,
            headers.get("x-strongroom-timestamp", ""),
            body,
            headers.get("x-strongroom-signature", ""),
        )
        with self.lock:
            answer = self.plan.pop(0) if self.plan else Answer(200 if verified else 401)
            record = Recorded(headers, body, verified, None if answer.hang else answer.status)
            self.requests.append(record)
        if answer.hang:
            await asyncio.sleep(answer.hang)
        extra = {"Retry-After": answer.retry_after} if answer.retry_after is not None else {}
        return Response(status_code=answer.status, headers=extra)

    def app(self) -> Starlette:
        return Starlette(routes=[Route(PATH, self.handle, methods=["POST"])])


@contextmanager
def serving_receiver() -> Iterator[Receiver]:
    """A Receiver served on a free local port for the duration of the block."""
    receiver = Receiver(SECRET)
    with serve_in_thread(receiver.app(), "webhook-receiver") as port:
        receiver.url = f"http://127.0.0.1:{port}{PATH}"
        yield receiver
