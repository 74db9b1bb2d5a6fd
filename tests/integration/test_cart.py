"""Carts through the real app: REST and Socket.IO, real Redis, real database."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from server.keys import redis_key, settings_key
from tests.conftest import ClientFactory
from tests.helpers import bearer, error_of
from tests.room import Room


@pytest.fixture
async def room(client: TestClient[Any, Any]) -> AsyncIterator[Room]:
    r = await Room(client).setup(products=3)
    yield r
    await r.close()


def cart_url(room: Room, tail: str = "") -> str:
    return f"/api/shows/{room.show_id}/cart{tail}"


async def add(room: Room, token: str, variant: int, quantity: int = 1) -> Any:
    return await room.client.post(
        cart_url(room, "/items"),
        json={"variant_id": variant, "quantity": quantity},
        headers=bearer(token),
    )


async def test_add_change_remove_with_server_prices(room: Room) -> None:
    token = await room.guest_token("Buyer")
    product = room.products[0]
    variant = product["variants"][0]["id"]
    resp = await add(room, token, variant, 2)
    assert resp.status == 200, await resp.text()
    cart = await resp.json()
    assert cart["version"] == 1 and cart["currency"] == "EUR"
    assert cart["lines"][0]["unit_price"] == product["price"]
    assert cart["total"] == 2 * product["price"] and cart["items"] == 2
    cart = await (await add(room, token, variant, 3)).json()
    assert cart["lines"][0]["quantity"] == 5 and cart["version"] == 2
    resp = await add(room, token, variant, 6)
    assert (await error_of(resp, 422))["field"] == "quantity"
    resp = await room.client.patch(
        cart_url(room, f"/items/{variant}"), json={"quantity": 1}, headers=bearer(token)
    )
    assert (await resp.json())["total"] == product["price"]
    resp = await room.client.delete(cart_url(room, f"/items/{variant}"), headers=bearer(token))
    cart = await resp.json()
    assert cart["lines"] == [] and cart["total"] == 0 and cart["version"] == 4
    resp = await room.client.delete(cart_url(room, f"/items/{variant}"), headers=bearer(token))
    assert (await error_of(resp, 404))["code"] == "not_found"


async def test_tampering_and_unknown_items_are_refused(room: Room) -> None:
    token = await room.guest_token("Buyer")
    variant = room.products[0]["variants"][0]["id"]
    for body in (
        {"variant_id": variant, "quantity": 1, "price": 1},
        {"variant_id": variant, "total": 0},
        {"variant_id": variant, "currency": "USD"},
        {"variant_id": variant, "quantity": 0},
        {"variant_id": variant, "quantity": -1},
        {"variant_id": variant, "quantity": 1.5},
        {"variant_id": variant, "quantity": "2"},
        {"variant_id": variant, "quantity": 2**31},
        {"variant_id": variant, "quantity": 2**63},
        {"variant_id": str(variant)},
    ):
        resp = await room.client.post(cart_url(room, "/items"), json=body, headers=bearer(token))
        assert (await error_of(resp, 422))["code"] == "validation_error", body
    assert (await error_of(await add(room, token, 999999), 404))["code"] == "not_found"
    resp = await room.client.get("/api/shows/999999/cart", headers=bearer(token))
    assert resp.status == 404
    assert (await room.client.get(cart_url(room))).status == 401
    cart = await (await room.client.get(cart_url(room), headers=bearer(token))).json()
    assert cart["lines"] == [] and cart["version"] == 0


async def test_a_buyer_sees_only_their_own_cart(room: Room) -> None:
    ana, bob = await room.guest_token("Ana"), await room.guest_token("Bob")
    variant = room.products[1]["variants"][0]["id"]
    assert (await add(room, ana, variant, 2)).status == 200
    cart = await (await room.client.get(cart_url(room), headers=bearer(bob))).json()
    assert cart["lines"] == [] and cart["version"] == 0
    resp = await room.client.delete(cart_url(room, f"/items/{variant}"), headers=bearer(bob))
    assert resp.status == 404
    cart = await (await room.client.get(cart_url(room), headers=bearer(ana))).json()
    assert cart["items"] == 2


async def test_deal_prices_apply_within_the_per_buyer_limit(room: Room) -> None:
    host = await room.host()
    product = room.products[2]
    deal = {
        "price": 1000,
        "units": 5,
        "per_buyer": 2,
        "ends_at_ms": int(time.time() * 1000) + 60_000,
    }
    await host.ok("pin", {"product_id": product["id"], "deal": deal})
    token = await room.guest_token("Buyer")
    cart = await (await add(room, token, product["variants"][0]["id"], 3)).json()
    line = cart["lines"][0]
    assert (line["deal_quantity"], line["deal_price"]) == (2, 1000)
    assert cart["total"] == 2 * 1000 + product["price"]


async def test_carts_over_the_socket(room: Room) -> None:
    viewer = await room.joined("Buyer")
    variant = room.products[0]["variants"][0]["id"]
    answer = await viewer.ok("cart.add", {"variant_id": variant, "quantity": 2})
    assert answer["cart"]["items"] == 2
    answer = await viewer.ok("cart.update", {"variant_id": variant, "quantity": 3})
    assert answer["cart"]["items"] == 3
    await viewer.refused("cart.add", {"variant_id": variant, "price": 1}, "validation_error")
    assert (await viewer.ok("cart.view"))["cart"]["version"] == 2
    answer = await viewer.ok("cart.remove", {"variant_id": variant})
    assert answer["cart"]["lines"] == []


async def test_ended_shows_banned_buyers_and_sold_out_items(
    make_client: ClientFactory,
) -> None:
    client = await make_client(offer_cache_ms=0)  # sees the stock change at once
    room = await Room(client).setup(products=2)
    try:
        host = await room.host()
        buyer_token = await room.guest_token("Buyer")
        buyer = await room.joined("Buyer", buyer_token)
        # Sold out: stock 0 on the variant.
        product = room.products[1]
        variant = product["variants"][0]["id"]
        resp = await client.patch(
            f"/api/shops/{room.shop_id}/products/{product['id']}/variants/{variant}",
            json={"stock": 0},
            headers=bearer(room.owner),
        )
        assert resp.status == 200
        assert (await error_of(await add(room, buyer_token, variant), 409))["code"] == (
            "out_of_stock"
        )
        subject = (await buyer.ok("join", {"show_id": room.show_id}))["snapshot"]["you"]["subject"]
        await host.ok("user.ban", {"subject": subject})
        ok_variant = room.products[0]["variants"][0]["id"]
        assert (await error_of(await add(room, buyer_token, ok_variant), 403))["code"] == "banned"
        other = await room.guest_token("Other")
        assert (await add(room, other, ok_variant)).status == 200
        await host.ok("show.start")
        await host.ok("show.end")
        resp = await add(room, other, ok_variant)
        assert (await error_of(resp, 409))["code"] == "show_closed"
    finally:
        await room.close()


async def test_every_change_refreshes_the_expiry(make_client: ClientFactory) -> None:
    client = await make_client(cart_ttl_seconds=120)
    room = await Room(client).setup(products=1)
    try:
        token = await room.guest_token("Buyer")
        await add(room, token, room.products[0]["variants"][0]["id"])
        redis = client.app[redis_key]
        prefix = client.app[settings_key].redis_prefix
        keys = [k async for k in redis.scan_iter(match=f"{prefix}cart:*")]
        assert len(keys) == 1
        assert 100 < await redis.ttl(keys[0]) <= 120
    finally:
        await room.close()
