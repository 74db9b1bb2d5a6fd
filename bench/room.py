"""Live-room scenarios: `fanout` (one app process, beside the `raw` and `peer` baselines),
`scaleout` (two app processes on one Redis), `many-shows` and `chat-capacity`.

Viewers join live shows; each show's host pins on a schedule; chatters send benchmark lines
at a fixed total rate, shows taken in turn. Latency runs from each line's scheduled send time to
its arrival at a probe viewer; every viewer counts the lines of the measured steps, so a step's
`delivered_ratio` is received / (accepted x viewers of the line's show). CPU is read from the OS
for the app processes and the Redis they use (or the baseline's process), over the measured
window only.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import harness
from bench.figures import percentile, with_baselines
from bench.harness import Workers, progress

PROBES = 20
CHATTERS = 10
# Percentiles reported as `latency_cdf` ([percentile, ms] pairs) for the latency plots.
CDF_POINTS = (1, 5, 10, 25, 50, 75, 90, 95, 99, 99.9, 100)


@dataclass(frozen=True)
class Load:
    viewers: int
    chat_per_s: float
    seconds: float
    warmup: float
    pin_every: float = 5.0
    drain_workers: int = 2
    shows: int = 1
    chatters: int = CHATTERS
    windows: int = 1  # the measured seconds cut into this many windows; medians reported


@dataclass(frozen=True)
class Steps:
    """chat-capacity's schedule: each rate (lines/s in total) for `settle` s uncounted, then
    `measure` s counted; the talkers stop after a step whose acks came later than
    `stop_ack_ms` (the system fell behind: later steps would only fail too)."""

    rates: tuple[float, ...]
    settle: float
    measure: float
    stop_ack_ms: float = 1000.0


@dataclass
class Drive:
    """What one run of a room scenario gave: the workers' reports, and the CPU used by the
    system under test and by the load generator in each measured step (seconds)."""

    viewers: list[dict[str, Any]]
    talk: dict[str, Any]
    cpu: dict[str, float]
    generator_cpu: dict[str, float]
    wall: dict[str, float]

    def frames(self, step: str) -> int:
        return sum(r["frames"].get(step, 0) for r in self.viewers)

    def lines(self, step: str) -> int:
        return sum(r["lines"].get(step, 0) for r in self.viewers)

    def latencies(self, step: str) -> list[float]:
        return [x for r in self.viewers for x in r["latencies"].get(step, [])]

    def expected(self, step: str) -> int:
        """Every accepted line should reach every viewer of its show."""
        watching: dict[str, int] = {}
        for r in self.viewers:
            for show, n in r["per_show"].items():
                watching[show] = watching.get(show, 0) + n
        return sum(
            per_step.get(step, 0) * watching.get(show, 0)
            for show, per_step in self.talk["accepted_per_show"].items()
        )


def _drive(nodes: int, load: Load, scenario: str, target: str, steps: Steps | None = None) -> Drive:
    """Start the target, connect the viewers and talkers from their own processes, send on the
    schedule (one measured window of load.seconds after load.warmup, or `steps`)."""
    chatters_per_show = max(1, load.chatters // load.shows)
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
            segments = _segments(load, steps, send_start)
            measured = [s for s in segments if s["step"] != "w"]
            window_start, window_end = measured[0]["start"], measured[-1]["end"]
            stop_file = str(Path(tmp) / "talkers-stopped")
            common = {
                "frame_windows": [[m["step"], m["start"], m["end"]] for m in measured],
                "stop_at": window_end + 2500,
                "stop_file": stop_file,
                "urls": urls,
                "origins": ["same", "cross"] if nodes > 1 else ["same"],
            }
            groups = [list(range(n_probes))]
            rest = list(range(n_probes, load.viewers))
            groups += [rest[i :: load.drain_workers] for i in range(load.drain_workers)]
            jobs: list[tuple[str, dict[str, Any]]] = [
                (
                    "viewers",
                    {
                        **common,
                        "tokens": [viewer_tokens[i] for i in group],
                        "joins": [joins[i] for i in group],
                        "probe": g == 0,
                    },
                )
                for g, group in enumerate(groups)
                if group
            ]
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
                        "pin_every": load.pin_every,
                        "segments": segments,
                        "stop_ack_ms": steps.stop_ack_ms if steps else None,
                    },
                )
            )
            rates = f"{load.chat_per_s:g}" if steps is None else f"{steps.rates[0]:g}.."
            progress(
                f"{scenario}: {load.viewers} viewers in {load.shows} show(s) on {nodes} node(s), "
                f"{rates} chat/s; measured {(window_end - window_start) / 1000:g} s "
                f"from {(window_start - send_start) / 1000:g} s after the first line"
            )
            workers = Workers(jobs)
            time.sleep(max(0.0, (window_start - time.time() * 1000) / 1000))
            procs = sut.processes()
            progress(f"{scenario}: measuring")
            cpu, generator_cpu, wall = {}, {}, {}
            for m in measured:
                before = harness.cpu_seconds(procs)
                gen_before = harness.cpu_seconds(workers.processes())
                began = time.monotonic()
                while time.time() * 1000 < m["end"] and not Path(stop_file).exists():
                    time.sleep(min(0.25, max(0.0, (m["end"] - time.time() * 1000) / 1000)))
                cpu[m["step"]] = harness.cpu_seconds(procs) - before
                generator_cpu[m["step"]] = harness.cpu_seconds(workers.processes()) - gen_before
                wall[m["step"]] = time.monotonic() - began
                if Path(stop_file).exists():
                    break
            progress(f"{scenario}: draining")
            results = workers.results()
    return Drive(results[:-1], results[-1], cpu, generator_cpu, wall)


def _segments(load: Load, steps: Steps | None, send_start: float) -> list[dict[str, Any]]:
    if steps is None:
        window_start = send_start + load.warmup * 1000
        span = load.seconds * 1000 / load.windows
        rate = load.chat_per_s
        return [
            {"step": "w", "rate": rate, "start": send_start, "end": window_start},
            *(
                {
                    "step": str(k),
                    "rate": rate,
                    "start": window_start + k * span,
                    "end": window_start + (k + 1) * span,
                }
                for k in range(load.windows)
            ),
        ]
    out: list[dict[str, Any]] = []
    t = send_start
    for k, rate in enumerate(steps.rates):
        settled = t + steps.settle * 1000
        out.append({"step": "w", "rate": rate, "start": t, "end": settled})
        t = settled + steps.measure * 1000
        out.append({"step": str(k), "rate": rate, "start": settled, "end": t})
    return out


def run_room(nodes: int, load: Load, scenario: str, target: str = "ours") -> dict[str, Any]:
    """`load.viewers` viewers split evenly over `load.shows` live shows, chat at a fixed rate.
    Figures are medians over the measured windows; delivered_ratio is over all of them."""
    run = _drive(nodes, load, scenario, target)
    steps = [str(k) for k in range(load.windows)]
    per_window = [_window_figures(run, step, load.seconds / load.windows) for step in steps]
    out: dict[str, Any] = {
        "scenario": scenario,
        "target": target,
        "viewers": sum(r["viewers"] for r in run.viewers),
        "nodes": nodes,
        "chat_per_s": load.chat_per_s,
        "seconds": load.seconds,
    }
    lines = sum(run.lines(step) for step in steps)
    expected = sum(run.expected(step) for step in steps)
    out["delivered_ratio"] = round(lines / expected, 4) if expected else 0.0
    for key in per_window[0]:
        values = [v for w in per_window if (v := w[key]) is not None]
        out[key] = round(statistics.median(values), 2) if values else None
    talk = run.talk
    out.update(chat_accepted=talk["accepted"], chat_refused=talk["refused"], pins=talk["pins"])
    everything = [x for step in steps for x in run.latencies(step)]
    out["latency_cdf"] = [[q, round(percentile(everything, q / 100), 1)] for q in CDF_POINTS]
    if load.windows > 1:
        out["windows"] = load.windows
    if load.shows > 1:
        out["shows"] = load.shows
    if nodes > 1:
        by_origin: dict[str, list[float]] = {}
        for r in run.viewers:
            for origin, values in r["by_origin"].items():
                by_origin.setdefault(origin, []).extend(values)
        out["same_node_p99_ms"] = round(percentile(by_origin.get("same", []), 0.99), 1)
        out["cross_node_p99_ms"] = round(percentile(by_origin.get("cross", []), 0.99), 1)
    if out["generator_cpu_percent"] > 90:
        out["note"] = "load generator near a full core: latency figures are upper bounds"
    return out


def _window_figures(run: Drive, step: str, seconds: float) -> dict[str, float | None]:
    lines, frames, latencies = run.lines(step), run.frames(step), run.latencies(step)
    viewers = sum(r["viewers"] for r in run.viewers)
    cpu, wall = run.cpu.get(step, 0.0), run.wall.get(step, 0.0)
    return {
        "p50_ms": round(percentile(latencies, 0.5), 1),
        "p99_ms": round(percentile(latencies, 0.99), 1),
        "max_ms": round(max(latencies), 1) if latencies else None,
        "cpu_us_per_msg": round(cpu * 1e6 / lines, 2) if lines else None,
        "cpu_us_per_frame": round(cpu * 1e6 / frames, 2) if frames else None,
        "frames_per_viewer_per_s": round(frames / viewers / seconds, 2) if viewers else 0,
        "sut_cpu_percent": round(100 * cpu / wall, 1) if wall else None,
        "generator_cpu_percent": (
            round(100 * run.generator_cpu.get(step, 0.0) / wall, 1) if wall else None
        ),
    }


def room_load(quick: bool) -> Load:
    if quick:  # short enough for fanout's three systems to run in under a minute
        return Load(viewers=300, chat_per_s=20, seconds=6, warmup=2)
    return Load(viewers=1000, chat_per_s=20, seconds=60, warmup=5, windows=3)


def run_fanout(load: Load) -> dict[str, Any]:
    ours = run_room(1, load, "fanout")
    raw = run_room(1, load, "fanout", target="raw")
    peer = run_room(1, load, "fanout", target="peer")
    return with_baselines(ours, raw, peer)


def many_shows_load(quick: bool) -> Load:
    """Shows of 5 viewers, 1 chat line/s per show, each show's host pins every 10 s."""
    shows = 100 if quick else 200
    return Load(
        viewers=5 * shows,
        chat_per_s=shows,
        seconds=6 if quick else 60,
        warmup=2 if quick else 5,
        pin_every=10,
        shows=shows,
        windows=1 if quick else 3,
    )


