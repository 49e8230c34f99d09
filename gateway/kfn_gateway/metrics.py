"""The gateway's Prometheus families: the CloudWatch Lambda metrics, and what Lambda hides.

Label values are bounded: only functions and triggers the gateway knows get series (an unknown
name is answered 404 before any metric is touched), and error types are folded into a fixed set.
Names follow Prometheus conventions: base units, ``_total`` counters, ``_seconds``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import prometheus_client as prom

from kfn_gateway.outcomes import Kind, Outcome

__all__ = ["Metrics", "DURATION_BUCKETS", "ERROR_TYPES"]

DURATION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                    30.0, 60.0, 120.0, 300.0, 600.0, 900.0)
AGE_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 21600.0)
COLD_START_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

ERROR_TYPES = frozenset({"Unhandled", "Timeout", "InitError", "ExitError"})
"""The ``error_type`` label's only values: Lambda's handler errors, timeouts, init and runtime exits."""

ASYNC_SOURCES = ("s3", "sns", "sqs", "invoke", "destination")
"""The ``source`` label of ``kfn_async_events_received_total``."""

_ERROR_OF_KIND = {Kind.ERROR: "Unhandled", Kind.TIMEOUT: "Timeout", Kind.INIT_ERROR: "InitError",
                  Kind.EXIT_ERROR: "ExitError"}


@dataclasses.dataclass
class Metrics:
    """Every family the gateway exports, registered in ``registry`` (one per app, none global)."""

    registry: prom.CollectorRegistry

    def __post_init__(self) -> None:
        fn = ["namespace", "function"]
        r = self.registry
        self._bound: dict[tuple[str, str, str, Kind | None], tuple[Any, Any, Any]] = {}
        self.invocations = prom.Counter(
            "kfn_function_invocations", "Invocations that reached a runtime (CloudWatch Invocations).",
            fn + ["trigger", "outcome"], registry=r)
        self.errors = prom.Counter(
            "kfn_function_errors", "Invocations that ended in an error (CloudWatch Errors).",
            fn + ["error_type"], registry=r)
        self.duration = prom.Histogram(
            "kfn_function_duration_seconds", "Invocation duration seen by the gateway (CloudWatch Duration).",
            fn, buckets=DURATION_BUCKETS, registry=r)
        self.throttles = prom.Counter(
            "kfn_function_throttles", "Requests refused with 429 beyond concurrency.max (CloudWatch Throttles).",
            fn, registry=r)
        self.concurrent = prom.Gauge(
            "kfn_function_concurrent_executions",
            "Invocations in flight, waiting ones included (CloudWatch ConcurrentExecutions).", fn, registry=r)
        self.cold_starts = prom.Counter(
            "kfn_function_cold_starts", "Replicas started to serve a waiting request.", fn, registry=r)
        self.cold_start_duration = prom.Histogram(
            "kfn_function_cold_start_duration_seconds",
            "Time from a cold start's beginning to its replica being ready (Init Duration included).",
            fn, buckets=COLD_START_BUCKETS, registry=r)
        self.activator_wait = prom.Histogram(
            "kfn_activator_wait_seconds", "Time requests waited for a free replica slot.",
            fn, buckets=COLD_START_BUCKETS, registry=r)
        self.replicas_desired = prom.Gauge(
            "kfn_function_replicas_desired", "Replicas the autoscaler asks for.", fn, registry=r)
        self.replicas_ready = prom.Gauge(
            "kfn_function_replicas_ready", "Replicas ready to serve.", fn, registry=r)
        self.async_received = prom.Counter(
            "kfn_async_events_received", "Async invocations durably queued (CloudWatch AsyncEventsReceived).",
            fn + ["source"], registry=r)
        self.async_age = prom.Histogram(
            "kfn_async_event_age_seconds",
            "Time from queueing to each invocation attempt (CloudWatch AsyncEventAge).",
            fn, buckets=AGE_BUCKETS, registry=r)
        self.async_dropped = prom.Counter(
            "kfn_async_events_dropped",
            "Async invocations given up without success (CloudWatch AsyncEventsDropped).",
            fn + ["reason"], registry=r)
        self.async_retries = prom.Counter(
            "kfn_async_retries", "Async invocation attempts put back in the queue.", fn + ["reason"], registry=r)
        self.destination_deliveries = prom.Counter(
            "kfn_async_destination_deliveries", "Failure records queued for an onFailure destination.",
            fn, registry=r)
        self.destination_failures = prom.Counter(
            "kfn_async_destination_delivery_failures",
            "Failure records that could not be queued for the destination "
            "(CloudWatch DestinationDeliveryFailures / DeadLetterErrors).", fn, registry=r)
        self.queue_depth = prom.Gauge(
            "kfn_async_queue_depth", "Async invocations waiting or in flight.", fn, registry=r)
        self.timeout = prom.Gauge(
            "kfn_function_timeout_seconds", "The function's timeoutSeconds, for alerts on duration near it.",
            fn, registry=r)
        self.events_received = prom.Counter(
            "kfn_events_received", "Notifications received by an event source endpoint, matched or not.",
            ["source", "outcome"], registry=r)

    def describe_function(self, namespace: str, function: str, triggers: list[str], timeout_seconds: int) -> None:
        """Create a function's series at zero, so dashboards and rates see it before its first event."""
        for trigger in triggers:
            for kind in Kind:
                self.invocations.labels(namespace, function, trigger, kind.value)
        for error_type in sorted(ERROR_TYPES):
            self.errors.labels(namespace, function, error_type)
        for family in (self.duration, self.throttles, self.concurrent, self.cold_starts, self.cold_start_duration,
                       self.activator_wait, self.replicas_desired, self.replicas_ready, self.async_age,
                       self.destination_deliveries, self.destination_failures, self.queue_depth):
            family.labels(namespace, function)
        for source in ASYNC_SOURCES:
            self.async_received.labels(namespace, function, source)
        for reason in ("RetriesExhausted", "EventAgeExceeded"):
            self.async_dropped.labels(namespace, function, reason)
        for reason in ("error", "throttle", "unavailable"):
            self.async_retries.labels(namespace, function, reason)
        self.timeout.labels(namespace, function).set(timeout_seconds)

    def observe(self, namespace: str, function: str, trigger: str, outcome: Outcome) -> None:
        key = (namespace, function, trigger, outcome.kind)
        bound = self._bound.get(key)
        if bound is None:  # labels() costs a lock and a dict walk: done once per label set, not per request
            bound = self._bound[key] = (
                self.invocations.labels(namespace, function, trigger, outcome.kind.value),
                self.duration.labels(namespace, function),
                None if outcome.kind is Kind.SUCCESS else self.errors.labels(
                    namespace, function, _ERROR_OF_KIND[outcome.kind]))
        invocations, duration, errors = bound
        invocations.inc()
        duration.observe(outcome.duration)
        if errors is not None:
            errors.inc()

    def in_flight(self, namespace: str, function: str) -> Any:
        """The function's ConcurrentExecutions gauge, bound once."""
        key = (namespace, function, "", None)
        bound = self._bound.get(key)
        if bound is None:
            bound = self._bound[key] = (self.concurrent.labels(namespace, function), None, None)
        return bound[0]

    def forget(self, namespace: str, function: str) -> None:
        """Drop a removed function's series so label sets stay bounded by what exists."""
        for key in [k for k in self._bound if k[:2] == (namespace, function)]:
            del self._bound[key]
        for family in (self.duration, self.throttles, self.concurrent, self.cold_starts,
                       self.cold_start_duration, self.activator_wait, self.replicas_desired,
                       self.replicas_ready, self.async_age, self.destination_deliveries,
                       self.destination_failures, self.queue_depth, self.timeout):
            try:
                family.remove(namespace, function)
            except KeyError:
                pass

    def exposition(self) -> bytes:
        return prom.generate_latest(self.registry)
