"""Browser tests: the player and the console in real headless Chromium (Debian's `chromium`,
driven by Playwright) against the real app served on a real port.

Without Chromium (or the `playwright` package) these tests skip with one line, except under
CI=true, where they must run (`.ci/run` installs Chromium).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from server.app import VENDOR, VENDOR_DIR, create_app
from server.keys import engine_key
from server.settings import Settings
from tests import backends as b

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "docs" / "screenshots"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
]
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}


def chromium_path() -> str | None:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None


def _why_not() -> str | None:
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (make install installs it)"
    if chromium_path() is None:
        return "Chromium is not installed (apt-get install -y chromium; .ci/run does)"
    if missing := [name for name in VENDOR if not (VENDOR_DIR / name).is_file()]:
        return f"the browser libraries {missing} are not built (make vendor; make install does)"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    why = _why_not()
    browser_items = [i for i in items if i.get_closest_marker("browser")]
    if why is None or not browser_items:
        return
    if b.IN_CI:
        raise pytest.UsageError(f"CI=true needs the browser tests: {why}")
    skip = pytest.mark.skip(reason=why)
    for item in browser_items:
        item.add_marker(skip)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
async def live(
    aiohttp_client: Any, make_settings: Callable[..., Settings], tmp_path: Path
) -> TestClient[Any, Any]:
    """The real app on a real port whose address is its own allowed Origin."""
    port = free_port()
    app = create_app(make_settings(port=port, data_dir=tmp_path / "var-browser"))
    client: TestClient[Any, Any] = await aiohttp_client(app, server_kwargs={"port": port})
    await b.truncate_all(app[engine_key])
    return client


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(
            executable_path=chromium_path(), args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield chromium
        finally:
            await chromium.close()


@pytest.fixture
def console_errors() -> list[str]:
    """Console errors and page errors of every page a test opens with `open_page`."""
    return []


@pytest.fixture
def open_page(browser: Any, console_errors: list[str]) -> Callable[..., Any]:
    async def open_page(url: str, viewport: dict[str, int] = PHONE, locale: str = "en-US") -> Any:
        context = await browser.new_context(viewport=viewport, locale=locale)
        page = await context.new_page()
        page.on(
            "console",
            lambda msg: (
                console_errors.append(f"{url}: {msg.text}") if msg.type == "error" else None
            ),
        )
        page.on("pageerror", lambda exc: console_errors.append(f"{url}: {exc}"))
        await page.goto(url)
        return page

    return open_page


def screenshot_path(name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS / name


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


async def make_hls(
    directory: Path,
    seconds: int,
    playlist: str = "index.m3u8",
    *,
    audio: bool = True,
    segments: str | None = None,
) -> Path:
    """A complete (VOD) HLS stream made with ffmpeg: test pattern (and a tone), H.264 baseline,
    a keyframe a second, 1 s segments (named `segments`, a `%d` pattern, when given). Skips
    without ffmpeg, except under CI=true."""
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        if in_ci():
            pytest.fail("CI=true needs ffmpeg for the video tests (.ci/run installs it)")
        pytest.skip("ffmpeg is not installed (apt-get install -y ffmpeg; .ci/run does)")
    sound = (
        ["-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}", "-c:a", "aac"]
        if audio
        else ["-an"]
    )
    args = [
        ffmpeg,
        *("-hide_banner", "-loglevel", "error", "-y"),
        *("-f", "lavfi", "-i", f"testsrc=size=320x240:rate=25:duration={seconds}"),
        *sound,
        *("-c:v", "libx264", "-pix_fmt", "yuv420p", "-profile:v", "baseline", "-g", "25"),
        *("-preset", "ultrafast"),
        *("-f", "hls", "-hls_time", "1", "-hls_list_size", "0", "-hls_playlist_type", "vod"),
        *(["-hls_segment_filename", str(directory / segments)] if segments else []),
        str(directory / playlist),
    ]
    proc = await asyncio.create_subprocess_exec(*args)
    assert await asyncio.wait_for(proc.wait(), 60) == 0
    return directory / playlist


def cross_origin_app() -> web.Application:
    """An app for another origin, as a CDN or a media server: every answer has CORS for the
    player."""

    @web.middleware
    async def cors(request: web.Request, handler: Any) -> web.StreamResponse:
        response: web.StreamResponse = await handler(request)
        response.headers["Access-Control-Allow-Origin"] = "*"
        return response

    return web.Application(middlewares=[cors])


async def start_server(app: web.Application) -> TestServer:
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    return server
