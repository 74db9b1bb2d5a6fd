"""Scenarios: `fanout` (one app process) and `scaleout` (two app processes on one Redis).

Viewers join one live show; the host pins every 5 s; chatters send benchmark lines at a fixed
total rate. Latency runs from each line's scheduled send time to its arrival at a probe viewer;
every viewer counts the lines scheduled inside the measured window, so `delivered_ratio` is
received / (accepted x viewers). CPU is read from the OS for the app processes and the Redis
they use, over the measured window only.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def _split(items: list[str], parts: int) -> list[list[str]]:
    return [items[i::parts] for i in range(parts)]


def run_room(nodes: int, load: Load, scenario: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        progress(f"{scenario}: starting {nodes} app process(es)")
        with harness.system(nodes, Path(tmp)) as sut:
            urls = [app.url for app in sut.apps]
            show = asyncio.run(harness.make_show(urls[0]))
            tokens = asyncio.run(harness.guest_tokens(urls[0], load.viewers + CHATTERS))
            viewer_tokens, chatter_tokens = tokens[: load.viewers], tokens[load.viewers :]
            probes = viewer_tokens[: min(PROBES, load.viewers)]
            drainers = viewer_tokens[len(probes) :]
            connect_budget = 4.0 + load.viewers / 150
            send_start = time.time() * 1000 + connect_budget * 1000
            window_start = send_start + load.warmup * 1000
            window_end = window_start + load.seconds * 1000
            common = {
                "show_id": show.show_id,
                "window_start": window_start,
                "window_end": window_end,
                "stop_at": window_end + 2500,
            }
            origins = ["same", "cross"] if nodes > 1 else ["same"]
            jobs: list[tuple[str, dict[str, Any]]] = [
                (
                    "viewers",
                    {**common, "tokens": probes, "urls": urls, "origins": origins, "probe": True},
                )
            ]
            for part in _split(drainers, load.drain_workers):
                if part:
                    jobs.append(
                        (
                            "viewers",
                            {
                                **common,
                                "tokens": part,
                                "urls": urls,
                                "origins": origins,
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
                        "host_token": show.owner_token,
                        "chatter_tokens": chatter_tokens,
                        "products": show.products,
                        "chat_per_s": load.chat_per_s,
                        "pin_every": load.pin_every,
                        "send_start": send_start,
                        "send_end": window_end,
                    },
                )
            )
            progress(
                f"{scenario}: {load.viewers} viewers on {nodes} node(s), "
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
    expected = talk["accepted"] * viewers
    out: dict[str, Any] = {
        "scenario": scenario,
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
    if quick:
        return Load(viewers=300, chat_per_s=20, seconds=20, warmup=3)
    return Load(viewers=1000, chat_per_s=20, seconds=60, warmup=10)


def fanout(quick: bool) -> dict[str, Any]:
    return run_room(1, _room_load(quick), "fanout")


def scaleout(quick: bool) -> dict[str, Any]:
    return run_room(2, _room_load(quick), "scaleout")


def median_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians of the numeric fields over repeated runs (full mode runs 3)."""
    out = dict(runs[0])
    for key, value in runs[0].items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            values = [r[key] for r in runs if isinstance(r.get(key), (int, float))]
            out[key] = statistics.median(values)
    out["runs"] = len(runs)
    return out


SCENARIOS = {"fanout": fanout, "scaleout": scaleout}
