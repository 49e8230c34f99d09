"""Installing the chart into the project's Kubernetes emulator, and running the operator and the
gateway with exactly the settings the chart gives their pods; RBAC checked against what they call.

Real: Helm's rendering, kopf and the operator's handlers, the gateway with its kubernetes backend,
the runtime processes serving the invocation, HTTP everywhere. Emulated: the API server
(tests/k8s/emulator.py) and the kubelet (tests/k8s/kubelet.py). Substituted, because a test
process is not a pod: the listen address and port of the gateway (127.0.0.1, a free port), its
state directory, the NATS URL (a local nats-server) and the operator's per-replica stats URLs
(the in-process gateway's URL instead of the StatefulSet's DNS names); shorter retry and
autoscaler intervals so that the test is quick. Every other variable is the rendered one.

The operator and the gateway each present their own bearer token to an authorizing proxy in
front of the emulator (tests/chart/authorizing.py) that enforces the chart's rendered RBAC as the
API server would: a call the chart does not grant fails with 403 here as it would in a cluster.
The emulator records what got through, so the (apiGroup, resource, verb) each component used is
known; the chart must grant exactly that set: nothing missing, nothing unused. The scenario drives every call site of both
components: create, update and delete of Functions, a missing Secret, a
Trigger, a scale from zero by the activator and a scale to zero by the autoscaler.
"""

from __future__ import annotations

import asyncio
import contextlib
import pathlib
import shutil
from typing import Any, AsyncIterator

import aiohttp
import kopf
import pytest
from kubernetes_asyncio.client import Configuration

from kfn_gateway import cluster as gateway_cluster
from kfn_gateway import settings as gateway_settings
from kfn_operator import handlers, running
from kfn_operator import settings as operator_settings
from tests.chart import authorizing
from tests.chart.rendering import NAMESPACE, render
from tests.k8s.fixtures import Cluster, cluster  # noqa: F401
from tests.k8s.kubelet import Kubelet
from tests.k8s.waiting import eventually

Obj = dict[str, Any]
Permission = tuple[str, str, str]
FUNCTIONS_NS = "team-a"

def recorded(emulator: Any, token: str) -> dict[Permission, set[str | None]]:
    """(group, resource[/subresource], verb) → namespaces, of the requests made with ``token``."""
    seen: dict[Permission, set[str | None]] = {}
    for request in list(emulator):
        if (request.headers.get("Authorization") != f"Bearer {token}" or request.resource is None
                or request.resource.plural is None):  # discovery
            continue
        resource = request.resource.plural + (f"/{request.subresource}" if request.subresource else "")
        key = (request.resource.group or "", resource, authorizing.verb(str(request.method.value), request.name, request.params))
        seen.setdefault(key, set()).add(request.namespace)
    return seen


def granted(rules: list[Obj]) -> set[Permission]:
    result = set()
    for rule in rules:
        assert "*" not in rule["apiGroups"] + rule["resources"] + rule["verbs"], rule
        assert "resourceNames" not in rule and "nonResourceURLs" not in rule
        result |= {(g, r, v) for g in rule["apiGroups"] for r in rule["resources"] for v in rule["verbs"]}
    return result


def grants_of(rendered: Any) -> dict[str, authorizing.Grant]:
    """Each component's permissions as the chart binds them to its ServiceAccount."""
    result = {}
    for binding in rendered.of_kind("ClusterRoleBinding") + rendered.of_kind("RoleBinding"):
        [subject] = binding["subjects"]
        role = rendered.one(binding["roleRef"]["kind"], binding["roleRef"]["name"])
        component = subject["name"].removeprefix("kfn-")
        assert subject["namespace"] == NAMESPACE and component not in result
        result[component] = authorizing.Grant(frozenset(granted(role["rules"])),
                                              binding["metadata"].get("namespace"))
    return result


def env_of(rendered: Any, kind: str, name: str) -> dict[str, str]:
    [container] = rendered.one(kind, name)["spec"]["template"]["spec"]["containers"]
    return {e["name"]: e["value"] for e in container["env"] if "value" in e}


def configuration(url: str, token: str) -> Configuration:
    return Configuration(host=url, api_key={"BearerToken": token}, api_key_prefix={"BearerToken": "Bearer"})


