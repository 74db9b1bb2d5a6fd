"""Settings: environment parsing, one-line errors naming the setting, and derived values."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from server.settings import Settings, SettingsError, load_settings

GOOD_SECRET = "k" * 32


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No setting leaks in from the developer's or CI's environment; relative paths land in tmp."""
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


def error_of(**overrides: object) -> str:
    with pytest.raises(SettingsError) as info:
        load_settings(**overrides)
    return str(info.value)


@pytest.mark.parametrize(
    ("overrides", "name"),
    [
        ({"port": 0}, "PORT"),
        ({"port": 65536}, "PORT"),
        ({"port": "eighty"}, "PORT"),
        ({"allowed_origins": "shop.example.com"}, "ALLOWED_ORIGINS"),
        ({"allowed_origins": "https://shop.example.com/path"}, "ALLOWED_ORIGINS"),
        ({"allowed_origins": "ftp://shop.example.com"}, "ALLOWED_ORIGINS"),
        ({"database_url": "mysql://u@h/db"}, "DATABASE_URL"),
        ({"database_url": "postgresql+psycopg://u@h/db"}, "DATABASE_URL"),
        ({"redis_url": "http://127.0.0.1:6379"}, "REDIS_URL"),
        ({"secret_key": "k" * 31}, "SECRET_KEY"),
        ({"log_format": "xml"}, "LOG_FORMAT"),
        ({"log_level": "TRACE"}, "LOG_LEVEL"),
        ({"redis_prefix": "has space"}, "REDIS_PREFIX"),
        ({"token_ttl_seconds": 59}, "TOKEN_TTL_SECONDS"),
        ({"max_body_bytes": 1023}, "MAX_BODY_BYTES"),
    ],
)
def test_bad_value_names_the_setting(overrides: dict[str, object], name: str) -> None:
    message = error_of(**overrides)
    assert message.startswith(f"invalid setting {name}: ")
    assert "\n" not in message


def test_short_secret_key_says_why() -> None:
    assert "at least 32 characters" in error_of(secret_key="short")


def test_secret_key_of_exactly_32_characters_is_accepted() -> None:
    assert load_settings(secret_key=GOOD_SECRET).secret() == GOOD_SECRET


def test_defaults() -> None:
    settings = load_settings()
    assert settings.host == "127.0.0.1"
    assert settings.port == 8080
    assert settings.log_format == "text"
    assert settings.allowed_origins == []
    assert settings.database_url is None
    assert settings.redis_url is None


def test_environment_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "9123")
    monkeypatch.setenv("LOG_FORMAT", "json")
    monkeypatch.setenv("REDIS_URL", "redis://cache:6379/2")
    settings = load_settings()
    assert settings.port == 9123
    assert settings.log_format == "json"
    assert settings.redis_url == "redis://cache:6379/2"


def test_bad_environment_value_names_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "not-a-number")
    assert error_of().startswith("invalid setting PORT: ")


def test_overrides_win_over_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "9123")
    assert load_settings(port=9999).port == 9999


def test_unknown_overrides_are_ignored() -> None:
    assert load_settings(no_such_setting=1).port == 8080


