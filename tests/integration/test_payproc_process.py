"""`python -m payproc` as a real process: it says "listening" when ready, keeps its intents and
ledger across a restart, and stops on SIGTERM with exit 0."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.paying import API_KEY, card
from tests.processes import ROOT, free_port

pytestmark = pytest.mark.payments


class Payproc:
    def __init__(self, port: int, data_dir: Path, log: Path) -> None:
        self.port = port
        self.log = log
        env = {k: v for k, v in os.environ.items() if not k.startswith("PAYPROC_")}
        env |= {"PAYPROC_API_KEY": API_KEY, "PAYPROC_TEST_CONTROLS": "1"}
        argv = ["--host", "127.0.0.1", "--port", str(port), "--data-dir", str(data_dir)]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "payproc", *argv],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=log.open("w"),
        )

    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.log.read_text().splitlines() if line]

    def wait_listening(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not any(line["msg"] == "listening" for line in self.lines()):
            assert self.proc.poll() is None, self.log.read_text()
            assert time.monotonic() < deadline, "payproc did not say listening in time"
            time.sleep(0.05)

    def call(self, method: str, path: str, body: Any = None, auth: bool = True) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        url = f"http://127.0.0.1:{self.port}{path}"
        req = urllib.request.Request(url, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        if auth:
            req.add_header("Authorization", f"Bearer {API_KEY}")
        if method == "POST":
            req.add_header("Idempotency-Key", uuid.uuid4().hex)
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 - loopback
                return json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            raise AssertionError(exc.read()) from exc

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=30)


@pytest.fixture
def started() -> Iterator[list[Payproc]]:
    procs: list[Payproc] = []
    yield procs
    for p in procs:
        if p.proc.poll() is None:
            p.proc.kill()
            p.proc.wait()


def test_the_process_keeps_its_money_across_a_restart(
    tmp_path: Path, started: list[Payproc]
) -> None:
    port, data = free_port(), tmp_path / "payproc-data"
    first = Payproc(port, data, tmp_path / "first.log")
    started.append(first)
    first.wait_listening()
    intent = first.call(
        "POST",
        "/v1/intents",
        {
            "amount": 4200,
            "currency": "EUR",
            "reference": "order-1",
            "shop": 1,
            "methods": ["card"],
            "return_url": "http://127.0.0.1/back",
        },
    )
    body = {"client_secret": intent["client_secret"], "method": "card", "card": card()}
    state = first.call("POST", f"/pay/{intent['id']}/confirm", body, auth=False)
    assert state["status"] == "succeeded"
    ledger = first.call("GET", "/v1/test/ledger")
    assert first.stop() == 0
    assert [line["msg"] for line in first.lines()][-2:] == ["stopping", "stopped"]

    second = Payproc(port, data, tmp_path / "second.log")
    started.append(second)
    second.wait_listening()
    assert second.call("GET", f"/v1/intents/{intent['id']}")["status"] == "succeeded"
    assert second.call("GET", "/v1/test/ledger") == ledger
    assert ledger["intents"][0]["captured"] == 4200
    assert second.stop() == 0


def test_bad_settings_exit_with_a_message(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAYPROC_")}
    done = subprocess.run(
        [sys.executable, "-m", "payproc", "--data-dir", str(tmp_path)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "api_key" in done.stderr
