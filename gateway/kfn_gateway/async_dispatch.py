"""Running queued async invocations: claim, invoke, retry with backoff, hand failures on.

One loop per function claims due events (at most ``concurrency.max`` at a time) and invokes them
through the same ``Invoker`` as synchronous requests, so throttling, scale-from-zero and metrics
are shared. As Lambda does: a function error counts toward ``async.maxRetries`` and is retried
with exponential backoff; a throttle or a function that cannot start is retried without counting,
until ``maxEventAgeSeconds``; an exhausted event goes to ``onFailure`` (queued atomically with
its removal) or is dropped and counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import random
import time

from kfn_gateway import destinations
from kfn_gateway.dispatching import FunctionState
from kfn_gateway.invoking import Invoker
from kfn_gateway.metrics import Metrics
from kfn_gateway.outcomes import GatewayError, Kind, Outcome
from kfn_gateway.queueing import AsyncEvent, Queue, new_event

__all__ = ["AsyncSettings", "AsyncDispatcher", "backoff"]

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class AsyncSettings:
    retry_base: float = 1.0
    """Seconds before the first retry after a function error; doubled at each further one."""
    retry_max: float = 300.0
    """Longest wait between two attempts, seconds."""
    throttle_delay: float = 0.5
    """Seconds before an event refused by a throttle (or an unready function) is tried again."""
    poll_interval: float = 1.0
    """Longest a function's loop sleeps without looking at the queue (new events also wake it)."""
    lease_grace: float = 30.0
    """Seconds a claim outlives the function's timeout before another worker may take the event."""


def backoff(attempts: int, base: float, cap: float, jitter: float) -> float:
    """Delay before attempt ``attempts + 1``: base·2^(attempts-1), capped, with ±10 % jitter. Pure."""
    delay = min(cap, base * (2 ** max(0, attempts - 1)))
    return max(0.0, delay * (1 + 0.1 * (2 * jitter - 1)))