def test_allowed_origins_from_env_are_split_on_commas(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALLOWED_ORIGINS", " https://shop.example.com , ,http://localhost:3000,")
    settings = load_settings()
    assert settings.allowed_origins == ["https://shop.example.com", "http://localhost:3000"]
    assert settings.origins == frozenset({"https://shop.example.com", "http://localhost:3000"})


def test_trusted_proxies_from_env_are_split_on_commas(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRUSTED_PROXIES", "10.0.0.1, 10.0.0.2")
    assert load_settings().trusted_proxies == ["10.0.0.1", "10.0.0.2"]


def test_empty_allowed_origins_falls_back_to_own_address(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALLOWED_ORIGINS", "")
    assert load_settings(port=8000).origins == frozenset(
        {"http://127.0.0.1:8000", "http://localhost:8000"}
    )


def test_origins_default_for_a_named_host_is_only_that_host() -> None:
    settings = load_settings(host="shop.internal", port=8443)
    assert settings.base_url == "http://shop.internal:8443"
    assert settings.origins == frozenset({"http://shop.internal:8443"})


def test_origins_default_when_listening_on_all_interfaces() -> None:
    settings = load_settings(host="0.0.0.0", port=9000)  # noqa: S104
    assert settings.base_url == "http://127.0.0.1:9000"
    assert settings.origins == frozenset({"http://127.0.0.1:9000", "http://localhost:9000"})


def test_public_url_is_the_base_url_and_an_allowed_origin() -> None:
    settings = load_settings(host="shop.internal", public_url="https://shop.example.com/")
    assert settings.base_url == "https://shop.example.com"
    assert settings.origins == frozenset({"https://shop.example.com"})


def test_explicit_origins_replace_the_default() -> None:
    settings = load_settings(allowed_origins="https://a.example.com")
    assert "http://127.0.0.1:8080" not in settings.origins
    assert settings.origins == frozenset({"https://a.example.com"})


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgres://u:p@db:5432/shop", "postgresql+asyncpg://u:p@db:5432/shop"),
        ("postgresql://u@db/shop", "postgresql+asyncpg://u@db/shop"),
        ("postgresql+asyncpg://u@db/shop", "postgresql+asyncpg://u@db/shop"),
        ("sqlite:///var/shop.db", "sqlite+aiosqlite:///var/shop.db"),
        ("sqlite+aiosqlite:///var/shop.db", "sqlite+aiosqlite:///var/shop.db"),
    ],
)
def test_database_url_is_normalised(given: str, expected: str) -> None:
    settings = load_settings(database_url=given)
    assert settings.database_url == expected
    assert settings.effective_database_url == expected


@pytest.mark.parametrize(
    ("url", "kind"),
    [("postgres://u@db/shop", "postgresql"), ("sqlite:///x.db", "sqlite"), (None, "sqlite")],
)
def test_database_kind(url: str | None, kind: str) -> None:
    assert load_settings(database_url=url).database_kind == kind


def test_empty_database_url_means_sqlite_in_data_dir(tmp_path: Path) -> None:
    settings = load_settings(database_url="", data_dir=tmp_path / "data")
    assert settings.database_url is None
    expected = f"sqlite+aiosqlite:///{(tmp_path / 'data' / 'liveshop.db').resolve()}"
    assert settings.effective_database_url == expected


@pytest.mark.parametrize(
    ("url", "embedded"),
    [
        (None, True),
        ("", True),
        ("redis://127.0.0.1:6379/0", False),
        ("rediss://cache.example.com:6380", False),
        ("unix:///run/redis.sock", False),
    ],
)
def test_embedded_redis_only_without_a_redis_url(url: str | None, embedded: bool) -> None:
    assert load_settings(redis_url=url).embedded_redis is embedded


def test_secret_is_generated_once_with_private_mode(tmp_path: Path) -> None:
    data_dir = tmp_path / "nested" / "data"
    settings = load_settings(data_dir=data_dir)
    key = settings.secret()
    path = data_dir / "secret_key"
    assert len(key) >= 32
    assert path.read_text() == key + "\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert settings.secret() == key
    assert load_settings(data_dir=data_dir).secret() == key


def test_each_data_dir_gets_its_own_secret(tmp_path: Path) -> None:
    first = load_settings(data_dir=tmp_path / "one").secret()
    second = load_settings(data_dir=tmp_path / "two").secret()
    assert first != second


def test_existing_secret_file_is_reused_stripped(tmp_path: Path) -> None:
    (tmp_path / "secret_key").write_text("  " + "s" * 40 + "\n\n")
    assert load_settings(data_dir=tmp_path).secret() == "s" * 40


def test_configured_secret_key_wins_and_writes_nothing(tmp_path: Path) -> None:
    (tmp_path / "secret_key").write_text("f" * 40)
    settings = load_settings(data_dir=tmp_path / "fresh", secret_key=GOOD_SECRET)
    assert settings.secret() == GOOD_SECRET
    assert not (tmp_path / "fresh").exists()


def test_secret_key_is_not_shown_in_repr() -> None:
    settings = load_settings(secret_key="p" * 40)
    assert "p" * 40 not in repr(settings)
    assert "p" * 40 not in str(settings)


def test_origin_trailing_slash_is_dropped_and_hostless_origins_refused() -> None:
    assert load_settings(allowed_origins="https://shop.example.com/").origins == frozenset(
        {"https://shop.example.com"}
    )
    for bad in ("https://", "https://shop.example.com/path", "ftp://shop.example.com"):
        with pytest.raises(SettingsError, match="ALLOWED_ORIGINS"):
            load_settings(allowed_origins=bad)


def test_ipv6_hosts_are_bracketed_and_any_address_allows_localhost() -> None:
    assert load_settings(host="::1", port=9000).base_url == "http://[::1]:9000"
    assert "http://localhost:9000" in load_settings(host="::", port=9000).origins


@pytest.mark.parametrize("content", ["", "short\n"])
def test_a_damaged_secret_file_stops_start_up(tmp_path: Path, content: str) -> None:
    (tmp_path / "secret_key").write_text(content)
    settings = load_settings(data_dir=tmp_path)
    with pytest.raises(SettingsError, match=r"SECRET_KEY.*delete it"):
        settings.secret()
    assert not list(tmp_path.glob(".secret_key.*"))


def test_ingest_defaults_and_derived_urls() -> None:
    s = load_settings(public_url="https://shop.example.com/")
    assert [str(n) for n in s.ingest_networks] == ["127.0.0.1/32", "::1/128"]
    assert s.ingest_secret is None and s.stream_grace_seconds == 120
    assert s.rtmp_ingest_url == "rtmp://shop.example.com:1935/live"
    assert s.hls_base == "https://shop.example.com/hls"
    s = load_settings(
        ingest_rtmp_url="rtmp://ingest.example.com/live/",
        hls_public_url="https://cdn.example.com/hls/",
        ingest_allowed_networks="10.0.0.0/8, 192.0.2.1",
    )
    assert s.rtmp_ingest_url == "rtmp://ingest.example.com/live"
    assert s.hls_base == "https://cdn.example.com/hls"
    assert [str(n) for n in s.ingest_networks] == ["10.0.0.0/8", "192.0.2.1/32"]


@pytest.mark.parametrize(
    ("overrides", "name"),
    [
        ({"ingest_allowed_networks": "not-a-net"}, "INGEST_ALLOWED_NETWORKS"),
        ({"ingest_secret": "short"}, "INGEST_SECRET"),
        ({"ingest_secret": "x" * 23 + "/"}, "INGEST_SECRET"),
        ({"ingest_rtmp_url": "http://x/live"}, "INGEST_RTMP_URL"),
        ({"hls_public_url": "ftp://x/hls"}, "HLS_PUBLIC_URL"),
        ({"stream_grace_seconds": 0}, "STREAM_GRACE_SECONDS"),
    ],
)
def test_bad_ingest_settings(overrides: dict[str, object], name: str) -> None:
    assert error_of(**overrides).startswith(f"invalid setting {name}:")


def test_ingest_secret_is_not_shown_in_repr() -> None:
    secret = "i" * 30
    assert secret not in repr(load_settings(ingest_secret=secret))


def test_fault_points_are_refused_without_the_testing_flag(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHECKOUT_FAULT_POINTS", "after_commit")
    message = error_of()
    assert message.startswith("invalid setting CHECKOUT_FAULT_POINTS: ")
    assert "TESTING" in message and "\n" not in message
    monkeypatch.setenv("TESTING", "0")
    assert "TESTING" in error_of()


def test_fault_points_are_armed_with_the_testing_flag(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TESTING", "1")
    monkeypatch.setenv("CHECKOUT_FAULT_POINTS", "after_charge,before_refund")
    settings = load_settings()
    assert settings.faults.armed == {"after_charge", "before_refund"}
    assert "unknown fault points ['nowhere']" in error_of(checkout_fault_points="nowhere")
    # Without fault points the flag changes nothing, and nothing is armed by default.
    monkeypatch.delenv("CHECKOUT_FAULT_POINTS")
    assert load_settings().faults.armed == frozenset()
    monkeypatch.delenv("TESTING")
    assert load_settings().faults.armed == frozenset()
