"""Every object each value set renders: schemas, the restricted Pod Security Standard, labels and
selectors, and agreement with what the components listen on.

Rendered by Helm's own engine; validated with kubernetes-validate's schemas of Kubernetes 1.30 and
of the newest version it carries. The monitoring.coreos.com kinds (ServiceMonitor,
PrometheusRule) are not in kubernetes-validate: they are checked against the small schemas below,
which hold the fields this chart uses (the Prometheus Operator's CRDs are not available here).
Ports, probes and image defaults are read from the components' settings modules, not repeated.
"""

from __future__ import annotations

import asyncio
import json
import pathlib
import tomllib
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from kfn_gateway import cluster as gateway_cluster
from kfn_gateway import settings as gateway_settings
from kfn_operator import builders
from kfn_operator import metrics as operator_metrics
from kfn_operator import serving as operator_serving
from kfn_operator import settings as operator_settings
from kfn_runtime import settings as runtime_settings
from tests.chart.rendering import CHART, NAMESPACE, REPO, VALUE_SETS, Rendered, pod_specs, render

Obj = dict[str, Any]
VERSIONS = ("1.30", kubernetes_validate.latest_version())
SETS = sorted(VALUE_SETS)

_LABELS = {"type": "object", "additionalProperties": {"type": "string"}}
_SELECTOR = {"type": "object", "additionalProperties": False, "properties": {
    "matchLabels": _LABELS, "matchExpressions": {"type": "array", "items": {
        "type": "object", "required": ["key", "operator"], "additionalProperties": False,
        "properties": {"key": {"type": "string"}, "operator": {"enum": ["In", "NotIn", "Exists", "DoesNotExist"]},
                       "values": {"type": "array", "items": {"type": "string"}}}}}}}
_META = {"type": "object", "required": ["name", "namespace"], "properties": {
    "name": {"type": "string"}, "namespace": {"type": "string"}, "labels": _LABELS}}
MONITORING_SCHEMAS: dict[str, Obj] = {
    "ServiceMonitor": {"type": "object", "required": ["apiVersion", "kind", "metadata", "spec"],
                       "additionalProperties": False, "properties": {
        "apiVersion": {"const": "monitoring.coreos.com/v1"}, "kind": {"const": "ServiceMonitor"}, "metadata": _META,
        "spec": {"type": "object", "required": ["selector", "endpoints"], "additionalProperties": False, "properties": {
            "selector": _SELECTOR,
            "namespaceSelector": {"type": "object", "additionalProperties": False, "properties": {
                "any": {"type": "boolean"}, "matchNames": {"type": "array", "items": {"type": "string"}}}},
            "endpoints": {"type": "array", "minItems": 1, "items": {
                "type": "object", "required": ["port"], "additionalProperties": False, "properties": {
                    "port": {"type": "string"}, "path": {"type": "string"},
                    "interval": {"type": "string", "pattern": "^[0-9]+(ms|s|m|h)$"}}}}}}}},
    "PrometheusRule": {"type": "object", "required": ["apiVersion", "kind", "metadata", "spec"],
                       "additionalProperties": False, "properties": {
        "apiVersion": {"const": "monitoring.coreos.com/v1"}, "kind": {"const": "PrometheusRule"}, "metadata": _META,
        "spec": {"type": "object", "required": ["groups"], "additionalProperties": False, "properties": {
            "groups": {"type": "array", "minItems": 1, "items": {
                "type": "object", "required": ["name", "rules"], "additionalProperties": False, "properties": {
                    "name": {"type": "string"}, "interval": {"type": "string"},
                    "rules": {"type": "array", "minItems": 1, "items": {
                        "type": "object", "required": ["expr"], "additionalProperties": False, "properties": {
                            "alert": {"type": "string"}, "record": {"type": "string"}, "expr": {"type": "string"},
                            "for": {"type": "string"}, "labels": _LABELS,
                            "annotations": _LABELS}}}}}}}}}},
}


def _containers(template: Obj) -> list[Obj]:
    return [*template["spec"].get("initContainers", []), *template["spec"]["containers"]]


# --- schemas -----------------------------------------------------------------------------------


