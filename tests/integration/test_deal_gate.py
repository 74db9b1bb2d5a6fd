"""The flash-deal gate in Redis (the live room's store, through the real app): a stampede never
takes more units than the deal has, per-buyer limits hold, sold-out is announced once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from server.keys import realtime_key
from tests.room import Room


@pytest.fixture
async def room(client: TestClient[Any, Any]) -> AsyncIterator[Room]:
    r = await Room(client).setup(products=2)
    yield r
    await r.close()


def deal(units: int, per_buyer: int, seconds: int = 60) -> dict[str, int]:
    return {
        "price": 100,
        "units": units,
        "per_buyer": per_buyer,
        "ends_at_ms": int(time.time() * 1000) + seconds * 1000,
    }


async def deal_id(room: Room, pid: int) -> int:
    shopping = await room.client.app[realtime_key].store.shopping(room.show_id, "g:" + "0" * 32)
    return int(shopping.deals[pid]["id"])


async def test_a_stampede_takes_exactly_the_units_on_offer(room: Room) -> None:
    host = await room.host()
    watcher = await room.joined("Watcher")
    pid = room.products[0]["id"]
    store = room.client.app[realtime_key].store
    for run in range(3):  # several stampedes on fresh deals
        await host.ok("pin", {"product_id": pid, "deal": deal(units=50, per_buyer=3)})
        did = await deal_id(room, pid)
        buyers = [f"g:{i:032x}" for i in range(500)]
        quantities = [1 + i % 3 for i in range(500)]
        outcomes = await asyncio.gather(
            *(
                store.take_deals(room.show_id, f"{b}|k{run}", b, [(pid, did, q)])
                for b, q in zip(buyers, quantities, strict=True)
            )
        )
        taken = sum(q for o, q in zip(outcomes, quantities, strict=True) if o.ok)
        assert taken == 50
        assert {o.status for o in outcomes} <= {"ok", "sold_out"}
        _, claims = await store.claims(room.show_id)
        assert len(claims) == sum(o.ok for o in outcomes)
        for claim in claims:
            await store.settle_claim(room.show_id, claim)
    sold_out = await watcher.wait_event("sold_out", 3)
    assert all(e["product_id"] == pid for e in sold_out)


async def test_claims_are_all_or_nothing_once_and_released_once(room: Room) -> None:
    host = await room.host()
    a, b = room.products[0]["id"], room.products[1]["id"]
    await host.ok("pin", {"product_id": a, "deal": deal(units=10, per_buyer=2)})
    await host.ok("pin", {"product_id": b, "deal": deal(units=1, per_buyer=1)})
    da, db = await deal_id(room, a), await deal_id(room, b)
    store = room.client.app[realtime_key].store
    ana, bob = "g:" + "a" * 32, "g:" + "b" * 32
    # Bob takes b's only unit; Ana's claim on a and b then takes nothing at all.
    assert (await store.take_deals(room.show_id, "bob|1", bob, [(b, db, 1)])).ok
    refused = await store.take_deals(room.show_id, "ana|1", ana, [(a, da, 2), (b, db, 1)])
    assert (refused.status, int(refused.values[0])) == ("sold_out", b)
    assert (await store.shopping(room.show_id, ana)).deals[a]["units_left"] == 10
    # Per-buyer limit; taking the same claim twice takes once.
    assert (await store.take_deals(room.show_id, "ana|2", ana, [(a, da, 2)])).ok
    assert (await store.take_deals(room.show_id, "ana|2", ana, [(a, da, 2)])).status == "held"
    limited = await store.take_deals(room.show_id, "ana|3", ana, [(a, da, 1)])
    assert limited.status == "limit"
    # A failed checkout gives the units back, and the buyer's allowance with them, once.
    assert await store.release_claim(room.show_id, "ana|2")
    assert not await store.release_claim(room.show_id, "ana|2")
    shopping = await store.shopping(room.show_id, ana)
    assert (shopping.deals[a]["units_left"], shopping.deals[a]["bought"]) == (10, 0)
    # A wrong deal id (a deal replaced since the cart was priced) is no deal.
    assert (await store.take_deals(room.show_id, "ana|4", ana, [(a, da + 99, 1)])).status == (
        "no_deal"
    )


async def test_recount_applies_only_if_nothing_moved_meanwhile(room: Room) -> None:
    host = await room.host()
    pid = room.products[0]["id"]
    await host.ok("pin", {"product_id": pid, "deal": deal(units=20, per_buyer=5)})
    did = await deal_id(room, pid)
    store = room.client.app[realtime_key].store
    ana, bob = "g:" + "a" * 32, "g:" + "b" * 32
    assert (await store.take_deals(room.show_id, "ana|1", ana, [(pid, did, 3)])).ok
    generation, claims = await store.claims(room.show_id)
    assert set(claims) == {"ana|1"} and claims["ana|1"]["l"] == [[pid, did, 3]]
    # What the reconciler computed: the database's 12 less Ana's pending 3; Bob holds 5.
    outcome = await store.recount(room.show_id, pid, did, generation, 9, {bob: 5, ana: 3})
    assert outcome.ok and [int(v) for v in outcome.values] == [9, 17]
    shopping = await store.shopping(room.show_id, bob)
    assert (shopping.deals[pid]["units_left"], shopping.deals[pid]["bought"]) == (9, 5)
    # Anything moving in between (a take, a release, a settle) makes it wait for a quiet pass.
    await store.settle_claim(room.show_id, "ana|1")
    assert (await store.recount(room.show_id, pid, did, generation, 1, {})).status == "busy"
    assert (await store.shopping(room.show_id, bob)).deals[pid]["units_left"] == 9
    generation, _ = await store.claims(room.show_id)
    assert (await store.recount(room.show_id, pid, did + 1, generation, 1, {})).status == (
        "no_deal"
    )


async def test_no_deal_expired_deal_and_ended_show(room: Room) -> None:
    host = await room.host()
    store = room.client.app[realtime_key].store
    pid = room.products[0]["id"]
    buyer = "g:" + "b" * 32

    async def take(n: int, did: int = 1) -> str:
        return str((await store.take_deals(room.show_id, f"c{n}", buyer, [(pid, did, 1)])).status)

    assert await take(1) == "no_deal"
    await host.ok("pin", {"product_id": pid})
    assert await take(2) == "no_deal"
    await host.ok("pin", {"product_id": pid, "deal": deal(units=5, per_buyer=5, seconds=1)})
    did = await deal_id(room, pid)
    await asyncio.sleep(1.1)
    assert await take(3, did) == "expired"
    await host.ok("pin", {"product_id": pid, "deal": deal(units=5, per_buyer=5)})
    did = await deal_id(room, pid)
    await host.ok("show.start")
    await host.ok("show.end")
    assert await take(4, did) == "ended"
