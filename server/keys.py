"""Typed application keys: the only way views and contexts reach shared resources."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from cart.orders.reconcile import Reconciler
from core.ratelimit import RateLimiter
from live.ingest.probe import DelayProbe
from live.ingest.service import IngestService
from server.embedded_redis import EmbeddedRedis
from server.settings import Settings

settings_key = web.AppKey("settings", Settings)
engine_key = web.AppKey("engine", AsyncEngine)
sessions_key = web.AppKey("sessions", async_sessionmaker[Any])
redis_key = web.AppKey("redis", Redis)
embedded_redis_key: web.AppKey[EmbeddedRedis | None] = web.AppKey("embedded_redis")
limiter_key = web.AppKey("limiter", RateLimiter)
registry_key = web.AppKey("registry", CollectorRegistry)
ingest_key = web.AppKey("ingest", IngestService)
probe_key = web.AppKey("delay_probe", DelayProbe)


def _realtime_key() -> web.AppKey[Any]:
    return web.AppKey("realtime")


# The live room's composition (server.realtime.Realtime); typed loosely to avoid an import cycle.
realtime_key: web.AppKey[Any] = _realtime_key()
reconciler_key = web.AppKey("reconciler", Reconciler)
