"""Cart routes: the signed-in or guest buyer's own cart in one show. There is no cart id in any
URL: a buyer can only ever reach their own cart."""

from __future__ import annotations

from aiohttp import web

from cart.carts import rules
from cart.carts.service import CartService
from core.web import match_int, ok, read_json, require_principal

_CART = "/api/shows/{show_id}/cart"


class CartViews:
    def __init__(self, carts: CartService) -> None:
        self.carts = carts

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get(_CART, self.view),
            web.post(_CART + "/items", self.add),
            web.patch(_CART + "/items/{variant_id}", self.set_quantity),
            web.delete(_CART + "/items/{variant_id}", self.remove),
        ]

    async def view(self, request: web.Request) -> web.Response:
        buyer = require_principal(request)
        return ok(await self.carts.view(match_int(request, "show_id"), buyer))

    async def add(self, request: web.Request) -> web.Response:
        buyer = require_principal(request)
        show_id = match_int(request, "show_id")
        body = await read_json(request, rules.AddItem)
        return ok(await self.carts.add(show_id, buyer, body))

    async def set_quantity(self, request: web.Request) -> web.Response:
        buyer = require_principal(request)
        show_id = match_int(request, "show_id")
        variant_id = match_int(request, "variant_id")
        body = await read_json(request, rules.QuantityBody)
        item = rules.SetQuantity(variant_id=variant_id, quantity=body.quantity)
        return ok(await self.carts.set_quantity(show_id, buyer, item))

    async def remove(self, request: web.Request) -> web.Response:
        buyer = require_principal(request)
        show_id = match_int(request, "show_id")
        item = rules.RemoveItem(variant_id=match_int(request, "variant_id"))
        return ok(await self.carts.remove(show_id, buyer, item))
