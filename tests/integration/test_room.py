"""The live room through real Socket.IO clients, a real app, real Redis and a real database."""

from __future__ import annotations

import asyncio
import gc
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import engineio
import pytest
import socketio
from aiohttp.test_utils import TestClient

from live.shows.rules import Status
from server.keys import realtime_key
from tests.conftest import ClientFactory
from tests.helpers import add_member, bearer, sign_up
from tests.room import Room, Viewer, until


@pytest.fixture
async def room(client: TestClient[Any, Any]) -> AsyncIterator[Room]:
    r = await Room(client).setup()
    yield r
    await r.close()


def deal(
    price: int = 1000, units: int = 5, per_buyer: int = 1, seconds: int = 60
) -> dict[str, int]:
    return {
        "price": price,
        "units": units,
        "per_buyer": per_buyer,
        "ends_at_ms": int(time.time() * 1000) + seconds * 1000,
    }


# Connecting.


async def test_connect_needs_a_valid_token(room: Room) -> None:
    for auth in (None, {}, {"token": 5}, {"token": "x.y.z"}, {"token": room.owner + "x"}):
        sio = socketio.AsyncClient(reconnection=False)
        refusals: list[Any] = []
        sio.on("connect_error", refusals.append)
        with pytest.raises(socketio.exceptions.ConnectionError):
            await sio.connect(room.url, transports=["websocket"], auth=auth, wait_timeout=5)
        await sio.disconnect()
        assert refusals and refusals[0]["data"]["code"] == "unauthenticated", refusals


async def test_connect_refuses_a_foreign_origin(room: Room) -> None:
    viewer = Viewer(room.url, await room.guest_token())
    with pytest.raises(socketio.exceptions.ConnectionError):
        await viewer.connect(headers={"Origin": "https://evil.example"})
    await viewer.close()


async def test_connections_per_ip_are_limited(make_client: ClientFactory) -> None:
    room = await Room(await make_client(sockets_per_ip=2)).setup(products=1)
    try:
        await room.viewer()
        await room.viewer()
        with pytest.raises(socketio.exceptions.ConnectionError):
            await room.viewer()
        await room.viewers[0].close()
        await asyncio.sleep(0.1)
        await room.viewer()  # a closed connection frees its place
    finally:
        await room.close()


# Joining.


async def test_join_answers_a_snapshot(room: Room) -> None:
    viewer = await room.viewer()
    before = int(time.time() * 1000)
    answer = await viewer.ok("join", {"show_id": room.show_id})
    assert answer["show_id"] == room.show_id
    assert answer["seq"] == 0 and answer["stale"] is False
    assert before - 1000 <= answer["server_time_ms"] <= int(time.time() * 1000) + 1000
    snap = answer["snapshot"]
    assert snap["status"] == "scheduled"
    assert snap["playback_url"] is None
    assert snap["pins"] == [] and snap["chat"] == [] and snap["questions"] == []
    assert snap["you"]["name"] == "Guest" and snap["you"]["subject"].startswith("g:")
    assert "role" not in snap["you"]


async def test_an_idle_viewer_does_not_keep_its_join_snapshot(room: Room) -> None:
    # Engine.IO's writer task holds the last packet it wrote while it waits for the next one;
    # for a viewer who only watches (room frames bypass that writer), that is the snapshot.
    viewers = [await room.joined(f"Idle {i}") for i in range(3)]

    def kept() -> int:
        gc.collect()
        return sum(
            1
            for obj in gc.get_objects()
            if isinstance(obj, engineio.packet.Packet)
            and '"snapshot"' in str(obj.encode_cache or obj.data or "")
            and obj.encode_cache is not None
        )

    await until(lambda: kept() == 0, what="no written snapshot kept")
    for viewer in viewers:  # still served afterwards
        assert (await viewer.ok("cart.view"))["cart"]["lines"] == []


