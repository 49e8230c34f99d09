"""The operator's Function and Trigger handlers, with kopf running for real against the emulator.

Faked: only the API server (the project's emulator) — there are no pods; the tests write a
Deployment's status where a kubelet and the deployment controller would. Asserted: the children
and their owners, that updates roll the pod template but keep the replica count, deletion
cascades, and the Ready condition's reasons with their recovery.
"""

from __future__ import annotations

import asyncio
from typing import Any

from kfn_operator import settings
from tests.k8s.fixtures import Cluster
from tests.k8s.waiting import eventually

NS = "default"
FN = f"/apis/kfn.dev/v1alpha1/namespaces/{NS}/functions"
TRIGGERS = f"/apis/kfn.dev/v1alpha1/namespaces/{NS}/triggers"
DEP = f"/apis/apps/v1/namespaces/{NS}/deployments"
SVC = f"/api/v1/namespaces/{NS}/services"
CM = f"/api/v1/namespaces/{NS}/configmaps"
SECRETS = f"/api/v1/namespaces/{NS}/secrets"
CODE = "def handler(event, context):\n    return {'hello': 'world'}\n"


def function(name: str = "hello", **spec: Any) -> dict[str, Any]:
    body = {"runtime": "python3.12", "handler": "app.handler", "code": {"inline": CODE}}
    body.update(spec)
    return {"apiVersion": "kfn.dev/v1alpha1", "kind": "Function", "metadata": {"name": name, "namespace": NS},
            "spec": body}


def ready(obj: dict[str, Any] | None) -> dict[str, Any] | None:
    conditions = ((obj or {}).get("status") or {}).get("conditions") or []
    return next((c for c in conditions if c["type"] == "Ready"), None)


async def wait_ready(cluster: Cluster, path: str, status: str, reason: str | None = None) -> dict[str, Any]:
    async def check() -> dict[str, Any]:
        obj = await cluster.get(path)
        condition = ready(obj)
        assert condition is not None and condition["status"] == status, condition
        assert reason is None or condition["reason"] == reason, condition
        return obj
    return await eventually(check)


def env(deployment: dict[str, Any]) -> dict[str, Any]:
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


async def test_create_makes_owned_children_and_a_ready_status(
        cluster: Cluster, operator: settings.OperatorSettings) -> None:
    created = await cluster.request("POST", FN, function(env=[{"name": "GREETING", "value": "hi"}]))
    fn = await wait_ready(cluster, f"{FN}/hello", "True", "Deployed")
    uid = created["metadata"]["uid"]
    dep = await cluster.get(f"{DEP}/fn-hello")
    svc = await cluster.get(f"{SVC}/fn-hello")
    cm = await cluster.get(f"{CM}/fn-hello-code")
    for child in (dep, svc, cm):
        [owner] = child["metadata"]["ownerReferences"]
        assert (owner["kind"], owner["name"], owner["uid"], owner["controller"]) == ("Function", "hello", uid, True)
        assert child["metadata"]["labels"]["kfn.dev/function"] == "hello"
    assert cm["data"] == {"app.py": CODE}
    assert dep["spec"]["replicas"] == 0
    assert env(dep)["GREETING"] == "hi" and env(dep)["_HANDLER"] == "app.handler"
    assert dep["spec"]["template"]["spec"]["containers"][0]["image"] == "kfn-runtime:test"
    status = fn["status"]
    assert status["url"] == "http://gw.test/fn/default/hello"
    assert status["observedGeneration"] == fn["metadata"]["generation"]
    assert status["selector"] == "kfn.dev/function=hello"
    assert (status["replicas"], status["readyReplicas"]) == (0, 0)


