"""Show request bodies and queries."""

from __future__ import annotations

from typing import Annotated, Literal, Self
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from core.db import MAX_ID
from core.money import Currency
from core.text import plain_text
from live.shows.rules import MAX_LINEUP

Title = Annotated[str, plain_text(200)]
Description = Annotated[str, plain_text(5000, multiline=True, optional=True)]
# JSON carries datetimes as ISO 8601 strings, so this field alone is lax; it must carry an offset.
When = Annotated[AwareDatetime, Field(strict=False)]
ProductId = Annotated[int, Field(ge=1, le=2**62)]
Lineup = Annotated[list[ProductId], Field(max_length=MAX_LINEUP)]


def _playback_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http:// or https:// URL")
    if parts.username is not None or parts.password is not None:
        raise ValueError("must not carry a user name or password")
    return value


# An HLS playlist viewers play (a player fetches it as it is: no credentials in it).
PlaybackUrl = Annotated[
    str,
    StringConstraints(max_length=2000, pattern=r"^\S+$"),
    AfterValidator(_playback_url),
]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    @model_validator(mode="after")
    def _unique_lineup(self) -> Self:
        lineup = getattr(self, "lineup", None)
        if lineup is not None and len(set(lineup)) != len(lineup):
            raise ValueError("lineup lists a product twice")
        return self


class ShowIn(Body):
    title: Title
    description: Description = ""
    scheduled_at: When
    currency: Currency
    lineup: Lineup = []
    playback_url: PlaybackUrl | None = None
    go_live_on_publish: bool = True
    end_on_stream_end: bool = False


class ShowPatch(Body):
    title: Title | None = None
    description: Description | None = None
    scheduled_at: When | None = None
    lineup: Lineup | None = None
    playback_url: PlaybackUrl | None = None  # null removes it
    go_live_on_publish: bool | None = None
    end_on_stream_end: bool | None = None

    @model_validator(mode="after")
    def _not_empty(self) -> Self:
        if not self.model_fields_set:
            raise ValueError("send at least one field to change")
        for name in self.model_fields_set - {"playback_url"}:
            if getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        return self


class ShowQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: Literal["upcoming", "live", "ended"] | None = None
    limit: Annotated[int, Field(ge=1, le=100)] = 50
    after: Annotated[int, Field(ge=0, le=MAX_ID)] = 0
