"""Composition of the cart: its Redis store, the show's offer (lineup prices from the catalog,
running deals and bans from the live room), REST routes and the player's socket events."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from redis.asyncio import Redis

from cart.carts import rules
from cart.carts.service import CartService, ShowOffer, ShowOffers
from cart.carts.store import CartStore
from cart.carts.views import CartViews
from live.room.service import Seat
from live.room.store import RoomStore
from live.shows.service import ShowService
from server.realtime import Realtime
from server.settings import Settings


def show_offers(shows: ShowService, room: RoomStore) -> ShowOffers:
    async def offers(show_id: int, subject: str) -> ShowOffer:
        show = await shows.public(show_id)  # not_found for an unknown show
        deals = await room.deals(show_id)
        banned = await room.is_banned(show_id, subject)
        items: dict[int, rules.Offer] = {}
        in_stock: dict[int, bool] = {}
        for product in show["lineup"]:
            deal = deals.get(product["id"])
            for variant in product["variants"]:
                items[variant["id"]] = rules.Offer(
                    variant_id=variant["id"],
                    product_id=product["id"],
                    title=product["title"],
                    options=variant["options"],
                    price=variant["price"],
                    deal_price=None if deal is None else deal["price"],
                    deal_left=0 if deal is None else deal["units_left"],
                    per_buyer_left=0 if deal is None else deal["per_buyer"],
                )
                in_stock[variant["id"]] = bool(variant["in_stock"])
        return ShowOffer(show["currency"], show["status"], banned, items, in_stock)

    return offers


def attach_carts(
    app: web.Application,
    settings: Settings,
    redis: Redis,
    shows: ShowService,
    realtime: Realtime,
) -> CartService:
    store = CartStore(redis, settings.redis_prefix, settings.cart_ttl_seconds)
    carts = CartService(store, show_offers(shows, realtime.store))
    app.router.add_routes(CartViews(carts).routes())

    async def add(seat: Seat, body: Any) -> dict[str, Any]:
        return {"cart": await carts.add(seat.show_id, seat.principal, body)}

    async def update(seat: Seat, body: Any) -> dict[str, Any]:
        return {"cart": await carts.set_quantity(seat.show_id, seat.principal, body)}

    async def remove(seat: Seat, body: Any) -> dict[str, Any]:
        return {"cart": await carts.remove(seat.show_id, seat.principal, body)}

    async def view(seat: Seat, body: Any) -> dict[str, Any]:
        return {"cart": await carts.view(seat.show_id, seat.principal)}

    realtime.socket.add_events(
        {
            "cart.add": (rules.AddItem, add),
            "cart.update": (rules.SetQuantity, update),
            "cart.remove": (rules.RemoveItem, remove),
            "cart.view": (rules.Empty, view),
        }
    )
    return carts