# Capacity pass rule (issue 5): every line delivered, p99 within this.
CAPACITY_P99_MS = 500.0


def capacity_steps(run: Drive, steps: Steps) -> tuple[float, list[dict[str, Any]]]:
    """The capacity and each step's figures: the capacity is the last rate whose step had every
    line delivered and p99 within CAPACITY_P99_MS, counting from the first step (a step after a
    failed one does not count even if it passes)."""
    table = []
    capacity = 0.0
    failed = False
    for k, rate in enumerate(steps.rates):
        step = str(k)
        expected = run.expected(step)
        if not expected:
            break  # the talkers stopped before this step
        delivered = run.lines(step) / expected
        p99 = percentile(run.latencies(step), 0.99)
        passed = delivered >= 1.0 and p99 <= CAPACITY_P99_MS
        table.append(
            {
                "rate": rate,
                "delivered_ratio": round(delivered, 4),
                "p99_ms": round(p99, 1),
                "passed": passed,
            }
        )
        failed = failed or not passed
        if not failed:
            capacity = rate
    return capacity, table


def run_capacity(load: Load, steps: Steps, target: str = "ours") -> dict[str, Any]:
    run = _drive(1, load, "chat-capacity", target, steps)
    capacity, table = capacity_steps(run, steps)
    out: dict[str, Any] = {
        "target": target,
        "capacity_msgs_per_s": capacity,
        "steps": table,
        "generator_cpu_percent": round(
            100
            * max(
                (run.generator_cpu[s] / run.wall[s] for s in run.wall if run.wall[s]),
                default=0.0,
            ),
            1,
        ),
    }
    if capacity == steps.rates[-1]:
        out["note"] = "the highest step passed: capacity is at least this"
    return out


