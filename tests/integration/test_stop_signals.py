"""SIGTERM sent to `make run`'s process group: the app gets it twice (once from the group signal,
once forwarded by make), and once more from a supervisor that repeats itself. Every variant
drains and exits 0 without a traceback."""

from __future__ import annotations

import os
import shutil
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.processes import Server, cli, embedded_env, request


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    env = {**embedded_env(tmp_path), "GUESTS_PER_IP_PER_HOUR": "100000"}
    assert cli(env, "migrate").returncode == 0
    return env


class GroupServer(Server):
    """`python -m server run` (or a command that execs it) as the leader of its own group."""

    def __init__(self, env: dict[str, str], log: Path, argv: list[str] | None = None) -> None:
        super().__init__(env, log, argv, new_session=True)

    def signal_group(self) -> None:
        os.killpg(self.proc.pid, signal.SIGTERM)


@pytest.fixture
def servers() -> Iterator[list[GroupServer]]:
    started: list[GroupServer] = []
    yield started
    for server in started:
        if server.proc.poll() is None:
            os.killpg(server.proc.pid, signal.SIGKILL)
            server.proc.wait()


class Traffic:
    """A few threads asking the server things until told to stop; refusals once it has gone
    are expected."""

    def __init__(self, port: str, threads: int = 4) -> None:
        self.port = port
        self.done = threading.Event()
        self.answered = 0
        self.threads = [
            threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(threads)
        ]
        for thread in self.threads:
            thread.start()

    def _run(self, i: int) -> None:
        while not self.done.is_set():
            try:
                if i % 2:
                    request(self.port, "POST", "/api/viewers", {"display_name": f"V{i}"})
                else:
                    request(self.port, "GET", "/readyz")
                self.answered += 1
            except OSError:
                time.sleep(0.01)

    def wait_answers(self, count: int, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while self.answered < count:
            assert time.monotonic() < deadline, f"only {self.answered} answers"
            time.sleep(0.01)

    def stop(self) -> None:
        self.done.set()
        for thread in self.threads:
            thread.join(15)


def _assert_clean(log: Path) -> None:
    text = log.read_text()
    assert "Traceback" not in text and "CleanupError" not in text, text
    assert '"msg": "stopped"' in text, text


@pytest.mark.parametrize("gap", [0.0, 0.005, 0.02, 0.2])
def test_sigterm_twice_to_the_group_during_traffic_exits_0(
    env: dict[str, str], tmp_path: Path, servers: list[GroupServer], gap: float
) -> None:
    server = GroupServer(env, tmp_path / "run.log")
    servers.append(server)
    server.wait_ready()
    traffic = Traffic(server.port)
    traffic.wait_answers(20)
    server.signal_group()
    time.sleep(gap)
    server.signal_group()
    try:
        code = server.proc.wait(timeout=30)
    finally:
        traffic.stop()
    assert code == 0, server.log.read_text()
    _assert_clean(server.log)


def test_sigterm_to_make_runs_process_group_exits_0(
    env: dict[str, str], tmp_path: Path, servers: list[GroupServer]
) -> None:
    make = shutil.which("make")
    if make is None:
        pytest.skip("make is not installed")
    # The recipe `make run` ends with: make forwards SIGTERM to its child, which also got the
    # group's own.
    makefile = tmp_path / "Makefile"
    makefile.write_text(f"run:\n\texec {sys.executable} -m server run\n")
    for attempt in range(3):
        log = tmp_path / f"make{attempt}.log"
        server = GroupServer(env, log, [make, "-s", "-f", str(makefile), "run"])
        servers.append(server)
        server.wait_ready()
        traffic = Traffic(server.port)
        traffic.wait_answers(20)
        server.signal_group()
        try:
            server.proc.wait(timeout=30)
        finally:
            traffic.stop()
        text = log.read_text()
        # make reports a child that failed ("Error 1") or died of the signal ("Terminated").
        assert "Error" not in text and "Terminated" not in text, text
        _assert_clean(log)
