"""Shops, their members and invitations. Owners invite; an invitee accepts with a one-time code."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.db import utcnow
from core.errors import AppError, ErrorCode, not_found
from core.identity import Role
from server.accounts.models import Account, Invite, Membership, Shop
from server.accounts.service import normalize_email

INVITE_TTL = timedelta(days=7)


def _hash_code(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def shop_dict(shop: Shop, role: str | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {"id": shop.id, "name": shop.name, "created_at": shop.created_at}
    if role is not None:
        data["role"] = role
    return data


class ShopService:
    def __init__(self, sessions: async_sessionmaker[Any]) -> None:
        self._sessions = sessions

    async def role_in(self, shop_id: int, account_id: int) -> Role | None:
        async with self._sessions() as session:
            role = await session.scalar(
                select(Membership.role).where(
                    Membership.shop_id == shop_id, Membership.account_id == account_id
                )
            )
        return Role(role) if role is not None else None

    async def create(self, owner_id: int, name: str) -> dict[str, Any]:
        async with self._sessions.begin() as session:
            shop = Shop(name=name)
            session.add(shop)
            await session.flush()
            session.add(Membership(shop_id=shop.id, account_id=owner_id, role=Role.OWNER.value))
        return shop_dict(shop, Role.OWNER.value)

    async def mine(self, account_id: int) -> list[dict[str, Any]]:
        async with self._sessions() as session:
            rows = await session.execute(
                select(Shop, Membership.role)
                .join(Membership, Membership.shop_id == Shop.id)
                .where(Membership.account_id == account_id)
                .order_by(Shop.id)
            )
            return [shop_dict(shop, role) for shop, role in rows]

    async def get(self, shop_id: int, role: Role) -> dict[str, Any]:
        async with self._sessions() as session:
            shop = await session.get(Shop, shop_id)
        if shop is None:
            raise not_found("shop")
        return shop_dict(shop, role.value)

    async def members(self, shop_id: int) -> list[dict[str, Any]]:
        async with self._sessions() as session:
            rows = await session.execute(
                select(Account.id, Account.email, Account.display_name, Membership.role)
                .join(Membership, Membership.account_id == Account.id)
                .where(Membership.shop_id == shop_id)
                .order_by(Account.id)
            )
            return [
                {"account_id": i, "email": e, "display_name": d, "role": r} for i, e, d, r in rows
            ]

    async def invite(self, shop_id: int, inviter_id: int, email: str, role: Role) -> dict[str, Any]:
        code = secrets.token_urlsafe(24)
        invite = Invite(
            shop_id=shop_id,
            email=normalize_email(email),
            role=role.value,
            code_hash=_hash_code(code),
            invited_by=inviter_id,
            expires_at=utcnow() + INVITE_TTL,
        )
        async with self._sessions.begin() as session:
            session.add(invite)
        # The code is shown once, to the owner, who passes it on; it is not stored in clear.
        return {
            "id": invite.id,
            "email": invite.email,
            "role": invite.role,
            "code": code,
            "expires_at": invite.expires_at,
        }

    async def accept(self, account_id: int, code: str) -> dict[str, Any]:
        async with self._sessions.begin() as session:
            invite = await session.scalar(
                select(Invite).where(Invite.code_hash == _hash_code(code)).with_for_update()
            )
            account = await session.get(Account, account_id)
            if (
                invite is None
                or account is None
                or invite.accepted_at is not None
                or invite.expires_at < utcnow()
                or invite.email != account.email
            ):
                raise AppError(ErrorCode.NOT_FOUND, "invite not found, used or expired")
            await _lock_shop(session, invite.shop_id)
            member = await session.get(Membership, (invite.shop_id, account_id))
            if member is None:
                session.add(
                    Membership(shop_id=invite.shop_id, account_id=account_id, role=invite.role)
                )
            else:
                # An invite to an existing member changes their role, never to an ownerless shop.
                await _keep_an_owner(session, member, Role(invite.role))
                member.role = invite.role
            invite.accepted_at = utcnow()
            shop = await session.get(Shop, invite.shop_id)
            assert shop is not None
            return shop_dict(shop, invite.role)

    async def set_role(self, shop_id: int, account_id: int, role: Role | None) -> None:
        """Change a member's role, or remove them (role None). A shop keeps at least one owner."""
        async with self._sessions.begin() as session:
            await _lock_shop(session, shop_id)
            member = await session.get(Membership, (shop_id, account_id))
            if member is None:
                raise not_found("member")
            await _keep_an_owner(session, member, role)
            if role is None:
                await session.delete(member)
                # Pending invites stay valid only while their sender can still vouch for them.
                await session.execute(
                    delete(Invite).where(
                        Invite.shop_id == shop_id,
                        Invite.invited_by == account_id,
                        Invite.accepted_at.is_(None),
                    )
                )
            else:
                member.role = role.value


async def _lock_shop(session: AsyncSession, shop_id: int) -> None:
    """Serialise membership changes of one shop (row lock on PostgreSQL; SQLite has one writer)."""
    await session.execute(select(Shop.id).where(Shop.id == shop_id).with_for_update())


async def _keep_an_owner(session: AsyncSession, member: Membership, new_role: Role | None) -> None:
    """Refuse to take the owner role from a shop's last owner (the caller holds the shop lock)."""
    if member.role != Role.OWNER.value or new_role == Role.OWNER:
        return
    owners = (
        await session.scalars(
            select(Membership.account_id).where(
                Membership.shop_id == member.shop_id, Membership.role == Role.OWNER.value
            )
        )
    ).all()
    if len(owners) <= 1:
        raise AppError(ErrorCode.CONFLICT, "a shop needs at least one owner")
