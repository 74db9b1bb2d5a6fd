"""Checkout and order routes. A buyer reaches only their own orders (another buyer's order id
answers exactly like a missing one); a shop's owner and hosts reach their shows' orders."""

from __future__ import annotations

import csv
import io
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from cart.orders import rules
from cart.orders.service import CheckoutService, OrderService
from core.identity import MANAGERS, MembershipLookup
from core.web import match_int, ok, parse_query, read_json, require_member, require_principal

ShowOfShop = Callable[[int, int], Awaitable[Any]]  # not_found unless the show is the shop's

_SHOW = "/api/shops/{shop_id}/shows/{show_id}"
_ORDER = "/api/shops/{shop_id}/orders/{order_id}"


class OrderViews:
    def __init__(
        self,
        checkout: CheckoutService,
        orders: OrderService,
        membership: MembershipLookup,
        show_of_shop: ShowOfShop,
    ) -> None:
        self.checkout_service = checkout
        self.orders = orders
        self.membership = membership
        self.show_of_shop = show_of_shop

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/api/shows/{show_id}/checkout", self.checkout),
            web.get("/api/orders", self.mine),
            web.get("/api/orders/{order_id}", self.one_of_mine),
            web.get(_SHOW + "/orders", self.of_show),
            web.get(_SHOW + "/orders.csv", self.csv),
            web.post(_ORDER + "/refund", self.refund),
            web.post(_ORDER + "/fulfil", self.fulfil),
        ]

    async def checkout(self, request: web.Request) -> web.Response:
        buyer = require_principal(request)
        show_id = match_int(request, "show_id")
        body = await read_json(request, rules.Checkout)
        return ok(await self.checkout_service.checkout(show_id, buyer, body), status=201)

    async def mine(self, request: web.Request) -> web.Response:
        buyer = require_principal(request)
        query = parse_query(request, rules.OrderQuery)
        return ok(await self.orders.mine(buyer, query.before, query.limit))

    async def one_of_mine(self, request: web.Request) -> web.Response:
        buyer = require_principal(request)
        return ok(await self.orders.one_of_mine(buyer, match_int(request, "order_id")))

    async def _show(self, request: web.Request) -> int:
        shop_id = match_int(request, "shop_id")
        await require_member(request, self.membership, shop_id, MANAGERS)
        show_id = match_int(request, "show_id")
        await self.show_of_shop(shop_id, show_id)
        return show_id

    async def of_show(self, request: web.Request) -> web.Response:
        show_id = await self._show(request)
        query = parse_query(request, rules.OrderQuery)
        return ok(await self.orders.of_show(show_id, query.before, query.limit))

    async def csv(self, request: web.Request) -> web.Response:
        show_id = await self._show(request)
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(rules.CSV_COLUMNS)
        writer.writerows(await self.orders.csv_rows(show_id))
        return web.Response(
            text=out.getvalue(),
            content_type="text/csv",
            charset="utf-8",
            headers={"Content-Disposition": f'attachment; filename="show-{show_id}-orders.csv"'},
        )

    async def _shop(self, request: web.Request) -> int:
        shop_id = match_int(request, "shop_id")
        await require_member(request, self.membership, shop_id, MANAGERS)
        return shop_id

    async def refund(self, request: web.Request) -> web.Response:
        shop_id = await self._shop(request)
        return ok(await self.orders.refund(shop_id, match_int(request, "order_id")))

    async def fulfil(self, request: web.Request) -> web.Response:
        shop_id = await self._shop(request)
        return ok(await self.orders.fulfil(shop_id, match_int(request, "order_id")))
