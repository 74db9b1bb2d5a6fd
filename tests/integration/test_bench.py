"""The benchmark harness keeps working: each scenario at a tiny size, through the real CLI path."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bench.scenarios import Load, run_room

ROOT = Path(__file__).resolve().parents[2]
FIELDS = {"scenario", "viewers", "nodes", "delivered_ratio", "p50_ms", "p99_ms"}


@pytest.mark.parametrize(("nodes", "scenario"), [(1, "fanout"), (2, "scaleout")])
def test_room_scenarios_at_a_tiny_size(nodes: int, scenario: str) -> None:
    load = Load(viewers=12, chat_per_s=10, seconds=2, warmup=0.5, drain_workers=1)
    result = run_room(nodes, load, scenario)
    assert set(result) >= FIELDS
    assert result["scenario"] == scenario and result["nodes"] == nodes
    assert result["viewers"] == 12
    assert result["chat_accepted"] >= 15
    assert result["delivered_ratio"] == 1.0
    assert 0 < result["p50_ms"] <= result["p99_ms"] <= result["max_ms"]
    if nodes == 2:
        assert {"same_node_p99_ms", "cross_node_p99_ms"} <= set(result)


def test_cli_refuses_an_unknown_scenario() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "bench", "nosuch", "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 2 and "invalid choice" in out.stderr
