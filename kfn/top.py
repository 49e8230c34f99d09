"""``kfn top``: per-function invocations, errors, p99 and replicas from a running gateway.

The embedded mode's CloudWatch console when no Grafana runs: it polls the gateway's ``/metrics``
and shows rates over the last interval. Parsing and arithmetic are pure functions; the loop
around them only fetches and prints.
"""

from __future__ import annotations

import dataclasses
import math
import sys
import time
import urllib.request
from typing import Iterable, TextIO

from prometheus_client.parser import text_string_to_metric_families

__all__ = ["Snapshot", "FunctionRow", "parse", "rows", "quantile", "render", "run"]

Key = tuple[str, str]


@dataclasses.dataclass
class Snapshot:
    """Cumulative values per function at one moment."""

    at: float
    invocations: dict[Key, float] = dataclasses.field(default_factory=dict)
    errors: dict[Key, float] = dataclasses.field(default_factory=dict)
    throttles: dict[Key, float] = dataclasses.field(default_factory=dict)
    buckets: dict[Key, dict[float, float]] = dataclasses.field(default_factory=dict)
    in_flight: dict[Key, float] = dataclasses.field(default_factory=dict)
    ready: dict[Key, float] = dataclasses.field(default_factory=dict)
    desired: dict[Key, float] = dataclasses.field(default_factory=dict)
    backlog: dict[Key, float] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class FunctionRow:
    key: Key
    rate: float
    error_rate: float
    throttles: float
    p99: float | None
    in_flight: float
    ready: float
    desired: float
    backlog: float


def parse(text: str, at: float) -> Snapshot:
    snap = Snapshot(at=at)
    simple = {"kfn_function_invocations_total": snap.invocations, "kfn_function_errors_total": snap.errors,
              "kfn_function_throttles_total": snap.throttles, "kfn_function_concurrent_executions": snap.in_flight,
              "kfn_function_replicas_ready": snap.ready, "kfn_function_replicas_desired": snap.desired,
              "kfn_async_queue_depth": snap.backlog}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            key = (sample.labels.get("namespace", ""), sample.labels.get("function", ""))
            if not key[1]:
                continue
            if sample.name in simple:
                table = simple[sample.name]
                table[key] = table.get(key, 0.0) + sample.value
            elif sample.name == "kfn_function_duration_seconds_bucket":
                le = float(sample.labels["le"])
                snap.buckets.setdefault(key, {})[le] = sample.value
    return snap


def quantile(q: float, buckets: dict[float, float]) -> float | None:
    """Prometheus's histogram_quantile over cumulative bucket counts; None without observations."""
    ordered = sorted(buckets.items())
    if not ordered or ordered[-1][1] <= 0:
        return None
    total = ordered[-1][1]
    rank = q * total
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in ordered:
        if count >= rank:
            if math.isinf(bound):
                return lower_bound
            if count == lower_count:
                return bound
            return lower_bound + (bound - lower_bound) * (rank - lower_count) / (count - lower_count)
        lower_bound, lower_count = bound, count
    return lower_bound


def rows(before: Snapshot, after: Snapshot) -> list[FunctionRow]:
    """Rates between two snapshots, one row per function, busiest first."""
    span = max(after.at - before.at, 1e-9)
    out = []
    for key in sorted(set(after.invocations) | set(after.ready)):
        calls = after.invocations.get(key, 0.0) - before.invocations.get(key, 0.0)
        errors = after.errors.get(key, 0.0) - before.errors.get(key, 0.0)
        delta = {le: c - before.buckets.get(key, {}).get(le, 0.0) for le, c in after.buckets.get(key, {}).items()}
        out.append(FunctionRow(
            key=key, rate=calls / span, error_rate=(errors / calls) if calls > 0 else 0.0,
            throttles=(after.throttles.get(key, 0.0) - before.throttles.get(key, 0.0)) / span,
            p99=quantile(0.99, delta), in_flight=after.in_flight.get(key, 0.0), ready=after.ready.get(key, 0.0),
            desired=after.desired.get(key, 0.0), backlog=after.backlog.get(key, 0.0)))
    return sorted(out, key=lambda r: (-r.rate, r.key))


def render(table: Iterable[FunctionRow], url: str, interval: float) -> str:
    lines = [f"kfn top — {url} — rates over {interval:g}s",
             f"{'FUNCTION':<32} {'INV/S':>8} {'ERR%':>6} {'THR/S':>6} {'P99':>9} {'INFLT':>5} {'READY':>7} {'QUEUE':>6}"]
    for r in table:
        p99 = "-" if r.p99 is None else (f"{r.p99 * 1000:.1f}ms" if r.p99 < 1 else f"{r.p99:.2f}s")
        lines.append(f"{r.key[0] + '/' + r.key[1]:<32} {r.rate:>8.1f} {r.error_rate * 100:>5.1f}% {r.throttles:>6.1f} "
                     f"{p99:>9} {r.in_flight:>5.0f} {r.ready:>3.0f}/{r.desired:<3.0f} {r.backlog:>6.0f}")
    return "\n".join(lines) + "\n"


def _fetch(url: str) -> str:
    with urllib.request.urlopen(f"{url.rstrip('/')}/metrics", timeout=5) as resp:
        return resp.read().decode("utf-8")


def run(url: str, interval: float, count: int | None, out: TextIO = sys.stdout) -> int:
    """Print a table every ``interval`` seconds, ``count`` times (forever when None)."""
    before = parse(_fetch(url), time.monotonic())
    shown = 0
    while count is None or shown < count:
        time.sleep(interval)
        after = parse(_fetch(url), time.monotonic())
        screen = render(rows(before, after), url, interval)
        out.write(("\x1b[H\x1b[2J" if out.isatty() else "") + screen)
        out.flush()
        before = after
        shown += 1
    return 0