def capacity_plan(quick: bool) -> tuple[Load, Steps]:
    """1,000 viewers (quick 200), 50 chatters; rates x1.5 (quick x2) from 25 lines/s."""
    if quick:  # the three systems in under a minute
        load = Load(viewers=200, chat_per_s=0, seconds=0, warmup=0, chatters=50)
        return load, Steps(tuple(25.0 * 2**k for k in range(8)), settle=0.4, measure=0.8)
    rates = tuple(float(round(25 * 1.5**k)) for k in range(12))
    load = Load(viewers=1000, chat_per_s=0, seconds=0, warmup=0, chatters=50)
    return load, Steps(rates, settle=1.0, measure=3.0)


def run_chat_capacity(load: Load, steps: Steps) -> dict[str, Any]:
    ours = run_capacity(load, steps)
    peer = run_capacity(load, steps, "peer")
    raw = run_capacity(load, steps, "raw")
    out: dict[str, Any] = {
        "scenario": "chat-capacity",
        "viewers": load.viewers,
        "capacity_msgs_per_s": ours["capacity_msgs_per_s"],
        "peer_capacity_msgs_per_s": peer["capacity_msgs_per_s"],
        "raw_capacity_msgs_per_s": raw["capacity_msgs_per_s"],
        "capacity_vs_peer": (
            round(ours["capacity_msgs_per_s"] / peer["capacity_msgs_per_s"], 2)
            if peer["capacity_msgs_per_s"]
            else None
        ),
        "steps": ours["steps"],
        "peer_steps": peer["steps"],
        "raw_steps": raw["steps"],
        "generator_cpu_percent": max(r["generator_cpu_percent"] for r in (ours, peer, raw)),
    }
    notes = [f"{r['target']}: {r['note']}" for r in (ours, peer, raw) if "note" in r]
    if out["generator_cpu_percent"] > 90:
        notes.append(
            "the load generator used a core or more at the top steps, on the same machine: "
            "the capacities are lower bounds"
        )
    if notes:
        out["note"] = "; ".join(notes)
    return out
