"""Liveness and readiness. /readyz names the part that fails so an operator knows where to look."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from server import __version__, db
from server.keys import engine_key, redis_key, settings_key

log = logging.getLogger(__name__)
_CHECK_TIMEOUT = 2.0


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


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
            _probe("redis", app[redis_key].ping()),
        )
        if part
    ]
    body = {
        "status": "unavailable" if failing else "ok",
        "database": settings.database_kind,
        "redis": "embedded" if settings.embedded_redis else "external",
        "version": __version__,
    }
    if failing:
        body["failing"] = failing  # type: ignore[assignment]
    return web.json_response(body, status=503 if failing else 200)
