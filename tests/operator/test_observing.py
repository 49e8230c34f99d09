"""The operator's health and metrics server, with kopf running for real against the emulator.

Faked: the API server (the project's emulator) and, for the autoscaler, a gateway's ``/stats``
(a real aiohttp server answering what a gateway would). Asserted: readiness before and after
kopf starts, the families' values after reconciliations that succeed and fail, the Ready gauge
following creation and deletion, the autoscaler's decisions and stats reads, bad requests.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, AsyncIterator

import aiohttp
import prometheus_client as prom
import pytest
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from kfn_operator import metrics, serving
from tests import http_servers
from tests.k8s.fixtures import Cluster
from tests.k8s.waiting import eventually
from tests.operator.conftest import OPERATOR_ENV, running_operator
from tests.operator.test_functions import DEP, FN, TRIGGERS, function

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(session: aiohttp.ClientSession, url: str) -> Samples:
    async with session.get(f"{url}/metrics") as resp:
        assert resp.status == 200 and resp.content_type == "text/plain"
        text = await resp.text()
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def test_health_and_metrics_follow_reconciliations(cluster: Cluster) -> None:
    async with running_operator(cluster, OPERATOR_ENV) as op, aiohttp.ClientSession() as session:
        for path in ("/healthz", "/readyz"):
            async with session.get(op.url + path) as resp:
                assert resp.status == 200, path
        await cluster.request("POST", FN, function("hello"))
        await cluster.request("POST", FN, function(
            "needs-secret", env=[{"name": "K", "valueFrom": {"secretKeyRef": {"name": "absent", "key": "k"}}}]))
        await cluster.request("POST", TRIGGERS, {"apiVersion": "kfn.dev/v1alpha1", "kind": "Trigger",
                                                 "metadata": {"name": "orphan"},
                                                 "spec": {"function": "nobody", "http": {"path": "/x"}}})

        async def settled() -> Samples:
            s = await scrape(session, op.url)
            assert value(s, "kfn_operator_reconciliations_total", kind="Function", reason="Deployed") >= 1
            assert value(s, "kfn_operator_reconciliations_total", kind="Function", reason="MissingReference") >= 1
            assert value(s, "kfn_operator_reconciliations_total", kind="Trigger", reason="FunctionNotFound") >= 1
            assert value(s, "kfn_operator_objects", kind="Function", ready="true") == 1
            assert value(s, "kfn_operator_objects", kind="Function", ready="false") == 1
            assert value(s, "kfn_operator_objects", kind="Trigger", ready="false") == 1
            assert value(s, "kfn_operator_autoscale_decisions_total", action="hold") >= 1
            return s
        s = await eventually(settled)
        assert value(s, "kfn_operator_reconcile_duration_seconds_count", kind="Function") == sum(
            value(s, "kfn_operator_reconciliations_total", kind="Function", reason=r) for r in metrics.REASONS)
        # No function's name in any label: the operator's series do not grow with Functions.
        assert not [key for key in s if any(k in ("function", "name") for k, _ in key[1])]

        await cluster.request("DELETE", f"{FN}/needs-secret")
        await cluster.request("DELETE", f"{TRIGGERS}/orphan")

        async def forgotten() -> bool:
            s = await scrape(session, op.url)
            return (value(s, "kfn_operator_objects", kind="Function", ready="false"),
                    value(s, "kfn_operator_objects", kind="Trigger", ready="false"),
                    value(s, "kfn_operator_objects", kind="Function", ready="true")) == (0, 0, 1)
        await eventually(forgotten)


@contextlib.asynccontextmanager
async def fake_gateway(report: dict[str, Any]) -> AsyncIterator[str]:
    """A gateway's ``/stats`` answering ``report``; ``report["status"]`` other than 200 makes it fail."""
    async def stats(request: web.Request) -> web.Response:
        if report.get("status", 200) != 200:
            return web.json_response({"error": "down"}, status=report["status"])
        return web.json_response({"functions": report["functions"]})
    app = web.Application()
    app.router.add_get("/stats", stats)
    async with http_servers.serve(app) as url:
        yield url


async def test_autoscaler_decisions_and_stats_reads_are_counted(cluster: Cluster) -> None:
    report: dict[str, Any] = {"functions": {"default/hello": {"inFlight": 3, "peakInFlight": 3,
                                                              "lastRequestAgeSeconds": 0.0}}}
    async with fake_gateway(report) as gateway:
        # Found by DNS, as the chart does it with the gateway's headless Service: "localhost" here.
        env = OPERATOR_ENV | {"KFN_GATEWAY_STATS_DNS": "localhost:" + gateway.rsplit(":", 1)[1], "KFN_STABLE_WINDOW": "0"}
        async with running_operator(cluster, env) as op, aiohttp.ClientSession() as session:
            await cluster.request("POST", FN, function("hello", scaling={"maxReplicas": 5}))

            async def scaled_up() -> Samples:
                assert (await cluster.get(f"{DEP}/fn-hello/scale"))["spec"]["replicas"] >= 1
                s = await scrape(session, op.url)
                assert value(s, "kfn_operator_autoscale_decisions_total", action="up") >= 1
                assert value(s, "kfn_operator_gateway_stats_reads_total", outcome="ok") >= 1
                assert value(s, "kfn_operator_gateways") == 1
                return s
            s = await eventually(scaled_up)
            assert value(s, "kfn_operator_gateway_stats_read_duration_seconds_count") == sum(
                value(s, "kfn_operator_gateway_stats_reads_total", outcome=o) for o in ("ok", "failed"))

            report["status"] = 500

            async def failing() -> bool:
                s = await scrape(session, op.url)
                return (value(s, "kfn_operator_gateway_stats_reads_total", outcome="failed") >= 1
                        and value(s, "kfn_operator_autoscale_decisions_total", action="skipped") >= 1)
            await eventually(failing)
            assert value(s, "kfn_operator_autoscale_decisions_total", action="down") == 0


