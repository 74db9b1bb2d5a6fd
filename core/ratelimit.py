"""Fixed-window counters in Redis, shared by every app node."""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis


@dataclass(frozen=True, slots=True)
class Window:
    allowed: bool
    count: int
    retry_after: int


_UNDO = """
if redis.call('EXISTS', KEYS[1]) == 1 and tonumber(redis.call('GET', KEYS[1])) > 0 then
  return redis.call('DECR', KEYS[1])
end
return 0
"""


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

    async def undo(self, name: str, key: str) -> None:
        """Take back one counted event (never creating a key that has expired meanwhile)."""
        await self._redis.eval(_UNDO, 1, f"{self._prefix}rl:{name}:{key}")

    async def reset(self, name: str, key: str) -> None:
        await self._redis.delete(f"{self._prefix}rl:{name}:{key}")
