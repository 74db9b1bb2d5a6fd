"""`python -m bench glass`: glass-to-glass delay of the local setup, and how well the player
and the server estimate it.

A "camera" made here writes frames that show the wall-clock millisecond they were made (24 bits
as black and white blocks) into ffmpeg, which encodes them like OBS would (x264, zerolatency,
1 s keyframes) and publishes over RTMP to nginx-rtmp running the configuration the app
generates; the app authorises the stream, the show's player plays the HLS in headless
Chromium, and the page reads the blocks of the frame on screen: now minus that stamp is the
glass-to-glass delay (same machine, one clock). At the same instants it reads the player's own
estimate of its delay (static/player/sync.js), and the app's deal grace (the delay the server
measured from the playlist) is read by pinning a deal. No video bytes pass through the app.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import statistics
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import aiohttp

from bench.harness import free_port, make_show, pin_deal, progress, system, wait_port
from live.ingest import delay
from live.ingest.nginx import RTMP_MODULE, MediaConfig, render

WIDTH, HEIGHT, FPS = 320, 240, 25
COLS, ROWS, BITS = 6, 4, 24
BLOCK_W, BLOCK_H = WIDTH // COLS, HEIGHT // ROWS

# Reads the stamp off the frame on screen; null while no frame is decodable.
_READ = """
() => {
  const video = document.querySelector('[data-testid=video]');
  if (!video || video.readyState < 2 || !video.videoWidth) return null;
  const canvas = window.__glass || (window.__glass = document.createElement('canvas'));
  canvas.width = video.videoWidth; canvas.height = video.videoHeight;
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  ctx.drawImage(video, 0, 0);
  const bw = canvas.width / %(cols)d, bh = canvas.height / %(rows)d;
  let stamp = 0;
  for (let bit = 0; bit < %(bits)d; bit++) {
    const x = Math.floor((bit %% %(cols)d) * bw + bw / 2);
    const y = Math.floor(Math.floor(bit / %(cols)d) * bh + bh / 2);
    const luma = ctx.getImageData(x, y, 1, 1).data[0];
    if (luma > 128) stamp += 2 ** bit;
  }
  const now = Date.now();
  const app = document.getElementById('app');
  const estimate = app && app.dataset.streamDelayMs !== undefined
    ? Number(app.dataset.streamDelayMs) : null;
  return { delay: (now %% 2 ** %(bits)d - stamp + 2 ** %(bits)d) %% 2 ** %(bits)d, estimate };
}
""" % {"cols": COLS, "rows": ROWS, "bits": BITS}  # noqa: UP031 - JS braces stay literal


_STATE = """
() => {
  const v = document.querySelector('[data-testid=video]');
  return { src: v.currentSrc, time: v.currentTime, ready: v.readyState, paused: v.paused,
           network: v.networkState, error: v.error && v.error.message,
           buffered: Array.from({ length: v.buffered.length },
                                (_, i) => [v.buffered.start(i), v.buffered.end(i)]) };
}
"""


def frame(stamp: int) -> bytes:
    """One yuv420p frame showing `stamp` (24 bits, least significant bit top left)."""
    dark, light = bytes([16]) * BLOCK_W, bytes([235]) * BLOCK_W
    pad = bytes([16]) * (WIDTH - COLS * BLOCK_W)
    rows = []
    for r in range(ROWS):
        line = b"".join(light if stamp >> (r * COLS + c) & 1 else dark for c in range(COLS)) + pad
        rows.append(line * BLOCK_H)
    luma = b"".join(rows) + bytes([16]) * WIDTH * (HEIGHT - ROWS * BLOCK_H)
    return luma + bytes([128]) * (WIDTH * HEIGHT // 2)


def decode(pixels: list[int]) -> int:
    """The stamp from the block centres' luma, in bit order (what the page does)."""
    return sum(1 << bit for bit, luma in enumerate(pixels) if luma > 128)


class Camera:
    """Frames stamped with the wall clock as they are made, FPS a second, into ffmpeg."""

    def __init__(self, url: str, log: Path) -> None:
        ffmpeg = shutil.which("ffmpeg")
        assert ffmpeg is not None
        args = [
            ffmpeg,
            *("-hide_banner", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "yuv420p"),
            *("-s", f"{WIDTH}x{HEIGHT}", "-r", str(FPS), "-i", "-"),
            *("-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency"),
            *("-pix_fmt", "yuv420p", "-g", str(FPS), "-f", "flv", url),
        ]
        self._log = log.open("w")
        self.proc = subprocess.Popen(  # noqa: S603 - ffmpeg from PATH, arguments made here
            args, stdin=subprocess.PIPE, stderr=self._log
        )
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        assert self.proc.stdin is not None
        start = time.monotonic()
        n = 0
        while not self._stop.is_set():
            due = start + n / FPS
            if (wait := due - time.monotonic()) > 0:
                time.sleep(wait)
            try:
                self.proc.stdin.write(frame(int(time.time() * 1000) % (1 << BITS)))
                self.proc.stdin.flush()
            except (BrokenPipeError, ValueError):
                return
            n += 1

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._log.close()