async def test_a_name_that_does_not_resolve_is_missing_data(cluster: Cluster) -> None:
    env = OPERATOR_ENV | {"KFN_GATEWAY_STATS_DNS": "kfn-gateway-pods.nowhere.invalid:8080"}
    async with running_operator(cluster, env) as op, aiohttp.ClientSession() as session:
        await cluster.request("POST", FN, function("hello", scaling={"minReplicas": 1, "maxReplicas": 5}))

        async def skipped() -> bool:
            s = await scrape(session, op.url)
            return (value(s, "kfn_operator_gateway_stats_reads_total", outcome="failed") >= 1
                    and value(s, "kfn_operator_autoscale_decisions_total", action="skipped") >= 1)
        await eventually(skipped)
        assert (await cluster.get(f"{DEP}/fn-hello/scale"))["spec"]["replicas"] == 1  # untouched


async def test_not_ready_until_kopf_has_started_and_bad_requests() -> None:
    ready = asyncio.Event()
    async with serving.serving("127.0.0.1", 0, metrics.Metrics(), ready) as url, aiohttp.ClientSession() as session:
        async with session.get(f"{url}/readyz") as resp:
            assert resp.status == 503 and (await resp.json())["status"] == "starting"
        async with session.get(f"{url}/healthz") as resp:
            assert resp.status == 200  # alive while starting: liveness must not kill a slow start
        ready.set()
        async with session.get(f"{url}/readyz") as resp:
            assert resp.status == 200
        async with session.post(f"{url}/metrics", data=b"x") as resp:
            assert resp.status == 405
        async with session.get(f"{url}/nothing") as resp:
            assert resp.status == 404
        async with session.get(f"{url}/healthz", data=b"x" * 4096) as resp:
            assert resp.status in (200, 413)  # a GET body is never read; a large one never crashes it
        async with session.get(f"{url}/metrics") as resp:
            assert resp.status == 200


async def test_a_port_in_use_is_refused_with_the_settings_named() -> None:
    ready = asyncio.Event()
    async with serving.serving("127.0.0.1", 0, metrics.Metrics(), ready) as url:
        port = int(url.rsplit(":", 1)[1])
        with pytest.raises(serving.CannotListen, match=rf"127\.0\.0\.1:{port} \(KFN_HOST, KFN_PORT\)"):
            async with serving.serving("127.0.0.1", port, metrics.Metrics(), ready):
                pass


EXPECTED = {
    "kfn_operator_reconciliations": ("counter", {"kind", "reason"}),
    "kfn_operator_reconcile_duration_seconds": ("histogram", {"kind"}),
    "kfn_operator_objects": ("gauge", {"kind", "ready"}),
    "kfn_operator_autoscale_decisions": ("counter", {"action"}),
    "kfn_operator_gateway_stats_reads": ("counter", {"outcome"}),
    "kfn_operator_gateway_stats_read_duration_seconds": ("histogram", set()),
    "kfn_operator_gateways": ("gauge", set()),
}


def test_family_snapshot() -> None:
    found = {}
    for family in metrics.Metrics().registry.collect():
        labels: set[str] = set()
        for sample in family.samples:
            labels |= set(sample.labels) - {"le"}
        found[family.name] = (family.type, labels)
    assert found == EXPECTED


def test_ready_gauge_bookkeeping_and_bounded_reasons() -> None:
    m = metrics.Metrics(prom.CollectorRegistry())
    ok = {"status": {"conditions": [{"type": "Ready", "status": "True"}]}}
    bad = {"status": {"conditions": [{"type": "Ready", "status": "False"}]}}
    for body in (ok, ok, bad, ok, {}, bad):  # updates of one object: counted once, in its last state
        m.seen("Function", "default/a", body)
    m.seen("Function", "default/b", ok)
    got = {r: m.objects.labels("Function", r)._value.get() for r in ("true", "false", "unknown")}
    assert got == {"true": 1, "false": 1, "unknown": 0}
    m.seen("Function", "default/a", None)
    m.seen("Function", "default/never-seen", None)  # a deletion of an object never seen changes nothing
    got = {r: m.objects.labels("Function", r)._value.get() for r in ("true", "false", "unknown")}
    assert got == {"true": 1, "false": 0, "unknown": 0}
    for i in range(1000):
        m.reconciled("Function", f"Made-Up-{i}", 0.01)
    reasons = {s.labels["reason"] for f in m.registry.collect() if f.name == "kfn_operator_reconciliations"
               for s in f.samples}
    assert reasons == set(metrics.REASONS)
    assert m.reconciliations.labels("Function", "Other")._value.get() == 1000
    assert metrics.readiness({"status": {"conditions": [{"type": "Ready", "status": "Maybe"}]}}) == "unknown"
    assert metrics.readiness({"status": None}) == "unknown"
