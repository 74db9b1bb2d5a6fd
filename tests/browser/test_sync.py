"""Pins in sync with the video: a synthetic live stream whose fragment names say the host's time
(as nginx-rtmp's do) runs a controlled DELAY behind the app server's clock; the player must
measure that delay (plus hls.js's hold-back) and show a pin, its deal selling out and its unpin
each when its video reaches them, in order, with the deal countdown on the same delayed clock."""

from __future__ import annotations

import asyncio
import re
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from playwright.async_api import expect

from tests.browser.conftest import PHONE, cross_origin_app, make_hls, start_server
from tests.helpers import bearer, new_product, new_shop, sign_up
from tests.room import Viewer
from tests.shopping import checkout_body, deal

pytestmark = pytest.mark.browser

DELAY_MS = 8000  # how far the stream's host times are behind the app server's clock
SEGMENTS = 60  # 1 s each
LISTED = 5  # segments in the live playlist
WAIT = 10_000

# Records, in the page, when a pin card appears, changes deal state and goes (Date.now() ms).
WATCH_PINS = """() => {
  window.pinLog = [];
  const list = document.getElementById("pins");
  const app = document.getElementById("app");
  const seen = new Map();
  const look = () => {
    const now = Date.now();
    const present = new Set();
    for (const card of list.querySelectorAll("[data-testid=pin]")) {
      const id = card.dataset.productId;
      present.add(id);
      const state = card.dataset.deal;
      if (seen.get(id) === state) continue;
      const timer = card.querySelector("[data-testid=countdown]");
      const left = timer && /^PT(\\d+)S$/.exec(timer.dateTime || "");
      window.pinLog.push({
        at: now, what: seen.has(id) ? "deal" : "shown", id, state,
        countdownS: left ? Number(left[1]) : null,
        delayMs: Number(app.dataset.streamDelayMs),
      });
      seen.set(id, state);
    }
    for (const id of [...seen.keys()]) {
      if (present.has(id)) continue;
      seen.delete(id);
      window.pinLog.push({ at: now, what: "gone", id, delayMs: Number(app.dataset.streamDelayMs) });
    }
  };
  new MutationObserver(look).observe(list, {
    childList: true, subtree: true, attributes: true, attributeFilter: ["data-deal"],
  });
  look();
}"""


async def make_segments(directory: Path) -> list[Path]:
    """SEGMENTS one-second MPEG-TS segments with continuous timestamps."""
    await make_hls(directory, SEGMENTS, "vod.m3u8", audio=False, segments="seg%d.ts")
    durations = [
        float(d) for d in re.findall(r"#EXTINF:([\d.]+)", (directory / "vod.m3u8").read_text())
    ]
    assert len(durations) >= SEGMENTS - 1 and all(abs(d - 1) < 0.01 for d in durations[:-1])
    return [directory / f"seg{j}.ts" for j in range(len(durations))]


async def serve_live(segments: list[Path]) -> tuple[TestServer, str]:
    """A live playlist that grows by one segment a second; segment j is named with the host
    time T0 + j s - DELAY_MS (the stream "started" 5 s before the server)."""
    t0 = int(time.time() * 1000) - 5000

    async def playlist(_request: web.Request) -> web.Response:
        elapsed = (time.time() * 1000 - t0) / 1000
        available = min(len(segments), int(elapsed))  # segment j once elapsed >= j + 1
        first = max(0, available - LISTED)
        lines = [
            "#EXTM3U",
            "#EXT-X-VERSION:3",
            "#EXT-X-TARGETDURATION:1",
            f"#EXT-X-MEDIA-SEQUENCE:{first}",
        ]
        for j in range(first, available):
            lines += ["#EXTINF:1.000,", f"show-1-{t0 + j * 1000 - DELAY_MS}.ts"]
        return web.Response(
            text="\n".join(lines) + "\n",
            content_type="application/vnd.apple.mpegurl",
            headers={"Cache-Control": "no-cache"},
        )

    async def segment(request: web.Request) -> web.StreamResponse:
        host_ms = int(request.match_info["ms"])
        j = round((host_ms + DELAY_MS - t0) / 1000)
        if not 0 <= j < len(segments):
            raise web.HTTPNotFound()
        return web.FileResponse(segments[j], headers={"Content-Type": "video/mp2t"})

    app = cross_origin_app()
    app.router.add_get("/live/index.m3u8", playlist)
    app.router.add_get(r"/live/show-1-{ms:\d{13}}.ts", segment)
    server = await start_server(app)
    return server, str(server.make_url("/live/index.m3u8"))


async def stream_delay(page: Any) -> int:
    return int(
        await page.evaluate("() => Number(document.getElementById('app').dataset.streamDelayMs)")
    )


