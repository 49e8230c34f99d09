"""One invocation, from admission to answer: throttle, activate, dispatch, measure.

This is the request path of DESIGN §3 in one place: a request beyond ``concurrency.max`` is
throttled (429); one that finds no free replica slot asks the backend for replicas at once (the
activator's fast 0→1, with the same ``desired_replicas`` the autoscaler uses) and waits, bounded;
then the backend forwards it to the replica and the outcome is counted.
"""

from __future__ import annotations

import logging
import time
from typing import Mapping, Protocol

from kfn import scaling
from kfn_gateway import auth, dispatching, logs, requestids
from kfn_gateway.dispatching import FunctionState, Replica
from kfn_gateway.metrics import Metrics
from kfn_gateway.outcomes import GatewayError, Outcome
from kfn_gateway.settings import GatewaySettings

__all__ = ["Backend", "Invoker"]


class Backend(Protocol):
    """Where replicas come from: worker processes (``local``) or pods (``kubernetes``)."""

    def scale(self, state: FunctionState, replicas: int) -> None:
        """Make ``state`` converge to ``replicas`` replicas; returns at once, idempotent."""

    async def forward(self, state: FunctionState, replica: Replica, payload: bytes, request_id: str,
                      cold_start: bool, log_tail: bool = False, context: Mapping[str, str] | None = None) -> Outcome:
        """Run one invocation on ``replica``; every failure comes back as an Outcome."""

    async def load_tokens(self, state: FunctionState) -> None:
        """Make ``state.tokens`` current for an ``auth: token`` function (bounded; never raises)."""


class Invoker:
    def __init__(self, settings: GatewaySettings, backend: Backend, metrics: Metrics,
                 states: dict[str, FunctionState]) -> None:
        self.settings = settings
        self.backend = backend
        self.metrics = metrics
        self.states = states

    def state(self, namespace: str, name: str) -> FunctionState:
        state = self.states.get(f"{namespace}/{name}")
        if state is None:
            raise GatewayError(404, "ResourceNotFoundException", f"Function not found: {namespace}/{name}")
        return state

    async def authorize(self, state: FunctionState, headers: Mapping[str, str]) -> None:
        """Raise 401 unless the function is open or ``headers`` carry one of its current tokens."""
        if state.fn.spec.auth.type == "token":
            await self.backend.load_tokens(state)
            auth.check(state, headers)

    def activate(self, state: FunctionState) -> None:
        """Scale up now for the load in flight, never down (the autoscaler does that)."""
        stats = state.stats(peak=state.in_flight, now=time.monotonic())
        wanted = scaling.desired_replicas(stats, state.fn.spec, time.monotonic())
        if wanted > stats.replicas:
            state.desired = wanted
            self.backend.scale(state, wanted)
            self.metrics.replicas_desired.labels(state.fn.namespace, state.fn.name).set(wanted)

    async def invoke(self, state: FunctionState, payload: bytes, trigger: str,
                     request_id: str | None = None, log_tail: bool = False,
                     context: Mapping[str, str] | None = None) -> Outcome:
        fn = state.fn
        request_id = request_id or requestids.new()
        if not state.admit():
            self.metrics.throttles.labels(fn.namespace, fn.name).inc()
            raise GatewayError(429, "TooManyRequestsException", "Rate Exceeded.",
                               {"Retry-After": "1"})
        gauge = self.metrics.in_flight(fn.namespace, fn.name)
        gauge.inc()
        try:
            replica = state.try_acquire() if not state.waiters else None
            cold = False
            if replica is None:
                cold = not state.replicas
                began = time.monotonic()
                self.activate(state)
                try:
                    replica = await state.acquire(self.settings.activation_timeout)
                except TimeoutError:
                    reason = state.last_problem or "no replica became ready"
                    raise GatewayError(
                        503, "ServiceUnavailable",
                        f"Function {fn.key} has no ready replica after "
                        f"{self.settings.activation_timeout:g}s: {reason}") from None
                except dispatching.InitFailed as failed:
                    outcome = failed.outcome
                    self.metrics.observe(fn.namespace, fn.name, trigger, outcome)
                    return outcome
                finally:
                    self.metrics.activator_wait.labels(fn.namespace, fn.name).observe(time.monotonic() - began)
            try:
                outcome = await self.backend.forward(state, replica, payload, request_id, cold, log_tail, context)
            finally:
                state.release(replica)
            self.metrics.observe(fn.namespace, fn.name, trigger, outcome)
            if logs.invocation_logger.isEnabledFor(logging.INFO):
                logs.invocation_logger.info("invocation", extra={"kfn": {
                    "requestId": request_id, "namespace": fn.namespace, "function": fn.name, "trigger": trigger,
                    "outcome": outcome.kind.value, "errorType": outcome.error_type, "coldStart": cold,
                    "durationMs": round(outcome.duration * 1000, 3)}})
            return outcome
        finally:
            state.finish()
            gauge.dec()
