"""Two real app processes on one Redis, behind real nginx running the configuration from
deploy/nginx.conf (the one docker-compose.yml mounts). Needs nginx: `.ci/run` installs it."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bench.harness import free_port, wait_http
from server.embedded_redis import EmbeddedRedis
from server.media import nginx_binary
from tests import backends as b
from tests.conftest import FAST_HASH
from tests.room import Room, Viewer, until

ROOT = Path(__file__).resolve().parents[2]
NGINX = nginx_binary()

if NGINX is None:
    if b.IN_CI:
        raise RuntimeError("nginx is required under CI=true (.ci/run installs it)")
    pytest.skip("nginx is not installed (.ci/run installs it)", allow_module_level=True)


class Node:
    def __init__(self, name: str, env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.port = env["PORT"]
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log_dir / f"{name}.log"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "server", "run"],
            env=env,
            cwd=ROOT,
            stdout=self.log.open("w"),
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self) -> None:
        wait_http(self.url + "/readyz")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()


def nginx_config(directory: Path, listen: int, internal: int, upstreams: list[int]) -> Path:
    """deploy/nginx.conf with its upstreams and ports pointed at this test's processes."""
    site = (ROOT / "deploy" / "nginx.conf").read_text()
    replacements = {
        "server app1:8080": f"server 127.0.0.1:{upstreams[0]}",
        "server app2:8080": f"server 127.0.0.1:{upstreams[1]}",
        "listen 80;": f"listen 127.0.0.1:{listen};",
        "listen 8081;": f"listen 127.0.0.1:{internal};",
        "allow 10.0.0.0/8;": "allow 127.0.0.1;",
    }
    for old, new in replacements.items():
        assert old in site, f"deploy/nginx.conf no longer has {old!r}"
        site = site.replace(old, new)
    (directory / "site.conf").write_text(site)
    temp = " ".join(
        f"{kind}_temp_path {directory / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    user = "user root root;\n" if os.geteuid() == 0 else ""
    main = directory / "nginx.conf"
    main.write_text(
        f"{user}worker_processes 1;\nerror_log {directory / 'error.log'} warn;\n"
        f"pid {directory / 'nginx.pid'};\nevents {{ worker_connections 1024; }}\n"
        f"http {{ access_log off; {temp} include {directory / 'site.conf'}; }}\n"
    )
    return main


def start_nginx(directory: Path, conf: Path) -> subprocess.Popen[bytes]:
    assert NGINX is not None
    return subprocess.Popen(
        [NGINX, "-p", str(directory), "-c", str(conf), "-g", "daemon off;"],
        stdout=subprocess.DEVNULL,
        stderr=(directory / "stderr.log").open("w"),
    )


class Cluster:
    def __init__(self, nodes: list[Node], front: str, internal: str) -> None:
        self.nodes = nodes
        self.front = front
        self.internal = internal  # the media server's way in


@pytest.fixture
async def cluster(backend: b.Backend, database_url: str, tmp_path: Path) -> AsyncIterator[Cluster]:
    embedded: EmbeddedRedis | None = None
    if backend.redis == "external":
        redis_url = b.REDIS_URL
    else:
        # A test-started engine on its own unix socket, shared by both nodes.
        embedded = EmbeddedRedis(tmp_path / "shared-redis")
        await embedded.start()
        redis_url = embedded.url
    await b.truncate_url(database_url)
    prefix = f"t{uuid.uuid4().hex[:10]}:"
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "REDIS_"))}
    nodes = []
    processes: list[Any] = []
    try:
        for name in ("app1", "app2"):
            env = {
                **base,
                "DATABASE_URL": database_url,
                "REDIS_URL": redis_url,
                "REDIS_PREFIX": prefix,
                "SECRET_KEY": "cluster-secret-" + "z" * 32,
                "DATA_DIR": str(tmp_path / name),
                "PORT": str(free_port()),
                "TRUSTED_PROXIES": "127.0.0.1",
                "LOG_FORMAT": "json",
                "PASSWORD_HASH_TIME_COST": str(FAST_HASH["password_hash_time_cost"]),
                "PASSWORD_HASH_MEMORY_KIB": str(FAST_HASH["password_hash_memory_kib"]),
            }
            nodes.append(Node(name, env, tmp_path))
        for node in nodes:
            await asyncio.to_thread(node.wait_ready)
        front_port = free_port()
        ngx_dir = tmp_path / "nginx"
        ngx_dir.mkdir()
        internal_port = free_port()
        conf = nginx_config(ngx_dir, front_port, internal_port, [int(n.port) for n in nodes])
        processes.append(start_nginx(ngx_dir, conf))
        front = f"http://127.0.0.1:{front_port}"
        await asyncio.to_thread(wait_http, front + "/healthz")
        yield Cluster(nodes, front, f"http://127.0.0.1:{internal_port}")
    finally:
        for proc in processes:
            proc.send_signal(signal.SIGQUIT)  # nginx: graceful stop
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        for node in nodes:
            await asyncio.to_thread(node.stop)
        if embedded is not None:
            await embedded.stop()
        if backend.redis == "external":
            b.delete_prefix(b.REDIS_URL, prefix)


@pytest.fixture
async def room(cluster: Cluster) -> AsyncIterator[Room]:
    async with aiohttp.ClientSession(base_url=cluster.front) as session:
        r = await Room(session, cluster.front).setup(products=3)
        yield r
        await r.close()


