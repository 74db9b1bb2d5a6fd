"""Load-generator clients: minimal Socket.IO-over-websocket clients on aiohttp.

They speak the wire protocol directly (Engine.IO 4 / Socket.IO 5 text packets) so that a
generator process can hold hundreds of viewers cheaply. Drainers only count what they receive;
probes also time every benchmark chat line from its scheduled send time. Each worker runs in
its own process and reports one JSON-able dict.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

# A benchmark chat line: "b<step>|<chatter>|<n>|<scheduled send time, ms>"; step "w" is not
# counted (warm-up, settling between steps), step 0, 1, ... are the measured windows.
BENCH_TEXT = re.compile(r'"text":"b(w|\d+)\|\d+\|\d+\|(\d+)"')
LINE_MARK = '"text":"b'
FRAME_PREFIX = '42["frame",'
STOP_POLL_S = 0.25


def now_ms() -> float:
    return time.time() * 1000


@dataclass
class Window:
    """[start, end) in ms."""

    start: float
    end: float


@dataclass
class Counts:
    frames: dict[str, int] = field(default_factory=dict)  # step -> frames received in it
    lines: dict[str, int] = field(default_factory=dict)  # step -> lines
    latencies: dict[str, list[float]] = field(default_factory=dict)  # step -> ms (probes)
    by_origin: dict[str, list[float]] = field(default_factory=dict)


def _step_at(data: str, index: int) -> str:
    start = index + len(LINE_MARK)
    return data[start : data.index("|", start)]


def count_lines(data: str, received: float, counts: Counts, probe: bool, origin: str) -> None:
    """Count a frame's benchmark lines by step. Drainers take a fast path: a frame holds lines
    sent within a tick, so when its first and last line share a step, all of them do."""
    first = data.find(LINE_MARK)
    if first < 0:
        return
    if not probe:
        step = _step_at(data, first)
        if step == _step_at(data, data.rfind(LINE_MARK)):
            if step != "w":
                counts.lines[step] = counts.lines.get(step, 0) + data.count(LINE_MARK)
            return
    for match in BENCH_TEXT.finditer(data, first):
        step = match.group(1)
        if step == "w":
            continue
        counts.lines[step] = counts.lines.get(step, 0) + 1
        if probe:
            latency = received - float(match.group(2))
            counts.latencies.setdefault(step, []).append(latency)
            counts.by_origin.setdefault(origin, []).append(latency)


class Conn:
    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self._ack = 0
        self._waiting: dict[int, asyncio.Future[Any]] = {}
        self._pongs: set[asyncio.Task[None]] = set()

    async def emit(self, event: str, data: Any, want_ack: bool = True) -> Any:
        payload = json.dumps([event, data], separators=(",", ":"))
        if not want_ack:
            await self.ws.send_str("42" + payload)
            return None
        self._ack += 1
        ack_id = self._ack
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting[ack_id] = fut
        await self.ws.send_str(f"42{ack_id}{payload}")
        return await fut

    def handle_control(self, data: str) -> bool:
        """Ping and acks; True when the packet was one of those."""
        if data == "2":
            task = asyncio.ensure_future(self.ws.send_str("3"))
            self._pongs.add(task)
            task.add_done_callback(self._pongs.discard)
            return True
        if data.startswith("43"):
            end = 2
            while end < len(data) and data[end].isdigit():
                end += 1
            fut = self._waiting.pop(int(data[2:end]), None)
            if fut is not None and not fut.done():
                fut.set_result(json.loads(data[end:])[0])
            return True
        return False


async def connect(session: aiohttp.ClientSession, url: str, token: str) -> Conn:
    ws_url = url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
    ws = await session.ws_connect(ws_url, max_msg_size=0, autoping=False)
    opening = await ws.receive_str()
    assert opening.startswith("0"), opening
    await ws.send_str("40" + json.dumps({"token": token}))
    answer = await ws.receive_str()
    if not answer.startswith("40"):
        raise RuntimeError(f"connect refused: {answer}")
    return Conn(ws)


async def join(conn: Conn, show_id: int) -> None:
    reader = asyncio.ensure_future(read_acks(conn))
    answer = await conn.emit("join", {"show_id": show_id})
    reader.cancel()
    if not answer.get("ok"):
        raise RuntimeError(f"join refused: {answer}")


async def read_acks(conn: Conn) -> None:
    async for msg in conn.ws:
        if msg.type == aiohttp.WSMsgType.TEXT:
            conn.handle_control(msg.data)


async def _drain(
    conn: Conn, counts: Counts, windows: dict[str, Window], probe: bool, origin: str
) -> None:
    """Count frames by the measured window they arrive in, lines by the step they were sent in."""
    async for msg in conn.ws:
        if msg.type != aiohttp.WSMsgType.TEXT:
            break
        data = msg.data
        if data.startswith(FRAME_PREFIX):
            received = now_ms()
            for step, window in windows.items():
                if window.start <= received < window.end:
                    counts.frames[step] = counts.frames.get(step, 0) + 1
                    break
            count_lines(data, received, counts, probe, origin)
        else:
            conn.handle_control(data)


def _flagged(path: str) -> bool:
    return Path(path).exists()  # a stat on a local file: not worth a thread


def _flag(path: str, text: str) -> None:
    Path(path).write_text(text)


async def _until(stop_at: float, stop_file: str | None) -> None:
    """Sleep until stop_at (ms), or until a little after the talkers drop stop_file (they
    stopped early: the system under test fell behind)."""
    while now_ms() < stop_at:
        if stop_file and _flagged(stop_file):
            await asyncio.sleep(2.5)
            return
        await asyncio.sleep(min(STOP_POLL_S, max(0.0, (stop_at - now_ms()) / 1000)))


async def viewers(spec: dict[str, Any]) -> dict[str, Any]:
    """Connect spec["tokens"] viewers to spec["urls"] (round robin), each joins its show
    (spec["joins"], one per token), drain until the end."""
    windows = {step: Window(start, end) for step, start, end in spec["frame_windows"]}
    counts = Counts()
    per_show: dict[str, int] = {}
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        conns: list[tuple[Conn, str]] = []
        for i, (token, show_id) in enumerate(zip(spec["tokens"], spec["joins"], strict=True)):
            url = spec["urls"][i % len(spec["urls"])]
            conn = await connect(session, url, token)
            await join(conn, show_id)
            conns.append((conn, spec["origins"][i % len(spec["urls"])]))
            per_show[str(show_id)] = per_show.get(str(show_id), 0) + 1
        drains = [
            asyncio.ensure_future(_drain(c, counts, windows, spec["probe"], origin))
            for c, origin in conns
        ]
        await _until(spec["stop_at"], spec.get("stop_file"))
        for task in drains:
            task.cancel()
        for conn, _ in conns:
            await conn.ws.close()
    return {
        "viewers": len(conns),
        "per_show": per_show,
        "frames": counts.frames,
        "lines": counts.lines,
        "latencies": counts.latencies,
        "by_origin": counts.by_origin,
    }


async def talkers(spec: dict[str, Any]) -> dict[str, Any]:
    """For each show in spec["shows"] ({"show_id", "chatter_tokens"}), its host and chatters.
    Chat lines leave on a schedule of segments ({"step", "rate", "start", "end"}: a total rate
    in lines/s between two times, ms), taking the shows in turn; each show's host pins every
    pin_every seconds (the shows' pins staggered evenly). With spec["stop_ack_ms"], sending
    stops after a measured step whose acks' p99 went above it (the system fell behind), and
    spec["stop_file"] tells the viewers so."""
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        hosts: list[Conn] = []
        chatters: list[list[Conn]] = []
        for show in spec["shows"]:
            host = await connect(session, spec["host_url"], spec["host_token"])
            await join(host, show["show_id"])
            hosts.append(host)
            mine = []
            for token in show["chatter_tokens"]:
                conn = await connect(session, spec["host_url"], token)
                await join(conn, show["show_id"])
                mine.append(conn)
            chatters.append(mine)
        everyone = [*hosts, *(c for mine in chatters for c in mine)]
        readers = [asyncio.ensure_future(read_acks(c)) for c in everyone]
        shows = len(hosts)
        # step -> lines accepted, per show
        accepted: list[dict[str, int]] = [{} for _ in range(shows)]
        ack_ms: dict[str, list[float]] = {}
        refused = 0
        segments = spec["segments"]
        start = segments[0]["start"]
        pin_interval = spec["pin_every"] * 1000 / shows if spec["pin_every"] else None
        n = 0
        pins = 0
        pending: set[asyncio.Future[Any]] = set()
        stopped_after: str | None = None

        async def send(show: int, i: int, step: str, sched: float) -> None:
            nonlocal refused
            mine = chatters[show]
            chatter = (i // shows) % len(mine)
            text = f"b{step}|{chatter}|{i}|{int(sched)}"
            # A line counts as accepted unless refused: one whose ack is late or never comes
            # must still reach every viewer.
            accepted[show][step] = accepted[show].get(step, 0) + 1
            answer = await mine[chatter].emit("chat", {"text": text})
            ack_ms.setdefault(step, []).append(now_ms() - sched)
            if not answer.get("ok"):
                accepted[show][step] -= 1
                refused += 1

        def spawn(coro: Any) -> None:
            fut = asyncio.ensure_future(coro)
            pending.add(fut)
            fut.add_done_callback(pending.discard)

        limit: float = spec.get("stop_ack_ms") or 0.0
        unchecked: list[tuple[str, float, int]] = []  # measured steps: (step, end, lines sent)

        def fell_behind() -> str | None:
            """The first measured step, ended at least `limit` ms ago, whose acks came late
            (over 1% above the limit, or still missing)."""
            while unchecked and unchecked[0][1] + limit <= now_ms():
                step, _, sent = unchecked.pop(0)
                times = ack_ms.get(step, [])
                if len(times) < 0.99 * sent or sum(x > limit for x in times) > 0.01 * sent:
                    return step
            return None

        for segment in segments:
            if limit and (stopped_after := fell_behind()) is not None:
                break
            step, interval = str(segment["step"]), 1000 / segment["rate"]
            k = 0
            while (sched := segment["start"] + k * interval) < segment["end"]:
                delay = (sched - now_ms()) / 1000
                if delay > 0:
                    await asyncio.sleep(delay)
                while pin_interval is not None and start + pins * pin_interval <= sched:
                    products = spec["products"]
                    product = products[(pins // shows) % len(products)]
                    spawn(hosts[pins % shows].emit("pin", {"product_id": product}))
                    pins += 1
                spawn(send(n % shows, n, step, sched))
                n += 1
                k += 1
            if step != "w":
                unchecked.append((step, segment["end"], k))
        if stopped_after is not None and spec.get("stop_file"):
            _flag(spec["stop_file"], stopped_after)
        if pending:
            await asyncio.wait(pending, timeout=10)
        for task in readers:
            task.cancel()
    return {
        "accepted": sum(a for per_step in accepted for s, a in per_step.items() if s != "w"),
        "accepted_per_show": {
            str(show["show_id"]): per_step
            for show, per_step in zip(spec["shows"], accepted, strict=True)
        },
        "refused": refused,
        "sent": n,
        "pins": pins,
        "stopped_after": stopped_after,
    }


# The test payment provider approves this card (docs/protocol.md).
BUYER = {
    "shipping_address": {
        "name": "Bench Buyer",
        "line1": "Hauptstrasse 1",
        "city": "Berlin",
        "postal_code": "10115",
        "country": "DE",
    },
    "email": "bench.buyer@example.com",
    "card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2099, "cvc": "123"},
}


async def _buyer(session: aiohttp.ClientSession, spec: dict[str, Any], token: str) -> Any:
    """Connect, join, press Buy (`cart.add`); the connection and the cart it got."""
    conn = await connect(session, spec["url"], token)
    await join(conn, spec["show_id"])
    reader = asyncio.ensure_future(read_acks(conn))
    answer = await conn.emit("cart.add", {"variant_id": spec["variant_id"], "quantity": 1})
    if not answer.get("ok"):
        raise RuntimeError(f"cart.add refused: {answer}")
    return conn, reader, answer["cart"]


async def buyers(spec: dict[str, Any]) -> dict[str, Any]:
    """Buyers as the player drives them: each connects, joins and presses Buy (`cart.add`);
    at spec["release_at"] (ms) they all press Pay (`checkout`) at once. Outcomes by code, and
    each checkout's time from the release to its ack."""
    connector = aiohttp.TCPConnector(limit=0)
    outcomes: dict[str, int] = {}
    latencies: list[float] = []
    samples: list[str] = []
    async with aiohttp.ClientSession(connector=connector) as session:
        gate = asyncio.Semaphore(50)

        async def ready(token: str) -> Any:
            async with gate:
                return await _buyer(session, spec, token)

        ready_buyers = await asyncio.gather(*(ready(t) for t in spec["tokens"]))
        await asyncio.sleep(max(0.0, (spec["release_at"] - now_ms()) / 1000))
        released = now_ms()

        async def pay(i: int, conn: Conn, cart: dict[str, Any]) -> None:
            body = {
                "idempotency_key": f"bench-{spec['worker']}-{i}",
                "cart_version": cart["version"],
                "quote": cart["quote"],
                **BUYER,
            }
            try:
                answer = await asyncio.wait_for(conn.emit("checkout", body), 60)
            except (TimeoutError, aiohttp.ClientError) as exc:
                outcome = f"transport:{type(exc).__name__}"
            else:
                if answer.get("ok"):
                    outcome = str(answer["order"]["status"])
                else:
                    outcome = str(answer["error"]["code"])
                    if outcome != "sold_out" and len(samples) < 5:
                        samples.append(json.dumps(answer)[:300])
            latencies.append(now_ms() - released)
            outcomes[outcome] = outcomes.get(outcome, 0) + 1

        await asyncio.gather(*(pay(i, c, cart) for i, (c, _, cart) in enumerate(ready_buyers)))
        for conn, reader, _ in ready_buyers:
            reader.cancel()
            await conn.ws.close()
    return {"outcomes": outcomes, "latencies": latencies, "released": released, "samples": samples}


async def repeat_buyers(spec: dict[str, Any]) -> dict[str, Any]:
    """Buyers who buy one unit again and again, as fast as their answers come: `cart.add`, then
    `checkout`, on one socket each, from spec["begin"] until spec["end"] (ms). A purchase counts
    when it is paid and was started inside [spec["start"], spec["end"]); reported as (start ms,
    latency ms from pressing Buy to the paid answer)."""
    window = Window(spec["start"], spec["end"])
    paid: list[tuple[float, float]] = []
    outcomes: dict[str, int] = {}
    samples: list[str] = []
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:

        async def buyer(b: int, token: str) -> None:
            conn = await connect(session, spec["url"], token)
            await join(conn, spec["show_id"])
            reader = asyncio.ensure_future(read_acks(conn))
            await asyncio.sleep(max(0.0, (spec["begin"] - now_ms()) / 1000))
            n = 0
            while (started := now_ms()) < window.end:
                n += 1
                line = {"variant_id": spec["variant_id"], "quantity": 1}
                answer = await conn.emit("cart.add", line)
                if answer.get("ok"):
                    cart = answer["cart"]
                    body = {
                        "idempotency_key": f"loop-{spec['worker']}-{b}-{n}",
                        "cart_version": cart["version"],
                        "quote": cart["quote"],
                        **BUYER,
                    }
                    answer = await conn.emit("checkout", body)
                outcome = (
                    str(answer["order"]["status"]) if answer.get("ok") else answer["error"]["code"]
                )
                if outcome != "paid" and len(samples) < 5:
                    samples.append(json.dumps(answer)[:300])
                if window.start <= started:
                    outcomes[outcome] = outcomes.get(outcome, 0) + 1
                    if outcome == "paid":
                        paid.append((started, now_ms() - started))
            reader.cancel()
            await conn.ws.close()

        await asyncio.gather(*(buyer(b, t) for b, t in enumerate(spec["tokens"])))
    return {"paid": paid, "outcomes": outcomes, "samples": samples}


async def joiners(spec: dict[str, Any]) -> dict[str, Any]:
    """Each viewer connects and joins at its own time (spec["at"], ms); the time from `join` to
    its answer (the snapshot) and from opening the WebSocket to the Socket.IO connect. Every
    connection stays open, reading, until spec["hold_until"] (the app's memory is read then)."""
    snapshot_ms: list[float] = []
    connect_ms: list[float] = []
    failures: list[str] = []
    held: list[tuple[Conn, asyncio.Future[None]]] = []
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:

        async def one(token: str, at: float) -> None:
            await asyncio.sleep(max(0.0, (at - now_ms()) / 1000))
            start = now_ms()
            try:
                conn = await connect(session, spec["url"], token)
                connected = now_ms()
                reader = asyncio.ensure_future(read_acks(conn))
                answer = await asyncio.wait_for(conn.emit("join", {"show_id": spec["show_id"]}), 30)
            except (OSError, RuntimeError, TimeoutError, aiohttp.ClientError) as exc:
                failures.append(f"{type(exc).__name__}: {exc}"[:200])
                return
            if not answer.get("ok"):
                failures.append(json.dumps(answer)[:200])
            snapshot_ms.append(now_ms() - connected)
            connect_ms.append(connected - start)
            held.append((conn, reader))

        await asyncio.gather(
            *(one(t, at) for t, at in zip(spec["tokens"], spec["at"], strict=True))
        )
        await asyncio.sleep(max(0.0, (spec["hold_until"] - now_ms()) / 1000))
        for conn, reader in held:
            reader.cancel()
            await conn.ws.close()
    return {"snapshot_ms": snapshot_ms, "connect_ms": connect_ms, "failures": failures}


WORKERS = {
    "viewers": viewers,
    "talkers": talkers,
    "buyers": buyers,
    "repeat_buyers": repeat_buyers,
    "joiners": joiners,
}


def run_worker(kind: str, spec: dict[str, Any], conn: Any) -> None:
    """Process entry point: run one worker and send its result through the pipe."""
    fn = WORKERS[kind]
    try:
        conn.send({"ok": True, "result": asyncio.run(fn(spec))})
    except Exception as exc:  # noqa: BLE001 - reported to the parent
        conn.send({"ok": False, "error": f"{type(exc).__name__}: {exc}"})
    finally:
        conn.close()
