"""Go live from OBS, for real: ffmpeg publishes a test pattern over RTMP to real nginx-rtmp,
running the configuration the app generates (`python -m server ingest`), which calls the real
app back; the show goes live, HLS appears under the public name, and the player in headless
Chromium plays it. Marker `ingest`: needs nginx, libnginx-mod-rtmp and ffmpeg (`.ci/run`
installs them); outside CI without them these tests skip with one line.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import shutil
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient
from playwright.async_api import expect

from live.ingest.nginx import RTMP_MODULE, MediaConfig
from server import media
from server.app import create_app
from server.keys import engine_key, probe_key
from server.settings import Settings
from tests import backends as b
from tests.browser.conftest import PHONE, free_port, screenshot_path
from tests.helpers import bearer
from tests.room import Room, until

NGINX = media.nginx_binary()
FFMPEG = shutil.which("ffmpeg")
GRACE = 1.5  # seconds: the stream grace period, shortened


def _why_not() -> str | None:
    if NGINX is None:
        return "nginx is not installed"
    if not RTMP_MODULE.exists():
        return f"the nginx RTMP module is not installed ({RTMP_MODULE})"
    if FFMPEG is None:
        return "ffmpeg is not installed"
    return None


_WHY = _why_not()
if _WHY is not None:
    if b.IN_CI:
        raise RuntimeError(f"CI=true needs the ingest tests: {_WHY} (.ci/run installs it)")
    pytest.skip(
        f"{_WHY}: apt-get install -y nginx libnginx-mod-rtmp ffmpeg (.ci/run does)",
        allow_module_level=True,
    )

pytestmark = pytest.mark.ingest


class Media:
    """The app on a real port and nginx-rtmp in front of it, on this test's own ports."""

    def __init__(self, client: TestClient[Any, Any], settings: Settings, config: MediaConfig):
        self.client = client
        self.settings = settings
        self.config = config
        self.publishers: list[subprocess.Popen[bytes]] = []

    @property
    def rtmp(self) -> str:
        return self.settings.rtmp_ingest_url

    def publish(self, key: str, seconds: int | None = None) -> subprocess.Popen[bytes]:
        """ffmpeg as the host's encoder: a test pattern and a tone, in real time, 1 s GOPs."""
        assert FFMPEG is not None
        duration = [] if seconds is None else ["-t", str(seconds)]
        args = [
            FFMPEG,
            *("-hide_banner", "-loglevel", "error", "-nostdin", "-re"),
            *("-f", "lavfi", "-i", "testsrc=size=320x240:rate=25"),
            *("-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100"),
            *duration,
            *("-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency"),
            *("-pix_fmt", "yuv420p", "-profile:v", "baseline", "-g", "25"),
            *("-c:a", "aac", "-b:a", "64k", "-f", "flv", f"{self.rtmp}/{key}"),
        ]
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.publishers.append(proc)
        return proc

    def playlist_url(self, show_id: int) -> str:
        return f"{self.settings.hls_base}/show-{show_id}.m3u8"

    def hls_files(self) -> list[str]:
        return sorted(p.name for p in self.config.hls_path.iterdir())

    def stop_publishers(self) -> None:
        for proc in self.publishers:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


def _wait_port(port: int, within: float = 10) -> None:
    import socket

    deadline = time.monotonic() + within
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _default_access_log() -> str:
    """Where nginx logs RTMP sessions unless told otherwise (with the stream name)."""
    path = Path("/var/log/nginx/access.log")
    return path.read_text(errors="replace") if path.exists() else ""


def _start(args: list[str], log: Any) -> subprocess.Popen[bytes]:
    return subprocess.Popen(args, stdout=log, stderr=log)


