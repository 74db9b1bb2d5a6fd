"""Carts in Redis: one hash per buyer per show (`i:<variant id>` -> quantity, `v` -> version).
Every change is one Lua script that checks the limits, bumps the version, refreshes the expiry
and answers the cart as it now is, so two tabs adding at once can neither pass a limit nor lose
an update."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

_ADD = """
local key, field = KEYS[1], 'i:' .. ARGV[1]
local qty, max_qty, max_lines = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local current = tonumber(redis.call('HGET', key, field) or '0')
if current == 0 then
  local lines = redis.call('HLEN', key) - (redis.call('HEXISTS', key, 'v') == 1 and 1 or 0)
  if lines >= max_lines then return {'too_many_lines', 0} end
end
if current + qty > max_qty then return {'too_many', current} end
redis.call('HSET', key, field, current + qty)
redis.call('HINCRBY', key, 'v', 1)
redis.call('EXPIRE', key, ARGV[5])
redis.call('INCR', KEYS[2])
redis.call('EXPIRE', KEYS[2], ARGV[6])
return {'ok', 0, redis.call('HGETALL', key)}
"""

_SET = """
local key, field = KEYS[1], 'i:' .. ARGV[1]
if redis.call('HEXISTS', key, field) == 0 then return {'missing', 0} end
redis.call('HSET', key, field, ARGV[2])
redis.call('HINCRBY', key, 'v', 1)
redis.call('EXPIRE', key, ARGV[3])
return {'ok', 0, redis.call('HGETALL', key)}
"""

_REMOVE = """
local key = KEYS[1]
if redis.call('HDEL', key, 'i:' .. ARGV[1]) == 0 then return {'missing', 0} end
redis.call('HINCRBY', key, 'v', 1)
redis.call('EXPIRE', key, ARGV[2])
return {'ok', 0, redis.call('HGETALL', key)}
"""


# After an order: the cart empties if it is still the version ordered. The version goes on
# counting, so a cart filled again never repeats a version an order was made from.
_EMPTY_IF_ORDERED = """
local key = KEYS[1]
local version = tonumber(redis.call('HGET', key, 'v') or '0')
if version == tonumber(ARGV[1]) then
  redis.call('DEL', key)
  redis.call('HSET', key, 'v', version + 1)
  redis.call('EXPIRE', key, ARGV[2])
  return 1
end
"""

_CLEAR_VERSION = _EMPTY_IF_ORDERED + "return 0\n"

# If it changed since (another tab added something), only the ordered quantities leave it.
_CLEAR_ORDERED = (
    _EMPTY_IF_ORDERED
    + """
for i = 3, #ARGV, 2 do
  local field = 'i:' .. ARGV[i]
  if redis.call('HINCRBY', key, field, -tonumber(ARGV[i + 1])) <= 0 then
    redis.call('HDEL', key, field)
  end
end
redis.call('HINCRBY', key, 'v', 1)
redis.call('EXPIRE', key, ARGV[2])
return 0
"""
)


ADDS_TTL_SECONDS = 30 * 86400


@dataclass(frozen=True, slots=True)
class Contents:
    items: dict[int, int]  # variant id -> quantity
    version: int

    @classmethod
    def of(cls, raw: Mapping[Any, Any]) -> Contents:
        items = {int(k[2:]): int(v) for k, v in raw.items() if str(k).startswith("i:")}
        return cls(items, int(raw.get("v", 0)))


@dataclass(frozen=True, slots=True)
class Change:
    """A change's outcome: `ok` with the cart after it; else why not (`too_many` with the
    quantity in the cart, `too_many_lines`, `missing`)."""

    status: str
    value: int
    cart: Contents | None


def _change(raw: list[Any]) -> Change:
    status, value = str(raw[0]), int(raw[1])
    flat = raw[2] if len(raw) > 2 else []
    pairs = {str(flat[i]): str(flat[i + 1]) for i in range(0, len(flat), 2)}
    return Change(status, value, Contents.of(pairs) if status == "ok" else None)


class CartStore:
    def __init__(self, redis: Redis, prefix: str, ttl_seconds: int) -> None:
        self._redis = redis
        self._prefix = prefix
        self._ttl = ttl_seconds
        self._add = redis.register_script(_ADD)
        self._set = redis.register_script(_SET)
        self._remove = redis.register_script(_REMOVE)
        self._clear_ordered = redis.register_script(_CLEAR_ORDERED)
        self._clear_version = redis.register_script(_CLEAR_VERSION)

    def _key(self, show_id: int, subject: str) -> str:
        return f"{self._prefix}cart:{{{show_id}}}:{subject}"

    def _adds_key(self, show_id: int) -> str:
        # The show's hash tag, like its carts.
        return f"{self._prefix}cartadds:{{{show_id}}}"

    async def adds(self, show_id: int) -> int:
        """How many times a show's viewers added to a cart (kept 30 days after the last)."""
        return int(await self._redis.get(self._adds_key(show_id)) or 0)

    async def contents(self, show_id: int, subject: str) -> Contents:
        return Contents.of(await self._redis.hgetall(self._key(show_id, subject)))

    async def add(
        self,
        show_id: int,
        subject: str,
        variant_id: int,
        quantity: int,
        max_qty: int,
        max_lines: int,
    ) -> Change:
        return _change(
            await self._add(
                keys=[self._key(show_id, subject), self._adds_key(show_id)],
                args=[variant_id, quantity, max_qty, max_lines, self._ttl, ADDS_TTL_SECONDS],
            )
        )

    async def set(self, show_id: int, subject: str, variant_id: int, quantity: int) -> Change:
        return _change(
            await self._set(
                keys=[self._key(show_id, subject)], args=[variant_id, quantity, self._ttl]
            )
        )

    async def remove(self, show_id: int, subject: str, variant_id: int) -> Change:
        return _change(
            await self._remove(keys=[self._key(show_id, subject)], args=[variant_id, self._ttl])
        )

    async def clear_ordered(
        self, show_id: int, subject: str, version: int, items: dict[int, int]
    ) -> None:
        flat = [x for pair in sorted(items.items()) for x in pair]
        await self._clear_ordered(
            keys=[self._key(show_id, subject)], args=[version, self._ttl, *flat]
        )

    async def clear_version(self, show_id: int, subject: str, version: int) -> bool:
        """Empty the cart if it is still at `version` (an order was made from it)."""
        done = await self._clear_version(
            keys=[self._key(show_id, subject)], args=[version, self._ttl]
        )
        return bool(done)
