"""The state of one runtime process: which function it hosts, and whether it takes invocations.

A process starts idle (pool mode) or loads its function at once; a load happens at most once,
successful or not, because loading changes the process for good. After SIGTERM it drains.
A Python function is imported into this process (``invoking``); a ``provided`` one runs as its
own ``bootstrap`` child process behind the Lambda Runtime API (``relaying``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import MutableMapping
from typing import Any, TextIO

from kfn_runtime import config, context, errors, invoking, loading, logs, metrics, relaying

__all__ = ["Host", "AlreadyLoaded"]

logger = logging.getLogger(__name__)

_DRAIN_POLL_SECONDS = 0.01


class AlreadyLoaded(Exception):
    """This process hosts (or is loading) a function already: a runtime serves one function for life."""


class Host:
    def __init__(self, *, environ: MutableMapping[str, str], out: TextIO) -> None:
        self.invoker: invoking.Invoker | relaying.Relay | None = None
        """Set once a load has finished, whether the function initialised or not."""
        self.draining = False
        self.memory_limit_bytes: int | None = None
        """The loaded function's ``memoryMiB`` in bytes, from the start of its init (``memory.MemoryWatch``)."""
        self.counters = metrics.Metrics()
        self._environ = environ
        self._out = out
        self._loading = False

    async def load(self, cfg: config.FunctionConfig) -> float:
        """Initialise ``cfg`` and return the init duration (ms); raises ``errors.InitError``.

        After an init error the process keeps the error and answers it on every invocation, as
        Lambda reports init errors on the invocation.
        """
        if self._loading or self.invoker is not None:
            raise AlreadyLoaded(self._describe())
        self._loading = True
        self.memory_limit_bytes = cfg.memory_mib * 1024 * 1024
        identity = context.identify(cfg)
        if cfg.runtime == config.PROVIDED:
            return await self._start_provided(cfg, identity)
        started = time.perf_counter()
        try:
            target: loading.Loaded | errors.InitError = await asyncio.to_thread(
                loading.load, cfg, identity, self._environ)
        except errors.InitError as e:
            target = e
        init_ms = (time.perf_counter() - started) * 1000
        self.invoker = invoking.Invoker(cfg, target, identity=identity, init_duration_ms=init_ms,
                                        out=self._out, counters=self.counters)
        if isinstance(target, errors.InitError):
            self._out.write(logs.format_error(target.to_object()))
            self._out.flush()
            logger.warning("%s failed to initialise: %s: %s", cfg.qualified_name, target.error_type, target.message)
            raise target
        logger.info("%s loaded in %.1f ms", cfg.qualified_name, init_ms)
        return init_ms

    async def _start_provided(self, cfg: config.FunctionConfig, identity: context.Identity) -> float:
        relay = relaying.Relay(cfg, identity=identity, environ=dict(self._environ), out=self._out,
                               counters=self.counters)
        try:
            init_ms = await relay.start()
        except errors.InitError as e:
            self.invoker = relay
            logger.warning("%s failed to initialise: %s: %s", cfg.qualified_name, e.error_type, e.message)
            raise
        except BaseException:
            await relay.close()
            raise
        self.invoker = relay
        logger.info("%s bootstrap ready in %.1f ms", cfg.qualified_name, init_ms)
        return init_ms

    def health(self) -> tuple[int, dict[str, Any]]:
        """The ``/healthz`` status and body: 200 only when invocations can succeed."""
        invoker = self.invoker
        if self.draining:
            return 503, {"status": "draining"}
        if invoker is None:
            return 503, {"status": "loading" if self._loading else "idle"}
        init_error = invoker.init_error
        if init_error is not None:
            return 503, {"status": "initError", **init_error.to_object()}
        if invoker.unhealthy:
            return 503, {"status": "unhealthy", "reason": "stuck invocations"}
        return 200, {"status": "ready", "function": invoker.config.qualified_name, "inFlight": invoker.in_flight,
                     "initDurationMs": round(invoker.init_duration_ms, 3)}

    def render_metrics(self) -> str:
        invoker = self.invoker
        return metrics.render(self.counters, in_flight=0 if invoker is None else invoker.in_flight,
                              stuck=0 if invoker is None else invoker.stuck,
                              max_memory_bytes=logs.max_memory_bytes())

    @property
    def stuck(self) -> int:
        return 0 if self.invoker is None else self.invoker.stuck

    async def drain(self) -> None:
        """Refuse new invocations and wait for those in flight; each ends by its deadline at the latest."""
        self.draining = True
        invoker = self.invoker
        if invoker is None:
            return
        deadline = time.monotonic() + invoker.config.timeout_seconds + 1
        while invoker.in_flight and time.monotonic() < deadline:
            await asyncio.sleep(_DRAIN_POLL_SECONDS)

    async def close(self) -> None:
        """Release what the function holds: handler threads, or the bootstrap process."""
        if isinstance(self.invoker, relaying.Relay):
            await self.invoker.close()
        elif self.invoker is not None:
            self.invoker.close()

    def _describe(self) -> str:
        if self.invoker is None:
            return "a function is loading"
        return f"{self.invoker.config.qualified_name} is loaded"
