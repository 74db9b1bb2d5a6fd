"""The real processes a newcomer runs: migrate, seed-demo, run, and a graceful SIGTERM."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import threading
import time
import urllib.error
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import socketio

from tests.processes import ROOT, Server, cli, embedded_env, free_port, request


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return embedded_env(tmp_path)


@pytest.fixture
def servers() -> Iterator[list[Server]]:
    started: list[Server] = []
    yield started
    for server in started:
        if server.proc.poll() is None:
            server.proc.kill()
            server.proc.wait()


def test_a_bad_setting_stops_start_up_with_one_line(env: dict[str, str]) -> None:
    result = cli({**env, "PORT": "eighty"}, "run")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "PORT" in lines[0]
    result = cli({**env, "LOG_FORMAT": "xml"}, "migrate")
    assert result.returncode == 2 and "LOG_FORMAT" in result.stderr


def test_run_refuses_an_unmigrated_database(env: dict[str, str]) -> None:
    result = cli(env, "run")
    assert result.returncode == 2
    assert "python -m server migrate" in result.stderr


def test_two_runs_keep_the_data_and_seed_once(
    env: dict[str, str], tmp_path: Path, servers: list[Server]
) -> None:
    assert cli(env, "migrate").returncode == 0
    first = cli(env, "seed-demo")
    assert first.returncode == 0, first.stderr
    assert "demo created" in first.stdout
    assert f"http://127.0.0.1:{env['PORT']}/watch/1" in first.stdout
    creds = json.loads((tmp_path / "var" / "demo-login.json").read_text())

    server = Server(env, tmp_path / "run1.log")
    servers.append(server)
    ready = server.wait_ready()
    assert (ready["database"], ready["redis"]) == ("sqlite", "embedded")
    valkey = [p for p in server.children() if "valkey" in p.name()]
    assert len(valkey) == 1
    status, login = request(
        server.port,
        "POST",
        "/api/auth/login",
        {"email": creds["owner"]["email"], "password": creds["owner"]["password"]},
    )
    assert status == 200
    status, products = request(server.port, "GET", "/api/shops/1/products", token=login["token"])
    assert len(products["products"]) == 8
    # Failed log-ins are counted in Redis; the count must survive the restart (AOF).
    for _ in range(5):
        assert (
            request(
                server.port,
                "POST",
                "/api/auth/login",
                {"email": creds["host"]["email"], "password": "wrong password"},
            )[0]
            == 401
        )
    time.sleep(1.2)  # appendfsync everysec
    assert server.stop() == 0
    assert not valkey[0].is_running()

    again = cli(env, "seed-demo")
    assert "already present" in again.stdout
    server = Server(env, tmp_path / "run2.log")
    servers.append(server)
    server.wait_ready()
    status, login = request(
        server.port,
        "POST",
        "/api/auth/login",
        {"email": creds["owner"]["email"], "password": creds["owner"]["password"]},
    )
    status, products = request(server.port, "GET", "/api/shops/1/products", token=login["token"])
    assert len(products["products"]) == 8
    status, body = request(
        server.port,
        "POST",
        "/api/auth/login",
        {"email": creds["host"]["email"], "password": creds["host"]["password"]},
    )
    assert status == 429, body
    assert server.stop() == 0


def test_start_up_failures_end_in_one_line(
    env: dict[str, str], tmp_path: Path, servers: list[Server]
) -> None:
    assert cli(env, "migrate").returncode == 0
    server = Server(env, tmp_path / "run1.log")
    servers.append(server)
    server.wait_ready()
    # The same data directory on another port: its embedded Redis is taken.
    result = cli({**env, "PORT": str(free_port())}, "run")
    assert result.returncode == 1
    assert "in use by another process" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    # Another data directory on the same port: the address is taken.
    other = {**env, "DATA_DIR": str(tmp_path / "other")}
    assert cli(other, "migrate").returncode == 0
    result = cli(other, "run")
    assert result.returncode == 1
    assert "could not start" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    # An unreachable database.
    result = cli({**env, "DATABASE_URL": "postgresql+asyncpg://u@127.0.0.1:1/x"}, "run")
    assert result.returncode == 1
    assert "database is unreachable" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert server.stop() == 0


def test_sigterm_lets_an_in_flight_request_finish(
    env: dict[str, str], tmp_path: Path, servers: list[Server]
) -> None:
    assert cli(env, "migrate").returncode == 0
    # A deliberately slow password hash keeps the sign-up handler busy for a while.
    slow = {**env, "PASSWORD_HASH_TIME_COST": "10", "PASSWORD_HASH_MEMORY_KIB": "65536"}
    server = Server(slow, tmp_path / "run.log")
    servers.append(server)
    server.wait_ready()
    answer: dict[str, Any] = {}

    def sign_up() -> None:
        answer["result"] = request(
            server.port,
            "POST",
            "/api/auth/signup",
            {"email": "late@example.com", "password": "a long password", "display_name": "Late"},
        )

    started = time.monotonic()
    thread = threading.Thread(target=sign_up)
    thread.start()
    time.sleep(0.15)
    server.proc.send_signal(signal.SIGTERM)
    thread.join(30)
    assert answer["result"][0] == 201, answer
    assert server.proc.wait(timeout=30) == 0
    assert time.monotonic() - started < 10
    # New connections are refused once it has stopped.
    with pytest.raises(urllib.error.URLError, match="refused"):
        request(server.port, "GET", "/healthz")


async def test_sigterm_says_goodbye_to_sockets(
    env: dict[str, str], tmp_path: Path, servers: list[Server]
) -> None:
    assert cli(env, "migrate").returncode == 0
    assert cli(env, "seed-demo").returncode == 0
    server = Server(env, tmp_path / "run.log")
    servers.append(server)
    await asyncio.to_thread(server.wait_ready)
    status, guest = await asyncio.to_thread(
        request, server.port, "POST", "/api/viewers", {"display_name": "V"}
    )
    assert status == 201
    sio = socketio.AsyncClient(reconnection=False)
    gone = asyncio.Event()
    sio.on("disconnect", lambda *_: gone.set())
    await sio.connect(
        f"http://127.0.0.1:{server.port}", transports=["websocket"], auth={"token": guest["token"]}
    )
    assert (await sio.call("join", {"show_id": 1}, timeout=5))["ok"] is True
    started = time.monotonic()
    server.proc.send_signal(signal.SIGTERM)
    await asyncio.wait_for(gone.wait(), 5)
    assert await asyncio.to_thread(server.proc.wait, 10) == 0
    # Not held open until SHUTDOWN_TIMEOUT by the websocket.
    assert time.monotonic() - started < 5, server.log.read_text()
    await sio.disconnect()


def test_create_user(env: dict[str, str]) -> None:
    assert cli(env, "migrate").returncode == 0
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "server",
            "create-user",
            "--email",
            "Op@Example.com",
            "--name",
            "Op",
            "--password-stdin",
        ],
        input="a long enough password\n",
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "op@example.com" in result.stdout
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "server",
            "create-user",
            "--email",
            "x@example.com",
            "--name",
            "X",
            "--password-stdin",
        ],
        input="short\n",
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2 and "password" in result.stderr
