"""A room's frames across a Redis restart that lost the last writes.

Redis numbers a room's frames (`seq`). A Redis started again from an append-only file missing
its last writes numbers again from an older seq: without an epoch, connected viewers would drop
every new frame as already seen, and a `since` would replay frames of another history. Every
frame and join answer carries the room's epoch; a restart starts a new one.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from server.embedded_redis import EmbeddedRedis
from server.keys import embedded_redis_key
from tests.conftest import ClientFactory
from tests.redis_loss import AofCheckpoint
from tests.room import Room, Viewer, until
from tests.shopping import start_show

# Seconds for anything that crosses a restart (a loaded CI machine is slow).
WAIT = 20.0


@pytest.fixture
async def checkpoint(valkey: EmbeddedRedis) -> AsyncIterator[AofCheckpoint]:
    point = AofCheckpoint(valkey)
    yield point
    point.close()


async def ok_once_redis_is_back(viewer: Viewer, event: str, data: Any) -> dict[str, Any]:
    """The app's pool reconnects on its own; calls made meanwhile fail and change nothing."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        answer = await viewer.call(event, data)
        if answer["ok"]:
            return answer
        await asyncio.sleep(0.05)
    raise AssertionError(f"{event} never went through after the restart")


def pin_ids(answer: dict[str, Any]) -> list[int]:
    return [p["product"]["id"] for p in answer["snapshot"]["pins"]]


async def test_viewers_follow_a_room_whose_redis_lost_its_last_writes(
    make_client: ClientFactory, valkey: EmbeddedRedis, checkpoint: AofCheckpoint
) -> None:
    """An external Redis (REDIS_URL), started again by its operator."""

    async def restart() -> None:
        await valkey.stop()
        await valkey.start()

    await across_a_lossy_restart(await make_client(redis_url=valkey.url), checkpoint, restart)


async def test_viewers_follow_a_room_whose_embedded_redis_lost_its_last_writes(
    make_client: ClientFactory,
) -> None:
    """The app's own embedded Redis (with either database), started again by the app's
    supervisor."""
    client = await make_client(redis_url=None)
    embedded = client.app[embedded_redis_key]
    assert embedded is not None
    checkpoint = AofCheckpoint(embedded)
    try:
        await across_a_lossy_restart(client, checkpoint, None)
    finally:
        checkpoint.close()


async def across_a_lossy_restart(
    client: TestClient[Any, Any],
    checkpoint: AofCheckpoint,
    restart: Callable[[], Awaitable[None]] | None,
) -> None:
    room = await Room(client).setup(products=4)
    try:
        await start_show(room)
        host = await room.host()
        viewer = await room.joined("Ana")
        p0, p1, p2, p3 = (p["id"] for p in room.products)
        await host.ok("pin", {"product_id": p0})
        await until(lambda: len(viewer.events("pin")) == 1, WAIT, what="the first pin")
        await checkpoint.take()

        # Written, delivered, then lost: the viewer has seen seqs Redis will not remember.
        for product in (p1, p2):
            await host.ok("pin", {"product_id": product})
        await host.ok("unpin", {"product_id": p0})
        await until(
            lambda: len(viewer.events("unpin")) == 1, WAIT, what="the frames before the loss"
        )
        before = viewer.frames[-1]
        epoch, last_seen = before["epoch"], before["seq"]
        assert {f["epoch"] for f in viewer.frames} == {epoch}

        checkpoint.lose_since()
        if restart is not None:
            await restart()

        # The room as Redis has it now: only the first pin. The next change is numbered from
        # there, in a new epoch, and reaches the viewer who is still connected.
        seen = len(viewer.frames)
        await ok_once_redis_is_back(host, "pin", {"product_id": p3})
        # The pin's frame, or a later one of the new epoch: a node whose link to Redis came
        # back after the pin delivers the room's newest frame, and the epoch tells the viewer
        # to take a snapshot (below) rather than wait for what it missed.
        await until(lambda: len(viewer.frames) > seen, WAIT, what="a frame after the restart")
        after = viewer.frames[seen]
        assert after["epoch"] != epoch
        assert {f["epoch"] for f in viewer.frames[seen:]} == {after["epoch"]}
        assert after["seq"] <= last_seen  # numbered again: a seq alone would be dropped as seen

        # The viewer's rule: a frame of another epoch -> join again with its since and epoch,
        # which gets a snapshot of the room as it is, never a replay of another history.
        chats = max(1, last_seen - viewer.frames[-1]["seq"] + 2)
        for _ in range(chats):
            await host.ok("chat", {"text": "after the restart"})
        await until(
            lambda: len(viewer.events("chat")) == chats, WAIT, what="chat after the restart"
        )
        since = {"show_id": room.show_id, "since": last_seen, "epoch": epoch}
        answer = await viewer.ok("join", since)
        assert "replay" not in answer and answer["stale"] is True
        assert answer["epoch"] == after["epoch"]
        assert pin_ids(answer) == [p0, p3]
        # From here on the new epoch's seqs replay as usual.
        await host.ok("unpin", {"product_id": p3})
        await until(lambda: len(viewer.events("unpin")) == 2, WAIT, what="the unpin")
        current = {"show_id": room.show_id, "since": answer["seq"], "epoch": answer["epoch"]}
        replay = (await viewer.ok("join", current))["replay"]
        kinds = [e["type"] for f in replay for e in f["events"]]
        assert [k for k in kinds if k in ("pin", "unpin", "chat")] == ["unpin"]
        assert {f["epoch"] for f in replay} == {answer["epoch"]}
    finally:
        await room.close()


async def test_a_restart_without_loss_starts_a_new_epoch_too(
    make_client: ClientFactory, valkey: EmbeddedRedis
) -> None:
    # A failover or restart cannot tell whether it lost anything: every restart is a new epoch.
    client = await make_client(redis_url=valkey.url)
    room = await Room(client).setup(products=1)
    try:
        await start_show(room)
        host = await room.host()
        first = await host.ok("join", {"show_id": room.show_id})
        await valkey.stop()  # SIGTERM: Valkey writes everything out
        await valkey.start()
        answer = await ok_once_redis_is_back(host, "join", {"show_id": room.show_id})
        assert answer["epoch"] != first["epoch"]
        assert answer["seq"] >= first["seq"]  # nothing lost (stats frames may have come since)
        again = await host.ok(
            "join", {"show_id": room.show_id, "since": answer["seq"], "epoch": answer["epoch"]}
        )
        assert "replay" in again and again["epoch"] == answer["epoch"]
        assert {f["epoch"] for f in again["replay"]} <= {answer["epoch"]}
    finally:
        await room.close()