async def test_updates_roll_the_template_and_keep_the_scale(
        cluster: Cluster, operator: settings.OperatorSettings) -> None:
    await cluster.request("POST", FN, function())
    await wait_ready(cluster, f"{FN}/hello", "True")
    await cluster.request("PATCH", f"{DEP}/fn-hello/scale", {"spec": {"replicas": 2}})  # as the autoscaler would
    before = await cluster.get(f"{DEP}/fn-hello")
    new_code = CODE.replace("world", "there")
    await cluster.request("PATCH", f"{FN}/hello", {"spec": {"code": {"inline": new_code}, "timeoutSeconds": 7,
                                                            "env": [{"name": "MODE", "value": "b"}]}})

    async def rolled() -> dict[str, Any]:
        dep = await cluster.get(f"{DEP}/fn-hello")
        assert env(dep).get("MODE") == "b" and env(dep)["KFN_TIMEOUT_SECONDS"] == "7"
        return dep
    after = await eventually(rolled)
    assert after["spec"]["replicas"] == 2
    assert after["spec"]["template"]["metadata"]["annotations"] != before["spec"]["template"]["metadata"]["annotations"]
    assert (await cluster.get(f"{CM}/fn-hello-code"))["data"] == {"app.py": new_code}
    fn = await wait_ready(cluster, f"{FN}/hello", "True")
    await eventually(lambda: _observed(cluster))
    assert fn["metadata"]["generation"] == 2


async def _observed(cluster: Cluster) -> bool:
    fn = await cluster.get(f"{FN}/hello")
    return bool(fn["status"].get("observedGeneration") == fn["metadata"]["generation"])


async def test_deleting_the_function_removes_its_children(
        cluster: Cluster, operator: settings.OperatorSettings) -> None:
    await cluster.request("POST", FN, function())
    await wait_ready(cluster, f"{FN}/hello", "True")
    await cluster.request("DELETE", f"{FN}/hello")

    async def gone() -> bool:
        children = (f"{DEP}/fn-hello", f"{SVC}/fn-hello", f"{CM}/fn-hello-code")
        return all([await cluster.maybe_get(p) is None for p in children])
    await eventually(gone)


async def test_missing_secret_is_not_ready_then_recovers(
        cluster: Cluster, operator: settings.OperatorSettings) -> None:
    ref = {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "token"}}}
    await cluster.request("POST", FN, function(env=[ref]))
    fn = await wait_ready(cluster, f"{FN}/hello", "False", "MissingReference")
    assert "Secret default/creds not found" in ready(fn)["message"]  # type: ignore[index]
    assert await cluster.maybe_get(f"{DEP}/fn-hello") is None
    await cluster.request("POST", SECRETS, {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "creds"},
                                            "data": {"other": "eA=="}})
    fn = await wait_ready(cluster, f"{FN}/hello", "False", "MissingReference")
    await eventually(lambda: _message_has(cluster, "has no key 'token'"))
    await cluster.request("PATCH", f"{SECRETS}/creds", {"data": {"token": "eA=="}})
    await wait_ready(cluster, f"{FN}/hello", "True", "Deployed")
    assert env(await cluster.get(f"{DEP}/fn-hello"))["TOKEN"] == {"secretKeyRef": {"name": "creds", "key": "token"}}


async def _message_has(cluster: Cluster, text: str) -> bool:
    condition = ready(await cluster.get(f"{FN}/hello"))
    return condition is not None and text in condition["message"]


async def test_invalid_spec_is_not_ready_and_retried_without_a_hot_loop(
        cluster: Cluster, operator: settings.OperatorSettings) -> None:
    # Slipped past the CRD schema (which the API server would check): a reserved variable name.
    await cluster.request("POST", FN, function(env=[{"name": "AWS_LAMBDA_X", "value": "1"}]))
    fn = await wait_ready(cluster, f"{FN}/hello", "False", "InvalidSpec")
    assert "spec.env[0].name" in ready(fn)["message"]  # type: ignore[index]
    start = len(list(cluster.emulator))
    await asyncio.sleep(1.5)  # a window to count attempts in; nothing to wait for
    attempts = [r for r in list(cluster.emulator)[start:]
                if r.method == "PATCH" and r.name == "hello" and r.subresource == "status"]
    # Delays double from 0.2 s: at most 3 attempts fit in 1.5 s; a hot loop would make hundreds.
    assert 1 <= len(attempts) <= 4, f"{len(attempts)} attempts in 1.5 s"
    await cluster.request("PATCH", f"{FN}/hello", {"spec": {"env": [{"name": "X", "value": "1"}]}})
    await wait_ready(cluster, f"{FN}/hello", "True", "Deployed")


