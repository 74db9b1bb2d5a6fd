"""The app factory: builds every service once, wires routes, and opens and closes resources in
`cleanup_ctx` so a resource is closed only if it was opened."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis

from cart.catalog.service import CatalogService
from cart.catalog.views import CatalogViews
from cart.orders.store import OrderStore
from core.errors import not_found
from core.ratelimit import RateLimiter
from live.ingest.probe import DelayProbe
from live.ingest.service import IngestService
from live.ingest.views import IngestViews
from live.room.views import RoomViews
from live.shows.service import ShowService
from live.shows.views import ShowViews
from server import db, redis_pool
from server.accounts.passwords import Passwords
from server.accounts.service import AuthService
from server.accounts.shops import ShopService
from server.accounts.tokens import TokenSigner
from server.accounts.views import AccountViews
from server.commerce import attach_commerce, deal_opener
from server.embedded_redis import EmbeddedRedis, RestartPolicy
from server.health import healthz, readyz
from server.keys import (
    embedded_redis_key,
    engine_key,
    ingest_key,
    limiter_key,
    probe_key,
    realtime_key,
    redis_key,
    registry_key,
    sessions_key,
    settings_key,
)
from server.mail.setup import attach_mail
from server.metrics import (
    EmbeddedRedisCollector,
    Metrics,
    gc_signal_ctx,
    loop_lag_ctx,
    metrics_key,
    metrics_middleware,
    metrics_view,
)
from server.middleware import auth_middleware, error_middleware, origin_middleware
from server.realtime import Realtime
from server.settings import Settings

log = logging.getLogger(__name__)

# static/ sits beside the packages in a checkout and, installed as package data (pyproject.toml),
# beside them in site-packages: the same path in both, whatever the working directory.
STATIC_DIR = Path(__file__).resolve().parent.parent / "static"


async def redis_ctx(app: web.Application) -> AsyncIterator[None]:
    embedded = app[embedded_redis_key]
    if embedded is not None:
        await embedded.start()
    try:
        await app[redis_key].ping()
        yield
    finally:
        await app[redis_key].aclose()
        if embedded is not None:
            await embedded.stop()


async def database_ctx(app: web.Application) -> AsyncIterator[None]:
    engine = app[engine_key]
    try:
        await db.check(engine)
        yield
    finally:
        await engine.dispose()


def create_app(settings: Settings) -> web.Application:
    signer = TokenSigner(
        settings.secret(), settings.token_ttl_seconds, settings.guest_token_ttl_seconds
    )
    app = web.Application(
        client_max_size=settings.max_body_bytes,
        middlewares=[
            metrics_middleware,
            origin_middleware(settings.origins),
            error_middleware,
            auth_middleware(signer),
        ],
    )
    app[settings_key] = settings

    embedded = None
    if settings.embedded_redis:
        policy = RestartPolicy(
            attempts=settings.embedded_redis_restart_attempts,
            backoff_max_seconds=settings.embedded_redis_restart_backoff_max_seconds,
        )
        embedded = EmbeddedRedis(settings.data_dir / "redis", policy)
    redis_url = embedded.url if embedded is not None else settings.redis_url
    assert redis_url is not None
    # The client connects lazily, so it can be built before the embedded server starts.
    pool = redis_pool.pool(redis_url, settings.redis_max_connections)
    redis = Redis(connection_pool=pool)
    engine = db.engine_for(settings)
    sessions = db.sessionmaker(engine)
    limiter = RateLimiter(redis, settings.redis_prefix)
    registry = CollectorRegistry(auto_describe=True)
    app[embedded_redis_key] = embedded
    app[redis_key] = redis
    app[engine_key] = engine
    app[sessions_key] = sessions
    app[limiter_key] = limiter
    app[registry_key] = registry
    app[metrics_key] = Metrics(registry)
    if embedded is not None:
        registry.register(EmbeddedRedisCollector(embedded))

    passwords = Passwords(settings.password_hash_time_cost, settings.password_hash_memory_kib)
    auth = AuthService(sessions, passwords, signer, limiter, settings)
    shops = ShopService(sessions)
    catalog = CatalogService(sessions)
    shows = ShowService(sessions, lineups=catalog)

    orders = OrderStore(sessions, sqlite=engine.dialect.name == "sqlite")
    probe = DelayProbe(
        redis,
        settings.redis_prefix,
        settings.hls_read_base,
        round(settings.deal_delay_cap_seconds * 1000),
    )
    realtime = Realtime(
        settings,
        redis_url,
        redis,
        sessions,
        shows,
        catalog,
        shops.role_in,
        signer,
        registry,
        deal_opener(orders),
        probe.deal_grace_ms,
    )
    app[realtime_key] = realtime

    app.cleanup_ctx.extend([redis_ctx, database_ctx, loop_lag_ctx, gc_signal_ctx])
    # After the resources it uses, so it stops first.
    realtime.attach(app)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics_view)
    app.router.add_routes(AccountViews(auth, shops, settings.trusted_networks).routes())
    app.router.add_routes(CatalogViews(catalog, shops.role_in).routes())
    room = realtime.service
    app.router.add_routes(
        ShowViews(shows, shops.role_in, room.set_status, room.forget, room.update_show).routes()
    )
    app.router.add_routes(RoomViews(realtime.archive, shows, shops.role_in).routes())
    ingest = IngestService(
        sessions,
        redis,
        settings.redis_prefix,
        room,
        settings.rtmp_ingest_url,
        settings.hls_base,
        settings.stream_grace_seconds,
        probe,
    )

    async def ingest_ctx(app: web.Application) -> AsyncIterator[None]:
        ingest.start()
        probe.start()
        yield
        await probe.stop()
        await ingest.stop()

    app[ingest_key] = ingest
    app[probe_key] = probe
    app.cleanup_ctx.append(ingest_ctx)
    ingest_secret = settings.ingest_secret
    app.router.add_routes(
        IngestViews(
            ingest,
            shops.role_in,
            settings.ingest_networks,
            None if ingest_secret is None else ingest_secret.get_secret_value(),
        ).routes()
    )
    attach_commerce(app, settings, redis, shows, realtime, orders, shops.role_in)
    attach_mail(app, settings, redis, sessions, registry, realtime.node_id, orders.writing)
    _static_routes(app)
    return app


# Browser libraries the pages import, as `make vendor` copies them out of node_modules (see
# package.json) into static/vendor/: built, never committed.
VENDOR = ("socket.io.esm.min.js", "hls.mjs")
VENDOR_DIR = STATIC_DIR / "vendor"


def _static_routes(app: web.Application) -> None:
    player = STATIC_DIR / "player"
    missing = [name for name in VENDOR if not (VENDOR_DIR / name).is_file()]
    if missing:
        log.warning(
            "browser libraries missing: run `make vendor` (make install does)",
            extra={"missing": missing},
        )

    async def vendor(request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        if name not in VENDOR or not (VENDOR_DIR / name).is_file():
            raise not_found("file")
        response = web.FileResponse(VENDOR_DIR / name)
        response.content_type = "text/javascript"
        response.headers["Cache-Control"] = "public, max-age=3600"
        return response

    async def watch(request: web.Request) -> web.FileResponse:
        return web.FileResponse(player / "index.html")

    async def console(request: web.Request) -> web.FileResponse:
        return web.FileResponse(STATIC_DIR / "console" / "index.html")

    app.router.add_get("/watch/{show_id:[0-9]+}", watch)
    app.router.add_get("/console/", console)
    app.router.add_static("/static/player/", player)
    app.router.add_static("/static/console/", STATIC_DIR / "console")
    app.router.add_get("/static/vendor/{name}", vendor)
