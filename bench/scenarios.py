"""Scenarios: `fanout` (one app process) and `scaleout` (two app processes on one Redis) for
the live room; `flash-sale` for checkout under a stampede.

Viewers join one live show; the host pins every 5 s; chatters send benchmark lines at a fixed
total rate. Latency runs from each line's scheduled send time to its arrival at a probe viewer;
every viewer counts the lines scheduled inside the measured window, so `delivered_ratio` is
received / (accepted x viewers). CPU is read from the OS for the app processes and the Redis
they use, over the measured window only.
"""

from __future__ import annotations

import asyncio
import os
import signal
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from bench import harness
from bench.harness import Workers, progress

PROBES = 20
CHATTERS = 10


@dataclass(frozen=True)
class Load:
    viewers: int
    chat_per_s: float
    seconds: float
    warmup: float
    pin_every: float = 5.0
    drain_workers: int = 2
    shows: int = 1


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def run_room(nodes: int, load: Load, scenario: str, target: str = "ours") -> dict[str, Any]:
    """`load.viewers` viewers split evenly over `load.shows` live shows; per show a host and
    chatters (CHATTERS in all, at least one per show)."""
    chatters_per_show = max(1, CHATTERS // load.shows)
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        what = f"{nodes} app process(es)" if target == "ours" else f"the {target} baseline"
        progress(f"{scenario}: starting {what}")
        tokens_needed = load.viewers + chatters_per_show * load.shows
        with harness.room_target(target, nodes, Path(tmp), tokens_needed, load.shows) as sut:
            urls, shows, tokens = sut.urls, sut.shows, sut.tokens
            viewer_tokens, chatter_tokens = tokens[: load.viewers], tokens[load.viewers :]
            # Viewer i watches show i mod S: probes (the first PROBES) land on different shows.
            joins = [shows[i % len(shows)].show_id for i in range(load.viewers)]
            n_probes = min(PROBES, load.viewers)
            connect_budget = 4.0 + load.viewers / 150 + load.shows / 40
            send_start = time.time() * 1000 + connect_budget * 1000
            window_start = send_start + load.warmup * 1000
            window_end = window_start + load.seconds * 1000
            common = {
                "window_start": window_start,
                "window_end": window_end,
                "stop_at": window_end + 2500,
                "urls": urls,
                "origins": ["same", "cross"] if nodes > 1 else ["same"],
            }
            jobs: list[tuple[str, dict[str, Any]]] = [
                (
                    "viewers",
                    {
                        **common,
                        "tokens": viewer_tokens[:n_probes],
                        "joins": joins[:n_probes],
                        "probe": True,
                    },
                )
            ]
            rest = list(range(n_probes, load.viewers))
            for part in [rest[i :: load.drain_workers] for i in range(load.drain_workers)]:
                if part:
                    jobs.append(
                        (
                            "viewers",
                            {
                                **common,
                                "tokens": [viewer_tokens[i] for i in part],
                                "joins": [joins[i] for i in part],
                                "probe": False,
                            },
                        )
                    )
            jobs.append(
                (
                    "talkers",
                    {
                        **common,
                        "host_url": urls[0],
                        "host_token": shows[0].owner_token,
                        "shows": [
                            {
                                "show_id": show.show_id,
                                "chatter_tokens": chatter_tokens[
                                    k * chatters_per_show : (k + 1) * chatters_per_show
                                ],
                            }
                            for k, show in enumerate(shows)
                        ],
                        "products": shows[0].products,
                        "chat_per_s": load.chat_per_s,
                        "pin_every": load.pin_every,
                        "send_start": send_start,
                        "send_end": window_end,
                    },
                )
            )
            progress(
                f"{scenario}: {load.viewers} viewers in {load.shows} show(s) on {nodes} node(s), "
                f"{load.chat_per_s:g} chat/s, {load.warmup:g} s warm-up + {load.seconds:g} s"
            )
            workers = Workers(jobs)
            time.sleep(max(0.0, (window_start - time.time() * 1000) / 1000))
            procs = sut.processes()
            cpu_start = harness.cpu_seconds(procs)
            gen_start = harness.cpu_seconds(workers.processes())
            wall_start = time.monotonic()
            progress(f"{scenario}: measuring")
            time.sleep(max(0.0, (window_end - time.time() * 1000) / 1000))
            cpu = harness.cpu_seconds(procs) - cpu_start
            gen_cpu = harness.cpu_seconds(workers.processes()) - gen_start
            wall = time.monotonic() - wall_start
            progress(f"{scenario}: draining")
            results = workers.results()
    talk = results[-1]
    watched = results[:-1]
    viewers = sum(r["viewers"] for r in watched)
    lines = sum(r["lines"] for r in watched)
    frames = sum(r["frames"] for r in watched)
    latencies = [x for r in watched for x in r["latencies"]]
    # Every accepted line should reach every viewer of its show.
    expected = sum(
        accepted * sum(r["per_show"].get(show, 0) for r in watched)
        for show, accepted in talk["accepted_per_show"].items()
    )
    out: dict[str, Any] = {
        "scenario": scenario,
        "target": target,
        "viewers": viewers,
        "nodes": nodes,
        "chat_per_s": load.chat_per_s,
        "seconds": load.seconds,
        "delivered_ratio": round(lines / expected, 4) if expected else 0.0,
        "p50_ms": round(percentile(latencies, 0.5), 1),
        "p99_ms": round(percentile(latencies, 0.99), 1),
        "max_ms": round(max(latencies), 1) if latencies else None,
        "cpu_us_per_msg": round(cpu * 1e6 / lines, 2) if lines else None,
        "cpu_us_per_frame": round(cpu * 1e6 / frames, 2) if frames else None,
        "frames_per_viewer_per_s": round(frames / viewers / load.seconds, 2) if viewers else 0,
        "sut_cpu_percent": round(100 * cpu / wall, 1),
        "generator_cpu_percent": round(100 * gen_cpu / wall, 1),
        "chat_accepted": talk["accepted"],
        "chat_refused": talk["refused"],
        "pins": talk["pins"],
    }
    if load.shows > 1:
        out["shows"] = load.shows
    if nodes > 1:
        by_origin: dict[str, list[float]] = {}
        for r in watched:
            for origin, values in r["by_origin"].items():
                by_origin.setdefault(origin, []).extend(values)
        out["same_node_p99_ms"] = round(percentile(by_origin.get("same", []), 0.99), 1)
        out["cross_node_p99_ms"] = round(percentile(by_origin.get("cross", []), 0.99), 1)
    if out["generator_cpu_percent"] > 90:
        out["note"] = "load generator near a full core: latency figures are upper bounds"
    return out


def _room_load(quick: bool) -> Load:
    if quick:  # short enough for fanout's three systems to run in under a minute
        return Load(viewers=300, chat_per_s=20, seconds=6, warmup=2)
    return Load(viewers=1000, chat_per_s=20, seconds=60, warmup=10)


def with_baselines(
    ours: dict[str, Any], raw: dict[str, Any], peer: dict[str, Any]
) -> dict[str, Any]:
    """Our figures beside the baselines', measured at the same load in the same run.
    speedup_vs_peer = peer's CPU per delivered message / ours; frame_cost_vs_raw = our CPU per
    delivered frame / raw's (raw sends one frame per message)."""
    out = {k: v for k, v in ours.items() if k != "target"}
    out["raw_cpu_us_per_frame"] = raw["cpu_us_per_frame"]
    out["raw_p99_ms"] = raw["p99_ms"]
    out["raw_delivered_ratio"] = raw["delivered_ratio"]
    out["peer_cpu_us_per_msg"] = peer["cpu_us_per_msg"]
    out["peer_p99_ms"] = peer["p99_ms"]
    out["peer_delivered_ratio"] = peer["delivered_ratio"]
    ratios = (
        ("speedup_vs_peer", peer["cpu_us_per_msg"], ours["cpu_us_per_msg"]),
        ("frame_cost_vs_raw", ours["cpu_us_per_frame"], raw["cpu_us_per_frame"]),
    )
    for name, top, bottom in ratios:
        out[name] = round(top / bottom, 2) if top and bottom else None
    notes = [r["note"] for r in (ours, raw, peer) if "note" in r]
    if notes:
        out["note"] = notes[0]
    return out


def run_fanout(load: Load) -> dict[str, Any]:
    ours = run_room(1, load, "fanout")
    raw = run_room(1, load, "fanout", target="raw")
    peer = run_room(1, load, "fanout", target="peer")
    return with_baselines(ours, raw, peer)


def fanout(quick: bool) -> dict[str, Any]:
    return run_fanout(_room_load(quick))


def scaleout(quick: bool) -> dict[str, Any]:
    return run_room(2, _room_load(quick), "scaleout")


def many_shows_load(quick: bool) -> Load:
    """Shows of 5 viewers, 1 chat line/s per show, each show's host pins every 10 s."""
    shows = 100 if quick else 200
    return Load(
        viewers=5 * shows,
        chat_per_s=shows,
        seconds=6 if quick else 60,
        warmup=2 if quick else 10,
        pin_every=10,
        shows=shows,
    )


def many_shows(quick: bool) -> dict[str, Any]:
    out = run_room(1, many_shows_load(quick), "many-shows")
    del out["target"]
    return out


@dataclass(frozen=True)
class Sale:
    buyers: int
    stock: int
    workers: int = 2


def run_flash_sale(sale: Sale) -> dict[str, Any]:
    """B buyers, each with one unit of the deal product in their cart, press Pay at once
    for S units of one flash deal. Counted from the buyers' acks, then checked against what
    the shop's own export and stock say."""
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        progress("flash-sale: starting the app")
        with harness.system(1, Path(tmp)) as sut:
            url = sut.apps[0].url
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
                        "tokens": part,
                        "release_at": release_at,
                        "worker": i,
                    },
                )
                for i, part in enumerate(tokens[w :: sale.workers] for w in range(sale.workers))
                if part
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


