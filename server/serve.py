"""Serving the app until a stop signal, then draining it, however many signals arrive.

Not `web.run_app`: it raises GracefulExit from every SIGTERM or SIGINT, so a second signal
(`make run` gets one from the terminal or the supervisor's group signal and forwards another)
lands in the middle of cleanup: the cleanup contexts are cancelled, the process ends with a
CleanupError traceback and exit code 1, and a signal after aiohttp removes its handlers kills it.
Here the first signal starts the graceful stop and the others are only logged.
"""

from __future__ import annotations

import asyncio
import logging
import signal

from aiohttp import web

from server.access_log import AccessLogger
from server.settings import Settings

log = logging.getLogger("server")

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
# As run_app had it: an idle keep-alive connection is closed after this.
_KEEPALIVE_TIMEOUT = 75.0


class _StopRequest:
    """The loop's handler for every stop signal: the first one asks to stop."""

    def __init__(self) -> None:
        self.event = asyncio.Event()

    def __call__(self, sig: signal.Signals) -> None:
        if self.event.is_set():
            log.info("already stopping; signal ignored", extra={"signal": sig.name})
            return
        log.info("stopping", extra={"signal": sig.name})
        self.event.set()


async def serve(app: web.Application, settings: Settings) -> None:
    """Listen until a stop signal; then stop listening, give requests in flight
    SHUTDOWN_TIMEOUT to finish, and run the app's cleanup (sockets, Redis, the database)."""
    loop = asyncio.get_running_loop()
    stop = _StopRequest()
    # Before setup: a signal while the embedded Redis starts still stops in order.
    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, stop, sig)
    runner = web.AppRunner(
        app,
        access_log_class=AccessLogger,
        keepalive_timeout=_KEEPALIVE_TIMEOUT,
        shutdown_timeout=settings.shutdown_timeout,
    )
    await runner.setup()
    try:
        if not stop.event.is_set():
            await web.TCPSite(runner, settings.host, settings.port).start()
            log.info("listening", extra={"url": settings.base_url})
            await stop.event.wait()
    finally:
        try:
            await runner.cleanup()
        finally:
            # From here until the process ends, a stop signal must not kill it with the
            # default action: the loop's handlers go when the loop closes, and
            # `ignore_stop_signals` runs after that. In between, this thread holds them pending
            # (and setting SIG_IGN then discards them).
            signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    log.info("stopped")


def ignore_stop_signals() -> None:
    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)


def run(app: web.Application, settings: Settings) -> None:
    try:
        asyncio.run(serve(app, settings))
    finally:
        ignore_stop_signals()
