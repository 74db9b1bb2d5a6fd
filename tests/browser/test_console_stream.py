"""The console's OBS stream panel in headless Chromium against the real app: the owner sees the
server URL and the masked stream key the API gives, shows and rotates the key, and sees the
encoder connect and disconnect (nginx-rtmp's callbacks posted as the media server would). A
moderator gets no panel and never asks for the key."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from playwright.async_api import expect

from tests.browser.conftest import DESKTOP, screenshot_path
from tests.helpers import PASSWORD, add_member, bearer, new_product, new_shop, sign_up

pytestmark = pytest.mark.browser

WAIT = 10_000  # ms, for anything that crosses the server


async def _scheduled_show(live: TestClient[Any, Any]) -> tuple[str, str, int, int]:
    token, who = await sign_up(live, "Hana")
    shop_id = await new_shop(live, token, "Hana's Boutique")
    product = await new_product(live, token, shop_id, title="Silk Scarf", price=3900)
    body = {
        "title": "Autumn Live",
        "scheduled_at": (datetime.now().astimezone() + timedelta(hours=1)).isoformat(),
        "currency": "EUR",
        "lineup": [product["id"]],
    }
    resp = await live.post(f"/api/shops/{shop_id}/shows", json=body, headers=bearer(token))
    assert resp.status == 201, await resp.text()
    return token, who["email"], shop_id, int((await resp.json())["id"])


async def _console_show(open_page: Any, base: str, email: str, show_id: int) -> Any:
    """Log in to the console and open the show; returns the page."""
    page = await open_page(base + "/console/", DESKTOP)
    await page.get_by_test_id("login-email").fill(email)
    await page.get_by_test_id("login-password").fill(PASSWORD)
    await page.get_by_test_id("login-submit").click()
    await expect(page.get_by_test_id("logout")).to_be_visible(timeout=WAIT)
    item = page.locator(f'[data-testid="show-item"][data-show-id="{show_id}"]')
    await item.click(timeout=WAIT)
    await expect(page.get_by_test_id("show-status")).to_have_attribute(
        "data-status", "scheduled", timeout=WAIT
    )
    await expect(page.locator("#room-state")).to_contain_text("connected", timeout=WAIT)
    return page


async def _credentials(live: TestClient[Any, Any], token: str, path: str) -> dict[str, Any]:
    resp = await live.get(path, headers=bearer(token))
    assert resp.status == 200, await resp.text()
    return dict(await resp.json())


# A live playlist with no segments yet: what the media server answers before video arrives.
EMPTY_PLAYLIST = "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:1\n#EXT-X-MEDIA-SEQUENCE:0\n"


async def _fake_media_server(page: Any, playback_url: str) -> None:
    """Answer the player's HLS requests in the browser: once published, the show plays from the
    media server (which these tests do not run), and the console's preview would otherwise log
    refused connections."""

    async def playlist(route: Any) -> None:
        await route.fulfill(
            status=200, content_type="application/vnd.apple.mpegurl", body=EMPTY_PLAYLIST
        )

    await page.context.route(playback_url.rsplit("/", 1)[0] + "/**", playlist)


def _callback(name: str) -> dict[str, str]:
    # What nginx-rtmp's on_publish / on_publish_done send (the form fields that matter here).
    return {"name": name, "clientid": "1", "addr": "127.0.0.1", "call": "publish", "app": "live"}


async def test_owner_goes_live_from_obs_with_the_stream_panel(
    live: TestClient[Any, Any], open_page: Any, console_errors: list[str]
) -> None:
    base = str(live.make_url("/")).rstrip("/")
    token, email, shop_id, show_id = await _scheduled_show(live)
    stream = f"/api/shops/{shop_id}/shows/{show_id}/stream"

    page = await _console_show(open_page, base, email, show_id)
    panel = page.get_by_test_id("stream-panel")
    await expect(panel).to_be_visible(timeout=WAIT)
    creds = await _credentials(live, token, stream)
    assert creds["ingest_url"].startswith("rtmp://") and creds["publishing"] is False
    await _fake_media_server(page, creds["playback_url"])
    key_field = panel.get_by_test_id("stream-key")
    await expect(panel.get_by_test_id("ingest-url")).to_have_value(creds["ingest_url"])
    await expect(key_field).to_have_value(creds["stream_key"], timeout=WAIT)
    await expect(key_field).to_have_attribute("type", "password")  # masked by default
    await expect(panel.get_by_test_id("stream-state")).to_have_text("No encoder connected")
    await expect(panel).to_contain_text("Service: Custom")
    await panel.screenshot(path=screenshot_path("console-stream.png"))

    # Show and hide the key.
    toggle = panel.get_by_test_id("stream-key-toggle")
    await toggle.click()
    await expect(key_field).to_have_attribute("type", "text")
    await expect(toggle).to_have_text("Hide")
    await toggle.click()
    await expect(key_field).to_have_attribute("type", "password")
    await toggle.click()

    # Copy puts the exact value on the clipboard and says so.
    await page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base)
    for testid, value in (
        ("copy-ingest-url", creds["ingest_url"]),
        ("copy-stream-key", creds["stream_key"]),
    ):
        await panel.get_by_test_id(testid).click()
        await expect(panel.get_by_test_id(testid)).to_have_text("Copied")
        assert await page.evaluate("navigator.clipboard.readText()") == value
        await expect(panel.get_by_test_id(testid)).to_have_text("Copy", timeout=WAIT)

    # Rotate: confirmed, the new key from the API replaces the old one; the old one is refused.
    dialogs: list[str] = []

    async def accept(dialog: Any) -> None:
        dialogs.append(dialog.message)
        await dialog.accept()

    page.on("dialog", accept)
    old = creds["stream_key"]
    await panel.get_by_test_id("rotate-key").click()
    await expect(key_field).not_to_have_value(old, timeout=WAIT)
    assert len(dialogs) == 1 and "cut off" in dialogs[0]
    new = (await _credentials(live, token, stream))["stream_key"]
    assert new != old
    await expect(key_field).to_have_value(new)
    await expect(panel.get_by_test_id("stream-note")).to_contain_text("New key")
    refused = await live.post("/api/ingest/publish", data=_callback(old), allow_redirects=False)
    assert refused.status == 403

    # The encoder connects with the new key: the show goes live and the panel says so.
    resp = await live.post("/api/ingest/publish", data=_callback(new), allow_redirects=False)
    assert resp.status == 302, await resp.text()
    assert resp.headers["Location"] == f"show-{show_id}"
    await expect(panel.get_by_test_id("stream-state")).to_have_text(
        "Encoder connected", timeout=WAIT
    )
    await expect(page.get_by_test_id("show-status")).to_have_attribute(
        "data-status", "live", timeout=WAIT
    )
    # nginx-rtmp calls back under the public name after the redirect.
    done = _callback(f"show-{show_id}") | {"call": "publish_done"}
    resp = await live.post("/api/ingest/publish_done", data=done)
    assert resp.status == 204, await resp.text()
    await expect(panel.get_by_test_id("stream-state")).to_have_text(
        "No encoder connected", timeout=WAIT
    )

    # A reload takes the state from the snapshot; the key stays out of every URL.
    resp = await live.post("/api/ingest/publish", data=_callback(new), allow_redirects=False)
    assert resp.status == 302, await resp.text()
    urls: list[str] = []
    page.on("request", lambda request: urls.append(request.url))
    await page.reload()
    await expect(panel.get_by_test_id("stream-state")).to_have_text(
        "Encoder connected", timeout=WAIT
    )
    await expect(key_field).to_have_value(new, timeout=WAIT)
    await expect(key_field).to_have_attribute("type", "password")
    assert urls and not [url for url in urls if new in url]
    assert console_errors == []


async def test_a_moderator_sees_no_stream_panel(
    live: TestClient[Any, Any], open_page: Any, console_errors: list[str]
) -> None:
    base = str(live.make_url("/")).rstrip("/")
    token, _, shop_id, show_id = await _scheduled_show(live)
    moderator, ident = await add_member(live, token, shop_id, "moderator", "Mo")
    stream = f"/api/shops/{shop_id}/shows/{show_id}/stream"
    assert (await live.get(stream, headers=bearer(moderator))).status == 403

    requests: list[str] = []
    page = await open_page(base + "/console/", DESKTOP)
    page.on("request", lambda request: requests.append(request.url))
    await page.get_by_test_id("login-email").fill(ident["email"])
    await page.get_by_test_id("login-password").fill(PASSWORD)
    await page.get_by_test_id("login-submit").click()
    await page.locator(f'[data-testid="show-item"][data-show-id="{show_id}"]').click(timeout=WAIT)
    await expect(page.get_by_test_id("show-status")).to_have_attribute(
        "data-status", "scheduled", timeout=WAIT
    )
    await expect(page.locator("#orders-note")).to_contain_text("owners and hosts", timeout=WAIT)
    await expect(page.locator("#room-state")).to_contain_text("connected", timeout=WAIT)
    await expect(page.get_by_test_id("stream-panel")).to_be_hidden()
    assert await page.get_by_test_id("stream-key").input_value() == ""
    assert any(f"/api/shops/{shop_id}/shows/{show_id}" in url for url in requests)
    assert not [url for url in requests if "/stream" in url]
    assert console_errors == []
