"""`strongroom run` against a real server, as applications run under it.

The acceptance test migrates a realistic .env (every syntax, 47 entries),
runs a child that prints its environment, and finds every value exactly as
the file meant it; the same file exported and re-imported changes nothing.
Then: exit statuses, forwarded signals, PID 1 in a PID namespace, --watch
restarting (or signalling) within 2 s of a change to a value the child holds
and ignoring other secrets, and the encrypted offline fallback.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest

from tests.cli.conftest import Live, ok, one_error_line
from tests.process import closed_port_url, strongroom_command

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "dotenv"
PRINT_ENV = [sys.executable, "-c", "import json, os, sys; sys.stdout.write(json.dumps(dict(os.environ)))"]


def _expected() -> dict[str, str]:
    expected: dict[str, str] = json.loads((FIXTURES / "realistic.expected.json").read_text(encoding="utf-8"))
    return expected


def test_a_realistic_dotenv_migrates_and_the_child_sees_every_value_exactly(live: Live, here: Path) -> None:
    workspace = live.workspace("acme-dev")
    source = FIXTURES / "realistic.env"
    imported = ok(live.cli("import", str(source), "-w", workspace))
    assert imported.strip() == f"created {len(_expected())}, updated 0, unchanged 0, skipped 0"

    child = json.loads(ok(live.cli("run", "-w", workspace, "--", *PRINT_ENV, cwd=here)))
    assert {name: child.get(name) for name in _expected()} == _expected()
    assert "STRONGROOM_TOKEN" not in child  # the token is not handed on

    prefixed = json.loads(ok(live.cli("run", "-w", workspace, "--prefix", "SECRET_", "--", *PRINT_ENV, cwd=here)))
    assert {name: prefixed.get("SECRET_" + name) for name in _expected()} == _expected()

    only = json.loads(
        ok(live.cli("run", "-w", workspace, "--only", "JWT_SECRET", "--only", "PRIVATE_KEY", "--", *PRINT_ENV))
    )
    assert only["JWT_SECRET"] == _expected()["JWT_SECRET"] and "STRIPE_API_KEY" not in only

    # Re-import unchanged: nothing to do, no new version.
    again = ok(live.cli("import", str(source), "-w", workspace, "--overwrite"))
    assert again.strip() == f"created 0, updated 0, unchanged {len(_expected())}, skipped 0"
    with live.client() as client:
        assert {s.current_version for s in client.iter_secrets(workspace)} == {1}

    # Export, import elsewhere, export again: the same bytes, and diff sees no difference.
    exported = ok(live.cli("export", "-w", workspace))
    copy = live.workspace("acme-copy")
    ok(live.cli("import", "-", "-w", copy, input=exported))
    assert ok(live.cli("export", "-w", copy)) == exported
    ok(live.cli("import", "-", "-w", workspace, "--overwrite", input=exported))
    with live.client() as client:
        assert {s.current_version for s in client.iter_secrets(workspace)} == {1}
    same = ok(live.cli("diff", workspace, copy, "--exit-code"))
    assert same.splitlines()[-1] == f"0 only in {workspace}, 0 only in {copy}, 0 different, {len(_expected())} same"


def _two_secrets(live: Live, workspace: str) -> None:
    with live.client() as client:
        client.create_secret(workspace, "APP_SECRET", "one")
        client.create_secret(workspace, "OTHER_SECRET", "x")


@pytest.mark.parametrize("status", [0, 3, 255])
def test_the_exit_status_passes_through(live: Live, status: int) -> None:
    workspace = live.workspace()
    _two_secrets(live, workspace)
    result = live.cli("run", "-w", workspace, "--", sys.executable, "-c", f"raise SystemExit({status})")
    assert result.returncode == status and result.stderr == ""


def test_a_missing_command_is_127_with_one_line(live: Live) -> None:
    workspace = live.workspace()
    _two_secrets(live, workspace)
    one_error_line(live.cli("run", "-w", workspace, "--", "no-such-program-here"), "NOT_FOUND", 127)


def test_stdin_and_stdout_are_the_childs(live: Live) -> None:
    workspace = live.workspace()
    _two_secrets(live, workspace)
    result = live.cli("run", "-w", workspace, "--", "sh", "-c", 'read line; echo "$line:$APP_SECRET"', input="hello\n")
    assert ok(result) == "hello:one\n"


def test_pass_token_hands_the_child_url_and_token(live: Live) -> None:
    workspace = live.workspace()
    _two_secrets(live, workspace)
    child = json.loads(ok(live.cli("run", "-w", workspace, "--pass-token", "--", *PRINT_ENV)))
    assert child["STRONGROOM_TOKEN"] == live.token and child["STRONGROOM_URL"] == live.process.base_url


class _Child:
    """`strongroom run ...` in the background, its stdout line by line."""

    def __init__(
        self, live: Live, args: list[str], *, env: dict[str, str] | None = None, prefix: list[str] | None = None
    ) -> None:
        self.process = subprocess.Popen(
            [*(prefix or []), *strongroom_command(), *args],
            cwd=live.cwd,
            env=env or live.env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[tuple[float, str]] = queue.Queue()
        self.stderr = ""
        self._stderr_parts: list[str] = []
        assert self.process.stdout is not None and self.process.stderr is not None
        # Each pipe has one reader, a thread of its own, until the child closes it.
        self._readers = [
            threading.Thread(target=self._pump, args=(self.process.stdout,), daemon=True),
            threading.Thread(target=self._collect, args=(self.process.stderr,), daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    def _pump(self, stream: IO[str]) -> None:
        for line in stream:
            self.lines.put((time.monotonic(), line.rstrip("\n")))

    def _collect(self, stream: IO[str]) -> None:
        for line in stream:
            self._stderr_parts.append(line)

    def expect(self, pattern: str, timeout: float = 15.0) -> tuple[float, str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                when, line = self.lines.get(timeout=0.1)
            except queue.Empty:
                if self.process.poll() is not None and self.lines.empty():
                    break
                continue
            if re.search(pattern, line):
                return when, line
        raise AssertionError(f"no line matching {pattern!r} within {timeout} s; stderr: {self.finish()}")

    def quiet(self, seconds: float) -> list[str]:
        seen = []
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            with contextlib.suppress(queue.Empty):
                seen.append(self.lines.get(timeout=0.1)[1])
        return seen

    def finish(self, timeout: float = 15.0) -> str:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        for reader in self._readers:
            reader.join(timeout=5)  # the pipes reach their end with the child (and its children)
        for pipe in (self.process.stdout, self.process.stderr):
            if pipe is not None:
                pipe.close()
        self.stderr = "".join(self._stderr_parts)
        return self.stderr


@pytest.fixture
def children() -> Iterator[list[_Child]]:
    started: list[_Child] = []
    yield started
    for child in started:
        child.finish()


LOOP = (
    "import os, signal, sys, time\n"
    "signal.signal(signal.SIGTERM, lambda *a: (print('TERM', flush=True), sys.exit(42)))\n"
    "signal.signal(signal.SIGHUP, lambda *a: print('HUP', flush=True))\n"
    "signal.signal(signal.SIGUSR1, lambda *a: print('USR1', flush=True))\n"
    "print('start', os.getpid(), os.environ.get('APP_SECRET'), flush=True)\n"
    "while True: time.sleep(0.05)\n"
)


def test_sigterm_and_others_are_forwarded_and_the_status_comes_back(live: Live, children: list[_Child]) -> None:
    workspace = live.workspace()
    _two_secrets(live, workspace)
    child = _Child(live, ["run", "-w", workspace, "--", sys.executable, "-c", LOOP])
    children.append(child)
    child.expect("^start")
    child.process.send_signal(signal.SIGUSR1)
    child.expect("^USR1$")
    child.process.send_signal(signal.SIGHUP)
    child.expect("^HUP$")
    child.process.send_signal(signal.SIGTERM)
    child.expect("^TERM$")
    assert child.process.wait(timeout=10) == 42
    assert child.finish() == ""


def _change(live: Live, workspace: str, name: str, value: str) -> float:
    with live.client() as client:
        secret = client.secret_by_name(workspace, name)
        assert secret is not None
        client.update_secret(workspace, secret.id, value=value)
    return time.monotonic()


def test_watch_restarts_within_2s_only_for_values_the_child_received(live: Live, children: list[_Child]) -> None:
    workspace = live.workspace()
    _two_secrets(live, workspace)
    child = _Child(
        live,
        ["run", "-w", workspace, "--only", "APP_SECRET", "--watch", "--grace", "5", "--", sys.executable, "-c", LOOP],
    )
    children.append(child)
    child.expect("^start .* one$")
    _change(live, workspace, "OTHER_SECRET", "changed")  # not given to the child
    assert child.quiet(3.0) == []
    changed_at = _change(live, workspace, "APP_SECRET", "two")
    child.expect("^TERM$")
    restarted_at, line = child.expect("^start .* two$")
    assert restarted_at - changed_at < 2.0, restarted_at - changed_at
    # The same value again (a new version, same bytes): nothing to do.
    _change(live, workspace, "APP_SECRET", "two")
    assert child.quiet(2.0) == []
    assert child.finish().count("strongroom:") == 0


def test_watch_with_a_reload_signal_signals_instead(live: Live, children: list[_Child]) -> None:
    workspace = live.workspace()
    _two_secrets(live, workspace)
    child = _Child(
        live, ["run", "-w", workspace, "--watch", "--reload-signal", "HUP", "--", sys.executable, "-c", LOOP]
    )
    children.append(child)
    child.expect("^start")
    changed_at = _change(live, workspace, "OTHER_SECRET", "new")  # received: no --only
    signalled_at, _ = child.expect("^HUP$")
    assert signalled_at - changed_at < 2.0
    assert not any(line.startswith("start") for line in child.quiet(1.0))


def test_watch_works_with_a_reader_token(live: Live, children: list[_Child]) -> None:
    """What an application holds (READER) is enough to follow its values' changes."""
    workspace = live.workspace()
    _two_secrets(live, workspace)
    with live.client() as client:
        reader = client.create_principal(f"reader-{workspace}", [(workspace, "READER")])
        token = client.create_token(reader.id, "ci").token
    child = _Child(live, ["run", "-w", workspace, "--watch", "--", sys.executable, "-c", LOOP], env=live.env(token))
    children.append(child)
    child.expect("^start")
    changed_at = _change(live, workspace, "OTHER_SECRET", "newer")
    restarted_at, _ = child.expect("^start")
    assert restarted_at - changed_at < 2.0


