"""``GET /stats``: each function's load as this gateway sees it, for the operator's autoscaler.

The autoscaler in a cluster runs in the operator, away from the requests; it sums what every
gateway replica reports here and applies ``kfn.scaling.desired_replicas``. ``?reset=1`` reports
the peak in-flight since the previous reset and starts a new one (the autoscaler's reads, one
per interval); without it the read changes nothing, so a person or a probe can look safely.
"""

from __future__ import annotations

import time
from typing import Any, Awaitable, Callable, Mapping

from aiohttp import web

from kfn_gateway.dispatching import FunctionState
from kfn_gateway.invoking import Invoker

__all__ = ["report", "handler"]


def report(states: Mapping[str, FunctionState], now: float, reset: bool) -> dict[str, Any]:
    """The stats document; with ``reset``, each function's peak starts again from its in-flight."""
    functions = {}
    for key, state in states.items():
        age = None if state.last_request_at is None else max(0.0, now - state.last_request_at)
        functions[key] = {"inFlight": state.in_flight, "peakInFlight": max(state.tick_peak, state.in_flight),
                          "lastRequestAgeSeconds": age, "readyReplicas": len(state.replicas)}
        if reset:
            state.tick_peak = state.in_flight
    return {"functions": functions}


def handler(invoker: Invoker) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def stats(request: web.Request) -> web.Response:
        reset = request.query.get("reset", "") in ("1", "true")
        return web.json_response(report(invoker.states, time.monotonic(), reset))
    return stats