async def test_the_playback_url_is_in_the_snapshot_and_its_change_is_broadcast(
    room: Room,
) -> None:
    path = f"/api/shops/{room.shop_id}/shows/{room.show_id}"
    first = "https://cdn.example/live/1.m3u8"
    resp = await room.client.patch(path, json={"playback_url": first}, headers=bearer(room.owner))
    assert resp.status == 200
    viewer = await room.viewer()
    answer = await viewer.ok("join", {"show_id": room.show_id})
    assert answer["snapshot"]["playback_url"] == first
    second = "https://cdn.example/live/2.m3u8"
    resp = await room.client.patch(path, json={"playback_url": second}, headers=bearer(room.owner))
    assert resp.status == 200
    (event,) = await viewer.wait_event("playback")
    assert event == {"type": "playback", "playback_url": second}
    late = await room.viewer("Late")
    assert (await late.ok("join", {"show_id": room.show_id}))["snapshot"]["playback_url"] == second


async def test_a_room_opened_twice_at_once_still_announces_the_start(room: Room) -> None:
    # A start that found the room missing opens it from the record (already live) just after a
    # viewer's join opened it as scheduled: the viewer must still get the status frame.
    viewer = await room.joined()
    store = room.client.app[realtime_key].store
    await store.init(room.show_id, room.shop_id, "live", "EUR", int(time.time() * 1000), None)
    path = f"/api/shops/{room.shop_id}/shows/{room.show_id}/start"
    assert (await room.client.post(path, headers=bearer(room.owner))).status == 200
    (event,) = await viewer.wait_event("status")
    assert event["status"] == "live"


async def test_join_refusals(room: Room) -> None:
    viewer = await room.viewer()
    await viewer.refused("chat", {"text": "hi"}, "not_joined")
    await viewer.refused("join", {"show_id": 999999}, "not_found")
    await viewer.refused("join", {"show_id": "1"}, "validation_error")
    await viewer.refused("join", {"show_id": room.show_id, "extra": 1}, "validation_error")
    await viewer.refused("join", [room.show_id], "validation_error")
    await viewer.ok("join", {"show_id": room.show_id})
    await viewer.refused("leave", {"show_id": room.show_id}, "validation_error")
    await viewer.ok("leave", {})
    await viewer.refused("leave", None, "not_joined")


async def test_unknown_events_and_bad_payloads_get_an_error_ack(room: Room) -> None:
    viewer = await room.joined()
    await viewer.refused("nonsense", {"a": 1}, "unknown_event")
    for payload in ("hi", 5, None, [], {"text": 5}, {"text": "a", "more": 1}, {"text": " "}):
        await viewer.refused("chat", payload, "validation_error")
    await viewer.refused("chat", {"text": "x" * 501}, "validation_error")
    await viewer.refused("chat", {"text": "bell\x07"}, "validation_error")
    answer = await viewer.sio.call("chat", ({"text": "a"}, {"text": "b"}), timeout=5)
    assert answer["ok"] is False and answer["error"]["code"] == "validation_error"
    await asyncio.sleep(0.3)
    assert viewer.events("chat") == []


# Pins and flash deals.


async def test_host_pins_and_viewers_see_it_at_once(room: Room) -> None:
    host = await room.host()
    viewer = await room.joined()
    product = room.products[0]
    answer = await host.ok("pin", {"product_id": product["id"], "deal": deal(units=7)})
    pins = await viewer.wait_event("pin")
    pin = pins[0]["pin"]
    assert pin["product"]["id"] == product["id"]
    assert pin["product"]["variants"][0]["in_stock"] is True
    assert "stock" not in pin["product"]["variants"][0]
    assert pin["deal"]["units_left"] == 7 and pin["deal"]["price"] == 1000
    assert viewer.frames[-1]["seq"] == answer["seq"]
    late = await room.viewer()
    snap = (await late.ok("join", {"show_id": room.show_id}))["snapshot"]
    assert [p["product"]["id"] for p in snap["pins"]] == [product["id"]]
    assert snap["pins"][0]["deal"]["units_left"] == 7
    await host.ok("unpin", {"product_id": product["id"]})
    await viewer.wait_event("unpin")
    await host.refused("unpin", {"product_id": product["id"]}, "not_found")
    # Frames went straight to the viewers' WebSockets (live.room.direct), read by the official
    # python-socketio client like any other packet.
    assert room.client.app[realtime_key].manager.packets_written >= 4


