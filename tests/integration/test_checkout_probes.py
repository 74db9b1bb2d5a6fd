"""Checkout where probes found it wrong, through the real app on both backends: a flash deal
never raises a variant's price, a sold-out answer carries the cart a retry can pay, and a
checkout the database turned away (busy) can be retried at once."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import make_url

from tests.backends import Backend
from tests.conftest import ClientFactory
from tests.helpers import bearer, error_of
from tests.room import Room
from tests.shopping import add, checkout, checkout_body, db_figures, deal, start_show, units_left

LEASE_SECONDS = 10


@pytest.fixture
async def client(make_client: ClientFactory) -> TestClient[Any, Any]:
    return await make_client(guests_per_ip_per_hour=100_000, checkout_lease_seconds=LEASE_SECONDS)


@pytest.fixture
async def room(client: TestClient[Any, Any]) -> AsyncIterator[Room]:
    r = await Room(client).setup(products=2)
    await start_show(r)
    yield r
    await r.close()


def variant_of(product: dict[str, Any]) -> int:
    return int(product["variants"][0]["id"])


async def test_a_flash_deal_never_raises_a_variants_price(room: Room, database_url: str) -> None:
    product = room.products[0]
    assert product["price"] == 2500
    url = f"/api/shops/{room.shop_id}/products/{product['id']}/variants"
    resp = await room.client.post(
        url,
        json={"sku": "SMALL-1", "options": {"size": "S"}, "price": 1000, "stock": 10},
        headers=bearer(room.owner),
    )
    assert resp.status == 201, await resp.text()
    small = (await resp.json())["id"]
    host = await room.host()
    # Below the product's price but not below size S's: refused, naming the variant.
    error = await host.refused(
        "pin", {"product_id": product["id"], "deal": deal(5, 2, price=1000)}, "validation_error"
    )
    assert error["field"] == "deal.price" and "SMALL-1" in error["message"]
    assert error["details"] == {"variant_id": small, "price": 1000}
    await host.ok("pin", {"product_id": product["id"], "deal": deal(5, 2, price=900)})
    # The shop lowers size S below the deal meanwhile: S keeps its own price and takes none of
    # the deal's units; size M is at the deal price.
    resp = await room.client.patch(
        f"{url}/{small}", json={"price": 500}, headers=bearer(room.owner)
    )
    assert resp.status == 200, await resp.text()
    token = await room.guest_token()
    await add(room, token, variant_of(product))
    await add(room, token, small, 2)
    deadline = time.monotonic() + 5  # the show's prices are cached up to a second
    while True:
        resp = await room.client.get(f"/api/shows/{room.show_id}/cart", headers=bearer(token))
        cart = await resp.json()
        lines = {line["variant_id"]: line for line in cart["lines"]}
        if lines[small]["unit_price"] == 500 or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.05)
    assert (lines[small]["unit_price"], lines[small]["deal_quantity"]) == (500, 0)
    assert lines[small]["deal_price"] is None and lines[small]["total"] == 1000
    assert (lines[variant_of(product)]["deal_quantity"], lines[variant_of(product)]["total"]) == (
        1,
        900,
    )
    resp = await checkout(room, token, checkout_body(cart))
    assert resp.status == 201, await resp.text()
    order = await resp.json()
    assert order["total"] == 1900
    # One deal unit taken, in Redis and in the database's quota.
    assert await units_left(room, product["id"]) == 4
    assert (await db_figures(database_url, product["id"]))[2] == 4


async def test_a_sold_out_answer_carries_the_cart_a_retry_can_pay(room: Room) -> None:
    product = room.products[0]
    host = await room.host()
    await host.ok("pin", {"product_id": product["id"], "deal": deal(1, 1)})
    buyers = [await room.guest_token(f"B{i}") for i in range(8)]
    carts = [await add(room, t, variant_of(product)) for t in buyers]
    assert all(c["lines"][0]["deal_quantity"] == 1 for c in carts)
    # All at once: most are priced with the last unit still there, and lose it at the gate.
    bodies = [checkout_body(c) for c in carts]
    answers = await asyncio.gather(
        *(checkout(room, t, body) for t, body in zip(buyers, bodies, strict=True))
    )
    assert sorted(r.status for r in answers) == [201] + [409] * 7
    for token, resp in zip(buyers, answers, strict=True):
        if resp.status == 201:
            continue
        error = (await resp.json())["error"]
        assert error["code"] == "sold_out"
        # The cart as it is now, at the catalog price: the documented retry pays it.
        cart = error["details"]["cart"]
        assert cart["lines"][0]["deal_quantity"] == 0, cart
        assert cart["total"] == product["price"]
        again = await checkout(room, token, checkout_body(cart))
        assert again.status == 201, await again.text()
        assert (await again.json())["total"] == product["price"]


@contextlib.asynccontextmanager
async def sqlite_writer(database_url: str) -> AsyncIterator[None]:
    """Another connection holds SQLite's write lock: a checkout's write waits out the busy
    timeout, then fails with "database is locked"."""
    path = make_url(database_url).database
    assert path
    conn = sqlite3.connect(path, isolation_level=None, timeout=0)
    try:
        conn.execute("BEGIN IMMEDIATE")
        yield
    finally:
        conn.close()  # rolls back


async def pg_deadlock(database_url: str, room: Room, send: Callable[[], Awaitable[Any]]) -> Any:
    """The checkout locks the cart's first variant row, then waits for the second, which this
    connection holds; this connection then asks for the first: PostgreSQL ends the deadlock by
    failing the checkout's transaction (the one that waited first checks first)."""
    first, second = (variant_of(p) for p in room.products)
    url = make_url(database_url).set(drivername="postgresql")
    conn = await asyncpg.connect(url.render_as_string(hide_password=False))
    try:
        # This side never runs the check first (superuser setting; the test server's user).
        await conn.execute("SET deadlock_timeout = '10s'")
        tx = conn.transaction()
        await tx.start()
        await conn.execute("SELECT 1 FROM variants WHERE id = $1 FOR UPDATE", second)
        task = asyncio.ensure_future(send())
        deadline = time.monotonic() + 5
        waiting = "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"  # noqa: E501
        while not await conn.fetchval(waiting):
            assert time.monotonic() < deadline, "the checkout never waited for the row"
            await asyncio.sleep(0.02)
        await conn.execute("SELECT 1 FROM variants WHERE id = $1 FOR UPDATE", first)
        resp = await task
        await tx.rollback()
        return resp
    finally:
        await conn.close()