async def install(cluster: Cluster, rendered: Any) -> None:  # noqa: F811
    """What ``helm install`` sends: every rendered object, created in its namespace."""
    kinds = {(f"{r.group}/{r.version}" if r.group else r.version, info.kind): (r, info)
             for r, info in cluster.emulator.resources.items()}
    for obj in rendered.objects:
        resource, info = kinds[(obj["apiVersion"], obj["kind"])]
        prefix = f"/apis/{resource.group}/{resource.version}" if resource.group else f"/api/{resource.version}"
        namespace = f"/namespaces/{obj['metadata']['namespace']}" if info.namespaced else ""
        await cluster.request("POST", f"{prefix}{namespace}/{resource.plural}", obj)


@contextlib.asynccontextmanager
async def nats_url(tmp_path: pathlib.Path) -> AsyncIterator[str]:
    from tests.queue.nats_server import NatsServer
    if shutil.which("nats-server") is None and not pathlib.Path("/usr/sbin/nats-server").exists():
        pytest.skip("nats-server is not installed (scripts/test-deps installs it)")
    server = NatsServer(tmp_path / "nats", tmp_path / "nats.log")
    try:
        yield server.url
    finally:
        server.stop()


def function(name: str, **spec: Any) -> Obj:
    return {"apiVersion": "kfn.dev/v1alpha1", "kind": "Function", "metadata": {"name": name, "namespace": FUNCTIONS_NS},
            "spec": {"runtime": "python3.12", "handler": "app.handler",
                     "code": {"inline": "def handler(event, context):\n    return {'hello': event.get('body')}\n"},
                     "scaling": {"minReplicas": 0, "maxReplicas": 2, "scaleToZeroAfterSeconds": 1}, **spec}}


