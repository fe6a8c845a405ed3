"""Running one command as a child, the way an init process would.

- The child inherits stdin, stdout and stderr and stays in our process group
  (so it keeps the terminal); its exit status is ours (128+N when signal N
  killed it).
- SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2 are forwarded to it.
  A signal the terminal sent to the whole foreground group (Ctrl-C, Ctrl-\\)
  already reached it, so that one is not sent a second time: the kernel marks
  those (si_code SI_KERNEL), which is why signals are taken with
  sigtimedwait rather than handlers.
- Every child that ends is reaped, ours and orphans alike, so it works as
  PID 1 in a container (and, made a child subreaper, anywhere else).
- `restart(env)` stops the child (SIGTERM, a grace period, then SIGKILL) and
  starts it again with a new environment; `reload(sig)` only signals it. Both
  may be called from another thread (the watcher).

Signals are blocked before any thread exists, so every thread inherits the
mask and the main thread alone takes them; the child gets an empty mask and
default dispositions back (posix_spawn's setsigmask/setsigdef).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import queue
import shutil
import signal
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import FrameType
from typing import Any

# What signal.signal returns and takes back: a function, SIG_DFL/SIG_IGN, or
# None (a handler not installed from Python).
SignalHandler = Callable[[int, FrameType | None], Any] | int | None

FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2)
STOPPING = (signal.SIGINT, signal.SIGTERM, signal.SIGQUIT)
SI_KERNEL = 0x80
PR_SET_CHILD_SUBREAPER = 36
EXIT_NOT_EXECUTABLE = 126
EXIT_NOT_FOUND = 127


class SpawnError(Exception):
    def __init__(self, exit_code: int, message: str) -> None:
        super().__init__(message)
        self.exit_code = exit_code
        self.message = message


@dataclass(frozen=True)
class _Restart:
    environment: Mapping[str, str]


@dataclass(frozen=True)
class _Reload:
    signum: int


def _ignore(signum: int, frame: object) -> None:
    """Never runs (the signals are blocked); being a handler keeps them from being ignored or dropped."""


class Supervisor:
    def __init__(self, argv: Sequence[str], *, grace: float = 10.0, tick: float = 0.1, subreaper: bool = True) -> None:
        if not argv:
            raise SpawnError(2, "no command given (strongroom run [OPTIONS] -- COMMAND [ARGS...])")
        self._argv = list(argv)
        self._grace = grace
        self._tick = tick
        self._subreaper = subreaper
        self._requests: queue.Queue[_Restart | _Reload] = queue.Queue()
        self._pid: int | None = None
        self._status = 0
        self._pending: Mapping[str, str] | None = None  # environment of the next child, during a restart
        self._kill_at: float | None = None
        self._stopping = False
        self._saved_handlers: dict[int, SignalHandler] = {}
        self.restarts = 0

    # -- set-up -----------------------------------------------------------------------

    def install(self) -> None:
        """Take over the signals; call before starting any thread."""
        for signum in (*FORWARDED, signal.SIGCHLD):
            self._saved_handlers[signum] = signal.signal(signum, _ignore)
        signal.pthread_sigmask(signal.SIG_BLOCK, (*FORWARDED, signal.SIGCHLD))
        if self._subreaper and os.getpid() != 1:
            _become_subreaper()

    def uninstall(self) -> None:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, (*FORWARDED, signal.SIGCHLD))
        for signum, handler in self._saved_handlers.items():
            signal.signal(signum, handler)

    # -- thread-safe requests -------------------------------------------------------

    def restart(self, environment: Mapping[str, str]) -> None:
        self._requests.put(_Restart(dict(environment)))

    def reload(self, signum: int) -> None:
        self._requests.put(_Reload(signum))

    # -- the loop -------------------------------------------------------------------------

    def start(self, environment: Mapping[str, str]) -> None:
        self._pid = self._spawn(environment)

    def wait(self) -> int:
        """Supervise until the child exits for good; its exit status."""
        waited = {*FORWARDED, signal.SIGCHLD}
        while True:
            info = signal.sigtimedwait(waited, self._tick)
            if info is not None:
                if info.si_signo == signal.SIGCHLD:
                    self._reap()
                else:
                    self._forward(info)
            if self._pid is None:
                if self._pending is not None and not self._stopping:
                    environment, self._pending, self._kill_at = self._pending, None, None
                    self._pid = self._spawn(environment)
                    self.restarts += 1
                    continue
                self._reap()
                return self._status
            self._handle_requests()
            if self._kill_at is not None and time.monotonic() >= self._kill_at:
                self._signal(signal.SIGKILL)
                self._kill_at = None

    # -- internals ------------------------------------------------------------------------

    def _spawn(self, environment: Mapping[str, str]) -> int:
        program = self._argv[0]
        path = program if os.sep in program else shutil.which(program, path=environment.get("PATH", os.defpath))
        if path is None:
            raise SpawnError(EXIT_NOT_FOUND, f"command not found: {program}")
        try:
            return os.posix_spawn(
                path,
                self._argv,
                dict(environment),
                setsigmask=(),
                setsigdef=(*FORWARDED, signal.SIGCHLD, signal.SIGPIPE, signal.SIGXFSZ),
            )
        except FileNotFoundError:
            raise SpawnError(EXIT_NOT_FOUND, f"command not found: {program}") from None
        except PermissionError:
            raise SpawnError(EXIT_NOT_EXECUTABLE, f"permission denied: {program}") from None
        except OSError as exc:
            raise SpawnError(
                EXIT_NOT_EXECUTABLE, f"cannot run {program}: {exc.strerror or type(exc).__name__}"
            ) from None

    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if pid == self._pid:
                code = os.waitstatus_to_exitcode(status)
                self._status = 128 - code if code < 0 else code
                self._pid = None

    def _forward(self, info: signal.struct_siginfo) -> None:
        signum = info.si_signo
        if signum in STOPPING:
            self._stopping = True
        if self._pid is None:
            return
        from_terminal = info.si_code == SI_KERNEL
        if from_terminal and _same_group(self._pid):
            return  # the terminal signalled our whole group: the child has it already
        self._signal(signum)

    def _handle_requests(self) -> None:
        while True:
            try:
                request = self._requests.get_nowait()
            except queue.Empty:
                return
            if isinstance(request, _Reload):
                self._signal(request.signum)
            elif not self._stopping:
                first = self._pending is None
                self._pending = request.environment  # the newest values win
                if first:
                    self._signal(signal.SIGTERM)
                    self._kill_at = time.monotonic() + self._grace

    def _signal(self, signum: int) -> None:
        if self._pid is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(self._pid, signum)


def _same_group(pid: int) -> bool:
    try:
        return os.getpgid(pid) == os.getpgrp()
    except ProcessLookupError:
        return False


def _become_subreaper() -> None:
    """Orphans of the child come to us to be reaped (Linux; elsewhere nothing happens)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    except (OSError, AttributeError):
        pass
