"""The app as real processes: `python -m server …` run from the checkout with embedded defaults
(SQLite, the embedded Valkey), and plain HTTP requests to it on a free loopback port."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def embedded_env(tmp_path: Path) -> dict[str, str]:
    """Embedded defaults: no DATABASE_URL, no REDIS_URL, data under a fresh directory."""
    base = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "ALLOWED_ORIGINS"}
    }
    return {
        **base,
        "DATA_DIR": str(tmp_path / "var"),
        "PORT": str(free_port()),
        "PASSWORD_HASH_TIME_COST": "1",
        "PASSWORD_HASH_MEMORY_KIB": "64",
        "LOG_FORMAT": "json",
    }


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "server", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def request(
    port: str, method: str, path: str, body: Any = None, token: str | None = None
) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 - loopback only
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


class Server:
    """`python -m server run` as a real process (or `argv`, a command that runs it), its output
    in `log`. `new_session`: the leader of its own process group, as under make or a terminal."""

    def __init__(
        self,
        env: dict[str, str],
        log: Path,
        argv: list[str] | None = None,
        *,
        cwd: Path = ROOT,
        new_session: bool = False,
    ) -> None:
        self.port = env["PORT"]
        self.log = log
        with log.open("w") as out:
            self.proc = subprocess.Popen(
                argv or [sys.executable, "-m", "server", "run"],
                env=env,
                cwd=cwd,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=new_session,
            )

    def wait_ready(self, timeout: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log.read_text()
            try:
                status, body = request(self.port, "GET", "/readyz")
                if status == 200:
                    return dict(body)
            except OSError:
                pass
            time.sleep(0.1)
        raise AssertionError("server not ready in time:\n" + self.log.read_text())

    def children(self) -> list[psutil.Process]:
        return psutil.Process(self.proc.pid).children(recursive=True)

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=30)