def _start_media(workdir: Path, app_url: str, rtmp: int, http: int) -> subprocess.Popen[bytes]:
    from server.media import command, nginx_binary, write

    nginx = nginx_binary()
    if nginx is None or not RTMP_MODULE.exists():
        raise SystemExit("glass needs nginx and libnginx-mod-rtmp (apt-get install -y ...)")
    config = MediaConfig(
        directory=workdir / "media",
        callback_base=app_url,
        secret=None,
        rtmp_listen=f"127.0.0.1:{rtmp}",
        http_listen=f"127.0.0.1:{http}",
        run_as_root=os.geteuid() == 0,
    )
    path = write(config)
    assert render(config) == path.read_text()
    log = (workdir / "nginx.log").open("w")
    proc = subprocess.Popen(  # noqa: S603 - nginx with the configuration made here
        command(nginx, config, path), stdout=log, stderr=log
    )
    wait_port(rtmp, proc)
    return proc


Series = list[tuple[float, int, int | None]]  # seconds in, glass to glass, the player's estimate


async def _measure(url: str, show_id: int, seconds: float) -> tuple[list[int], list[int], Series]:
    from playwright.async_api import Error as PlaywrightError
    from playwright.async_api import async_playwright

    from tests.browser.conftest import CHROMIUM_ARGS, chromium_path

    delays: list[int] = []
    errors: list[int] = []
    series: Series = []
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        try:
            context = await browser.new_context(viewport={"width": 390, "height": 844})
            page = await context.new_page()
            console: list[str] = []
            page.on("console", lambda msg: console.append(f"{msg.type}: {msg.text}"))
            await page.goto(f"{url}/watch/{show_id}")
            await page.get_by_test_id("name-input").fill("Glass")
            await page.get_by_test_id("name-submit").click()
            try:
                await page.wait_for_function(
                    "() => document.querySelector('[data-testid=video]').currentTime > 3",
                    timeout=60_000,
                )
            except PlaywrightError:
                state = await page.evaluate(_STATE)
                raise RuntimeError(
                    f"the player did not play: {state}; console: {console}"
                ) from None
            start = time.monotonic()
            while (elapsed := time.monotonic() - start) < seconds:
                reading = await page.evaluate(_READ)
                if reading and 0 < reading["delay"] < 60_000:
                    delays.append(int(reading["delay"]))
                    estimate = int(reading["estimate"]) if reading["estimate"] else None
                    if estimate is not None:
                        errors.append(estimate - int(reading["delay"]))
                    series.append((round(elapsed, 1), int(reading["delay"]), estimate))
                await asyncio.sleep(0.2)
        finally:
            await browser.close()
    return delays, errors, series


async def _run(quick: bool, workdir: Path) -> dict[str, Any]:
    rtmp, http = free_port(), free_port()
    env = {"INGEST_RTMP_PORT": str(rtmp), "HLS_PORT": str(http)}
    with system(1, workdir, env) as sys_:
        url = sys_.apps[0].url
        media = _start_media(workdir, url, rtmp, http)
        camera = None
        try:
            show = await make_show(url, products=1)
            auth = {"Authorization": f"Bearer {show.owner_token}"}
            async with aiohttp.ClientSession(base_url=url) as s:
                path = f"/api/shops/{show.shop_id}/shows/{show.show_id}/stream"
                key = (await (await s.get(path, headers=auth)).json())["stream_key"]
            camera = Camera(f"rtmp://127.0.0.1:{rtmp}/live/{key}", workdir / "ffmpeg.log")
            progress("glass: streaming; waiting for the player")
            delays, errors, series = await _measure(url, show.show_id, 15 if quick else 60)
            grace = await _deal_grace(url, show)
            async with aiohttp.ClientSession() as s:
                hls = f"http://127.0.0.1:{http}/hls/show-{show.show_id}.m3u8"
                playlist = delay.parse(await (await s.get(hls)).text())
        finally:
            if camera is not None:
                camera.stop()
            media.terminate()
            media.wait(10)
    if not delays:
        raise RuntimeError("no frame could be read off the player")
    return {
        "scenario": "glass",
        "samples": len(delays),
        "glass_to_glass_ms_median": int(statistics.median(delays)),
        "glass_to_glass_ms_p10": int(_quantile(delays, 0.1)),
        "glass_to_glass_ms_p90": int(_quantile(delays, 0.9)),
        "player_estimate_error_ms_median": int(statistics.median(errors)) if errors else None,
        "player_estimate_error_ms_p90_abs": int(_quantile([abs(e) for e in errors], 0.9))
        if errors
        else None,
        "server_deal_grace_ms": grace,
        "playlist_target_ms": playlist.target_ms if playlist else None,
        "fragment_ms_median": int(statistics.median(d for _, d in playlist.fragments))
        if playlist
        else None,
        "series": series[:: max(1, len(series) // 120)],
    }


async def _deal_grace(url: str, show: Any) -> int | None:
    """Pin a deal and read the grace the server gave it (its own delay measurement)."""
    ends = int(time.time() * 1000) + 60_000
    deal = {"price": 100, "units": 5, "per_buyer": 1, "ends_at_ms": ends}
    pin = await pin_deal(url, show, show.products[0], deal)
    return int(pin["deal"]["grace_ms"])


def _quantile(values: list[int], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def glass(quick: bool) -> dict[str, Any]:
    import tempfile

    with tempfile.TemporaryDirectory(prefix="bench-glass-") as tmp:
        return asyncio.run(_run(quick, Path(tmp)))
