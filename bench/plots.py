"""Plots for docs/benchmarks.md from `python -m bench all --json` output.

`python -m bench.plots RESULTS.jsonl OUTDIR` writes, for the scenarios present:
- bench-latency.png: latency distributions (fanout: ours, raw, peer; scaleout; many-shows);
- bench-cpu.png: CPU per delivered message and per delivered frame, ours beside raw and peer;
- bench-capacity.png: p99 latency against the chat rate for each system, capacities marked;
- bench-throughput.png: flash-sale orders/s against concurrency, ours beside `sql`;
- bench-glass.png: glass-to-glass delay over a run beside the player's own estimate and the
  deal grace the server measured.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no display

import matplotlib.pyplot as plt


def load(path: Path) -> dict[str, dict[str, Any]]:
    """The last result of each scenario in a JSON-lines file (other lines are skipped)."""
    out: dict[str, dict[str, Any]] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line.startswith("{"):
            result = json.loads(line)
            out[result["scenario"]] = result
    return out


def _cdf(ax: Any, cdf: list[list[float]] | None, label: str) -> None:
    if not cdf:
        return
    points = [(ms, q) for q, ms in cdf if ms == ms]  # NaN when nothing was measured
    ax.plot([ms for ms, _ in points], [q for _, q in points], marker="o", ms=3, label=label)


def latency(results: dict[str, dict[str, Any]], out: Path) -> Path | None:
    series = []
    if "fanout" in results:
        r = results["fanout"]
        series += [
            (r.get("latency_cdf"), "fanout: ours"),
            (r.get("raw_latency_cdf"), "fanout: raw"),
            (r.get("peer_latency_cdf"), "fanout: peer (Node socket.io)"),
        ]
    for name in ("scaleout", "many-shows"):
        if name in results:
            series.append((results[name].get("latency_cdf"), f"{name}: ours"))
    if not any(cdf for cdf, _ in series):
        return None
    fig, ax = plt.subplots(figsize=(7, 4))
    for cdf, label in series:
        _cdf(ax, cdf, label)
    ax.set_xscale("log")
    ax.set_xlabel("latency from scheduled send to a probe viewer (ms, log)")
    ax.set_ylabel("percentile")
    ax.set_title("Chat line latency")
    ax.axvline(250, color="grey", ls="--", lw=1)
    ax.text(255, 50, "p99 target 250 ms", color="grey", fontsize=8, rotation=90)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, out / "bench-latency.png")


def cpu(results: dict[str, dict[str, Any]], out: Path) -> Path | None:
    r = results.get("fanout")
    if not r:
        return None
    fig, (left, right) = plt.subplots(1, 2, figsize=(8, 3.5))
    per_msg = [("ours", r.get("cpu_us_per_msg")), ("peer", r.get("peer_cpu_us_per_msg"))]
    per_frame = [("ours", r.get("cpu_us_per_frame")), ("raw", r.get("raw_cpu_us_per_frame"))]
    for ax, bars, title in (
        (left, per_msg, "CPU µs per delivered message"),
        (right, per_frame, "CPU µs per delivered frame"),
    ):
        names = [n for n, v in bars if v is not None]
        values = [v for _, v in bars if v is not None]
        ax.bar(names, values, color=["tab:blue", "tab:orange"][: len(values)])
        for i, v in enumerate(values):
            ax.text(i, v, f"{v:g}", ha="center", va="bottom", fontsize=9)
        ax.set_title(title, fontsize=10)
    fig.suptitle(f"fanout: {r.get('viewers')} viewers, {r.get('chat_per_s')} chat lines/s")
    return _save(fig, out / "bench-cpu.png")


def capacity(results: dict[str, dict[str, Any]], out: Path) -> Path | None:
    r = results.get("chat-capacity")
    if not r:
        return None
    fig, ax = plt.subplots(figsize=(7, 4))
    for key, cap_key, label in (
        ("steps", "capacity_msgs_per_s", "ours"),
        ("peer_steps", "peer_capacity_msgs_per_s", "peer (Node socket.io)"),
        ("raw_steps", "raw_capacity_msgs_per_s", "raw"),
    ):
        steps = r.get(key) or []
        if not steps:
            continue
        line = ax.plot(
            [s["rate"] for s in steps],
            [s["p99_ms"] for s in steps],
            marker="o",
            label=f"{label}: capacity {r.get(cap_key):g}/s",
        )
        failed = [s for s in steps if not s["passed"]]
        ax.scatter(
            [s["rate"] for s in failed],
            [s["p99_ms"] for s in failed],
            marker="x",
            s=60,
            color=line[0].get_color(),
        )
    ax.axhline(500, color="grey", ls="--", lw=1)
    ax.text(ax.get_xlim()[0], 520, "pass: p99 <= 500 ms and every line delivered", fontsize=8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("chat lines/s in total (x: step failed)")
    ax.set_ylabel("p99 latency (ms)")
    ax.set_title(f"Chat capacity, {r.get('viewers')} viewers in one show")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, out / "bench-capacity.png")


def throughput(results: dict[str, dict[str, Any]], out: Path) -> Path | None:
    r = results.get("flash-sale")
    rows = (r or {}).get("by_concurrency") or []
    if not rows:
        return None
    fig, ax = plt.subplots(figsize=(7, 4))
    xs = [row["concurrency"] for row in rows]
    ax.plot(
        xs, [row["orders_per_s"] for row in rows], marker="o", label="ours (cart.add + checkout)"
    )
    ax.plot(
        xs, [row["sql_orders_per_s"] for row in rows], marker="s", label="sql (bare transaction)"
    )
    ax.set_xscale("log", base=2)
    ax.set_xticks(xs, [str(x) for x in xs])
    ax.set_xlabel("concurrent buyers")
    ax.set_ylabel("paid orders/s")
    ax.set_title("Flash-sale checkout throughput on PostgreSQL")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, out / "bench-throughput.png")


def glass(results: dict[str, dict[str, Any]], out: Path) -> Path | None:
    r = results.get("glass")
    series = (r or {}).get("series") or []
    if not r or not series:
        return None
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot([t for t, _, _ in series], [g / 1000 for _, g, _ in series], label="glass to glass")
    estimates = [(t, e) for t, _, e in series if e is not None]
    ax.plot(
        [t for t, _ in estimates],
        [e / 1000 for _, e in estimates],
        linestyle="--",
        label="the player's estimate",
    )
    if r.get("server_deal_grace_ms") is not None:
        ax.axhline(
            r["server_deal_grace_ms"] / 1000, color="grey", linestyle=":", label="server deal grace"
        )
    ax.set_ylim(bottom=0)
    ax.set_xlabel("seconds into the measurement")
    ax.set_ylabel("delay behind the camera (s)")
    ax.set_title("OBS-like encoder → nginx-rtmp → HLS → player (one machine)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, out / "bench-glass.png")


def _save(fig: Any, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m bench.plots RESULTS.jsonl OUTDIR", file=sys.stderr)
        return 2
    results = load(Path(argv[0]))
    out = Path(argv[1])
    out.mkdir(parents=True, exist_ok=True)
    for plot in (latency, cpu, capacity, throughput, glass):
        written = plot(results, out)
        if written is not None:
            print(written)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
