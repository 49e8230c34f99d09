"""``kfn top``'s arithmetic on real exposition text: parsing, rates and histogram quantiles.

The text comes from a real prometheus_client registry filled through the gateway's Metrics, so a
change in the exposition format breaks this test rather than the command.
"""

from __future__ import annotations

import prometheus_client as prom
import pytest

from kfn import top
from kfn_gateway.metrics import Metrics
from kfn_gateway.outcomes import Kind, Outcome


def exposition(m: Metrics) -> str:
    return m.exposition().decode()


def test_rates_errors_and_p99_between_two_snapshots():
    m = Metrics(prom.CollectorRegistry())
    m.describe_function("default", "hello", ["url"], 3)
    m.describe_function("default", "idle", ["url"], 3)
    before = top.parse(exposition(m), at=0.0)
    for i in range(100):
        kind = Kind.ERROR if i < 10 else Kind.SUCCESS
        m.observe("default", "hello", "url", Outcome(kind, b"{}", "r", duration=0.02 if i < 99 else 5.0))
    m.replicas_ready.labels("default", "hello").set(2)
    m.replicas_desired.labels("default", "hello").set(3)
    after = top.parse(exposition(m), at=10.0)
    rows = top.rows(before, after)
    assert [r.key for r in rows] == [("default", "hello"), ("default", "idle")]
    hello = rows[0]
    assert hello.rate == pytest.approx(10.0)
    assert hello.error_rate == pytest.approx(0.10)
    assert 0.01 < hello.p99 <= 0.025  # 99th of 100: the 0.02 s bucket, not the one 5 s outlier
    assert (hello.ready, hello.desired) == (2, 3)
    assert rows[1].p99 is None and rows[1].rate == 0
    screen = top.render(rows, "http://x", 10)
    assert "default/hello" in screen and "10.0%" in screen and "2/3" in screen


@pytest.mark.parametrize("buckets, q, expected", [
    ({0.1: 0, 1.0: 10, float("inf"): 10}, 0.5, 0.55),
    ({0.1: 5, 1.0: 10, float("inf"): 10}, 0.5, 0.1),
    ({0.1: 0, 1.0: 0, float("inf"): 4}, 0.99, 1.0),   # beyond the last finite bucket: its bound
    ({0.1: 0, float("inf"): 0}, 0.5, None),
    ({}, 0.5, None),
])
def test_quantile_like_prometheus(buckets, q, expected):
    got = top.quantile(q, buckets)
    assert got == (pytest.approx(expected) if expected is not None else None)
