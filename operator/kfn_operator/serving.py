"""The operator's own small HTTP server: liveness, readiness and Prometheus metrics.

``/healthz`` answers while the event loop does (the liveness probe: a stuck loop stops answering);
``/readyz`` answers 200 once kopf has started (logged in, handlers registered) and 503 before;
``/metrics`` is :class:`kfn_operator.metrics.Metrics`. Nothing else is served: the operator takes
no requests that change anything.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from typing import AsyncIterator

from aiohttp import web

from kfn_operator.metrics import Metrics

__all__ = ["build_app", "serving", "CannotListen"]


class CannotListen(Exception):
    """The health/metrics address cannot be bound (in use, not local); the message names the settings."""

METRICS = web.AppKey("metrics", Metrics)
READY: web.AppKey[asyncio.Event | threading.Event] = web.AppKey("ready")
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    if not request.app[READY].is_set():
        return web.json_response({"status": "starting"}, status=503)
    return web.json_response({"status": "ready"})


async def metrics(request: web.Request) -> web.Response:
    return web.Response(body=request.app[METRICS].exposition(), headers={"Content-Type": CONTENT_TYPE})


def build_app(metrics_: Metrics, ready: asyncio.Event | threading.Event) -> web.Application:
    app = web.Application(client_max_size=1024)  # nothing takes a body
    app[METRICS] = metrics_
    app[READY] = ready
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    return app


@contextlib.asynccontextmanager
async def serving(host: str, port: int, metrics_: Metrics,
                  ready: asyncio.Event | threading.Event) -> AsyncIterator[str]:
    """Serve until the block ends; yields the base URL (the bound port when ``port`` is 0)."""
    runner = web.AppRunner(build_app(metrics_, ready), access_log=None, handle_signals=False)
    await runner.setup()
    try:
        try:
            await web.TCPSite(runner, host, port).start()
        except OSError as exc:
            raise CannotListen(f"cannot listen on {host}:{port} (KFN_HOST, KFN_PORT): {exc.strerror or exc}") from None
        yield f"http://{host}:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()