async def test_a_busy_database_frees_the_key_so_the_retry_runs_at_once(
    room: Room, backend: Backend, database_url: str
) -> None:
    token = await room.guest_token()
    await add(room, token, variant_of(room.products[0]))
    cart = await add(room, token, variant_of(room.products[1]))
    body = checkout_body(cart)
    if backend.database == "sqlite":
        async with sqlite_writer(database_url):
            resp = await checkout(room, token, body)
    else:
        resp = await pg_deadlock(database_url, room, lambda: checkout(room, token, body))
    error = await error_of(resp, 503)
    assert error["code"] == "busy"
    # The retry the answer asks for runs now, not when the first attempt's lease runs out.
    started = time.monotonic()
    resp = await checkout(room, token, body)
    took = time.monotonic() - started
    assert resp.status == 201, await resp.text()
    assert took < LEASE_SECONDS / 4, f"the retry waited {took:.1f} s"
    again = await checkout(room, token, body)
    assert (await again.json())["id"] == (await resp.json())["id"]


async def test_a_busy_database_answers_busy_over_the_socket_too(
    room: Room, backend: Backend, database_url: str
) -> None:
    token = await room.guest_token()
    await add(room, token, variant_of(room.products[0]))
    body = checkout_body(await add(room, token, variant_of(room.products[1])))
    buyer = await room.joined("Bea", token)

    async def send() -> Any:
        # Longer than SQLite's 5 s busy timeout.
        return await buyer.sio.call("checkout", body, timeout=20)

    if backend.database == "sqlite":
        async with sqlite_writer(database_url):
            answer = await send()
    else:
        answer = await pg_deadlock(database_url, room, send)
    assert answer["ok"] is False and answer["error"]["code"] == "busy", answer
    assert answer["error"]["retry_after"] == 1
    assert (await buyer.ok("checkout", body))["order"]["status"] == "paid"
