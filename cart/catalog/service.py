"""Catalog storage: products and variants of one shop. Every query is scoped by shop id."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cart.catalog.models import Product, Variant
from cart.catalog.rules import ParsedImport, RowError, repeated_skus
from cart.catalog.schemas import ProductIn, ProductPatch, VariantIn, VariantPatch
from core.db import utcnow
from core.errors import AppError, ErrorCode, not_found


def variant_dict(v: Variant, product: Product) -> dict[str, Any]:
    return {
        "id": v.id,
        "sku": v.sku,
        "options": v.options,
        "price": v.price if v.price is not None else product.price,
        "price_override": v.price,
        "stock": v.stock,
        "deleted": v.deleted_at is not None,
    }


def product_dict(p: Product) -> dict[str, Any]:
    return {
        "id": p.id,
        "shop_id": p.shop_id,
        "title": p.title,
        "description": p.description,
        "image_url": p.image_url,
        "currency": p.currency,
        "price": p.price,
        "variants": [variant_dict(v, p) for v in p.variants if v.deleted_at is None],
        "created_at": p.created_at,
        "updated_at": p.updated_at,
        "deleted": p.deleted_at is not None,
    }


def public_product_dict(p: Product) -> dict[str, Any]:
    """What a viewer may see: no stock of record, no timestamps."""
    return {
        "id": p.id,
        "title": p.title,
        "description": p.description,
        "image_url": p.image_url,
        "currency": p.currency,
        "price": p.price,
        "variants": [
            {
                "id": v.id,
                "sku": v.sku,
                "options": v.options,
                "price": v.price if v.price is not None else p.price,
                "in_stock": v.stock > 0,
            }
            for v in p.variants
            if v.deleted_at is None
        ],
    }


def _new_product(shop_id: int, data: ProductIn) -> Product:
    product = Product(
        shop_id=shop_id,
        title=data.title,
        description=data.description,
        image_url=str(data.image_url) if data.image_url else None,
        currency=data.currency,
        price=data.price,
    )
    product.variants = [_new_variant(shop_id, v) for v in data.variants]
    return product


def _new_variant(shop_id: int, data: VariantIn) -> Variant:
    return Variant(
        shop_id=shop_id, sku=data.sku, options=data.options, price=data.price, stock=data.stock
    )


# Bound parameters per IN (...) query: SQLite and asyncpg both cap them.
_IN_CHUNK = 500


class CatalogService:
    def __init__(self, sessions: async_sessionmaker[Any]) -> None:
        self._sessions = sessions

    async def _taken_skus(
        self, session: AsyncSession, shop_id: int, skus: Sequence[str]
    ) -> set[str]:
        taken: set[str] = set()
        for start in range(0, len(skus), _IN_CHUNK):
            chunk = list(skus[start : start + _IN_CHUNK])
            rows = await session.scalars(
                select(Variant.sku).where(Variant.shop_id == shop_id, Variant.sku.in_(chunk))
            )
            taken.update(rows)
        return taken

    async def create(self, shop_id: int, data: ProductIn) -> dict[str, Any]:
        skus = [v.sku for v in data.variants]
        for i, sku in repeated_skus(skus):
            raise AppError(
                ErrorCode.DUPLICATE_SKU, f"SKU {sku!r} is repeated", field=f"variants.{i}.sku"
            )
        async with self._sessions.begin() as session:
            taken = await self._taken_skus(session, shop_id, skus)
            if taken:
                i = next(i for i, s in enumerate(skus) if s in taken)
                raise AppError(
                    ErrorCode.DUPLICATE_SKU,
                    f"SKU {skus[i]!r} already exists",
                    field=f"variants.{i}.sku",
                )
            product = _new_product(shop_id, data)
            session.add(product)
            await self._flush_unique(session)
        return product_dict(product)

    async def _flush_unique(self, session: AsyncSession) -> None:
        # The pre-check answers precisely; the constraint still decides under concurrent writes.
        try:
            await session.flush()
        except IntegrityError:
            raise AppError(
                ErrorCode.DUPLICATE_SKU, "a SKU in this request already exists", field="sku"
            ) from None

    async def list(self, shop_id: int, limit: int, after: int) -> dict[str, Any]:
        async with self._sessions() as session:
            rows = (
                await session.scalars(
                    select(Product)
                    .where(
                        Product.shop_id == shop_id, Product.deleted_at.is_(None), Product.id > after
                    )
                    .order_by(Product.id)
                    .limit(limit + 1)
                )
            ).all()
        page = rows[:limit]
        return {
            "products": [product_dict(p) for p in page],
            "next_after": page[-1].id if len(rows) > limit else None,
        }

    async def _product(
        self, session: AsyncSession, shop_id: int, product_id: int, *, lock: bool = False
    ) -> Product:
        # lock: a row lock on PostgreSQL so concurrent edits of one product serialise.
        product = await session.get(Product, product_id, with_for_update=lock)
        if product is None or product.shop_id != shop_id:
            raise not_found("product")
        return product

    async def get(self, shop_id: int, product_id: int) -> dict[str, Any]:
        async with self._sessions() as session:
            return product_dict(await self._product(session, shop_id, product_id))

    async def update(self, shop_id: int, product_id: int, patch: ProductPatch) -> dict[str, Any]:
        async with self._sessions.begin() as session:
            product = await self._product(session, shop_id, product_id, lock=True)
            if product.deleted_at is not None:
                raise not_found("product")
            for name in patch.model_fields_set:
                value = getattr(patch, name)
                setattr(product, name, str(value) if name == "image_url" and value else value)
            product.updated_at = utcnow()
        return product_dict(product)

    async def delete(self, shop_id: int, product_id: int) -> None:
        async with self._sessions.begin() as session:
            product = await self._product(session, shop_id, product_id, lock=True)
            if product.deleted_at is None:
                product.deleted_at = utcnow()

    async def add_variant(self, shop_id: int, product_id: int, data: VariantIn) -> dict[str, Any]:
        async with self._sessions.begin() as session:
            product = await self._product(session, shop_id, product_id, lock=True)
            if product.deleted_at is not None:
                raise not_found("product")
            if await self._taken_skus(session, shop_id, [data.sku]):
                raise AppError(
                    ErrorCode.DUPLICATE_SKU, f"SKU {data.sku!r} already exists", field="sku"
                )
            variant = _new_variant(shop_id, data)
            variant.product = product
            session.add(variant)
            await self._flush_unique(session)
            return variant_dict(variant, product)

    async def _variant(
        self, session: AsyncSession, shop_id: int, product_id: int, variant_id: int
    ) -> Variant:
        variant = await session.get(Variant, variant_id)
        if (
            variant is None
            or variant.product_id != product_id
            or variant.shop_id != shop_id
            or variant.deleted_at is not None
        ):
            raise not_found("variant")
        return variant

    async def update_variant(
        self, shop_id: int, product_id: int, variant_id: int, patch: VariantPatch
    ) -> dict[str, Any]:
        async with self._sessions.begin() as session:
            variant = await self._variant(session, shop_id, product_id, variant_id)
            if (
                "sku" in patch.model_fields_set
                and patch.sku != variant.sku
                and await self._taken_skus(session, shop_id, [patch.sku or ""])
            ):
                raise AppError(
                    ErrorCode.DUPLICATE_SKU, f"SKU {patch.sku!r} already exists", field="sku"
                )
            for name in patch.model_fields_set:
                setattr(variant, name, getattr(patch, name))
            await self._flush_unique(session)
            return variant_dict(variant, await self._product(session, shop_id, product_id))

    async def delete_variant(self, shop_id: int, product_id: int, variant_id: int) -> None:
        async with self._sessions.begin() as session:
            product = await self._product(session, shop_id, product_id, lock=True)
            variant = await self._variant(session, shop_id, product_id, variant_id)
            live = [v for v in product.variants if v.deleted_at is None]
            if len(live) == 1:
                raise AppError(ErrorCode.CONFLICT, "a product keeps at least one variant")
            variant.deleted_at = utcnow()

    async def import_products(self, shop_id: int, plan: ParsedImport) -> dict[str, Any]:
        """All or nothing: any SKU already in the shop fails the import with a row report."""
        products = plan.products
        skus = [
            (r, v.sku)
            for p, p_rows in zip(products, plan.rows, strict=True)
            for r, v in zip(p_rows, p.variants, strict=True)
        ]
        async with self._sessions.begin() as session:
            taken = await self._taken_skus(session, shop_id, [s for _, s in skus])
            if taken:
                errors = [
                    RowError(row, "sku", f"SKU {sku!r} already exists").to_dict()
                    for row, sku in skus
                    if sku in taken
                ]
                raise AppError(
                    ErrorCode.IMPORT_FAILED, "nothing was imported: fix these rows", details=errors
                )
            created = [_new_product(shop_id, p) for p in products]
            session.add_all(created)
            await self._flush_unique(session)
        return {"imported": len(created), "product_ids": [p.id for p in created]}

    # Used by shows (injected by server): lineups are products of the show's shop.

    async def check_lineup(self, shop_id: int, product_ids: Sequence[int], currency: str) -> None:
        async with self._sessions() as session:
            found = {
                p.id: p
                for p in await session.scalars(
                    select(Product).where(Product.id.in_(list(product_ids)))
                )
            }
        for i, pid in enumerate(product_ids):
            p = found.get(pid)
            if p is None or p.shop_id != shop_id or p.deleted_at is not None:
                raise AppError(
                    ErrorCode.VALIDATION_ERROR,
                    f"product {pid} is not in this shop's catalog",
                    field=f"lineup.{i}",
                )
            if p.currency != currency:
                raise AppError(
                    ErrorCode.VALIDATION_ERROR,
                    f"product {pid} is priced in {p.currency}, the show in {currency}",
                    field=f"lineup.{i}",
                )

    async def public_products(
        self, shop_id: int, product_ids: Sequence[int]
    ) -> dict[int, dict[str, Any]]:
        """The shop's live products among these ids; deleted ones no longer show in a lineup."""
        async with self._sessions() as session:
            rows = await session.scalars(
                select(Product).where(
                    Product.id.in_(list(product_ids)),
                    Product.shop_id == shop_id,
                    Product.deleted_at.is_(None),
                )
            )
            return {p.id: public_product_dict(p) for p in rows}
