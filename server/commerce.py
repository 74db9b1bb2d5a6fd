"""Composition of commerce: carts in Redis, the show's offer (lineup prices from the catalog,
running deals and bans from the live room), checkout, orders, payments and the reconciler, with
their REST routes and the player's socket events."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from redis.asyncio import Redis

from cart.carts import rules
from cart.carts.service import CartService, ShowOffer, ShowOffers
from cart.carts.store import CartStore
from cart.carts.views import CartViews
from cart.orders import rules as order_rules
from cart.orders.keys import KeyStore
from cart.orders.payments import TestProvider
from cart.orders.reconcile import Reconciler
from cart.orders.service import CheckoutService, OrderService
from cart.orders.store import OrderStore
from cart.orders.views import OrderViews
from core.identity import MembershipLookup
from live.room.service import DealOpener, Seat
from live.room.store import RoomStore
from live.shows.service import ShowService
from server.keys import reconciler_key
from server.realtime import Realtime
from server.settings import Settings


def show_offers(shows: ShowService, room: RoomStore, cache_ms: int = 0) -> ShowOffers:
    """The show's offer to one buyer. With `cache_ms`, the lineup and prices are read from the
    database at most that often per show (the room's status, deals and bans always fresh)."""
    # One read per show per period, shared by every request that wants it meanwhile (a
    # stampede arrives all at once: without sharing, each request would miss together).
    cache: dict[int, tuple[float, asyncio.Future[dict[str, Any]]]] = {}

    async def public(show_id: int) -> dict[str, Any]:
        if not cache_ms:
            return await shows.public(show_id)  # not_found for an unknown show
        now = time.monotonic()
        hit = cache.get(show_id)
        if hit is None or hit[0] <= now or (hit[1].done() and hit[1].exception() is not None):
            if len(cache) > 10_000:
                cache.clear()
            hit = (now + cache_ms / 1000, asyncio.ensure_future(shows.public(show_id)))
            cache[show_id] = hit
        return await asyncio.shield(hit[1])

    async def offers(show_id: int, subject: str) -> ShowOffer:
        show = await public(show_id)
        room_now = await room.shopping(show_id, subject)
        items: dict[int, rules.Offer] = {}
        in_stock: dict[int, bool] = {}
        for product in show["lineup"]:
            deal = room_now.deals.get(product["id"])
            for variant in product["variants"]:
                items[variant["id"]] = rules.Offer(
                    variant_id=variant["id"],
                    product_id=product["id"],
                    title=product["title"],
                    options=variant["options"],
                    price=variant["price"],
                    deal_price=None if deal is None else deal["price"],
                    deal_left=0 if deal is None else deal["units_left"],
                    per_buyer_left=0
                    if deal is None
                    else max(0, deal["per_buyer"] - deal["bought"]),
                    deal_id=None if deal is None else deal["id"],
                )
                in_stock[variant["id"]] = bool(variant["in_stock"])
        return ShowOffer(
            shop_id=show["shop_id"],
            currency=show["currency"],
            # The room's status is the fresher one once the room is open.
            status=room_now.status or show["status"],
            banned=room_now.banned,
            offers=items,
            in_stock=in_stock,
            pinned=room_now.pinned,
        )

    return offers


def deal_opener(orders: OrderStore) -> DealOpener:
    async def open_deal(
        show_id: int, product_id: int, price: int, units: int, per_buyer: int, ends_at_ms: int
    ) -> int:
        ends_at = datetime.fromtimestamp(ends_at_ms / 1000, UTC)
        return await orders.open_deal(show_id, product_id, price, units, per_buyer, ends_at)

    return open_deal


def attach_commerce(
    app: web.Application,
    settings: Settings,
    redis: Redis,
    shows: ShowService,
    realtime: Realtime,
    orders: OrderStore,
    role_in: MembershipLookup,
) -> CheckoutService:
    room = realtime.store
    carts_store = CartStore(redis, settings.redis_prefix, settings.cart_ttl_seconds)
    # One cache for carts and checkout: a stampede's adds and sold-out answers stay in Redis.
    offers = show_offers(shows, room, settings.offer_cache_ms)
    carts = CartService(carts_store, offers)
    provider = TestProvider()
    faults = settings.faults
    keys = KeyStore(
        redis,
        settings.redis_prefix,
        settings.checkout_lease_seconds,
        settings.idempotency_ttl_hours * 3600,
    )
    checkout = CheckoutService(
        offers=offers,
        carts=carts_store,
        gate=room,
        orders=orders,
        keys=keys,
        provider=provider,
        announce=realtime.coalescer,
        secret=settings.secret().encode(),
        lease_seconds=settings.checkout_lease_seconds,
        faults=faults,
    )
    order_service = OrderService(orders, provider, carts_store, faults)
    app.router.add_routes(CartViews(carts).routes())
    app.router.add_routes(OrderViews(checkout, order_service, role_in, shows.get).routes())

    lock_key = f"{settings.redis_prefix}reconcile"
    lock_ms = max(100, int(settings.reconcile_interval_seconds * 900))

    async def lock() -> bool:
        return bool(await redis.set(lock_key, realtime.node_id, nx=True, px=lock_ms))

    reconciler = Reconciler(
        orders=orders,
        gate=room,
        keys=keys,
        checkout=checkout,
        announce=realtime.coalescer,
        lock=lock,
        lease_seconds=settings.checkout_lease_seconds,
        pending_minutes=settings.pending_payment_minutes,
        interval_seconds=settings.reconcile_interval_seconds,
    )
    app[reconciler_key] = reconciler

    async def reconciler_ctx(app: web.Application) -> AsyncIterator[None]:
        reconciler.start()  # its first pass runs at once
        yield
        await reconciler.stop()
        await orders.close()

    app.cleanup_ctx.append(reconciler_ctx)

    async def add(seat: Seat, body: Any) -> dict[str, Any]:
        return {"cart": await carts.add(seat.show_id, seat.principal, body)}

    async def update(seat: Seat, body: Any) -> dict[str, Any]:
        return {"cart": await carts.set_quantity(seat.show_id, seat.principal, body)}

    async def remove(seat: Seat, body: Any) -> dict[str, Any]:
        return {"cart": await carts.remove(seat.show_id, seat.principal, body)}

    async def view(seat: Seat, body: Any) -> dict[str, Any]:
        return {"cart": await carts.view(seat.show_id, seat.principal)}

    async def pay(seat: Seat, body: Any) -> dict[str, Any]:
        # The confirmation goes to this buyer alone, as the answer to their own event.
        return {"order": await checkout.checkout(seat.show_id, seat.principal, body)}

    realtime.socket.add_events(
        {
            "cart.add": (rules.AddItem, add),
            "cart.update": (rules.SetQuantity, update),
            "cart.remove": (rules.RemoveItem, remove),
            "cart.view": (rules.Empty, view),
            "checkout": (order_rules.Checkout, pay),
        }
    )
    return checkout
