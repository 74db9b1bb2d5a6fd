"""Room frames written straight to each viewer's WebSocket.

python-socketio hands every outgoing packet to the viewer's Engine.IO queue, where a writer task
per viewer wakes up, frames it and sends it. At ten frames a second to thousands of viewers
those wake-ups are most of what a live room costs. A room frame is the same bytes for every
viewer, so it is framed once (a WebSocket text frame, server to client: unmasked) and written
to each viewer's transport directly, whenever nothing of that viewer's is waiting in, or on its
way out of, the Engine.IO path: each viewer's packets stay in order. Otherwise the frame takes
the queue like any other packet.

Two pieces of Engine.IO are adapted for this, on the server's own instances only:
- `DirectWebSocket`, the aiohttp WebSocket driver that remembers the request's transport and
  counts the sends in flight (a send can wait for the transport to drain);
- `DirectSocket.poll`, Engine.IO's own, except that the writer task takes packets off the
  queue itself (Engine.IO's `wait_for` takes them in a helper task, so a packet could be off
  the queue and not yet written while a frame went out directly ahead of it), and that the
  packets it handed out last time let go of their payload once written (an idle viewer would
  otherwise keep its last answer, the join snapshot, in memory).
"""

from __future__ import annotations

import asyncio
from typing import Any

from engineio import exceptions as eio_exceptions
from engineio.async_drivers.aiohttp import WebSocket
from engineio.async_socket import AsyncSocket

# A viewer whose transport holds more than its frame allowance (`socket_queue_frames`) times
# this many bytes is a slow consumer, as one whose queue is full.
BYTES_PER_FRAME = 2048


def text_frame(payload: bytes) -> bytes:
    """One final, unmasked WebSocket text frame (RFC 6455 5.2)."""
    n = len(payload)
    if n < 126:
        header = bytes((0x81, n))
    elif n < 1 << 16:
        header = bytes((0x81, 126)) + n.to_bytes(2, "big")
    else:
        header = bytes((0x81, 127)) + n.to_bytes(8, "big")
    return header + payload


class DirectSocket(AsyncSocket):  # type: ignore[misc]
    direct: DirectWebSocket | None = None
    _sent: tuple[Any, ...] = ()

    async def poll(self) -> list[Any]:
        # The writer task asks for more only once it has written what it got last time; it
        # still holds the last packet it wrote (a loop variable) while it waits here, which
        # after a join is the whole snapshot, twice encoded. Those bytes are not needed again.
        for pkt in self._sent:
            pkt.data = pkt.encode_cache = None
        self._sent = ()
        packets = await self._next()
        self._sent = tuple(packets)
        return packets

    async def _next(self) -> list[Any]:
        try:
            async with asyncio.timeout(self.server.ping_interval + self.server.ping_timeout):
                first = await self.queue.get()
            self.queue.task_done()
        except (TimeoutError, asyncio.CancelledError):
            raise eio_exceptions.QueueEmpty() from None
        if first is None:
            return []
        packets = [first]
        while not self.queue.empty():
            pkt = self.queue.get_nowait()
            self.queue.task_done()
            if pkt is None:
                self.queue.put_nowait(None)
                break
            packets.append(pkt)
        return packets


class DirectWebSocket(WebSocket):  # type: ignore[misc]
    def __init__(self, handler: Any, server: Any) -> None:
        super().__init__(handler, server)
        self.transport: asyncio.Transport | None = None
        self.sending = 0

    async def __call__(self, environ: dict[str, Any]) -> Any:
        socket = getattr(self.handler, "__self__", None)
        if type(socket) is AsyncSocket:
            socket.__class__ = DirectSocket
        if isinstance(socket, DirectSocket):
            socket.direct = self
        self.transport = environ["aiohttp.request"].transport
        return await super().__call__(environ)

    async def send(self, message: Any) -> None:
        self.sending += 1
        try:
            await super().send(message)
        finally:
            self.sending -= 1


def write(socket: Any, frame: bytes, limit: int) -> str:
    """`sent`; `queue` (this viewer has packets ahead of it, or no direct way); or `slow`
    (more than `limit` bytes already wait in its transport)."""
    direct = getattr(socket, "direct", None)
    if direct is None or direct.sending or not socket.queue.empty():
        return "queue"
    transport = direct.transport
    if transport is None or transport.is_closing() or direct._sock is None or direct._sock.closed:
        return "queue"
    if transport.get_write_buffer_size() > limit:
        return "slow"
    transport.write(frame)
    return "sent"


def abort(socket: Any) -> None:
    """Cut a slow viewer's connection at once, dropping what waits in its transport."""
    direct = getattr(socket, "direct", None)
    if direct is not None and direct.transport is not None:
        direct.transport.abort()