@pytest.mark.parametrize("key", ["namespaced", "cluster-wide"])
async def test_the_chart_installs_serves_a_function_and_grants_exactly_what_is_called(
        key: str, cluster: Cluster, tmp_path: pathlib.Path) -> None:  # noqa: F811
    rendered = render(key)
    await install(cluster, rendered)
    grants = grants_of(rendered)
    assert sorted(grants) == ["gateway", "operator"]
    base = "/apis/kfn.dev/v1alpha1/namespaces/" + FUNCTIONS_NS

    genv = env_of(rendered, "StatefulSet", "kfn-gateway")
    async with contextlib.AsyncExitStack() as stack:
        api = await stack.enter_async_context(authorizing.AuthorizingProxy(cluster.url, grants))
        genv |= {"KFN_HOST": "127.0.0.1", "KFN_PORT": "0", "KFN_STATE_DIR": str(tmp_path / "state"),
                 "KFN_NATS_URL": await stack.enter_async_context(nats_url(tmp_path))}
        (tmp_path / "state").mkdir()
        gw = await stack.enter_async_context(gateway_cluster.running(
            gateway_settings.load_settings(genv), gateway_cluster.load_cluster_settings(genv),
            configuration(api.url, "gateway")))
        await gw.backend.synced()
        kubelet = await stack.enter_async_context(Kubelet(cluster, tmp_path / "pods"))
        oenv = env_of(rendered, "Deployment", "kfn-operator") | {
            # The rendered name is the headless Service's; here "localhost" resolves to the gateway.
            "KFN_GATEWAY_STATS_DNS": "localhost:" + gw.url.rsplit(":", 1)[1],
            "KFN_RETRY_DELAY": "0.2", "KFN_AUTOSCALE_INTERVAL": "0.3",
            "KFN_STATUS_INTERVAL": "0.3", "KFN_STABLE_WINDOW": "0", "KFN_HOST": "127.0.0.1", "KFN_PORT": "0"}
        ready = asyncio.Event()
        operator_url: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        operator = asyncio.create_task(running.run(operator_settings.load_settings(oenv),
                                                   configuration(api.url, "operator"), ready_flag=ready,
                                                   listening=operator_url.set_result))
        try:
            async with asyncio.timeout(15):
                await ready.wait()
            [container] = rendered.one("Deployment", "kfn-operator")["spec"]["template"]["spec"]["containers"]
            async with aiohttp.ClientSession() as session:
                for probe in ("readinessProbe", "livenessProbe"):  # the chart's probes, answered
                    async with session.get(await operator_url + container[probe]["httpGet"]["path"]) as resp:
                        assert resp.status == 200, probe
            await cluster.request("POST", f"{base}/functions", function("hello"))
            await cluster.request("POST", f"{base}/functions", function(
                "needs-secret", env=[{"name": "K", "valueFrom": {"secretKeyRef": {"name": "absent", "key": "k"}}}]))
            await cluster.request("POST", f"{base}/triggers", {
                "apiVersion": "kfn.dev/v1alpha1", "kind": "Trigger", "metadata": {"name": "hello-http"},
                "spec": {"function": "hello", "http": {"path": "/hello"}}})

            async def ready_condition(name: str, resource: str = "functions") -> bool:
                obj = await cluster.get(f"{base}/{resource}/{name}")
                return any(c["type"] == "Ready" and c["status"] == "True"
                           for c in (obj.get("status") or {}).get("conditions") or [])

            await eventually(lambda: ready_condition("hello"))
            await eventually(lambda: ready_condition("hello-http", "triggers"))
            await cluster.request("PATCH", f"{base}/functions/hello", {"spec": {"timeoutSeconds": 20}})
            async with aiohttp.ClientSession() as session:
                async with session.post(f"{gw.url}/fn/{FUNCTIONS_NS}/hello", data=b'{"from": "chart"}',
                                        headers={"Content-Type": "application/json"}, timeout=aiohttp.ClientTimeout(total=30)) as resp:
                    assert resp.status == 200, await resp.text()
                    assert await resp.json() == {"hello": '{"from": "chart"}'}

            async def scaled_to_zero() -> bool:
                deployment = await cluster.get(f"/apis/apps/v1/namespaces/{FUNCTIONS_NS}/deployments/fn-hello")
                return deployment["spec"]["replicas"] == 0

            await eventually(scaled_to_zero, timeout=20)
            # auth: token: the gateway reads the Secret the Function names (refused here: no token).
            await cluster.request("POST", f"/api/v1/namespaces/{FUNCTIONS_NS}/secrets", {
                "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "private-tokens"},
                "data": {"t": "c2VjcmV0"}})
            await cluster.request("POST", f"{base}/functions", function(
                "private", auth={"type": "token", "secretName": "private-tokens"}))

            async def refused() -> bool:
                async with aiohttp.ClientSession() as session:
                    async with session.post(f"{gw.url}/fn/{FUNCTIONS_NS}/private", data=b"{}") as resp:
                        return resp.status == 401
            await eventually(refused)
            async with aiohttp.ClientSession() as session:  # what the operator's ServiceMonitor scrapes
                async with session.get(await operator_url + "/metrics") as resp:
                    text = await resp.text()
            assert 'kfn_operator_autoscale_decisions_total{action="down"}' in text
            assert 'kfn_operator_objects{kind="Function",ready="true"} 1.0' in text

            async def no_pods() -> bool:  # stopped by the kubelet, so that none outlives the test
                return not any(kubelet.pods.values()) and (await cluster.get(
                    f"/apis/apps/v1/namespaces/{FUNCTIONS_NS}/deployments/fn-hello")).get("status", {}).get("replicas") == 0

            await eventually(no_pods)
            await cluster.request("DELETE", f"{base}/functions/needs-secret")
            await eventually(lambda: _gone(cluster, f"{base}/functions/needs-secret"))
        finally:
            operator.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await operator
            await asyncio.sleep(0)

    namespaced = not rendered.values["watch"]["clusterWide"]
    kind = "Role" if namespaced else "ClusterRole"
    # Nothing refused: the operator does not scan namespaces or CRDs (it is told what to watch).
    assert not api.denied, api.denied
    for component in ("operator", "gateway"):
        calls = recorded(cluster.emulator, component)  # what passed the authorizer and reached the API
        grant = grants[component]
        assert set(calls) == set(grant.permissions), (
            f"{component}: granted but never called: {set(grant.permissions) - set(calls)}; "
            f"called: {set(calls) - set(grant.permissions)}")
        if namespaced:
            assert grant.namespace == FUNCTIONS_NS and {ns for n in calls.values() for ns in n} == {FUNCTIONS_NS}
            binding = rendered.one("RoleBinding", f"kfn-{component}")
        else:
            assert grant.namespace is None
            binding = rendered.one("ClusterRoleBinding", f"kfn-{component}")
        assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": f"kfn-{component}"}
        [subject] = binding["subjects"]
        pods = {w["metadata"]["name"]: w for w in rendered.of_kind("Deployment") + rendered.of_kind("StatefulSet")}
        assert subject["name"] == pods[f"kfn-{component}"]["spec"]["template"]["spec"]["serviceAccountName"]


async def _gone(cluster: Cluster, path: str) -> bool:  # noqa: F811
    return await cluster.maybe_get(path) is None