def test_watch_needs_the_right_to_list_the_workspace(live: Live) -> None:
    workspace = live.workspace()
    _two_secrets(live, workspace)
    with live.client() as client:
        auditor = client.create_principal(f"auditor-{workspace}", [(workspace, "AUDITOR")])
        token = client.create_token(auditor.id, "ci").token
    result = live.cli("run", "-w", workspace, "--watch", "--", "sh", "-c", "echo started", token=token)
    one_error_line(result, "FORBIDDEN")
    assert result.stdout == ""  # refused before the command started


def test_fallback_keeps_an_encrypted_copy_and_uses_it_when_the_server_is_away(live: Live, here: Path) -> None:
    workspace = live.workspace()
    _two_secrets(live, workspace)
    saved = here / "fallback.json"
    first = json.loads(ok(live.cli("run", "-w", workspace, "--fallback", str(saved), "--", *PRINT_ENV)))
    assert first["APP_SECRET"] == "one"
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    raw = saved.read_bytes()
    assert b"one" not in raw.replace(b'"format"', b"") and b"APP_SECRET" not in raw and live.token.encode() not in raw

    away = live.env(STRONGROOM_URL=closed_port_url())
    offline = live.cli("run", "-w", workspace, "--fallback", str(saved), "--", *PRINT_ENV, env=away)
    assert offline.returncode == 0, offline.stderr
    assert json.loads(offline.stdout)["OTHER_SECRET"] == "x"
    (warning,) = offline.stderr.splitlines()
    assert warning.startswith("strongroom: warning: UNAVAILABLE: ") and str(saved) in warning

    wrong_token = {**away, "STRONGROOM_TOKEN": "sr_" + "Z" * 43}
    refused = live.cli("run", "-w", workspace, "--fallback", str(saved), "--", "true", env=wrong_token)
    assert "does not open with this token" in one_error_line(refused, "UNAVAILABLE")
    # Refused by the server (not unreachable): the fallback is not a way around a revoked token.
    revoked = live.cli("run", "-w", workspace, "--fallback", str(saved), "--", "true", token="sr_" + "Z" * 43)
    one_error_line(revoked, "UNAUTHENTICATED")


