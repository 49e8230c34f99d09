"""Running the operator: clients opened, kopf started with kfn's handlers, everything closed after."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import threading
from typing import Any, Callable

import aiohttp
import kopf

from kfn import logformat
from kfn_operator import autoscaling, context, handlers, kube, metrics, serving
from kfn_operator.settings import OperatorSettings

__all__ = ["run", "main"]


async def run(settings: OperatorSettings, configuration: kube.Configuration, *,
              stop_flag: asyncio.Event | threading.Event | None = None,
              ready_flag: asyncio.Event | threading.Event | None = None,
              listening: Callable[[str], None] | None = None) -> None:
    """Run kopf with kfn's handlers and the health/metrics server until stopped or cancelled.
    ``listening`` gets the server's base URL once it is bound (``serving.CannotListen`` if it cannot be)."""
    ready = ready_flag if ready_flag is not None else asyncio.Event()
    metrics_ = metrics.Metrics()
    async with contextlib.AsyncExitStack() as stack:
        url = await stack.enter_async_context(serving.serving(settings.host, settings.port, metrics_, ready))
        if listening is not None:
            listening(url)
        client = await stack.enter_async_context(kube.Api(configuration, settings.api_timeout))
        session = await stack.enter_async_context(aiohttp.ClientSession())
        ctx = context.Context(settings=settings, api=client, metrics=metrics_,
                              stats=autoscaling.StatsReader(settings, session, metrics_))
        kwargs: dict[str, Any] = {"namespaces": settings.namespaces} if settings.namespaces else {"clusterwide": True}
        await kopf.operator(registry=handlers.registry(settings), memo=kopf.Memo(kfn=ctx), standalone=True,
                            stop_flag=stop_flag, ready_flag=ready, **kwargs)


def main(settings: OperatorSettings, *, kubeconfig: str | None, context_name: str | None, in_cluster: bool) -> int:
    """``kfn operator``: run until SIGINT/SIGTERM (kopf handles the signals); returns the exit code."""
    logformat.configure_root(settings.log_format)

    async def start() -> int:
        try:
            configuration = await kube.load_configuration(kubeconfig, context_name, in_cluster)
        except kube.ApiError as exc:
            print(f"kfn operator: {exc.message}", file=sys.stderr)
            return 2
        try:
            await run(settings, configuration, listening=lambda url: print(
                f"kfn operator: health and metrics on {url} (/healthz, /readyz, /metrics)", flush=True))
        except serving.CannotListen as exc:
            print(f"kfn operator: {exc}", file=sys.stderr)
            return 2
        return 0

    return asyncio.run(start())
