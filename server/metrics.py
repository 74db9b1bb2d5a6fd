"""Prometheus metrics: one registry per app, request counters, errors, event-loop lag."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import time
from collections.abc import AsyncIterator, Iterator

from aiohttp import web
from aiohttp.typedefs import Handler
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

from server.embedded_redis import EmbeddedRedis
from server.keys import registry_key

log = logging.getLogger(__name__)


class Metrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "http_requests",
            "HTTP requests served",
            ["method", "route", "status"],
            registry=registry,
        )
        self.errors = Counter(
            "http_errors", "HTTP answers with a 5xx status", ["route"], registry=registry
        )
        self.latency = Histogram(
            "http_request_duration_seconds", "Time to answer", ["route"], registry=registry
        )
        self.loop_lag = Gauge(
            "event_loop_lag_seconds", "How late a 0.5 s timer fired, last sample", registry=registry
        )
        self.loop_lag_max = Gauge(
            "event_loop_lag_max_seconds", "Worst event-loop lag since start", registry=registry
        )


metrics_key = web.AppKey("metrics", Metrics)


class EmbeddedRedisCollector(Collector):
    """The embedded Redis's supervision, read when scraped."""

    def __init__(self, server: EmbeddedRedis) -> None:
        self.server = server

    def collect(self) -> Iterator[Metric]:
        server = self.server
        yield GaugeMetricFamily(
            "embedded_redis_up",
            "1 while the embedded Redis runs, 0 while it is down or restarting",
            value=1.0 if server.state == "up" else 0.0,
        )
        yield CounterMetricFamily(
            "embedded_redis_restarts",
            "Times the embedded Redis exited on its own and was started again",
            value=server.restarts,
        )
        yield GaugeMetricFamily(
            "embedded_redis_failures",
            "Failed restarts (or quick deaths) of the embedded Redis in a row",
            value=server.failures,
        )


def route_name(request: web.Request) -> str:
    # The route template, never the raw path: ids in paths would explode label cardinality.
    info = request.match_info.route.resource
    return info.canonical if info is not None else "unmatched"


@web.middleware
async def metrics_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    metrics = request.app[metrics_key]
    route = route_name(request)
    start = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        metrics.requests.labels(request.method, route, str(status)).inc()
        metrics.latency.labels(route).observe(time.perf_counter() - start)
        if status >= 500:
            metrics.errors.labels(route).inc()


async def loop_lag_ctx(app: web.Application) -> AsyncIterator[None]:
    metrics = app[metrics_key]

    async def sample() -> None:
        interval = 0.5
        while True:
            start = time.perf_counter()
            await asyncio.sleep(interval)
            lag = max(0.0, time.perf_counter() - start - interval)
            metrics.loop_lag.set(lag)
            if lag > metrics.loop_lag_max._value.get():
                metrics.loop_lag_max.set(lag)

    task = asyncio.create_task(sample(), name="loop-lag")
    yield
    task.cancel()


async def gc_signal_ctx(app: web.Application) -> AsyncIterator[None]:
    """`kill -USR2 <pid>` runs a full garbage collection (a benchmark measures memory after
    one; an operator can tell garbage from growth)."""

    def collect() -> None:
        log.info("garbage collected", extra={"objects": gc.collect()})

    loop = asyncio.get_running_loop()
    try:
        loop.add_signal_handler(signal.SIGUSR2, collect)
    except (NotImplementedError, RuntimeError):  # not the main thread (tests), or no signals
        yield
        return
    yield
    loop.remove_signal_handler(signal.SIGUSR2)


async def metrics_view(request: web.Request) -> web.Response:
    body = generate_latest(request.app[registry_key])
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
