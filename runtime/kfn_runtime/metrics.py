"""Per-process counters, served at ``GET /metrics`` in the Prometheus text format.

Hand-written rather than prometheus_client: a handful of numbers does not justify a dependency
in every function image. Labels are bounded (the outcome only).
"""

from __future__ import annotations

import dataclasses

__all__ = ["Metrics", "OUTCOMES", "render"]

OUTCOMES = ("success", "error", "timeout")


@dataclasses.dataclass
class Metrics:
    invocations: dict[str, int] = dataclasses.field(default_factory=lambda: dict.fromkeys(OUTCOMES, 0))
    """Answered invocations by outcome; ``error`` includes init and marshal errors."""
    throttles: int = 0
    """Invocations refused with 429 because ``concurrency`` were in flight."""
    duration_seconds_sum: float = 0.0
    duration_seconds_count: int = 0

    def observe(self, outcome: str, seconds: float) -> None:
        self.invocations[outcome] += 1
        self.duration_seconds_sum += seconds
        self.duration_seconds_count += 1


def render(m: Metrics, *, in_flight: int, stuck: int, max_memory_bytes: int) -> str:
    lines = [
        "# HELP kfn_runtime_in_flight Invocations running in this process.",
        "# TYPE kfn_runtime_in_flight gauge",
        f"kfn_runtime_in_flight {in_flight}",
        "# HELP kfn_runtime_invocations_total Invocations answered, by outcome.",
        "# TYPE kfn_runtime_invocations_total counter",
        *(f'kfn_runtime_invocations_total{{outcome="{o}"}} {n}' for o, n in m.invocations.items()),
        "# HELP kfn_runtime_throttles_total Invocations refused because the concurrency limit was reached.",
        "# TYPE kfn_runtime_throttles_total counter",
        f"kfn_runtime_throttles_total {m.throttles}",
        "# HELP kfn_runtime_duration_seconds Handler run time.",
        "# TYPE kfn_runtime_duration_seconds summary",
        f"kfn_runtime_duration_seconds_sum {m.duration_seconds_sum!r}",
        f"kfn_runtime_duration_seconds_count {m.duration_seconds_count}",
        "# HELP kfn_runtime_stuck_threads Timed-out handler threads that have not stopped yet.",
        "# TYPE kfn_runtime_stuck_threads gauge",
        f"kfn_runtime_stuck_threads {stuck}",
        "# HELP kfn_runtime_max_memory_bytes Peak resident memory of this process.",
        "# TYPE kfn_runtime_max_memory_bytes gauge",
        f"kfn_runtime_max_memory_bytes {max_memory_bytes}",
    ]
    return "\n".join(lines) + "\n"