async def test_pin_rules(room: Room, client: TestClient[Any, Any]) -> None:
    host = await room.host()
    ids = [p["id"] for p in room.products]
    for pid in ids[:3]:
        await host.ok("pin", {"product_id": pid})
    await host.refused("pin", {"product_id": ids[3]}, "conflict")  # at most 3
    await host.ok("pin", {"product_id": ids[0]})  # re-pinning replaces
    await host.ok("unpin", {"product_id": ids[0]})
    # Only the lineup, and sane deal terms.
    other = await client.post(
        f"/api/shops/{room.shop_id}/products",
        json={
            "title": "Off-lineup",
            "currency": "EUR",
            "price": 100,
            "variants": [{"sku": "OFF-1", "stock": 1}],
        },
        headers=bearer(room.owner),
    )
    off = (await other.json())["id"]
    await host.refused("pin", {"product_id": off}, "validation_error")
    price = room.products[3]["price"]
    bad_deals = [
        deal(price=price),  # not a discount
        deal(units=2, per_buyer=3),
        deal(seconds=-5),
        deal(seconds=2 * 86400),
        {**deal(), "units": 0},
        {**deal(), "price": "10"},
        {**deal(), "extra": True},
    ]
    for terms in bad_deals:
        answer = await host.call("pin", {"product_id": ids[3], "deal": terms})
        assert answer["ok"] is False and answer["error"]["code"] == "validation_error", terms


async def test_viewers_cannot_act_as_staff(room: Room) -> None:
    viewer = await room.joined()
    other = await room.joined()
    pid = room.products[0]["id"]
    for event, payload in [
        ("pin", {"product_id": pid}),
        ("unpin", {"product_id": pid}),
        ("question.close", {"question_id": 1, "status": "answered"}),
        ("chat.delete", {"message_id": 1}),
        ("user.timeout", {"subject": "g:" + "ab" * 16, "minutes": 5}),
        ("user.ban", {"subject": "g:" + "ab" * 16}),
        ("announce", {"text": "hello"}),
        ("slow_mode", {"seconds": 5}),
        ("blocked_words", {"words": ["x"]}),
        ("show.start", None),
        ("show.end", None),
    ]:
        await viewer.refused(event, payload, "forbidden")
    await asyncio.sleep(0.3)
    assert other.frames == []


async def test_a_demoted_member_loses_staff_rights_at_once(room: Room) -> None:
    mod_token, mod = await add_member(room.client, room.owner, room.shop_id, "moderator", "Mod")
    moderator = await room.joined("Mod", mod_token)
    await moderator.ok("announce", {"text": "hi"})
    resp = await room.client.delete(
        f"/api/shops/{room.shop_id}/members/{mod['account_id']}", headers=bearer(room.owner)
    )
    assert resp.status == 204
    await moderator.refused("announce", {"text": "still here?"}, "forbidden")
    await moderator.refused("pin", {"product_id": room.products[0]["id"]}, "forbidden")


# Chat.


async def test_chat_reaches_everyone_coalesced(room: Room) -> None:
    ana = await room.joined("Ana")
    bob = await room.joined("Bob")
    for i in range(4):
        await ana.ok("chat", {"text": f"  hello {i}  "})
    messages = await bob.wait_event("chat", 4)
    assert [m["message"]["text"] for m in messages] == [f"hello {i}" for i in range(4)]
    assert messages[0]["message"]["user"]["name"] == "Ana"
    # Sent within one tick, they left in far fewer frames than messages.
    assert len({f["seq"] for f in bob.frames}) < 4
    ids = [m["message"]["id"] for m in messages]
    assert ids == sorted(ids)
    late = await room.viewer()
    snap = (await late.ok("join", {"show_id": room.show_id}))["snapshot"]
    assert [m["text"] for m in snap["chat"]] == [f"hello {i}" for i in range(4)]
    # Text stays text: markup is not interpreted, it arrives as sent.
    await ana.ok("chat", {"text": "<b>bold</b> <script>x</script>"})
    messages = await bob.wait_event("chat", 5)
    assert messages[-1]["message"]["text"] == "<b>bold</b> <script>x</script>"


