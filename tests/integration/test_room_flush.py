"""Chat acknowledged with an id reaches the room even when the tick's publish fails for a while
(a script error, Redis gone and back); what cannot be published in time is counted."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp.test_utils import TestClient

from server.embedded_redis import EmbeddedRedis
from server.keys import realtime_key
from tests.conftest import ClientFactory
from tests.helpers import metric
from tests.room import Room, until


async def recent_chat(room: Room) -> list[int]:
    snapshot = (await (await room.viewer()).ok("join", {"show_id": room.show_id}))["snapshot"]
    return [m["id"] for m in snapshot["chat"]]


async def test_acked_chat_is_published_once_a_failing_flush_recovers(
    client: TestClient[Any, Any],
) -> None:
    room = await Room(client).setup(products=0)
    try:
        viewer = await room.joined()
        realtime = client.app[realtime_key]
        redis = realtime.store._redis
        # The room's recent chat is not a list for a while: every flush script of the show
        # fails in Redis (WRONGTYPE), after the message was acknowledged.
        chat_key = realtime.store._base(room.show_id) + "chat"
        await redis.set(chat_key, "not a list")
        first = (await viewer.ok("chat", {"text": "kept"}))["id"]
        await until(lambda: realtime.coalescer.flush_failures >= 3, what="failed flushes")
        assert viewer.events("chat") == []
        await redis.delete(chat_key)

        chats = await viewer.wait_event("chat")
        assert [c["message"]["id"] for c in chats] == [first]
        second = (await viewer.ok("chat", {"text": "after"}))["id"]
        chats = await viewer.wait_event("chat", 2)
        assert [c["message"]["id"] for c in chats] == [first, second]
        assert await recent_chat(room) == [first, second]
        assert await metric(client, "room_flush_failures_total") >= 3
        assert await metric(client, "room_chat_dropped_total") == 0
        seqs = viewer.seqs()
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    finally:
        await room.close()


async def test_acked_chat_survives_a_redis_restart(
    make_client: ClientFactory, valkey: EmbeddedRedis
) -> None:
    client = await make_client(redis_url=valkey.url)
    room = await Room(client).setup(products=0)
    try:
        host = await room.host()
        viewer = await room.joined()
        coalescer = client.app[realtime_key].coalescer
        await host.ok("chat", {"text": "hello"})  # this node has seen a frame of the room
        await viewer.wait_event("chat")
        # No tick may publish between the acknowledgement and Redis going away.
        async with coalescer._lock:
            first = (await viewer.ok("chat", {"text": "just before"}))["id"]
            await valkey.stop()
        await until(lambda: coalescer.flush_failures >= 2, what="failed flushes")
        published = coalescer.frames_published
        await valkey.start()
        await until(
            lambda: coalescer.frames_published > published and coalescer.frames_waiting == 0,
            within=10,
            what="the retry",
        )

        # The viewer's node may have missed that frame while it resubscribed: once it listens
        # again, the next frame brings it (gaps are filled from the show's log).
        redis = client.app[realtime_key].store._redis
        channel = client.app[realtime_key].store.channel
        for _ in range(250):
            if (await redis.pubsub_numsub(channel))[0][1] > 0:
                break
            await asyncio.sleep(0.02)
        for _ in range(100):
            answer = await host.call("chat", {"text": "back"})
            if answer["ok"]:
                break
            await asyncio.sleep(0.05)
        second = answer["id"]
        chats = await viewer.wait_event("chat", 3)
        assert [c["message"]["id"] for c in chats][1:] == [first, second]
        assert (await recent_chat(room))[1:] == [first, second]
        assert await metric(client, "room_flush_failures_total") >= 2
        assert await metric(client, "room_chat_dropped_total") == 0
    finally:
        await room.close()


async def test_chat_that_cannot_be_published_in_time_is_counted_dropped(
    make_client: ClientFactory,
) -> None:
    client = await make_client(room_flush_retry_seconds=0.5)
    room = await Room(client).setup(products=0)
    try:
        viewer = await room.joined()
        realtime = client.app[realtime_key]
        redis = realtime.store._redis
        chat_key = realtime.store._base(room.show_id) + "chat"
        await redis.set(chat_key, "not a list")
        await viewer.ok("chat", {"text": "lost"})
        await viewer.ok("chat", {"text": "lost too"})
        await until(lambda: realtime.coalescer.chat_dropped == 2, what="the drop")
        assert realtime.coalescer.frames_waiting == 0
        assert await metric(client, "room_chat_dropped_total") == 2
        await redis.delete(chat_key)
        # The room goes on.
        later = (await viewer.ok("chat", {"text": "later"}))["id"]
        chats = await viewer.wait_event("chat")
        assert [c["message"]["id"] for c in chats] == [later]
    finally:
        await room.close()
