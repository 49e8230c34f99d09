"""Every dashboard panel and alert against a real Prometheus that scraped a real ``kfn dev``.

Real parts: ``kfn dev`` (subprocess), its workers, Debian's ``prometheus`` scraping the gateway's
``/metrics`` every second. Traffic produces every outcome: success, handler error, timeout,
throttle, cold start, async success, async failure to a destination. Asserted: every query of
every panel of every dashboard returns data, and every alert expression parses and evaluates.
"""

from __future__ import annotations

import json
import pathlib
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Iterator

import pytest
import yaml

from tests.dev_e2e.conftest import DevServer

ROOT = pathlib.Path(__file__).resolve().parents[2]
DASHBOARDS = sorted((ROOT / "charts" / "kfn" / "dashboards").glob("*.json"))
RULES = ROOT / "charts" / "kfn" / "rules" / "kfn-alerts.yaml"

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(url: str, body: bytes | None = None, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    req = urllib.request.Request(url, data=body, headers=headers or {}, method="POST" if body is not None else "GET")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


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
    binary = shutil.which("prometheus")
    assert binary, "prometheus is installed by scripts/test-deps (Debian package prometheus)"
    base = tmp_path_factory.mktemp("prom")
    target = urllib.parse.urlsplit(traffic.url).netloc
    config = {"global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
              "rule_files": [str(RULES)],
              "scrape_configs": [{"job_name": "kfn-gateway", "static_configs": [{"targets": [target]}]}]}
    (base / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    log = (base / "prometheus.log").open("wb")
    proc = subprocess.Popen([binary, f"--config.file={base / 'prometheus.yml'}", f"--storage.tsdb.path={base / 'data'}",
                             f"--web.listen-address=127.0.0.1:{port}"], stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:  # ready, and at least three scrapes of the gateway (rates need two points)
            try:
                result = query(url, 'count_over_time(up{job="kfn-gateway"}[1m])')
                if result and float(result[0]["value"][1]) >= 3:
                    break
            except (urllib.error.URLError, ConnectionError, AssertionError):
                pass
            assert proc.poll() is None, (base / "prometheus.log").read_text()
            assert time.monotonic() < deadline, (base / "prometheus.log").read_text()[-3000:]
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()


def query(url: str, expr: str) -> list[dict[str, Any]]:
    status, body = request(f"{url}/api/v1/query?" + urllib.parse.urlencode({"query": expr}))
    answer = json.loads(body)
    assert status == 200 and answer["status"] == "success", f"{expr}: {answer}"
    return answer["data"]["result"]


def panel_queries() -> list[tuple[str, str]]:
    out = []
    for path in DASHBOARDS:
        dashboard = json.loads(path.read_text())
        for panel in dashboard["panels"]:
            for target in panel["targets"]:
                out.append((f"{path.stem}/{panel['title']}/{target['refId']}", target["expr"]))
    return out


def grafana_to_promql(expr: str) -> str:
    """What Grafana sends: template variables expanded (all namespaces and functions)."""
    return (expr.replace("$__rate_interval", "1m").replace('=~"$namespace"', '=~".*"')
            .replace('=~"$function"', '=~".*"'))


def test_dashboards_exist():
    assert {p.name for p in DASHBOARDS} == {"kfn-overview.json", "kfn-function.json"}


@pytest.mark.parametrize("name, expr", panel_queries(), ids=[n for n, _ in panel_queries()])
def test_every_panel_query_returns_data(prometheus, name, expr):
    deadline = time.monotonic() + 20
    while not query(prometheus, grafana_to_promql(expr)):
        assert time.monotonic() < deadline, f"{name}: no data for {expr}"
        time.sleep(1)


def alert_exprs() -> list[tuple[str, str]]:
    rules = yaml.safe_load(RULES.read_text())
    return [(r["alert"], r["expr"]) for group in rules["groups"] for r in group["rules"]]


@pytest.mark.parametrize("name, expr", alert_exprs(), ids=[n for n, _ in alert_exprs()])
def test_every_alert_expression_evaluates(prometheus, name, expr):
    query(prometheus, expr)  # parses and evaluates against the live series


def test_rules_loaded_by_prometheus(prometheus):
    status, body = request(f"{prometheus}/api/v1/rules")
    groups = json.loads(body)["data"]["groups"]
    loaded = {r["name"] for g in groups for r in g["rules"]}
    assert loaded == {name for name, _ in alert_exprs()}
    assert all(r["health"] in ("ok", "unknown") for g in groups for r in g["rules"])
