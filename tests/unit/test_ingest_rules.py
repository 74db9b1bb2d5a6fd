"""The ingest's pure rules: key format, who may publish, public names, peers, grace."""

import ipaddress

import pytest

from live.ingest import rules
from live.ingest.service import new_key
from live.shows.rules import Status


def test_new_keys_are_well_formed_and_distinct() -> None:
    keys = {new_key() for _ in range(200)}
    assert len(keys) == 200
    assert all(rules.well_formed(k) and len(k) == 35 for k in keys)


@pytest.mark.parametrize(
    "key",
    [
        "",
        "sk_",
        "sk_" + "a" * 31,
        "sk_" + "a" * 33,
        "xx_" + "a" * 32,
        "sk_" + "a" * 31 + "/",
        "sk_" + "a" * 32 + "\n",
        "show-1",
    ],
)
def test_malformed_keys(key: str) -> None:
    assert not rules.well_formed(key)


def test_only_scheduled_or_live_shows_publish() -> None:
    assert rules.may_publish(Status.SCHEDULED) and rules.may_publish(Status.LIVE)
    assert not rules.may_publish(Status.ENDED)


def test_public_names() -> None:
    assert rules.public_name(42) == "show-42"
    assert rules.show_of_public_name("show-42") == 42
    for name in ("show-0", "show-", "show-01", "show-1x", "Show-1", "show-" + "9" * 19):
        assert rules.show_of_public_name(name) is None
    assert (
        rules.playback_url("https://cdn.example/hls/", 7) == "https://cdn.example/hls/show-7.m3u8"
    )


def test_peers() -> None:
    nets = (ipaddress.ip_network("127.0.0.1/32"), ipaddress.ip_network("::1/128"))
    assert rules.peer_allowed("127.0.0.1", nets)
    assert rules.peer_allowed("::1", nets)
    assert rules.peer_allowed("::ffff:127.0.0.1", nets)
    assert not rules.peer_allowed("10.0.0.1", nets)
    assert not rules.peer_allowed(None, nets)
    assert not rules.peer_allowed("not-an-ip", nets)


def test_grace() -> None:
    assert rules.grace_deadline_ms(1000, 1.5) == 2500
    assert rules.ends_after_grace(Status.LIVE, True, False)
    assert not rules.ends_after_grace(Status.LIVE, False, False)
    assert not rules.ends_after_grace(Status.LIVE, True, True)
    assert not rules.ends_after_grace(Status.SCHEDULED, True, False)
    assert not rules.ends_after_grace(Status.ENDED, True, False)
    assert rules.sweep_interval(120) == 5.0 and rules.sweep_interval(0.1) == 0.05


def test_key_hash_is_sha256_hex() -> None:
    assert len(rules.key_hash("sk_x")) == 64


def test_the_access_log_hides_the_callback_secret() -> None:
    from server.access_log import _redact

    assert _redact("/api/ingest/s3cret-value/publish") == "/api/ingest/***/publish"
    assert _redact("/api/ingest/publish") == "/api/ingest/publish"
    assert _redact("/api/shows/1") == "/api/shows/1"
