"""The project's emulator behaves as a Kubernetes API server where kfn's tests depend on it.

Nothing is faked here but the server itself: requests go over HTTP, as clients send them.
"""

from __future__ import annotations

import asyncio
import json

import aiohttp

from tests.k8s.emulator import match_labels
from tests.k8s.fixtures import Cluster

DEPLOYMENTS = "/apis/apps/v1/namespaces/default/deployments"
FUNCTIONS = "/apis/kfn.dev/v1alpha1/namespaces/default/functions"


def deployment(name: str, **labels: str) -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "labels": labels},
            "spec": {"replicas": 0, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "c", "image": "i",
                                                           "env": [{"name": "A", "value": "1"}]}]}}}}


def function(name: str) -> dict:
    return {"apiVersion": "kfn.dev/v1alpha1", "kind": "Function", "metadata": {"name": name},
            "spec": {"runtime": "python3.12", "handler": "a.b", "code": {"inline": "x"}}}


async def test_server_owned_metadata_and_optimistic_concurrency(cluster: Cluster) -> None:
    created = await cluster.request("POST", DEPLOYMENTS, deployment("a"), expect=201)
    meta = created["metadata"]
    assert meta["uid"] and meta["resourceVersion"] and meta["creationTimestamp"] and meta["generation"] == 1
    await cluster.request("POST", DEPLOYMENTS, deployment("a"), expect=409)
    stale = {"metadata": {"resourceVersion": "1" + meta["resourceVersion"]}, "spec": {"paused": True}}
    await cluster.request("PATCH", f"{DEPLOYMENTS}/a", stale, expect=409)
    patched = await cluster.request("PATCH", f"{DEPLOYMENTS}/a", {"spec": {"paused": True}})
    assert patched["metadata"]["generation"] == 2 and patched["metadata"]["uid"] == meta["uid"]
    assert int(patched["metadata"]["resourceVersion"]) > int(meta["resourceVersion"])
    named = await cluster.request("POST", DEPLOYMENTS, {**deployment(""), "metadata": {"generateName": "x-"}})
    assert named["metadata"]["name"].startswith("x-") and len(named["metadata"]["name"]) == 7


async def test_status_is_a_separate_subresource(cluster: Cluster) -> None:
    await cluster.request("POST", FUNCTIONS, {**function("f"), "status": {"url": "ignored"}})
    obj = await cluster.request("PATCH", f"{FUNCTIONS}/f", {"spec": {"timeoutSeconds": 5}, "status": {"url": "no"}})
    assert "status" not in obj and obj["metadata"]["generation"] == 2
    obj = await cluster.request("PATCH", f"{FUNCTIONS}/f/status",
                                {"spec": {"timeoutSeconds": 9}, "status": {"url": "u"}})
    assert obj["status"] == {"url": "u"} and obj["spec"]["timeoutSeconds"] == 5 and obj["metadata"]["generation"] == 2


async def test_scale_subresources(cluster: Cluster) -> None:
    await cluster.request("POST", DEPLOYMENTS, deployment("a"))
    scale = await cluster.get(f"{DEPLOYMENTS}/a/scale")
    assert scale["kind"] == "Scale" and scale["apiVersion"] == "autoscaling/v1"
    assert scale["spec"] == {"replicas": 0} and scale["status"]["selector"] == "app=a"
    stale = {"metadata": {"resourceVersion": "999"}, "spec": {"replicas": 1}}
    await cluster.request("PATCH", f"{DEPLOYMENTS}/a/scale", stale, expect=409)
    await cluster.request("PATCH", f"{DEPLOYMENTS}/a/scale", {"spec": {"replicas": 3}})
    assert (await cluster.get(f"{DEPLOYMENTS}/a"))["spec"]["replicas"] == 3
    await cluster.request("POST", FUNCTIONS, function("f"))
    await cluster.request("PATCH", f"{FUNCTIONS}/f/status", {"status": {"replicas": 2, "selector": "k=v"}})
    await cluster.request("PATCH", f"{FUNCTIONS}/f/scale", {"spec": {"replicas": 4}})
    fscale = await cluster.get(f"{FUNCTIONS}/f/scale")
    assert fscale["spec"] == {"replicas": 4} and fscale["status"] == {"replicas": 2, "selector": "k=v"}


