"""Go live from OBS: stream keys and nginx-rtmp's publish callbacks, posted form-encoded exactly
as nginx-rtmp posts them, through the real app on both backends."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from live.ingest import rules
from tests.conftest import ClientFactory
from tests.helpers import add_member, bearer, error_of
from tests.room import Room, until


@pytest.fixture
async def room(client: TestClient[Any, Any]) -> AsyncIterator[Room]:
    r = await Room(client).setup()
    yield r
    await r.close()


def _stream(room: Room) -> str:
    return f"/api/shops/{room.shop_id}/shows/{room.show_id}/stream"


async def stream_key(room: Room) -> dict[str, Any]:
    resp = await room.client.get(_stream(room), headers=bearer(room.owner))
    assert resp.status == 200, await resp.text()
    return dict(await resp.json())


def form(call: str, name: str, clientid: str = "1") -> dict[str, str]:
    # What nginx-rtmp's on_publish / on_update / on_publish_done send.
    return {
        "call": call,
        "app": "live",
        "name": name,
        "type": "live",
        "addr": "203.0.113.7",
        "clientid": clientid,
        "flashver": "FMLE/3.0 (compatible; FMSc/1.0)",
        "swfurl": "",
        "tcurl": "rtmp://127.0.0.1:1935/live",
        "pageurl": "",
    }


async def callback(
    client: Any, call: str, name: str, clientid: str = "1", secret: str | None = None
) -> Any:
    path = {"publish": "publish", "update_publish": "update", "done": "publish_done"}[call]
    nginx_call = {"publish": "publish", "update_publish": "update_publish", "done": "publish_done"}
    url = f"/api/ingest/{secret}/{path}" if secret else f"/api/ingest/{path}"
    return await client.post(
        url, data=form(nginx_call[call], name, clientid), allow_redirects=False
    )


async def show_of(room: Room) -> dict[str, Any]:
    resp = await room.client.get(
        f"/api/shops/{room.shop_id}/shows/{room.show_id}", headers=bearer(room.owner)
    )
    return dict(await resp.json())


async def test_owner_reads_the_key_and_a_publish_goes_live(
    room: Room, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    creds = await stream_key(room)
    key = creds["stream_key"]
    assert rules.well_formed(key)
    assert creds["ingest_url"].startswith("rtmp://") and creds["ingest_url"].endswith(":1935/live")
    assert creds["stream_name"] == f"show-{room.show_id}"
    assert creds["playback_url"].endswith(f"/hls/show-{room.show_id}.m3u8")
    assert creds["publishing"] is False
    assert (await stream_key(room))["stream_key"] == key  # made once, then kept

    viewer = await room.joined()
    resp = await callback(room.client, "publish", key)
    assert resp.status == 302
    assert resp.headers["Location"] == f"show-{room.show_id}"
    (status,) = await viewer.wait_event("status")
    assert status["status"] == "live"
    (online,) = await viewer.wait_event("stream")
    assert online == {"type": "stream", "online": True}
    (playback,) = await viewer.wait_event("playback")
    assert playback["playback_url"] == creds["playback_url"]
    show = await show_of(room)
    assert show["status"] == "live" and show["playback_url"] == creds["playback_url"]
    assert (await stream_key(room))["publishing"] is True

    # Later callbacks carry the public name nginx-rtmp now publishes under.
    assert (await callback(room.client, "update_publish", f"show-{room.show_id}")).status == 204
    late = await room.viewer("Late")
    snap = (await late.ok("join", {"show_id": room.show_id}))["snapshot"]
    assert snap["stream_online"] is True and snap["playback_url"] == creds["playback_url"]

    resp = await callback(room.client, "done", f"show-{room.show_id}")
    assert resp.status == 204
    events = await viewer.wait_event("stream", 2)
    assert events[-1] == {"type": "stream", "online": False}
    assert (await show_of(room))["status"] == "live"  # the host ends the show, not the encoder
    assert (await stream_key(room))["publishing"] is False

    # The key is never on a public route, in the room, nor in a log line.
    public = await (await room.client.get(f"/api/shows/{room.show_id}")).text()
    assert key not in public and "stream_key" not in public
    assert key not in str(await late.ok("join", {"show_id": room.show_id}))
    assert key not in str(viewer.frames) and key not in str(await show_of(room))
    logged = caplog.text + " ".join(str(r.__dict__) for r in caplog.records)
    assert key not in logged


async def test_a_show_goes_live_once_and_a_live_show_may_publish_again(room: Room) -> None:
    key = (await stream_key(room))["stream_key"]
    resp = await room.client.post(
        f"/api/shops/{room.shop_id}/shows/{room.show_id}/start", headers=bearer(room.owner)
    )
    assert resp.status == 200
    assert (await callback(room.client, "publish", key)).status == 302
    assert (await callback(room.client, "done", f"show-{room.show_id}")).status == 204
    assert (await callback(room.client, "publish", key, clientid="2")).status == 302
    assert (await show_of(room))["status"] == "live"


@pytest.mark.parametrize(
    "name",
    ["", "sk_short", "sk_" + "A" * 32, "show-1", "sk_" + "!" * 32, "x" * 5000],
    ids=["empty", "short", "unknown", "public-name", "bad-chars", "huge"],
)
async def test_bad_keys_are_refused_and_nothing_changes(
    room: Room, name: str, caplog: pytest.LogCaptureFixture
) -> None:
    await stream_key(room)
    viewer = await room.joined()
    resp = await callback(room.client, "publish", name)
    assert (await error_of(resp, 403))["code"] == "forbidden"
    show = await show_of(room)
    assert show["status"] == "scheduled" and show["playback_url"] is None
    assert viewer.events("status") == [] and viewer.events("stream") == []
    assert "ingest publish refused" in caplog.text


async def test_a_rotated_key_stops_working_and_drops_its_publisher(
    room: Room, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    old = (await stream_key(room))["stream_key"]
    assert (await callback(room.client, "publish", old)).status == 302
    resp = await room.client.post(_stream(room) + "/rotate", headers=bearer(room.owner))
    assert resp.status == 200
    rotated = await resp.json()
    new = rotated["stream_key"]
    assert new != old and rules.well_formed(new)
    assert rotated["publishing"] is True  # one was on air with the old key
    assert (await stream_key(room))["stream_key"] == new
    viewer = await room.joined()
    # nginx-rtmp's next on_update for the old publisher is refused: it drops the stream.
    resp = await callback(room.client, "update_publish", f"show-{room.show_id}")
    assert (await error_of(resp, 403))["code"] == "forbidden"
    # (The publish's own `online` frame may reach this viewer first, on a loaded machine.)
    await until(
        lambda: [e["online"] for e in viewer.events("stream")][-1:] == [False],
        what="the stream offline",
    )
    resp = await callback(room.client, "publish", old, clientid="3")
    assert resp.status == 403
    # The new key publishes (the old record does not hold the show).
    assert (await callback(room.client, "publish", new, clientid="4")).status == 302
    assert old not in caplog.text and new not in caplog.text


async def test_callbacks_under_a_rotated_key_find_their_show(room: Room) -> None:
    """nginx-rtmp's on_update and on_publish_done carry the key the encoder used."""
    viewer = await room.joined()
    old = (await stream_key(room))["stream_key"]
    assert (await callback(room.client, "publish", old)).status == 302
    assert (await callback(room.client, "update_publish", old)).status == 204
    resp = await room.client.post(_stream(room) + "/rotate", headers=bearer(room.owner))
    assert (await resp.json())["publishing"] is True
    resp = await callback(room.client, "update_publish", old)
    assert (await error_of(resp, 403))["message"] == "stream key rotated"
    await until(lambda: len(viewer.events("stream")) == 2, what="stream offline")
    assert [e["online"] for e in viewer.events("stream")] == [True, False]
    assert (await stream_key(room))["publishing"] is False
    # Its publish_done then finds nothing to do.
    assert (await callback(room.client, "done", old)).status == 204


