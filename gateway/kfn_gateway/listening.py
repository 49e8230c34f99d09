"""What ``kfn dev`` and ``kfn gateway`` share as processes: binding the port, and stopping on a signal."""

from __future__ import annotations

import asyncio
import signal

from aiohttp import web

from kfn_gateway.settings import GatewaySettings

__all__ = ["CannotListen", "listen", "stop_on_signals"]


class CannotListen(Exception):
    """The gateway's address cannot be bound (in use, not local); the message names the address."""


async def listen(runner: web.AppRunner, settings: GatewaySettings) -> str:
    """Bind ``settings.host:port`` and return the base URL (with the port chosen when it is 0)."""
    try:
        await web.TCPSite(runner, settings.host, settings.port, reuse_address=True, backlog=1024).start()
    except OSError as exc:
        raise CannotListen(f"cannot listen on {settings.host}:{settings.port}: {exc.strerror or exc}") from None
    host = settings.host if ":" not in settings.host else f"[{settings.host}]"
    return f"http://{host}:{runner.addresses[0][1]}"


def stop_on_signals() -> asyncio.Event:
    """An event set by SIGINT or SIGTERM (the running loop's handlers)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop
