"""`flash-sale`: checkout under a stampede, then checkout throughput against the bare SQL
transaction, both on PostgreSQL (a throwaway cluster, or BENCH_DATABASE_URL).

Stampede: B buyers, each with one unit of the deal product in their cart, press Pay at once for
S units of one flash deal; counted from the buyers' acks, then checked against what the shop's
own export and stock say.

Throughput: a flash deal of 100,000 units with no per-buyer limit; C buyers each buy one unit
again and again (`cart.add`, `checkout`, as the player does) for the measured seconds. The `sql`
baseline (bench/sql.py) runs the bare conditional stock UPDATE + order INSERT, one transaction
per order, at the same concurrency on the same PostgreSQL.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import harness
from bench.figures import percentile
from bench.harness import ROOT, Workers, progress

DEAL_UNITS = 100_000


@dataclass(frozen=True)
class Sale:
    buyers: int
    stock: int
    workers: int = 2


@dataclass(frozen=True)
class Rate:
    """The throughput phase: each concurrency for `seconds` after `warmup` (the headline one
    for `headline_seconds`, cut into `windows` equal windows whose median is reported)."""

    concurrencies: tuple[int, ...]
    headline: int
    seconds: float
    headline_seconds: float
    warmup: float
    windows: int = 1


def plan(quick: bool) -> tuple[Sale, Rate]:
    if quick:
        return Sale(buyers=500, stock=50), Rate((32,), 32, 10, 10, 2)
    return Sale(buyers=2000, stock=200), Rate((1, 8, 32, 64), 32, 10, 30, 2, windows=3)


def run_flash_sale(sale: Sale, rate: Rate) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        progress("flash-sale: starting PostgreSQL")
        with harness.postgres() as pg:
            progress("flash-sale: starting the app")
            with harness.system(1, Path(tmp) / "app", env={"DATABASE_URL": pg.url}) as sut:
                url = sut.apps[0].url
                out = _stampede(url, sale)
                ours = {c: _ours(url, c, rate) for c in rate.concurrencies}
            sql = {c: _sql(pg.dsn, c, rate) for c in rate.concurrencies}
    out["database"] = "postgresql"
    out.update(_throughput_fields(ours, sql, rate))
    return out


def _stampede(url: str, sale: Sale) -> dict[str, Any]:
    # More stock than the deal's units: the deal's own count is what must hold.
    show = asyncio.run(harness.make_show(url, products=1, stock=sale.stock * 2))
    product, variant = show.products[0], show.variants[0]
    deal = {
        "price": 100,
        "units": sale.stock,
        "per_buyer": 1,
        "ends_at_ms": int(time.time() * 1000) + 3_600_000,
    }
    asyncio.run(harness.pin_deal(url, show, product, deal))
    tokens = asyncio.run(harness.guest_tokens(url, sale.buyers))
    release_at = time.time() * 1000 + (4.0 + sale.buyers / 100) * 1000
    jobs = [
        (
            "buyers",
            {
                "url": url,
                "show_id": show.show_id,
                "variant_id": variant,
                "tokens": tokens[w :: sale.workers],
                "release_at": release_at,
                "worker": w,
            },
        )
        for w in range(sale.workers)
        if tokens[w :: sale.workers]
    ]
    progress(
        f"flash-sale: {sale.buyers} buyers connect, join and press Buy; "
        f"then Pay at once for {sale.stock} units"
    )
    results = Workers(jobs).results()
    rows = asyncio.run(harness.orders_csv(url, show))[1:]
    stock_left = asyncio.run(harness.variant_stock(url, show, product))
    outcomes: dict[str, int] = {}
    for r in results:
        for outcome, n in r["outcomes"].items():
            outcomes[outcome] = outcomes.get(outcome, 0) + n
    latencies = [x for r in results for x in r["latencies"]]
    last = max(latencies, default=0.0)
    # Export columns: number, created_at, status, buyer, items, ...
    paid = [row for row in rows if row[2] == "paid"]
    units_sold = sum(int(row[4]) for row in paid)
    told_paid = outcomes.get("paid", 0)
    sold_out = outcomes.get("sold_out", 0)
    out: dict[str, Any] = {
        "scenario": "flash-sale",
        "buyers": sale.buyers,
        "stock": sale.stock,
        "orders": len(paid),
        "oversold": max(0, units_sold - sale.stock),
        "duplicates": len(rows) - len({row[3] for row in rows}),
        "errors": sale.buyers - told_paid - sold_out,
        "sold_out": sold_out,
        "told_paid": told_paid,
        "stock_left": stock_left,
        "stock_consistent": stock_left == sale.stock * 2 - units_sold,
        # From the release to each buyer's answer.
        "stampede_p50_ms": round(percentile(latencies, 0.5), 1),
        "stampede_p99_ms": round(percentile(latencies, 0.99), 1),
        "time_to_last_answer_ms": round(last, 1),
        "stampede_answers_per_s": round(len(latencies) / (last / 1000), 1) if last else 0.0,
    }
    other = {k: v for k, v in outcomes.items() if k not in ("paid", "sold_out")}
    if other:
        out["error_codes"] = other
        out["error_samples"] = [x for r in results for x in r["samples"]][:5]
    return out


@dataclass
class Orders:
    """Paid orders of one throughput run: (start, latency ms), start in s from the measured
    window's start."""

    paid: list[tuple[float, float]]
    seconds: float
    errors: dict[str, int]

    def window(self, k: int, of: int) -> Orders:
        span = self.seconds / of
        inside = [(t, ms) for t, ms in self.paid if k * span <= t < (k + 1) * span]
        return Orders(inside, span, {})

    def figures(self) -> dict[str, float]:
        latencies = [ms for _, ms in self.paid]
        return {
            "orders_per_s": round(len(self.paid) / self.seconds, 1),
            "p50_ms": round(percentile(latencies, 0.5), 1),
            "p99_ms": round(percentile(latencies, 0.99), 1),
        }


