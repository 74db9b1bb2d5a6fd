"""Fixed-window counters in Redis, shared by every app node."""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis


@dataclass(frozen=True, slots=True)
class Window:
    allowed: bool
    count: int
    retry_after: int


class RateLimiter:
    def __init__(self, redis: Redis, prefix: str) -> None:
        self._redis = redis
        self._prefix = prefix

    async def hit(self, name: str, key: str, limit: int, window_s: int) -> Window:
        """Count one event; allowed while the window's count stays within limit."""
        rkey = f"{self._prefix}rl:{name}:{key}"
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.incr(rkey)
            pipe.expire(rkey, window_s, nx=True)
            pipe.ttl(rkey)
            count, _, ttl = await pipe.execute()
        return Window(allowed=count <= limit, count=count, retry_after=max(int(ttl), 1))

    async def peek(self, name: str, key: str, limit: int) -> Window:
        rkey = f"{self._prefix}rl:{name}:{key}"
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.get(rkey)
            pipe.ttl(rkey)
            raw, ttl = await pipe.execute()
        count = int(raw or 0)
        return Window(allowed=count < limit, count=count, retry_after=max(int(ttl), 1))

    async def reset(self, name: str, key: str) -> None:
        await self._redis.delete(f"{self._prefix}rl:{name}:{key}")
