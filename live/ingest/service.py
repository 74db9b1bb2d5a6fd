"""Stream keys and the RTMP ingest's publish callbacks.

The key is kept in the shows table (readable only through the shop's staff routes); who is
publishing lives in Redis, shared by every app node: one record per show holding the sha256 of
the key it published with and nginx-rtmp's client id.
"""

from __future__ import annotations

import logging
import secrets
import time
from typing import Any, Protocol

from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.errors import AppError, ErrorCode, not_found
from core.tasks import Periodic
from live.ingest import rules
from live.ingest.probe import DelayProbe
from live.shows.models import Show
from live.shows.rules import Status
from live.shows.schemas import ShowPatch

log = logging.getLogger(__name__)

# KEYS[1]: the record, KEYS[2]: the show by key hash. ARGV: key hash, the record, ttl, show id.
# Refused (0) while another publisher holds the show with the current key; a record left by a
# rotated key is taken over.
_CLAIM = """
local cur = redis.call('GET', KEYS[1])
if cur and string.sub(cur, 1, 64) == ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
redis.call('SET', KEYS[2], ARGV[4], 'EX', ARGV[3])
return 1
"""

# KEYS[1]: the record. ARGV: the record expected. Deleted only if it is still that one (the
# show-by-key-hash entry expires by itself: a late on_publish_done still finds its show).
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class Refused(Exception):
    """A callback the ingest must refuse (403). The reason never carries the key."""

    def __init__(self, reason: str, show_id: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.show_id = show_id


class Room(Protocol):
    async def set_status(self, shop_id: int, show_id: int, target: Status) -> dict[str, Any]: ...

    async def update_show(self, shop_id: int, show_id: int, patch: ShowPatch) -> dict[str, Any]: ...

    async def set_stream(self, show_id: int, online: bool) -> None: ...


def _record(key: str, client: str) -> str:
    return f"{rules.key_hash(key)} {client}"


class IngestService:
    def __init__(
        self,
        sessions: async_sessionmaker[Any],
        redis: Redis,
        prefix: str,
        room: Room,
        ingest_url: str,
        hls_base: str,
        grace_seconds: float,
        probe: DelayProbe,
    ) -> None:
        self._sessions = sessions
        self._redis = redis
        self._prefix = prefix
        self._room = room
        self._ingest_url = ingest_url
        self._hls_base = hls_base
        self._grace = grace_seconds
        self._probe = probe
        # Shows whose stream went offline, scored by when their grace period ends.
        self._offline = f"{prefix}ingest:offline"
        self._periodic = Periodic(
            "stream grace sweep", rules.sweep_interval(grace_seconds), self._sweep, log
        )

        self._claim = redis.register_script(_CLAIM)
        self._release = redis.register_script(_RELEASE)

    def _key(self, show_id: int) -> str:
        return f"{self._prefix}ingest:{show_id}"

    def _by_hash(self, key_hash: str) -> str:
        """The show a key published to, for as long as its publisher may be on air (nginx-rtmp
        calls on_update and on_publish_done with the key the encoder used, even once rotated)."""
        return f"{self._prefix}ingest:key:{key_hash}"

    # Staff routes.

    async def _show(self, session: AsyncSession, shop_id: int, show_id: int) -> Show:
        show = await session.get(Show, show_id, with_for_update=True)
        if show is None or show.shop_id != shop_id:
            raise not_found("show")
        return show

    def _credentials(self, show: Show, publishing: bool) -> dict[str, Any]:
        return {
            "ingest_url": self._ingest_url,
            "stream_key": show.stream_key,
            "stream_name": rules.public_name(show.id),
            "playback_url": rules.playback_url(self._hls_base, show.id),
            "publishing": publishing,
        }

    async def _on_air(self, show_id: int) -> str | None:
        """The show's publishing record: `<key hash> <client id>`, or None."""
        raw = await self._redis.get(self._key(show_id))
        return None if raw is None else str(raw)

    async def _publishing(self, show_id: int) -> bool:
        return bool(await self._redis.exists(self._key(show_id)))

    async def credentials(self, shop_id: int, show_id: int) -> dict[str, Any]:
        """The show's ingest URL and stream key (made on first read)."""
        async with self._sessions.begin() as session:
            show = await self._show(session, shop_id, show_id)
            if show.stream_key is None:
                show.stream_key = new_key()
        return self._credentials(show, await self._publishing(show_id))

    async def rotate(self, shop_id: int, show_id: int) -> dict[str, Any]:
        """A new key: the old one publishes no more, and a publisher using it is refused at its
        next on_update (`publishing` says one was on air with the old key)."""
        async with self._sessions.begin() as session:
            show = await self._show(session, shop_id, show_id)
            old = show.stream_key
            show.stream_key = new_key()
        current = await self._on_air(show_id)
        on_air = (
            current is not None and old is not None and _hash_of(current) == rules.key_hash(old)
        )
        log.info("stream key rotated", extra={"show_id": show_id, "publisher_dropped": on_air})
        return self._credentials(show, on_air)

    # nginx-rtmp callbacks.

    async def _by_key(self, key: str) -> Show:
        if not rules.well_formed(key):
            raise Refused("malformed key")
        async with self._sessions() as session:
            show: Show | None = await session.scalar(select(Show).where(Show.stream_key == key))
        if show is None:
            raise Refused("unknown key")
        return show

    async def publish(self, name: str, client: str) -> str:
        """Authorise a publisher; the public stream name it must publish under."""
        show = await self._by_key(name)
        status = Status(show.status)
        if not rules.may_publish(status):
            raise Refused(f"show is {status.value}", show.id)
        record = _record(name, client)
        claimed = await self._claim(
            keys=[self._key(show.id), self._by_hash(rules.key_hash(name))],
            args=[rules.key_hash(name), record, rules.PUBLISH_TTL_SECONDS, show.id],
        )
        if not int(claimed):
            raise Refused("another publisher is on air", show.id)
        await self._redis.zrem(self._offline, str(show.id))  # back within the grace period
        await self._probe.on_air(show.id)
        try:
            if status is Status.SCHEDULED and show.go_live_on_publish:
                try:
                    await self._room.set_status(show.shop_id, show.id, Status.LIVE)
                except AppError as err:  # started meanwhile by the console: fine
                    if err.code is not ErrorCode.INVALID_TRANSITION:
                        raise
            url = rules.playback_url(self._hls_base, show.id)
            if show.playback_url != url:
                await self._room.update_show(show.shop_id, show.id, ShowPatch(playback_url=url))
            await self._room.set_stream(show.id, True)
        except BaseException:
            await self._release(keys=[self._key(show.id)], args=[record])
            await self._probe.off_air(show.id)
            raise
        log.info("stream published", extra={"show_id": show.id})
        return rules.public_name(show.id)

    async def push(self, name: str) -> None:
        """The media server's push into its HLS application: only under a public name, and only
        while an authorised encoder is on air for that show (a local process publishing there
        directly is refused)."""
        show_id = rules.show_of_public_name(name)
        if show_id is None:
            raise Refused("not a public stream name")
        if await self._on_air(show_id) is None:
            raise Refused("no encoder on air", show_id)

    async def _current(self, name: str, client: str) -> tuple[int, str]:
        """The show a running publisher belongs to and its record; Refused when it is not the
        one on air with the show's current key."""
        show_id = await self._show_id(name)
        record = await self._on_air(show_id)
        if record is None:
            raise Refused("not publishing", show_id)
        if record.partition(" ")[2] != client:
            raise Refused("another publisher is on air", show_id)
        async with self._sessions() as session:
            show = await session.get(Show, show_id)
        if (
            show is None
            or show.stream_key is None
            or rules.key_hash(show.stream_key) != _hash_of(record)
        ):
            raise Refused("stream key rotated", show_id)
        if not rules.may_publish(Status(show.status)):
            raise Refused(f"show is {show.status}", show_id)
        return show_id, record

    async def update(self, name: str, client: str) -> None:
        """on_update: keep an authorised publisher on air; anything else is dropped."""
        try:
            show_id, record = await self._current(name, client)
        except Refused as refused:
            # Dropped (key rotated, show ended): its stream is gone. A no-op unless this
            # client is the one the record names.
            if refused.show_id is not None:
                await self._stream_gone(refused.show_id, client)
            raise
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.expire(self._key(show_id), rules.PUBLISH_TTL_SECONDS)
            pipe.expire(self._by_hash(_hash_of(record)), rules.PUBLISH_TTL_SECONDS)
            await pipe.execute()
        await self._probe.on_air(show_id)  # still on air: keep probing it

    async def _show_id(self, name: str) -> int:
        """The show a running stream belongs to. nginx-rtmp calls on_update and on_publish_done
        with the name the encoder published under, the key (perhaps rotated since): the show it
        published to is looked up by the key's hash; a public name is taken as it is."""
        show_id = rules.show_of_public_name(name)
        if show_id is not None:
            return show_id
        if not rules.well_formed(name):
            raise Refused("malformed key")
        found = await self._redis.get(self._by_hash(rules.key_hash(name)))
        return int(str(found)) if found is not None else (await self._by_key(name)).id

    async def publish_done(self, name: str, client: str) -> None:
        await self._stream_gone(await self._show_id(name), client)

    async def _stream_gone(self, show_id: int, client: str) -> None:
        record = await self._on_air(show_id)
        if record is None:
            return
        if record.partition(" ")[2] != client:
            return  # a newer publisher holds the show
        if int(await self._release(keys=[self._key(show_id)], args=[record])):
            # Whether the show ends is decided when the grace period is over (the host may
            # change end_on_stream_end meanwhile).
            deadline = rules.grace_deadline_ms(_now_ms(), self._grace)
            await self._redis.zadd(self._offline, {str(show_id): deadline})
            await self._probe.off_air(show_id)
            await self._room.set_stream(show_id, False)
            log.info("stream offline", extra={"show_id": show_id})

    # The grace period: every node sweeps; ZREM decides which one handles a show.

    async def sweep(self) -> list[int]:
        """End the shows whose grace period passed (and whose host chose so); their ids."""
        ended = []
        due = await self._redis.zrangebyscore(self._offline, "-inf", _now_ms(), start=0, num=100)
        for member in due:
            show_id = int(str(member))
            if not int(await self._redis.zrem(self._offline, str(show_id))):
                continue  # another node took it
            try:
                if await self._end_after_grace(show_id):
                    ended.append(show_id)
            except Exception:
                retry = _now_ms() + 1000
                await self._redis.zadd(self._offline, {str(show_id): retry})
                raise
        return ended

    async def _end_after_grace(self, show_id: int) -> bool:
        async with self._sessions() as session:
            show = await session.get(Show, show_id)
        if show is None:
            return False
        publishing = await self._publishing(show_id)
        if not rules.ends_after_grace(Status(show.status), show.end_on_stream_end, publishing):
            return False
        try:
            await self._room.set_status(show.shop_id, show_id, Status.ENDED)
        except AppError as err:  # ended meanwhile
            if err.code is not ErrorCode.INVALID_TRANSITION:
                raise
            return False
        log.info("show ended after its stream", extra={"show_id": show_id})
        return True

    async def _sweep(self) -> None:
        await self.sweep()

    def start(self) -> None:
        self._periodic.start()

    async def stop(self) -> None:
        await self._periodic.stop()


def _now_ms() -> int:
    return int(time.time() * 1000)


def new_key() -> str:
    return rules.KEY_PREFIX + secrets.token_urlsafe(48)[: rules.KEY_RANDOM_CHARS]


def _hash_of(record: str) -> str:
    """The key hash a publishing record starts with."""
    return record[:64]
