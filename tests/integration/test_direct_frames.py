"""Room frames are framed once as WebSocket text frames (live.room.direct) and written to the
transport: a real WebSocket client reads them as text messages at every length encoding, in
order with what the server sends its own way."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import WSMsgType, web

from live.room.direct import text_frame

SIZES = [0, 1, 125, 126, 65535, 65536, 200_000]


async def test_frames_read_back_as_text_messages(aiohttp_client: Any) -> None:
    async def handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.send_str("first, the usual way")
        assert request.transport is not None
        for size in SIZES:
            request.transport.write(text_frame(("é" * size).encode()))
        await ws.send_str("last, the usual way")
        await ws.receive()  # until the client closes
        return ws

    app = web.Application()
    app.router.add_get("/ws", handler)
    client = await aiohttp_client(app)
    async with client.ws_connect("/ws", max_msg_size=0) as ws:
        got = []
        for _ in range(len(SIZES) + 2):
            message = await ws.receive()
            assert message.type == WSMsgType.TEXT
            got.append(message.data)
    assert got == ["first, the usual way", *("é" * n for n in SIZES), "last, the usual way"]


@pytest.mark.parametrize(("size", "header"), [(125, 2), (126, 4), (65535, 4), (65536, 10)])
def test_the_length_takes_the_shortest_encoding(size: int, header: int) -> None:
    frame = text_frame(b"x" * size)
    assert frame[0] == 0x81 and len(frame) == header + size