@pytest.mark.parametrize("key", SETS)
def test_every_object_validates(key: str) -> None:
    rendered = render(key)
    assert rendered.objects
    for obj in rendered.objects:
        if obj["kind"] in MONITORING_SCHEMAS:
            jsonschema.validate(obj, MONITORING_SCHEMAS[obj["kind"]])
            continue
        for version in VERSIONS:
            try:
                kubernetes_validate.validate(obj, version, strict=True)
            except kubernetes_validate.ValidationError as exc:
                raise AssertionError(f"{obj['kind']} {obj['metadata']['name']} ({version}): {exc.message} "
                                     f"at {list(exc.path)}") from None


@pytest.mark.parametrize("key", SETS)
def test_every_namespaced_object_is_in_a_known_namespace(key: str) -> None:
    rendered = render(key)
    allowed = {NAMESPACE, "team-a", "default", "monitoring"}
    for obj in rendered.objects:
        if obj["kind"] in ("ClusterRole", "ClusterRoleBinding"):
            assert "namespace" not in obj["metadata"]
            continue
        assert obj["metadata"].get("namespace") in allowed, obj["metadata"]


def test_crds_are_a_byte_identical_copy() -> None:
    top = sorted(p.name for p in (REPO / "crds").glob("*.yaml"))
    chart = sorted(p.name for p in (CHART / "crds").glob("*.yaml"))
    assert top == chart
    for name in top:
        assert (CHART / "crds" / name).read_bytes() == (REPO / "crds" / name).read_bytes(), (
            f"charts/kfn/crds/{name} differs from crds/{name}: run `make chart-crds`")


def test_crds_reach_helm() -> None:
    import helm_python
    chart = helm_python.Chart.load(CHART)
    names = sorted(yaml.safe_load(c["data"])["metadata"]["name"] for c in chart.crds)
    assert names == ["functions.kfn.dev", "triggers.kfn.dev"]


def test_app_version_is_kfns_version() -> None:
    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    assert yaml.safe_load((CHART / "Chart.yaml").read_text())["appVersion"] == version


# --- the restricted Pod Security Standard --------------------------------------------------------

RESTRICTED_VOLUMES = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim",
                      "projected", "secret"}


def restricted_violations(template: Obj) -> list[str]:
    """The checks of the restricted profile (Kubernetes Pod Security Standards, v1.30) plus the
    project's own: read-only root filesystem, resources, no privileged ports."""
    spec, problems = template["spec"], []
    pod_sc = spec.get("securityContext") or {}
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(field):
            problems.append(f"{field} is set")
    for volume in spec.get("volumes") or []:
        kinds = set(volume) - {"name"}
        if not kinds <= RESTRICTED_VOLUMES:
            problems.append(f"volume {volume['name']} is {kinds}")
    if pod_sc.get("runAsUser") == 0:
        problems.append("pod runAsUser 0")
    if (pod_sc.get("seccompProfile") or {}).get("type") not in ("RuntimeDefault", "Localhost"):
        problems.append("pod seccompProfile is not RuntimeDefault")
    for c in _containers(template):
        sc = c.get("securityContext") or {}
        name = c["name"]
        if sc.get("privileged"):
            problems.append(f"{name}: privileged")
        if sc.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{name}: allowPrivilegeEscalation is not false")
        if not (sc.get("runAsNonRoot") is True or (pod_sc.get("runAsNonRoot") is True and "runAsNonRoot" not in sc)):
            problems.append(f"{name}: runAsNonRoot is not true")
        if sc.get("runAsUser", pod_sc.get("runAsUser")) in (0, None):
            problems.append(f"{name}: no numeric non-zero runAsUser (the image's USER is not checked here)")
        seccomp = (sc.get("seccompProfile") or pod_sc.get("seccompProfile") or {}).get("type")
        if seccomp not in ("RuntimeDefault", "Localhost"):
            problems.append(f"{name}: seccompProfile {seccomp}")
        caps = sc.get("capabilities") or {}
        if caps.get("drop") != ["ALL"]:
            problems.append(f"{name}: capabilities do not drop ALL")
        if set(caps.get("add") or []) - {"NET_BIND_SERVICE"}:
            problems.append(f"{name}: adds capabilities {caps['add']}")
        if sc.get("readOnlyRootFilesystem") is not True:
            problems.append(f"{name}: root filesystem is writable")
        for port in c.get("ports") or []:
            if port.get("hostPort"):
                problems.append(f"{name}: hostPort")
            if port["containerPort"] < 1024:
                problems.append(f"{name}: privileged port {port['containerPort']}")
        resources = c.get("resources") or {}
        for kind in ("requests", "limits"):
            for what in ("cpu", "memory") if kind == "requests" else ("memory",):
                if what not in (resources.get(kind) or {}):
                    problems.append(f"{name}: no {kind}.{what}")
    return problems


