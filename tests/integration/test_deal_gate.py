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


async def test_a_stampede_takes_exactly_the_units_on_offer(room: Room) -> None:
    host = await room.host()
    watcher = await room.joined("Watcher")
    pid = room.products[0]["id"]
    await host.ok("pin", {"product_id": pid, "deal": deal(units=50, per_buyer=3)})
    store = room.client.app[realtime_key].store
    for _ in range(3):  # several stampedes on fresh deals
        await host.ok("pin", {"product_id": pid, "deal": deal(units=50, per_buyer=3)})
        buyers = [f"g:{i:032x}" for i in range(500)]
        quantities = [1 + i % 3 for i in range(500)]
        outcomes = await asyncio.gather(
            *(
                store.take_deal_units(room.show_id, pid, b, q)
                for b, q in zip(buyers, quantities, strict=True)
            )
        )
        taken = sum(q for o, q in zip(outcomes, quantities, strict=True) if o.ok)
        assert taken == 50
        assert {o.status for o in outcomes} <= {"ok", "sold_out"}
        left = [int(o.values[0]) for o in outcomes if o.ok]
        assert min(left) == 0
    sold_out = await watcher.wait_event("sold_out", 3)
    assert all(e["product_id"] == pid for e in sold_out)


async def test_per_buyer_limits_and_returns(room: Room) -> None:
    host = await room.host()
    pid = room.products[1]["id"]
    await host.ok("pin", {"product_id": pid, "deal": deal(units=10, per_buyer=2)})
    store = room.client.app[realtime_key].store
    ana = "g:" + "a" * 32
    assert (await store.take_deal_units(room.show_id, pid, ana, 2)).values[0] == 8
    limited = await store.take_deal_units(room.show_id, pid, ana, 1)
    assert limited.status == "limit"
    # A failed payment gives the units back, and the buyer's allowance with them.
    assert (await store.return_deal_units(room.show_id, pid, ana, 2)).values[0] == 10
    assert (await store.take_deal_units(room.show_id, pid, ana, 1)).ok
    # Nothing to give back beyond what was taken.
    assert (await store.return_deal_units(room.show_id, pid, ana, 5)).status == "none"


async def test_no_deal_expired_deal_and_ended_show(room: Room) -> None:
    host = await room.host()
    store = room.client.app[realtime_key].store
    pid = room.products[0]["id"]
    buyer = "g:" + "b" * 32
    assert (await store.take_deal_units(room.show_id, pid, buyer, 1)).status == "no_deal"
    await host.ok("pin", {"product_id": pid})
    assert (await store.take_deal_units(room.show_id, pid, buyer, 1)).status == "no_deal"
    await host.ok("pin", {"product_id": pid, "deal": deal(units=5, per_buyer=5, seconds=1)})
    await asyncio.sleep(1.1)
    assert (await store.take_deal_units(room.show_id, pid, buyer, 1)).status == "expired"
    await host.ok("pin", {"product_id": pid, "deal": deal(units=5, per_buyer=5)})
    await host.ok("show.start")
    await host.ok("show.end")
    assert (await store.take_deal_units(room.show_id, pid, buyer, 1)).status == "ended"
