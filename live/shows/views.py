"""Show routes: shop members manage their shows; anyone may read a show's public page data."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from core.identity import MANAGERS, MembershipLookup
from core.web import match_int, ok, parse_query, read_json, require_member
from live.shows import schemas
from live.shows.rules import Status
from live.shows.service import ShowService

_SHOW = "/api/shops/{shop_id}/shows/{show_id}"


Transition = Callable[[int, int, Status], Awaitable[dict[str, Any]]]
Remove = Callable[[int, int], Awaitable[None]]
Update = Callable[[int, int, schemas.ShowPatch], Awaitable[dict[str, Any]]]


class ShowViews:
    def __init__(
        self,
        shows: ShowService,
        membership: MembershipLookup,
        transition: Transition | None = None,
        remove: Remove | None = None,
        edit: Update | None = None,
    ) -> None:
        self.shows = shows
        self.membership = membership
        # The live room's transition also tells the room; without one, only the database moves.
        self.transition = transition or shows.transition
        self.remove = remove or shows.delete
        self.edit = edit or shows.update

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/api/shows/{show_id}", self.public),
            web.get("/api/shops/{shop_id}/shows", self.list),
            web.post("/api/shops/{shop_id}/shows", self.create),
            web.get(_SHOW, self.get),
            web.patch(_SHOW, self.update),
            web.delete(_SHOW, self.delete),
            web.post(_SHOW + "/start", self.start),
            web.post(_SHOW + "/end", self.end),
        ]

    async def _shop(self, request: web.Request, write: bool = False) -> int:
        shop_id = match_int(request, "shop_id")
        await require_member(request, self.membership, shop_id, MANAGERS if write else None)
        return shop_id

    async def public(self, request: web.Request) -> web.Response:
        return ok(await self.shows.public(match_int(request, "show_id")))

    async def list(self, request: web.Request) -> web.Response:
        shop_id = await self._shop(request)
        q = parse_query(request, schemas.ShowQuery)
        return ok(await self.shows.list(shop_id, q.status, q.limit, q.after))

    async def create(self, request: web.Request) -> web.Response:
        shop_id = await self._shop(request, write=True)
        body = await read_json(request, schemas.ShowIn)
        return ok(await self.shows.create(shop_id, body), 201)

    async def get(self, request: web.Request) -> web.Response:
        shop_id = await self._shop(request)
        return ok(await self.shows.get(shop_id, match_int(request, "show_id")))

    async def update(self, request: web.Request) -> web.Response:
        shop_id = await self._shop(request, write=True)
        body = await read_json(request, schemas.ShowPatch)
        return ok(await self.edit(shop_id, match_int(request, "show_id"), body))

    async def delete(self, request: web.Request) -> web.Response:
        shop_id = await self._shop(request, write=True)
        await self.remove(shop_id, match_int(request, "show_id"))
        return web.Response(status=204)

    async def start(self, request: web.Request) -> web.Response:
        shop_id = await self._shop(request, write=True)
        return ok(await self.transition(shop_id, match_int(request, "show_id"), Status.LIVE))

    async def end(self, request: web.Request) -> web.Response:
        shop_id = await self._shop(request, write=True)
        return ok(await self.transition(shop_id, match_int(request, "show_id"), Status.ENDED))
