"""The delay behind the host the server measures itself (rules in live/ingest/delay.py).

Every node reads the playlists of the shows on air once a `interval`; the readings are kept in
Redis (the last delay.SAMPLES per show), so any node answers with the same estimate.
"""

from __future__ import annotations

import asyncio
import logging
import time

import aiohttp
from redis.asyncio import Redis

from core.tasks import Periodic
from live.ingest import delay, rules

log = logging.getLogger(__name__)


class DelayProbe:
    def __init__(
        self, redis: Redis, prefix: str, hls_base: str, cap_ms: int, interval: float = 1.0
    ) -> None:
        self._redis = redis
        self._prefix = prefix
        self._hls = hls_base.rstrip("/")
        self._cap_ms = cap_ms
        # Shows on air, scored by when that was last confirmed (publish, on_update): a show whose
        # media server died without on_publish_done drops out after rules.PUBLISH_TTL_SECONDS.
        self._on_air = f"{prefix}ingest:on-air"
        self._periodic = Periodic("stream delay probe", interval, self._step, log)
        self._http: aiohttp.ClientSession | None = None

    def _samples(self, show_id: int) -> str:
        return f"{self._prefix}ingest:delay:{show_id}"

    async def on_air(self, show_id: int) -> None:
        await self._redis.zadd(self._on_air, {str(show_id): time.time()})

    async def off_air(self, show_id: int) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.zrem(self._on_air, str(show_id))
            pipe.delete(self._samples(show_id))
            await pipe.execute()

    async def read_all(self) -> dict[int, int]:
        """One reading per show on air whose playlist could be read: {show id: delay ms}."""
        stale = time.time() - rules.PUBLISH_TTL_SECONDS
        await self._redis.zremrangebyscore(self._on_air, "-inf", stale)
        shows = [int(str(m)) for m in await self._redis.zrange(self._on_air, 0, -1)]
        readings = await asyncio.gather(*(self._read(show_id) for show_id in shows))
        found = {s: r for s, r in zip(shows, readings, strict=True) if r is not None}
        if found:
            async with self._redis.pipeline(transaction=False) as pipe:
                for show_id, reading in found.items():
                    key = self._samples(show_id)
                    pipe.lpush(key, reading)
                    pipe.ltrim(key, 0, delay.SAMPLES - 1)
                    pipe.expire(key, 60)
                await pipe.execute()
        return found

    async def _step(self) -> None:
        await self.read_all()

    async def _read(self, show_id: int) -> int | None:
        if self._http is None:
            self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2))
        url = f"{self._hls}/{rules.public_name(show_id)}.m3u8"
        try:
            async with self._http.get(url) as resp:
                if resp.status != 200:
                    return None
                text = await resp.text()
        except (aiohttp.ClientError, TimeoutError, UnicodeDecodeError) as exc:
            log.debug("playlist unreadable", extra={"show_id": show_id, "error": repr(exc)})
            return None
        playlist = delay.parse(text)
        return None if playlist is None else delay.sample_ms(playlist, int(time.time() * 1000))

    async def estimate_ms(self, show_id: int) -> int | None:
        """The median of the recent readings; None when none was made."""
        raw = await self._redis.lrange(self._samples(show_id), 0, -1)
        return delay.estimate_ms([int(str(v)) for v in raw])

    async def deal_grace_ms(self, show_id: int) -> int:
        """How much longer a deal pinned now keeps taking orders after its end (capped)."""
        return delay.deal_grace_ms(await self.estimate_ms(show_id), self._cap_ms)

    def start(self) -> None:
        self._periodic.start()

    async def stop(self) -> None:
        await self._periodic.stop()
        if self._http is not None:
            await self._http.close()
            self._http = None
