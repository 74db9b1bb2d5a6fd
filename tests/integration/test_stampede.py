"""Flash-sale stampedes through the real app: 500 buyers released at once race for 50 units.
Exactly the units on offer are sold, every other buyer gets a clean `sold_out`, nothing answers
5xx, and the database and Redis agree on what is left."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select

from cart.orders.models import Order
from server.keys import sessions_key
from tests.backends import Backend
from tests.conftest import ClientFactory
from tests.helpers import bearer
from tests.room import Room
from tests.shopping import checkout, checkout_body, deal, set_stock, start_show, stock, units_left

BUYERS = 500
UNITS = 50
OFFER_CACHE_MS = 200


@pytest.fixture
async def client(make_client: ClientFactory) -> TestClient[Any, Any]:
    return await make_client(guests_per_ip_per_hour=100_000, offer_cache_ms=OFFER_CACHE_MS)


async def put_in_cart(
    room: Room, token: str, variant: int, quantity: int, in_cart: bool
) -> dict[str, Any]:
    """Exactly `quantity` of the variant in the buyer's cart (a loser of the last run still has
    it there; a winner's order emptied it)."""
    base = f"/api/shows/{room.show_id}/cart/items"
    if in_cart:
        resp = await room.client.patch(
            f"{base}/{variant}", json={"quantity": quantity}, headers=bearer(token)
        )
    else:
        resp = await room.client.post(
            base, json={"variant_id": variant, "quantity": quantity}, headers=bearer(token)
        )
    assert resp.status == 200, await resp.text()
    return dict(await resp.json())


async def stampede(
    room: Room, tokens: list[str], quantities: list[int], in_cart: set[str]
) -> tuple[Counter[str], int]:
    """One flash deal of UNITS units on UNITS units of stock; everyone checks out at once.
    Returns the answers by code and the units sold; leaves in `in_cart` the buyers whose cart
    still holds the item."""
    host = room.viewers[0]
    product = room.products[0]
    variant = product["variants"][0]["id"]
    await set_stock(room, product, UNITS)
    await asyncio.sleep(OFFER_CACHE_MS / 1000)  # the restock shows once the offer cache ages
    await host.ok("pin", {"product_id": product["id"], "deal": deal(UNITS, 3)})
    carts = await asyncio.gather(
        *(
            put_in_cart(room, t, variant, q, t in in_cart)
            for t, q in zip(tokens, quantities, strict=True)
        )
    )
    assert all(c["lines"][0]["deal_quantity"] == c["lines"][0]["quantity"] for c in carts)
    answers = await asyncio.gather(
        *(checkout(room, t, checkout_body(c)) for t, c in zip(tokens, carts, strict=True))
    )
    codes: Counter[str] = Counter()
    sold = 0
    in_cart.clear()
    for resp, quantity, token in zip(answers, quantities, tokens, strict=True):
        assert resp.status < 500, await resp.text()
        body = await resp.json()
        if resp.status == 201:
            assert body["status"] == "paid"
            codes["paid"] += 1
            sold += quantity
        else:
            codes[body["error"]["code"]] += 1
            in_cart.add(token)
    return codes, sold


async def paid_in_db(room: Room) -> tuple[int, int]:
    """Paid orders of the show and their units, straight from the database."""
    async with room.client.app[sessions_key]() as session:
        row = (
            await session.execute(
                select(func.count(), func.coalesce(func.sum(Order.items), 0)).where(
                    Order.show_id == room.show_id, Order.status == "paid"
                )
            )
        ).one()
        return int(row[0]), int(row[1])


async def buyers(room: Room) -> list[str]:
    return list(await asyncio.gather(*(room.guest_token(f"b{i}") for i in range(BUYERS))))


async def test_500_buyers_race_for_50_units_twenty_times(
    client: TestClient[Any, Any], backend: Backend
) -> None:
    # Twenty runs in a row on PostgreSQL, the production database; five on SQLite, where the
    # single writer runs the same race with less concurrency inside the database.
    runs = 20 if backend.database == "postgresql" else 5
    room = await Room(client).setup(products=1)
    await start_show(room)
    await room.host()
    tokens = await buyers(room)
    product = room.products[0]
    in_cart: set[str] = set()
    for run in range(runs):
        codes, sold = await stampede(room, tokens, [1] * BUYERS, in_cart)
        assert codes == {"paid": UNITS, "sold_out": BUYERS - UNITS}, (run, codes)
        assert sold == UNITS
        assert await stock(room, product) == 0
        assert await units_left(room, product["id"]) == 0
        assert await paid_in_db(room) == (UNITS * (run + 1), UNITS * (run + 1))
    await room.close()


async def test_with_one_to_three_units_each_it_never_oversells(
    client: TestClient[Any, Any],
) -> None:
    room = await Room(client).setup(products=1)
    await start_show(room)
    await room.host()
    tokens = await buyers(room)
    product = room.products[0]
    total = 0
    in_cart: set[str] = set()
    for run in range(3):
        quantities = [1 + (i + run) % 3 for i in range(BUYERS)]
        codes, sold = await stampede(room, tokens, quantities, in_cart)
        assert set(codes) <= {"paid", "sold_out"}, codes
        # Never more than the units; at most 2 left over (no waiting buyer wanted so few).
        assert UNITS - 2 <= sold <= UNITS, (run, sold, codes)
        left = await stock(room, product)
        assert left == UNITS - sold
        assert await units_left(room, product["id"]) == left
        total += sold
        assert (await paid_in_db(room))[1] == total
    await room.close()
