"""The ``local`` backend: each replica is a ``kfn_runtime`` worker process on this machine.

Cold starts stay fast because generic workers are started ahead of need (a warm pool): a
function's first request takes an idle worker and tells it which handler to load (``POST
/load``), as Fission specialises pool pods, instead of waiting for a Python interpreter to boot.
A worker that dies is noticed at once (its process exit), dropped from routing and replaced
while the function still wants replicas; its in-flight requests get a clear ExitError.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sys
import time
from typing import Any, Mapping

import aiohttp

from kfn_gateway import background, dispatching, forwarding
from kfn_gateway.dispatching import FunctionState, Replica
from kfn_gateway.metrics import Metrics
from kfn_gateway.outcomes import Kind, Outcome
from kfn_gateway.settings import GatewaySettings

__all__ = ["LocalBackend", "Worker", "INVOKE_PATH"]

logger = logging.getLogger(__name__)

INVOKE_PATH = forwarding.INVOKE_PATH
# Worded as Go's os/exec prints them, which is what Lambda's "Runtime exited" errors show.
_SIGNALS = {signal.SIGKILL: "killed", signal.SIGTERM: "terminated", signal.SIGSEGV: "segmentation fault",
            signal.SIGABRT: "aborted", signal.SIGINT: "interrupt", signal.SIGBUS: "bus error"}


class WorkerStartError(Exception):
    pass


class Worker:
    """A runtime process and how to reach it."""

    def __init__(self, proc: asyncio.subprocess.Process, port: int) -> None:
        self.proc = proc
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.exited: asyncio.Task[int] = asyncio.get_running_loop().create_task(proc.wait())

    @property
    def alive(self) -> bool:
        return not self.exited.done()

    def exit_reason(self) -> str:
        code = self.proc.returncode
        if code is None:
            return "Runtime became unreachable"
        if code < 0:
            return f"Runtime exited with error: signal: {_SIGNALS.get(-code, str(-code))}"
        return f"Runtime exited with error: exit status {code}"

    async def stop(self, grace: float) -> None:
        if not self.alive:
            return
        try:
            self.proc.send_signal(signal.SIGTERM)
            await asyncio.wait_for(asyncio.shield(self.exited), grace)
        except (ProcessLookupError, TimeoutError):
            try:
                self.proc.kill()
            except ProcessLookupError:
                pass
            await self.exited


def _worker_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KFN_")}
    env.update(extra)
    return env


async def spawn_worker(timeout: float) -> Worker:
    """Start a generic (pool-mode) runtime and wait until it listens."""
    read_fd, write_fd = os.pipe()
    env = _worker_env({"KFN_POOL": "1", "KFN_RUNTIME_HOST": "127.0.0.1", "KFN_RUNTIME_PORT": "0",
                       "KFN_READY_FD": str(write_fd), "KFN_PARENT_PID": str(os.getpid()), "KFN_MEMORY_WATCH": "1",
                       "PYTHONUNBUFFERED": "1"})
    try:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "kfn_runtime", env=env, pass_fds=(write_fd,),
            stdin=asyncio.subprocess.DEVNULL)
    finally:
        os.close(write_fd)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    transport: asyncio.BaseTransport | None = None
    try:
        transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(read_fd, "rb", 0))
        line = await asyncio.wait_for(reader.readline(), timeout)
        port = int(json.loads(line)["port"])
    except (TimeoutError, ValueError, KeyError, TypeError) as exc:
        await _reap(proc)
        raise WorkerStartError(f"runtime worker did not start within {timeout:g}s "
                               f"(exit code {proc.returncode}): {exc!r}") from None
    except BaseException:  # cancelled while it boots (kfn dev stopping): no orphan left behind
        await asyncio.shield(_reap(proc))
        raise
    finally:
        if transport is not None:
            transport.close()
    return Worker(proc, port)


async def _reap(proc: asyncio.subprocess.Process) -> None:
    try:
        proc.kill()
    except ProcessLookupError:
        pass
    await proc.wait()


class WarmPool:
    """Idle generic workers, refilled in the background as functions take them."""

    def __init__(self, size: int, start_timeout: float) -> None:
        self.size = size
        self.start_timeout = start_timeout
        self.idle: list[Worker] = []
        self.filling = 0
        self.tasks = background.Tasks()
        self.closed = False
        self.waiters: list[asyncio.Future[None]] = []
        """Woken whenever a worker being started lands in ``idle`` or fails to start."""

    def _changed(self) -> None:
        waiters, self.waiters = self.waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    async def _next_change(self) -> None:
        waiter = asyncio.get_running_loop().create_future()
        self.waiters.append(waiter)
        await waiter

    async def ready(self) -> None:
        """Until one idle worker is ready or none is being started (bounded by the start timeout)."""
        while not self.idle and self.filling and not self.closed:
            await self._next_change()

    def fill(self) -> None:
        while not self.closed and len(self.idle) + self.filling < self.size:
            self.filling += 1
            self.tasks.spawn(self._add())

    async def _add(self) -> None:
        try:
            worker = await spawn_worker(self.start_timeout)
        except WorkerStartError as exc:
            logger.error("warm pool: %s", exc)
            return
        else:
            if self.closed:
                await worker.stop(1.0)
                return
            self.idle.append(worker)
        finally:
            self.filling -= 1
            self._changed()  # a worker landed, or will not: whoever waits for one looks again

    async def take(self) -> Worker:
        """An idle worker if one is ready; else the next one the pool is already starting (sooner
        than a new one, which would also compete with it for the CPUs); else a new one started now.
        The caller refills the pool (``fill``) once its cold start is done."""
        while True:
            while self.idle:
                worker = self.idle.pop()
                if worker.alive:
                    return worker
            if not self.filling or self.closed:
                return await spawn_worker(self.start_timeout)
            await self._next_change()

    async def close(self) -> None:
        self.closed = True
        await self.tasks.cancel()
        await asyncio.gather(*(w.stop(1.0) for w in self.idle))
        self.idle.clear()


class LocalBackend:
    def __init__(self, settings: GatewaySettings, metrics: Metrics) -> None:
        self.settings = settings
        self.metrics = metrics
        self.pool = WarmPool(settings.warm_pool_size, settings.worker_start_timeout)
        self.session: aiohttp.ClientSession | None = None
        self.upstreams = forwarding.Upstreams()
        self.tasks = background.Tasks()
        self.workers: dict[str, set[Worker]] = {}
        self.closing = False

    async def start(self) -> None:
        connector = aiohttp.TCPConnector(limit=0, keepalive_timeout=30, force_close=False)
        self.session = aiohttp.ClientSession(connector=connector, auto_decompress=False)
        self.pool.fill()

    async def load_tokens(self, state: FunctionState) -> None:
        """Nothing to do: ``kfn dev`` read every token from the directory's Secrets at start."""

    async def ready(self) -> None:
        """Until the warm pool has a worker to give (or has given up starting one), so that the
        first request after ``kfn dev`` prints its address is a fast cold start, not a Python boot."""
        await self.pool.ready()

    async def close(self) -> None:
        self.closing = True
        await self.tasks.cancel()
        workers = [w for ws in self.workers.values() for w in ws]
        await asyncio.gather(self.pool.close(), *(w.stop(self.settings.drain_timeout) for w in workers))
        self.upstreams.close()
        if self.session is not None:
            await self.session.close()

    # --- scaling ---------------------------------------------------------------------------

    def scale(self, state: FunctionState, replicas: int) -> None:
        if self.closing:
            return
        current = len(state.replicas) + state.starting
        for _ in range(replicas - current):
            state.starting += 1
            self.tasks.spawn(self._start_replica(state))
        if replicas < current:
            idle_first = sorted(state.replicas, key=lambda r: r.in_flight)
            for replica in idle_first[: max(0, len(state.replicas) - replicas)]:
                if state.remove(replica):
                    self.tasks.spawn(self._drain(state, replica))
        self.metrics.replicas_ready.labels(state.fn.namespace, state.fn.name).set(len(state.replicas))

    def _load_request(self, state: FunctionState) -> dict[str, Any]:
        spec = state.fn.spec
        return {
            "name": state.fn.name, "namespace": state.fn.namespace, "handler": spec.handler,
            "runtime": spec.runtime,  # provided*: the worker starts the code's bootstrap
            "codeDir": state.code_dir, "timeoutSeconds": spec.timeout_seconds, "memoryMiB": spec.memory_mib,
            "concurrency": spec.per_replica,
            "env": dict(state.env),
        }

    async def _start_replica(self, state: FunctionState) -> None:
        fn = state.fn
        began = time.monotonic()
        worker: Worker | None = None
        try:
            worker = await self.pool.take()
            assert self.session is not None
            self.tasks.spawn(self._refill_after(0.2))
            async with self.session.post(
                    worker.url + "/load", json=self._load_request(state),
                    timeout=aiohttp.ClientTimeout(total=max(30.0, fn.spec.timeout_seconds))) as resp:
                body = await resp.read()
                status = resp.status
        except asyncio.CancelledError:
            state.starting -= 1
            if worker is not None:
                await worker.stop(1.0)
            raise
        except (aiohttp.ClientError, TimeoutError, OSError, Exception) as exc:  # noqa: BLE001 - reported below
            state.starting -= 1
            state.last_problem = f"runtime worker failed to start: {exc!r}"
            logger.error("[%s] %s", fn.key, state.last_problem)
            if worker is not None:
                await worker.stop(1.0)
            return
        if status != 200:
            state.starting -= 1
            outcome = Outcome(Kind.INIT_ERROR, body, request_id="", duration=time.monotonic() - began,
                              cold_start=True)
            state.last_problem = f"init error: {outcome.error().get('errorMessage', '')}"
            logger.error("[%s] %s", fn.key, state.last_problem)
            if not state.replicas and state.starting == 0:
                state.fail_waiters(dispatching.InitFailed(outcome))
                state.desired = 0
            # Only now: while the worker stops, the autoscaler may run, and must find the waiters answered
            # rather than start another replica for them (which would keep them waiting for its init error).
            await worker.stop(1.0)
            return
        state.starting -= 1
        replica = Replica(url=worker.url, handle=worker)
        self.workers.setdefault(fn.key, set()).add(worker)
        self.metrics.cold_starts.labels(fn.namespace, fn.name).inc()
        self.metrics.cold_start_duration.labels(fn.namespace, fn.name).observe(time.monotonic() - began)
        state.last_problem = None
        if self.closing or len(state.replicas) >= state.desired and not state.waiters:
            # scaled down while starting: this replica is not wanted any more
            self.tasks.spawn(self._retire(state, worker))
            return
        state.add(replica)
        self.metrics.replicas_ready.labels(fn.namespace, fn.name).set(len(state.replicas))
        self.tasks.spawn(self._watch(state, replica, worker))

    async def _refill_after(self, delay: float) -> None:
        """Top the warm pool up once the cold start that took a worker has had the CPU to itself."""
        await asyncio.sleep(delay)
        self.pool.fill()

    async def _watch(self, state: FunctionState, replica: Replica, worker: Worker) -> None:
        """Drop a replica whose process exits, and start another while the function wants one."""
        await asyncio.shield(worker.exited)
        if state.remove(replica):
            logger.warning("[%s] replica %s exited: %s", state.key, replica.id, worker.exit_reason())
            self.metrics.replicas_ready.labels(state.fn.namespace, state.fn.name).set(len(state.replicas))
            if not self.closing and len(state.replicas) + state.starting < state.desired:
                state.starting += 1
                self.tasks.spawn(self._start_replica(state))
        self.workers.get(state.key, set()).discard(worker)

    async def _drain(self, state: FunctionState, replica: Replica) -> None:
        deadline = time.monotonic() + self.settings.drain_timeout
        while replica.in_flight > 0 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await self._retire(state, replica.handle)
        self.metrics.replicas_ready.labels(state.fn.namespace, state.fn.name).set(len(state.replicas))

    async def _retire(self, state: FunctionState, worker: Worker) -> None:
        await worker.stop(self.settings.drain_timeout)
        self.workers.get(state.key, set()).discard(worker)

    # --- forwarding ------------------------------------------------------------------------

    async def forward(self, state: FunctionState, replica: Replica, payload: bytes, request_id: str,
                      cold_start: bool, log_tail: bool = False, context: Mapping[str, str] | None = None) -> Outcome:
        assert self.session is not None
        began = time.monotonic()
        limit = state.fn.spec.timeout_seconds + self.settings.forward_grace
        worker: Worker = replica.handle
        try:
            answer = await forwarding.post(self.upstreams, replica.url, payload, request_id, limit, log_tail, context)
        except TimeoutError:
            # The runtime enforces the timeout itself; silence past it means it is stuck.
            logger.error("[%s] replica %s did not answer within %gs; stopping it", state.key, replica.id, limit)
            if state.remove(replica):
                self.tasks.spawn(self._retire(state, worker))
            return forwarding.failure(Kind.TIMEOUT, "Sandbox.Timedout", request_id,
                                      f"Task timed out after {state.fn.spec.timeout_seconds:.2f} seconds",
                                      began, cold_start)
        except forwarding.Unreachable:
            try:
                await asyncio.wait_for(asyncio.shield(worker.exited), 1.0)
            except TimeoutError:
                pass
            return forwarding.failure(Kind.EXIT_ERROR, "Runtime.ExitError", request_id, worker.exit_reason(),
                                      began, cold_start)
        return forwarding.read(answer, request_id, began, cold_start)
