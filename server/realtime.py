"""Composition of the live room: the Socket.IO server on the aiohttp app, python-socketio's
Redis manager (our `RoomManager`) on the same Redis, the room's store, services and loops."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry, Gauge
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import async_sessionmaker

from core.identity import MembershipLookup, Principal
from core.tasks import cancel
from core.web import JSONCodec
from live.room.archive import Archive
from live.room.fanout import Coalescer, Presence
from live.room.service import DealGrace, DealOpener, Limits, Products, RoomService
from live.room.socket import RoomManager, RoomServer, RoomSocket
from live.room.store import RoomStore
from live.shows.service import ShowService
from server.accounts.tokens import InvalidToken, TokenSigner
from server.accounts.views import client_ip
from server.settings import Settings

log = logging.getLogger(__name__)


class RoomCollector(Collector):
    """The coalescer's counters, read when /metrics is scraped."""

    def __init__(self, coalescer: Coalescer) -> None:
        self._coalescer = coalescer

    def collect(self) -> Iterator[Metric]:
        c = self._coalescer
        yield CounterMetricFamily(
            "room_frames_published", "Coalesced room frames published", value=c.frames_published
        )
        yield CounterMetricFamily(
            "room_flush_failures",
            "Coalesced room frame publishes that failed (each attempt; retried)",
            value=c.flush_failures,
        )
        yield CounterMetricFamily(
            "room_chat_dropped",
            "Acknowledged chat messages given up after the flush retries ran out",
            value=c.chat_dropped,
        )
        yield GaugeMetricFamily(
            "room_frames_waiting", "Room frames waiting for a retry", value=c.frames_waiting
        )


class Realtime:
    """Everything the room needs, built once per app."""

    def __init__(
        self,
        settings: Settings,
        redis_url: str,
        redis: Redis,
        sessions: async_sessionmaker[Any],
        shows: ShowService,
        products: Products,
        role_in: MembershipLookup,
        signer: TokenSigner,
        registry: CollectorRegistry,
        deals: DealOpener,
        deal_grace: DealGrace,
    ) -> None:
        self.node_id = uuid.uuid4().hex[:12]
        channel = f"{settings.redis_prefix}socketio"
        self.manager = RoomManager(redis_url, channel, settings.socket_queue_frames)
        self.sio = RoomServer(
            async_mode="aiohttp",
            client_manager=self.manager,
            cors_allowed_origins=list(settings.origins),
            transports=["websocket"],
            async_handlers=False,  # one client's events are handled in the order it sent them
            max_http_buffer_size=settings.socket_max_frame_bytes,
            json=JSONCodec,
            logger=False,
            engineio_logger=False,
        )
        self.store = RoomStore(redis, settings.redis_prefix, channel, settings.room_replay_frames)
        self.manager.fetch = self.store.frames
        self.manager.latest = self.store.latest
        self.archive = Archive(sessions)
        self.coalescer = Coalescer(
            self.store,
            self.archive,
            settings.room_tick_ms,
            self.node_id,
            settings.room_flush_retry_seconds,
        )
        self.presence = Presence(self.store, self.node_id)
        self.service = RoomService(
            self.store,
            shows,
            products,
            role_in,
            self.archive,
            self.coalescer,
            self.presence,
            Limits(chat=(settings.chat_rate_messages, settings.chat_rate_window_seconds)),
            deals,
            deal_grace,
        )
        trusted = settings.trusted_networks

        def verify(token: str) -> Principal | None:
            try:
                return signer.verify(token)
            except InvalidToken:
                return None

        def ip_of(environ: dict[str, Any]) -> str:
            request = environ.get("aiohttp.request")
            return client_ip(request, trusted) if request is not None else "unknown"

        self.socket = RoomSocket(
            self.sio, self.manager, self.service, verify, ip_of, settings.sockets_per_ip
        )
        gauge = Gauge("socket_connections", "Open Socket.IO connections", registry=registry)
        gauge.set_function(lambda: self.socket.connections)
        rejected = Gauge(
            "chat_archive_rejected_rows",
            "Chat and question rows the database refused for good (set aside, never retried)",
            registry=registry,
        )
        rejected.set_function(lambda: self.archive.rejected)
        registry.register(RoomCollector(self.coalescer))

    def attach(self, app: web.Application) -> None:
        self.sio.attach(app, socketio_path="socket.io")
        app.cleanup_ctx.append(self._ctx)
        app.on_shutdown.append(self._close_sockets)

    async def _ctx(self, app: web.Application) -> AsyncIterator[None]:
        self.archive.start()
        self.coalescer.start()
        self.presence.start()
        try:
            yield
        finally:
            await self.coalescer.stop()
            await self.presence.stop()
            await self.archive.stop()
            await cancel(getattr(self.manager, "thread", None))
            if self.manager.redis is not None:
                await self.manager.redis.aclose()

    async def _close_sockets(self, app: web.Application) -> None:
        # On SIGTERM, after the listener closed: say goodbye to every viewer (they reconnect to
        # another node and recover by seq), so no websocket holds the shutdown open.
        await self.socket.close_all()
        await self.sio.shutdown()
