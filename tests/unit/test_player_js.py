"""The player's pure JavaScript rules (tests/js/*.test.mjs, e.g. how pins keep in sync with the
video) under Node's built-in test runner. Without `node` this skips, except under CI=true."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests import backends as b

ROOT = Path(__file__).resolve().parents[2]


def test_the_player_js_rules_pass_under_node() -> None:
    node = shutil.which("node")
    if node is None:
        if b.IN_CI:
            pytest.fail("CI=true needs node for the player's JavaScript tests")
        pytest.skip("node is not installed (the player's JavaScript tests need Node 20+)")
    proc = subprocess.run(
        [node, "--test", "tests/js/"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "# fail 0" in proc.stdout, proc.stdout[-4000:]