def _contiguous(seqs: list[int]) -> bool:
    return seqs == list(range(seqs[0], seqs[0] + len(seqs))) if seqs else True


async def test_pins_chat_and_counts_cross_nodes(cluster: Cluster, room: Room) -> None:
    a, b_ = cluster.nodes
    host = await room.host(url=a.url)
    viewer = await room.joined("OnB", url=b_.url)
    await host.ok("pin", {"product_id": room.products[0]["id"]})
    assert (await viewer.wait_event("pin"))[0]["pin"]["product"]["id"] == room.products[0]["id"]
    await viewer.ok("chat", {"text": "hello from B"})
    await host.wait_event("chat")
    await host.ok("chat", {"text": "hello from A"})
    await viewer.wait_event("chat", 2)
    assert [e["message"]["text"] for e in viewer.events("chat")] == ["hello from B", "hello from A"]
    # Both nodes' viewers are counted: the host and one more on A, two more on B.
    await room.joined("A2", url=a.url)
    await room.joined("B2", url=b_.url)
    await until(lambda: any(e["viewers"] == 4 for e in viewer.events("stats")), within=8)
    # Every frame reached both nodes' viewers in the same order.
    await host.ok("pin", {"product_id": room.products[1]["id"]})
    await until(lambda: len(viewer.events("pin")) == 2)
    shared = set(viewer.seqs()) & set(host.seqs())
    assert sorted(shared) == [s for s in viewer.seqs() if s in shared]


async def test_ingest_callbacks_only_through_the_internal_listener(
    cluster: Cluster, room: Room
) -> None:
    form = {"call": "publish", "name": "sk_" + "A" * 32, "clientid": "1", "addr": "192.0.2.1"}
    async with aiohttp.ClientSession() as http:
        async with http.post(cluster.front + "/api/ingest/publish", data=form) as resp:
            assert resp.status == 404  # stopped at nginx
        async with http.post(cluster.internal + "/api/ingest/publish", data=form) as resp:
            # Reached an app node, which refused the unknown key (JSON, not nginx's page).
            assert resp.status == 403
            assert (await resp.json())["error"]["message"] == "unknown key"
        async with http.get(cluster.internal + "/healthz") as resp:
            assert resp.status == 404  # nothing else is served there


async def test_a_ban_on_one_node_disconnects_the_viewer_on_the_other(
    cluster: Cluster, room: Room
) -> None:
    a, b_ = cluster.nodes
    host = await room.host(url=a.url)
    token = await room.guest_token("Troll")
    troll = await room.joined("Troll", token, url=b_.url)
    subject = (await troll.ok("join", {"show_id": room.show_id}))["snapshot"]["you"]["subject"]
    await host.ok("user.ban", {"subject": subject})
    await until(lambda: not troll.sio.connected, what="the banned viewer on B to be dropped")
    again = await room.viewer("Troll", token, url=b_.url)
    await again.refused("join", {"show_id": room.show_id}, "banned")


async def test_killing_a_node_loses_no_event(cluster: Cluster, room: Room) -> None:
    a, b_ = cluster.nodes
    host = await room.host(url=a.url)
    tokens = [await room.guest_token(f"V{i}") for i in range(6)]
    viewers: list[Viewer] = []
    joined: list[dict[str, Any]] = []
    received: dict[int, list[dict[str, Any]]] = {}
    for i, token in enumerate(tokens):
        # Through nginx: round robin spreads them over both nodes.
        viewer = await room.viewer(f"V{i}", token)
        joined.append(await viewer.ok("join", {"show_id": room.show_id}))
        viewers.append(viewer)
    stop = asyncio.Event()
    sent = 0

    async def traffic() -> None:
        nonlocal sent
        while not stop.is_set():
            await host.ok("chat", {"text": f"m{sent}"})
            sent += 1
            if sent % 4 == 0:
                await host.ok("pin", {"product_id": room.products[sent % 3]["id"]})
            await asyncio.sleep(0.01)

    task = asyncio.create_task(traffic())
    try:
        await asyncio.sleep(0.5)
        b_.kill()  # SIGKILL: no goodbye to anyone
        await until(lambda: any(not v.sio.connected for v in viewers), what="a dropped viewer")
        await asyncio.sleep(0.3)
        for i, viewer in enumerate(viewers):
            if viewer.sio.connected:
                continue
            received[i] = list(viewer.frames)
            last = viewer.frames[-1] if viewer.frames else joined[i]
            again = await room.viewer(f"V{i}", tokens[i])  # nginx sends it to the live node
            since = {"since": last["seq"], "epoch": last["epoch"]}
            answer = await again.ok("join", {"show_id": room.show_id, **since})
            assert "replay" in answer, answer
            received[i] += answer["replay"]
            viewers[i] = again
        await asyncio.sleep(0.5)
    finally:
        stop.set()
        await task
    final = (await host.ok("chat", {"text": "final"}))["id"]
    for i, viewer in enumerate(viewers):
        await until(
            lambda v=viewer: any(e["message"]["id"] == final for e in v.events("chat")),
            what=f"viewer {i} to see the final message",
        )
        frames = received.get(i, []) + viewer.frames
        seqs = [f["seq"] for f in frames]
        assert _contiguous(seqs) and len(set(seqs)) == len(seqs), (i, seqs)
    assert received, "no viewer was on the killed node"
