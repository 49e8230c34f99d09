"""Every dashboard panel and alert against a real Prometheus that scraped a real ``kfn dev``.

Real parts: ``kfn dev`` (subprocess), its workers, Debian's ``prometheus`` scraping the gateway's
``/metrics`` every second. Traffic produces every outcome: success, handler error, timeout,
throttle, cold start, async success, async failure to a destination. Asserted: every query of
every panel of every dashboard returns data, and every alert expression parses and evaluates.
"""

from __future__ import annotations

import json
import pathlib
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from typing import Iterator

import pytest

from tests.dev_e2e.conftest import DevServer
from tests.observability.prometheus import (ALL_DASHBOARDS, Prometheus, alert_exprs, data, grafana_to_promql,
                                           panel_queries, query, request)

DASHBOARDS = [p for p in ALL_DASHBOARDS if p.name != "kfn-operator.json"]
"""What a kfn dev gateway's series feed; the operator's dashboard is checked in test_operator_prometheus.py."""

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]


@pytest.fixture(scope="module")
def traffic(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevServer]:
    base = tmp_path_factory.mktemp("obs")
    dev = DevServer(pathlib.Path(__file__).parent / "functions", base / "dev.log",
                    env={"KFN_STATE_DIR": str(base / "state"), "KFN_ASYNC_RETRY_BASE": "0.1"})
    try:
        url = dev.url
        assert request(f"{url}/fn/default/ok", b"{}")[0] == 200                      # cold start, success
        assert request(f"{url}/fn/default/ok", b"{}")[0] == 200                      # warm
        assert request(f"{url}/fn/default/fails", b"{}")[0] == 502                   # handler error
        assert request(f"{url}/fn/default/slow?s=2")[0] == 504                       # timeout
        with ThreadPoolExecutor(4) as pool:                                          # throttle (max 1)
            codes = list(pool.map(lambda _: request(f"{url}/fn/default/slow?s=0.5")[0], range(4)))
        assert 429 in codes and 200 in codes
        event = {"X-Amz-Invocation-Type": "Event"}
        assert request(f"{url}/2015-03-31/functions/ok/invocations", b"{}", event)[0] == 202      # async success
        assert request(f"{url}/2015-03-31/functions/fails/invocations", b"{}", event)[0] == 202   # async failure
        deadline = time.monotonic() + 30
        while b'kfn_async_destination_deliveries_total{function="fails",namespace="default"} 1.0' not in \
                request(f"{url}/metrics")[1]:
            assert time.monotonic() < deadline, "the failed async event never reached its destination"
            time.sleep(0.2)
        yield dev
    finally:
        dev.stop()


@pytest.fixture(scope="module")
def prometheus(traffic: DevServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server = Prometheus(tmp_path_factory.mktemp("prom"), {"kfn-gateway": urllib.parse.urlsplit(traffic.url).netloc})
    try:
        server.wait_scrapes("kfn-gateway")
        yield server.url
    finally:
        server.stop()


def test_dashboards_exist():
    assert {p.name for p in ALL_DASHBOARDS} == {"kfn-overview.json", "kfn-function.json", "kfn-operator.json"}


@pytest.mark.parametrize("name, expr", panel_queries(DASHBOARDS), ids=[n for n, _ in panel_queries(DASHBOARDS)])
def test_every_panel_query_returns_data(prometheus, name, expr):
    data(prometheus, grafana_to_promql(expr), name)


@pytest.mark.parametrize("name, expr", alert_exprs(), ids=[n for n, _ in alert_exprs()])
def test_every_alert_expression_evaluates(prometheus, name, expr):
    query(prometheus, expr)  # parses and evaluates against the live series


def test_rules_loaded_by_prometheus(prometheus):
    status, body = request(f"{prometheus}/api/v1/rules")
    groups = json.loads(body)["data"]["groups"]
    loaded = {r["name"] for g in groups for r in g["rules"]}
    assert loaded == {name for name, _ in alert_exprs()}
    assert all(r["health"] in ("ok", "unknown") for g in groups for r in g["rules"])