def _seconds(concurrency: int, rate: Rate) -> float:
    return rate.headline_seconds if concurrency == rate.headline else rate.seconds


def _ours(url: str, concurrency: int, rate: Rate) -> Orders:
    seconds = _seconds(concurrency, rate)
    show = asyncio.run(harness.make_show(url, products=1, stock=DEAL_UNITS * 2))
    deal = {
        "price": 100,
        "units": DEAL_UNITS,
        "per_buyer": DEAL_UNITS,  # no per-buyer limit
        "ends_at_ms": int(time.time() * 1000) + 3_600_000,
    }
    asyncio.run(harness.pin_deal(url, show, show.products[0], deal))
    tokens = asyncio.run(harness.guest_tokens(url, concurrency))
    begin = time.time() * 1000 + (3.0 + concurrency / 50) * 1000
    start = begin + rate.warmup * 1000
    end = start + seconds * 1000
    workers = min(2, concurrency)
    jobs = [
        (
            "repeat_buyers",
            {
                "url": url,
                "show_id": show.show_id,
                "variant_id": show.variants[0],
                "tokens": tokens[w::workers],
                "begin": begin,
                "start": start,
                "end": end,
                "worker": w,
            },
        )
        for w in range(workers)
    ]
    progress(f"flash-sale: {concurrency} buyers buying in a loop for {seconds:g} s")
    results = Workers(jobs).results(within=seconds + 120)
    errors: dict[str, int] = {}
    for r in results:
        for outcome, n in r["outcomes"].items():
            if outcome != "paid":
                errors[outcome] = errors.get(outcome, 0) + n
    paid = [((t - start) / 1000, ms) for r in results for t, ms in r["paid"]]
    return Orders(paid, seconds, errors)


def _sql(dsn: str, concurrency: int, rate: Rate) -> Orders:
    seconds = _seconds(concurrency, rate)
    progress(f"flash-sale: sql baseline, {concurrency} connections for {seconds:g} s")
    command = [sys.executable, "-m", "bench.sql", dsn, str(concurrency), str(seconds)]
    done = subprocess.run(  # noqa: S603 - our own baseline
        [*command, str(rate.warmup)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 120,
    )
    paid = [(t, ms) for t, ms in json.loads(done.stdout)["orders"]]
    return Orders(paid, seconds, {})


def _median_windows(orders: Orders, windows: int) -> dict[str, float]:
    if windows == 1:
        return orders.figures()
    per_window = [orders.window(k, windows).figures() for k in range(windows)]
    return {key: sorted(f[key] for f in per_window)[windows // 2] for key in per_window[0]}


def _throughput_fields(
    ours: dict[int, Orders], sql: dict[int, Orders], rate: Rate
) -> dict[str, Any]:
    head = _median_windows(ours[rate.headline], rate.windows)
    head_sql = _median_windows(sql[rate.headline], rate.windows)
    out: dict[str, Any] = {
        "concurrency": rate.headline,
        "orders_per_s": head["orders_per_s"],
        "p50_ms": head["p50_ms"],
        "p99_ms": head["p99_ms"],
        "sql_orders_per_s": head_sql["orders_per_s"],
        "sql_p99_ms": head_sql["p99_ms"],
        "speedup_vs_sql": (
            round(head["orders_per_s"] / head_sql["orders_per_s"], 2)
            if head_sql["orders_per_s"]
            else None
        ),
        "throughput_errors": sum(sum(o.errors.values()) for o in ours.values()),
        "by_concurrency": [
            {
                "concurrency": c,
                **ours[c].figures(),
                **{f"sql_{k}": v for k, v in sql[c].figures().items()},
            }
            for c in rate.concurrencies
        ],
    }
    codes: dict[str, int] = {}
    for o in ours.values():
        for code, n in o.errors.items():
            codes[code] = codes.get(code, 0) + n
    if codes:
        out["throughput_error_codes"] = codes
    return out