@pytest.mark.parametrize("key", SETS)
def test_every_pod_is_restricted(key: str) -> None:
    problems = {f"{w['kind']}/{w['metadata']['name']}": restricted_violations(t) for w, t in pod_specs(render(key))}
    assert {k: v for k, v in problems.items() if v} == {}


def test_the_restricted_checks_catch_what_they_check() -> None:
    workload, template = next(pod_specs(render("default")))
    bad = json.loads(json.dumps(template))
    bad["spec"]["hostNetwork"] = True
    bad["spec"]["securityContext"]["seccompProfile"] = {"type": "Unconfined"}
    container = bad["spec"]["containers"][0]
    container["securityContext"].update(allowPrivilegeEscalation=True, readOnlyRootFilesystem=False,
                                        capabilities={"drop": ["NET_RAW"], "add": ["SYS_ADMIN"]})
    del container["resources"]["limits"]
    bad["spec"]["volumes"] = [{"name": "h", "hostPath": {"path": "/"}}]
    found = "\n".join(restricted_violations(bad))
    for expected in ("hostNetwork", "hostPath", "seccompProfile", "allowPrivilegeEscalation", "writable",
                     "drop ALL", "SYS_ADMIN", "limits.memory"):
        assert expected in found


def test_function_pods_the_operator_builds_are_restricted() -> None:
    problems = restricted_violations(builders.pod_template(*_fn_and_settings()))
    # The operator sets a memory request and limit only (cpu is left to the cluster's LimitRange).
    assert problems == ["function: no requests.cpu"]


# --- labels, selectors, ports ----------------------------------------------------------------------


def _selects(selector: Obj, labels: dict[str, str]) -> bool:
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for req in selector.get("matchExpressions") or []:
        present, value = req["key"] in labels, labels.get(req["key"])
        if ((req["operator"] == "Exists" and not present) or (req["operator"] == "DoesNotExist" and present)
                or (req["operator"] == "In" and value not in req["values"])
                or (req["operator"] == "NotIn" and value in req["values"])):
            return False
    return True


def _pods(rendered: Rendered) -> dict[str, Obj]:
    return {w["metadata"]["name"]: t for w, t in pod_specs(rendered)}


@pytest.mark.parametrize("key", SETS)
def test_selectors_match_their_pods_and_ports_exist(key: str) -> None:
    rendered = render(key)
    pods = _pods(rendered)
    for workload, template in pod_specs(rendered):
        assert _selects(workload["spec"]["selector"], template["metadata"]["labels"]), workload["metadata"]["name"]
        others = [n for n, t in pods.items() if n != workload["metadata"]["name"]
                  and _selects(workload["spec"]["selector"], t["metadata"]["labels"])]
        assert others == [], f"{workload['metadata']['name']} also selects {others}"
        if workload["kind"] == "StatefulSet":
            rendered.one("Service", workload["spec"]["serviceName"])
    for service in rendered.of_kind("Service"):
        selected = [t for t in pods.values() if _selects({"matchLabels": service["spec"]["selector"]},
                                                         t["metadata"]["labels"])]
        assert len(selected) == 1, service["metadata"]["name"]
        names = {p["name"] for c in _containers(selected[0]) for p in c.get("ports") or []}
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in names, (service["metadata"]["name"], port)
    for pdb in rendered.of_kind("PodDisruptionBudget"):
        selected = [n for n, t in pods.items() if _selects(pdb["spec"]["selector"], t["metadata"]["labels"])]
        assert selected == ["kfn-gateway"]
        assert pdb["spec"]["minAvailable"] < rendered.one("StatefulSet", "kfn-gateway")["spec"]["replicas"]
    for policy in rendered.of_kind("NetworkPolicy"):
        if policy["metadata"]["namespace"] == NAMESPACE:
            selected = [n for n, t in pods.items() if _selects(policy["spec"]["podSelector"], t["metadata"]["labels"])]
            assert len(selected) == 1, policy["metadata"]["name"]
            names = {p["name"] for c in _containers(pods[selected[0]]) for p in c.get("ports") or []}
            for rule in policy["spec"].get("ingress") or []:
                assert {p["port"] for p in rule["ports"]} <= names
    for monitor in rendered.of_kind("ServiceMonitor"):
        if monitor["metadata"]["name"] in ("kfn-gateway", "kfn-operator"):
            services = [s for s in rendered.of_kind("Service") if _selects(monitor["spec"]["selector"],
                                                                            s["metadata"]["labels"])]
            # each pod scraped once (the gateway's per-replica Service selects the same pods)
            assert [s["metadata"]["name"] for s in services] == [monitor["metadata"]["name"]]
            assert {e["port"] for e in monitor["spec"]["endpoints"]} <= {p["name"] for p in services[0]["spec"]["ports"]}


