"""Cart pricing and payload rules: pure, no I/O."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from cart.carts.rules import (
    MAX_QUANTITY,
    AddItem,
    Offer,
    RemoveItem,
    SetQuantity,
    price_cart,
    price_line,
    with_held,
)
from core.errors import AppError

SCARF = Offer(variant_id=1, product_id=10, title="Scarf", options={"colour": "Blue"}, price=2500)


def deal(price: int = 1500, left: int = 100, per_buyer: int = 2) -> Offer:
    return Offer(
        variant_id=2,
        product_id=20,
        title="Jacket",
        options={},
        price=9900,
        deal_price=price,
        deal_left=left,
        per_buyer_left=per_buyer,
        deal_id=9,
    )


def test_a_plain_line_is_quantity_times_price() -> None:
    line = price_line(SCARF, 3)
    assert (line.quantity, line.unit_price, line.deal_quantity, line.total) == (3, 2500, 0, 7500)


@pytest.mark.parametrize(
    ("quantity", "left", "per_buyer", "at_deal", "total"),
    [
        (1, 100, 2, 1, 1500),
        (2, 100, 2, 2, 3000),
        (3, 100, 2, 2, 3000 + 9900),  # past the per-buyer limit: catalog price
        (3, 1, 5, 1, 1500 + 2 * 9900),  # past the units left
        (2, 0, 5, 0, 2 * 9900),  # sold out: catalog price
        (2, 5, 0, 0, 2 * 9900),  # this buyer used their deal units
    ],
)
def test_deal_units_are_capped(
    quantity: int, left: int, per_buyer: int, at_deal: int, total: int
) -> None:
    line = price_line(deal(left=left, per_buyer=per_buyer), quantity)
    assert line.deal_quantity == at_deal
    assert line.total == total


@pytest.mark.parametrize("price", [9900, 9901, 20_000])
def test_a_deal_never_raises_a_variants_price(price: int) -> None:
    """A variant priced at or below the deal price keeps its own price and takes no units."""
    line = price_line(deal(price=price), 2)
    assert (line.deal_quantity, line.deal_price, line.deal_id) == (0, None, None)
    assert line.total == 2 * 9900
    assert price_cart({2: 2}, {2: deal(price=price)}, "EUR", 1).deal_takes() == []


@pytest.mark.parametrize("quantity", [0, -1, MAX_QUANTITY + 1])
def test_line_quantity_bounds(quantity: int) -> None:
    with pytest.raises(AppError):
        price_line(SCARF, quantity)


def test_cart_totals_and_unavailable_items() -> None:
    cart = price_cart({1: 2, 2: 1, 99: 4}, {1: SCARF, 2: deal()}, "EUR", 7).to_dict()
    assert cart["version"] == 7 and cart["currency"] == "EUR"
    assert cart["total"] == 2 * 2500 + 1500
    assert cart["items"] == 3
    assert cart["unavailable"] == [99]
    lines: list[dict[str, Any]] = cart["lines"]  # type: ignore[assignment]
    assert [line["variant_id"] for line in lines] == [1, 2]


def test_empty_cart() -> None:
    cart = price_cart({}, {}, "EUR", 0).to_dict()
    assert cart.pop("quote")
    assert cart == {
        "version": 0,
        "currency": "EUR",
        "lines": [],
        "unavailable": [],
        "items": 0,
        "total": 0,
    }


def test_the_quote_changes_with_what_the_buyer_sees_and_only_with_it() -> None:
    items = {1: 1, 2: 2}
    seen = price_cart(items, {1: SCARF, 2: deal(left=10)}, "EUR", 3)
    # Fewer units left, same prices: the same quote.
    assert price_cart(items, {1: SCARF, 2: deal(left=5)}, "EUR", 3).quote == seen.quote
    # The deal sold out: the price changes, and so does the quote...
    sold_out = price_cart(items, {1: SCARF, 2: deal(left=0)}, "EUR", 3)
    assert sold_out.quote != seen.quote and sold_out.total > seen.total
    # ...but priced as if units were left it is what the buyer saw (that is how checkout
    # tells "sold out" from "price changed").
    unlimited = price_cart(items, {1: SCARF, 2: deal(left=0)}, "EUR", 3, unlimited=True)
    assert unlimited.quote == seen.quote
    assert price_cart(items, {1: SCARF, 2: deal(left=10)}, "EUR", 4).quote != seen.quote


def test_deal_takes_sum_the_deal_units_per_product() -> None:
    other = Offer(3, 20, "Jacket", {"colour": "Red"}, 9900, 1500, 5, 10, deal_id=9)
    cart = price_cart({2: 2, 3: 1, 1: 4}, {1: SCARF, 2: deal(), 3: other}, "EUR", 1)
    assert cart.deal_takes() == [(20, 9, 3)]


@pytest.mark.parametrize(
    "body",
    [
        {"variant_id": 1, "quantity": 0},
        {"variant_id": 1, "quantity": -1},
        {"variant_id": 1, "quantity": 1.0},
        {"variant_id": 1, "quantity": "1"},
        {"variant_id": 1, "quantity": True},
        {"variant_id": 1, "quantity": 2**31},
        {"variant_id": 1, "quantity": 2**63},
        {"variant_id": 1, "quantity": MAX_QUANTITY + 1},
        {"variant_id": "1"},
        {"variant_id": 0},
        {"variant_id": 1, "price": 1},  # a client-sent price is refused
        {"variant_id": 1, "total": 1},
        {"variant_id": 1, "currency": "EUR"},
        {},
    ],
)
def test_add_item_refuses_bad_bodies(body: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        AddItem.model_validate(body)


def test_payload_models_accept_good_bodies() -> None:
    assert AddItem.model_validate({"variant_id": 3}).quantity == 1
    assert SetQuantity.model_validate({"variant_id": 3, "quantity": 4}).quantity == 4
    assert RemoveItem.model_validate({"variant_id": 3}).variant_id == 3
    with pytest.raises(ValidationError):
        SetQuantity.model_validate({"variant_id": 3})


def test_a_retried_checkout_is_priced_with_its_own_held_units_given_back() -> None:
    offers = {2: deal(left=0, per_buyer=0)}
    assert price_cart({2: 2}, offers, "EUR", 1).lines[0].deal_quantity == 0
    held = with_held(offers, {(20, 9): 2})
    assert price_cart({2: 2}, held, "EUR", 1).lines[0].deal_quantity == 2
    # Units held on another deal (replaced since) give nothing back.
    assert with_held(offers, {(20, 8): 2}) == offers
