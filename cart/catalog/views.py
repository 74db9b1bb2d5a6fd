"""Catalog routes for shop members. Reading needs membership; changing needs owner or host."""

from __future__ import annotations

from aiohttp import web

from cart.catalog import schemas
from cart.catalog.rules import parse_csv, parse_json_products
from cart.catalog.service import CatalogService
from core.errors import AppError, ErrorCode
from core.identity import MANAGERS, MembershipLookup
from core.web import match_int, ok, parse_query, read_json, require_member

_PRODUCT = "/api/shops/{shop_id}/products/{product_id}"


class CatalogViews:
    def __init__(self, catalog: CatalogService, membership: MembershipLookup) -> None:
        self.catalog = catalog
        self.membership = membership

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/api/shops/{shop_id}/products", self.list),
            web.post("/api/shops/{shop_id}/products", self.create),
            web.post("/api/shops/{shop_id}/products/import", self.import_),
            web.get(_PRODUCT, self.get),
            web.patch(_PRODUCT, self.update),
            web.delete(_PRODUCT, self.delete),
            web.post(_PRODUCT + "/variants", self.add_variant),
            web.patch(_PRODUCT + "/variants/{variant_id}", self.update_variant),
            web.delete(_PRODUCT + "/variants/{variant_id}", self.delete_variant),
        ]

    async def _shop(self, request: web.Request, write: bool = False) -> int:
        shop_id = match_int(request, "shop_id")
        if write:
            await require_member(request, self.membership, shop_id, MANAGERS)
        else:
            await require_member(request, self.membership, shop_id)
        return shop_id

    async def list(self, request: web.Request) -> web.Response:
        shop_id = await self._shop(request)
        query = parse_query(request, schemas.ProductQuery)
        return ok(await self.catalog.list(shop_id, query.limit, query.after))

    async def create(self, request: web.Request) -> web.Response:
        shop_id = await self._shop(request, write=True)
        body = await read_json(request, schemas.ProductIn)
        return ok(await self.catalog.create(shop_id, body), 201)

    async def get(self, request: web.Request) -> web.Response:
        shop_id = await self._shop(request)
        return ok(await self.catalog.get(shop_id, match_int(request, "product_id")))

    async def update(self, request: web.Request) -> web.Response:
        shop_id = await self._shop(request, write=True)
        body = await read_json(request, schemas.ProductPatch)
        return ok(await self.catalog.update(shop_id, match_int(request, "product_id"), body))

    async def delete(self, request: web.Request) -> web.Response:
        shop_id = await self._shop(request, write=True)
        await self.catalog.delete(shop_id, match_int(request, "product_id"))
        return web.Response(status=204)

    async def add_variant(self, request: web.Request) -> web.Response:
        shop_id = await self._shop(request, write=True)
        body = await read_json(request, schemas.VariantIn)
        product_id = match_int(request, "product_id")
        return ok(await self.catalog.add_variant(shop_id, product_id, body), 201)

    async def update_variant(self, request: web.Request) -> web.Response:
        shop_id = await self._shop(request, write=True)
        body = await read_json(request, schemas.VariantPatch)
        ids = match_int(request, "product_id"), match_int(request, "variant_id")
        return ok(await self.catalog.update_variant(shop_id, *ids, body))

    async def delete_variant(self, request: web.Request) -> web.Response:
        shop_id = await self._shop(request, write=True)
        ids = match_int(request, "product_id"), match_int(request, "variant_id")
        await self.catalog.delete_variant(shop_id, *ids)
        return web.Response(status=204)

    async def import_(self, request: web.Request) -> web.Response:
        """CSV (one row per variant, grouped by handle) or JSON {"products": [...]}."""
        shop_id = await self._shop(request, write=True)
        if request.content_type == "text/csv":
            try:
                text = (await request.read()).decode("utf-8-sig")
            except UnicodeDecodeError:
                raise AppError(ErrorCode.VALIDATION_ERROR, "CSV must be UTF-8") from None
            plan = parse_csv(text)
        elif request.content_type == "application/json":
            body = await read_json(request, schemas.JsonImport)
            plan = parse_json_products(body.products)
        else:
            raise AppError(ErrorCode.UNSUPPORTED_MEDIA_TYPE, "send text/csv or application/json")
        if plan.errors:
            raise AppError(
                ErrorCode.IMPORT_FAILED,
                "nothing was imported: fix these rows",
                details=[e.to_dict() for e in plan.errors],
            )
        return ok(await self.catalog.import_products(shop_id, plan), 201)
