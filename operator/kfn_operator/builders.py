"""Pure builders: a parsed Function in, the Kubernetes objects that run it out, as dicts.

No I/O and no clock: the same Function and settings always give the same objects, so the
handlers can compare, patch and re-apply them freely, and tests check them field by field and
against the Kubernetes schemas. ``spec.replicas`` is set only in the object built for creation;
the operator's updates leave it out (``template_patch``), so they never reset a scale.
"""

from __future__ import annotations

import hashlib
import pathlib
from typing import Any

from kfn import api
from kfn_operator.settings import OperatorSettings

__all__ = [
    "FUNCTION_LABEL", "CODE_DIR", "RUNTIME_PORT", "child_name", "code_configmap_name", "labels",
    "selector", "module_key", "build_configmap", "build_deployment", "build_service",
    "deployment_patch", "function_url", "code_hash",
]

FUNCTION_LABEL = "kfn.dev/function"
CODE_HASH_ANNOTATION = "kfn.dev/code-hash"
CODE_DIR = "/var/task"
"""Where a pod finds the handler's code (``LAMBDA_TASK_ROOT``), as on Lambda."""
RUNTIME_PORT = 8080
CONTAINER = "function"
Obj = dict[str, Any]


def child_name(fn: api.Function) -> str:
    """Name of the Deployment and Service: ``fn-NAME``, a DNS-1035 label (a Service name may
    not start with a digit, a Function name may), hashed when it would pass 63 characters."""
    name = f"fn-{fn.name}"
    if len(name) <= 63:
        return name
    digest = hashlib.sha256(fn.name.encode()).hexdigest()[:8]
    return f"fn-{fn.name[:50].rstrip('-')}-{digest}"


def code_configmap_name(fn: api.Function) -> str:
    return f"{child_name(fn)}-code"


def selector(fn: api.Function) -> dict[str, str]:
    return {FUNCTION_LABEL: fn.name}


def labels(fn: api.Function) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": fn.name,
        "app.kubernetes.io/instance": fn.name,
        "app.kubernetes.io/component": "function",
        "app.kubernetes.io/part-of": "kfn",
        "app.kubernetes.io/managed-by": "kfn-operator",
        FUNCTION_LABEL: fn.name,
    }


def module_key(handler: str) -> tuple[str, str]:
    """The ConfigMap key and the relative file path of a Python handler's module.

    ``app.handler`` → (``app.py``, ``app.py``); ``pkg.mod.handler`` → (``pkg.mod.py``,
    ``pkg/mod.py``): ConfigMap keys cannot hold '/', the volume's ``items`` put it back.
    """
    module = handler.rsplit(".", 1)[0]
    return f"{module}.py", str(pathlib.PurePosixPath(*module.split(".")).with_suffix(".py"))


def code_hash(fn: api.Function) -> str | None:
    """A digest of the inline code, put on the pod template so that new code rolls the pods."""
    if fn.spec.code.inline is None:
        return None
    return hashlib.sha256(fn.spec.code.inline.encode()).hexdigest()[:16]


def function_url(fn: api.Function, settings: OperatorSettings) -> str:
    return f"{settings.gateway_url}/fn/{fn.namespace}/{fn.name}"


def _meta(fn: api.Function, name: str) -> Obj:
    return {"name": name, "namespace": fn.namespace, "labels": labels(fn)}


def build_configmap(fn: api.Function, settings: OperatorSettings) -> Obj | None:
    """The ConfigMap holding ``code.inline``, or None for the other code sources."""
    spec = fn.spec
    if spec.code.inline is None:
        return None
    key = module_key(spec.handler)[0] if spec.handler and spec.is_python else "bootstrap"
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": _meta(fn, code_configmap_name(fn)),
            "data": {key: spec.code.inline}}


