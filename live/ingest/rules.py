"""Stream keys and who may publish: pure rules for the RTMP ingest callbacks."""

from __future__ import annotations

import hashlib
import ipaddress
import re

from live.shows.rules import Status

KEY_PREFIX = "sk_"
KEY_RANDOM_CHARS = 32
_KEY = re.compile(r"^sk_[A-Za-z0-9_-]{32}$")
_PUBLIC = re.compile(r"^show-([1-9][0-9]{0,17})$")

# A publishing record lives this long unless on_update refreshes it (nginx-rtmp's
# notify_update_timeout is expected well below it), so a media server that died without
# publish_done does not hold a show forever.
PUBLISH_TTL_SECONDS = 300

PUBLISHABLE = frozenset({Status.SCHEDULED, Status.LIVE})


def well_formed(key: str) -> bool:
    return _KEY.fullmatch(key) is not None


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def may_publish(status: Status) -> bool:
    return status in PUBLISHABLE


def public_name(show_id: int) -> str:
    """The stream name nginx-rtmp publishes (and writes HLS files) under: never the key."""
    return f"show-{show_id}"


def show_of_public_name(name: str) -> int | None:
    found = _PUBLIC.fullmatch(name)
    return int(found.group(1)) if found else None


def playback_url(hls_base: str, show_id: int) -> str:
    return f"{hls_base.rstrip('/')}/{public_name(show_id)}.m3u8"


def peer_allowed(
    addr: str | None, networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]
) -> bool:
    """Whether a callback's TCP peer is the media server (an IPv4-mapped IPv6 peer counts as
    its IPv4 address)."""
    if not addr:
        return False
    try:
        ip = ipaddress.ip_address(addr.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in net for net in networks)


_RELAY = re.compile(r"^127\.0\.0\.1:[0-9]{1,5}/hls$")


def from_relay(addr: str) -> bool:
    """Whether a callback is about the media server's own push to its HLS application (nginx-rtmp
    sends relays' on_update with the relay's target, `127.0.0.1:1935/hls`, as the address; an
    encoder's address is a bare IP). Not a publisher: nothing to check or renew."""
    return _RELAY.fullmatch(addr) is not None


def grace_deadline_ms(now_ms: int, grace_seconds: float) -> int:
    """When a show whose stream went offline at now_ms may end by itself."""
    return now_ms + int(grace_seconds * 1000)


def ends_after_grace(status: Status, end_on_stream_end: bool, publishing: bool) -> bool:
    """At the deadline: only a live show whose host chose so, with nobody publishing again."""
    return status is Status.LIVE and end_on_stream_end and not publishing


def sweep_interval(grace_seconds: float) -> float:
    """How often a node looks for grace periods that passed: a quarter of one, 0.05 to 5 s."""
    return max(0.05, min(5.0, grace_seconds / 4))
