"""The chart rendered the way ``helm install`` renders it, with the real Helm engine
(helm-python-sdk), and the value sets every chart test runs over."""

from __future__ import annotations

import copy
import dataclasses
import functools
import pathlib
from typing import Any, Iterator

import helm_python
import yaml

__all__ = ["CHART", "REPO", "RELEASE", "NAMESPACE", "VALUE_SETS", "Rendered", "render", "pod_specs"]

REPO = pathlib.Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "kfn"
RELEASE = "kfn"
NAMESPACE = "kfn-system"
Obj = dict[str, Any]

VALUE_SETS: dict[str, Obj] = {
    "default": {},
    "namespaced": {"watch": {"clusterWide": False, "namespace": "team-a"}},
    "cluster-wide": {"watch": {"clusterWide": True},
                     "networkPolicy": {"functionNamespaces": ["default", "team-a"]}},
    "external-nats": {"nats": {"enabled": False, "url": "nats://nats.messaging.svc:4222"},
                      "gateway": {"replicas": 3, "s3Webhook": {"tokenSecretName": "kfn-s3-token"}}},
    "external-nats-secret": {"nats": {"enabled": False, "urlSecretName": "kfn-nats", "urlSecretKey": "url"}},
    "monitoring-on": {"monitoring": {"serviceMonitor": {"enabled": True, "labels": {"release": "prometheus"}},
                                     "prometheusRule": {"enabled": True},
                                     "dashboards": {"enabled": True, "namespace": "monitoring"}},
                      "networkPolicy": {"functionNamespaces": ["default"],
                                        "metricsFrom": [{"namespaceSelector": {"matchLabels": {
                                            "kubernetes.io/metadata.name": "monitoring"}}}]}},
    "monitoring-off": {"monitoring": {"serviceMonitor": {"enabled": False}, "prometheusRule": {"enabled": False},
                                      "dashboards": {"enabled": False}},
                       "networkPolicy": {"enabled": False}},
    "ingress": {"gateway": {"ingress": {"enabled": True, "className": "nginx", "host": "fn.example.com",
                                        "tlsSecretName": "fn-tls"},
                            "publicUrl": "https://fn.example.com", "podDisruptionBudget": {"enabled": False}}},
}


@dataclasses.dataclass(frozen=True)
class Rendered:
    objects: tuple[Obj, ...]
    notes: str
    values: Obj

    def of_kind(self, kind: str) -> list[Obj]:
        return [o for o in self.objects if o["kind"] == kind]

    def one(self, kind: str, name: str) -> Obj:
        [found] = [o for o in self.objects if o["kind"] == kind and o["metadata"]["name"] == name]
        return found


@functools.cache
def _chart() -> helm_python.Chart:
    return helm_python.Chart.load(CHART)


@functools.cache
def _render(key: str) -> Rendered:
    values = VALUE_SETS[key]
    manifests = _chart().render(copy.deepcopy(values), name=RELEASE, namespace=NAMESPACE, is_install=True)
    objects: list[Obj] = []
    notes = ""
    for path, text in sorted(manifests.items()):
        if path.endswith("NOTES.txt"):
            notes = text
            continue
        objects += [doc for doc in yaml.safe_load_all(text) if doc]
    return Rendered(tuple(objects), notes, _chart().merge_values(copy.deepcopy(values)))


def render(key: str) -> Rendered:
    """The chart rendered with ``VALUE_SETS[key]`` (cached: the objects must not be modified)."""
    return _render(key)


def render_values(values: Obj) -> Rendered:
    manifests = _chart().render(copy.deepcopy(values), name=RELEASE, namespace=NAMESPACE, is_install=True)
    objects = [doc for path, text in sorted(manifests.items()) if not path.endswith("NOTES.txt")
               for doc in yaml.safe_load_all(text) if doc]
    return Rendered(tuple(objects), manifests.get(f"{RELEASE}/templates/NOTES.txt", ""), values)


def pod_specs(rendered: Rendered) -> Iterator[tuple[Obj, Obj]]:
    """(workload, pod template) of every workload the chart renders."""
    for obj in rendered.objects:
        if obj["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
            yield obj, obj["spec"]["template"]
