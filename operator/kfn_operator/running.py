"""Running the operator: clients opened, kopf started with kfn's handlers, everything closed after."""

from __future__ import annotations

import asyncio
import sys
import threading
from typing import Any

import aiohttp
import kopf

from kfn import logformat
from kfn_operator import autoscaling, context, handlers, kube
from kfn_operator.settings import OperatorSettings

__all__ = ["run", "main"]


async def run(settings: OperatorSettings, configuration: kube.Configuration, *,
              stop_flag: asyncio.Event | threading.Event | None = None,
              ready_flag: asyncio.Event | threading.Event | None = None) -> None:
    async with kube.Api(configuration, settings.api_timeout) as client, aiohttp.ClientSession() as session:
        ctx = context.Context(settings=settings, api=client, stats=autoscaling.StatsReader(settings, session))
        kwargs: dict[str, Any] = {"namespaces": settings.namespaces} if settings.namespaces else {"clusterwide": True}
        await kopf.operator(registry=handlers.registry(settings), memo=kopf.Memo(kfn=ctx), standalone=True,
                            stop_flag=stop_flag, ready_flag=ready_flag, **kwargs)


def main(settings: OperatorSettings, *, kubeconfig: str | None, context_name: str | None, in_cluster: bool) -> int:
    """``kfn operator``: run until SIGINT/SIGTERM (kopf handles the signals); returns the exit code."""
    logformat.configure_root(settings.log_format)

    async def start() -> int:
        try:
            configuration = await kube.load_configuration(kubeconfig, context_name, in_cluster)
        except kube.ApiError as exc:
            print(f"kfn operator: {exc.message}", file=sys.stderr)
            return 2
        await run(settings, configuration)
        return 0

    return asyncio.run(start())