async def test_chat_rate_limit_and_staff_exemption(make_client: ClientFactory) -> None:
    room = await Room(await make_client(chat_rate_messages=3)).setup(products=1)
    try:
        viewer = await room.joined()
        host = await room.host()
        for i in range(3):
            await viewer.ok("chat", {"text": f"m{i}"})
        error = await viewer.refused("chat", {"text": "m3"}, "rate_limited")
        assert error["retry_after"] >= 1
        for i in range(6):
            await host.ok("chat", {"text": f"h{i}"})
    finally:
        await room.close()


async def test_slow_mode_and_blocked_words(room: Room) -> None:
    host = await room.host()
    viewer = await room.joined()
    await host.ok("slow_mode", {"seconds": 30})
    await viewer.wait_event("slow_mode")
    await viewer.ok("chat", {"text": "first"})
    error = await viewer.refused("chat", {"text": "second"}, "slow_mode")
    assert 1 <= error["retry_after"] <= 30
    await host.ok("chat", {"text": "hosts are exempt"})
    await host.ok("chat", {"text": "twice"})
    await host.ok("slow_mode", {"seconds": 0})
    answer = await host.ok("blocked_words", {"words": ["Scam", "fake"]})
    assert answer["words"] == ["fake", "scam"]
    error = await viewer.refused("chat", {"text": "this is a SCAM!"}, "blocked_word")
    assert "scam" in error["message"]
    await viewer.refused("ask", {"text": "is it fake?"}, "blocked_word")
    await viewer.ok("chat", {"text": "scampi are fine"})
    await host.refused("blocked_words", {"words": ["two words"]}, "validation_error")


# Questions.


async def test_questions_votes_ranking_and_answers(room: Room) -> None:
    host = await room.host()
    pid = room.products[1]["id"]
    await host.ok("pin", {"product_id": pid})
    ana, bob, cy = await room.joined("Ana"), await room.joined("Bob"), await room.joined("Cy")
    q1 = (await ana.ok("ask", {"text": "Does it run small?"}))["id"]
    q2 = (await bob.ok("ask", {"text": "Other colours?"}))["id"]
    q3 = (await cy.ok("ask", {"text": "Shipping time?"}))["id"]
    assert (await ana.ok("vote", {"question_id": q2}))["votes"] == 1
    repeat = await ana.ok("vote", {"question_id": q2})
    assert repeat["votes"] == 1 and repeat["counted"] is False
    await cy.ok("vote", {"question_id": q3})
    await bob.ok("vote", {"question_id": q3})
    await host.refused("vote", {"question_id": 999}, "not_found")
    await until(
        lambda: any(e["id"] == q3 and e["votes"] == 2 for e in ana.events("question.votes"))
    )
    snap = (await (await room.viewer()).ok("join", {"show_id": room.show_id}))["snapshot"]
    assert [(q["id"], q["votes"]) for q in snap["questions"]] == [(q3, 2), (q2, 1), (q1, 0)]
    assert snap["questions"][0]["product_id"] == pid
    await host.ok("question.close", {"question_id": q3, "status": "answered"})
    closed = await ana.wait_event("question.closed")
    assert closed[0] == {"type": "question.closed", "id": q3, "status": "answered"}
    await host.refused("question.close", {"question_id": q3, "status": "dismissed"}, "conflict")
    await ana.refused("vote", {"question_id": q3}, "conflict")
    snap = (await (await room.viewer()).ok("join", {"show_id": room.show_id}))["snapshot"]
    assert [q["id"] for q in snap["questions"]] == [q2, q1]
    resp = await room.client.get(
        f"/api/shops/{room.shop_id}/shows/{room.show_id}/timeline", headers=bearer(room.owner)
    )
    kinds = [e["kind"] for e in (await resp.json())["events"]]
    assert kinds == ["pin", "question.answered"]


