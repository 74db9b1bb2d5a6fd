"""The scenarios `python -m bench` runs: the live-room ones (bench/room.py), `flash-sale`
(bench/sale.py) and `join` (viewers arriving at a show)."""

from __future__ import annotations

import asyncio
import os
import signal
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

from bench import harness, room, sale
from bench.figures import median_of, percentile
from bench.glass import glass
from bench.harness import Workers, progress


def fanout(quick: bool) -> dict[str, Any]:
    return room.run_fanout(room.room_load(quick))


def scaleout(quick: bool) -> dict[str, Any]:
    return room.run_room(2, room.room_load(quick), "scaleout")


def many_shows(quick: bool) -> dict[str, Any]:
    out = room.run_room(1, room.many_shows_load(quick), "many-shows")
    del out["target"]
    return out


def chat_capacity(quick: bool) -> dict[str, Any]:
    return room.run_chat_capacity(*room.capacity_plan(quick))


def flash_sale(quick: bool) -> dict[str, Any]:
    return sale.run_flash_sale(*sale.plan(quick))


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


def join_medians(quick: bool) -> dict[str, Any]:
    """Three runs in full mode (one is about 40 s), medians reported."""
    return median_of([join(quick) for _ in range(1 if quick else 3)])


# Full mode reports medians of 3: the room scenarios and flash-sale's throughput over three
# windows of one long run (each scenario stays under 5 minutes), join over three runs;
# chat-capacity runs its step-up once per system.
SCENARIOS = {
    "fanout": fanout,
    "scaleout": scaleout,
    "flash-sale": flash_sale,
    "join": join_medians,
    "many-shows": many_shows,
    "chat-capacity": chat_capacity,
    "glass": glass,
}
