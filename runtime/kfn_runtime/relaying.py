"""Running a ``provided`` function: each event goes through the Lambda Runtime API to the function's
own ``bootstrap`` process, and its answer comes back the same way.

Lambda's semantics, kept by the host:

- One invocation at a time per bootstrap, as in a Lambda sandbox: a second concurrent one is
  refused with 429 (never queued behind the first, which could hold it past its own deadline).
  The gateway sends a provided replica one invocation at a time.
- The deadline is the host's: a bootstrap that overruns is killed, the invocation answered with
  ``Sandbox.Timedout``, and a new bootstrap started at once for the next one.
- A bootstrap that exits mid-invocation: the invocation gets ``Runtime.ExitError`` and a new
  bootstrap is started. One that exits while polling ``next`` loses nothing: an event it had
  not received is handed to its successor.
- Init ends at the bootstrap's first ``next``. The first bootstrap's init error is the process's
  for good, as a Python init error is. A later one, started after a crash, reports its init error
  on the invocation that waited for it (``X-Kfn-Init-Error``); the next invocation tries again.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import time
import uuid
from typing import Any, TextIO

from kfn_runtime import bootstrap, config, context, errors, invoking, logs, metrics, runtime_api

__all__ = ["Relay", "Sandbox", "INIT_TIMEOUT_SECONDS"]

logger = logging.getLogger(__name__)

INIT_TIMEOUT_SECONDS = 10.0
"""Lambda's limit on the init phase: a bootstrap must poll ``next`` within it."""
STOP_GRACE_SECONDS = 0.5
"""Between SIGTERM and SIGKILL when the host stops, as Lambda gives a runtime at shutdown."""


@dataclasses.dataclass(frozen=True, slots=True)
class _Exited:
    delivered: bool
    """Whether the event had gone out to the runtime; if not, a successor can take it."""


@dataclasses.dataclass(frozen=True, slots=True)
class _TimedOut:
    pass


@dataclasses.dataclass(frozen=True, slots=True)
class _Result:
    body: bytes
    kind: str
    init_error: bool = False
    memory_bytes: int | None = None
    """The bootstrap's peak memory, for the REPORT line."""
    ran_since: float | None = None
    """When the event was first handed out (``perf_counter``): Duration counts from there, not
    from an init that came first."""