# Reactions and presence.


async def test_reactions_are_aggregated(room: Room) -> None:
    ana = await room.joined()
    bob = await room.joined()
    for _ in range(5):
        await ana.ok("react", {"count": 2})
    await until(lambda: any(e["hearts"] == 10 for e in bob.events("reactions")))
    assert len(bob.events("reactions")) < 5
    await ana.refused("react", {"count": 0}, "validation_error")


async def test_viewer_counts_are_broadcast_as_numbers(room: Room) -> None:
    first = await room.joined()
    await room.joined()
    await room.joined()
    await until(lambda: any(e["viewers"] == 3 for e in first.events("stats")), within=6)
    stats = first.events("stats")[-1]
    assert stats["peak"] >= 3 and stats["unique"] >= 3
    await room.viewers[2].close()
    await until(lambda: first.events("stats")[-1]["viewers"] == 2, within=6)
    assert first.events("stats")[-1]["peak"] == 3


# Moderation.


async def test_delete_timeout_ban_and_announcement(room: Room) -> None:
    host = await room.host()
    troll_token = await room.guest_token("Troll")
    troll = await room.joined("Troll", troll_token)
    watcher = await room.joined("Watcher")
    mid = (await troll.ok("chat", {"text": "buy my stuff"}))["id"]
    await watcher.wait_event("chat")
    await host.ok("chat.delete", {"message_id": mid})
    assert (await watcher.wait_event("chat.deleted"))[0]["id"] == mid
    snap = (await (await room.viewer()).ok("join", {"show_id": room.show_id}))["snapshot"]
    assert snap["chat"] == []
    subject = (await troll.ok("join", {"show_id": room.show_id}))["snapshot"]["you"]["subject"]
    await host.ok("user.timeout", {"subject": subject, "minutes": 5})
    error = await troll.refused("chat", {"text": "again"}, "timed_out")
    assert error["retry_after"] > 200
    await troll.refused("react", {"count": 1}, "timed_out")
    question = (await watcher.ok("ask", {"text": "Is it waterproof?"}))["id"]
    await troll.refused("vote", {"question_id": question}, "timed_out")
    await host.ok("announce", {"text": "Free shipping today"})
    announcement = (await watcher.wait_event("announcement"))[0]["announcement"]
    assert announcement["text"] == "Free shipping today"
    await host.ok("user.ban", {"subject": subject})
    await until(lambda: not troll.sio.connected, what="the banned viewer to be disconnected")
    banned = await Viewer(room.url, troll_token).connect()
    room.viewers.append(banned)
    await banned.refused("join", {"show_id": room.show_id}, "banned")
    await watcher.wait_event("user.banned")
    # Staff cannot be moderated.
    owner_subject = (await host.ok("join", {"show_id": room.show_id}))["snapshot"]["you"]["subject"]
    mod_token, _ = await sign_up(room.client, "Mod")
    await host.refused("user.ban", {"subject": owner_subject}, "conflict")
    _ = mod_token


# Order and recovery.


async def test_one_clients_events_are_handled_in_order(room: Room) -> None:
    host = await room.host()
    answers: list[dict[str, Any]] = []
    done = asyncio.Event()

    def ack(answer: dict[str, Any]) -> None:
        answers.append(answer)
        if len(answers) == 20:
            done.set()

    for i in range(20):
        await host.sio.emit("chat", {"text": f"n{i}"}, callback=ack)
    await asyncio.wait_for(done.wait(), 5)
    ids = [a["id"] for a in answers]
    assert ids == sorted(ids) and len(set(ids)) == 20
    await host.wait_event("chat", 20)
    assert [e["message"]["text"] for e in host.events("chat")] == [f"n{i}" for i in range(20)]


async def test_reconnect_with_seq_gets_exactly_what_was_missed(room: Room) -> None:
    host = await room.host()
    token = await room.guest_token("Returning")
    viewer = await room.joined("Returning", token)
    await host.ok("pin", {"product_id": room.products[0]["id"]})
    await viewer.wait_event("pin")
    last, epoch = viewer.frames[-1]["seq"], viewer.frames[-1]["epoch"]
    await viewer.close()
    await host.ok("pin", {"product_id": room.products[1]["id"]})
    await host.ok("chat", {"text": "while you were away"})
    await host.ok("unpin", {"product_id": room.products[0]["id"]})
    # The chat is coalesced (up to a tick), so its frame may come after the unpin's.
    await until(lambda: len(host.events("unpin")) == 1 and len(host.events("chat")) == 1)
    missed = [f for f in host.frames if f["seq"] > last]
    again = await Viewer(room.url, token).connect()
    room.viewers.append(again)
    answer = await again.ok("join", {"show_id": room.show_id, "since": last, "epoch": epoch})
    assert "snapshot" not in answer
    assert answer["replay"] == missed
    assert answer["seq"] == missed[-1]["seq"]
    assert answer["epoch"] == epoch and {f["epoch"] for f in missed} == {epoch}
    # Up to date: nothing to replay.
    since = {"show_id": room.show_id, "since": answer["seq"], "epoch": epoch}
    answer = await again.ok("join", since)
    assert answer["replay"] == []
    # A seq means something only beside its epoch: without it, or with another, a snapshot.
    for other in ({"since": since["since"]}, {**since, "epoch": "1" + epoch}):
        answer = await again.ok("join", {"show_id": room.show_id, **other})
        assert "replay" not in answer and answer["stale"] is True, other
        assert answer["epoch"] == epoch


async def test_a_gap_older_than_the_log_gets_a_stale_snapshot(make_client: ClientFactory) -> None:
    room = await Room(await make_client(room_replay_frames=10)).setup(products=2)
    try:
        host = await room.host()
        for _ in range(150):  # approximate trimming drops whole stream nodes of 100 entries
            await host.ok("pin", {"product_id": room.products[0]["id"]})
        viewer = await room.viewer()
        answer = await viewer.ok("join", {"show_id": room.show_id, "since": 1})
        answer = await viewer.ok(
            "join", {"show_id": room.show_id, "since": 1, "epoch": answer["epoch"]}
        )
        assert answer["stale"] is True
        assert [p["product"]["id"] for p in answer["snapshot"]["pins"]] == [room.products[0]["id"]]
        # A seq from the future (the server lost its log) is treated the same way.
        answer = await viewer.ok(
            "join", {"show_id": room.show_id, "since": 10**9, "epoch": answer["epoch"]}
        )
        assert answer["stale"] is True
    finally:
        await room.close()


async def test_joining_during_traffic_sees_every_seq_once(room: Room) -> None:
    host = await room.host()
    stop = asyncio.Event()

    async def traffic() -> None:
        i = 0
        while not stop.is_set():
            await host.ok("chat", {"text": f"t{i}"})
            if i % 5 == 0:
                await host.ok("pin", {"product_id": room.products[i % 3]["id"]})
            i += 1

    task = asyncio.create_task(traffic())
    joined: list[tuple[Viewer, int]] = []
    try:
        for _ in range(8):
            viewer = await room.viewer()
            answer = await viewer.ok("join", {"show_id": room.show_id})
            joined.append((viewer, answer["seq"]))
            await asyncio.sleep(0.07)
    finally:
        stop.set()
        await task
    final = (await host.ok("chat", {"text": "end"}))["id"]
    for viewer, start in joined:
        await until(
            lambda v=viewer: any(e["message"]["id"] == final for e in v.events("chat")),
            what="the last message",
        )
        seqs = viewer.seqs()
        assert seqs == list(range(start + 1, start + 1 + len(seqs))), (start, seqs)


