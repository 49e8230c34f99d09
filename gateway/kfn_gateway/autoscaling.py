"""The autoscaler loop of ``kfn dev``: apply ``desired_replicas`` to every function, periodically.

The operator runs the same decision as a kopf timer in a cluster; here it is an asyncio task
next to the gateway. The activator (``invoking``) scales up at once on demand; this loop scales
down, to zero after ``scaleToZeroAfterSeconds`` idle, and keeps ``minReplicas``.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time

from kfn import scaling
from kfn_gateway.dispatching import FunctionState
from kfn_gateway.invoking import Backend
from kfn_gateway.metrics import Metrics
from kfn_gateway.settings import GatewaySettings

__all__ = ["Autoscaler"]

logger = logging.getLogger(__name__)


class Autoscaler:
    def __init__(self, settings: GatewaySettings, backend: Backend, metrics: Metrics,
                 states: dict[str, FunctionState]) -> None:
        self.settings = settings
        self.backend = backend
        self.metrics = metrics
        self.states = states
        self.peaks: dict[str, collections.deque[tuple[float, int]]] = {}

    def tick(self, now: float) -> None:
        """One decision for every function (synchronous: no I/O, the backend acts in tasks)."""
        for key, state in self.states.items():
            window = self.peaks.setdefault(key, collections.deque())
            window.append((now, state.tick_peak))
            state.tick_peak = state.in_flight
            while window and window[0][0] < now - self.settings.stable_window:
                window.popleft()
            peak = max(p for _, p in window)
            stats = state.stats(peak=peak, now=now)
            wanted = scaling.desired_replicas(stats, state.fn.spec, now)
            if wanted != state.desired or wanted != stats.replicas:
                if wanted != stats.replicas:
                    logger.info("[%s] scaling %d -> %d (in flight %d, peak %d)", key, stats.replicas, wanted,
                                stats.in_flight, peak)
                state.desired = wanted
                self.backend.scale(state, wanted)
            self.metrics.replicas_desired.labels(state.fn.namespace, state.fn.name).set(wanted)

    async def run(self) -> None:
        while True:
            try:
                self.tick(time.monotonic())
            except Exception:  # a bug here must not stop scaling for good
                logger.exception("autoscaler tick failed")
            await asyncio.sleep(self.settings.autoscale_interval)
