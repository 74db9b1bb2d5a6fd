"""The embedded Valkey under the app's supervision: killed, it is started again on the same data
directory and AOF; while it is down /readyz and /metrics say so; when it cannot come back,
/healthz fails so that whatever runs the app restarts it.

Only the embedded pairing: the app never starts or restarts an external Redis. The outage is
made to last by breaking the server's configuration before the kill (a restart then fails, as a
full disk or a bad binary would make it fail) and putting it back when the test has looked.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Callable
from typing import Any

import psutil
from aiohttp.test_utils import TestClient

from server.embedded_redis import EmbeddedRedis
from server.keys import embedded_redis_key
from tests.conftest import ClientFactory
from tests.helpers import bearer, metric
from tests.room import Room
from tests.shopping import add, start_show


async def poll(
    client: TestClient[Any, Any],
    path: str,
    check: Callable[[int, dict[str, Any]], bool],
    within: float = 30,
) -> dict[str, Any]:
    deadline = time.monotonic() + within
    while True:
        resp = await client.get(path)
        body = dict(await resp.json())
        if check(resp.status, body):
            return body
        assert time.monotonic() < deadline, f"{path} still answers {resp.status} {body}"
        await asyncio.sleep(0.02)


def kill_with_a_broken_config(server: EmbeddedRedis) -> str:
    """SIGKILL the server after breaking its configuration; returns the good one."""
    conf = server.data_dir / "valkey.conf"
    good = conf.read_text()
    conf.write_text("no-such-directive yes\n")
    assert server.pid is not None
    os.kill(server.pid, signal.SIGKILL)
    return good


async def test_a_killed_embedded_redis_comes_back_with_its_data(
    make_client: ClientFactory,
) -> None:
    client = await make_client(redis_url=None)  # its own embedded Redis, either database
    server = client.app[embedded_redis_key]
    assert server is not None
    room = await Room(client).setup(products=1)
    await start_show(room)
    variant = room.products[0]["variants"][0]["id"]
    viewer = await room.joined("Ana")
    cart = await add(room, viewer.token, variant, 2)
    await viewer.ok("chat", {"text": "before"})
    await viewer.wait_event("chat")  # the room's tick has written and sent it
    # A few pooled connections to the server that is about to die.
    await asyncio.gather(*(client.get("/readyz") for _ in range(8)))
    old_pid = server.pid
    good = kill_with_a_broken_config(server)

    body = await poll(client, "/readyz", lambda _s, b: b.get("redis_state") == "restarting")
    assert body["status"] == "unavailable"
    assert body["failing"] == ["redis"]
    assert (await client.get("/healthz")).status == 200  # alive: no app restart needed yet
    assert await metric(client, "embedded_redis_up") == 0.0
    resp = await client.get(f"/api/shows/{room.show_id}/cart", headers=bearer(viewer.token))
    assert resp.status == 503 and resp.headers["Retry-After"] == "1"
    assert (await resp.json())["error"]["code"] == "busy"
    error = await viewer.refused("chat", {"text": "while it is down"}, "busy")
    assert error["retry_after"] == 1

    (server.data_dir / "valkey.conf").write_text(good)
    body = await poll(client, "/readyz", lambda status, _b: status == 200)
    assert body["redis_state"] == "up"
    assert server.pid not in (None, old_pid)
    assert await metric(client, "embedded_redis_up") == 1.0
    assert await metric(client, "embedded_redis_restarts_total") == 1.0

    # Everything answers at once, from the same AOF: the cart written before the kill is there.
    for _ in range(8):
        resp = await client.get(f"/api/shows/{room.show_id}/cart", headers=bearer(viewer.token))
        assert resp.status == 200, await resp.text()
        assert (await resp.json())["lines"] == cart["lines"]
    assert (await add(room, viewer.token, variant, 1))["lines"][0]["quantity"] == 3
    # The room too: the chat written before is in a new viewer's snapshot, and chat goes on.
    other = await room.viewer("Bob")
    snapshot = await other.ok("join", {"show_id": room.show_id})
    assert [m["text"] for m in snapshot["snapshot"]["chat"]] == ["before"]
    await viewer.ok("chat", {"text": "after"})
    # The node's pub/sub link comes back on its own backoff (python-socketio's); a frame
    # published before that is fetched from the show's log when the next one arrives.
    host = await room.host()
    deadline = time.monotonic() + 20
    while not other.events("chat"):
        assert time.monotonic() < deadline, "no chat reached Bob"
        await host.ok("chat", {"text": "ping"})
        await asyncio.sleep(0.3)
    assert other.events("chat")[0]["message"]["text"] == "after"
    await room.close()


async def test_healthz_fails_when_the_embedded_redis_cannot_come_back(
    make_client: ClientFactory,
) -> None:
    client = await make_client(redis_url=None, embedded_redis_restart_attempts=3)
    server = client.app[embedded_redis_key]
    assert server is not None
    kill_with_a_broken_config(server)

    body = await poll(client, "/healthz", lambda status, _b: status == 503)
    assert body == {"status": "unavailable", "failing": ["redis"], "redis_state": "failed"}
    resp = await client.get("/readyz")
    assert resp.status == 503
    assert (await resp.json())["redis_state"] == "failed"
    assert await metric(client, "embedded_redis_up") == 0.0
    assert await metric(client, "embedded_redis_failures") == 3.0
    assert await metric(client, "embedded_redis_restarts_total") == 0.0
    assert server.pid is None


async def test_stopping_during_a_restart_leaves_no_server_behind(
    make_client: ClientFactory,
) -> None:
    client = await make_client(redis_url=None)  # its own embedded Redis, either database
    server = client.app[embedded_redis_key]
    assert server is not None
    good = kill_with_a_broken_config(server)
    await poll(client, "/readyz", lambda _s, b: b.get("redis_state") == "restarting")
    # The next attempt would succeed; the stop must win over it, not race it.
    (server.data_dir / "valkey.conf").write_text(good)
    await server.stop()
    assert (server.state, server.pid) == ("stopped", None)
    valkeys = [p for p in psutil.Process().children() if "valkey" in p.name()]
    assert valkeys == []
    assert (await (await client.get("/readyz")).json())["redis_state"] == "stopped"