async def test_the_new_key_takes_over_before_the_old_publisher_is_dropped(room: Room) -> None:
    old = (await stream_key(room))["stream_key"]
    assert (await callback(room.client, "publish", old, clientid="1")).status == 302
    resp = await room.client.post(_stream(room) + "/rotate", headers=bearer(room.owner))
    new = (await resp.json())["stream_key"]
    assert (await callback(room.client, "publish", new, clientid="2")).status == 302
    # The old publisher is refused at its next update; its publish_done changes nothing.
    assert (
        await callback(room.client, "update_publish", f"show-{room.show_id}", "1")
    ).status == 403
    assert (await callback(room.client, "done", f"show-{room.show_id}", "1")).status == 204
    assert (await stream_key(room))["publishing"] is True
    assert (
        await callback(room.client, "update_publish", f"show-{room.show_id}", "2")
    ).status == 204


async def test_the_media_servers_own_push_is_not_a_publisher(room: Room) -> None:
    """nginx-rtmp reports its push to the HLS application with the push target as the address:
    those callbacks neither renew nor drop the encoder's claim."""
    key = (await stream_key(room))["stream_key"]
    viewer = await room.joined()
    assert (await callback(room.client, "publish", key)).status == 302
    relay = {**form("update_publish", f"show-{room.show_id}", "9"), "addr": "127.0.0.1:1935/hls"}
    for path in ("update", "publish_done"):
        resp = await room.client.post(f"/api/ingest/{path}", data=relay, allow_redirects=False)
        assert resp.status == 204
    assert (await stream_key(room))["publishing"] is True
    assert (await callback(room.client, "update_publish", f"show-{room.show_id}")).status == 204
    await viewer.wait_event("stream")
    assert [e["online"] for e in viewer.events("stream")] == [True]