# Lifecycle.


async def test_go_live_and_end(room: Room) -> None:
    host = await room.host()
    viewer = await room.joined()
    await host.ok("chat", {"text": "warming up"})
    await host.ok("show.start")
    live = (await viewer.wait_event("status"))[0]
    assert live["status"] == "live" and live["started_at_ms"] > 0
    await host.refused("show.start", None, "invalid_transition")
    await viewer.ok("chat", {"text": "great show"})
    await viewer.wait_event("chat", 2)
    resp = await room.client.get(
        f"/api/shops/{room.shop_id}/shows/{room.show_id}/chat.csv", headers=bearer(room.owner)
    )
    assert resp.status == 409
    await host.ok("show.end")
    ended = (await viewer.wait_event("status", 2))[-1]
    assert ended["status"] == "ended" and "final" in ended
    await viewer.refused("chat", {"text": "anyone?"}, "show_closed")
    await viewer.refused("react", {"count": 1}, "show_closed")
    await host.refused("unpin", {"product_id": room.products[0]["id"]}, "show_closed")
    # The room is closed: a late staff action broadcasts nothing more to former viewers.
    count = len(viewer.frames)
    await host.refused("pin", {"product_id": room.products[0]["id"]}, "show_closed")
    await asyncio.sleep(0.3)
    assert len(viewer.frames) == count
    snap = (await (await room.viewer()).ok("join", {"show_id": room.show_id}))["snapshot"]
    assert snap["status"] == "ended"
    resp = await room.client.get(
        f"/api/shops/{room.shop_id}/shows/{room.show_id}/chat.csv", headers=bearer(room.owner)
    )
    assert resp.status == 200
    text = await resp.text()
    assert text.splitlines()[0].startswith("sent_at,kind,message_id")
    assert "warming up" in text and "great show" in text
    resp = await room.client.get(f"/api/shops/{room.shop_id}/shows/{room.show_id}/chat.csv")
    assert resp.status == 401


async def test_rest_transitions_reach_the_room(room: Room) -> None:
    viewer = await room.joined()
    resp = await room.client.post(
        f"/api/shops/{room.shop_id}/shows/{room.show_id}/start", headers=bearer(room.owner)
    )
    assert resp.status == 200
    assert (await viewer.wait_event("status"))[0]["status"] == "live"


# Limits.


async def test_an_oversized_frame_disconnects_only_its_sender(make_client: ClientFactory) -> None:
    room = await Room(await make_client(socket_max_frame_bytes=4096)).setup(products=1)
    try:
        big = await room.joined()
        other = await room.joined()
        with pytest.raises(socketio.exceptions.SocketIOError):  # gone mid-call
            await big.sio.call("chat", {"text": "x" * 10000}, timeout=3)
        await until(lambda: not big.sio.connected, what="the sender to be dropped")
        await other.ok("chat", {"text": "still here"})
        await other.wait_event("chat")
    finally:
        await room.close()


async def test_a_slow_consumer_is_dropped_not_buffered(make_client: ClientFactory) -> None:
    client = await make_client(socket_queue_frames=20)
    room = await Room(client).setup(products=0)
    try:
        heavy = await room.heavy_lineup()  # every pin frame carries about 40 KB
        host = await room.host()
        # A viewer that joins and then never reads again.
        ws = await client.session.ws_connect(
            room.url.replace("http", "ws") + "/socket.io/?EIO=4&transport=websocket"
        )
        await ws.receive_str()
        await ws.send_str("40" + json.dumps({"token": await room.guest_token()}))
        assert (await ws.receive_str()).startswith("40")
        await ws.send_str(f'421["join",{{"show_id":{room.show_id}}}]')
        manager = client.app[realtime_key].manager
        for _ in range(600):
            await host.ok("pin", {"product_id": heavy})
            if manager.slow_dropped:
                break
        assert manager.slow_dropped == 1
        await until(lambda: client.app[realtime_key].socket.connections == 1)
        # The host, who keeps reading, is still served.
        await host.ok("chat", {"text": "still live"})
        await host.wait_event("chat")
        await ws.close()
    finally:
        await room.close()


