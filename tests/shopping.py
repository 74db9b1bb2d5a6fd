"""Buying through the real app in tests: carts, checkout bodies, the shop's view of stock."""

from __future__ import annotations

import time
import uuid
from typing import Any

from sqlalchemy import func, select

from cart.catalog.models import Variant
from cart.orders.models import DealQuota, Order
from server.db import create_engine
from server.keys import realtime_key
from tests.helpers import bearer, send
from tests.room import Room

ADDRESS = {
    "name": "Ana Buyer",
    "line1": "Hauptstrasse 1",
    "city": "Berlin",
    "postal_code": "10115",
    "country": "DE",
}
BUYER_EMAIL = "ana.buyer@example.com"
CARD = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2099, "cvc": "123"}
DECLINED = "4000000000000002"
PROCESSOR_ERROR = "4000000000000119"


def deal(units: int, per_buyer: int, price: int = 100, seconds: int = 120) -> dict[str, int]:
    return {
        "price": price,
        "units": units,
        "per_buyer": per_buyer,
        "ends_at_ms": int(time.time() * 1000) + seconds * 1000,
    }


def checkout_body(cart: dict[str, Any], key: str | None = None, **fields: Any) -> dict[str, Any]:
    return {
        "idempotency_key": key or uuid.uuid4().hex,
        "cart_version": cart["version"],
        "quote": cart["quote"],
        "shipping_address": ADDRESS,
        "email": BUYER_EMAIL,
        "card": CARD,
        **fields,
    }


async def start_show(room: Room) -> None:
    resp = await room.client.post(
        f"/api/shops/{room.shop_id}/shows/{room.show_id}/start", headers=bearer(room.owner)
    )
    assert resp.status == 200, await resp.text()


async def add(room: Room, token: str, variant: int, quantity: int = 1) -> dict[str, Any]:
    resp = await room.client.post(
        f"/api/shows/{room.show_id}/cart/items",
        json={"variant_id": variant, "quantity": quantity},
        headers=bearer(token),
    )
    assert resp.status == 200, await resp.text()
    return dict(await resp.json())


async def checkout(room: Room, token: str, body: dict[str, Any]) -> Any:
    return await room.client.post(
        f"/api/shows/{room.show_id}/checkout", json=body, headers=bearer(token)
    )


async def stock(room: Room, product: dict[str, Any]) -> int:
    resp = await room.client.get(
        f"/api/shops/{room.shop_id}/products/{product['id']}", headers=bearer(room.owner)
    )
    assert resp.status == 200, await resp.text()
    return int((await resp.json())["variants"][0]["stock"])


async def set_stock(room: Room, product: dict[str, Any], units: int) -> None:
    """As the console does it (retried while the API answers `busy`, see helpers.send)."""
    variant = product["variants"][0]["id"]
    resp = await send(
        room.client,
        "PATCH",
        f"/api/shops/{room.shop_id}/products/{product['id']}/variants/{variant}",
        json={"stock": units},
        headers=bearer(room.owner),
    )
    assert resp.status == 200, await resp.text()


async def units_left(room: Room, product_id: int) -> int:
    shopping = await room.client.app[realtime_key].store.shopping(room.show_id, "g:" + "0" * 32)
    return int(shopping.deals[product_id]["units_left"])


async def db_figures(database_url: str, product_id: int) -> tuple[int, int, int]:
    """Paid orders, the variant's stock and the deal's units left, in the database."""
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            orders = await conn.scalar(
                select(func.count()).select_from(Order).where(Order.status == "paid")
            )
            stock = await conn.scalar(select(Variant.stock).where(Variant.product_id == product_id))
            left = await conn.scalar(
                select(DealQuota.units_left).where(DealQuota.product_id == product_id)
            )
            return int(orders or 0), int(stock or 0), int(left or 0)
    finally:
        await engine.dispose()
