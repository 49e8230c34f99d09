"""Scale from zero and back on the emulator, end to end.

A request to a function at zero replicas reaches a gateway; its activator raises the
Deployment's scale; the test kubelet starts a real runtime process and publishes it as an
EndpointSlice; the gateway forwards the held request; the operator's autoscaler brings the
function back to zero once idle. Two gateways serve at once without fighting over the scale.
"""

from __future__ import annotations

import asyncio
import pathlib
from typing import Any

import aiohttp
import pytest

from kfn_gateway import cluster as gateway_cluster
from kfn_gateway.backends import kubernetes as k8s_backend
from kfn_operator import builders
from tests.cluster_e2e.conftest import gateway
from tests.k8s.fixtures import Cluster
from tests.k8s.kubelet import Kubelet
from tests.k8s.waiting import eventually

pytestmark = pytest.mark.e2e

FN = "/apis/kfn.dev/v1alpha1/namespaces/default/functions"
TRIGGERS = "/apis/kfn.dev/v1alpha1/namespaces/default/triggers"
DEP = "/apis/apps/v1/namespaces/default/deployments/fn-hello"
CODE = """\
import os
def handler(event, context):
    return {"greeting": os.environ["GREETING"], "path": event["rawPath"], "fn": context.function_name}
"""


def hello(idle_seconds: int = 2) -> dict[str, Any]:
    return {"apiVersion": "kfn.dev/v1alpha1", "kind": "Function", "metadata": {"name": "hello"},
            "spec": {"runtime": "python3.11", "handler": "app.handler", "code": {"inline": CODE},
                     "env": [{"name": "GREETING", "value": "hi"}], "timeoutSeconds": 10,
                     "scaling": {"maxReplicas": 3, "scaleToZeroAfterSeconds": idle_seconds}}}


async def deploy(cluster: Cluster, gateways: list[gateway_cluster.Gateway], idle_seconds: int = 2) -> None:
    await cluster.request("POST", FN, hello(idle_seconds))
    await cluster.request("POST", TRIGGERS, {"apiVersion": "kfn.dev/v1alpha1", "kind": "Trigger",
                                             "metadata": {"name": "hello-http"},
                                             "spec": {"function": "hello", "http": {"path": "/hello"}}})

    async def known() -> bool:
        dep = await cluster.maybe_get(DEP)
        return dep is not None and all("default/hello" in g.states and g.backend.routes.match("/hello")
                                       for g in gateways)
    await eventually(known)


async def replicas(cluster: Cluster) -> int:
    return int((await cluster.get(f"{DEP}/scale"))["spec"]["replicas"])


def scale_history(cluster: Cluster) -> list[int]:
    """Every value the Deployment's spec.replicas took, in order, without repeats."""
    history = cluster.emulator.objects["apps/v1/deployments", "default", "fn-hello"].history
    values: list[int] = []
    for version in history:
        if version is not None and (not values or values[-1] != version["spec"]["replicas"]):
            values.append(version["spec"]["replicas"])
    return values


async def post(session: aiohttp.ClientSession, url: str, body: bytes = b"{}") -> tuple[int, Any]:
    async with session.post(url, data=body, timeout=aiohttp.ClientTimeout(total=30)) as resp:
        return resp.status, await resp.json(content_type=None)


async def test_request_at_zero_scales_up_answers_and_goes_back_to_zero(
        cluster: Cluster, gateways: list[gateway_cluster.Gateway], operator: None, kubelet: Kubelet) -> None:
    await deploy(cluster, gateways)
    assert await replicas(cluster) == 0
    first, second = gateways
    status, body = await post(cluster.session, f"{first.url}/fn/default/hello")
    assert status == 200, (body, kubelet.logs())
    assert body == {"greeting": "hi", "path": "/fn/default/hello", "fn": "hello"}
    assert await replicas(cluster) == 1
    # Warm now: the other gateway sees the same endpoint and routes the Trigger's path to it.
    status, body = await post(cluster.session, f"{second.url}/hello")
    assert status == 200 and body["path"] == "/hello", body
    assert kubelet.started["default/fn-hello"] == 1
    async with cluster.session.get(f"{first.url}/metrics") as resp:
        exposition = await resp.text()
    assert 'kfn_function_cold_starts_total{function="hello",namespace="default"} 1.0' in exposition
    assert 'kfn_function_cold_start_duration_seconds_count{function="hello",namespace="default"} 1.0' in exposition

    async def scaled_to_zero() -> bool:
        return await replicas(cluster) == 0 and not any(g.states["default/hello"].replicas for g in gateways)
    await eventually(scaled_to_zero, timeout=20)
    assert scale_history(cluster) == [0, 1, 0]

    async def status_mirrors_it() -> bool:
        status = (await cluster.get(f"{FN}/hello"))["status"]
        return status["replicas"] == 0 and status["readyReplicas"] == 0 and status["url"].endswith("/fn/default/hello")
    await eventually(status_mirrors_it)


