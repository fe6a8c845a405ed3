"""How a serving process stops without losing work: the drain.

On SIGTERM (or a first SIGINT):

1. The process is marked draining at once: /readyz answers 503 (load
   balancers stop sending), /healthz stays 200 (the process is alive, and a
   liveness probe must not kill it halfway).
2. The listening socket stays open, but what arrives from now on is refused
   before anything runs: an HTTP request gets 503 with `Connection: close`,
   a websocket is accepted and closed with 1012. Nothing half-done.
3. Live websockets (`on_drain` closers, graphql_api.websocket): their
   subscriptions end, their other operations finish, then they are closed
   with 1012 (service restart), on which graphql-ws clients reconnect.
4. HTTP requests in flight when the signal came run to their end, bounded by
   STRONGROOM_SHUTDOWN_GRACE; a request still running then is cancelled (it
   was never answered; its transaction rolls back).
5. Then the signal goes on to uvicorn, which closes the socket and the idle
   connections and runs the lifespan shutdown (services.close: background
   jobs stopped, the audit writer's pending batch committed, the database
   closed); `strongroom serve` exits 0.

A SIGINT during the drain (Ctrl-C again) goes straight to uvicorn: its own
shutdown, bounded by the same grace, and a third forces the exit. Another
SIGTERM changes nothing: with `--workers N` a worker may get one from the
supervisor and one from whoever signalled the whole process group (systemd,
`docker stop`), and the second must not cut the first one's drain short.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
import signal
import threading
from collections.abc import Awaitable, Callable
from types import FrameType
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

logger = logging.getLogger("strongroom.server")

# Answered while draining, like any other time: the probes and the metrics.
PROBE_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
DRAIN_SIGNALS = (signal.SIGTERM, signal.SIGINT)
# RFC 6455 1012 "service restart": the client may reconnect (graphql-ws does).
CLOSE_CODE = 1012
CLOSE_REASON = "server shutting down; reconnect"
REFUSED_BODY = (
    b'{"errors":[{"message":"the server is shutting down; retry the request","extensions":{"code":"UNAVAILABLE"}}]}'
)

# A closer gets the drain's deadline (event loop time) and returns when done.
Closer = Callable[[float], Awaitable[None]]
SignalHandler = Callable[[int, FrameType | None], Any]


class Drain:
    """The draining state of one serving process, and the drain itself."""

    def __init__(self, grace_seconds: float) -> None:
        self.grace_seconds = grace_seconds
        self.draining = False
        self.reason: str | None = None
        self._in_flight: set[asyncio.Task[Any]] = set()
        self._idle: asyncio.Event | None = None
        self._closers: list[Closer] = []
        self._previous: dict[int, SignalHandler] = {}
        self._task: asyncio.Task[None] | None = None

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    def on_drain(self, closer: Closer) -> None:
        self._closers.append(closer)

    def begin(self, reason: str) -> None:
        """Mark the process draining (synchronous: safe in a signal handler)."""
        if not self.draining:
            self.reason = reason
            self.draining = True

    # ---- the gate every request passes -----------------------------------

    async def admit(self, scope: Scope, receive: Receive, send: Send, app: ASGIApp) -> None:
        """Run `app` for this request, or refuse it while draining; HTTP
        requests are counted while they run (the drain waits for them)."""
        kind = scope["type"]
        if kind == "lifespan" or scope.get("path") in PROBE_PATHS:
            await app(scope, receive, send)
            return
        if self.draining:
            await (_refuse_http(send) if kind == "http" else _refuse_websocket(scope, receive, send))
            return
        if kind != "http":
            await app(scope, receive, send)  # live websockets are ended by their closer
            return
        task = asyncio.current_task()
        if task is not None:
            self._in_flight.add(task)
        try:
            await app(scope, receive, send)
        finally:
            if task is not None:
                self._in_flight.discard(task)
                if not self._in_flight and self._idle is not None:
                    self._idle.set()

    # ---- the drain ----------------------------------------------------------

    async def run(self) -> None:
        """Refuse new work, end live websockets and wait for requests in flight (bounded by the grace)."""
        self.begin("asked to stop")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.grace_seconds
        logger.info(
            "draining (%s): refusing new requests, %d in flight, closing live websockets; grace %.0f s",
            self.reason,
            len(self._in_flight),
            self.grace_seconds,
        )
        closing = [asyncio.ensure_future(closer(deadline)) for closer in self._closers]
        while self._in_flight and loop.time() < deadline:
            self._idle = asyncio.Event()
            try:
                await asyncio.wait_for(self._idle.wait(), deadline - loop.time())
            except TimeoutError:
                break
        if closing:
            done, pending = await asyncio.wait(closing, timeout=max(0.0, deadline - loop.time()))
            for future in pending:
                future.cancel()
            for future in done:
                if not future.cancelled() and future.exception() is not None:
                    logger.error("closing live connections failed: %s", type(future.exception()).__name__)
        stragglers = list(self._in_flight)
        if stragglers:
            logger.warning(
                "shutdown grace of %.0f s is over: cancelling %d request(s) still running "
                "(never answered; their transactions roll back)",
                self.grace_seconds,
                len(stragglers),
            )
            for task in stragglers:
                task.cancel()
        logger.info("drained: handing over to the server's shutdown")

    async def aclose(self) -> None:
        """Cancel a drain still running (the lifespan is shutting down anyway)."""
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    # ---- signals --------------------------------------------------------------

    def handle_signals(self) -> None:
        """Drain on SIGTERM and SIGINT, then pass the signal on to the handler
        that was there (uvicorn's, which then shuts the server down).

        Call from the serving event loop, inside uvicorn's signal capture (the
        lifespan startup). Only in the main thread, and only for a signal that
        already has a handler to pass it on to.
        """
        if threading.current_thread() is not threading.main_thread():
            return
        loop = asyncio.get_running_loop()
        for signum in DRAIN_SIGNALS:
            previous = signal.getsignal(signum)
            if not callable(previous):
                continue
            self._previous[signum] = previous
            signal.signal(signum, functools.partial(self._signalled, loop))

    def restore_signals(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        self._previous = {}

    def _signalled(self, loop: asyncio.AbstractEventLoop, signum: int, frame: FrameType | None) -> None:
        previous = self._previous.get(signum)
        if self.draining:
            if previous is not None and signum == signal.SIGINT:
                previous(signum, frame)  # Ctrl-C again: no more waiting
            return
        self.begin(f"received {signal.Signals(signum).name}")
        # A context of its own: the signal interrupts whichever request was
        # running, and the drain's log lines must not carry that request's id.
        loop.call_soon_threadsafe(self._start, signum, context=contextvars.Context())

    def _start(self, signum: int) -> None:
        previous = self._previous.get(signum)

        def hand_over(_task: asyncio.Task[None]) -> None:
            if previous is not None:
                previous(signum, None)

        self._task = asyncio.get_running_loop().create_task(self.run(), name="drain", context=contextvars.Context())
        self._task.add_done_callback(hand_over)


async def _refuse_http(send: Send) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 503,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(REFUSED_BODY)).encode("ascii")),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": REFUSED_BODY})


async def _refuse_websocket(scope: Scope, receive: Receive, send: Send) -> None:
    message = await receive()
    if message["type"] != "websocket.connect":
        return
    # Accepted (with the graphql-ws subprotocol when offered) so that the client sees the close code.
    offered = list(scope.get("subprotocols") or [])
    subprotocol = "graphql-transport-ws" if "graphql-transport-ws" in offered else None
    await send({"type": "websocket.accept", "subprotocol": subprotocol})
    await send({"type": "websocket.close", "code": CLOSE_CODE, "reason": CLOSE_REASON})
