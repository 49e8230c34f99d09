"""The scaling decision, shared by the activator, ``kfn dev``'s autoscaler and the operator.

One pure function, so the two actors of DESIGN §4 (the fast 0→1 in the activator and the
periodic autoscaler) can never disagree about what a load means.
"""

from __future__ import annotations

import dataclasses
import math

from kfn import api

__all__ = ["ScalingStats", "desired_replicas"]


@dataclasses.dataclass(frozen=True)
class ScalingStats:
    """What the gateways observed for one function."""

    in_flight: int
    """Requests being served or waiting for a replica right now."""
    peak_in_flight: int
    """The highest ``in_flight`` over the recent window, so a burst between two decisions counts."""
    last_request_at: float | None
    """When the last request arrived (seconds, same clock as ``now``); None if never."""
    replicas: int
    """Replicas the function has now (asked for, ready or not)."""


def desired_replicas(stats: ScalingStats, spec: api.FunctionSpec, now: float) -> int:
    """Replicas for ``spec`` under ``stats``: ceil(load / target) within [min, max], 0 when idle.

    A function that served traffic within ``scaleToZeroAfterSeconds`` keeps at least one
    replica, so the next request is warm; after that window without requests it goes to
    ``minReplicas`` (zero by default).
    """
    scaling = spec.scaling
    load = max(stats.in_flight, stats.peak_in_flight, 0)
    wanted = math.ceil(load / spec.target_concurrency)
    idle = stats.last_request_at is None or now - stats.last_request_at >= scaling.scale_to_zero_after_seconds
    if wanted == 0 and not idle and stats.replicas > 0:
        wanted = 1
    return max(scaling.min_replicas, min(scaling.max_replicas, wanted))