class Sandbox:
    """One bootstrap process with its own Runtime API endpoint, from launch to close."""

    def __init__(self, process: bootstrap.Process, exchange: runtime_api.Exchange,
                 endpoint: runtime_api.Endpoint, output: bootstrap.Output) -> None:
        self.process = process
        self.init_ms = 0.0
        self.busy = False
        self.exchange = exchange
        self._endpoint = endpoint
        self._output = output
        self._closed = False

    @classmethod
    async def launch(cls, cfg: config.FunctionConfig, identity: context.Identity, *, base_env: dict[str, str],
                     out: TextIO, timeout: float) -> Sandbox:
        """Start the bootstrap and wait for its first ``next``; raises ``errors.InitError``."""
        started = time.perf_counter()
        exchange = runtime_api.Exchange()
        endpoint = await runtime_api.open_endpoint(exchange)
        env = bootstrap.environment(cfg, identity, runtime_api=endpoint.address, base=base_env)
        try:
            output = bootstrap.Output(out)
            try:
                process = await bootstrap.spawn(bootstrap.path_of(cfg), env=env, cwd=cfg.code_dir, output=output)
            except BaseException:
                output.close()
                raise
        except BaseException as e:
            exchange.close()
            await endpoint.close()
            if isinstance(e, errors.InitError):
                _log_init_error(out, e)
            raise
        sandbox = cls(process, exchange, endpoint, output)
        try:
            error = await sandbox._initialised(timeout)
        except BaseException:
            await sandbox.close()
            raise
        sandbox.init_ms = (time.perf_counter() - started) * 1000
        if error is not None:
            await sandbox.close()
            raise error
        return sandbox

    async def run(self, event: runtime_api.Event, timeout: float) -> runtime_api.Reply | _Exited | _TimedOut:
        """Hand ``event`` to the runtime and wait for its answer, its exit, or ``timeout`` seconds."""
        self.busy = True
        reply = self.exchange.submit(event)
        try:
            await asyncio.wait((reply, self.process.exited), timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self.busy = False
        if reply.done():
            self._output.drain()  # the handler's output goes before the END line
            return reply.result()
        delivered = self.exchange.delivered(event.request_id)
        self.exchange.withdraw(event.request_id)
        reply.cancel()
        return _Exited(delivered) if not self.process.alive else _TimedOut()

    async def close(self, grace: float = 0.0) -> None:
        """Stop the bootstrap (SIGTERM first when ``grace``), then its endpoint and output."""
        if self._closed:
            return
        self._closed = True
        if grace > 0:
            await self.process.stop(grace)
        else:
            await self.process.kill()
        self.exchange.close()
        await self._endpoint.close()
        self._output.drain()
        self._output.close()

    async def _initialised(self, timeout: float) -> errors.InitError | None:
        initialised = self.exchange.initialised
        await asyncio.wait((initialised, self.process.exited), timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        if initialised.done() and not initialised.cancelled():
            return initialised.result()  # None, or what the runtime posted to /init/error (and logged)
        if not self.process.alive:
            error = errors.InitError("Runtime.ExitError", self.process.exit_reason())
        else:
            error = errors.InitError("Sandbox.Timedout", f"The runtime did not poll for an invocation within "
                                                         f"{timeout:.2f} seconds of its start")
        self._output.drain()
        _log_init_error(self._output.out, error)
        return error


class Relay:
    """The invoker of a ``provided`` function: the Python ``Invoker``'s counterpart."""

    def __init__(self, cfg: config.FunctionConfig, *, identity: context.Identity, environ: dict[str, str],
                 out: TextIO, counters: metrics.Metrics) -> None:
        self.config = cfg
        self.init_duration_ms = 0.0
        self.in_flight = 0
        self.stuck = 0
        """Always 0: an overrunning bootstrap is killed, never left running."""
        self.unhealthy = False
        self._identity = identity
        self._environ = environ
        self._out = out
        self._counters = counters
        self._log = logs.FunctionLog(out, version=cfg.version, memory_mib=cfg.memory_mib)
        self._init_error: errors.InitError | None = None
        self._sandbox: Sandbox | None = None
        self._launching: asyncio.Task[Sandbox] | None = None
        self._unreported_init: float | None = None
        self._watchers: set[asyncio.Task[None]] = set()
        self._closing = False

    @property
    def init_error(self) -> errors.InitError | None:
        return self._init_error

    @property
    def sandbox(self) -> Sandbox | None:
        """The bootstrap serving invocations now; None between a crash and its successor."""
        return self._sandbox

    async def start(self) -> float:
        """Start the first bootstrap; returns its init duration (ms) or raises ``errors.InitError``."""
        started = time.perf_counter()
        try:
            sandbox = await self._launch()
        except errors.InitError as e:
            self._init_error = e
            self.init_duration_ms = (time.perf_counter() - started) * 1000
            raise
        self.init_duration_ms = sandbox.init_ms
        return sandbox.init_ms

    async def invoke(self, payload: bytes, request_id: str, *, trace_id: str | None = None,
                     client_context: str | None = None) -> invoking.Outcome:
        if self.in_flight:
            self._counters.throttles += 1
            raise invoking.Throttled()
        self.in_flight = 1
        try:
            self._log.start(request_id)
            started = time.perf_counter()
            result = await self._execute(payload, request_id, trace_id, client_context)
            duration_ms = (time.perf_counter() - (result.ran_since or started)) * 1000
        finally:
            self.in_flight = 0
        init_ms, self._unreported_init = self._unreported_init, None
        self._log.end(request_id, duration_ms, init_ms, result.memory_bytes)
        self._counters.observe(result.kind, duration_ms / 1000)
        return invoking.Outcome(result.body, result.kind, duration_ms, result.init_error)

    async def close(self) -> None:
        """Stop the bootstrap and whatever is starting one."""
        self._closing = True
        launching = self._launching
        if launching is not None:
            launching.cancel()
            with contextlib.suppress(asyncio.CancelledError, errors.InitError):
                await launching
        if self._sandbox is not None:
            await self._retire(self._sandbox, grace=STOP_GRACE_SECONDS)
        for watcher in list(self._watchers):
            watcher.cancel()
        await asyncio.gather(*self._watchers, return_exceptions=True)

    async def _execute(self, payload: bytes, request_id: str, trace_id: str | None,
                       client_context: str | None) -> _Result:
        if self._init_error is not None:
            return _Result(_dump(self._init_error.to_object(request_id)), "error", init_error=True)
        timeout = float(self.config.timeout_seconds)
        event: runtime_api.Event | None = None
        deadline = ran_since = 0.0
        while True:
            try:
                sandbox = await self._ready()
            except errors.InitError as e:
                return _Result(_dump(e.to_object(request_id)), "error", init_error=True)
            if event is None:  # the deadline holds across a handover to a successor
                ran_since = time.perf_counter()
                deadline = time.monotonic() + timeout
                event = runtime_api.Event(
                    request_id=request_id, payload=payload, deadline_ms=int((time.time() + timeout) * 1000),
                    function_arn=self._identity.invoked_function_arn, trace_id=trace_id or _new_trace_id(),
                    client_context=client_context)
            outcome = await sandbox.run(event, max(0.0, deadline - time.monotonic()))
            memory = sandbox.process.peak_memory_bytes()
            if isinstance(outcome, runtime_api.Reply):
                kind = "success" if outcome.error_type is None else "error"
                return _Result(outcome.body, kind, memory_bytes=memory, ran_since=ran_since)
            await self._retire(sandbox, relaunch=True)
            if isinstance(outcome, _TimedOut):
                self._log.timed_out(request_id, timeout)
                return _Result(_dump({"errorType": "Sandbox.Timedout",
                                      "errorMessage": f"RequestId: {request_id} Error: Task timed out after "
                                                      f"{timeout:.2f} seconds"}),
                               "timeout", memory_bytes=memory, ran_since=ran_since)
            reason = sandbox.process.exit_reason()
            if not outcome.delivered and deadline > time.monotonic():
                logger.warning("%s: the runtime exited before taking %s (%s); handing it to the next one",
                               self.config.qualified_name, request_id, reason)
                continue
            self._log.runtime_exited(request_id, reason)
            return _Result(_dump({"errorType": "Runtime.ExitError",
                                  "errorMessage": f"RequestId: {request_id} Error: {reason}"}),
                           "error", ran_since=ran_since)

    async def _ready(self) -> Sandbox:
        """The running bootstrap, or one started now (its init error raised)."""
        sandbox = self._sandbox
        if sandbox is not None and sandbox.process.alive:
            return sandbox
        if sandbox is not None:
            await self._retire(sandbox)
        launching = self._launching or self._relaunch()
        return await asyncio.shield(launching)

    def _relaunch(self) -> asyncio.Task[Sandbox]:
        task = asyncio.get_running_loop().create_task(self._launch())
        self._launching = task
        task.add_done_callback(_retrieved)
        return task

    async def _launch(self) -> Sandbox:
        try:
            sandbox = await Sandbox.launch(self.config, self._identity, base_env=dict(self._environ), out=self._out,
                                           timeout=INIT_TIMEOUT_SECONDS)
        except errors.InitError as e:
            logger.warning("%s: the runtime failed to initialise: %s: %s", self.config.qualified_name,
                           e.error_type, e.message)
            raise
        finally:
            self._launching = None
        if self._closing:
            await sandbox.close()
            raise asyncio.CancelledError()
        self._sandbox = sandbox
        self._unreported_init = sandbox.init_ms
        watcher = asyncio.get_running_loop().create_task(self._watch(sandbox))
        self._watchers.add(watcher)
        watcher.add_done_callback(self._watchers.discard)
        logger.info("%s: runtime %d initialised in %.1f ms", self.config.qualified_name, sandbox.process.pid,
                    sandbox.init_ms)
        return sandbox

    async def _watch(self, sandbox: Sandbox) -> None:
        """Clean up after a bootstrap that exits between invocations; the next one starts another."""
        await asyncio.shield(sandbox.process.exited)
        if not sandbox.busy and self._sandbox is sandbox and not self._closing:
            logger.warning("%s: runtime %d exited between invocations: %s", self.config.qualified_name,
                           sandbox.process.pid, sandbox.process.exit_reason())
            await self._retire(sandbox)

    async def _retire(self, sandbox: Sandbox, *, relaunch: bool = False, grace: float = 0.0) -> None:
        if self._sandbox is sandbox:
            self._sandbox = None
        await sandbox.close(grace)
        if relaunch and not self._closing and self._sandbox is None and self._launching is None:
            self._relaunch()


def _retrieved(task: asyncio.Task[Any]) -> None:
    """A launch nobody waits for (a restart ahead of need) must not log its failure as lost."""
    if not task.cancelled():
        task.exception()


def _log_init_error(out: TextIO, error: errors.InitError) -> None:
    """What the runtime could not write itself: it never started, died, or hung."""
    out.write(logs.format_error(error.to_object()))
    if not getattr(out, "line_buffering", False):
        out.flush()


def _new_trace_id() -> str:
    """An X-Ray trace header as Lambda passes one, unsampled."""
    return f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]};Parent={uuid.uuid4().hex[:16]};Sampled=0"


def _dump(value: Any) -> bytes:
    return json.dumps(value).encode()
