"""One structured access-log line per request, without the query string (nor the ingest
callbacks' secret)."""

from __future__ import annotations

from aiohttp.abc import AbstractAccessLogger
from aiohttp.web import BaseRequest, StreamResponse


class AccessLogger(AbstractAccessLogger):
    def log(self, request: BaseRequest, response: StreamResponse, time: float) -> None:
        self.logger.info(
            "request",
            extra={
                "method": request.method,
                "path": _redact(request.path),
                "status": response.status,
                "ms": round(time * 1000, 1),
                "remote": request.remote,
            },
        )


def _redact(path: str) -> str:
    """The ingest callbacks' shared secret is a path segment: never logged."""
    parts = path.split("/")
    if len(parts) == 5 and parts[1:3] == ["api", "ingest"]:
        parts[3] = "***"
        return "/".join(parts)
    return path