@pytest.fixture
async def media_app(
    aiohttp_client: Any, make_settings: Callable[..., Settings], tmp_path: Path
) -> AsyncIterator[Media]:
    port, rtmp, http = free_port(), free_port(), free_port()
    settings = make_settings(
        port=port,
        data_dir=tmp_path / "var",
        ingest_rtmp_port=rtmp,
        hls_port=http,
        stream_grace_seconds=GRACE,
    )
    app = create_app(settings)
    client: TestClient[Any, Any] = await aiohttp_client(app, server_kwargs={"port": port})
    await b.truncate_all(app[engine_key])
    # on_update every 2 s here (30 s in the generated default), so a rotated key is cut off fast.
    config = dataclasses.replace(
        media.media_config(settings, tmp_path / "media"),
        rtmp_listen=f"127.0.0.1:{rtmp}",
        http_listen=f"127.0.0.1:{http}",
        update_seconds=2,
    )
    path = media.write(config)
    assert NGINX is not None
    log = (tmp_path / "nginx.log").open("w")
    nginx = _start(media.command(NGINX, config, path), log)
    try:
        await asyncio.to_thread(_wait_port, rtmp)
        await asyncio.to_thread(_wait_port, http)
        media_app = Media(client, settings, config)
        try:
            yield media_app
        finally:
            media_app.stop_publishers()
    finally:
        nginx.send_signal(signal.SIGQUIT)  # graceful stop, by its own pid
        try:
            nginx.wait(10)
        except subprocess.TimeoutExpired:
            nginx.kill()
            nginx.wait()
        log.close()
        # The key never reaches the media server's own logs either (its error log, and the
        # RTMP access log nginx would write by default).
        assert "sk_" not in (tmp_path / "nginx.log").read_text()
        assert not list(config.directory.rglob("*access*"))


@pytest.fixture
async def room(media_app: Media) -> AsyncIterator[Room]:
    r = await Room(media_app.client).setup(products=2)
    yield r
    await r.close()


async def _key(room: Room) -> str:
    resp = await room.client.get(
        f"/api/shops/{room.shop_id}/shows/{room.show_id}/stream", headers=bearer(room.owner)
    )
    assert resp.status == 200
    return str((await resp.json())["stream_key"])


async def _show(room: Room) -> dict[str, Any]:
    resp = await room.client.get(
        f"/api/shops/{room.shop_id}/shows/{room.show_id}", headers=bearer(room.owner)
    )
    return dict(await resp.json())


async def _status_becomes(room: Room, status: str, within: float = 15) -> None:
    deadline = time.monotonic() + within
    while (await _show(room))["status"] != status:
        assert time.monotonic() < deadline, f"the show did not become {status}"
        await asyncio.sleep(0.2)


async def _playlist(url: str) -> str | None:
    async with aiohttp.ClientSession() as http, http.get(url) as resp:
        return await resp.text() if resp.status == 200 else None


async def _fragments(url: str, at_least: int, within: float = 20) -> list[str]:
    deadline = time.monotonic() + within
    while True:
        text = await _playlist(url)
        names = re.findall(r"^(\S+\.ts)$", text or "", re.M)
        if len(names) >= at_least:
            return names
        assert time.monotonic() < deadline, f"playlist still has {names}"
        await asyncio.sleep(0.25)


async def _exits(proc: subprocess.Popen[bytes], within: float = 15) -> int:
    deadline = time.monotonic() + within
    while proc.poll() is None:
        assert time.monotonic() < deadline, "the publisher was not cut off"
        await asyncio.sleep(0.1)
    return int(proc.returncode)


