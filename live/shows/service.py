"""Shows of a shop: create, read, edit, delete while scheduled, and the scheduled -> live -> ended
transitions. Lineup checks go through a catalog the composition root injects."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.db import utcnow
from core.errors import not_found
from live.shows import rules
from live.shows.models import Show, ShowProduct
from live.shows.rules import Status
from live.shows.schemas import ShowIn, ShowPatch


class Lineups(Protocol):
    async def check_lineup(
        self, shop_id: int, product_ids: Sequence[int], currency: str
    ) -> None: ...

    async def public_products(
        self, shop_id: int, product_ids: Sequence[int]
    ) -> dict[int, dict[str, Any]]: ...


def show_dict(show: Show) -> dict[str, Any]:
    return {
        "id": show.id,
        "shop_id": show.shop_id,
        "title": show.title,
        "description": show.description,
        "scheduled_at": show.scheduled_at,
        "currency": show.currency,
        "status": show.status,
        "started_at": show.started_at,
        "ended_at": show.ended_at,
        "playback_url": show.playback_url,
        "go_live_on_publish": show.go_live_on_publish,
        "end_on_stream_end": show.end_on_stream_end,
        "lineup": [entry.product_id for entry in show.lineup],
    }


class ShowService:
    def __init__(self, sessions: async_sessionmaker[Any], lineups: Lineups) -> None:
        self._sessions = sessions
        self._lineups = lineups

    async def _show(
        self, session: AsyncSession, shop_id: int | None, show_id: int, *, lock: bool = False
    ) -> Show:
        # lock: a row lock on PostgreSQL so concurrent edits and transitions serialise;
        # SQLite has a single writer anyway.
        show = await session.get(Show, show_id, with_for_update=lock)
        if show is None or (shop_id is not None and show.shop_id != shop_id):
            raise not_found("show")
        return show

    async def create(self, shop_id: int, data: ShowIn) -> dict[str, Any]:
        rules.check_schedule(data.scheduled_at, utcnow())
        await self._lineups.check_lineup(shop_id, data.lineup, data.currency)
        show = Show(
            shop_id=shop_id,
            title=data.title,
            description=data.description,
            scheduled_at=data.scheduled_at,
            currency=data.currency,
            status=Status.SCHEDULED.value,
            playback_url=data.playback_url,
            go_live_on_publish=data.go_live_on_publish,
            end_on_stream_end=data.end_on_stream_end,
        )
        show.lineup = [ShowProduct(product_id=p, position=i) for i, p in enumerate(data.lineup)]
        async with self._sessions.begin() as session:
            session.add(show)
        return show_dict(show)

    async def list(
        self, shop_id: int, status: str | None, limit: int, after: int
    ) -> dict[str, Any]:
        query = select(Show).where(Show.shop_id == shop_id, Show.id > after)
        if status == "upcoming":
            query = query.where(Show.status == Status.SCHEDULED.value)
        elif status is not None:
            query = query.where(Show.status == status)
        async with self._sessions() as session:
            rows = (await session.scalars(query.order_by(Show.id).limit(limit + 1))).all()
        page = rows[:limit]
        return {
            "shows": [show_dict(s) for s in page],
            "next_after": page[-1].id if len(rows) > limit else None,
        }

    async def get(self, shop_id: int, show_id: int) -> dict[str, Any]:
        async with self._sessions() as session:
            return show_dict(await self._show(session, shop_id, show_id))

    async def public(self, show_id: int) -> dict[str, Any]:
        """What the player shows before joining: the show and its lineup's public product data."""
        async with self._sessions() as session:
            show = await self._show(session, None, show_id)
        data = show_dict(show)
        products = await self._lineups.public_products(show.shop_id, data["lineup"])
        data["lineup"] = [products[p] for p in data["lineup"] if p in products]
        return data

    async def update(self, shop_id: int, show_id: int, patch: ShowPatch) -> dict[str, Any]:
        if patch.lineup is not None:
            # Checked before the transaction opens (a show's currency never changes), so the
            # row lock below is not held across another session's queries.
            async with self._sessions() as session:
                currency = (await self._show(session, shop_id, show_id)).currency
            await self._lineups.check_lineup(shop_id, patch.lineup, currency)
        async with self._sessions.begin() as session:
            show = await self._show(session, shop_id, show_id, lock=True)
            rules.check_edit(Status(show.status), set(patch.model_fields_set))
            if patch.scheduled_at is not None:
                rules.check_schedule(patch.scheduled_at, utcnow())
                show.scheduled_at = patch.scheduled_at
            if patch.lineup is not None:
                show.lineup = [
                    ShowProduct(product_id=p, position=i) for i, p in enumerate(patch.lineup)
                ]
            for name in (
                "title",
                "description",
                "playback_url",
                "go_live_on_publish",
                "end_on_stream_end",
            ):
                if name in patch.model_fields_set:
                    setattr(show, name, getattr(patch, name))
            show.updated_at = utcnow()
            await session.flush()
            return show_dict(show)

    async def delete(self, shop_id: int, show_id: int) -> None:
        async with self._sessions.begin() as session:
            show = await self._show(session, shop_id, show_id, lock=True)
            rules.check_delete(Status(show.status))
            await session.delete(show)

    async def transition(self, shop_id: int, show_id: int, target: Status) -> dict[str, Any]:
        async with self._sessions.begin() as session:
            show = await self._show(session, shop_id, show_id, lock=True)
            show.status = rules.transition(Status(show.status), target).value
            if target is Status.LIVE:
                show.started_at = utcnow()
            elif target is Status.ENDED:
                show.ended_at = utcnow()
            show.updated_at = utcnow()
            return show_dict(show)
