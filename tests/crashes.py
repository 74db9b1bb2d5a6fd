"""An app process the tests can SIGKILL and start again on the same database and Redis."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from bench.harness import free_port, wait_http

ROOT = Path(__file__).resolve().parents[1]


class AppProcess:
    """`python -m server run` with a fixed port, data dir and secret, so tokens and the embedded
    Redis's data outlive a restart."""

    def __init__(self, workdir: Path, env: dict[str, str]) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "REDIS_"))},
            "DATA_DIR": str(workdir / "var"),
            "PORT": str(self.port),
            "SECRET_KEY": "crash-secret-" + "c" * 32,
            "LOG_FORMAT": "json",
            "PASSWORD_HASH_TIME_COST": "1",
            "PASSWORD_HASH_MEMORY_KIB": "64",
            "GUESTS_PER_IP_PER_HOUR": "100000",
            "SIGNUPS_PER_IP_PER_HOUR": "100000",
            "SOCKETS_PER_IP": "100000",
            "CHECKOUT_LEASE_SECONDS": "1",
            "RECONCILE_INTERVAL_SECONDS": "0.5",
            # Fault points (CHECKOUT_FAULT_POINTS) are refused without it.
            "TESTING": "1",
            **env,
        }
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, **env: str) -> None:
        assert self.proc is None or self.proc.poll() is not None
        self.starts += 1
        log = (self.workdir / f"app-{self.starts}.log").open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "server", "run"],
            env={**self.env, **env},
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_http(self.url + "/readyz", proc=self.proc, every=0.05)
        except RuntimeError as exc:
            raise AssertionError(f"{exc}:\n{self.log_text()}") from None

    def log_text(self) -> str:
        return (self.workdir / f"app-{self.starts}.log").read_text(errors="replace")[-4000:]

    def wait_dead(self, timeout: float = 30) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout=timeout)

    def kill(self) -> None:
        """SIGKILL, as a crash (its embedded Redis dies with it: PDEATHSIG)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()
