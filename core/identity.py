"""Who is making a request: a signed-in account or a guest viewer."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal, Protocol

PrincipalKind = Literal["account", "guest"]


@dataclass(frozen=True, slots=True)
class Principal:
    kind: PrincipalKind
    # Stable subject string: "a:<account id>" or "g:<guest id>"; carts and orders key on it.
    subject: str
    display_name: str
    account_id: int | None = None

    @property
    def is_account(self) -> bool:
        return self.kind == "account"


class Role(StrEnum):
    """A member's role in a shop. Owners manage members; hosts run shows; moderators moderate."""

    OWNER = "owner"
    HOST = "host"
    MODERATOR = "moderator"


# Who may change a shop's catalog and shows.
MANAGERS = frozenset({Role.OWNER, Role.HOST})
EVERY_ROLE = frozenset(Role)


class MembershipLookup(Protocol):
    """The caller's role in a shop, or None when they are not a member (server injects it)."""

    async def __call__(self, shop_id: int, account_id: int) -> Role | None: ...
