"""The gateway's metric families: a stable snapshot of names and labels, and bounded cardinality.

Real prometheus_client registry, no server. Asserted: the exported families (a rename is a
breaking change for every dashboard and alert); unknown function names never create series.
"""

from __future__ import annotations

import asyncio

import prometheus_client as prom
import pytest

from kfn import api
from kfn_gateway.dispatching import FunctionState
from kfn_gateway.invoking import Invoker
from kfn_gateway.metrics import Metrics
from kfn_gateway.outcomes import GatewayError
from kfn_gateway.settings import GatewaySettings

EXPECTED = {
    "kfn_function_invocations": ("counter", {"namespace", "function", "trigger", "outcome"}),
    "kfn_function_errors": ("counter", {"namespace", "function", "error_type"}),
    "kfn_function_duration_seconds": ("histogram", {"namespace", "function"}),
    "kfn_function_throttles": ("counter", {"namespace", "function"}),
    "kfn_function_concurrent_executions": ("gauge", {"namespace", "function"}),
    "kfn_function_cold_starts": ("counter", {"namespace", "function"}),
    "kfn_function_cold_start_duration_seconds": ("histogram", {"namespace", "function"}),
    "kfn_activator_wait_seconds": ("histogram", {"namespace", "function"}),
    "kfn_function_replicas_desired": ("gauge", {"namespace", "function"}),
    "kfn_function_replicas_ready": ("gauge", {"namespace", "function"}),
    "kfn_function_timeout_seconds": ("gauge", {"namespace", "function"}),
    "kfn_async_events_received": ("counter", {"namespace", "function", "source"}),
    "kfn_async_event_age_seconds": ("histogram", {"namespace", "function"}),
    "kfn_async_events_dropped": ("counter", {"namespace", "function", "reason"}),
    "kfn_async_retries": ("counter", {"namespace", "function", "reason"}),
    "kfn_async_destination_deliveries": ("counter", {"namespace", "function"}),
    "kfn_async_destination_delivery_failures": ("counter", {"namespace", "function"}),
    "kfn_async_queue_depth": ("gauge", {"namespace", "function"}),
    "kfn_events_received": ("counter", {"source", "outcome"}),
}


def metrics() -> Metrics:
    m = Metrics(prom.CollectorRegistry())
    m.describe_function("default", "hello", ["url", "invoke"], 3)
    return m


def test_family_snapshot():
    found = {}
    for family in metrics().registry.collect():
        labels: set[str] = set()
        for sample in family.samples:
            labels |= set(sample.labels) - {"le"}
        found[family.name] = (family.type, labels)
    for name, (kind, labels) in EXPECTED.items():
        assert name in found, name
        assert found[name][0] == kind, name
        if found[name][1]:
            assert found[name][1] == labels, name
    assert set(found) == set(EXPECTED)


def test_duration_buckets_span_1ms_to_900s():
    m = metrics()
    text = m.exposition().decode()
    assert 'kfn_function_duration_seconds_bucket{function="hello",le="0.001",namespace="default"}' in text
    assert 'le="900.0"' in text


async def test_unknown_function_names_create_no_series():
    m = metrics()
    fn = api.parse_function({"apiVersion": "kfn.dev/v1alpha1", "kind": "Function", "metadata": {"name": "hello"},
                             "spec": {"runtime": "python3.11", "handler": "a.h", "code": {"inline": "x"}}})
    invoker = Invoker(GatewaySettings(), backend=None, metrics=m, states={"default/hello": FunctionState(fn)})
    before = len(m.exposition().splitlines())
    for i in range(1000):
        with pytest.raises(GatewayError) as info:
            invoker.state("default", f"unknown-{i}")
        assert info.value.status == 404
    await asyncio.sleep(0)
    assert len(m.exposition().splitlines()) == before
