"""Rules of the live room, without I/O: event payloads, who may do what, chat text, blocked
words, flash-deal terms and the question ranking."""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from core.db import MAX_ID
from core.errors import AppError, ErrorCode
from core.identity import MANAGERS, Role
from core.text import plain_text

# Who may do what in a show's room (the show's shop roles).
STAFF = frozenset({Role.OWNER, Role.HOST, Role.MODERATOR})
HOSTS = MANAGERS  # go live and end the show

MAX_PINS = 3
CHAT_MAX = 500
QUESTION_MAX = 300
ANNOUNCEMENT_MAX = 300
RECENT_CHAT = 50
TOP_QUESTIONS = 20
MAX_DEAL_SECONDS = 24 * 3600
MAX_BLOCKED_WORDS = 500
QUESTION_RATE = (3, 60)  # questions per viewer per window (seconds)
REACTION_RATE = (20, 1)  # reaction events per viewer per second

Id = Annotated[int, Field(ge=1, le=MAX_ID, strict=True)]
# "a:<account id>" or "g:<guest id>", as tokens carry them.
Subject = Annotated[
    str, StringConstraints(pattern=r"^(a:[1-9][0-9]{0,17}|g:[0-9a-f]{32})$", strict=True)
]


class _Event(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Join(_Event):
    show_id: Id
    # The last seq the client saw and its epoch, to receive what it missed instead of a
    # snapshot. A seq without its epoch, or of another epoch, gets a snapshot.
    since: Annotated[int, Field(ge=0, le=MAX_ID, strict=True)] | None = None
    epoch: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{1,32}$", strict=True)] | None = None


class Empty(_Event):
    pass


class Chat(_Event):
    text: Annotated[str, plain_text(CHAT_MAX)]


class Ask(_Event):
    text: Annotated[str, plain_text(QUESTION_MAX)]


class Vote(_Event):
    question_id: Id


class CloseQuestion(_Event):
    question_id: Id
    status: Literal["answered", "dismissed"]


class React(_Event):
    count: Annotated[int, Field(ge=1, le=50, strict=True)] = 1


class Deal(_Event):
    price: Annotated[int, Field(ge=0, le=10**12, strict=True)]
    units: Annotated[int, Field(ge=1, le=1_000_000, strict=True)]
    per_buyer: Annotated[int, Field(ge=1, le=1_000_000, strict=True)]
    ends_at_ms: Annotated[int, Field(ge=0, le=2**53, strict=True)]


class Pin(_Event):
    product_id: Id
    deal: Deal | None = None


class Unpin(_Event):
    product_id: Id


class DeleteMessage(_Event):
    message_id: Id


class Timeout(_Event):
    subject: Subject
    minutes: Annotated[int, Field(ge=1, le=7 * 24 * 60, strict=True)]


class Ban(_Event):
    subject: Subject


class Announce(_Event):
    # The console writes it in a text area; None clears it.
    text: Annotated[str, plain_text(ANNOUNCEMENT_MAX, multiline=True)] | None


class SlowMode(_Event):
    seconds: Annotated[int, Field(ge=0, le=3600, strict=True)]


class BlockedWords(_Event):
    words: Annotated[
        list[Annotated[str, plain_text(50)]],
        Field(max_length=MAX_BLOCKED_WORDS),
    ]

    @field_validator("words")
    @classmethod
    def _words(cls, value: list[str]) -> list[str]:
        out: list[str] = []
        for word in value:
            folded = fold(word)
            if not folded or words_of(folded) != [folded]:
                raise ValueError(f"{word!r} is not a single word")
            if folded not in out:
                out.append(folded)
        return out


def fold(text: str) -> str:
    """NFKC, case-folded, without invisible format characters (zero-width spaces and joiners),
    so "SC\u200bAM" and "scam" are the same word."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return "".join(ch for ch in folded if unicodedata.category(ch) != "Cf")


def _word_char(ch: str) -> bool:
    # Letters, digits and underscore, and the combining marks that are part of words in
    # Devanagari, Thai and many other scripts.
    return ch.isalnum() or ch == "_" or unicodedata.category(ch)[0] == "M"


def words_of(text: str) -> list[str]:
    """The distinct words of a message, folded, as blocked-word lists are matched against them."""
    words: list[str] = []
    current: list[str] = []
    for ch in fold(text) + " ":
        if _word_char(ch):
            current.append(ch)
        elif current:
            words.append("".join(current))
            current = []
    return list(dict.fromkeys(words))


def check_deal(
    deal: Deal, product_price: int, now_ms: int, variants: Sequence[Mapping[str, Any]] = ()
) -> None:
    """`variants`: the product's variants (id, sku, price). A deal never raises a price: it
    must be below the product's price and below every variant's own."""
    if deal.price >= product_price:
        raise AppError(
            ErrorCode.VALIDATION_ERROR,
            "a deal price must be below the product's price",
            field="deal.price",
        )
    for variant in variants:
        if deal.price >= variant["price"]:
            raise AppError(
                ErrorCode.VALIDATION_ERROR,
                f"a deal price must be below every variant's price: variant "
                f"{variant['sku']} costs {variant['price']}",
                field="deal.price",
                details={"variant_id": variant["id"], "price": variant["price"]},
            )
    if deal.per_buyer > deal.units:
        raise AppError(
            ErrorCode.VALIDATION_ERROR,
            "the per-buyer limit cannot exceed the units on offer",
            field="deal.per_buyer",
        )
    if deal.ends_at_ms <= now_ms:
        raise AppError(
            ErrorCode.VALIDATION_ERROR, "a deal must end in the future", field="deal.ends_at_ms"
        )
    if deal.ends_at_ms > now_ms + MAX_DEAL_SECONDS * 1000:
        raise AppError(
            ErrorCode.VALIDATION_ERROR,
            "a deal lasts at most 24 hours",
            field="deal.ends_at_ms",
        )


def question_score(votes: int, question_id: int) -> float:
    """Ranked by votes, then age: among equal votes the older (lower id) question comes first.

    Exact as a Redis sorted-set score (a double) while votes < 2**20 and ids < 2**32.
    """
    return float(votes * 2**32 + (2**32 - 1 - question_id))


def role_allows(role: Role | None, allowed: frozenset[Role]) -> bool:
    return role is not None and role in allowed


def require(role: Role | None, allowed: frozenset[Role], action: str) -> None:
    if not role_allows(role, allowed):
        raise AppError(ErrorCode.FORBIDDEN, f"only the show's staff may {action}")
