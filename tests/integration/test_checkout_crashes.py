"""Crashes in the middle of checkout: the app process kills itself (SIGKILL) at a named point, or
is killed at random moments (fifty times) during a stream of checkouts; it starts again and the
buyers retry with their idempotency keys. One order, never two; no unit sold twice; and once the
reconciler has run, Redis and the database agree."""

from __future__ import annotations

import asyncio
import collections
import random
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import uuid4

import aiohttp
import pytest
from sqlalchemy import select

from cart.catalog.models import Variant
from cart.orders.models import DealQuota, Order, OrderLine, Payment
from server.db import create_engine
from tests import backends as b
from tests.backends import Backend
from tests.crashes import AppProcess
from tests.room import Room
from tests.shopping import checkout_body, db_figures, deal, set_stock, start_show

UNITS = 10


@pytest.fixture
def app(backend: Backend, database_url: str, tmp_path: Path) -> Iterator[AppProcess]:
    asyncio.run(b.truncate_url(database_url))
    prefix = f"crash{tmp_path.name[-8:]}:"
    env = {"DATABASE_URL": database_url, "REDIS_PREFIX": prefix}
    if backend.redis == "external":
        env["REDIS_URL"] = b.REDIS_URL
    proc = AppProcess(tmp_path, env)
    yield proc
    proc.stop()
    if backend.redis == "external":
        b.delete_prefix(b.REDIS_URL, prefix)


@pytest.fixture
async def http(app: AppProcess) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(base_url=app.url) as session:
        yield session


async def redis_units(room: Room, product_id: int) -> int:
    """Units left as the room tells a viewer who joins now."""
    viewer = await room.viewer("Check")
    try:
        joined = await viewer.ok("join", {"show_id": room.show_id})
    finally:
        await viewer.close()
        room.viewers.remove(viewer)
    pins = {p["product"]["id"]: p for p in joined["snapshot"]["pins"]}
    return int(pins[product_id]["deal"]["units_left"])


@pytest.mark.parametrize(
    "point",
    [
        "after_gate",
        "before_commit",
        "after_commit",
        "before_charge",
        "after_charge",
        "after_payment",
    ],
)
async def test_a_crash_at_each_point_then_a_retry_makes_one_order(
    app: AppProcess, http: aiohttp.ClientSession, database_url: str, point: str
) -> None:
    app.start(CHECKOUT_FAULT_POINTS=point)
    room = Room(http, app.url)
    await room.setup(products=1)
    await start_show(room)
    product = room.products[0]
    variant = product["variants"][0]["id"]
    host = await room.host()
    await host.ok("pin", {"product_id": product["id"], "deal": deal(UNITS, 3)})
    await host.close()
    token = await room.guest_token("Ana")
    headers = {"Authorization": f"Bearer {token}"}
    url = f"/api/shows/{room.show_id}/cart/items"
    resp = await http.post(url, json={"variant_id": variant, "quantity": 2}, headers=headers)
    cart = await resp.json()
    assert resp.status == 200, cart
    body = checkout_body(cart, key=f"crash-{point}")
    checkout_url = f"/api/shows/{room.show_id}/checkout"
    with pytest.raises(aiohttp.ClientError):
        await http.post(checkout_url, json=body, headers=headers)
    assert app.wait_dead() == -9
    # Back up, and the buyer's client retries with the same key.
    app.start()
    answers: list[dict[str, Any]] = []
    for _ in range(2):
        resp = await http.post(checkout_url, json=body, headers=headers)
        answers.append(await resp.json())
        assert resp.status == 201, answers[-1]
    assert answers[0]["id"] == answers[1]["id"] and answers[0]["status"] == "paid"
    assert answers[0]["total"] == 2 * 100
    # The database: one order, two units off the stock and off the deal.
    assert await db_figures(database_url, product["id"]) == (1, 10 - 2, UNITS - 2)

    # Redis: the reconciler brings the deal's counter in line (a claim the crash left behind,
    # or writes an embedded Redis lost with the process).
    async def agree() -> bool:
        return await redis_units(room, product["id"]) == UNITS - 2

    for _ in range(100):
        if await agree():
            break
        await asyncio.sleep(0.1)
    assert await agree()
    await room.close()


KILLS = 50
DEAL_UNITS = 400
DEAL_STOCK = 1_000
PLAIN_STOCK = 100_000
WORKERS = 6


class SoldOut(Exception):
    """The stock ran out before the buyer could add what they wanted."""


class Shopper:
    """A buyer's client as the player behaves: it adds to the cart, checks out with one
    idempotency key and, whatever happens to the server, retries until it has an answer."""

    def __init__(self, http: aiohttp.ClientSession, room: Room, stats: dict[str, int]) -> None:
        self.http = http
        self.room = room
        self.plain = int(room.products[1]["variants"][0]["id"])
        self.stats = stats
        self.rng = random.Random(1)

    async def call(
        self, method: str, url: str, token: str | None, body: Any = None
    ) -> tuple[int, Any]:
        headers = {} if token is None else {"Authorization": f"Bearer {token}"}
        for _ in range(2000):
            try:
                async with self.http.request(method, url, json=body, headers=headers) as resp:
                    answer = await resp.json()
                    if resp.status >= 500:
                        self.stats[f"status_{resp.status}"] += 1
                        if resp.status == 503:  # busy: the key's holder died; its lease runs out
                            await asyncio.sleep(0.1)
                            continue
                    return resp.status, answer
            except (aiohttp.ClientError, TimeoutError):
                self.stats["interrupted"] += 1
                await asyncio.sleep(0.05)
        raise AssertionError(f"{method} {url}: no answer in time")

    async def cart(self, token: str) -> dict[str, Any]:
        status, cart = await self.call("GET", f"/api/shows/{self.room.show_id}/cart", token)
        assert status == 200, cart
        return dict(cart)

    async def fill(self, token: str, want: dict[int, int]) -> dict[str, Any]:
        """The cart holds `want` (variant -> quantity), added once each however often the
        server dies (an add whose answer was lost may have happened)."""
        cart = await self.cart(token)
        for variant, quantity in want.items():
            have = {line["variant_id"]: line["quantity"] for line in cart["lines"]}
            if have.get(variant) == quantity:
                continue
            status, cart = await self.call(
                "POST",
                f"/api/shows/{self.room.show_id}/cart/items",
                token,
                {"variant_id": variant, "quantity": quantity - have.get(variant, 0)},
            )
            if status == 409 and cart["error"]["code"] == "out_of_stock":
                raise SoldOut(variant)
            assert status == 200, cart
        return cart

    async def buy(self, token: str, key: str, want: dict[int, int]) -> str:
        """The order id, or the code of the refusal that ended it."""
        while True:
            try:
                return await self._buy(token, key, want)
            except SoldOut as gone:
                # What is left of the stock is less than they want: they buy the other thing.
                self.stats["out_of_stock_on_add"] += 1
                want = {v: q for v, q in want.items() if v != gone.args[0]} or {self.plain: 1}

    async def _buy(self, token: str, key: str, want: dict[int, int]) -> str:
        cart = await self.fill(token, want)
        url = f"/api/shows/{self.room.show_id}/checkout"
        for _ in range(50):
            status, answer = await self.call("POST", url, token, checkout_body(cart, key=key))
            if status == 201:
                if self.rng.random() < 0.2:  # a client that sends it again anyway
                    again = await self.call("POST", url, token, checkout_body(cart, key=key))
                    assert again == (201, answer), again
                return str(answer["id"])
            code = answer["error"]["code"]
            if code in ("sold_out", "out_of_stock"):
                return str(code)
            if code == "idempotency_conflict":
                # The key made an order from a cart Redis has since forgotten: it is in the list.
                status, mine = await self.call("GET", "/api/orders", token)
                assert len(mine["orders"]) == 1, mine
                return str(mine["orders"][0]["id"])
            # The cart or its prices moved (Redis lost a write, a deal ran out): check it again.
            assert code in ("cart_changed", "cart_empty", "price_changed"), answer
            self.stats[code] += 1
            cart = (
                await self.fill(token, want)
                if code != "price_changed"
                else answer["error"]["details"]["cart"]
            )
        raise AssertionError(f"no end to checking out: {answer}")