def flash_sale(quick: bool) -> dict[str, Any]:
    return run_flash_sale(Sale(buyers=500, stock=50) if quick else Sale(buyers=2000, stock=200))


def run_join(viewers: int, spread_s: float = 10.0, workers: int = 2) -> dict[str, Any]:
    """`viewers` viewers join one show (three pins, 50 chat lines), spread evenly over
    `spread_s`; then the app's RSS growth, after a full garbage collection (SIGUSR2), per
    viewer."""
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        progress("join: starting the app")
        with harness.system(1, Path(tmp)) as sut:
            url = sut.apps[0].url
            show = asyncio.run(harness.make_show(url))
            asyncio.run(harness.dress_show(url, show))
            tokens = asyncio.run(harness.guest_tokens(url, viewers))
            app = sut.apps[0].proc
            rss_before = _rss_after_gc(app.pid)
            start = time.time() * 1000 + 3000
            at = [start + i * spread_s * 1000 / viewers for i in range(viewers)]
            joined_by = start + spread_s * 1000 + 5000
            jobs = [
                (
                    "joiners",
                    {
                        "url": url,
                        "show_id": show.show_id,
                        "tokens": tokens[i::workers],
                        "at": at[i::workers],
                        "hold_until": joined_by + 3000,
                    },
                )
                for i in range(workers)
            ]
            progress(f"join: {viewers} viewers join over {spread_s:g} s")
            running = Workers(jobs)
            time.sleep(max(0.0, (joined_by - time.time() * 1000) / 1000))
            rss_after = _rss_after_gc(app.pid)
            results = running.results()
    snapshot = [x for r in results for x in r["snapshot_ms"]]
    connects = [x for r in results for x in r["connect_ms"]]
    failures = [x for r in results for x in r["failures"]]
    out: dict[str, Any] = {
        "scenario": "join",
        "viewers": viewers,
        "joined": len(snapshot),
        "spread_s": spread_s,
        "p50_snapshot_ms": round(percentile(snapshot, 0.5), 1),
        "p99_snapshot_ms": round(percentile(snapshot, 0.99), 1),
        "p99_connect_ms": round(percentile(connects, 0.99), 1),
        "rss_kb_per_viewer": round((rss_after - rss_before) / 1024 / viewers, 1),
        "failures": len(failures),
    }
    if failures:
        out["failure_samples"] = failures[:3]
    return out


def _rss_after_gc(pid: int) -> int:
    os.kill(pid, signal.SIGUSR2)
    time.sleep(1.0)
    return int(psutil.Process(pid).memory_info().rss)


def join(quick: bool) -> dict[str, Any]:
    return run_join(300 if quick else 1000)


def median_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians of the numeric fields over repeated runs (full mode runs 3)."""
    out = dict(runs[0])
    for key, value in runs[0].items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            values = [r[key] for r in runs if isinstance(r.get(key), (int, float))]
            out[key] = statistics.median(values)
    out["runs"] = len(runs)
    return out


SCENARIOS = {
    "fanout": fanout,
    "scaleout": scaleout,
    "flash-sale": flash_sale,
    "join": join,
    "many-shows": many_shows,
}