async def test_two_gateways_activating_at_once_agree_on_one_replica(
        cluster: Cluster, gateways: list[gateway_cluster.Gateway], operator: None, kubelet: Kubelet) -> None:
    await deploy(cluster, gateways, idle_seconds=30)
    results = await asyncio.gather(*(post(cluster.session, f"{g.url}/fn/default/hello")
                                     for g in gateways for _ in range(3)))
    assert [status for status, _ in results] == [200] * 6, (results, kubelet.logs())
    assert scale_history(cluster) == [0, 1]
    assert kubelet.started["default/fn-hello"] == 1
    stats = [await (await cluster.session.get(f"{g.url}/stats")).json() for g in gateways]
    assert all(s["functions"]["default/hello"]["readyReplicas"] == 1 for s in stats)


async def test_a_held_request_gets_503_with_the_reason_when_no_pod_can_come(
        cluster: Cluster, tmp_path: pathlib.Path) -> None:
    # No operator: the Function exists but nothing made its Deployment, so no pod can start.
    async with gateway(cluster, tmp_path / "gw", KFN_ACTIVATION_TIMEOUT="1") as gw:
        await cluster.request("POST", FN, hello())
        await eventually(lambda: _known(gw))
        status, body = await post(cluster.session, f"{gw.url}/fn/default/hello")
    assert status == 503, body
    assert "Deployment default/fn-hello does not exist" in body["errorMessage"], body


async def test_a_function_pinned_at_zero_is_refused_with_the_reason(cluster: Cluster, tmp_path: pathlib.Path) -> None:
    async with gateway(cluster, tmp_path / "gw", KFN_ACTIVATION_TIMEOUT="0.5") as gw:
        await cluster.request("POST", FN, {**hello(), "spec": {**hello()["spec"], "replicas": 0}})
        await eventually(lambda: _known(gw))
        status, body = await post(cluster.session, f"{gw.url}/fn/default/hello")
    assert status == 503 and "held at 0 replicas by spec.replicas" in body["errorMessage"], body


async def _known(gw: gateway_cluster.Gateway) -> bool:
    return "default/hello" in gw.states


def test_the_gateway_finds_the_deployment_the_operator_names() -> None:
    from kfn import api
    for name in ("hello", "a" * 60, "9" + "b" * 62):
        fn = api.parse_function({"apiVersion": "kfn.dev/v1alpha1", "kind": "Function", "metadata": {"name": name},
                                 "spec": {"runtime": "python3.12", "handler": "a.b", "code": {"image": "x"}}})
        assert k8s_backend.deployment_name(name) == builders.child_name(fn)


async def test_deleting_a_function_answers_its_waiting_requests(cluster: Cluster, tmp_path: pathlib.Path) -> None:
    async with gateway(cluster, tmp_path / "gw", KFN_ACTIVATION_TIMEOUT="20") as gw:
        await cluster.request("POST", FN, hello())
        await eventually(lambda: _known(gw))
        waiting = asyncio.create_task(post(cluster.session, f"{gw.url}/fn/default/hello"))
        await eventually(lambda: _waiting(gw))
        await cluster.request("DELETE", f"{FN}/hello")
        status, body = await asyncio.wait_for(waiting, 10)
    assert status == 404 and body["errorType"] == "ResourceNotFoundException", body


async def _waiting(gw: gateway_cluster.Gateway) -> bool:
    state = gw.states.get("default/hello")
    return state is not None and len(state.waiters) == 1


async def test_the_activator_never_lowers_a_scale(cluster: Cluster, tmp_path: pathlib.Path) -> None:
    # The autoscaler asked for 2 (no pods yet); a request needing 1 must leave it at 2.
    await cluster.request("POST", "/apis/apps/v1/namespaces/default/deployments", {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "fn-hello"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"kfn.dev/function": "hello"}},
                 "template": {"metadata": {"labels": {"kfn.dev/function": "hello"}},
                              "spec": {"containers": [{"name": "function", "image": "x"}]}}}})
    async with gateway(cluster, tmp_path / "gw", KFN_ACTIVATION_TIMEOUT="1") as gw:
        await cluster.request("POST", FN, hello())
        await eventually(lambda: _known(gw))
        status, _ = await post(cluster.session, f"{gw.url}/fn/default/hello")
    assert status == 503
    assert await replicas(cluster) == 2