class AsyncDispatcher:
    def __init__(self, settings: AsyncSettings, queue: Queue, invoker: Invoker, metrics: Metrics,
                 states: dict[str, FunctionState]) -> None:
        self.settings = settings
        self.queue = queue
        self.invoker = invoker
        self.metrics = metrics
        self.states = states
        self.wakeups: dict[str, asyncio.Event] = {}
        self.loops: dict[str, asyncio.Task[None]] = {}
        self.depth_task: asyncio.Task[None] | None = None

    async def enqueue(self, events: list[AsyncEvent], source: str) -> None:
        """Queue durably, count, and wake the functions' loops; raises if the queue fails."""
        await self.queue.put(events)
        for event in events:
            state = self.states.get(event.function)
            if state is not None:
                self.metrics.async_received.labels(state.fn.namespace, state.fn.name, source).inc()
                self.metrics.queue_depth.labels(state.fn.namespace, state.fn.name).inc()
            wake = self.wakeups.get(event.function)
            if wake is not None:
                wake.set()

    def start(self) -> None:
        """Serve every function known now; in a cluster, more join through ``add_function``."""
        for state in self.states.values():
            self.add_function(state)
        self.depth_task = asyncio.get_running_loop().create_task(self._depth_loop())

    def add_function(self, state: FunctionState) -> None:
        """Start running ``state``'s queued events (idempotent)."""
        if state.key in self.loops:
            return
        self.wakeups[state.key] = asyncio.Event()
        self.loops[state.key] = asyncio.get_running_loop().create_task(self._function_loop(state),
                                                                       name=f"async:{state.key}")

    def remove_function(self, key: str) -> None:
        """Stop claiming events for a deleted function; its queued events stay for a later one."""
        task = self.loops.pop(key, None)
        if task is not None:
            task.cancel()
        self.wakeups.pop(key, None)

    async def stop(self) -> None:
        tasks = list(self.loops.values()) + ([self.depth_task] if self.depth_task else [])
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.loops.clear()
        self.depth_task = None

    async def _depth_loop(self) -> None:
        while True:
            try:
                depth = await self.queue.depth()
                for key, state in self.states.items():
                    self.metrics.queue_depth.labels(state.fn.namespace, state.fn.name).set(depth.get(key, 0))
            except Exception:  # noqa: BLE001 - a gauge must not stop the gateway
                logger.exception("async queue depth")
            await asyncio.sleep(2.0)

    async def _function_loop(self, state: FunctionState) -> None:
        running: set[asyncio.Task[None]] = set()
        wake = self.wakeups[state.key]
        limit = state.fn.spec.concurrency.max
        lease = state.fn.spec.timeout_seconds + self.settings.lease_grace
        try:
            while True:
                if len(running) >= limit:
                    await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                    continue
                wake.clear()
                now = time.time()
                try:
                    events = await self.queue.claim(state.key, limit - len(running), now, now + lease)
                except Exception:  # noqa: BLE001 - keep serving; the queue may recover
                    logger.exception("[%s] async queue claim failed", state.key)
                    await asyncio.sleep(self.settings.poll_interval)
                    continue
                if not events:
                    due = await self.queue.next_due(state.key)
                    wait = self.settings.poll_interval if due is None else min(
                        self.settings.poll_interval, max(0.01, due - time.time()))
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(wake.wait(), wait)
                    continue
                for event in events:
                    task = asyncio.get_running_loop().create_task(self._process(state, event))
                    running.add(task)
                    task.add_done_callback(running.discard)
        finally:
            for task in running:
                task.cancel()
            await asyncio.gather(*running, return_exceptions=True)

    async def _process(self, state: FunctionState, event: AsyncEvent) -> None:
        fn = state.fn
        spec = fn.spec.async_
        now = time.time()
        age = now - event.received_at
        if age > spec.max_event_age_seconds:
            await self._give_up(state, event, "EventAgeExceeded", None, event.attempts)
            return
        self.metrics.async_age.labels(fn.namespace, fn.name).observe(max(0.0, age))
        try:
            outcome = await self.invoker.invoke(state, event.payload, event.trigger, request_id=event.id)
        except GatewayError as refused:
            reason = "throttle" if refused.status == 429 else "unavailable"
            self.metrics.async_retries.labels(fn.namespace, fn.name, reason).inc()
            delay = self.settings.throttle_delay * (1 + random.random())
            await self.queue.retry(event.id, event.attempts, time.time() + delay)
            return
        if outcome.kind is Kind.SUCCESS:
            await self.queue.complete(event.id)
            return
        attempts = event.attempts + 1
        if attempts > spec.max_retries:
            await self._give_up(state, event, "RetriesExhausted", outcome, attempts)
            return
        self.metrics.async_retries.labels(fn.namespace, fn.name, "error").inc()
        delay = backoff(attempts, self.settings.retry_base, self.settings.retry_max, random.random())
        logger.info("[%s] async %s failed (%s), attempt %d; retrying in %.2fs", state.key, event.id,
                    outcome.error_type, attempts, delay)
        await self.queue.retry(event.id, attempts, time.time() + delay)

    async def _give_up(self, state: FunctionState, event: AsyncEvent, condition: str, outcome: Outcome | None,
                       attempts: int) -> None:
        fn = state.fn
        target = fn.spec.async_.on_failure
        followups: list[AsyncEvent] = []
        if target is not None:
            record = destinations.failure_record(
                request_id=event.id, namespace=fn.namespace, name=fn.name, condition=condition,
                attempts=attempts, request_payload=event.payload, outcome=outcome)
            followups.append(new_event(f"{fn.namespace}/{target.function}", "destination",
                                       json.dumps(record).encode(), time.time()))
        try:
            await self.queue.complete(event.id, followups)
        except Exception:
            if followups:
                self.metrics.destination_failures.labels(fn.namespace, fn.name).inc()
            raise
        if followups:
            self.metrics.destination_deliveries.labels(fn.namespace, fn.name).inc()
            dest = self.states.get(followups[0].function)
            if dest is not None:
                self.metrics.async_received.labels(dest.fn.namespace, dest.fn.name, "destination").inc()
                if dest.key in self.wakeups:
                    self.wakeups[dest.key].set()
        else:
            self.metrics.async_dropped.labels(fn.namespace, fn.name, condition).inc()
        logger.warning("[%s] async %s: %s after %d attempt(s)%s", state.key, event.id, condition, attempts,
                       f"; sent to {target.function}" if target is not None else "; dropped")