async def test_a_deleted_shows_room_is_gone(room: Room) -> None:
    viewer = await room.joined()
    await viewer.ok("chat", {"text": "before the delete"})
    await viewer.wait_event("chat")
    resp = await room.client.delete(
        f"/api/shops/{room.shop_id}/shows/{room.show_id}", headers=bearer(room.owner)
    )
    assert resp.status == 204
    late = await room.viewer()
    await late.refused("join", {"show_id": room.show_id}, "not_found")


async def test_frames_missed_while_the_pubsub_link_was_down_are_filled_in(
    client: TestClient[Any, Any],
) -> None:
    room = await Room(client).setup(products=1)
    try:
        host = await room.host()
        viewer = await room.joined()
        await host.ok("announce", {"text": "one"})
        await viewer.wait_event("announcement")
        redis = client.app[realtime_key].store._redis
        manager = client.app[realtime_key].manager
        # Cut this node's subscriber; it resubscribes after a second (0.1 s by default).
        manager.resubscribe_first_s = 1.0
        await redis.execute_command("CLIENT", "KILL", "TYPE", "pubsub")
        for text in ("two", "three"):
            await host.ok("announce", {"text": text})
        # No later frame shows the gap: the node catches up by itself when it is back.
        await viewer.wait_event("announcement", 3)
        assert manager.catch_ups == 1 and manager.gaps_filled >= 1
        await host.ok("announce", {"text": "four"})
        await viewer.wait_event("announcement", 4)
        assert [e["announcement"]["text"] for e in viewer.events("announcement")] == [
            "one",
            "two",
            "three",
            "four",
        ]
        seqs = viewer.seqs()
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    finally:
        await room.close()


async def test_a_replay_is_bounded(make_client: ClientFactory) -> None:
    client = await make_client()
    room = await Room(client).setup(products=0)
    try:
        heavy = await room.heavy_lineup()
        host = await room.host()
        for _ in range(20):  # about 40 KB each: past the 512 KB a replay may carry
            await host.ok("pin", {"product_id": heavy})
        viewer = await room.viewer()
        epoch = (await viewer.ok("join", {"show_id": room.show_id}))["epoch"]
        answer = await viewer.ok("join", {"show_id": room.show_id, "since": 1, "epoch": epoch})
        assert "replay" not in answer and answer["stale"] is True
        answer = await viewer.ok(
            "join", {"show_id": room.show_id, "since": answer["seq"] - 2, "epoch": epoch}
        )
        assert len(answer["replay"]) == 2
    finally:
        await room.close()


async def test_half_open_connections_count_against_the_address_limit(
    make_client: ClientFactory,
) -> None:
    client = await make_client(sockets_per_ip=2)
    room = await Room(client).setup(products=0)
    url = room.url.replace("http", "ws") + "/socket.io/?EIO=4&transport=websocket"
    raw = [await client.session.ws_connect(url) for _ in range(2)]  # never send "40"
    try:
        with pytest.raises(socketio.exceptions.ConnectionError):
            await room.viewer()
    finally:
        for ws in raw:
            await ws.close()
        await room.close()
    await asyncio.sleep(0.2)
    viewer = await room.viewer()  # the places are free again
    await viewer.close()


async def test_a_transition_the_room_missed_is_repaired_by_repeating_it(room: Room) -> None:
    host = await room.host()
    viewer = await room.joined()
    # The database moved but the room did not hear of it (as if Redis failed at that moment).
    shows = room.client.app[realtime_key].service._shows
    await shows.transition(room.shop_id, room.show_id, Status.LIVE)
    answer = await host.ok("show.start")
    assert answer["status"] == "live"
    assert (await viewer.wait_event("status"))[0]["status"] == "live"
    # Once the room agrees, a repeat is refused as before.
    await host.refused("show.start", None, "invalid_transition")