def _env(fn: api.Function) -> list[Obj]:
    spec = fn.spec
    env: list[Obj] = []
    if spec.handler is not None:
        env.append({"name": "_HANDLER", "value": spec.handler})
    env += [
        {"name": "LAMBDA_TASK_ROOT", "value": CODE_DIR},
        {"name": "AWS_LAMBDA_FUNCTION_NAME", "value": fn.name},
        {"name": "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "value": str(spec.memory_mib)},
        {"name": "KFN_NAMESPACE", "value": fn.namespace},
        {"name": "KFN_TIMEOUT_SECONDS", "value": str(spec.timeout_seconds)},
        {"name": "KFN_CONCURRENCY", "value": str(spec.per_replica)},
        {"name": "KFN_RUNTIME_PORT", "value": str(RUNTIME_PORT)},
        {"name": "KFN_RUNTIME_KIND", "value": "python" if spec.is_python else "provided"},
    ]
    for var in spec.env:
        if var.value_from is None:
            env.append({"name": var.name, "value": var.value or ""})
            continue
        source = var.value_from
        if source.secret_key_ref is not None:
            ref = source.secret_key_ref
            env.append({"name": var.name, "valueFrom": {"secretKeyRef": {"name": ref.name, "key": ref.key}}})
        elif source.config_map_key_ref is not None:
            ref = source.config_map_key_ref
            env.append({"name": var.name, "valueFrom": {"configMapKeyRef": {"name": ref.name, "key": ref.key}}})
    return env


def _volumes(fn: api.Function) -> tuple[list[Obj], list[Obj]]:
    code = fn.spec.code
    volumes: list[Obj] = [{"name": "tmp", "emptyDir": {"sizeLimit": "512Mi"}}]
    mounts: list[Obj] = [{"name": "tmp", "mountPath": "/tmp"}]
    if code.inline is not None:
        items: list[Obj]
        if fn.spec.is_python and fn.spec.handler:
            key, path = module_key(fn.spec.handler)
            items = [{"key": key, "path": path}]
        else:
            items = [{"key": "bootstrap", "path": "bootstrap", "mode": 0o555}]
        volumes.append({"name": "code", "configMap": {"name": code_configmap_name(fn), "items": items}})
    elif code.config_map is not None:
        volumes.append({"name": "code", "configMap": {"name": code.config_map.name, "defaultMode": 0o555}})
    if code.inline is not None or code.config_map is not None:
        mounts.append({"name": "code", "mountPath": CODE_DIR, "readOnly": True})
    return volumes, mounts


def _probe(period: int, failures: int) -> Obj:
    return {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": period,
            "timeoutSeconds": 1, "failureThreshold": failures}


def pod_template(fn: api.Function, settings: OperatorSettings) -> Obj:
    spec = fn.spec
    volumes, mounts = _volumes(fn)
    memory = f"{spec.memory_mib}Mi"
    container: Obj = {
        "name": CONTAINER,
        "image": spec.code.image or settings.runtime_image,
        "ports": [{"name": "http", "containerPort": RUNTIME_PORT, "protocol": "TCP"}],
        "env": _env(fn),
        "resources": {"requests": {"memory": memory}, "limits": {"memory": memory}},
        "readinessProbe": _probe(period=1, failures=1),
        "livenessProbe": {**_probe(period=10, failures=3), "initialDelaySeconds": 10},
        "volumeMounts": mounts,
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
        },
    }
    annotations = {CODE_HASH_ANNOTATION: h} if (h := code_hash(fn)) else {}
    return {
        "metadata": {"labels": labels(fn), **({"annotations": annotations} if annotations else {})},
        "spec": {
            "containers": [container],
            "volumes": volumes,
            # A function's in-flight invocations may run up to timeoutSeconds; give them that to finish.
            "terminationGracePeriodSeconds": spec.timeout_seconds + 5,
            "automountServiceAccountToken": False,
            "enableServiceLinks": False,
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": settings.run_as_user,
                "runAsGroup": settings.run_as_user,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
        },
    }


def initial_replicas(fn: api.Function) -> int:
    """Replicas a new Deployment starts with: ``spec.replicas`` when pinned, else ``minReplicas``."""
    return fn.spec.replicas if fn.spec.replicas is not None else fn.spec.scaling.min_replicas


def build_deployment(fn: api.Function, settings: OperatorSettings) -> Obj:
    """The Deployment as created; later updates go through :func:`deployment_patch`."""
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(fn, child_name(fn)),
        "spec": {
            "replicas": initial_replicas(fn),
            "selector": {"matchLabels": selector(fn)},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
            "revisionHistoryLimit": 3,
            "template": pod_template(fn, settings),
        },
    }


def deployment_patch(fn: api.Function, settings: OperatorSettings) -> Obj:
    """The JSON merge patch the operator re-applies to an existing Deployment: everything but
    ``spec.replicas`` (the autoscaler's) and the immutable selector. Lists (containers, env,
    volumes) are replaced whole, so a variable removed from the Function leaves the pods too,
    which a strategic merge would not do."""
    deployment = build_deployment(fn, settings)
    spec = {k: v for k, v in deployment["spec"].items() if k not in ("replicas", "selector")}
    if code_hash(fn) is None:
        # A JSON merge patch removes a key only when told to: drop a former inline code's hash.
        spec["template"]["metadata"]["annotations"] = {CODE_HASH_ANNOTATION: None}
    return {"metadata": {"labels": deployment["metadata"]["labels"]}, "spec": spec}


def build_service(fn: api.Function, settings: OperatorSettings) -> Obj:
    """A ClusterIP Service over the function's pods; its EndpointSlices carry its labels, which is
    how the gateway finds every function's ready pods with one watch."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(fn, child_name(fn)),
        "spec": {
            "type": "ClusterIP",
            "selector": selector(fn),
            "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}],
        },
    }
