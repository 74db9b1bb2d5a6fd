"""Settings: the command line gives host, port and data dir; everything else comes from
PAYPROC_* environment variables."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PAYPROC_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(8790, ge=0, le=65535)
    data_dir: Path = Path("var/payproc")
    # The app's secret key for /v1 (Authorization: Bearer …).
    api_key: SecretStr = Field(min_length=8)
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None
    # Where browsers reach the processor; defaults to http://host:port.
    public_url: str | None = None
    settle_delay_seconds: float = Field(5.0, ge=0)
    refund_delay_seconds: float = Field(1.0, ge=0)
    rate_per_second: float = Field(25.0, gt=0)
    test_controls: bool = False
    webhook_max_attempts: int = Field(8, ge=1)
    webhook_backoff_seconds: float = Field(1.0, gt=0)
    # CSP frame-ancestors of the card form: which origins may frame it ("*": any).
    frame_ancestors: str = "*"
    log_format: Literal["json", "text"] = "json"
    log_level: str = "INFO"

    @model_validator(mode="after")
    def _webhooks_are_signed(self) -> Settings:
        if self.webhook_url and not self.webhook_secret:
            raise ValueError("PAYPROC_WEBHOOK_URL needs PAYPROC_WEBHOOK_SECRET")
        return self

    @property
    def base_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def db_path(self) -> Path:
        return self.data_dir / "payproc.sqlite3"
