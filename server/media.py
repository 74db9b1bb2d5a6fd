"""The local media server: nginx-rtmp with the configuration the app's settings give
(`python -m server ingest-config` prints it, `python -m server ingest` runs it)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from live.ingest.nginx import RTMP_MODULE, MediaConfig, render
from server.settings import Settings


def media_config(settings: Settings, directory: Path | None = None) -> MediaConfig:
    secret = settings.ingest_secret.get_secret_value() if settings.ingest_secret else None
    return MediaConfig(
        directory=(directory or settings.data_dir / "ingest").resolve(),
        callback_base=settings.callback_base,
        secret=secret,
        rtmp_listen=str(settings.ingest_rtmp_port),
        http_listen=str(settings.hls_port),
        fragment_seconds=settings.hls_fragment_seconds,
        playlist_seconds=max(8.0, settings.hls_fragment_seconds * 8),
        module=RTMP_MODULE if RTMP_MODULE.exists() else None,
        run_as_root=os.geteuid() == 0,
    )


def nginx_binary() -> str | None:
    return shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )


def write(config: MediaConfig) -> Path:
    """The configuration file and the directories nginx needs, under config.directory."""
    for sub in ("hls", "temp"):
        (config.directory / sub).mkdir(parents=True, exist_ok=True)
    path = config.directory / "nginx.conf"
    # Readable by its owner only from the start: it holds INGEST_SECRET when one is set.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(render(config))
    path.chmod(0o600)  # an older file keeps its mode through O_TRUNC
    return path


def command(nginx: str, config: MediaConfig, path: Path) -> list[str]:
    return [nginx, "-p", str(config.directory), "-c", str(path), "-e", "stderr"]
