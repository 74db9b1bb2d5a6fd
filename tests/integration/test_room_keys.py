"""A room's keys in Redis: every one expires after its show ended (also those written later),
none is left after its show is deleted, and neither walks the keyspace (no SCAN)."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from server.embedded_redis import EmbeddedRedis
from server.keys import realtime_key
from tests.conftest import ClientFactory
from tests.helpers import bearer
from tests.room import Room, Viewer
from tests.shopping import add, checkout, checkout_body, deal, set_stock, start_show

DAY_MS = 86400 * 1000


def redis_of(room: Room) -> Redis:
    redis: Redis = room.client.app[realtime_key].store._redis
    return redis


def base_of(room: Room) -> str:
    return str(room.client.app[realtime_key].store._base(room.show_id))


async def room_keys(room: Room) -> dict[str, int]:
    """Every key under the show's prefix (read with SCAN here, in the test) and its PTTL."""
    redis, base = redis_of(room), base_of(room)
    found = {}
    async for key in redis.scan_iter(match=base + "*", count=1000):
        ttl = await redis.pttl(key)
        if ttl != -2:  # gone meanwhile
            found[str(key)[len(base) :]] = ttl
    return found


async def subject_of(viewer: Viewer, room: Room) -> str:
    answer = await viewer.ok("join", {"show_id": room.show_id})
    return str(answer["snapshot"]["you"]["subject"])


async def scans(redis: Redis) -> int:
    stats = await redis.info("commandstats")
    return int(stats.get("cmdstat_scan", {}).get("calls", 0))


async def busy_show(room: Room) -> dict[str, str]:
    """A live show with every kind of room key written; the subjects of its viewers."""
    product = room.products[0]
    await set_stock(room, product, 20)
    await start_show(room)
    host = await room.host()
    ana, bob, cy = [await room.viewer(n) for n in ("Ana", "Bob", "Cy")]
    subjects = {v.name: await subject_of(v, room) for v in (ana, bob, cy)}
    await host.ok("pin", {"product_id": product["id"], "deal": deal(5, 2)})
    cart = await add(room, ana.token, product["variants"][0]["id"], 1)
    resp = await checkout(room, ana.token, checkout_body(cart))
    assert resp.status == 201, await resp.text()
    qid = (await ana.ok("ask", {"text": "Does it come in blue?"}))["id"]
    await bob.ok("vote", {"question_id": qid})
    await ana.ok("react", {"count": 3})
    await host.ok("slow_mode", {"seconds": 30})
    await ana.ok("chat", {"text": "hello"})
    await host.ok("blocked_words", {"words": ["spam"]})
    await host.ok("user.timeout", {"subject": subjects["Bob"], "minutes": 5})
    await host.ok("user.ban", {"subject": subjects["Cy"]})
    await host.wait_event("chat")
    return subjects


async def test_every_key_of_an_ended_show_expires_even_when_written_after_the_end(
    client: TestClient[Any, Any],
) -> None:
    room = await Room(client).setup(products=1)
    try:
        subjects = await busy_show(room)
        host = room.viewers[0]
        await host.ok("show.end")
        keys = await room_keys(room)
        pid = room.products[0]["id"]
        expected = {"state", "log", "sids", "qv", "uniq", f"bought:{pid}", "dealgen", "flushed"}
        assert expected <= set(keys), sorted(keys)
        assert not [k for k in keys if k.startswith(("sids:", "qv:"))], sorted(keys)
        assert all(0 < ttl <= DAY_MS for ttl in keys.values()), keys

        # Written after the end: a late viewer, moderation, the blocked words set again.
        late = await room.joined("Late")
        await host.ok("blocked_words", {"words": ["other"]})
        await host.ok("user.timeout", {"subject": subjects["Ana"], "minutes": 5})
        await host.ok("user.ban", {"subject": subjects["Bob"]})
        await host.ok("chat.delete", {"message_id": 1})
        await late.close()
        keys = await room_keys(room)
        assert expected <= set(keys), sorted(keys)
        assert all(0 < ttl <= DAY_MS for ttl in keys.values()), keys
    finally:
        await room.close()


async def test_ending_and_deleting_shows_touch_only_their_own_keys(
    make_client: ClientFactory, valkey: EmbeddedRedis
) -> None:
    client = await make_client(redis_url=valkey.url)
    ended = await Room(client).setup(products=1)
    deleted = await Room(client).setup(products=1)
    try:
        await busy_show(ended)
        # A scheduled show with a little of everything a viewer can write, then deleted.
        viewer = await deleted.joined("Dee")
        other = await deleted.joined("Eve")
        qid = (await viewer.ok("ask", {"text": "When do we start?"}))["id"]
        await other.ok("vote", {"question_id": qid})
        await viewer.ok("chat", {"text": "early"})
        await viewer.wait_event("chat")
        redis = redis_of(ended)
        for start in range(0, 20_000, 1000):  # a keyspace of other shows' carts and records
            await redis.mset({f"unrelated:{i}": "x" for i in range(start, start + 1000)})

        before = await scans(redis)
        await ended.viewers[0].ok("show.end")
        for _ in range(50):  # SQLite may be busy with the ended show's archive for a moment
            resp = await client.delete(
                f"/api/shops/{deleted.shop_id}/shows/{deleted.show_id}",
                headers=bearer(deleted.owner),
            )
            if resp.status != 503:
                break
            await asyncio.sleep(0.1)
        assert resp.status == 204
        assert await scans(redis) == before

        # Its viewers, still connected, chat and report presence: nothing brings the room back.
        await viewer.refused("chat", {"text": "still here?"}, "show_closed")
        await viewer.refused("react", {"count": 1}, "show_closed")
        await client.app[realtime_key].presence.report()
        # Only rate-limit counters are left of the deleted show, each within its window.
        left = await room_keys(deleted)
        assert all(k.startswith(("rl:", "slow:")) for k in left), sorted(left)
        assert all(0 < ttl <= 60_000 for ttl in left.values()), left
        assert all(0 < ttl <= DAY_MS for ttl in (await room_keys(ended)).values())
    finally:
        await ended.close()
        await deleted.close()
