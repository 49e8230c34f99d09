"""A runtime process's life: load, listen, announce the port, serve until signalled, drain, stop."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
from collections.abc import MutableMapping
from typing import TextIO

from aiohttp import web

from kfn_runtime import errors, hosting, memory, server, settings

__all__ = ["serve"]

logger = logging.getLogger(__name__)


async def serve(cfg: settings.Settings, *, environ: MutableMapping[str, str], out: TextIO) -> hosting.Host:
    """Serve until SIGTERM or SIGINT, then drain; returns the host so the caller can see what is left."""
    host = hosting.Host(environ=environ, out=out)
    watch = memory.MemoryWatch(lambda: host.memory_limit_bytes) if cfg.memory_watch else None
    if watch is not None:
        watch.start()
    if cfg.ready_fd is not None:
        # A bootstrap started before the announcement must not hold the pipe open: uvloop does
        # not close a child's inherited descriptors (close_fds).
        os.set_inheritable(cfg.ready_fd, False)
    if cfg.function is not None:
        try:
            await host.load(cfg.function)
        except errors.InitError:
            pass  # the process stays up and answers the init error on every invocation, as Lambda does
    stop = _stop_on_signals()
    watcher = None if cfg.parent_pid is None else asyncio.get_running_loop().create_task(
        _watch_parent(cfg.parent_pid, stop))
    runner = web.AppRunner(server.build_app(host), access_log=None, handle_signals=False)
    await runner.setup()
    try:
        site = web.TCPSite(runner, cfg.host, cfg.port, reuse_address=True)
        await site.start()
        port = runner.addresses[0][1]
        if cfg.ready_fd is not None and not _announce(cfg.ready_fd, port):
            logger.warning("the parent process stopped listening before we started: exiting")
            stop.set()
        logger.info("listening on %s:%d%s", cfg.host, port, " (pool)" if cfg.pool else "")
        await stop.wait()
        logger.info("draining: %d invocation(s) in flight", 0 if host.invoker is None else host.invoker.in_flight)
        await host.drain()
    finally:
        if watcher is not None:
            watcher.cancel()
        if watch is not None:
            watch.stop()
        await runner.cleanup()
        await host.close()
    return host


async def _watch_parent(parent_pid: int, stop: asyncio.Event, interval: float = 0.5) -> None:
    """Stop when the parent is gone (re-parented to init or a subreaper)."""
    while os.getppid() == parent_pid:
        await asyncio.sleep(interval)
    logger.warning("parent process %d is gone: stopping", parent_pid)
    stop.set()


def _stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop


def _announce(fd: int, port: int) -> bool:
    """Tell the parent process which port we listen on: one JSON line, then EOF. False when
    nobody reads any more (the parent died while we started)."""
    try:
        os.write(fd, (json.dumps({"port": port, "pid": os.getpid()}) + "\n").encode())
        return True
    except BrokenPipeError:
        return False
    finally:
        os.close(fd)
