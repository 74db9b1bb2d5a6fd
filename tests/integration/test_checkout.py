"""Checkout in the stream through the real app: REST and Socket.IO, real Redis, real database."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import update

from cart.orders.models import Order
from core.db import utcnow
from server.keys import reconciler_key, sessions_key
from tests.conftest import ClientFactory
from tests.helpers import add_member, bearer, error_of, sign_up
from tests.room import Room, until
from tests.shopping import (
    ADDRESS,
    CARD,
    DECLINED,
    PROCESSOR_ERROR,
    add,
    checkout,
    checkout_body,
    deal,
    set_stock,
    start_show,
    stock,
    units_left,
)


@pytest.fixture
async def client(make_client: ClientFactory) -> TestClient[Any, Any]:
    return await make_client(guests_per_ip_per_hour=100_000)


@pytest.fixture
async def room(client: TestClient[Any, Any]) -> AsyncIterator[Room]:
    r = await Room(client).setup(products=3)
    await start_show(r)
    yield r
    await r.close()


def variant_of(product: dict[str, Any]) -> int:
    return int(product["variants"][0]["id"])


async def test_checkout_makes_a_paid_order_with_a_receipt_and_empties_the_cart(room: Room) -> None:
    token = await room.guest_token("Ana")
    product = room.products[0]
    cart = await add(room, token, variant_of(product), 2)
    resp = await checkout(room, token, checkout_body(cart))
    assert resp.status == 201, await resp.text()
    order = await resp.json()
    assert order["status"] == "paid" and order["number"].startswith("LS-")
    assert order["total"] == 2 * product["price"] and order["currency"] == "EUR"
    assert order["lines"][0]["quantity"] == 2
    assert order["shipping_address"]["city"] == "Berlin"
    assert order["payment"] == {"brand": "visa", "last4": "4242", "status": "approved"}
    assert await stock(room, product) == 8
    resp = await room.client.get(f"/api/shows/{room.show_id}/cart", headers=bearer(token))
    assert (await resp.json())["lines"] == []
    # The buyer reads it back, and lists it.
    resp = await room.client.get(f"/api/orders/{order['id']}", headers=bearer(token))
    assert (await resp.json()) == order
    resp = await room.client.get("/api/orders", headers=bearer(token))
    assert [o["id"] for o in (await resp.json())["orders"]] == [order["id"]]


async def test_the_same_key_gives_the_same_order_and_a_different_request_is_refused(
    room: Room,
) -> None:
    token = await room.guest_token()
    cart = await add(room, token, variant_of(room.products[0]))
    body = checkout_body(cart)
    # Ten at once: one order, the same answer ten times.
    answers = await asyncio.gather(*(checkout(room, token, body) for _ in range(10)))
    assert [r.status for r in answers] == [201] * 10
    ids = {(await r.json())["id"] for r in answers}
    assert len(ids) == 1
    # A retry after the answer: the same order.
    again = await checkout(room, token, body)
    assert again.status == 201 and (await again.json())["id"] in ids
    # The same key for a different request.
    other = {**body, "shipping_address": {**ADDRESS, "city": "Hamburg"}}
    error = await error_of(await checkout(room, token, other), 409)
    assert error["code"] == "idempotency_conflict"
    assert await stock(room, room.products[0]) == 9
    resp = await room.client.get("/api/orders", headers=bearer(token))
    assert len((await resp.json())["orders"]) == 1


async def test_a_changed_cart_or_price_is_refused_with_the_new_totals(room: Room) -> None:
    token = await room.guest_token()
    a, b = variant_of(room.products[0]), variant_of(room.products[1])
    seen = await add(room, token, a)
    now = await add(room, token, b)
    error = await error_of(await checkout(room, token, checkout_body(seen)), 409)
    assert error["code"] == "cart_changed"
    assert error["details"]["cart"]["total"] == now["total"]
    # A deal starts on a product in the cart: the buyer has not seen that price.
    host = await room.host()
    await host.ok("pin", {"product_id": room.products[0]["id"], "deal": deal(5, 2)})
    error = await error_of(await checkout(room, token, checkout_body(now)), 409)
    assert error["code"] == "price_changed"
    cart = error["details"]["cart"]
    assert cart["total"] == 100 + room.products[1]["price"]
    # With the new quote it goes through, at the deal price; the key was left unused.
    body = checkout_body(cart, key="k-1")
    resp = await checkout(room, token, body)
    assert resp.status == 201, await resp.text()
    assert (await resp.json())["total"] == cart["total"]


async def test_a_flash_deal_sells_its_units_then_answers_sold_out(room: Room) -> None:
    host = await room.host()
    watcher = await room.joined("Watcher")
    product = room.products[0]
    await host.ok("pin", {"product_id": product["id"], "deal": deal(2, 1)})
    buyers = [await room.guest_token(name) for name in ("Ana", "Bob", "Cy")]
    carts = [await add(room, t, variant_of(product)) for t in buyers]
    assert all(c["lines"][0]["deal_quantity"] == 1 for c in carts)
    for token, cart in zip(buyers[:2], carts[:2], strict=True):
        resp = await checkout(room, token, checkout_body(cart))
        assert resp.status == 201, await resp.text()
        assert (await resp.json())["lines"][0]["deal_price"] == 100
    error = await error_of(await checkout(room, buyers[2], checkout_body(carts[2])), 409)
    assert error["code"] == "sold_out"
    assert error["details"]["cart"]["total"] == product["price"]  # the catalog price now
    assert await units_left(room, product["id"]) == 0
    assert await stock(room, product) == 8
    # The room heard it: sold out at once, units left, and who bought (names only).
    await watcher.wait_event("sold_out")
    units = await watcher.wait_event("units")
    assert units[-1]["product_id"] == product["id"]
    purchases = await watcher.wait_event("purchases")
    names = {p["display_name"] for e in watcher.events("purchases") for p in e["items"]}
    assert names <= {"Ana", "Bob"} and purchases[0]["items"][0]["title"] == product["title"]
    assert "@" not in str(watcher.events("purchases"))
    # The order remembers the pin it came from.
    resp = await room.client.get(
        f"/api/shops/{room.shop_id}/shows/{room.show_id}/orders", headers=bearer(room.owner)
    )
    orders = (await resp.json())["orders"]
    assert {o["pinned_product_id"] for o in orders} == {product["id"]}


async def test_a_declined_card_cancels_the_order_and_gives_everything_back(room: Room) -> None:
    host = await room.host()
    product = room.products[0]
    await host.ok("pin", {"product_id": product["id"], "deal": deal(3, 3)})
    token = await room.guest_token()
    cart = await add(room, token, variant_of(product), 2)
    body = checkout_body(cart, card={**CARD, "number": DECLINED})
    error = await error_of(await checkout(room, token, body), 402)
    assert error["code"] == "payment_declined"
    order = error["details"]["order"]
    assert order["status"] == "cancelled"
    assert await stock(room, product) == 10
    assert await units_left(room, product["id"]) == 3
    # The same key answers the same refusal; the cart is still there for another try.
    again = await error_of(await checkout(room, token, body), 402)
    assert again["details"]["order"]["id"] == order["id"]
    body = checkout_body(cart, card={**CARD, "number": PROCESSOR_ERROR})
    error = await error_of(await checkout(room, token, body), 502)
    assert error["code"] == "payment_error"
    # A good card with a new key: the deal's units and the buyer's allowance are whole again.
    resp = await checkout(room, token, checkout_body(cart))
    assert resp.status == 201, await resp.text()
    assert (await resp.json())["lines"][0]["deal_quantity"] == 2
    assert await units_left(room, product["id"]) == 1


async def test_orders_left_pending_past_the_timeout_are_cancelled(room: Room) -> None:
    token = await room.guest_token()
    product = room.products[0]
    cart = await add(room, token, variant_of(product), 3)
    resp = await checkout(room, token, checkout_body(cart))
    order = await resp.json()
    # As if it had been waiting for its payment for 16 minutes.
    sessions = room.client.app[sessions_key]
    async with sessions.begin() as session:
        await session.execute(
            update(Order)
            .where(Order.id == order["id"])
            .values(
                status="pending_payment", paid_at=None, created_at=utcnow() - timedelta(minutes=16)
            )
        )
    done = await room.client.app[reconciler_key].run_once()
    assert done["expired"] == 1
    resp = await room.client.get(f"/api/orders/{order['id']}", headers=bearer(token))
    assert (await resp.json())["status"] == "cancelled"
    assert await stock(room, product) == 10


async def test_the_shop_lists_refunds_fulfils_and_exports(room: Room) -> None:
    buyers = [await room.guest_token(n) for n in ("Ana", "=cmd|' /C calc'!A0")]
    product = room.products[0]
    orders = []
    for token in buyers:
        cart = await add(room, token, variant_of(product))
        orders.append(await (await checkout(room, token, checkout_body(cart))).json())
    owner = bearer(room.owner)
    base = f"/api/shops/{room.shop_id}"
    resp = await room.client.get(f"{base}/shows/{room.show_id}/orders", headers=owner)
    listing = await resp.json()
    assert listing["summary"]["revenue"] == 2 * product["price"]
    assert listing["summary"]["orders"]["paid"] == 2
    assert listing["summary"]["add_to_carts"] == 2
    assert {o["buyer"]["display_name"] for o in listing["orders"]} == {"Ana", "=cmd|' /C calc'!A0"}
    resp = await room.client.post(f"{base}/orders/{orders[0]['id']}/refund", headers=owner)
    assert resp.status == 200 and (await resp.json())["status"] == "refunded"
    assert await stock(room, product) == 9
    error = await error_of(
        await room.client.post(f"{base}/orders/{orders[0]['id']}/refund", headers=owner), 409
    )
    assert error["code"] == "invalid_transition"
    resp = await room.client.post(f"{base}/orders/{orders[1]['id']}/fulfil", headers=owner)
    assert (await resp.json())["status"] == "fulfilled"
    resp = await room.client.get(f"{base}/shows/{room.show_id}/orders", headers=owner)
    summary = (await resp.json())["summary"]
    assert (summary["revenue"], summary["refunded"]) == (product["price"], product["price"])
    resp = await room.client.get(f"{base}/shows/{room.show_id}/orders.csv", headers=owner)
    assert resp.content_type == "text/csv"
    rows = list(csv.reader(io.StringIO(await resp.text())))
    assert rows[0][:3] == ["number", "created_at", "status"]
    assert [r[2] for r in rows[1:]] == ["refunded", "fulfilled"]
    assert rows[2][3].startswith("'=")  # never a formula
    # A moderator may not; an outsider does not even see the shop.
    mod, _ = await add_member(room.client, room.owner, room.shop_id, "moderator")
    resp = await room.client.get(f"{base}/shows/{room.show_id}/orders", headers=bearer(mod))
    assert (await error_of(resp, 403))["code"] == "forbidden"
    outsider, _ = await sign_up(room.client, "Outsider")
    resp = await room.client.get(f"{base}/shows/{room.show_id}/orders", headers=bearer(outsider))
    assert (await error_of(resp, 404))["code"] == "not_found"
    resp = await room.client.post(
        f"{base}/orders/{orders[1]['id']}/refund", headers=bearer(outsider)
    )
    assert (await error_of(resp, 404))["code"] == "not_found"


async def test_checkout_over_the_socket_answers_the_buyer_alone(room: Room) -> None:
    host = await room.host()
    product = room.products[1]
    await host.ok("pin", {"product_id": product["id"], "deal": deal(5, 1)})
    buyer = await room.joined("Ana")
    other = await room.joined("Bob")
    cart = (await buyer.ok("cart.add", {"variant_id": variant_of(product)}))["cart"]
    answer = await buyer.ok("checkout", checkout_body(cart))
    assert answer["order"]["status"] == "paid" and answer["order"]["total"] == 100
    await other.wait_event("purchases")
    assert "order" not in str(other.events("purchases"))
    assert "Berlin" not in str([f for f in other.frames])
    refused = await buyer.refused("checkout", checkout_body(cart), "cart_empty")
    assert refused["message"]


@pytest.mark.parametrize(
    "change",
    [
        {"total": 1},
        {"price": 1},
        {"currency": "USD"},
        {"cart_version": -1},
        {"cart_version": 1.0},
        {"cart_version": "1"},
        {"idempotency_key": ""},
        {"idempotency_key": "k" * 256},
        {"idempotency_key": "tab\there"},
        {"quote": "not-a-quote"},
        {"shipping_address": {**ADDRESS, "country": "XX"}},
        {"shipping_address": {**ADDRESS, "name": "  "}},
        {"shipping_address": {**ADDRESS, "line1": "a\nb"}},
        {"shipping_address": {**ADDRESS, "postal_code": "<script>"}},
        {"shipping_address": {**ADDRESS, "unit_price": 1}},
        {"card": {**CARD, "number": "4242424242424241"}},
        {"card": {**CARD, "exp_month": 13}},
        {"card": {**CARD, "exp_year": 2001}},
        {"card": {**CARD, "cvc": "12"}},
        {"card": {**CARD, "amount": 1}},
        {"email": "not-an-email"},
        {"email": ""},
        {"email": 5},
        {"email": "ana@example.com\r\nBcc: eve@example.com"},
        {"language": "fr"},
    ],
)
async def test_bad_checkout_bodies_are_refused_and_change_nothing(
    room: Room, change: dict[str, Any]
) -> None:
    token = await room.guest_token()
    product = room.products[0]
    cart = await add(room, token, variant_of(product))
    error = await error_of(await checkout(room, token, checkout_body(cart, **change)), 422)
    assert error["code"] == "validation_error"
    assert await stock(room, product) == 10
    resp = await room.client.get("/api/orders", headers=bearer(token))
    assert (await resp.json())["orders"] == []


async def test_refusals_each_have_their_code(room: Room, client: TestClient[Any, Any]) -> None:
    token = await room.guest_token()
    product = room.products[0]
    empty = await (
        await room.client.get(f"/api/shows/{room.show_id}/cart", headers=bearer(token))
    ).json()
    error = await error_of(await checkout(room, token, checkout_body(empty)), 409)
    assert error["code"] == "cart_empty"
    cart = await add(room, token, variant_of(product), 3)
    await set_stock(room, product, 2)
    error = await error_of(await checkout(room, token, checkout_body(cart)), 409)
    assert error["code"] == "out_of_stock"
    await set_stock(room, product, 0)
    error = await error_of(await checkout(room, token, checkout_body(cart)), 409)
    assert error["code"] == "out_of_stock"
    await set_stock(room, product, 10)
    # Deal limits.
    host = await room.host()
    await host.ok("pin", {"product_id": product["id"], "deal": deal(10, 1)})
    cart = await (
        await room.client.get(f"/api/shows/{room.show_id}/cart", headers=bearer(token))
    ).json()
    assert cart["lines"][0]["deal_quantity"] == 1  # one of three at the deal price
    resp = await checkout(room, token, checkout_body(cart))
    assert resp.status == 201, await resp.text()
    cart = await add(room, token, variant_of(product))
    assert cart["lines"][0]["deal_quantity"] == 0  # this buyer's limit is used
    # Banned buyers, then an ended show.
    viewer = await room.viewer("Ana", token)
    joined = await viewer.ok("join", {"show_id": room.show_id})
    cart2 = await add(room, token, variant_of(room.products[1]))
    await host.ok("user.ban", {"subject": joined["snapshot"]["you"]["subject"]})
    error = await error_of(await checkout(room, token, checkout_body(cart2)), 403)
    assert error["code"] == "banned"
    await host.ok("show.end")
    other = await room.guest_token()
    error = await error_of(await checkout(room, other, checkout_body(cart2)), 409)
    assert error["code"] == "show_closed"


async def test_a_buyer_never_reaches_another_buyers_cart_or_orders(room: Room) -> None:
    ana, bob = await room.guest_token("Ana"), await room.guest_token("Bob")
    cart = await add(room, ana, variant_of(room.products[0]))
    order = await (await checkout(room, ana, checkout_body(cart))).json()
    await add(room, ana, variant_of(room.products[1]))
    missing = await error_of(await room.client.get("/api/orders/999999", headers=bearer(bob)), 404)
    for attempt in range(100):
        kind = attempt % 4
        if kind == 0:
            resp = await room.client.get(f"/api/orders/{order['id']}", headers=bearer(bob))
            assert await error_of(resp, 404) == missing
        elif kind == 1:
            resp = await room.client.get("/api/orders", headers=bearer(bob))
            assert (await resp.json())["orders"] == []
        elif kind == 2:
            resp = await room.client.get(f"/api/shows/{room.show_id}/cart", headers=bearer(bob))
            assert (await resp.json())["lines"] == []
        else:
            # Ana's key and cart quote, from Bob: his own (empty) cart is what counts.
            body = checkout_body(cart, key=f"ana-key-{attempt}")
            resp = await checkout(room, bob, body)
            assert (await error_of(resp, 409))["code"] in ("cart_empty", "cart_changed")
    resp = await room.client.get(f"/api/orders/{order['id']}", headers=bearer(ana))
    assert resp.status == 200
    resp = await room.client.get(f"/api/shows/{room.show_id}/cart", headers=bearer(ana))
    assert len((await resp.json())["lines"]) == 1


async def test_checkout_waits_for_the_show_to_go_live(client: TestClient[Any, Any]) -> None:
    room = await Room(client).setup(products=1)
    token = await room.guest_token()
    cart = await add(room, token, variant_of(room.products[0]))
    error = await error_of(await checkout(room, token, checkout_body(cart)), 409)
    assert error["code"] == "show_not_live"
    await until(lambda: True)
