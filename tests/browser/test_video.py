"""The player plays a show's HLS stream: a short stream made here with ffmpeg, served from
another origin (as a streaming provider or the media server would), played in headless
Chromium until the video's clock moves."""

from __future__ import annotations

import asyncio
import shutil
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from playwright.async_api import expect

from tests.browser.conftest import PHONE, in_ci
from tests.helpers import bearer, new_product, new_shop, sign_up

pytestmark = pytest.mark.browser


async def make_hls(directory: Path, seconds: int = 6) -> Path:
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        if in_ci():
            pytest.fail("CI=true needs ffmpeg for the video test (.ci/run installs it)")
        pytest.skip("ffmpeg is not installed (apt-get install -y ffmpeg; .ci/run does)")
    # Test pattern and tone, H.264 + AAC, 1 s segments, a complete (VOD) playlist.
    args = [
        ffmpeg,
        *("-hide_banner", "-loglevel", "error", "-y"),
        *("-f", "lavfi", "-i", f"testsrc=size=320x240:rate=25:duration={seconds}"),
        *("-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}"),
        *("-c:v", "libx264", "-pix_fmt", "yuv420p", "-profile:v", "baseline", "-g", "25"),
        *("-c:a", "aac", "-b:a", "64k"),
        *("-f", "hls", "-hls_time", "1", "-hls_list_size", "0", "-hls_playlist_type", "vod"),
        str(directory / "index.m3u8"),
    ]
    proc = await asyncio.create_subprocess_exec(*args)
    assert await asyncio.wait_for(proc.wait(), 60) == 0
    return directory / "index.m3u8"


async def serve(directory: Path) -> TestServer:
    """Another origin, as a CDN: the playlist and segments with CORS for the player."""

    @web.middleware
    async def cors(request: web.Request, handler: Any) -> web.StreamResponse:
        response = await handler(request)
        response.headers["Access-Control-Allow-Origin"] = "*"
        return response

    app = web.Application(middlewares=[cors])
    app.router.add_static("/hls/", directory)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    return server


async def test_the_player_plays_the_show_stream(
    live: TestClient[Any, Any], open_page: Any, console_errors: list[str], tmp_path: Path
) -> None:
    await make_hls(tmp_path)
    cdn = await serve(tmp_path)
    try:
        token, _ = await sign_up(live, "Vera")
        shop_id = await new_shop(live, token)
        product = await new_product(live, token, shop_id)
        body = {
            "title": "Video Live",
            "scheduled_at": (datetime.now().astimezone() + timedelta(minutes=30)).isoformat(),
            "currency": "EUR",
            "lineup": [product["id"]],
            "playback_url": str(cdn.make_url("/hls/index.m3u8")),
        }
        resp = await live.post(f"/api/shops/{shop_id}/shows", json=body, headers=bearer(token))
        show = await resp.json()
        path = f"/api/shops/{shop_id}/shows/{show['id']}"
        assert (await live.post(path + "/start", headers=bearer(token))).status == 200
        base = str(live.make_url("/")).rstrip("/")
        page = await open_page(f"{base}/watch/{show['id']}", PHONE)
        await page.get_by_test_id("name-input").fill("Vic")
        await page.get_by_test_id("name-submit").click()
        video = page.get_by_test_id("video")
        await expect(video).to_be_visible(timeout=10_000)
        await page.wait_for_function(
            "() => document.querySelector('[data-testid=video]').currentTime > 1.5",
            timeout=20_000,
        )
        assert console_errors == []
    finally:
        await cdn.close()
