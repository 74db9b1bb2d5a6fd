"""Room routes over HTTP: a show's timeline and, after the show, its chat as CSV (shop members)."""

from __future__ import annotations

from aiohttp import web

from core.errors import AppError, ErrorCode
from core.identity import MembershipLookup
from core.web import match_int, ok, require_member
from live.room.archive import Archive
from live.shows.service import ShowService

_SHOW = "/api/shops/{shop_id}/shows/{show_id}"


class RoomViews:
    def __init__(self, archive: Archive, shows: ShowService, membership: MembershipLookup) -> None:
        self.archive = archive
        self.shows = shows
        self.membership = membership

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get(_SHOW + "/timeline", self.timeline),
            web.get(_SHOW + "/chat.csv", self.chat_csv),
        ]

    async def _show(self, request: web.Request) -> dict[str, object]:
        shop_id = match_int(request, "shop_id")
        await require_member(request, self.membership, shop_id, None)
        return await self.shows.get(shop_id, match_int(request, "show_id"))

    async def timeline(self, request: web.Request) -> web.Response:
        show = await self._show(request)
        return ok({"events": await self.archive.timeline(int(str(show["id"])))})

    async def chat_csv(self, request: web.Request) -> web.Response:
        show = await self._show(request)
        if show["status"] != "ended":
            raise AppError(ErrorCode.CONFLICT, "the chat can be downloaded after the show ends")
        body = await self.archive.chat_csv(int(str(show["id"])))
        return web.Response(
            text=body,
            content_type="text/csv",
            charset="utf-8",
            headers={"Content-Disposition": f'attachment; filename="show-{show["id"]}-chat.csv"'},
        )
