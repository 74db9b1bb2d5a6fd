from pathlib import Path
from typing import Any

import pytest
import redis.exceptions
from aiohttp.test_utils import TestClient

from server.embedded_redis import EmbeddedRedis
from server.keys import embedded_redis_key
from tests.backends import Backend
from tests.conftest import ClientFactory


async def test_healthz(client: TestClient[Any, Any]) -> None:
    resp = await client.get("/healthz")
    assert resp.status == 200
    assert await resp.json() == {"status": "ok"}


async def test_readyz_names_the_backends(client: TestClient[Any, Any], backend: Backend) -> None:
    resp = await client.get("/readyz")
    assert resp.status == 200
    body = await resp.json()
    assert body["status"] == "ok"
    assert body["database"] == backend.database
    assert body["redis"] == backend.redis
    assert body["version"]


async def test_readyz_503_names_redis_when_it_is_gone(
    make_client: ClientFactory, backend: Backend, tmp_path: Path
) -> None:
    if backend.redis == "embedded":
        client = await make_client()
        server = client.app[embedded_redis_key]
        assert server is not None
    else:
        # The shared Redis must never be stopped: this test kills a throwaway one of its own.
        server = EmbeddedRedis(tmp_path / "throwaway")
        await server.start()
        client = await make_client(redis_url=server.url)
    assert (await client.get("/readyz")).status == 200
    await server.stop()
    resp = await client.get("/readyz")
    assert resp.status == 503
    body = await resp.json()
    assert body["status"] == "unavailable"
    assert body["failing"] == ["redis"]


async def test_app_refuses_to_start_without_its_redis(make_client: ClientFactory) -> None:
    # No silent fallback to another server: an unreachable REDIS_URL stops start-up.
    with pytest.raises(redis.exceptions.ConnectionError):
        await make_client(redis_url="redis://127.0.0.1:1/0")


async def test_metrics_count_requests_by_route(client: TestClient[Any, Any]) -> None:
    await client.get("/healthz")
    await client.get("/api/shows/999")
    text = await (await client.get("/metrics")).text()
    assert 'http_requests_total{method="GET",route="/healthz",status="200"} 1.0' in text
    assert 'route="/api/shows/{show_id}",status="404"' in text
    assert "event_loop_lag_seconds" in text


async def test_unknown_route_is_a_json_404(client: TestClient[Any, Any]) -> None:
    resp = await client.get("/api/nope")
    assert resp.status == 404
    assert (await resp.json())["error"]["code"] == "not_found"


async def test_wrong_method_is_a_json_405(client: TestClient[Any, Any]) -> None:
    resp = await client.delete("/healthz")
    assert resp.status == 405
    assert (await resp.json())["error"]["code"] == "method_not_allowed"