async def test_code_path_is_refused_in_a_cluster(
        cluster: Cluster, operator: settings.OperatorSettings) -> None:
    await cluster.request("POST", FN, function(code={"path": "."}))
    fn = await wait_ready(cluster, f"{FN}/hello", "False", "UnsupportedCodeSource")
    assert "kfn dev" in ready(fn)["message"]  # type: ignore[index]


async def test_a_foreign_object_with_the_childs_name_is_not_taken_over(
        cluster: Cluster, operator: settings.OperatorSettings) -> None:
    await cluster.request("POST", SVC, {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "fn-hello"},
                                        "spec": {"ports": [{"port": 1}]}})
    await cluster.request("POST", FN, function())
    fn = await wait_ready(cluster, f"{FN}/hello", "False", "ChildConflict")
    assert "Service fn-hello" in ready(fn)["message"]  # type: ignore[index]


async def test_replica_counts_and_pins_follow_the_deployment(
        cluster: Cluster, operator: settings.OperatorSettings) -> None:
    await cluster.request("POST", FN, function())
    await wait_ready(cluster, f"{FN}/hello", "True")
    # kubectl scale function hello --replicas=3 writes spec.replicas through the scale subresource.
    await cluster.request("PATCH", f"{FN}/hello/scale", {"spec": {"replicas": 3}})

    async def pinned() -> bool:
        return (await cluster.get(f"{DEP}/fn-hello/scale"))["spec"]["replicas"] == 3
    await eventually(pinned)
    # What the deployment controller and kubelets report shows in the Function's status and scale.
    await cluster.request("PATCH", f"{DEP}/fn-hello/status", {"status": {"replicas": 3, "readyReplicas": 2}})

    async def mirrored() -> dict[str, Any]:
        scale = await cluster.get(f"{FN}/hello/scale")
        assert scale["status"] == {"replicas": 3, "selector": "kfn.dev/function=hello"}, scale
        fn = await cluster.get(f"{FN}/hello")
        assert fn["status"]["readyReplicas"] == 2
        return scale
    await eventually(mirrored)
    # Someone scales the Deployment by hand: the pin wins.
    await cluster.request("PATCH", f"{DEP}/fn-hello/scale", {"spec": {"replicas": 1}})
    await eventually(pinned)


async def test_trigger_before_its_function_recovers(
        cluster: Cluster, operator: settings.OperatorSettings) -> None:
    trigger = {"apiVersion": "kfn.dev/v1alpha1", "kind": "Trigger", "metadata": {"name": "hello-http"},
               "spec": {"function": "hello", "http": {"path": "/hello"}}}
    await cluster.request("POST", TRIGGERS, trigger)
    trig = await wait_ready(cluster, f"{TRIGGERS}/hello-http", "False", "FunctionNotFound")
    assert ready(trig)["message"] == "Function default/hello not found"  # type: ignore[index]
    await cluster.request("POST", FN, function())
    await wait_ready(cluster, f"{TRIGGERS}/hello-http", "True", "FunctionFound")
    await cluster.request("DELETE", f"{FN}/hello")
    await wait_ready(cluster, f"{TRIGGERS}/hello-http", "False", "FunctionNotFound")




async def test_a_deployment_deleted_by_hand_comes_back(cluster: Cluster, operator: settings.OperatorSettings) -> None:
    await cluster.request("POST", FN, function())
    await wait_ready(cluster, f"{FN}/hello", "True")
    first = await cluster.get(f"{DEP}/fn-hello")
    await cluster.request("DELETE", f"{DEP}/fn-hello")

    async def recreated() -> bool:
        dep = await cluster.maybe_get(f"{DEP}/fn-hello")
        return dep is not None and dep["metadata"]["uid"] != first["metadata"]["uid"]
    await eventually(recreated)