@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs unshare(1) for a PID namespace")
def test_as_pid_1_it_reaps_orphans_and_forwards_sigterm(live: Live, children: list[_Child], here: Path) -> None:
    probe = subprocess.run(["unshare", "--pid", "--fork", "--mount-proc", "true"], capture_output=True, check=False)
    if probe.returncode != 0:
        pytest.skip("PID namespaces are not available here")
    workspace = live.workspace()
    _two_secrets(live, workspace)
    script = (
        "trap 'echo TERM; exit 42' TERM;"
        # Orphans: children whose parent exits at once are re-parented to PID 1.
        "for i in 1 2 3; do sh -c 'sleep 0.2 &' ; done; sleep 0.4;"
        # Reaped soon after they end; unreaped, they would stay zombies for good.
        "for i in $(seq 50); do z=$(ps -eo stat= | grep -c '^Z'); [ $z = 0 ] && break; sleep 0.1; done;"
        "echo zombies=$z;"
        "echo pid1=$(cat /proc/1/comm) me=$$;"
        "while true; do sleep 0.05; done"
    )
    child = _Child(
        live, ["run", "-w", workspace, "--", "sh", "-c", script], prefix=["unshare", "--pid", "--fork", "--mount-proc"]
    )
    children.append(child)
    child.expect("^zombies=0$")
    child.expect("^pid1=(strongroom|python)")
    # SIGTERM to the container's PID 1 (as `docker stop` does), from outside the namespace.
    supervisor_pid = _only_child(child.process.pid)
    os.kill(supervisor_pid, signal.SIGTERM)
    child.expect("^TERM$")
    assert child.process.wait(timeout=10) == 42


