"""The pure builders: Function in, ConfigMap/Deployment/Service out. No I/O, nothing faked.

Asserted: the fields the runtime and the gateway rely on, the restricted security context, that
replicas are set on creation only, and that every object validates against the Kubernetes schemas
(strict: unknown fields fail) of 1.30 and of the newest version kubernetes-validate carries.
"""

from __future__ import annotations

from typing import Any

import kubernetes_validate
import pytest

from kfn import api
from kfn_operator import builders, settings

SETTINGS = settings.load_settings({"KFN_RUNTIME_IMAGE": "registry.example/kfn-runtime:1.2",
                                   "KFN_GATEWAY_URL": "http://gw.kfn-system"})
VERSIONS = ["1.30", kubernetes_validate.latest_version().rsplit(".", 1)[0]]


def function(**spec: Any) -> api.Function:
    body = {"runtime": "python3.12", "handler": "app.handler", "code": {"inline": "def handler(e, c):\n    return 1\n"}}
    body.update(spec)
    return api.parse_function({"apiVersion": "kfn.dev/v1alpha1", "kind": "Function",
                               "metadata": {"name": "hello", "namespace": "team-a"}, "spec": body})


def container(dep: dict[str, Any]) -> dict[str, Any]:
    [c] = dep["spec"]["template"]["spec"]["containers"]
    return c


def env_of(dep: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container(dep)["env"]}


FUNCTIONS = {
    "inline": function(),
    "nested-module": function(handler="pkg.mod.handler"),
    "configmap": function(code={"configMap": {"name": "my-code"}}),
    "image": function(code={"image": "registry.example/me/fn:1"}),
    "provided-inline": function(runtime="provided", handler=None, code={"inline": "#!/bin/sh\necho hi\n"}),
    "env-and-limits": function(env=[{"name": "A", "value": "1"},
                                    {"name": "S", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "k"}}},
                                    {"name": "C", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "x"}}}],
                               memoryMiB=1024, timeoutSeconds=900,
                               scaling={"minReplicas": 2, "maxReplicas": 5}),
    "long-name": api.parse_function({"apiVersion": "kfn.dev/v1alpha1", "kind": "Function",
                                     "metadata": {"name": "9" + "a" * 62},
                                     "spec": {"runtime": "python3.12", "handler": "a.b", "code": {"image": "x"}}}),
}


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_every_object_validates_strictly(name: str, version: str) -> None:
    fn = FUNCTIONS[name]
    objects = [builders.build_deployment(fn, SETTINGS), builders.build_service(fn, SETTINGS)]
    configmap = builders.build_configmap(fn, SETTINGS)
    if configmap is not None:
        objects.append(configmap)
    for obj in objects:
        kubernetes_validate.validate(obj, version, strict=True)
    patched = builders.build_deployment(fn, SETTINGS)
    patched["spec"].update(builders.deployment_patch(fn, SETTINGS)["spec"])
    annotations = patched["spec"]["template"]["metadata"].get("annotations", {})
    patched["spec"]["template"]["metadata"]["annotations"] = {k: v for k, v in annotations.items() if v is not None}
    kubernetes_validate.validate(patched, version, strict=True)


def test_names_are_dns1035_labels_even_for_long_or_digit_names() -> None:
    name = builders.child_name(FUNCTIONS["long-name"])
    assert len(name) <= 63 and name[0].isalpha() and name != builders.child_name(FUNCTIONS["inline"])
    assert builders.child_name(FUNCTIONS["inline"]) == "fn-hello"


