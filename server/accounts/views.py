"""HTTP routes for sign-up, log-in, guests, shops, members and invites. Thin: parse, check, call."""

from __future__ import annotations

import ipaddress

from aiohttp import web

from core.identity import Role
from core.web import (
    match_int,
    ok,
    read_json,
    require_account,
    require_member,
    require_principal,
)
from server.accounts import schemas
from server.accounts.service import AuthService, identity_dict
from server.accounts.shops import ShopService
from server.settings import IPNetwork

OWNERS = frozenset({Role.OWNER})


def client_ip(request: web.Request, trusted: tuple[IPNetwork, ...]) -> str:
    """The peer address, or the last hop a trusted proxy reports in X-Forwarded-For."""
    remote = request.remote or "unknown"
    forwarded = request.headers.get("X-Forwarded-For")
    if not forwarded or not trusted:
        return remote
    try:
        peer = ipaddress.ip_address(remote)
    except ValueError:
        return remote
    if any(peer in net for net in trusted):
        return forwarded.split(",")[-1].strip() or remote
    return remote


class AccountViews:
    def __init__(
        self, auth: AuthService, shops: ShopService, trusted: tuple[IPNetwork, ...]
    ) -> None:
        self.auth = auth
        self.shops = shops
        self.trusted = trusted

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/api/auth/signup", self.sign_up),
            web.post("/api/auth/login", self.log_in),
            web.post("/api/viewers", self.new_guest),
            web.get("/api/me", self.me),
            web.post("/api/shops", self.create_shop),
            web.get("/api/shops", self.my_shops),
            web.get("/api/shops/{shop_id}", self.get_shop),
            web.get("/api/shops/{shop_id}/members", self.members),
            web.patch("/api/shops/{shop_id}/members/{account_id}", self.change_role),
            web.delete("/api/shops/{shop_id}/members/{account_id}", self.remove_member),
            web.post("/api/shops/{shop_id}/invites", self.invite),
            web.post("/api/invites/accept", self.accept_invite),
        ]

    async def sign_up(self, request: web.Request) -> web.Response:
        body = await read_json(request, schemas.SignUp)
        ip = client_ip(request, self.trusted)
        data = await self.auth.sign_up(body.email, body.password, body.display_name, ip)
        return ok(data, 201)

    async def log_in(self, request: web.Request) -> web.Response:
        body = await read_json(request, schemas.LogIn)
        ip = client_ip(request, self.trusted)
        return ok(await self.auth.log_in(body.email, body.password, ip))

    async def new_guest(self, request: web.Request) -> web.Response:
        body = await read_json(request, schemas.NewGuest)
        ip = client_ip(request, self.trusted)
        return ok(await self.auth.new_guest(body.display_name, ip), 201)

    async def me(self, request: web.Request) -> web.Response:
        principal = require_principal(request)
        data = identity_dict(principal)
        if principal.account_id is not None:
            data["shops"] = await self.shops.mine(principal.account_id)
        return ok(data)

    async def create_shop(self, request: web.Request) -> web.Response:
        principal = require_account(request)
        body = await read_json(request, schemas.NewShop)
        assert principal.account_id is not None
        return ok(await self.shops.create(principal.account_id, body.name), 201)

    async def my_shops(self, request: web.Request) -> web.Response:
        principal = require_account(request)
        assert principal.account_id is not None
        return ok({"shops": await self.shops.mine(principal.account_id)})

    async def get_shop(self, request: web.Request) -> web.Response:
        shop_id = match_int(request, "shop_id")
        _, role = await require_member(request, self.shops.role_in, shop_id)
        return ok(await self.shops.get(shop_id, role))

    async def members(self, request: web.Request) -> web.Response:
        shop_id = match_int(request, "shop_id")
        await require_member(request, self.shops.role_in, shop_id)
        return ok({"members": await self.shops.members(shop_id)})

    async def change_role(self, request: web.Request) -> web.Response:
        shop_id = match_int(request, "shop_id")
        account_id = match_int(request, "account_id")
        await require_member(request, self.shops.role_in, shop_id, OWNERS)
        body = await read_json(request, schemas.ChangeRole)
        await self.shops.set_role(shop_id, account_id, body.role)
        return ok({"account_id": account_id, "role": body.role.value})

    async def remove_member(self, request: web.Request) -> web.Response:
        shop_id = match_int(request, "shop_id")
        account_id = match_int(request, "account_id")
        principal, _ = await require_member(request, self.shops.role_in, shop_id)
        if account_id != principal.account_id:
            # Anyone may leave; only owners remove others.
            await require_member(request, self.shops.role_in, shop_id, OWNERS)
        await self.shops.set_role(shop_id, account_id, None)
        return web.Response(status=204)

    async def invite(self, request: web.Request) -> web.Response:
        shop_id = match_int(request, "shop_id")
        principal, _ = await require_member(request, self.shops.role_in, shop_id, OWNERS)
        body = await read_json(request, schemas.NewInvite)
        assert principal.account_id is not None
        invite = await self.shops.invite(shop_id, principal.account_id, body.email, body.role)
        return ok(invite, 201)

    async def accept_invite(self, request: web.Request) -> web.Response:
        principal = require_account(request)
        body = await read_json(request, schemas.AcceptInvite)
        assert principal.account_id is not None
        return ok(await self.shops.accept(principal.account_id, body.code))