def _only_child(pid: int) -> int:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        if children:
            return int(children[0])
        time.sleep(0.05)
    raise AssertionError("unshare started no child")


def test_ctrl_c_at_a_terminal_reaches_the_command_once(live: Live) -> None:
    import fcntl
    import pty
    import termios

    workspace = live.workspace()
    _two_secrets(live, workspace)
    counting = (
        "import signal, sys, time\n"
        "count = 0\n"
        "def interrupted(*_):\n"
        "    global count\n"
        "    count += 1\n"
        "signal.signal(signal.SIGINT, interrupted)\n"
        "print('ready', flush=True)\n"
        "time.sleep(1.5)\n"
        "print('interrupts', count, flush=True)\n"
    )
    master, slave = pty.openpty()

    def own_terminal() -> None:
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)  # the new session's controlling terminal

    process = subprocess.Popen(
        [*strongroom_command(), "run", "-w", workspace, "--", sys.executable, "-c", counting],
        cwd=live.cwd,
        env=live.env(),
        stdin=slave,
        stdout=slave,
        stderr=slave,
        start_new_session=True,
        preexec_fn=own_terminal,  # noqa: PLW1509 - no threads in the child
    )
    os.close(slave)
    seen = b""
    try:
        deadline = time.monotonic() + 20
        while b"ready" not in seen and time.monotonic() < deadline:
            seen += os.read(master, 1024)
        os.write(master, b"\x03")  # Ctrl-C: the terminal signals the whole foreground group
        while not re.search(rb"interrupts \d+\r?\n", seen) and time.monotonic() < deadline:
            try:
                seen += os.read(master, 1024)
            except OSError:
                break
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(master)
    assert b"interrupts 1" in seen, seen