async def test_fifty_random_kills_during_a_stream_of_checkouts(
    app: AppProcess, http: aiohttp.ClientSession, database_url: str
) -> None:
    app.start()
    room = Room(http, app.url)
    await room.setup(products=2)
    await start_show(room)
    hot, plain = room.products
    await set_stock(room, hot, DEAL_STOCK)
    await set_stock(room, plain, PLAIN_STOCK)
    host = await room.host()
    await host.ok("pin", {"product_id": hot["id"], "deal": deal(DEAL_UNITS, 3, seconds=1800)})
    await host.close()
    room.viewers.clear()
    hot_variant, plain_variant = hot["variants"][0]["id"], plain["variants"][0]["id"]

    stats: collections.Counter[str] = collections.Counter()
    shopper = Shopper(http, room, stats)
    outcomes: dict[str, str] = {}  # buyer token -> order id or refusal code
    rng = random.Random(KILLS)
    stopping = asyncio.Event()
    stock_gone = asyncio.Event()
    in_flight = 0

    async def worker() -> None:
        nonlocal in_flight
        while not stopping.is_set():
            status, guest = await shopper.call(
                "POST", "/api/viewers", None, {"display_name": "Buyer"}
            )
            assert status == 201, guest
            want = {hot_variant: rng.randint(1, 3)}
            if rng.random() < 0.5:
                want[plain_variant] = 1
            in_flight += 1
            try:
                outcome = await shopper.buy(guest["token"], uuid4().hex, want)
                outcomes[guest["token"]] = outcome
                if outcome == "out_of_stock":
                    stock_gone.set()
            finally:
                in_flight -= 1

    workers = [asyncio.create_task(worker()) for _ in range(WORKERS)]
    busy_kills = 0
    try:
        for _ in range(KILLS):
            await asyncio.sleep(rng.uniform(0.05, 0.8))
            busy_kills += in_flight > 0
            await asyncio.to_thread(app.kill)
            await asyncio.to_thread(app.start)
        # A slow machine may not have sold everything yet: the stream goes on, unkilled, until
        # the stock is gone, so the kills and the selling out are both covered.
        await asyncio.wait_for(stock_gone.wait(), 120)
        stopping.set()
        await asyncio.wait_for(asyncio.gather(*workers), 120)
    finally:
        for task in workers:
            task.cancel()

    orders = {v for v in outcomes.values() if v.isdigit()}
    refusals = collections.Counter(v for v in outcomes.values() if not v.isdigit())
    print(
        f"\n{KILLS} kills ({busy_kills} mid-purchase), {len(outcomes)} buyers, "
        f"{len(orders)} orders, refusals {dict(refusals)}, {dict(stats)}"
    )
    assert busy_kills >= KILLS // 2 and stats["interrupted"] >= KILLS // 2
    # Server errors: only `503 busy` (a retry while the key's dead holder's lease runs out).
    assert {k for k in stats if k.startswith("status_")} <= {"status_503"}

    # The database: exactly the orders buyers were told of, one per buyer, each paid once.
    book = await ledger(database_url)
    assert {str(o) for o in book.orders} == orders
    assert set(book.orders.values()) == {"paid"}
    assert len(set(book.buyers.values())) == len(book.orders)
    assert all(book.approved_charges[o] == 1 for o in book.orders)
    # No unit sold twice: stock and the deal's units are what the paid lines left.
    sold = collections.Counter[int]()
    deal_sold = 0
    for variant, quantity, deal_quantity in book.lines:
        sold[variant] += quantity
        deal_sold += deal_quantity
    assert book.stock[hot_variant] == DEAL_STOCK - sold[hot_variant] >= 0
    assert book.stock[plain_variant] == PLAIN_STOCK - sold[plain_variant]
    assert book.deal_left == DEAL_UNITS - deal_sold >= 0
    # The stream outlasted the deal and the stock: the kills hit both selling out.
    assert deal_sold == DEAL_UNITS and sold[hot_variant] > DEAL_STOCK - 3

    # And once the reconciler has run, Redis says what the database says.
    for _ in range(100):
        if await redis_units(room, hot["id"]) == book.deal_left:
            break
        await asyncio.sleep(0.1)
    assert await redis_units(room, hot["id"]) == book.deal_left
    await room.close()


@dataclass
class Ledger:
    orders: dict[int, str]  # id -> status
    buyers: dict[int, str]  # id -> buyer
    lines: list[tuple[int, int, int]]  # variant, quantity, deal quantity (of every order)
    approved_charges: collections.Counter[int]
    stock: dict[int, int]
    deal_left: int


async def ledger(database_url: str) -> Ledger:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            rows = (await conn.execute(select(Order.id, Order.status, Order.buyer))).all()
            lines = await conn.execute(
                select(OrderLine.variant_id, OrderLine.quantity, OrderLine.deal_quantity)
            )
            charges = await conn.execute(
                select(Payment.order_id).where(
                    Payment.kind == "charge", Payment.status == "approved"
                )
            )
            stock = await conn.execute(select(Variant.id, Variant.stock))
            return Ledger(
                orders={r.id: r.status for r in rows},
                buyers={r.id: r.buyer for r in rows},
                lines=[(int(v), int(q), int(d)) for v, q, d in lines],
                approved_charges=collections.Counter(int(o) for (o,) in charges),
                stock={int(v): int(n) for v, n in stock},
                deal_left=int(await conn.scalar(select(DealQuota.units_left)) or 0),
            )
    finally:
        await engine.dispose()
