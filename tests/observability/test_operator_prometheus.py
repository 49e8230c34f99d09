"""The operator's alerts against a real Prometheus scraping a real operator.

Real parts: kopf and the operator's handlers (in-process, against the project's API emulator),
its /metrics server, Debian's ``prometheus`` scraping it every second with kfn's rules loaded.
The situations the alerts are for are made real: a Function whose Secret is missing, a Trigger
whose Function does not exist, a gateway whose ``/stats`` cannot be read. Asserted: every alert
of the ``kfn-operator`` group returns data (it would fire after its ``for``), with the labels its
summary uses, and Prometheus loaded the group.
"""

from __future__ import annotations

import asyncio
import json
import pathlib
import urllib.parse

import pytest

from tests.k8s.fixtures import Cluster, cluster  # noqa: F401
from tests.observability.prometheus import (ALL_DASHBOARDS, Prometheus, alert_exprs, data, free_port, grafana_to_promql,
                                           panel_queries, request)
from tests.operator.conftest import OPERATOR_ENV, running_operator
from tests.operator.test_functions import FN, TRIGGERS, function

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]


async def test_operator_alerts_return_data(cluster: Cluster, tmp_path: pathlib.Path) -> None:  # noqa: F811
    unreachable = f"http://127.0.0.1:{free_port()}"  # nothing listens: every stats read fails
    env = OPERATOR_ENV | {"KFN_GATEWAY_STATS_URLS": unreachable, "KFN_STATS_TIMEOUT": "0.5"}
    async with running_operator(cluster, env) as op:
        await cluster.request("POST", FN, function("hello"))  # deployed: the autoscaler reads stats for it
        await cluster.request("POST", FN, function(
            "needs-secret", env=[{"name": "K", "valueFrom": {"secretKeyRef": {"name": "absent", "key": "k"}}}]))
        await cluster.request("POST", TRIGGERS, {"apiVersion": "kfn.dev/v1alpha1", "kind": "Trigger",
                                                 "metadata": {"name": "orphan"},
                                                 "spec": {"function": "nobody", "http": {"path": "/x"}}})
        prometheus = Prometheus(tmp_path, {"kfn-operator": urllib.parse.urlsplit(op.url).netloc})
        try:
            await asyncio.to_thread(prometheus.wait_scrapes, "kfn-operator")
            alerts = alert_exprs("kfn-operator")
            assert {name for name, _ in alerts} == {"KfnObjectsNotReady", "KfnAutoscalerCannotReadGateways"}
            for name, expr in alerts:
                result = await asyncio.to_thread(data, prometheus.url, expr, name)
                if name == "KfnObjectsNotReady":
                    assert {r["metric"]["kind"]: float(r["value"][1]) for r in result} == {"Function": 1, "Trigger": 1}
            # Every panel of the operator's dashboard returns data.
            [dashboard] = [p for p in ALL_DASHBOARDS if p.name == "kfn-operator.json"]
            for name, expr in panel_queries([dashboard]):
                await asyncio.to_thread(data, prometheus.url, grafana_to_promql(expr), name)
            status, body = await asyncio.to_thread(request, f"{prometheus.url}/api/v1/rules")
            groups = {g["name"]: g for g in json.loads(body)["data"]["groups"]}
            assert status == 200 and {r["name"] for r in groups["kfn-operator"]["rules"]} == {n for n, _ in alerts}
        finally:
            await asyncio.to_thread(prometheus.stop)
