"""How the fan-out figures are put beside their baselines' (pure arithmetic, no processes)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench import plots
from bench.clients import Counts, count_lines
from bench.figures import with_baselines
from bench.room import Drive, Steps, capacity_steps


def _run(us_per_msg: float, us_per_frame: float, **extra: Any) -> dict[str, Any]:
    return {
        "scenario": "fanout",
        "target": "x",
        "cpu_us_per_msg": us_per_msg,
        "cpu_us_per_frame": us_per_frame,
        "p99_ms": 10.0,
        "delivered_ratio": 1.0,
        **extra,
    }


def test_ratios_compare_cpu_per_message_and_per_frame() -> None:
    out = with_baselines(_run(6.5, 12.7), _run(6.2, 6.2), _run(9.3, 9.3))
    assert out["speedup_vs_peer"] == 1.43  # 9.3 / 6.5
    assert out["frame_cost_vs_raw"] == 2.05  # 12.7 / 6.2
    assert out["raw_cpu_us_per_frame"] == 6.2 and out["peer_cpu_us_per_msg"] == 9.3
    assert "target" not in out and out["scenario"] == "fanout"


def test_a_baseline_below_one_clock_tick_gives_no_ratio() -> None:
    out = with_baselines(_run(6.5, 12.7), _run(0.0, 0.0), _run(9.3, 9.3))
    assert out["frame_cost_vs_raw"] is None
    assert out["speedup_vs_peer"] == 1.43


def test_the_first_note_is_kept() -> None:
    out = with_baselines(_run(1, 1), _run(1, 1, note="generator busy"), _run(1, 1))
    assert out["note"] == "generator busy"


def _frame(*lines: str) -> str:
    events = ",".join(f'{{"type":"chat","text":"{line}"}}' for line in lines)
    return f'42["frame",{{"seq":1,"events":[{events}]}}]'


def test_lines_are_counted_by_step_and_warm_up_lines_are_not() -> None:
    for probe in (False, True):
        counts = Counts()
        count_lines(_frame("b0|1|7|1000", "b0|2|8|1010"), 1100.0, counts, probe, "same")
        count_lines(_frame("bw|1|9|900"), 1100.0, counts, probe, "same")
        count_lines(
            _frame("b0|1|10|1020", "b1|2|11|1030", "b1|2|12|1040"), 1100.0, counts, probe, "same"
        )
        count_lines('42["frame",{"seq":2,"events":[{"type":"pin"}]}]', 1100.0, counts, probe, "x")
        assert counts.lines == {"0": 3, "1": 2}
        if probe:
            assert counts.latencies == {"0": [100.0, 90.0, 80.0], "1": [70.0, 60.0]}
        else:
            assert counts.latencies == {}


def _drive(lines: dict[str, int], p99: dict[str, float], accepted: dict[str, int]) -> Drive:
    viewers = [
        {
            "per_show": {"1": 10},
            "lines": lines,
            "latencies": {step: [ms] for step, ms in p99.items()},
        }
    ]
    talk = {"accepted_per_show": {"1": accepted}}
    steps = list(lines)
    return Drive(
        viewers,
        talk,
        cpu=dict.fromkeys(steps, 1.0),
        generator_cpu=dict.fromkeys(steps, 0.5),
        wall=dict.fromkeys(steps, 1.0),
    )


def test_capacity_is_the_last_step_passed_before_the_first_failure() -> None:
    steps = Steps((10.0, 20.0, 40.0, 80.0), settle=1, measure=1)
    # Step 2 delivers all but one line; step 3 passes again, which does not count.
    run = _drive(
        lines={"0": 100, "1": 200, "2": 399, "3": 800},
        p99={"0": 50.0, "1": 80.0, "2": 90.0, "3": 100.0},
        accepted={"0": 10, "1": 20, "2": 40, "3": 80},
    )
    capacity, table = capacity_steps(run, steps)
    assert capacity == 20.0
    assert [s["passed"] for s in table] == [True, True, False, True]
    assert table[2]["delivered_ratio"] == 0.9975


def test_a_late_step_fails_and_unsent_steps_are_left_out() -> None:
    steps = Steps((10.0, 20.0, 40.0), settle=1, measure=1)
    run = _drive(
        lines={"0": 100, "1": 200}, p99={"0": 50.0, "1": 501.0}, accepted={"0": 10, "1": 20}
    )
    capacity, table = capacity_steps(run, steps)
    assert capacity == 10.0 and len(table) == 2 and table[1]["p99_ms"] == 501.0


def test_plots_are_drawn_from_bench_output(tmp_path: Path) -> None:
    cdf = [[q, float(q)] for q in (1, 50, 99, 100)]
    lines = [
        "progress lines and blank ones are skipped",
        json.dumps(
            {
                "scenario": "fanout",
                "viewers": 10,
                "chat_per_s": 20,
                "cpu_us_per_msg": 6.5,
                "cpu_us_per_frame": 12.7,
                "raw_cpu_us_per_frame": 6.2,
                "peer_cpu_us_per_msg": 9.3,
                "latency_cdf": cdf,
                "raw_latency_cdf": cdf,
                "peer_latency_cdf": [[1, float("nan")]],
            }
        ),
        json.dumps(
            {
                "scenario": "chat-capacity",
                "viewers": 10,
                "capacity_msgs_per_s": 50.0,
                "peer_capacity_msgs_per_s": 25.0,
                "raw_capacity_msgs_per_s": 25.0,
                "steps": [
                    {"rate": 25.0, "p99_ms": 100.0, "passed": True},
                    {"rate": 50.0, "p99_ms": 120.0, "passed": True},
                ],
                "peer_steps": [
                    {"rate": 25.0, "p99_ms": 20.0, "passed": True},
                    {"rate": 50.0, "p99_ms": 900.0, "passed": False},
                ],
                "raw_steps": [],
            }
        ),
        json.dumps(
            {
                "scenario": "flash-sale",
                "by_concurrency": [
                    {"concurrency": 1, "orders_per_s": 50.0, "sql_orders_per_s": 400.0},
                    {"concurrency": 8, "orders_per_s": 90.0, "sql_orders_per_s": 900.0},
                ],
            }
        ),
    ]
    results = tmp_path / "results.jsonl"
    results.write_text("\n".join(lines) + "\n")
    assert plots.main([str(results), str(tmp_path / "img")]) == 0
    written = sorted(p.name for p in (tmp_path / "img").iterdir())
    assert written == [
        "bench-capacity.png",
        "bench-cpu.png",
        "bench-latency.png",
        "bench-throughput.png",
    ]
    for name in written:
        assert (tmp_path / "img" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_no_plot_without_its_scenario(tmp_path: Path) -> None:
    results = tmp_path / "results.jsonl"
    results.write_text(json.dumps({"scenario": "join", "viewers": 3}) + "\n")
    assert plots.main([str(results), str(tmp_path / "img")]) == 0
    assert list((tmp_path / "img").iterdir()) == []