async def test_the_hls_application_takes_a_push_only_while_an_encoder_is_on_air(
    room: Room,
) -> None:
    public = f"show-{room.show_id}"
    push = {"call": "publish", "app": "hls", "name": public, "addr": "127.0.0.1", "clientid": "5"}

    async def pushed(name: str = public) -> Any:
        return await room.client.post("/api/ingest/push", data={**push, "name": name})

    # A local process publishing straight to the HLS application, with nobody on air.
    assert (await error_of(await pushed(), 403))["message"] == "no encoder on air"
    assert (await error_of(await pushed("sk_" + "A" * 32), 403))["code"] == "forbidden"
    key = (await stream_key(room))["stream_key"]
    assert (await callback(room.client, "publish", key)).status == 302
    assert (await pushed()).status == 204
    assert (await callback(room.client, "done", public)).status == 204
    assert (await pushed()).status == 403


async def test_only_the_relays_own_address_marks_a_relay(room: Room) -> None:
    """nginx-rtmp appends the encoder's own query to the form: a second `addr` from it, or an
    address that merely has a slash, is no relay."""
    key = (await stream_key(room))["stream_key"]
    assert (await callback(room.client, "publish", key, clientid="1")).status == 302
    assert (await callback(room.client, "publish", key, clientid="2")).status == 403
    for extra in ("addr=127.0.0.1:1935/hls", ""):
        body = f"call=update_publish&name=show-{room.show_id}&clientid=2&addr=198.51.100.9"
        body += f"&{extra}" if extra else "&x=1/hls"
        resp = await room.client.post(
            "/api/ingest/update",
            data=body,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert resp.status == 403  # not the publisher on record: dropped, not waved through
    forged = {**form("update_publish", f"show-{room.show_id}", "2"), "addr": "10.0.0.1/hls"}
    assert (await room.client.post("/api/ingest/update", data=forged)).status == 403


async def test_one_publisher_per_show(room: Room) -> None:
    key = (await stream_key(room))["stream_key"]
    assert (await callback(room.client, "publish", key, clientid="1")).status == 302
    resp = await callback(room.client, "publish", key, clientid="2")
    assert (await error_of(resp, 403))["message"] == "another publisher is on air"
    # The second one's callbacks do not touch the first one's stream.
    assert (
        await callback(room.client, "update_publish", f"show-{room.show_id}", "2")
    ).status == 403
    assert (await callback(room.client, "done", f"show-{room.show_id}", "2")).status == 204
    assert (await stream_key(room))["publishing"] is True


async def test_an_ended_show_may_not_publish(room: Room) -> None:
    key = (await stream_key(room))["stream_key"]
    for step in ("start", "end"):
        resp = await room.client.post(
            f"/api/shops/{room.shop_id}/shows/{room.show_id}/{step}", headers=bearer(room.owner)
        )
        assert resp.status == 200
    assert (await callback(room.client, "publish", key)).status == 403
    assert (await show_of(room))["status"] == "ended"


async def test_callbacks_from_elsewhere_are_refused(make_client: ClientFactory) -> None:
    client = await make_client(ingest_allowed_networks="10.0.0.0/8")
    room = await Room(client).setup()
    try:
        key = (await stream_key(room))["stream_key"]
        resp = await callback(client, "publish", key)
        assert (await error_of(resp, 403))["code"] == "forbidden"
        assert (await show_of(room))["status"] == "scheduled"
        assert (await stream_key(room))["publishing"] is False
    finally:
        await room.close()


async def test_a_secret_callback_path(make_client: ClientFactory) -> None:
    secret = "s" * 24 + "-ingest_Secret"
    client = await make_client(ingest_secret=secret)
    room = await Room(client).setup()
    try:
        key = (await stream_key(room))["stream_key"]
        assert (await callback(client, "publish", key)).status == 403  # no secret
        assert (await callback(client, "publish", key, secret="w" * 38)).status == 403
        assert (await show_of(room))["status"] == "scheduled"
        assert (await callback(client, "publish", key, secret=secret)).status == 302
        assert (await show_of(room))["status"] == "live"
    finally:
        await room.close()


async def test_a_secret_path_is_refused_when_no_secret_is_set(room: Room) -> None:
    key = (await stream_key(room))["stream_key"]
    assert (await callback(room.client, "publish", key, secret="x" * 30)).status == 403


async def test_moderators_and_other_shops_cannot_read_or_rotate(room: Room) -> None:
    moderator, _ = await add_member(room.client, room.owner, room.shop_id, "moderator", "Mod")
    host, _ = await add_member(room.client, room.owner, room.shop_id, "host", "Host")
    for method, path in (("GET", _stream(room)), ("POST", _stream(room) + "/rotate")):
        resp = await room.client.request(method, path, headers=bearer(moderator))
        assert (await error_of(resp, 403))["code"] == "forbidden"
        resp = await room.client.request(method, path)
        await error_of(resp, 401)
    other = await Room(room.client).setup(products=0)
    try:
        for method, path in (("GET", _stream(room)), ("POST", _stream(room) + "/rotate")):
            resp = await room.client.request(method, path, headers=bearer(other.owner))
            assert (await error_of(resp, 404))["code"] == "not_found"
        resp = await room.client.get(
            f"/api/shops/{room.shop_id}/shows/{other.show_id}/stream", headers=bearer(room.owner)
        )
        assert (await error_of(resp, 404))["code"] == "not_found"
    finally:
        await other.close()
    resp = await room.client.get(_stream(room), headers=bearer(host))
    assert resp.status == 200


async def _patch(room: Room, **fields: Any) -> dict[str, Any]:
    resp = await room.client.patch(
        f"/api/shops/{room.shop_id}/shows/{room.show_id}", json=fields, headers=bearer(room.owner)
    )
    assert resp.status == 200, await resp.text()
    return dict(await resp.json())


async def test_the_publish_settings_of_a_show(room: Room) -> None:
    show = await show_of(room)
    assert show["go_live_on_publish"] is True and show["end_on_stream_end"] is False
    show = await _patch(room, go_live_on_publish=False, end_on_stream_end=True)
    assert show["go_live_on_publish"] is False and show["end_on_stream_end"] is True
    resp = await room.client.patch(
        f"/api/shops/{room.shop_id}/shows/{room.show_id}",
        json={"end_on_stream_end": None},
        headers=bearer(room.owner),
    )
    await error_of(resp, 422)


async def test_without_go_live_on_publish_the_show_waits_for_the_host(room: Room) -> None:
    await _patch(room, go_live_on_publish=False)
    key = (await stream_key(room))["stream_key"]
    viewer = await room.joined()
    assert (await callback(room.client, "publish", key)).status == 302
    assert (await viewer.wait_event("stream"))[0]["online"] is True
    show = await show_of(room)
    assert show["status"] == "scheduled"
    assert show["playback_url"] == (await stream_key(room))["playback_url"]
    assert viewer.events("status") == []


async def _offline_room(make_client: ClientFactory, grace: float, **fields: Any) -> Room:
    client = await make_client(stream_grace_seconds=grace)
    room = await Room(client).setup(products=0)
    if fields:
        await _patch(room, **fields)
    key = (await stream_key(room))["stream_key"]
    assert (await callback(client, "publish", key)).status == 302
    assert (await show_of(room))["status"] == "live"
    return room


async def _wait_status(room: Room, status: str, within: float = 5) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while (await show_of(room))["status"] != status:
        assert asyncio.get_running_loop().time() < deadline, f"show not {status}"
        await asyncio.sleep(0.05)


async def test_the_show_ends_when_the_stream_stays_off_past_the_grace_period(
    make_client: ClientFactory,
) -> None:
    room = await _offline_room(make_client, 0.3, end_on_stream_end=True)
    try:
        viewer = await room.joined()
        assert (await callback(room.client, "done", f"show-{room.show_id}")).status == 204
        await _wait_status(room, "ended")
        assert (await viewer.wait_event("status"))[-1]["status"] == "ended"
    finally:
        await room.close()


async def test_without_end_on_stream_end_the_show_stays_live(make_client: ClientFactory) -> None:
    room = await _offline_room(make_client, 0.2)
    try:
        assert (await callback(room.client, "done", f"show-{room.show_id}")).status == 204
        await asyncio.sleep(0.8)
        assert (await show_of(room))["status"] == "live"
    finally:
        await room.close()


async def test_a_new_publish_within_the_grace_period_keeps_the_show(
    make_client: ClientFactory,
) -> None:
    room = await _offline_room(make_client, 0.6, end_on_stream_end=True)
    try:
        key = (await stream_key(room))["stream_key"]
        assert (await callback(room.client, "done", f"show-{room.show_id}")).status == 204
        assert (await callback(room.client, "publish", key, clientid="9")).status == 302
        await asyncio.sleep(1.2)
        assert (await show_of(room))["status"] == "live"
        # Its end starts a new grace period, which ends the show.
        assert (await callback(room.client, "done", f"show-{room.show_id}", "9")).status == 204
        await _wait_status(room, "ended")
    finally:
        await room.close()
