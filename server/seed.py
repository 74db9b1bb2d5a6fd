"""The demo: a shop with an owner and a host, eight products with variants and stock, and one
scheduled show with a lineup. Seeding twice changes nothing."""

from __future__ import annotations

import json
import os
import secrets
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker

from cart.catalog.schemas import ProductIn
from cart.catalog.service import CatalogService
from core.db import utcnow
from core.identity import Role
from live.shows.schemas import ShowIn
from live.shows.service import ShowService
from server.accounts.models import Account, Membership, Shop
from server.accounts.passwords import Passwords
from server.settings import Settings

OWNER_EMAIL = "owner@demo.liveshop.test"
HOST_EMAIL = "host@demo.liveshop.test"

SIZES = ["S", "M", "L"]
DEMO_PRODUCTS: list[dict[str, Any]] = [
    {"title": "Blue Silk Scarf", "price": 3900, "options": [{"colour": "Blue"}]},
    {"title": "Linen Shirt", "price": 5900, "options": [{"size": s} for s in SIZES]},
    {"title": "Canvas Tote", "price": 2400, "options": [{"colour": c} for c in ("Sand", "Navy")]},
    {"title": "Leather Belt", "price": 4500, "options": [{"size": s} for s in ("85", "95")]},
    {"title": "Wool Beanie", "price": 2200, "options": [{"colour": c} for c in ("Grey", "Red")]},
    {"title": "Ceramic Mug", "price": 1800, "options": [{}]},
    {"title": "Denim Jacket", "price": 8900, "options": [{"size": s} for s in SIZES]},
    {
        "title": "Sunglasses",
        "price": 6500,
        "options": [{"frame": f} for f in ("Black", "Tortoise")],
    },
]


def _slug(title: str) -> str:
    return title.lower().replace(" ", "-")


def demo_products(base_url: str) -> list[ProductIn]:
    products = []
    for n, item in enumerate(DEMO_PRODUCTS):
        slug = _slug(item["title"])
        variants = [
            {"sku": f"DEMO-{n + 1:02d}-{i + 1}", "options": opts, "stock": 25 + 5 * i}
            for i, opts in enumerate(item["options"])
        ]
        products.append(
            ProductIn.model_validate(
                {
                    "title": item["title"],
                    "description": f"The demo shop's {item['title'].lower()}.",
                    "image_url": f"{base_url}/static/player/demo/{slug}.svg",
                    "currency": "EUR",
                    "price": item["price"],
                    "variants": variants,
                }
            )
        )
    return products


async def seed_demo(
    sessions: async_sessionmaker[Any], settings: Settings, passwords: Passwords
) -> dict[str, Any]:
    """Create the demo once; answer what exists either way (ids, URLs, logins)."""
    creds_path = settings.data_dir / "demo-login.json"
    async with sessions() as session:
        owner = await session.scalar(select(Account).where(Account.email == OWNER_EMAIL))
    if owner is None:
        info = await _create(sessions, settings, passwords, creds_path)
        return {**info, "created": True}
    if creds_path.exists():
        return {**json.loads(creds_path.read_text()), "created": False}
    return {"created": False, "owner": {"email": OWNER_EMAIL, "password": None}}


async def _create(
    sessions: async_sessionmaker[Any], settings: Settings, passwords: Passwords, creds_path: Path
) -> dict[str, Any]:
    """The shop, catalog and show first; the accounts last, as the marker that seeding is done.

    A crash part-way leaves at most an unused shop, and the next run seeds again. The logins
    are written to disk before the accounts commit, so no committed account has a lost password.
    """
    logins = {
        "owner": {"email": OWNER_EMAIL, "password": secrets.token_urlsafe(9)},
        "host": {"email": HOST_EMAIL, "password": secrets.token_urlsafe(9)},
    }
    async with sessions.begin() as session:
        shop = Shop(name="Demo Boutique")
        session.add(shop)
    catalog = CatalogService(sessions)
    product_ids = [
        (await catalog.create(shop.id, p))["id"] for p in demo_products(settings.base_url)
    ]
    shows = ShowService(sessions, lineups=catalog)
    show = await shows.create(
        shop.id,
        ShowIn.model_validate(
            {
                "title": "Autumn Essentials Live",
                "description": "Scarves, shirts and jackets for the cold months, with flash deals.",
                "scheduled_at": (utcnow() + timedelta(hours=1)).replace(microsecond=0).isoformat(),
                "currency": "EUR",
                "lineup": product_ids,
            }
        ),
    )
    info = {"shop_id": shop.id, "show_id": show["id"], **logins}
    hashes = {role: await passwords.hash(login["password"]) for role, login in logins.items()}
    async with sessions.begin() as session:
        for role, login in logins.items():
            account = Account(
                email=login["email"],
                password_hash=hashes[role],
                display_name=f"Demo {role.title()}",
            )
            session.add(account)
            await session.flush()
            session.add(Membership(shop_id=shop.id, account_id=account.id, role=Role(role).value))
        await session.flush()
        creds_path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(creds_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(info, fh, indent=2)
    return info
