"""core.batch.Batcher (group commit) and cart.orders.allotment (which orders of a batch the stock
lets through)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cart.orders.allotment import Deal, Refusal, Want, allot
from core.batch import Batcher

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
LATER = NOW + timedelta(hours=1)


class Recorder:
    """A batch function that records its batches and can be held open."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.gate = asyncio.Event()
        self.gate.set()

    async def __call__(self, items: list[int]) -> list[int | Exception]:
        self.batches.append(list(items))
        await self.gate.wait()
        return [ValueError(f"odd {i}") if i % 2 else i * 10 for i in items]


async def test_calls_that_arrive_during_a_batch_go_together_in_the_next() -> None:
    run = Recorder()
    batcher: Batcher[int, int] = Batcher(run)
    run.gate.clear()
    first = asyncio.ensure_future(batcher.submit(0))
    await asyncio.sleep(0)
    rest = [asyncio.ensure_future(batcher.submit(i)) for i in (2, 4, 6)]
    await asyncio.sleep(0)
    assert run.batches == [[0]]  # the first goes alone, at once
    run.gate.set()
    assert await first == 0
    assert await asyncio.gather(*rest) == [20, 40, 60]
    assert run.batches == [[0], [2, 4, 6]]


async def test_each_caller_gets_its_own_result_or_exception() -> None:
    batcher: Batcher[int, int] = Batcher(Recorder())
    results = await asyncio.gather(*(batcher.submit(i) for i in range(4)), return_exceptions=True)
    assert results[0] == 0 and results[2] == 20
    assert isinstance(results[1], ValueError) and str(results[1]) == "odd 1"
    assert isinstance(results[3], ValueError) and str(results[3]) == "odd 3"


async def test_batches_hold_at_most_max_size() -> None:
    run = Recorder()
    batcher: Batcher[int, int] = Batcher(run, max_size=2)
    run.gate.clear()
    calls = [asyncio.ensure_future(batcher.submit(i * 2)) for i in range(5)]
    await asyncio.sleep(0)
    run.gate.set()
    await asyncio.gather(*calls)
    assert [len(b) for b in run.batches] == [2, 2, 1]


async def test_an_error_of_the_whole_batch_reaches_every_caller_and_the_next_batch_runs() -> None:
    calls = 0

    async def failing(items: list[int]) -> list[int | Exception]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("database gone")
        return list(items)

    batcher: Batcher[int, int] = Batcher(failing)
    results = await asyncio.gather(*(batcher.submit(i) for i in range(3)), return_exceptions=True)
    assert all(isinstance(r, RuntimeError) for r in results)
    assert await batcher.submit(7) == 7


async def test_a_batch_that_answers_the_wrong_number_of_items_fails_its_callers() -> None:
    async def short(items: list[int]) -> list[int | Exception]:
        return list(items[:-1])

    batcher: Batcher[int, int] = Batcher(short)
    with pytest.raises(RuntimeError, match="each of its items"):
        await batcher.submit(1)


async def test_a_caller_cancelled_before_its_batch_is_left_out() -> None:
    run = Recorder()
    batcher: Batcher[int, int] = Batcher(run)
    run.gate.clear()
    first = asyncio.ensure_future(batcher.submit(0))
    await asyncio.sleep(0)
    gone = asyncio.ensure_future(batcher.submit(2))
    kept = asyncio.ensure_future(batcher.submit(4))
    await asyncio.sleep(0)
    gone.cancel()
    run.gate.set()
    assert await first == 0 and await kept == 40
    assert run.batches == [[0], [4]]


async def test_close_waits_for_the_batch_under_way() -> None:
    run = Recorder()
    batcher: Batcher[int, int] = Batcher(run)
    run.gate.clear()
    call = asyncio.ensure_future(batcher.submit(2))
    await asyncio.sleep(0)
    closing = asyncio.ensure_future(batcher.close())
    await asyncio.sleep(0.01)
    assert not closing.done()
    run.gate.set()
    await closing
    assert call.done() and call.result() == 20


