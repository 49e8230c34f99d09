"""A static net under the recorded RBAC check (test_install.py): every Kubernetes resource the
operator's and the gateway's API-facing code names is one the chart grants it, and the other way
round. test_install.py proves the verbs on the paths its scenario drives; this catches a resource
named on a path that no scenario reaches yet. Read with ``ast``: string constants and the parts of
f-strings, split on '/', compared with the resource names the emulator's bundle and kfn's CRDs know.
"""

from __future__ import annotations

import ast
import pathlib

import pytest
import yaml

from tests.chart.rendering import REPO, render
from tests.k8s.fixtures import _bundled

SOURCES = {
    "operator": sorted((REPO / "operator" / "kfn_operator").glob("*.py")),
    "gateway": [REPO / "gateway" / "kfn_gateway" / "cluster.py",
                *sorted((REPO / "gateway" / "kfn_gateway" / "backends").glob("*.py"))],
}
PATH_SEGMENTS = {"namespaces"}
"""A segment of every namespaced path, not a resource anyone reads."""


def known_plurals() -> set[str]:
    plurals = {res.plural for res in _bundled() if res.plural}
    plurals |= {yaml.safe_load(p.read_text())["spec"]["names"]["plural"] for p in (REPO / "crds").glob("*.yaml")}
    return plurals - PATH_SEGMENTS


def named_resources(files: list[pathlib.Path], plurals: set[str]) -> dict[str, set[str]]:
    """Resource plural → the files naming it (docstrings aside)."""
    found: dict[str, set[str]] = {}
    for path in files:
        tree = ast.parse(path.read_text())
        ignored = set()  # docstrings and JSON field names (obj["endpoints"], obj.get("endpoints"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
                ignored.add(id(node.value))
            elif isinstance(node, ast.Subscript):
                ignored.add(id(node.slice))
            elif isinstance(node, ast.Dict):
                ignored |= {id(k) for k in node.keys if k is not None}
            elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                  and node.func.attr in ("get", "pop", "setdefault") and node.args
                  and isinstance(node.args[0], ast.Constant) and "/" not in str(node.args[0].value)):
                ignored.add(id(node.args[0]))
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in ignored:
                for token in node.value.split("/"):
                    if token in plurals:
                        found.setdefault(token, set()).add(path.name)
    return found


@pytest.mark.parametrize("component", sorted(SOURCES))
def test_the_resources_the_code_names_are_the_resources_granted(component: str) -> None:
    rules = render("cluster-wide").one("ClusterRole", f"kfn-{component}")["rules"]
    granted = {r.split("/")[0] for rule in rules for r in rule["resources"]}
    named = named_resources(SOURCES[component], known_plurals())
    assert set(named) == granted, {"named, not granted": {k: v for k, v in named.items() if k not in granted},
                                   "granted, not named": granted - set(named)}


def test_the_net_sees_a_resource_named_in_a_path(tmp_path: pathlib.Path) -> None:
    source = tmp_path / "x.py"
    source.write_text('"""Reads pods."""\npath = f"/api/v1/namespaces/{ns}/pods/{name}/log"\nkind = "secrets"\n'
                      'field = obj.get("services") or obj["configmaps"]\n')
    assert named_resources([source], known_plurals()) == {"pods": {"x.py"}, "secrets": {"x.py"}}
