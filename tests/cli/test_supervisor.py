"""The child-process supervisor of `strongroom run`, in this process: exit
statuses, forwarded signals, restarts with a grace period, reload signals.
(As PID 1 and through the real command: tests/cli/test_run.py.)"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from graphql_api.cli.supervisor import SpawnError, Supervisor


@pytest.fixture
def supervise() -> Iterator[list[Supervisor]]:
    made: list[Supervisor] = []
    yield made
    for supervisor in made:
        supervisor.uninstall()


def _start(made: list[Supervisor], code: str, *, grace: float = 5.0, env: dict[str, str] | None = None) -> Supervisor:
    supervisor = Supervisor([sys.executable, "-c", code], grace=grace, tick=0.05, subreaper=False)
    made.append(supervisor)
    supervisor.install()
    supervisor.start({**os.environ, **(env or {})})
    return supervisor


def _later(seconds: float, action: object) -> None:
    def run() -> None:
        time.sleep(seconds)
        action()  # type: ignore[operator]

    threading.Thread(target=run, daemon=True).start()


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("raise SystemExit(0)", 0),
        ("raise SystemExit(7)", 7),
        ("import os, signal; os.kill(os.getpid(), signal.SIGKILL)", 128 + 9),
    ],
)
def test_the_exit_status_is_the_childs(supervise: list[Supervisor], code: str, status: int) -> None:
    assert _start(supervise, code).wait() == status


def test_sigterm_and_sigusr1_sent_to_us_are_forwarded(supervise: list[Supervisor], tmp_path: Path) -> None:
    marker = tmp_path / "usr1"
    code = (
        "import signal, sys, time, pathlib\n"
        f"signal.signal(signal.SIGUSR1, lambda *a: pathlib.Path({str(marker)!r}).write_text('usr1'))\n"
        "signal.signal(signal.SIGTERM, lambda *a: sys.exit(42))\n"
        f"pathlib.Path({str(tmp_path / 'ready')!r}).write_text('')\n"
        "while True: time.sleep(0.05)\n"
    )
    supervisor = _start(supervise, code)
    ready = tmp_path / "ready"

    def signal_us() -> None:
        while not ready.exists():
            time.sleep(0.02)
        os.kill(os.getpid(), signal.SIGUSR1)
        while not marker.exists():
            time.sleep(0.02)
        os.kill(os.getpid(), signal.SIGTERM)

    _later(0, signal_us)
    assert supervisor.wait() == 42
    assert marker.read_text() == "usr1"


def test_restart_stops_with_sigterm_then_sigkill_after_the_grace(supervise: list[Supervisor], tmp_path: Path) -> None:
    code = (
        "import os, signal, sys, time, pathlib\n"
        "if os.environ['ROUND'] == '1':\n"
        "    signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        f"    pathlib.Path({str(tmp_path / 'ready')!r}).write_text('')\n"
        "    while True: time.sleep(0.05)\n"
        "sys.exit(int(os.environ['ROUND']) * 10)\n"
    )
    supervisor = _start(supervise, code, grace=0.5, env={"ROUND": "1"})
    ready = tmp_path / "ready"
    asked: list[float] = []

    def restart() -> None:
        while not ready.exists():
            time.sleep(0.02)
        asked.append(time.monotonic())
        supervisor.restart({**os.environ, "ROUND": "2"})

    _later(0, restart)
    assert supervisor.wait() == 20  # the second child's status
    assert supervisor.restarts == 1
    assert time.monotonic() - asked[0] >= 0.5  # it waited out the grace before SIGKILL


def test_reload_only_signals(supervise: list[Supervisor], tmp_path: Path) -> None:
    code = (
        "import signal, sys, time, pathlib\n"
        "signal.signal(signal.SIGHUP, lambda *a: sys.exit(3))\n"
        f"pathlib.Path({str(tmp_path / 'ready')!r}).write_text('')\n"
        "while True: time.sleep(0.05)\n"
    )
    supervisor = _start(supervise, code)

    def reload() -> None:
        while not (tmp_path / "ready").exists():
            time.sleep(0.02)
        supervisor.reload(signal.SIGHUP)

    _later(0, reload)
    assert supervisor.wait() == 3 and supervisor.restarts == 0


def test_a_missing_command_is_127() -> None:
    supervisor = Supervisor(["no-such-command-anywhere"], subreaper=False)
    with pytest.raises(SpawnError) as raised:
        supervisor.start({"PATH": "/nonexistent"})
    assert raised.value.exit_code == 127 and "command not found: no-such-command-anywhere" in raised.value.message


def test_a_signal_the_terminal_sent_to_the_group_is_not_sent_again(
    supervise: list[Supervisor], monkeypatch: pytest.MonkeyPatch
) -> None:
    from types import SimpleNamespace

    from graphql_api.cli.supervisor import SI_KERNEL

    supervisor = _start(supervise, "import time; time.sleep(5)")
    sent: list[int] = []
    real_kill = os.kill
    monkeypatch.setattr(os, "kill", lambda pid, signum: sent.append(signum))
    # Ctrl-C: the kernel signalled our whole process group, the child included.
    supervisor._forward(SimpleNamespace(si_signo=signal.SIGINT, si_code=SI_KERNEL))  # type: ignore[arg-type]
    assert sent == []
    # `kill -INT <strongroom>` reached only us: passed on.
    supervisor._forward(SimpleNamespace(si_signo=signal.SIGINT, si_code=0))  # type: ignore[arg-type]
    assert sent == [signal.SIGINT]
    monkeypatch.setattr(os, "kill", real_kill)
    supervisor._signal(signal.SIGKILL)
    assert supervisor.wait() == 128 + signal.SIGKILL