async def test_pins_show_when_the_video_reaches_them(
    live: TestClient[Any, Any], open_page: Any, console_errors: list[str], tmp_path: Path
) -> None:
    segments = await make_segments(tmp_path)
    cdn, playback_url = await serve_live(segments)
    host = None
    try:
        token, _ = await sign_up(live, "Sid")
        shop_id = await new_shop(live, token)
        product = await new_product(live, token, shop_id, title="Synced Scarf")
        body = {
            "title": "Sync Live",
            "scheduled_at": (datetime.now().astimezone() + timedelta(minutes=30)).isoformat(),
            "currency": "EUR",
            "lineup": [product["id"]],
            "playback_url": playback_url,
        }
        resp = await live.post(f"/api/shops/{shop_id}/shows", json=body, headers=bearer(token))
        assert resp.status == 201, await resp.text()
        show = await resp.json()
        path = f"/api/shops/{shop_id}/shows/{show['id']}"
        assert (await live.post(path + "/start", headers=bearer(token))).status == 200

        base = str(live.make_url("/")).rstrip("/")
        page = await open_page(f"{base}/watch/{show['id']}", PHONE)
        await page.get_by_test_id("name-input").fill("Vic")
        await page.get_by_test_id("name-submit").click()
        await expect(page.get_by_test_id("connection")).to_have_attribute(
            "data-state", "connected", timeout=WAIT
        )

        # The estimate: DELAY_MS plus hls.js's hold-back (3 target durations, 3-4 s here).
        await page.wait_for_function(
            "() => document.querySelector('[data-testid=video]').currentTime > 1"
            " && Number(document.getElementById('app').dataset.streamDelayMs) > 0",
            timeout=20_000,
        )
        await asyncio.sleep(2.5)  # a full window of samples (9 samples, 250 ms apart)
        delay = await stream_delay(page)
        assert DELAY_MS + 1500 <= delay <= DELAY_MS + 7000, delay

        # The host pins the product with a one-unit flash deal, a buyer takes it 0.8 s later
        # (units 0: sold out; apart enough to be seen apart), the host unpins it at 2 s.
        await page.evaluate(WATCH_PINS)
        buyer = await live.post("/api/viewers", json={"display_name": "Quick"})
        buyer_token = (await buyer.json())["token"]
        host = await Viewer(base, token, "Host").connect()
        await host.ok("join", {"show_id": show["id"]})
        answer = await host.ok("pin", {"product_id": product["id"], "deal": deal(1, 1)})
        pinned_at = int(answer["pin"]["pinned_at_ms"])
        await asyncio.sleep(max(0, pinned_at + 800 - time.time() * 1000) / 1000)
        resp = await live.post(
            f"/api/shows/{show['id']}/cart/items",
            json={"variant_id": product["variants"][0]["id"], "quantity": 1},
            headers=bearer(buyer_token),
        )
        assert resp.status == 200, await resp.text()
        resp = await live.post(
            f"/api/shows/{show['id']}/checkout",
            json=checkout_body(await resp.json()),
            headers=bearer(buyer_token),
        )
        assert resp.status == 201, await resp.text()
        sold_at = int(time.time() * 1000)
        await asyncio.sleep(max(0, pinned_at + 2000 - time.time() * 1000) / 1000)
        await host.ok("unpin", {"product_id": product["id"]})
        unpinned_at = int(time.time() * 1000)

        # Not before the video gets there, then within delay + 3 s of the pin.
        await asyncio.sleep(max(0, pinned_at + 2500 - time.time() * 1000) / 1000)
        card = page.get_by_test_id("pin")
        assert await card.count() == 0
        assert await page.evaluate("() => window.pinLog") == []
        left = pinned_at + delay + 3000 - time.time() * 1000
        await expect(card).to_be_visible(timeout=max(1000, int(left)))
        await expect(card).to_have_count(0, timeout=WAIT)

        log = await page.evaluate("() => window.pinLog")
        # In the host's order, each when the video gets there: one offset for all of them.
        assert [(e["what"], e.get("state")) for e in log] == [
            ("shown", "active"),
            ("deal", "sold-out"),
            ("gone", None),
        ], log
        shown, sold, gone = log
        assert abs(shown["at"] - (pinned_at + shown["delayMs"])) <= 2000, (pinned_at, log)
        assert abs(sold["at"] - (sold_at + sold["delayMs"])) <= 2000, (sold_at, log)
        assert abs(gone["at"] - (unpinned_at + gone["delayMs"])) <= 2000, (unpinned_at, log)
        assert sold["at"] - shown["at"] >= 400, log  # one offset: the time between them kept
        assert gone["at"] - sold["at"] >= 600, log
        # The deal's 120 s count down on the delayed clock, but never past the server's last
        # order at the deal price: the server measured no stream here (grace 0), so when the
        # card shows, what is left is 120 s less this viewer's delay.
        left = 120 - shown["delayMs"] / 1000
        assert shown["countdownS"] is not None and abs(shown["countdownS"] - left) <= 3, log
        assert console_errors == []
    finally:
        if host is not None:
            await host.close()
        await cdn.close()