def _fn_pod_labels() -> dict[str, str]:
    labels: dict[str, str] = builders.pod_template(*_fn_and_settings())["metadata"]["labels"]
    return labels


@pytest.mark.parametrize("key", ["namespaced", "cluster-wide", "monitoring-on"])
def test_function_pods_take_connections_from_the_gateway_only(key: str) -> None:
    rendered = render(key)
    gateway_labels = _pods(rendered)["kfn-gateway"]["metadata"]["labels"]
    policies = [p for p in rendered.of_kind("NetworkPolicy") if p["metadata"]["name"] == "kfn-functions"]
    namespaces = sorted(p["metadata"]["namespace"] for p in policies)
    assert namespaces == (["team-a"] if key == "namespaced" else sorted(rendered.values["networkPolicy"]["functionNamespaces"]))
    fn_labels = _fn_pod_labels()
    for policy in policies:
        spec = policy["spec"]
        assert _selects(spec["podSelector"], fn_labels)  # the label the operator puts on function pods
        assert not _selects(spec["podSelector"], gateway_labels)
        assert spec["policyTypes"] == ["Ingress"]
        [from_gateway, *others] = spec["ingress"]
        [peer] = from_gateway["from"]
        assert peer["namespaceSelector"] == {"matchLabels": {"kubernetes.io/metadata.name": NAMESPACE}}
        assert _selects(peer["podSelector"], gateway_labels)
        assert [p["port"] for p in from_gateway["ports"]] == ["http"]
        template = builders.pod_template(*_fn_and_settings())
        assert {p["name"]: p["containerPort"] for p in template["spec"]["containers"][0]["ports"]} == {
            "http": builders.RUNTIME_PORT}
        assert [o["from"] for o in others] == ([rendered.values["networkPolicy"]["metricsFrom"]]
                                               if key == "monitoring-on" else [])


@pytest.mark.parametrize("key", ["namespaced", "monitoring-on"])
def test_the_operator_takes_connections_from_metrics_peers_only(key: str) -> None:
    rendered = render(key)
    [policy] = [p for p in rendered.of_kind("NetworkPolicy") if p["metadata"]["name"] == "kfn-operator"]
    assert _selects(policy["spec"]["podSelector"], _pods(rendered)["kfn-operator"]["metadata"]["labels"])
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    if key == "monitoring-on":
        assert policy["spec"]["ingress"] == [{"from": rendered.values["networkPolicy"]["metricsFrom"],
                                              "ports": [{"port": "http", "protocol": "TCP"}]}]
    else:  # no ServiceMonitor: nobody may connect (probes come from the kubelet, not a peer)
        assert "ingress" not in policy["spec"]


def _fn_and_settings() -> tuple[Any, operator_settings.OperatorSettings]:
    from kfn import api
    fn = api.parse_function({"apiVersion": "kfn.dev/v1alpha1", "kind": "Function",
                             "metadata": {"name": "hello", "namespace": "team-a"},
                             "spec": {"runtime": "python3.12", "handler": "app.handler", "code": {"inline": "x"}}})
    return fn, operator_settings.load_settings({})


def _env(container: Obj) -> dict[str, str]:
    return {e["name"]: e.get("value", "<from secret>") for e in container.get("env") or []}


