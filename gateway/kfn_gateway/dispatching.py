"""Per-function routing state: replicas, their free slots, and the requests waiting for one.

A replica serves at most ``concurrency.perReplica`` invocations at once (the hard limit, as
Knative's containerConcurrency); a request that finds no free slot waits, first come first
served, until a slot frees or a new replica becomes ready. Backends add and remove replicas;
the invoker acquires and releases slots. No I/O here.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import itertools
import time
from typing import Any

from kfn import api, scaling
from kfn_gateway.outcomes import Outcome

__all__ = ["Replica", "FunctionState", "InitFailed"]

_ids = itertools.count(1)


@dataclasses.dataclass(eq=False)
class Replica:
    """One instance of a function that can take invocations (a worker process, a pod)."""

    url: str
    """Base URL of the replica's runtime, e.g. ``http://127.0.0.1:41234``."""
    id: int = dataclasses.field(default_factory=lambda: next(_ids))
    in_flight: int = 0
    handle: Any = None
    """The backend's own object for it (a worker process, an endpoint)."""


class InitFailed(Exception):
    """A cold start ended with the handler's init error; waiting requests receive it."""

    def __init__(self, outcome: Outcome) -> None:
        super().__init__(outcome.payload.decode("utf-8", "replace"))
        self.outcome = outcome


class FunctionState:
    """Everything the gateway tracks for one function while it serves it."""

    def __init__(self, fn: api.Function, code_dir: str | None = None, env: dict[str, str] | None = None,
                 tokens: frozenset[str] = frozenset()) -> None:
        self.fn = fn
        self.code_dir = code_dir
        self.env = env if env is not None else {e.name: e.value or "" for e in fn.spec.env if e.value_from is None}
        """The function's environment, ``valueFrom`` already resolved by whoever built the state."""
        self.tokens = tokens
        """Accepted bearer tokens when ``auth.type`` is ``token``; never logged."""
        self.replicas: list[Replica] = []
        self.waiters: collections.deque[asyncio.Future[Replica]] = collections.deque()
        self.in_flight = 0
        """Requests admitted and not yet answered, waiting ones included."""
        self.tick_peak = 0
        self.last_request_at: float | None = None
        self.desired = fn.spec.scaling.min_replicas
        self.starting = 0
        """Replicas being started (cold starts under way)."""
        self.last_problem: str | None = None
        """Why the last replica start failed, for the 503 a waiting request may get."""

    @property
    def key(self) -> str:
        return self.fn.key

    @property
    def per_replica(self) -> int:
        return self.fn.spec.per_replica

    # --- admission -------------------------------------------------------------------------

    def admit(self, now: float | None = None) -> bool:
        """Count a new request in, unless it would exceed ``concurrency.max`` (a throttle)."""
        if self.in_flight >= self.fn.spec.concurrency.max:
            return False
        self.in_flight += 1
        self.tick_peak = max(self.tick_peak, self.in_flight)
        self.last_request_at = time.monotonic() if now is None else now
        return True

    def finish(self) -> None:
        self.in_flight -= 1

    def stats(self, peak: int, now: float) -> scaling.ScalingStats:
        return scaling.ScalingStats(in_flight=self.in_flight, peak_in_flight=peak,
                                    last_request_at=self.last_request_at,
                                    replicas=len(self.replicas) + self.starting)

    # --- slots -----------------------------------------------------------------------------

    def try_acquire(self) -> Replica | None:
        """The least-loaded replica with a free slot, taken; None when every slot is busy."""
        best: Replica | None = None
        for replica in self.replicas:
            if replica.in_flight < self.per_replica and (best is None or replica.in_flight < best.in_flight):
                best = replica
        if best is not None:
            best.in_flight += 1
        return best

    async def acquire(self, timeout: float) -> Replica:
        """Wait up to ``timeout`` seconds for a slot; raises TimeoutError or InitFailed."""
        replica = self.try_acquire() if not self.waiters else None
        if replica is not None:
            return replica
        future: asyncio.Future[Replica] = asyncio.get_running_loop().create_future()
        self.waiters.append(future)
        try:
            return await asyncio.wait_for(future, timeout)
        except BaseException:
            if future.done() and not future.cancelled() and future.exception() is None:
                self.release(future.result())  # a slot was handed over as we gave up: give it back
            else:
                try:
                    self.waiters.remove(future)
                except ValueError:
                    pass
            raise

    def release(self, replica: Replica) -> None:
        replica.in_flight -= 1
        if replica in self.replicas:
            self._serve_waiters()

    def add(self, replica: Replica) -> None:
        self.replicas.append(replica)
        self._serve_waiters()

    def remove(self, replica: Replica) -> bool:
        """Stop routing to ``replica``; False if it was not routed to."""
        try:
            self.replicas.remove(replica)
        except ValueError:
            return False
        return True

    def fail_waiters(self, exc: BaseException) -> None:
        """Answer every waiting request with ``exc`` (an init error when no replica could start)."""
        while self.waiters:
            future = self.waiters.popleft()
            if not future.done():
                future.set_exception(exc)

    def _serve_waiters(self) -> None:
        while self.waiters:
            future = self.waiters[0]
            if future.done():
                self.waiters.popleft()
                continue
            replica = self.try_acquire()
            if replica is None:
                return
            self.waiters.popleft()
            future.set_result(replica)
