"""The stream-key routes (owners and hosts) and nginx-rtmp's publish callbacks.

Callbacks are accepted only from INGEST_ALLOWED_NETWORKS (the TCP peer, never a forwarded
header) and, when INGEST_SECRET is set, only under /api/ingest/{secret}/... (nginx-rtmp sends no
custom headers, so the secret travels in the configured callback path; compared in constant
time, and the access log hides it). Refused: 403, logged without the key.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from core.errors import ErrorCode
from core.identity import MANAGERS, MembershipLookup
from core.web import match_int, ok, require_member
from live.ingest import rules
from live.ingest.service import IngestService, Refused

log = logging.getLogger(__name__)

_STREAM = "/api/shops/{shop_id}/shows/{show_id}/stream"
CALLS = ("publish", "publish_done", "update", "push")
Networks = tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]


class IngestViews:
    def __init__(
        self,
        ingest: IngestService,
        membership: MembershipLookup,
        networks: Networks,
        secret: str | None,
    ) -> None:
        self.ingest = ingest
        self.membership = membership
        self.networks = networks
        self.secret = secret

    def routes(self) -> list[web.RouteDef]:
        routes = [
            web.get(_STREAM, self.credentials),
            web.post(_STREAM + "/rotate", self.rotate),
        ]
        for call in CALLS:
            routes.append(web.post(f"/api/ingest/{call}", self.callback(call, False)))
            routes.append(web.post(f"/api/ingest/{{secret}}/{call}", self.callback(call, True)))
        return routes

    async def _shop(self, request: web.Request) -> int:
        shop_id = match_int(request, "shop_id")
        await require_member(request, self.membership, shop_id, MANAGERS)
        return shop_id

    async def credentials(self, request: web.Request) -> web.Response:
        shop_id = await self._shop(request)
        return ok(await self.ingest.credentials(shop_id, match_int(request, "show_id")))

    async def rotate(self, request: web.Request) -> web.Response:
        shop_id = await self._shop(request)
        return ok(await self.ingest.rotate(shop_id, match_int(request, "show_id")))

    def _authentic(self, request: web.Request, with_secret: bool) -> bool:
        peer = request.transport.get_extra_info("peername") if request.transport else None
        addr = peer[0] if isinstance(peer, tuple) and peer else None
        if not rules.peer_allowed(addr, self.networks):
            return False
        if self.secret is None:
            return not with_secret
        given = request.match_info.get("secret", "") if with_secret else ""
        return hmac.compare_digest(given.encode(), self.secret.encode())

    def callback(
        self, call: str, with_secret: bool
    ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def handle(request: web.Request) -> web.StreamResponse:
            peer = request.transport.get_extra_info("peername") if request.transport else None
            addr = str(peer[0]) if isinstance(peer, tuple) and peer else "unknown"
            if not self._authentic(request, with_secret):
                log.warning("ingest callback refused", extra={"call": call, "peer": addr})
                return _refuse("callback not from the media server")
            form = await request.post()
            name = str(form.get("name", ""))
            client = str(form.get("clientid", ""))
            if call != "publish" and rules.from_relay(str(form.get("addr", ""))):
                return web.Response(status=204)
            try:
                if call == "publish":
                    public = await self.ingest.publish(name, client)
                    # nginx-rtmp publishes under the Location's name: HLS files get the
                    # public name, never the key.
                    return web.Response(status=302, headers={"Location": public})
                if call == "push":
                    await self.ingest.push(name)
                elif call == "update":
                    await self.ingest.update(name, client)
                else:
                    await self.ingest.publish_done(name, client)
            except Refused as refused:
                log.warning(
                    "ingest publish refused",
                    extra={
                        "call": call,
                        "reason": refused.reason,
                        "show_id": refused.show_id,
                        "client_addr": str(form.get("addr", "")),
                    },
                )
                return _refuse(refused.reason)
            return web.Response(status=204)

        return handle


def _refuse(reason: str) -> web.Response:
    body = {"error": {"code": ErrorCode.FORBIDDEN.value, "message": reason}}
    return web.json_response(body, status=403)
