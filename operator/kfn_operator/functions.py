"""Function → owned ConfigMap (inline code), Deployment and Service, and the Function's status.

Level-based: every create, update and resume re-applies the whole desired state, so a missed
event or a hand-edited child is corrected the next time. A Function that cannot be served yet
(an invalid spec, a missing Secret or ConfigMap, a child of the same name owned by someone
else) gets Ready=False with the reason and is retried with a growing delay, never in a hot loop.
Replicas belong to the autoscaler: the Deployment's ``spec.replicas`` is set on creation only.
"""

from __future__ import annotations

import copy
import time
from typing import Any

import kopf

from kfn import api
from kfn_operator import builders, conditions, context, kube, references
from kfn_operator.settings import OperatorSettings

__all__ = ["register", "NotReady", "backoff"]

Obj = dict[str, Any]
RECREATE_ANNOTATION = "kfn.dev/children-deleted-at"


class NotReady(Exception):
    """The Function (or Trigger) cannot be served now; ``reason`` is the condition's reason."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason, self.message = reason, message


def backoff(settings: OperatorSettings, retry: int) -> float:
    """Seconds before the next attempt: doubling from ``retry_delay``, at most 32 times it."""
    return float(settings.retry_delay * 2 ** min(retry, 5))


def parse(body: kopf.Body) -> api.Function:
    try:
        return api.parse_function(copy.deepcopy(dict(body)))
    except api.InvalidObject as exc:
        raise NotReady("InvalidSpec", str(exc)) from None


async def _ensure(client: kube.Api, owner: kopf.Body, obj: Obj, update: Obj) -> Obj:
    """Create ``obj`` owned by ``owner``, or merge-patch ``update`` into the existing one."""
    kopf.adopt(obj, owner=owner)
    collection = kube.paths.of(obj)
    path = f"{collection}/{obj['metadata']['name']}"
    current = await client.get(path)
    if current is None:
        try:
            return await client.create(collection, obj)
        except kube.ApiError as exc:
            if exc.status != 409:
                raise
            current = await client.get(path)
            if current is None:
                raise NotReady("Conflict", f"{obj['kind']} {obj['metadata']['name']} is being replaced") from None
    owners = current["metadata"].get("ownerReferences") or []
    if not any(ref.get("uid") == owner["metadata"]["uid"] and ref.get("controller") for ref in owners):
        raise NotReady("ChildConflict", f"{obj['kind']} {obj['metadata']['name']} exists and is not owned "
                                        f"by this Function; delete or rename it")
    return await client.patch(path, update)


async def _apply(fn: api.Function, body: kopf.Body, ctx: context.Context) -> Obj:
    settings, client = ctx.settings, ctx.api
    configmap = builders.build_configmap(fn, settings)
    if configmap is not None:
        current = await client.get(f"{kube.paths.of(configmap)}/{configmap['metadata']['name']}") or {}
        stale = {key: None for key in current.get("data") or {} if key not in configmap["data"]}
        await _ensure(client, body, configmap, {"metadata": {"labels": configmap["metadata"]["labels"]},
                                                "data": {**stale, **configmap["data"]}})
    service = builders.build_service(fn, settings)
    await _ensure(client, body, service, {"metadata": {"labels": service["metadata"]["labels"]},
                                          "spec": {"selector": service["spec"]["selector"],
                                                   "ports": service["spec"]["ports"]}})
    deployment = builders.build_deployment(fn, settings)
    applied = await _ensure(client, body, deployment, builders.deployment_patch(fn, settings))
    if fn.spec.replicas is not None and applied["spec"].get("replicas") != fn.spec.replicas:
        await client.patch(f"{kube.paths.of(deployment)}/{deployment['metadata']['name']}/scale",
                           {"spec": {"replicas": fn.spec.replicas}})
    return applied


def _set_status(patch: kopf.Patch, body: kopf.Body, ok: bool, reason: str, message: str, **fields: Any) -> None:
    generation = body["metadata"].get("generation")
    patch.status["conditions"] = conditions.ready(body.get("status", {}).get("conditions"), ok, reason, message,
                                                  generation, conditions.now())
    patch.status["observedGeneration"] = generation
    for key, value in fields.items():
        patch.status[key] = value


async def reconcile(body: kopf.Body, patch: kopf.Patch, retry: int, memo: Any, logger: kopf.Logger,
                    **_: Any) -> None:
    ctx = context.of(memo)
    began, reason = time.monotonic(), "Other"
    try:
        reason = await _reconcile(body, patch, retry, ctx, logger)
    except NotReady as exc:
        reason = exc.reason
        raise kopf.TemporaryError(exc.message, delay=backoff(ctx.settings, retry)) from None
    finally:
        ctx.metrics.reconciled("Function", reason, time.monotonic() - began)


async def _reconcile(body: kopf.Body, patch: kopf.Patch, retry: int, ctx: context.Context,
                     logger: kopf.Logger) -> str:
    """Apply the Function; returns the Ready reason, raises ``NotReady`` (status already set)."""
    try:
        fn = parse(body)
        if fn.spec.code.path is not None:
            raise NotReady("UnsupportedCodeSource", "spec.code.path is read by kfn dev only; in a cluster use "
                                                    "code.inline, code.configMap or code.image")
        problems = await references.missing(fn, ctx.api)
        if problems:
            raise NotReady("MissingReference", "; ".join(problems))
        deployment = await _apply(fn, body, ctx)
    except NotReady as exc:
        _set_status(patch, body, False, exc.reason, exc.message)
        logger.warning("not ready (%s): %s; retrying in %gs", exc.reason, exc.message, backoff(ctx.settings, retry))
        raise
    except kube.ApiError as exc:
        _set_status(patch, body, False, "ApiError", str(exc))
        raise NotReady("ApiError", str(exc)) from None
    dep_status = deployment.get("status") or {}
    _set_status(patch, body, True, "Deployed", f"Deployment {deployment['metadata']['name']} serves the function",
                url=builders.function_url(fn, ctx.settings),
                selector=",".join(f"{k}={v}" for k, v in builders.selector(fn).items()),
                replicas=dep_status.get("replicas", 0), readyReplicas=dep_status.get("readyReplicas", 0))
    return "Deployed"


async def deployment_changed(body: kopf.Body, type: str, memo: Any, logger: kopf.Logger,
                             **_: Any) -> None:
    """Mirror a function Deployment's replica counts into its Function's status (the scale
    subresource's ``status.replicas`` and the REPLICAS column); bring it back if deleted by hand."""
    owner = next((ref for ref in body["metadata"].get("ownerReferences") or []
                  if ref.get("kind") == "Function" and ref.get("apiVersion") == api.API_VERSION), None)
    if owner is None:
        return
    status = body.get("status") or {}
    ctx = context.of(memo)
    path = kube.paths.kfn(body["metadata"]["namespace"], "functions", owner["name"])
    current = await ctx.api.get(path)
    if current is None or current["metadata"].get("uid") != owner.get("uid"):
        return
    if type == "DELETED":
        if not current["metadata"].get("deletionTimestamp"):
            # Deleted by hand while its Function lives: touching the Function makes kopf's update
            # handler re-apply every child (the Deployment comes back with minReplicas).
            logger.info("Deployment %s was deleted; re-creating it", body["metadata"]["name"])
            await ctx.api.patch(path, {"metadata": {"annotations": {RECREATE_ANNOTATION: conditions.now()}}})
        return
    counts = {"replicas": status.get("replicas", 0), "readyReplicas": status.get("readyReplicas", 0)}
    if {k: (current.get("status") or {}).get(k) for k in counts} != counts:
        await ctx.api.patch(f"{path}/status", {"status": counts})


def register(registry: kopf.OperatorRegistry, settings: OperatorSettings) -> None:
    resource = (api.GROUP, api.VERSION, "functions")
    for decorator in (kopf.on.resume, kopf.on.create, kopf.on.update):
        decorator(*resource, registry=registry, id="reconcile")(reconcile)
    kopf.on.event("apps", "v1", "deployments", registry=registry,
                  labels={builders.FUNCTION_LABEL: kopf.PRESENT})(deployment_changed)
