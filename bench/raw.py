"""The `raw` baseline: a minimal aiohttp WebSocket server that speaks just enough Engine.IO 4 /
Socket.IO 5 for the bench clients, and sends each chat message as its own pre-encoded frame to
every viewer of the room: the floor of what delivering a message costs in Python on aiohttp.

    python -m bench.raw PORT
"""

from __future__ import annotations

import json
import sys
from typing import Any

from aiohttp import WSMsgType, web

OPENING = '0{"sid":"raw","upgrades":[],"pingInterval":25000,"pingTimeout":60000,"maxPayload":65536}'
ROOMS = web.AppKey("rooms", dict[int, set[web.WebSocketResponse]])


def parse_event(packet: str) -> tuple[int | None, str, Any]:
    """`42[<ack id>]["event", data]` -> (ack id, event, data)."""
    end = 2
    while end < len(packet) and packet[end].isdigit():
        end += 1
    ack = int(packet[2:end]) if end > 2 else None
    event, *rest = json.loads(packet[end:])
    return ack, str(event), rest[0] if rest else None


def encode(event: str, data: Any) -> str:
    return "42" + json.dumps([event, data], separators=(",", ":"))


async def socket(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse(max_msg_size=65536, compress=False)
    await ws.prepare(request)
    rooms = request.app[ROOMS]
    show: int | None = None
    await ws.send_str(OPENING)
    try:
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                break
            packet = msg.data
            if packet.startswith("40"):
                await ws.send_str('40{"sid":"raw"}')
                continue
            if not packet.startswith("42"):
                continue  # "3" (pong) and the rest
            ack, event, data = parse_event(packet)
            reply: dict[str, Any] = {"ok": True}
            if event == "join":
                show = int(data["show_id"])
                rooms.setdefault(show, set()).add(ws)
                reply["snapshot"] = {"seq": 0}
            elif show is not None and event in ("chat", "pin"):
                item = (
                    {"type": "chat", "text": str(data["text"])}
                    if event == "chat"
                    else {
                        "type": "pin",
                        "product_id": data.get("product_id"),
                    }
                )
                frame = encode("frame", {"events": [item]})  # encoded once, sent to everyone
                for viewer in list(rooms.get(show, ())):
                    if not viewer.closed:
                        await viewer.send_str(frame)
            if ack is not None:
                await ws.send_str(f"43{ack}" + json.dumps([reply], separators=(",", ":")))
    finally:
        if show is not None:
            rooms.get(show, set()).discard(ws)
    return ws


def make_app() -> web.Application:
    app = web.Application()
    app[ROOMS] = {}
    app.router.add_get("/socket.io/", socket)
    return app


def main() -> None:
    web.run_app(make_app(), host="127.0.0.1", port=int(sys.argv[1]), print=None)


if __name__ == "__main__":
    main()
