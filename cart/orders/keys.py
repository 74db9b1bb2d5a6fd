"""Idempotency keys in Redis: who holds a key now, and what it answered.

One hash per buyer and key (the key itself is stored hashed): the request's fingerprint, its
state (`started` with a lease, or `done` with the order id) and an expiry of at least a day.
The database's unique `(buyer, idempotency_key)` on orders stays the last guard: even if Redis
forgot a key, a second order for it cannot be written.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Literal

from redis.asyncio import Redis

Begin = Literal["new", "conflict", "done", "wait", "takeover"]

# ARGV: fingerprint, now (ms), lease (ms), expiry (s).
_BEGIN = """
local h = redis.call('HGET', KEYS[1], 'h')
if not h then
  redis.call('HSET', KEYS[1], 'h', ARGV[1], 'st', 'started', 'lease', ARGV[2] + ARGV[3])
  redis.call('EXPIRE', KEYS[1], ARGV[4])
  return {'new', ''}
end
if h ~= ARGV[1] then return {'conflict', ''} end
if redis.call('HGET', KEYS[1], 'st') == 'done' then
  return {'done', redis.call('HGET', KEYS[1], 'order')}
end
if tonumber(redis.call('HGET', KEYS[1], 'lease')) > tonumber(ARGV[2]) then return {'wait', ''} end
redis.call('HSET', KEYS[1], 'lease', ARGV[2] + ARGV[3])
return {'takeover', ''}
"""

# ARGV: fingerprint, order id, expiry (s).
_FINISH = """
redis.call('HSET', KEYS[1], 'h', ARGV[1], 'st', 'done', 'order', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1
"""

# ARGV: fingerprint. A refusal that made no order frees the key.
_DROP = """
if redis.call('HGET', KEYS[1], 'h') == ARGV[1] and redis.call('HGET', KEYS[1], 'st') == 'started'
then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


_FREE = (Path(__file__).parent / "free_key.lua").read_text()


def key_digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:32]


class KeyStore:
    def __init__(self, redis: Redis, prefix: str, lease_seconds: float, ttl_seconds: int) -> None:
        self._redis = redis
        self._prefix = prefix
        self._lease_ms = int(lease_seconds * 1000)
        self._ttl = ttl_seconds
        self._begin = redis.register_script(_BEGIN)
        self._finish = redis.register_script(_FINISH)
        self._drop = redis.register_script(_DROP)
        self._free = redis.register_script(_FREE)

    def _key(self, buyer: str, key: str) -> str:
        return f"{self._prefix}idem:{{{buyer}}}:{key_digest(key)}"

    async def begin(self, buyer: str, key: str, fingerprint: str) -> tuple[Begin, int]:
        """The state, and (new or takeover) the lease deadline this attempt holds, in ms."""
        now = int(time.time() * 1000)
        state, _ = await self._begin(
            keys=[self._key(buyer, key)], args=[fingerprint, now, self._lease_ms, self._ttl]
        )
        return state, now + self._lease_ms

    async def free(self, buyer: str, key: str, fingerprint: str, lease: int) -> bool:
        """End the lease `begin` gave this attempt, if it still holds the key: a retry takes
        over at once."""
        return bool(await self._free(keys=[self._key(buyer, key)], args=[fingerprint, lease]))

    async def finish(self, buyer: str, key: str, fingerprint: str, order_id: int) -> None:
        await self._finish(keys=[self._key(buyer, key)], args=[fingerprint, order_id, self._ttl])

    async def drop(self, buyer: str, key: str, fingerprint: str) -> None:
        await self._drop(keys=[self._key(buyer, key)], args=[fingerprint])

    async def in_flight(self, buyer: str, key: str) -> bool:
        """True while an attempt holds the key (started, lease not run out)."""
        state, lease = await self._redis.hmget(self._key(buyer, key), ["st", "lease"])
        return state == "started" and int(lease or 0) > int(time.time() * 1000)
