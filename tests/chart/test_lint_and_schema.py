"""``helm lint --strict`` and the values schema, with the real Helm engine (helm-python-sdk).

Nothing is faked: lint and render run Helm's own Go code. Asserted: every value set lints clean
against Kubernetes 1.30; bad values fail lint and install with a message naming the field.
"""

from __future__ import annotations

import helm_python
import pytest

from tests.chart.rendering import CHART, NAMESPACE, RELEASE, VALUE_SETS

KUBE_VERSION = "v1.30.0"
INFO = 1


@pytest.mark.parametrize("key", sorted(VALUE_SETS))
def test_lint_is_clean(key: str) -> None:
    report = helm_python.lint(CHART, VALUE_SETS[key], strict=True, namespace=NAMESPACE, kube_version=KUBE_VERSION)
    problems = [m for m in report["messages"] if m["severity"] > INFO]
    assert report["errors"] == [] and problems == [], problems or report["errors"]


BAD_VALUES = [
    ({"gateway": {"replicas": -1}}, "/gateway/replicas", "minimum"),
    ({"gateway": {"replicas": 0}}, "/gateway/replicas", "minimum"),
    ({"gateway": {"replicas": "2"}}, "/gateway/replicas", "want integer"),
    ({"gatway": {"replicas": 2}}, "'gatway' not allowed", "additional properties"),
    ({"gateway": {"replica": 2}}, "'replica' not allowed", "additional properties"),
    # null removes a default, as `--set operator.resources.limits=null` does
    ({"operator": {"resources": {"requests": {"memory": None}}}}, "/operator/resources/requests", "memory"),
    ({"gateway": {"resources": {"limits": None}}}, "/gateway/resources", "limits"),
    ({"runtime": {"runAsUser": 0}}, "/runtime/runAsUser", "minimum"),
    ({"gateway": {"port": 70000}}, "/gateway/port", "maximum"),
    ({"gateway": {"logFormat": "xml"}}, "/gateway/logFormat", "one of 'text', 'json'"),
    ({"nats": {"enabled": False}}, "/nats", "url"),
    ({"nats": {"enabled": False, "url": "nats://user:secret@nats:4222"}}, "/nats/url", "pattern"),
    ({"watch": {"clusterWide": "yes"}}, "/watch/clusterWide", "want boolean"),
    ({"watch": {"clusterWide": False, "namespace": "Team_A"}}, "/watch/namespace", "pattern"),
    ({"gateway": {"sns": {"topics": ["not-an-arn"]}}}, "/gateway/sns/topics/0", "pattern"),
    ({"networkPolicy": {"functionNamespaces": ["a", "a"]}}, "/networkPolicy/functionNamespaces", "are equal"),
]


@pytest.mark.parametrize(("values", "where", "what"), BAD_VALUES, ids=[w + ":" + x for _, w, x in BAD_VALUES])
def test_bad_values_fail_lint_and_install_naming_the_field(values: dict, where: str, what: str) -> None:
    report = helm_python.lint(CHART, values, strict=True, namespace=NAMESPACE, kube_version=KUBE_VERSION)
    assert report["errors"], f"lint accepted {values}"
    assert any(where in e and what in e for e in report["errors"]), report["errors"]
    with pytest.raises(helm_python.HelmValuesError) as refused:
        helm_python.Chart.load(CHART).render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)
    assert where in str(refused.value) and what in str(refused.value)


def test_extra_env_cannot_override_what_the_chart_sets() -> None:
    values = {"gateway": {"extraEnv": [{"name": "KFN_PORT", "value": "9"}]}}
    with pytest.raises(helm_python.HelmRenderError, match="gateway.extraEnv: KFN_PORT is set by the chart"):
        helm_python.Chart.load(CHART).render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)


def test_every_top_level_value_is_documented() -> None:
    """Each top-level key of values.yaml has a comment right above it (fields inside blocks are
    documented there too, but this checks only the top level)."""
    lines = (CHART / "values.yaml").read_text().splitlines()
    undocumented = [line for i, line in enumerate(lines)
                    if line and not line.startswith((" ", "#")) and not lines[i - 1].startswith("#")]
    assert undocumented == []
