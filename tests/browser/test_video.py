"""The player plays a show's HLS stream: a short stream made here with ffmpeg, served from
another origin (as a streaming provider or the media server would), played in headless
Chromium until the video's clock moves."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from playwright.async_api import expect

from tests.browser.conftest import PHONE, cross_origin_app, make_hls, start_server
from tests.helpers import bearer, new_product, new_shop, sign_up

pytestmark = pytest.mark.browser


async def test_the_player_plays_the_show_stream(
    live: TestClient[Any, Any], open_page: Any, console_errors: list[str], tmp_path: Path
) -> None:
    await make_hls(tmp_path, seconds=6)
    app = cross_origin_app()
    app.router.add_static("/hls/", tmp_path)
    cdn = await start_server(app)
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
