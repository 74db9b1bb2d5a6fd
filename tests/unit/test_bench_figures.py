"""How the fan-out figures are put beside their baselines' (pure arithmetic, no processes)."""

from __future__ import annotations

from typing import Any

from bench.scenarios import with_baselines


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
