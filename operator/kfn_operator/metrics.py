"""The operator's Prometheus families: is it reconciling, what does it decide, can it read the gateways.

No family carries a function's name: per-function numbers (replicas desired and ready, load) are
the gateway's; the operator's own say whether the control loop is healthy, so their label values
are fixed sets (a reason kfn does not know is folded into ``Other``) and a deleted Function
leaves nothing behind.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

import prometheus_client as prom

__all__ = ["Metrics", "KINDS", "REASONS", "SCALE_ACTIONS", "readiness"]

KINDS = ("Function", "Trigger")

REASONS = ("Deployed", "FunctionFound", "InvalidSpec", "MissingReference", "UnsupportedCodeSource",
           "ChildConflict", "Conflict", "FunctionNotFound", "ApiError", "Other")
"""The ``reason`` label's only values: the Ready condition's reasons the operator writes."""

SCALE_ACTIONS = ("up", "down", "hold", "pinned", "skipped", "conflict", "error")
"""What one autoscaler tick did: changed the scale up or down, kept it, held a ``spec.replicas``
pin (written or not), skipped for missing data, lost a race to an activator, or failed."""

RECONCILE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
STATS_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


def readiness(body: Mapping[str, Any]) -> str:
    """``true``/``false``/``unknown`` from an object's Ready condition (the ``kfn_operator_objects`` label)."""
    for condition in (body.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Ready":
            return {"True": "true", "False": "false"}.get(condition.get("status"), "unknown")
    return "unknown"


@dataclasses.dataclass
class Metrics:
    """Every family the operator exports, registered in ``registry`` (one per operator run)."""

    registry: prom.CollectorRegistry = dataclasses.field(default_factory=prom.CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.reconciliations = prom.Counter(
            "kfn_operator_reconciliations", "Reconciliations of Functions and Triggers, by the Ready reason they set.",
            ["kind", "reason"], registry=r)
        self.reconcile_duration = prom.Histogram(
            "kfn_operator_reconcile_duration_seconds", "Time one reconciliation took, API calls included.",
            ["kind"], buckets=RECONCILE_BUCKETS, registry=r)
        self.objects = prom.Gauge(
            "kfn_operator_objects", "Functions and Triggers the operator watches, by their Ready condition.",
            ["kind", "ready"], registry=r)
        self.autoscale = prom.Counter(
            "kfn_operator_autoscale_decisions", "Autoscaler ticks, by what they did to the Deployment's scale.",
            ["action"], registry=r)
        self.stats_reads = prom.Counter(
            "kfn_operator_gateway_stats_reads", "Reads of every gateway's /stats, by outcome (ok or failed).",
            ["outcome"], registry=r)
        self.gateways = prom.Gauge(
            "kfn_operator_gateways", "Gateway replicas whose /stats the last successful read covered.", registry=r)
        self.stats_duration = prom.Histogram(
            "kfn_operator_gateway_stats_read_duration_seconds", "Time to read every gateway's /stats once.",
            buckets=STATS_BUCKETS, registry=r)
        for kind in KINDS:
            self.reconcile_duration.labels(kind)
            for reason in REASONS:
                self.reconciliations.labels(kind, reason)
            for ready in ("true", "false", "unknown"):
                self.objects.labels(kind, ready)
        for action in SCALE_ACTIONS:
            self.autoscale.labels(action)
        for outcome in ("ok", "failed"):
            self.stats_reads.labels(outcome)
        self._ready: dict[tuple[str, str], str] = {}

    def reconciled(self, kind: str, reason: str, seconds: float) -> None:
        self.reconciliations.labels(kind, reason if reason in REASONS else "Other").inc()
        self.reconcile_duration.labels(kind).observe(seconds)

    def seen(self, kind: str, key: str, body: Mapping[str, Any] | None) -> None:
        """An object's latest state from the watch (``None``: deleted); keeps ``objects`` exact."""
        old = self._ready.pop((kind, key), None)
        if old is not None:
            self.objects.labels(kind, old).dec()
        if body is not None:
            new = self._ready[(kind, key)] = readiness(body)
            self.objects.labels(kind, new).inc()

    def exposition(self) -> bytes:
        return prom.generate_latest(self.registry)
