"""The kubernetes backend's pure parts and the gateway's /stats document. No I/O."""

from __future__ import annotations

import pytest

from kfn import api
from kfn_gateway import cluster, stats
from kfn_gateway.backends import kubernetes
from kfn_gateway.dispatching import FunctionState
from kfn_gateway.settings import SettingsError


def endpoint(address: str, **conditions: bool) -> dict:
    return {"addresses": [address], "conditions": conditions}


def test_ready_urls_take_ready_endpoints_on_the_http_port() -> None:
    slice_ = {"ports": [{"name": "metrics", "port": 9090}, {"name": "http", "port": 8080}],
              "endpoints": [endpoint("10.0.0.1", ready=True), endpoint("10.0.0.2", ready=False),
                            endpoint("10.0.0.3"), endpoint("10.0.0.4", ready=True, terminating=True),
                            endpoint("fd00::5", ready=True)]}
    assert kubernetes.ready_urls(slice_) == {"http://10.0.0.1:8080", "http://10.0.0.3:8080", "http://[fd00::5]:8080"}
    assert kubernetes.ready_urls({"endpoints": [endpoint("10.0.0.1")]}) == set()
    assert kubernetes.ready_urls({"ports": [{"port": 81}], "endpoints": [endpoint("1.2.3.4")]}) == {"http://1.2.3.4:81"}


def test_stats_report_and_reset() -> None:
    fn = api.parse_function({"apiVersion": "kfn.dev/v1alpha1", "kind": "Function", "metadata": {"name": "f"},
                             "spec": {"runtime": "python3.12", "handler": "a.b", "code": {"image": "x"}}})
    state = FunctionState(fn)
    for _ in range(3):
        state.admit(now=10.0)
    state.finish()
    state.finish()
    assert stats.report({fn.key: state}, now=12.5, reset=False)["functions"][fn.key] == {
        "inFlight": 1, "peakInFlight": 3, "lastRequestAgeSeconds": 2.5, "readyReplicas": 0}
    stats.report({fn.key: state}, now=13.0, reset=True)
    assert stats.report({fn.key: state}, now=13.0, reset=False)["functions"][fn.key]["peakInFlight"] == 1
    never = FunctionState(fn)
    assert stats.report({fn.key: never}, now=1.0, reset=False)["functions"][fn.key]["lastRequestAgeSeconds"] is None


def test_cluster_settings() -> None:
    assert cluster.load_cluster_settings({}) == cluster.ClusterSettings()
    loaded = cluster.load_cluster_settings({"KFN_WATCH_NAMESPACE": "team-a", "KFN_API_TIMEOUT": "3"})
    assert (loaded.namespace, loaded.api_timeout) == ("team-a", 3.0)
    for env, named in (({"KFN_WATCH_NAMESPACE": "Team"}, "KFN_WATCH_NAMESPACE"),
                       ({"KFN_API_TIMEOUT": "x"}, "KFN_API_TIMEOUT"),
                       ({"KFN_WATCH_TIMEOUT": "0"}, "KFN_WATCH_TIMEOUT")):
        with pytest.raises(SettingsError, match=named):
            cluster.load_cluster_settings(env)


def test_tokens_of_a_secret() -> None:
    import base64

    from kfn_gateway.backends.k8s_tokens import tokens_of

    def b64(raw: bytes) -> str:
        return base64.b64encode(raw).decode()
    secret = {"data": {"a": b64(b"one"), "b": b64(b" two\n"), "empty": "", "blank": b64(b"  "),
                       "not-base64": "%%%", "binary": b64(b"\xff\xfe"), "none": None},
              "stringData": {"c": "three", "n": 5}}
    assert tokens_of(secret) == {"one", "two", "three"}
    assert tokens_of({}) == frozenset() and tokens_of({"data": None}) == frozenset()


@pytest.mark.parametrize("variable, field, default, good, bad", [
    ("KFN_SHUTDOWN_DELAY", "shutdown_delay", 5.0, ("0", 0.0), ("-1", "later", "121")),
    ("KFN_TOKEN_REFRESH", "token_refresh", 10.0, ("0.5", 0.5), ("0", "soon", "7200")),
])
def test_cluster_durations(variable: str, field: str, default: float, good: tuple[str, float],
                           bad: tuple[str, ...]) -> None:
    assert getattr(cluster.load_cluster_settings({}), field) == default
    assert getattr(cluster.load_cluster_settings({variable: good[0]}), field) == good[1]
    for raw in bad:
        with pytest.raises(SettingsError, match=variable):
            cluster.load_cluster_settings({variable: raw})
