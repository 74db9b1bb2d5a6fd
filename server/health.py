"""Liveness and readiness. /readyz names the part that fails so an operator knows where to look.

/healthz fails only for what a restart of the app would mend: an embedded Redis that could not
be started again (its supervisor gave up). While it is being restarted the app is alive but not
ready, and both answers name the embedded Redis's state."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from server import __version__, db
from server.keys import embedded_redis_key, engine_key, redis_key, settings_key

log = logging.getLogger(__name__)
_CHECK_TIMEOUT = 2.0


async def healthz(request: web.Request) -> web.Response:
    embedded = request.app[embedded_redis_key]
    if embedded is not None and embedded.state == "failed":
        body = {"status": "unavailable", "failing": ["redis"], "redis_state": embedded.state}
        return web.json_response(body, status=503)
    return web.json_response({"status": "ok"})


async def _redis_ready(request: web.Request) -> None:
    embedded = request.app[embedded_redis_key]
    if embedded is not None and embedded.state != "up":
        raise ConnectionError(f"embedded redis is {embedded.state}")
    await request.app[redis_key].ping()


async def _probe(name: str, check: asyncio.Future[object] | object) -> str | None:
    try:
        await asyncio.wait_for(check, _CHECK_TIMEOUT)  # type: ignore[arg-type]
    except Exception as exc:  # noqa: BLE001 (any failure means "not ready")
        log.warning("readiness check failed", extra={"part": name, "error": type(exc).__name__})
        return name
    return None


async def readyz(request: web.Request) -> web.Response:
    app = request.app
    settings = app[settings_key]
    failing = [
        part
        for part in await asyncio.gather(
            _probe("database", db.check(app[engine_key])),
            _probe("redis", _redis_ready(request)),
        )
        if part
    ]
    body = {
        "status": "unavailable" if failing else "ok",
        "database": settings.database_kind,
        "redis": "embedded" if settings.embedded_redis else "external",
        "version": __version__,
    }
    embedded = app[embedded_redis_key]
    if embedded is not None:
        body["redis_state"] = embedded.state
    if failing:
        body["failing"] = failing  # type: ignore[assignment]
    return web.json_response(body, status=503 if failing else 200)
