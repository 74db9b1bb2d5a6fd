"""Which orders of a batch the stock lets through, without I/O.

Orders placed together (one transaction, see `OrderStore.place`) read the rows they need once,
locked: each flash deal's units left, per-buyer limit and end, each variant's stock, and each
buyer's deal units already held. Then every order, in arrival order, takes what it wants or is
refused whole, exactly as if the orders had been placed one after another; what the accepted
ones took is written back as one decrement per row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Want:
    """One order's needs: units per variant, deal units per deal."""

    buyer: str
    variants: dict[int, int]
    deals: dict[int, int]


@dataclass(frozen=True, slots=True)
class Deal:
    units_left: int
    per_buyer: int
    ends_at: datetime


@dataclass(frozen=True, slots=True)
class Refusal:
    """`out_of_stock` (a variant), `sold_out`, `deal_limit` or `deal_expired` (a deal)."""

    reason: str
    variant_id: int | None = None
    deal_id: int | None = None


@dataclass
class Allotment:
    """Per order, None (accepted) or its refusal; and what the accepted ones take in all."""

    outcomes: list[Refusal | None]
    deal_units: dict[int, int] = field(default_factory=dict)  # deal id -> units taken
    stock: dict[int, int] = field(default_factory=dict)  # variant id -> units taken
    held: dict[tuple[int, str], int] = field(default_factory=dict)  # (deal, buyer) -> added


def allot(
    wants: Sequence[Want],
    deals: dict[int, Deal],
    stock: dict[int, int | None],
    held: dict[tuple[int, str], int],
    now: datetime,
) -> Allotment:
    """`deals`: the deals that exist; `stock`: units per variant, None for a deleted variant;
    `held`: deal units each buyer holds already (absent: none)."""
    result = Allotment([])
    for want in wants:
        refusal = _refusal(want, deals, stock, held, now, result)
        result.outcomes.append(refusal)
        if refusal is not None:
            continue
        for deal_id, units in want.deals.items():
            result.deal_units[deal_id] = result.deal_units.get(deal_id, 0) + units
            pair = (deal_id, want.buyer)
            result.held[pair] = result.held.get(pair, 0) + units
        for variant_id, units in want.variants.items():
            result.stock[variant_id] = result.stock.get(variant_id, 0) + units
    return result


def _refusal(
    want: Want,
    deals: dict[int, Deal],
    stock: dict[int, int | None],
    held: dict[tuple[int, str], int],
    now: datetime,
    so_far: Allotment,
) -> Refusal | None:
    # The order of the checks is the order a single order meets them: the buyer's allowance,
    # then the deal's units and end, then the stock.
    for deal_id, units in sorted(want.deals.items()):
        deal = deals.get(deal_id)
        if deal is None:
            return Refusal("sold_out", deal_id=deal_id)
        pair = (deal_id, want.buyer)
        if held.get(pair, 0) + so_far.held.get(pair, 0) + units > deal.per_buyer:
            return Refusal("deal_limit", deal_id=deal_id)
    for deal_id, units in sorted(want.deals.items()):
        deal = deals[deal_id]
        if deal.ends_at <= now:
            return Refusal("deal_expired", deal_id=deal_id)
        if deal.units_left - so_far.deal_units.get(deal_id, 0) < units:
            return Refusal("sold_out", deal_id=deal_id)
    for variant_id, units in sorted(want.variants.items()):
        left = stock.get(variant_id)
        if left is None or left - so_far.stock.get(variant_id, 0) < units:
            return Refusal("out_of_stock", variant_id=variant_id)
    return None
