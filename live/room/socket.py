"""Socket.IO transport of the live room: connect with a token, one show per connection, every
event validated and answered with an ack. Thin: parse, find the caller's seat, call the service.

Delivery of room frames goes through python-socketio's Redis manager. `RoomManager` keeps the
manager's protocol and only replaces how a frame reaches this node's viewers: the packet is
encoded and framed once and written straight to each viewer's WebSocket (`live.room.direct`),
or, when that viewer has packets ahead of it, put on its Engine.IO queue (no task per
recipient either way); a viewer whose queue or transport is full is dropped (it reconnects and
recovers by `seq`), and a viewer that is joining has frames held until its join answer has been
queued, so it sees each seq once.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import socketio
from engineio import packet as eio_packet
from pydantic import BaseModel
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from socketio import packet as sio_packet

from core.db import transient
from core.errors import AppError, ErrorCode
from core.identity import Principal
from core.web import parse
from live.room import direct, rules
from live.room.service import RoomService, Seat
from live.room.store import FRAME_EVENT, room_name

log = logging.getLogger(__name__)

NAMESPACE = "/"


FetchFrames = Callable[[int, int, int], Awaitable[list[dict[str, Any]]]]
LatestFrame = Callable[[int], Awaitable[dict[str, Any] | None]]
# The pub/sub link's retry delays (python-socketio's own wait 1 s, doubling to 60 s).
RESUBSCRIBE_FIRST_S = 0.1
RESUBSCRIBE_MAX_S = 5.0


class RoomManager(socketio.AsyncRedisManager):  # type: ignore[misc]
    def __init__(self, url: str, channel: str, queue_limit: int, **kwargs: Any) -> None:
        # A half-open link to Redis is noticed within 30 s instead of leaving the node deaf.
        kwargs.setdefault("redis_options", {"health_check_interval": 30})
        super().__init__(url, channel=channel, **kwargs)
        self.queue_limit = queue_limit
        # Reads frames from the show's log: fills a gap left while the pub/sub link was down.
        self.fetch: FetchFrames | None = None
        # Reads a show's newest frame: what a node catches up to after its link came back.
        self.latest: LatestFrame | None = None
        self.catch_ups = 0
        self.resubscribe_first_s = RESUBSCRIBE_FIRST_S
        # The epoch and seq of the last frame seen per room (frames of one epoch only are
        # numbered one after another).
        self._last_seq: dict[str, tuple[str, int]] = {}
        self.gaps_filled = 0
        self._held: dict[str, list[tuple[str, int, eio_packet.Packet]]] = {}
        self._dropping: set[str] = set()
        self.frames_delivered = 0
        self.packets_queued = 0
        self.packets_written = 0  # straight to the viewer's WebSocket (live.room.direct)
        self.slow_dropped = 0

    async def _handle_emit(self, message: dict[str, Any]) -> None:
        data = message.get("data")
        if (
            message.get("event") == FRAME_EVENT
            and message.get("callback") is None
            and not message.get("binary")
            and isinstance(data, list)
            and len(data) == 1
            and isinstance(data[0], dict)
        ):
            await self._frame(str(message.get("room")), data[0])
            return
        await super()._handle_emit(message)

    async def _frame(self, room: str, frame: dict[str, Any]) -> None:
        epoch, seq = str(frame.get("epoch", "")), int(frame.get("seq", 0))
        known = self._last_seq.get(room)
        self._last_seq[room] = (epoch, seq)
        # A new epoch starts a new numbering: nothing to fill (its viewers take a snapshot).
        last = known[1] if known is not None and known[0] == epoch else None
        if (
            last is not None
            and seq > last + 1
            and self.fetch is not None
            and room in self.rooms.get(NAMESPACE, {})
        ):
            # Frames published while this node's pub/sub link was down: read them from the log
            # (the listener handles one message at a time, so order holds).
            try:
                missing = await self.fetch(int(frame["show_id"]), last + 1, seq - 1)
            except Exception:
                log.exception("could not fill a frame gap", extra={"room": room})
                missing = []
            for old in missing:
                if last < int(old.get("seq", 0)) < seq:
                    self.deliver(room, old)
                    self.gaps_filled += 1
        self.deliver(room, frame)

    async def _redis_listen_with_retries(self) -> AsyncIterator[Any]:
        # python-socketio's loop, plus a catch-up each time the link is back: frames published
        # while it was down reach nobody on this node until a later frame shows the gap, and
        # a later frame may never come (or may be of a new epoch, after a Redis restart).
        failures = 0
        subscribed = False
        while True:
            try:
                if not subscribed:
                    self._redis_connect()
                    await self.pubsub.subscribe(self.channel)
                    subscribed = True
                    failures = 0
                    await self._catch_up()
                async for message in self.pubsub.listen():
                    yield message
            except Exception as exc:  # noqa: BLE001 (any failure: reconnect)
                delay = min(self.resubscribe_first_s * 2**failures, RESUBSCRIBE_MAX_S)
                failures += 1
                log.warning(
                    "room pub/sub link lost; retrying",
                    extra={"error": type(exc).__name__, "retry_s": delay},
                )
                subscribed = False
                await asyncio.sleep(delay)

    async def _catch_up(self) -> None:
        """Deliver each open room's newest frame if this node has not: the usual gap fill
        brings what came before it in the same epoch; viewers take a new epoch's snapshot."""
        if self.latest is None:
            return
        for room in list(self.rooms.get(NAMESPACE, {})):
            if not isinstance(room, str) or not room.startswith("show:"):
                continue  # None (everyone) and each connection's own room
            try:
                frame = await self.latest(int(room.removeprefix("show:")))
            except Exception:
                log.exception("could not catch up a room", extra={"room": room})
                continue
            known = self._last_seq.get(room)
            if frame is None or (
                known is not None
                and known[0] == frame.get("epoch")
                and int(frame.get("seq", 0)) <= known[1]
            ):
                continue
            self.catch_ups += 1
            await self._frame(room, frame)

    async def _handle_close_room(self, message: dict[str, Any]) -> None:
        self._last_seq.pop(str(message.get("room")), None)
        await super()._handle_close_room(message)

    def deliver(self, room: str, frame: dict[str, Any]) -> None:
        pkt = self.server.packet_class(
            sio_packet.EVENT, namespace=NAMESPACE, data=[FRAME_EVENT, frame]
        )
        # One Engine.IO packet for every viewer (it caches its encoding after the first send),
        # and one WebSocket frame of it for the viewers it can be written to directly.
        eio_pkt = eio_packet.Packet(eio_packet.MESSAGE, pkt.encode())
        ws_frame = direct.text_frame(eio_pkt.encode().encode())
        epoch, seq = str(frame.get("epoch", "")), int(frame.get("seq", 0))
        self.frames_delivered += 1
        for sid, eio_sid in self.get_participants(NAMESPACE, room):
            held = self._held.get(sid)
            if held is not None:
                held.append((epoch, seq, eio_pkt))
            else:
                self._push(sid, eio_sid, eio_pkt, ws_frame)

    def _push(
        self, sid: str, eio_sid: str, pkt: eio_packet.Packet, ws_frame: bytes | None = None
    ) -> None:
        socket = self.server.eio.sockets.get(eio_sid)
        if socket is None or socket.closed or sid in self._dropping:
            return
        outcome = "queue"
        if ws_frame is not None:
            outcome = direct.write(socket, ws_frame, self.queue_limit * direct.BYTES_PER_FRAME)
            if outcome == "sent":
                self.packets_written += 1
                return
        if outcome == "slow" or socket.queue.qsize() >= self.queue_limit:
            if outcome == "slow":
                # What waits in its transport is dropped with it: nothing would ever drain it.
                direct.abort(socket)
            self.slow_dropped += 1
            self._dropping.add(sid)
            log.warning("slow consumer dropped", extra={"sid": sid})
            self.server.start_background_task(self._drop, sid)
            return
        socket.queue.put_nowait(pkt)
        self.packets_queued += 1

    async def _drop(self, sid: str) -> None:
        try:
            await self.server.disconnect(sid, namespace=NAMESPACE)
        finally:
            self._dropping.discard(sid)

    def hold(self, sid: str) -> None:
        self._held[sid] = []

    def joined(self, room: str, epoch: str, seq: int) -> None:
        """A join answered with the room at (epoch, seq): frames up to there are in that
        viewer's answer, so a catch-up (or a gap fill) need not bring them again. A node that
        has delivered nothing in the room yet (it subscribed after the frames were published)
        would otherwise send the joiner its newest frame a second time."""
        known = self._last_seq.get(room)
        if known is None or known[0] != epoch or known[1] < seq:
            self._last_seq[room] = (epoch, seq)

    def drop_held(self, sid: str) -> None:
        self._held.pop(sid, None)

    def release(self, sid: str, epoch: str | None, after_seq: int | None) -> None:
        """Send what arrived while `sid` was joining, skipping what its answer already holds
        (frames of its epoch up to its seq). A frame of another epoch is sent: the viewer
        decides (a newer epoch makes it take a snapshot)."""
        held = self._held.pop(sid, None)
        if not held:
            return
        eio_sid = self.eio_sid_from_sid(sid, NAMESPACE)
        if eio_sid is None:
            return
        for frame_epoch, seq, pkt in held:
            if after_seq is None or frame_epoch != epoch or seq > after_seq:
                self._push(sid, eio_sid, pkt)