async def test_patch_flavours(cluster: Cluster) -> None:
    await cluster.request("POST", DEPLOYMENTS, deployment("a"))
    strategic = {"spec": {"template": {"spec": {"containers": [{"name": "c", "env": [{"name": "B", "value": "2"}]}]}}}}
    obj = await cluster.request("PATCH", f"{DEPLOYMENTS}/a", strategic,
                                content_type="application/strategic-merge-patch+json")
    assert [e["name"] for e in obj["spec"]["template"]["spec"]["containers"][0]["env"]] == ["A", "B"]
    assert obj["spec"]["template"]["spec"]["containers"][0]["image"] == "i"
    obj = await cluster.request("PATCH", f"{DEPLOYMENTS}/a", strategic)  # merge patch: lists replaced
    assert obj["spec"]["template"]["spec"]["containers"] == strategic["spec"]["template"]["spec"]["containers"]
    test = [{"op": "test", "path": "/metadata/resourceVersion", "value": "0"},
            {"op": "replace", "path": "/spec/paused", "value": True}]
    await cluster.request("PATCH", f"{DEPLOYMENTS}/a", test, content_type="application/json-patch+json", expect=422)
    await cluster.request("POST", FUNCTIONS, function("f"))
    await cluster.request("PATCH", f"{FUNCTIONS}/f", {"spec": {}}, expect=415,
                          content_type="application/strategic-merge-patch+json")


async def test_label_and_field_selectors(cluster: Cluster) -> None:
    for name, tier in (("a", "web"), ("b", "db"), ("c", "web")):
        await cluster.request("POST", DEPLOYMENTS, deployment(name, tier=tier))
    names = lambda listing: [i["metadata"]["name"] for i in listing["items"]]  # noqa: E731
    assert names(await cluster.request("GET", DEPLOYMENTS, labelSelector="tier=web")) == ["a", "c"]
    assert names(await cluster.request("GET", DEPLOYMENTS, labelSelector="tier notin (web)")) == ["b"]
    assert names(await cluster.request("GET", DEPLOYMENTS, fieldSelector="metadata.name=b")) == ["b"]
    assert match_labels("a,!b,c in (1,2)", {"a": "x", "c": "2"}) and not match_labels("!a", {"a": ""})


async def test_watch_resumes_filters_and_ends(cluster: Cluster) -> None:
    first = await cluster.request("POST", DEPLOYMENTS, deployment("a", tier="web"))
    await cluster.request("POST", DEPLOYMENTS, deployment("b", tier="db"))
    await cluster.request("PATCH", f"{DEPLOYMENTS}/a", {"metadata": {"labels": {"tier": "db"}}})
    params = {"watch": "true", "resourceVersion": first["metadata"]["resourceVersion"],
              "labelSelector": "tier=web", "timeoutSeconds": "1"}
    async with cluster.session.get(cluster.url + DEPLOYMENTS, params=params) as resp:
        assert resp.headers["Content-Type"].startswith("application/json")
        events = [json.loads(line) async for line in resp.content if line.strip()]
    # "a" left the selector after the resourceVersion we resumed from: a DELETED, nothing about "b".
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [("DELETED", "a")]


async def test_deleting_an_owner_collects_its_dependents(cluster: Cluster) -> None:
    owner = await cluster.request("POST", FUNCTIONS, function("f"))
    ref = {"apiVersion": "kfn.dev/v1alpha1", "kind": "Function", "name": "f", "uid": owner["metadata"]["uid"],
           "controller": True, "blockOwnerDeletion": True}
    child = deployment("fn-f")
    child["metadata"]["ownerReferences"] = [ref]
    await cluster.request("POST", DEPLOYMENTS, child)
    async with cluster.session.get(cluster.url + DEPLOYMENTS, params={"watch": "true"}) as resp:
        await cluster.request("DELETE", f"{FUNCTIONS}/f")
        async with asyncio.timeout(5):
            events = []
            async for line in resp.content:
                events.append(json.loads(line))
                if events[-1]["type"] == "DELETED":
                    break
    assert events[-1]["object"]["metadata"]["name"] == "fn-f"
    await cluster.request("GET", f"{DEPLOYMENTS}/fn-f", expect=404)


async def test_finalizers_hold_deletion(cluster: Cluster) -> None:
    body = function("f")
    body["metadata"]["finalizers"] = ["kfn.dev/test"]
    await cluster.request("POST", FUNCTIONS, body)
    held = await cluster.request("DELETE", f"{FUNCTIONS}/f")
    assert held["metadata"]["deletionTimestamp"]
    await cluster.request("PATCH", f"{FUNCTIONS}/f", {"metadata": {"finalizers": None}})
    await cluster.request("GET", f"{FUNCTIONS}/f", expect=404)


async def test_core_discovery_names_v1(cluster: Cluster) -> None:
    async with cluster.session.get(cluster.url + "/api/v1", timeout=aiohttp.ClientTimeout(total=5)) as resp:
        assert (await resp.json())["groupVersion"] == "v1"
