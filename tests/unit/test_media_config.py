"""The media server's nginx configuration and the delay rules (pure)."""

from __future__ import annotations

from pathlib import Path

import pytest

from live.ingest import delay
from live.ingest.nginx import MediaConfig, render
from server.media import media_config
from server.settings import load_settings


def _config(**overrides: object) -> MediaConfig:
    base: dict[str, object] = {
        "directory": Path("/srv/media"),
        "callback_base": "http://app:8080/",
        "secret": None,
        "rtmp_listen": "1935",
        "http_listen": "8088",
        "module": None,
    }
    return MediaConfig(**{**base, **overrides})  # type: ignore[arg-type]


def test_the_config_calls_the_app_back_and_publishes_hls_under_public_names() -> None:
    text = render(_config())
    for call in ("publish", "update", "publish_done"):
        assert f"on_{call} http://app:8080/api/ingest/{call};" in text
    assert "push rtmp://127.0.0.1:1935/hls;" in text
    hls = text[text.index("application hls") :]
    # Only the local push may publish under a public name; nobody plays RTMP.
    assert "allow publish 127.0.0.1;\n      deny publish all;" in hls
    assert text.count("deny play all;") == 2
    assert "hls_fragment_naming system;" in hls and "hls_fragment 1000ms;" in hls
    assert "hls_path /srv/media/hls;" in hls and "alias /srv/media/hls/;" in text
    assert "Access-Control-Allow-Origin * always;" in text
    assert "load_module" not in text and "user root" not in text
    # nginx-rtmp's access log would name the key the encoder used.
    assert "rtmp {\n  access_log off;" in text
    # Even from loopback, the HLS application takes a stream only while the app says so.
    assert "on_publish http://app:8080/api/ingest/push;" in hls


def test_the_secret_is_a_path_segment_of_every_callback() -> None:
    secret = "s" * 32
    text = render(_config(secret=secret, rtmp_listen="127.0.0.1:41935", run_as_root=True))
    assert text.count(f"/api/ingest/{secret}/") == 4
    assert "push rtmp://127.0.0.1:41935/hls;" in text
    assert "user root root;" in text


def test_settings_give_the_config_and_the_local_urls(tmp_path: Path) -> None:
    s = load_settings(
        data_dir=tmp_path, port=9000, ingest_rtmp_port=2935, hls_port=9088, hls_fragment_seconds=2
    )
    config = media_config(s)
    assert config.directory == (tmp_path / "ingest").resolve()
    assert config.callback_base == "http://127.0.0.1:9000"
    assert (config.rtmp_listen, config.http_listen) == ("2935", "9088")
    assert config.fragment_seconds == 2 and config.playlist_seconds == 16
    assert s.rtmp_ingest_url == "rtmp://127.0.0.1:2935/live"
    assert s.hls_base == "http://127.0.0.1:9088/hls" == s.hls_read_base
    s = load_settings(
        ingest_callback_url="http://nginx:8081", hls_internal_url="http://media:8088/hls"
    )
    assert media_config(s).callback_base == "http://nginx:8081"
    assert s.hls_read_base == "http://media:8088/hls"


def test_ingest_config_masks_the_secret_unless_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from server.__main__ import main

    secret = "q" * 32
    monkeypatch.setenv("INGEST_SECRET", secret)
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    assert main(["ingest-config"]) == 0
    out = capsys.readouterr().out
    assert secret not in out and out.count("/api/ingest/<INGEST_SECRET>/") == 4
    assert main(["ingest-config", "--show-secret"]) == 0
    assert capsys.readouterr().out.count(f"/api/ingest/{secret}/") == 4


def test_the_written_config_is_private_from_the_start(tmp_path: Path) -> None:
    from server.media import write

    path = write(_config(directory=tmp_path, secret="s" * 32))
    assert path.stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "hls").is_dir()


PLAYLIST = """#EXTM3U
#EXT-X-VERSION:3
#EXT-X-MEDIA-SEQUENCE:4
#EXT-X-TARGETDURATION:2
#EXTINF:1.930,
show-1-1796159386840.ts
#EXTINF:1.000,
show-1-1796159388721.ts
"""


def test_a_playlist_gives_the_edge_and_the_hold_back() -> None:
    playlist = delay.parse(PLAYLIST)
    assert playlist is not None
    assert playlist.target_ms == 2000
    assert playlist.fragments == ((1796159386840, 1930), (1796159388721, 1000))
    edge = 1796159388721 + 1000
    assert delay.edge_age_ms(playlist, edge + 700) == 700
    assert delay.edge_age_ms(playlist, edge - 5) == 0  # clocks a little apart: never negative
    assert delay.sample_ms(playlist, edge + 700) == 700 + 3 * 2000


@pytest.mark.parametrize(
    "text",
    [
        "",
        "not a playlist",
        "#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1.0,\nsegment7.ts\n",  # no start time
        "#EXTM3U\n#EXT-X-TARGETDURATION:x\n#EXTINF:1.0,\nshow-1-1796159388721.ts\n",
        "#EXTM3U\n#EXTINF:1.0,\nshow-1-1796159388721.ts\n",  # no target duration
    ],
)
def test_playlists_without_timing_give_no_reading(text: str) -> None:
    assert delay.parse(text) is None


def test_the_deal_grace_is_the_median_capped() -> None:
    assert delay.estimate_ms([]) is None
    assert delay.estimate_ms([4000, 90_000, 4200]) == 4200  # one slow fetch does not count
    assert delay.deal_grace_ms(None, 15_000) == 0
    assert delay.deal_grace_ms(4200, 15_000) == 4200
    assert delay.deal_grace_ms(40_000, 15_000) == 15_000
    assert delay.deal_grace_ms(4200, 0) == 0
