"""How far behind the host a viewer is, as far as the server can measure it itself.

The media server names every HLS fragment by the Unix millisecond its first frame arrived
(`hls_fragment_naming system`, see live/ingest/nginx.py). Reading the playlist at time `now`,
the newest media listed ends at `start + duration` of its last fragment: `now` minus that is the
ingest-to-playlist delay (fragmenting, writing, and how stale the playlist is). A player then
holds back HOLD_BACK_FRAGMENTS target durations from that edge (hls.js's default
liveSyncDurationCount, which our player keeps). Together they bound how late a viewer who plays
at the live edge sees what the media server received; the encoder's own latency and the host's
upload are not visible here (documented in docs/protocol.md).

Pure: parsing and arithmetic; the service fetches the playlists.
"""

from __future__ import annotations

import re
import statistics
from dataclasses import dataclass

HOLD_BACK_FRAGMENTS = 3
_FRAGMENT = re.compile(r"-(\d{13})\.ts(?:\?.*)?$")
SAMPLES = 15  # the median of this many recent readings is the estimate


@dataclass(frozen=True)
class Playlist:
    target_ms: int
    fragments: tuple[tuple[int, int], ...]  # (start ms on the media server's clock, duration ms)


def fragment_start_ms(uri: str) -> int | None:
    found = _FRAGMENT.search(uri)
    return int(found.group(1)) if found else None


def parse(text: str) -> Playlist | None:
    """A live media playlist whose fragments carry their start time; None otherwise."""
    if not text.startswith("#EXTM3U"):
        return None
    target_ms = 0
    duration_ms: int | None = None
    fragments = []
    for raw in text.splitlines():
        line = raw.strip()
        try:
            if line.startswith("#EXT-X-TARGETDURATION:"):
                target_ms = round(float(line.split(":", 1)[1]) * 1000)
            elif line.startswith("#EXTINF:"):
                duration_ms = round(float(line.split(":", 1)[1].split(",", 1)[0]) * 1000)
            elif line and not line.startswith("#") and duration_ms is not None:
                start = fragment_start_ms(line)
                if start is not None:
                    fragments.append((start, duration_ms))
                duration_ms = None
        except ValueError:
            return None
    if not fragments or target_ms <= 0:
        return None
    return Playlist(target_ms, tuple(fragments))


def edge_age_ms(playlist: Playlist, now_ms: int) -> int:
    """How old the newest media in the playlist is at now_ms (never negative)."""
    start, duration = playlist.fragments[-1]
    return max(0, now_ms - (start + duration))


def hold_back_ms(playlist: Playlist) -> int:
    return HOLD_BACK_FRAGMENTS * playlist.target_ms


def sample_ms(playlist: Playlist, now_ms: int) -> int:
    """One reading of the delay a viewer at the player's live sync point has."""
    return edge_age_ms(playlist, now_ms) + hold_back_ms(playlist)


def estimate_ms(samples: list[int]) -> int | None:
    """The median of the recent readings (robust to one slow fetch); None without any."""
    return int(statistics.median(samples)) if samples else None


def deal_grace_ms(estimate: int | None, cap_ms: int) -> int:
    """How much longer a flash deal keeps taking orders: the measured delay, capped; nothing
    when nothing was measured (no stream, or a source the server cannot read)."""
    if estimate is None:
        return 0
    return max(0, min(cap_ms, estimate))