@pytest.mark.parametrize("key", SETS)
def test_settings_the_chart_gives_are_accepted_by_the_components(key: str) -> None:
    rendered = render(key)
    pods = _pods(rendered)
    [gateway] = pods["kfn-gateway"]["spec"]["containers"]
    [operator] = pods["kfn-operator"]["spec"]["containers"]
    genv = {k: v for k, v in _env(gateway).items() if v != "<from secret>"}
    gs = gateway_settings.load_settings(genv)
    cs = gateway_cluster.load_cluster_settings(genv)
    os_ = operator_settings.load_settings(_env(operator))
    [port] = gateway["ports"]
    assert gs.port == port["containerPort"] and gs.host == "0.0.0.0" and gs.queue == "nats"
    assert gateway["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}  # watches listed
    assert gateway["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    [port] = operator["ports"]
    assert (os_.port, os_.host, port["name"]) == (port["containerPort"], "0.0.0.0", "http")
    assert operator["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert operator["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    served = {r.canonical for r in operator_serving.build_app(operator_metrics.Metrics(), asyncio.Event()).router.resources()}
    assert {operator[p]["httpGet"]["path"] for p in ("readinessProbe", "livenessProbe")} <= served
    if rendered.values["watch"]["clusterWide"]:
        assert cs.namespace is None and os_.namespaces == ()
        assert {o["kind"] for o in rendered.objects} >= {"ClusterRole", "ClusterRoleBinding"}
        assert not {"Role", "RoleBinding"} & {o["kind"] for o in rendered.objects}
    else:
        watched = rendered.values["watch"]["namespace"]
        assert cs.namespace == watched and os_.namespaces == (watched,)
        assert not {"ClusterRole", "ClusterRoleBinding"} & {o["kind"] for o in rendered.objects}
        assert {o["metadata"]["namespace"] for o in rendered.of_kind("Role") + rendered.of_kind("RoleBinding")} == {watched}
    # The gateway replicas are found by resolving the headless Service of the gateway pods, whose
    # DNS name returns the ready ones, on the gateway's port.
    statefulset = rendered.one("StatefulSet", "kfn-gateway")
    headless = rendered.one("Service", statefulset["spec"]["serviceName"])
    assert os_.stats_urls == () and os_.stats_dns == (f"{headless['metadata']['name']}.{NAMESPACE}.svc", gs.port)
    assert headless["spec"]["clusterIP"] == "None" and headless["spec"]["publishNotReadyAddresses"] is False
    assert _selects({"matchLabels": headless["spec"]["selector"]}, pods["kfn-gateway"]["metadata"]["labels"])
    assert os_.run_as_user == pods["kfn-gateway"]["spec"]["securityContext"]["runAsUser"]
    if not rendered.values["nats"]["enabled"] and rendered.values["nats"]["urlSecretName"]:
        [nats] = [e for e in gateway["env"] if e["name"] == "KFN_NATS_URL"]
        assert nats["valueFrom"]["secretKeyRef"] == {"name": "kfn-nats", "key": "url"}


def test_defaults_agree_with_the_components_defaults() -> None:
    """A default install in kfn-system gives the components the values they default to anyway."""
    rendered = render("default")
    pods = _pods(rendered)
    [gateway] = pods["kfn-gateway"]["spec"]["containers"]
    [operator] = pods["kfn-operator"]["spec"]["containers"]
    env = _env(operator)
    assert env["KFN_RUNTIME_IMAGE"] == operator_settings.DEFAULT_RUNTIME_IMAGE
    assert env["KFN_GATEWAY_URL"] == operator_settings.OperatorSettings.gateway_url
    assert int(env["KFN_RUN_AS_USER"]) == operator_settings.OperatorSettings.run_as_user
    assert int(env["KFN_PORT"]) == operator_settings.OperatorSettings.port
    assert int(_env(gateway)["KFN_PORT"]) == gateway_settings.GatewaySettings.port
    assert runtime_settings.Settings.port == builders.RUNTIME_PORT
    version = yaml.safe_load((CHART / "Chart.yaml").read_text())["appVersion"]
    for _, template in pod_specs(rendered):
        for c in _containers(template):
            if "/kfn-" in c["image"]:
                assert c["image"].endswith(f":{version}") and "command" not in c and "args" not in c, c["image"]


def test_nats_runs_jetstream_on_a_volume_and_the_gateway_points_at_it() -> None:
    rendered = render("default")
    statefulset = rendered.one("StatefulSet", "kfn-nats")
    [container] = statefulset["spec"]["template"]["spec"]["containers"]
    assert "--jetstream" in container["args"] and "--store_dir=/data" in container["args"]
    [claim] = statefulset["spec"]["volumeClaimTemplates"]
    assert {"name": "data", "mountPath": "/data"} in container["volumeMounts"] and claim["metadata"]["name"] == "data"
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert f"--port={ports['client']}" in container["args"] and f"--http_port={ports['monitor']}" in container["args"]
    url = _env(_pods(rendered)["kfn-gateway"]["spec"]["containers"][0])["KFN_NATS_URL"]
    service = rendered.one("Service", "kfn-nats")
    assert url == f"nats://kfn-nats.{NAMESPACE}.svc:{service['spec']['ports'][0]['port']}"
    assert gateway_settings.load_settings({"KFN_NATS_URL": url}).nats_url == url
    external = render("external-nats")
    assert not [o for o in external.objects if "nats" in o["metadata"]["name"]]


def test_nats_arguments_start_a_real_jetstream_server(tmp_path: pathlib.Path) -> None:
    """The chart's arguments, given to Debian's nats-server (same flags), start JetStream."""
    import shutil
    import socket
    import subprocess
    import time
    import urllib.request

    binary = shutil.which("nats-server") or "/usr/sbin/nats-server"
    if not pathlib.Path(binary).exists():
        pytest.skip("nats-server is not installed (scripts/test-deps installs it)")
    [container] = render("default").one("StatefulSet", "kfn-nats")["spec"]["template"]["spec"]["containers"]
    ports = []
    for _ in range(2):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            ports.append(s.getsockname()[1])
    args = [a.replace("/data", str(tmp_path)) for a in container["args"]
            if not a.startswith(("--port=", "--http_port="))]
    proc = subprocess.Popen([binary, *args, "-a", "127.0.0.1", f"--port={ports[0]}", f"--http_port={ports[1]}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                probe = container["readinessProbe"]["httpGet"]["path"]
                with urllib.request.urlopen(f"http://127.0.0.1:{ports[1]}{probe}", timeout=1) as resp:
                    assert resp.status == 200
                with urllib.request.urlopen(f"http://127.0.0.1:{ports[1]}/jsz", timeout=1) as resp:
                    assert json.load(resp)["config"]["store_dir"].startswith(str(tmp_path))
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.05)
    finally:
        proc.terminate()
        proc.wait(10)


# --- monitoring --------------------------------------------------------------------------------


def test_monitoring_objects_carry_the_generated_files() -> None:
    rendered = render("monitoring-on")
    [rule] = rendered.of_kind("PrometheusRule")
    assert rule["spec"] == yaml.safe_load((CHART / "rules" / "kfn-alerts.yaml").read_text())
    dashboards = {n: cm for cm in rendered.of_kind("ConfigMap") for n in cm["data"]}
    files = sorted(p.name for p in (CHART / "dashboards").glob("*.json"))
    assert sorted(dashboards) == files
    for name, cm in dashboards.items():
        assert cm["metadata"]["labels"]["grafana_dashboard"] == "1" and cm["metadata"]["namespace"] == "monitoring"
        assert json.loads(cm["data"][name]) == json.loads((CHART / "dashboards" / name).read_text())
    monitors = {m["metadata"]["name"]: m for m in rendered.of_kind("ServiceMonitor")}
    assert sorted(monitors) == ["kfn-functions", "kfn-gateway", "kfn-operator"]
    assert all(m["metadata"]["labels"]["release"] == "prometheus" for m in monitors.values())
    fn, settings = _fn_and_settings()
    service = builders.build_service(fn, settings)
    assert _selects(monitors["kfn-functions"]["spec"]["selector"], service["metadata"]["labels"])
    assert {e["port"] for e in monitors["kfn-functions"]["spec"]["endpoints"]} == {
        p["name"] for p in service["spec"]["ports"]}
    off = render("monitoring-off")
    assert not {"ServiceMonitor", "PrometheusRule", "ConfigMap", "NetworkPolicy"} & {o["kind"] for o in off.objects}


def test_notes_tell_how_to_apply_and_invoke_a_function() -> None:
    notes = render("namespaced").notes
    assert "kubectl apply -n team-a" in notes and "/fn/team-a/hello" in notes
    assert "--function-name team-a_hello" in notes
    assert "svc/kfn-gateway" in notes
