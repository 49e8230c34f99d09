"""The autoscaler's pure parts: summing the gateways' reports, the peak window, the decision."""

from __future__ import annotations

from kfn import api
from kfn_operator import autoscaling


def function(**scaling: int) -> api.Function:
    return api.parse_function({"apiVersion": "kfn.dev/v1alpha1", "kind": "Function", "metadata": {"name": "f"},
                               "spec": {"runtime": "python3.12", "handler": "a.b", "code": {"image": "x"},
                                        "concurrency": {"perReplica": 4},
                                        "scaling": {"maxReplicas": 5, "scaleToZeroAfterSeconds": 60, **scaling}}})


def test_reports_add_up_and_the_newest_request_wins() -> None:
    reports = [{"functions": {"default/f": {"inFlight": 3, "peakInFlight": 5, "lastRequestAgeSeconds": 12.0}}},
               {"functions": {"default/f": {"inFlight": 2, "peakInFlight": 2, "lastRequestAgeSeconds": 1.5},
                              "default/g": {"inFlight": 0, "peakInFlight": 0, "lastRequestAgeSeconds": None}}}]
    total = autoscaling.aggregate(reports)
    assert total["default/f"] == autoscaling.GatewayStats(5, 7, 1.5)
    assert total["default/g"] == autoscaling.GatewayStats(0, 0, None)


def test_the_peak_is_remembered_over_the_window() -> None:
    windows = autoscaling.PeakWindows(10.0)
    assert windows.observe("f", 0.0, 8) == 8
    assert windows.observe("f", 5.0, 1) == 8
    assert windows.observe("f", 10.5, 2) == 2


def test_decisions() -> None:
    fn = function()
    busy = autoscaling.GatewayStats(in_flight=9, peak_in_flight=9, last_request_age=0.0)
    assert autoscaling.decide(fn, busy, 9, replicas=1, now=100.0) == 3  # ceil(9 / 4)
    recent = autoscaling.GatewayStats(0, 0, last_request_age=30.0)
    assert autoscaling.decide(fn, recent, 0, replicas=1, now=100.0) == 1  # warm until 60 s idle
    idle = autoscaling.GatewayStats(0, 0, last_request_age=61.0)
    assert autoscaling.decide(fn, idle, 0, replicas=1, now=100.0) == 0
    assert autoscaling.decide(function(minReplicas=2), idle, 0, replicas=2, now=100.0) == 2
    flood = autoscaling.GatewayStats(100, 100, 0.0)
    assert autoscaling.decide(fn, flood, 100, replicas=1, now=100.0) == 5  # maxReplicas


def test_stats_urls_of_resolved_addresses() -> None:
    assert autoscaling.stats_urls(["10.0.0.2", "10.0.0.1", "10.0.0.2", "fd00::5"], 8080) == [
        "http://10.0.0.1:8080", "http://10.0.0.2:8080", "http://[fd00::5]:8080"]
    assert autoscaling.stats_urls([], 8080) == []