def test_deployment_runs_the_runtime_with_the_functions_settings() -> None:
    dep = builders.build_deployment(FUNCTIONS["env-and-limits"], SETTINGS)
    c = container(dep)
    assert c["image"] == "registry.example/kfn-runtime:1.2"
    assert env_of(dep) == {
        "_HANDLER": "app.handler", "LAMBDA_TASK_ROOT": "/var/task", "AWS_LAMBDA_FUNCTION_NAME": "hello",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1024", "KFN_NAMESPACE": "team-a", "KFN_TIMEOUT_SECONDS": "900",
        "KFN_CONCURRENCY": "10", "KFN_RUNTIME_PORT": "8080", "KFN_RUNTIME_KIND": "python", "A": "1",
        "S": {"secretKeyRef": {"name": "creds", "key": "k"}},
        "C": {"configMapKeyRef": {"name": "cfg", "key": "x"}},
    }
    assert c["resources"]["limits"]["memory"] == "1024Mi"
    assert c["readinessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert c["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]
    assert dep["spec"]["replicas"] == 2  # minReplicas on creation
    assert dep["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] == 905


def test_pods_run_restricted() -> None:
    dep = builders.build_deployment(FUNCTIONS["inline"], SETTINGS)
    pod = dep["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False
    sc = container(dep)["securityContext"]
    assert sc == {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True, "runAsNonRoot": True,
                  "capabilities": {"drop": ["ALL"]}}
    assert {"name": "tmp", "mountPath": "/tmp"} in container(dep)["volumeMounts"]
    assert any(v["name"] == "tmp" and "emptyDir" in v for v in pod["volumes"])


def test_labels_and_selector_name_the_function() -> None:
    fn = FUNCTIONS["inline"]
    dep, svc = builders.build_deployment(fn, SETTINGS), builders.build_service(fn, SETTINGS)
    assert dep["spec"]["selector"]["matchLabels"] == {"kfn.dev/function": "hello"}
    assert svc["spec"]["selector"] == {"kfn.dev/function": "hello"}
    for obj in (dep, svc, dep["spec"]["template"]):
        assert obj["metadata"]["labels"]["kfn.dev/function"] == "hello"
        assert obj["metadata"]["labels"]["app.kubernetes.io/part-of"] == "kfn"
    assert svc["spec"]["ports"][0]["targetPort"] == "http"


@pytest.mark.parametrize("handler, key, path", [("app.handler", "app.py", "app.py"),
                                                ("pkg.mod.handler", "pkg.mod.py", "pkg/mod.py")])
def test_inline_code_is_mounted_as_the_handlers_module(handler: str, key: str, path: str) -> None:
    fn = function(handler=handler)
    cm = builders.build_configmap(fn, SETTINGS)
    assert cm is not None and cm["data"] == {key: fn.spec.code.inline}
    dep = builders.build_deployment(fn, SETTINGS)
    [code] = [v for v in dep["spec"]["template"]["spec"]["volumes"] if v["name"] == "code"]
    assert code["configMap"] == {"name": cm["metadata"]["name"], "items": [{"key": key, "path": path}]}
    assert {"name": "code", "mountPath": "/var/task", "readOnly": True} in container(dep)["volumeMounts"]


def test_other_code_sources() -> None:
    assert builders.build_configmap(FUNCTIONS["image"], SETTINGS) is None
    image = builders.build_deployment(FUNCTIONS["image"], SETTINGS)
    assert container(image)["image"] == "registry.example/me/fn:1"
    assert not any(m["name"] == "code" for m in container(image)["volumeMounts"])
    cm = builders.build_deployment(FUNCTIONS["configmap"], SETTINGS)
    [code] = [v for v in cm["spec"]["template"]["spec"]["volumes"] if v["name"] == "code"]
    assert code["configMap"]["name"] == "my-code"


def test_new_inline_code_changes_the_pod_template_so_pods_roll() -> None:
    a = builders.build_deployment(function(), SETTINGS)
    b = builders.build_deployment(function(code={"inline": "def handler(e, c):\n    return 2\n"}), SETTINGS)
    assert a["spec"]["template"] != b["spec"]["template"]


def test_updates_never_carry_replicas_or_the_selector() -> None:
    patch = builders.deployment_patch(FUNCTIONS["env-and-limits"], SETTINGS)
    assert "replicas" not in patch["spec"] and "selector" not in patch["spec"]
    created = builders.build_deployment(FUNCTIONS["env-and-limits"], SETTINGS)
    assert patch["spec"]["template"] == created["spec"]["template"]
    image = builders.deployment_patch(FUNCTIONS["image"], SETTINGS)
    assert image["spec"]["template"]["metadata"]["annotations"] == {"kfn.dev/code-hash": None}


def test_pinned_replicas_win_on_creation() -> None:
    assert builders.build_deployment(function(replicas=3), SETTINGS)["spec"]["replicas"] == 3
    assert builders.build_deployment(function(), SETTINGS)["spec"]["replicas"] == 0