# Names python-socketio dispatches to the server's own lifecycle handlers: a client must not
# be able to run them by sending an event with that name.
RESERVED_EVENTS = frozenset({"connect", "disconnect", "connect_error", "*"})


class RoomServer(socketio.AsyncServer):  # type: ignore[misc]
    """python-socketio's server, with two guards at the Engine.IO level: open connections per
    client address (counted at the handshake, so a client that never completes the Socket.IO
    connect still counts), and client events named like the server's lifecycle handlers."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Room frames go straight to each viewer's WebSocket when they can (live.room.direct).
        self.eio._async = {**self.eio._async, "websocket": direct.DirectWebSocket}
        self.sockets_per_ip = 0  # 0: no limit
        self.ip_of: Callable[[dict[str, Any]], str] = lambda _environ: "unknown"
        self._per_ip: dict[str, int] = defaultdict(int)
        self._ip_of_eio: dict[str, str] = {}

    async def _handle_eio_connect(self, eio_sid: str, environ: dict[str, Any]) -> Any:
        ip = self.ip_of(environ)
        if self.sockets_per_ip and self._per_ip[ip] >= self.sockets_per_ip:
            # Engine.IO answers the handshake 401 with this message.
            return {"code": "rate_limited", "message": "too many connections from this address"}
        self._per_ip[ip] += 1
        self._ip_of_eio[eio_sid] = ip
        return await super()._handle_eio_connect(eio_sid, environ)

    async def _handle_eio_disconnect(self, eio_sid: str, reason: Any = None) -> None:
        try:
            await super()._handle_eio_disconnect(eio_sid, reason)
        finally:
            ip = self._ip_of_eio.pop(eio_sid, None)
            if ip is not None:
                self._per_ip[ip] -= 1
                if self._per_ip[ip] <= 0:
                    del self._per_ip[ip]

    async def _handle_event(
        self, eio_sid: str, namespace: str | None, id: int | None, data: Any
    ) -> None:
        if isinstance(data, list) and data and data[0] in RESERVED_EVENTS:
            if id is not None:
                error = _error(AppError(ErrorCode.UNKNOWN_EVENT, f"{data[0]!r} is reserved"))
                await self._send_packet(
                    eio_sid,
                    self.packet_class(
                        sio_packet.ACK, namespace=namespace or NAMESPACE, id=id, data=[error]
                    ),
                )
            return
        await super()._handle_event(eio_sid, namespace, id, data)


@dataclass
class _Conn:
    principal: Principal
    transport: Any = None
    seat: Seat | None = None


Handler = Callable[[Seat, Any], Awaitable[dict[str, Any]]]


class RoomSocket:
    def __init__(
        self,
        sio: RoomServer,
        manager: RoomManager,
        service: RoomService,
        verify: Callable[[str], Principal | None],
        ip_of: Callable[[dict[str, Any]], str],
        sockets_per_ip: int,
    ) -> None:
        self.sio = sio
        self.manager = manager
        self.service = service
        self._verify = verify
        sio.ip_of = ip_of
        sio.sockets_per_ip = sockets_per_ip
        self._conns: dict[str, _Conn] = {}
        events: dict[str, tuple[type[BaseModel], Handler]] = {
            "chat": (rules.Chat, service.chat),
            "ask": (rules.Ask, service.ask),
            "vote": (rules.Vote, service.vote),
            "react": (rules.React, service.react),
            "pin": (rules.Pin, service.pin),
            "unpin": (rules.Unpin, service.unpin),
            "question.close": (rules.CloseQuestion, service.close_question),
            "chat.delete": (rules.DeleteMessage, service.delete_message),
            "user.timeout": (rules.Timeout, service.timeout),
            "user.ban": (rules.Ban, self._ban),
            "announce": (rules.Announce, service.announce),
            "slow_mode": (rules.SlowMode, service.slow_mode),
            "blocked_words": (rules.BlockedWords, service.blocked_words),
            "show.start": (rules.Empty, lambda seat, _: service.start(seat)),
            "show.end": (rules.Empty, lambda seat, _: service.end(seat)),
        }
        sio.on("connect", self.connect)
        sio.on("disconnect", self.disconnect)
        sio.on("join", self.join)
        sio.on("leave", self.leave)
        sio.on("*", self.unknown)
        self.add_events(events)

    def add_events(self, events: dict[str, tuple[type[BaseModel], Handler]]) -> None:
        """Register seat-bound events (the composition root adds the cart's this way)."""
        for name, (schema, handler) in events.items():
            self.sio.on(name, self._event(name, schema, handler))

    @property
    def connections(self) -> int:
        return len(self._conns)

    async def close_all(self, grace: float = 1.0) -> None:
        """Shutdown: a Socket.IO goodbye to every client, then close what is still open."""
        transports = [c.transport for c in self._conns.values() if c.transport is not None]
        if self.sio.eio.sockets:
            await self.sio.eio.disconnect()
        deadline = asyncio.get_running_loop().time() + grace
        while any(not t.is_closing() for t in transports):
            if asyncio.get_running_loop().time() > deadline:
                for transport in transports:
                    transport.close()
                break
            await asyncio.sleep(0.05)

    # Connection.

    async def connect(self, sid: str, environ: dict[str, Any], auth: Any) -> None:
        token = auth.get("token") if isinstance(auth, dict) else None
        principal = self._verify(token) if isinstance(token, str) else None
        if principal is None:
            raise _refused(AppError(ErrorCode.UNAUTHENTICATED, "send a valid token in auth.token"))
        request = environ.get("aiohttp.request")
        self._conns[sid] = _Conn(principal, getattr(request, "transport", None))

    async def disconnect(self, sid: str, reason: Any = None) -> None:
        conn = self._conns.pop(sid, None)
        if conn is None:
            return
        if conn.seat is not None:
            await self.service.leave(conn.seat, sid)

    # Events.

    async def join(self, sid: str, *args: Any) -> dict[str, Any]:
        conn = self._conns.get(sid)
        if conn is None:
            return _error(AppError(ErrorCode.UNAUTHENTICATED, "not connected"))
        try:
            body = parse(rules.Join, _one(args))
            seat = await self.service.seat(conn.principal, body.show_id)
            await self._vacate(sid, conn)
            room = room_name(body.show_id)
            # Hold live frames first, then enter the room, then read: nothing published after
            # the read is missed, and nothing in the answer is sent twice.
            self.manager.hold(sid)
            await self.sio.enter_room(sid, room)
            try:
                answer = await self.service.join(seat, sid, body.since, body.epoch)
            except BaseException:
                self.manager.drop_held(sid)
                await self.sio.leave_room(sid, room)
                raise
            conn.seat = seat
            self.manager.joined(room, answer["epoch"], answer["seq"])
            # The ack is queued right after this handler returns, before the loop runs the
            # callback: held frames follow the answer.
            asyncio.get_running_loop().call_soon(
                self.manager.release, sid, answer["epoch"], answer["seq"]
            )
            return {"ok": True, **answer}
        except AppError as err:
            return _error(err)
        except (RedisConnectionError, RedisTimeoutError):
            log.warning("redis unavailable", extra={"event": "join", "sid": sid})
            return _error(REDIS_UNAVAILABLE)
        except Exception:
            log.exception("join failed", extra={"sid": sid})
            return _error(AppError(ErrorCode.INTERNAL_ERROR, "internal error"))

    async def _vacate(self, sid: str, conn: _Conn) -> None:
        if conn.seat is not None:
            seat, conn.seat = conn.seat, None
            await self.sio.leave_room(sid, room_name(seat.show_id))
            await self.service.leave(seat, sid)

    async def leave(self, sid: str, *args: Any) -> dict[str, Any]:
        conn = self._conns.get(sid)
        try:
            parse(rules.Empty, _one(args, empty_ok=True))
            if conn is None or conn.seat is None:
                raise AppError(ErrorCode.NOT_JOINED, "join a show first")
        except AppError as err:
            return _error(err)
        await self._vacate(sid, conn)
        return {"ok": True}

    async def unknown(self, event: str, sid: str, *args: Any) -> dict[str, Any]:
        return _error(AppError(ErrorCode.UNKNOWN_EVENT, f"unknown event {str(event)[:60]!r}"))

    def _event(
        self, name: str, schema: type[BaseModel], handler: Handler
    ) -> Callable[..., Awaitable[dict[str, Any]]]:
        # An event without fields (show.start, cart.view, ...) may also be sent with no payload.
        empty_ok = not schema.model_fields

        async def on_event(sid: str, *args: Any) -> dict[str, Any]:
            conn = self._conns.get(sid)
            try:
                if conn is None or conn.seat is None:
                    raise AppError(ErrorCode.NOT_JOINED, "join a show first")
                body = parse(schema, _one(args, empty_ok=empty_ok))
                return {"ok": True, **await handler(conn.seat, body)}
            except AppError as err:
                return _error(err)
            except (RedisConnectionError, RedisTimeoutError):
                log.warning("redis unavailable", extra={"event": name, "sid": sid})
                return _error(REDIS_UNAVAILABLE)
            except Exception as exc:
                if transient(exc):
                    log.warning("database busy", extra={"event": name, "sid": sid})
                    return _error(DATABASE_BUSY)
                log.exception("event failed", extra={"event": name, "sid": sid})
                return _error(AppError(ErrorCode.INTERNAL_ERROR, "internal error"))

        return on_event

    async def _ban(self, seat: Seat, body: rules.Ban) -> dict[str, Any]:
        answer, sids = await self.service.ban(seat, body)
        for banned_sid in sids:
            await self.sio.disconnect(banned_sid)
        return answer


# A database error that passes (SQLite locked, a PostgreSQL deadlock): the same event may
# simply be sent again.
DATABASE_BUSY = AppError(ErrorCode.BUSY, "the database is busy; try again", retry_after=1)
# Redis restarting or out of reach: worth a retry (the client's own, after retry_after).
REDIS_UNAVAILABLE = AppError(
    ErrorCode.BUSY, "the live room is unavailable; try again", retry_after=1
)


def _one(args: tuple[Any, ...], empty_ok: bool = False) -> Any:
    if empty_ok and not args:
        return {}
    if len(args) != 1:
        raise AppError(ErrorCode.VALIDATION_ERROR, "send exactly one JSON object as the payload")
    return args[0]


def _refused(err: AppError) -> socketio.exceptions.ConnectionRefusedError:
    # The client's connect_error carries message and data {"code", "message"}.
    return socketio.exceptions.ConnectionRefusedError(err.message, err.to_dict())


def _error(err: AppError) -> dict[str, Any]:
    error = err.to_dict()
    if err.retry_after:
        error["retry_after"] = err.retry_after
    return {"ok": False, "error": error}
