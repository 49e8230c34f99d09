"""Running one invocation of the loaded function: limit, context, timeout, result or error, logs.

Knows nothing of HTTP: it turns an event into an ``Outcome`` (the JSON body Lambda would return
and how it ended), so it is tested without a server.
"""

from __future__ import annotations

import asyncio
import dataclasses
import decimal
import json
import time
from typing import Any, TextIO

from kfn_runtime import config, context, errors, loading, logs, metrics, threads

__all__ = ["Invoker", "Outcome", "Throttled"]


class Throttled(Exception):
    """``concurrency`` invocations are in flight already; Lambda answers 429 TooManyRequestsException."""


@dataclasses.dataclass(frozen=True, slots=True)
class Outcome:
    body: bytes
    """The JSON payload: the handler's result, or Lambda's error object."""
    kind: str
    """How it ended: one of ``metrics.OUTCOMES``."""
    duration_ms: float
    init_error: bool = False
    """The function failed to initialise, so the handler never ran."""


class Invoker:
    """Runs invocations of one function, loaded or failed to load, in this process."""

    def __init__(self, cfg: config.FunctionConfig, target: loading.Loaded | errors.InitError, *,
                 identity: context.Identity, init_duration_ms: float, out: TextIO,
                 counters: metrics.Metrics) -> None:
        self.config = cfg
        self.init_duration_ms = init_duration_ms
        self.in_flight = 0
        self.stuck = 0
        """Timed-out invocations whose handler has not stopped yet."""
        self._target = target
        self._identity = identity
        self._counters = counters
        self._log = logs.FunctionLog(out, version=cfg.version, memory_mib=cfg.memory_mib)
        self._unreported_init: float | None = init_duration_ms
        sync = isinstance(target, loading.Loaded) and not target.is_async
        self._threads = threads.HandlerThreads(cfg.concurrency) if sync else None

    @property
    def init_error(self) -> errors.InitError | None:
        return self._target if isinstance(self._target, errors.InitError) else None

    @property
    def unhealthy(self) -> bool:
        """More stuck invocations than the pool has spare threads: the host should be replaced."""
        return self.stuck > self.config.concurrency

    async def invoke(self, event: Any, request_id: str) -> Outcome:
        if self.in_flight >= self.config.concurrency:
            self._counters.throttles += 1
            raise Throttled()
        self.in_flight += 1
        token = logs.request_id.set(request_id)
        try:
            self._log.start(request_id)
            started = time.perf_counter()
            body, kind = await self._execute(event, request_id)
            duration_ms = (time.perf_counter() - started) * 1000
        finally:
            self.in_flight -= 1
            logs.request_id.reset(token)
        init_ms, self._unreported_init = self._unreported_init, None
        self._log.end(request_id, duration_ms, init_ms)
        self._counters.observe(kind, duration_ms / 1000)
        return Outcome(body, kind, duration_ms, self.init_error is not None)

    def close(self) -> None:
        if self._threads is not None:
            self._threads.shutdown()

    async def _execute(self, event: Any, request_id: str) -> tuple[bytes, str]:
        target = self._target
        if isinstance(target, errors.InitError):
            return _dump(target.to_object(request_id)), "error"
        timeout = self.config.timeout_seconds
        ctx = context.LambdaContext(self._identity, request_id, time.monotonic() + timeout)
        job: threads.Job | None = None
        if self._threads is None:
            future: asyncio.Future[Any] = asyncio.get_running_loop().create_task(_call_async(target, event, ctx))
        else:
            future, job = self._threads.submit(target.handler, event, ctx)
        if not await _settled(future, timeout):
            self._abandon(future, job)
            self._log.timed_out(request_id, timeout)
            return _dump({"errorType": "Sandbox.Timedout",
                          "errorMessage": f"RequestId: {request_id} Error: Task timed out after "
                                          f"{timeout:.2f} seconds"}), "timeout"
        exc = asyncio.CancelledError() if future.cancelled() else future.exception()
        if exc is not None:
            return self._error(errors.from_exception(exc, request_id)), "error"
        try:
            return _RESULT_ENCODER.encode(future.result()).encode(), "success"
        except (TypeError, ValueError) as e:
            return self._error({"errorMessage": f"Unable to marshal response: {e}",
                                "errorType": "Runtime.MarshalError", "requestId": request_id,
                                "stackTrace": []}), "error"

    def _error(self, error: errors.ErrorObject) -> bytes:
        self._log.error(error)
        return _dump(error)

    def _abandon(self, future: asyncio.Future[Any], job: threads.Job | None) -> None:
        """Answer without the handler, and try to stop it: cancel a coroutine, interrupt a thread."""
        if job is not None and self._threads is not None:
            self._threads.interrupt(job)
        else:
            future.cancel()
        self.stuck += 1
        future.add_done_callback(self._stopped)

    def _stopped(self, future: asyncio.Future[Any]) -> None:
        self.stuck -= 1
        if not future.cancelled():
            future.exception()  # retrieved, so asyncio does not log it as lost


async def _settled(future: asyncio.Future[Any], timeout: float) -> bool:
    """Wait for ``future`` at most ``timeout`` seconds, leaving it running; whether it finished.

    ``asyncio.wait`` does the same at several times the cost, on every invocation.
    """
    waiter = asyncio.get_running_loop().create_future()

    def wake(_: object = None) -> None:
        if not waiter.done():
            waiter.set_result(None)

    future.add_done_callback(wake)
    timer = waiter.get_loop().call_later(timeout, wake)
    try:
        await waiter
    finally:
        timer.cancel()
        future.remove_done_callback(wake)
    return future.done()


async def _call_async(target: loading.Loaded, event: Any, ctx: context.LambdaContext) -> Any:
    return await target.handler(event, ctx)


def _decimal_to_float(value: object) -> object:
    """awslambdaric's serializer: Decimals (as DynamoDB returns numbers) become floats."""
    if isinstance(value, decimal.Decimal):
        return float(value)
    raise TypeError(f"{value!r} is not JSON serializable")


_RESULT_ENCODER = json.JSONEncoder(default=_decimal_to_float)


def _dump(value: Any) -> bytes:
    return json.dumps(value).encode()
