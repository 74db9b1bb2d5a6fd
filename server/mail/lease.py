"""A lease in Redis: one node at a time holds it, renews it while it works, gives it back when
done; a node that dies loses it when it runs out."""

from __future__ import annotations

from pathlib import Path

from redis.asyncio import Redis

_HERE = Path(__file__).resolve().parent


class Lease:
    def __init__(self, redis: Redis, key: str, holder: str, seconds: float) -> None:
        self._key = key
        self._holder = holder
        self._ms = max(100, int(seconds * 1000))
        self._take = redis.register_script((_HERE / "lease.lua").read_text())
        self._release = redis.register_script((_HERE / "release.lua").read_text())

    async def take(self) -> bool:
        """Take the lease, or renew it if this holder has it."""
        return bool(await self._take(keys=[self._key], args=[self._holder, self._ms]))

    async def release(self) -> None:
        await self._release(keys=[self._key], args=[self._holder])
