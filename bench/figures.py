"""Figures from measurements: percentiles, medians over repeated runs, ratios to baselines."""

from __future__ import annotations

import statistics
from typing import Any


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def median_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians of the numeric fields over repeated runs."""
    out = dict(runs[0])
    for key, value in runs[0].items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            values = [r[key] for r in runs if isinstance(r.get(key), (int, float))]
            out[key] = statistics.median(values)
    out["runs"] = len(runs)
    return out


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
    out["raw_latency_cdf"] = raw.get("latency_cdf")
    out["peer_latency_cdf"] = peer.get("latency_cdf")
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