def deal(units: int = 10, per_buyer: int = 2, ends_at: datetime = LATER) -> Deal:
    return Deal(units_left=units, per_buyer=per_buyer, ends_at=ends_at)


def test_orders_take_in_arrival_order_until_the_deal_runs_out() -> None:
    wants = [Want(f"b{i}", {7: 1}, {3: 1}) for i in range(4)]
    result = allot(wants, {3: deal(units=2)}, {7: 100}, {}, NOW)
    assert result.outcomes == [None, None] + [Refusal("sold_out", deal_id=3)] * 2
    assert result.deal_units == {3: 2}
    assert result.stock == {7: 2}
    assert result.held == {(3, "b0"): 1, (3, "b1"): 1}


def test_a_refused_order_takes_nothing_and_a_smaller_one_after_it_still_fits() -> None:
    wants = [Want("a", {7: 3}, {}), Want("b", {7: 1}, {})]
    result = allot(wants, {}, {7: 2}, {}, NOW)
    assert result.outcomes == [Refusal("out_of_stock", variant_id=7), None]
    assert result.stock == {7: 1}


def test_per_buyer_limit_counts_what_they_held_and_what_this_batch_gave_them() -> None:
    wants = [Want("a", {7: 1}, {3: 1}), Want("a", {7: 1}, {3: 1}), Want("b", {7: 1}, {3: 2})]
    result = allot(wants, {3: deal(per_buyer=2)}, {7: 100}, {(3, "a"): 1}, NOW)
    assert result.outcomes == [None, Refusal("deal_limit", deal_id=3), None]
    assert result.held == {(3, "a"): 1, (3, "b"): 2}


def test_expired_missing_and_deleted() -> None:
    wants = [Want("a", {7: 1}, {3: 1}), Want("b", {7: 1}, {4: 1}), Want("c", {8: 1}, {})]
    deals = {3: deal(ends_at=NOW)}
    result = allot(wants, deals, {7: 5, 8: None}, {}, NOW)
    assert result.outcomes == [
        Refusal("deal_expired", deal_id=3),
        Refusal("sold_out", deal_id=4),
        Refusal("out_of_stock", variant_id=8),
    ]
    assert result.stock == {} and result.deal_units == {} and result.held == {}


def sequential(
    wants: list[Want], deals: dict[int, Deal], stock: dict[int, int], per_buyer: int
) -> list[bool]:
    """The one-order-per-transaction semantics allot must equal."""
    units = {d: x.units_left for d, x in deals.items()}
    left = dict(stock)
    held: dict[tuple[int, str], int] = {}
    out = []
    for w in wants:
        ok = (
            all(held.get((d, w.buyer), 0) + n <= per_buyer for d, n in w.deals.items())
            and all(units[d] >= n for d, n in w.deals.items())
            and all(left[v] >= n for v, n in w.variants.items())
        )
        if ok:
            for d, n in w.deals.items():
                units[d] -= n
                held[(d, w.buyer)] = held.get((d, w.buyer), 0) + n
            for v, n in w.variants.items():
                left[v] -= n
        out.append(ok)
    return out


@given(
    st.lists(
        st.tuples(st.sampled_from("abc"), st.integers(1, 3), st.booleans()), min_size=1, max_size=30
    ),
    st.integers(0, 10),
    st.integers(0, 12),
    st.integers(1, 4),
)
def test_allot_equals_one_order_at_a_time_and_never_oversells(
    orders: list[tuple[str, int, bool]], units: int, stock: int, per_buyer: int
) -> None:
    wants = [Want(b, {7: n}, {3: n} if in_deal else {}) for b, n, in_deal in orders]
    deals = {3: deal(units=units, per_buyer=per_buyer)}
    result = allot(wants, deals, {7: stock}, {}, NOW)
    assert [o is None for o in result.outcomes] == sequential(wants, deals, {7: stock}, per_buyer)
    assert result.deal_units.get(3, 0) <= units
    assert result.stock.get(7, 0) <= stock
    assert all(n <= per_buyer for n in result.held.values())