async def test_obs_to_the_player(
    media_app: Media,
    room: Room,
    open_page: Any,
    console_errors: list[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    viewer = await room.joined("Early")
    key = await _key(room)
    assert (await _show(room))["status"] == "scheduled"
    # A viewer waits on the player before the host starts streaming.
    base = str(media_app.client.make_url("/")).rstrip("/")
    page = await open_page(f"{base}/watch/{room.show_id}", PHONE)
    await page.get_by_test_id("name-input").fill("Vic")
    await page.get_by_test_id("name-submit").click()
    await expect(page.get_by_test_id("connection")).to_have_attribute(
        "data-state", "connected", timeout=10_000
    )
    started = time.monotonic()
    media_app.publish(key)

    # The show goes live when the stream arrives; viewers get the playback URL and "online".
    await _status_becomes(room, "live")
    playback = await viewer.wait_event("playback", within=10)
    url = playback[0]["playback_url"]
    assert url == media_app.playlist_url(room.show_id)
    await viewer.wait_event("stream", within=10)
    assert viewer.events("stream")[0]["online"] is True

    # The playlist appears and grows, under the public name only.
    first = await _fragments(url, 2)
    later = await _fragments(url, len(first) + 1)
    assert later[-1] != first[-1]
    assert all(name.startswith(f"show-{room.show_id}-") for name in later)
    assert not any("sk_" in name or key in name for name in media_app.hls_files())
    assert key not in (await _playlist(url) or "")
    live_after = time.monotonic() - started

    # The server measures the delay from the playlist; a deal pinned now gets it as grace.
    probe = media_app.client.app[probe_key]
    deadline = time.monotonic() + 10
    while (estimate := await probe.estimate_ms(room.show_id)) is None:
        assert time.monotonic() < deadline, "no delay reading"
        await asyncio.sleep(0.25)
    assert 0 < estimate < 15_000
    host = await room.host()
    ends = int(time.time() * 1000) + 60_000
    product = room.products[0]["id"]
    pinned = await host.ok(
        "pin",
        {
            "product_id": product,
            "deal": {"price": 100, "units": 5, "per_buyer": 1, "ends_at_ms": ends},
        },
    )
    deal = pinned["pin"]["deal"]
    assert 0 < deal["grace_ms"] <= 15_000
    assert deal["closes_at_ms"] == ends + deal["grace_ms"]

    # The waiting player plays it (the URL came before the first playlist was written: it
    # tried again), knows how far behind the host it is, and shows the pin when its video
    # reaches the moment the host pinned it.
    await expect(page.get_by_test_id("video")).to_be_visible(timeout=10_000)
    await page.wait_for_function(
        "() => document.querySelector('[data-testid=video]').currentTime > 2",
        timeout=30_000,
    )
    await page.wait_for_function(
        "() => Number(document.getElementById('app').dataset.streamDelayMs) > 0"
    )
    behind = int(await page.evaluate("document.getElementById('app').dataset.streamDelayMs"))
    assert 500 < behind < 15_000
    await expect(page.get_by_test_id("deal-price")).to_be_visible(timeout=behind + 5_000)
    await page.screenshot(path=str(screenshot_path("player-live-stream.png")))
    # Only the playlist's 404 while the stream was starting.
    assert [e for e in console_errors if "status of 404" not in e] == []
    assert key not in _default_access_log()
    assert live_after < 20
    refused = [
        (
            r.getMessage(),
            getattr(r, "reason", None),
            getattr(r, "call", None),
            getattr(r, "client_addr", None),
        )
        for r in caplog.records
    ]
    assert not [r for r in refused if "refused" in r[0]], refused


async def test_wrong_rotated_and_second_publishers_are_refused(
    media_app: Media, room: Room
) -> None:
    viewer = await room.joined("Watcher")
    wrong = media_app.publish("sk_" + "A" * 32)
    assert await _exits(wrong) != 0
    assert await _playlist(media_app.playlist_url(room.show_id)) is None
    assert (await _show(room))["status"] == "scheduled"
    assert viewer.events("stream") == []

    key = await _key(room)
    first = media_app.publish(key)
    await _status_becomes(room, "live")
    await _fragments(media_app.playlist_url(room.show_id), 1)
    second = media_app.publish(key)
    assert await _exits(second) != 0
    assert first.poll() is None, "the first publisher must stay on air"

    # Rotating the key cuts the running stream off at its next on_update.
    resp = await room.client.post(
        f"/api/shops/{room.shop_id}/shows/{room.show_id}/stream/rotate",
        headers=bearer(room.owner),
    )
    assert resp.status == 200 and (await resp.json())["publishing"] is True
    await _exits(first)
    await until(
        lambda: [e["online"] for e in viewer.events("stream")] == [True, False],
        within=10,
        what="stream offline",
    )
    again = media_app.publish(key)  # the old key
    assert await _exits(again) != 0
    assert (await _show(room))["status"] == "live"  # the grace period: the host may come back


async def test_stopping_the_encoder_ends_the_show_after_the_grace_period(
    media_app: Media, room: Room
) -> None:
    resp = await room.client.patch(
        f"/api/shops/{room.shop_id}/shows/{room.show_id}",
        json={"end_on_stream_end": True},
        headers=bearer(room.owner),
    )
    assert resp.status == 200, await resp.text()
    viewer = await room.joined("Watcher")
    encoder = media_app.publish(await _key(room))
    await _status_becomes(room, "live")
    await _fragments(media_app.playlist_url(room.show_id), 2)
    stopped = time.monotonic()
    encoder.send_signal(signal.SIGINT)  # as a host pressing Stop Streaming
    await _exits(encoder)
    await until(
        lambda: [e["online"] for e in viewer.events("stream")] == [True, False],
        within=10,
        what="stream offline",
    )
    assert (await _show(room))["status"] == "live"  # within the grace period
    await _status_becomes(room, "ended", within=GRACE + 10)
    assert time.monotonic() - stopped >= GRACE
    # Publishing to an ended show is refused.
    late = media_app.publish(await _key(room))
    assert await _exits(late) != 0
